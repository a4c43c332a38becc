"""Benchmark: the engine's capture dates against exiftool's, on one generated sample set.

    python bench/capture_dates.py [--count 1000] [--keep DIR]

The baseline is exiftool at its best: one process over the whole folder, `-fast2`, asked
only for the tags the engine uses. Each side runs three times; the best run counts.
Dates are checked against one more, untimed, exiftool read without `-fast2`, which stops
at a video's 'mdat' and so misses dates in a 'moov' that follows it.
The numbers are the output: the exit status is 0 whatever they say.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ex_app" / "lib"))

from mobile_backups.engine import analyse  # noqa: E402
from mobile_backups.core.groups import Item  # noqa: E402
from mobile_backups.samples import mixed  # noqa: E402
from mobile_backups.store import LocalStore  # noqa: E402

T = TypeVar("T")
Stamp = tuple[datetime, timedelta | None]  # wall clock, UTC offset when known
RUNS, KIB, UTC = 3, 1024, ZoneInfo("UTC")
EXIF = ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal", "CreateDate", "SubSecTimeDigitized", "OffsetTimeDigitized")
XMP = ("XMP-exif:DateTimeOriginal", "XMP-photoshop:DateCreated", "XMP-xmp:CreateDate", "XMP-exif:DateTimeDigitized")
QUICKTIME = ("Keys:CreationDate", "QuickTime:CreateDate")  # videos only
# The engine's order: (date, sub-seconds, offset); the EXIF ones merge the EXIF IFD and IFD0.
PRIORITY = [("EXIF:" + d, "EXIF:" + s, "EXIF:" + o) for d, s, o in (EXIF[:3], EXIF[3:])] + [(t, "", "") for t in XMP + QUICKTIME]
EXIFTOOL = ["exiftool", "-json", "-G1", "-api", "QuickTimeUTC", *(f"-EXIF:{t}" for t in EXIF), *(f"-{t}" for t in XMP + QUICKTIME)]
DATE = re.compile(r"(\d{4}):(\d\d):(\d\d)(?: (\d\d):(\d\d)(?::(\d\d))?(?:\.(\d+))?)?(Z|[+-]\d\d:?\d\d)?")


def best(run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of RUNS runs, and what a run returned."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def exiftool(folder: Path, *extra: str) -> dict[str, dict[str, object]]:
    """SourceFile -> `-G1` tags, from one exiftool process over the folder, QuickTime times shown in UTC."""
    done = subprocess.run([*EXIFTOOL, *extra, "-r", str(folder)], capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    return {tags.pop("SourceFile"): tags for tags in json.loads(done.stdout or "[]")}


def stamp(text: str, subsec: str, offset: str) -> Stamp | None:
    """An exiftool date as (wall clock, offset); None when blank, zero or impossible."""
    match = DATE.fullmatch(text.strip())
    if not match:
        return None
    *parts, fraction, own = match.groups()
    year, month, day, hour, minute, second = (int(p or 0) for p in parts)
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:  # 0000:00:00 00:00:00 and friends
        return None
    if (digits := fraction or subsec.strip()).isdigit():
        moment = moment.replace(microsecond=int(digits[:6].ljust(6, "0")))
    zone = own or offset.strip()
    if not zone or parts[3] is None:
        return moment, None
    sign = -1 if zone.startswith("-") else 1
    return moment, timedelta(0) if zone == "Z" else sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))


def reference(found: dict[str, object], video: bool) -> tuple[str, Stamp] | None:
    """exiftool's date for a file by the engine's priority, as (tag, stamp)."""
    tags = {k: str(v) for k, v in found.items()}
    for ifd in ("IFD0", "ExifIFD"):  # one EXIF namespace; the EXIF IFD wins, as in the engine
        tags |= {"EXIF:" + k.partition(":")[2]: v for k, v in tags.items() if k.startswith(ifd + ":")}
    for date, subsec, offset in PRIORITY:
        if date not in tags or (date in QUICKTIME and not video) or tags[date].startswith("1904:01:01 00:00:00"):
            continue  # 1904-01-01: a zero mvhd time, as QuickTimeUTC shows it
        if found_stamp := stamp(tags[date], tags.get(subsec, ""), tags.get(offset, "")):
            return date, found_stamp
    return None


def agree(ours: Stamp, theirs: Stamp, instant: bool) -> bool:
    """mvhd: the same instant; otherwise the same wall clock to the second, and offset when both have one."""
    (our_time, our_offset), (their_time, their_offset) = ours, theirs
    if our_offset is None or their_offset is None:
        return not instant and our_time.replace(microsecond=0) == their_time.replace(microsecond=0)
    if instant:
        return our_time - our_offset == their_time - their_offset
    return our_offset == their_offset and our_time.replace(microsecond=0) == their_time.replace(microsecond=0)


def show(value: Stamp) -> str:
    return value[0].replace(tzinfo=None if value[1] is None else timezone(value[1])).isoformat()


def medians(items: list[Item]) -> tuple[float, float]:
    """Median KiB read, median file size in KiB."""
    if not items:
        return float("nan"), float("nan")
    return statistics.median(i.bytes_read for i in items) / KIB, statistics.median(i.size for i in items) / KIB


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench(folder: Path, count: int) -> None:
    start = time.perf_counter()
    mixed(folder, count)
    print(f"generated {count} files in {time.perf_counter() - start:.1f} s (not compared)")

    exiftool_time, fast = best(lambda: exiftool(folder, "-fast2"))
    store = LocalStore()
    engine_time, items = best(lambda: [analyse(store, entry, UTC) for entry in store.walk(str(folder))])
    ratio = exiftool_time / engine_time
    print(
        f"engine {engine_time:.2f} s ({len(items) / engine_time:.0f} files/s) vs exiftool -fast2 {exiftool_time:.2f} s "
        f"({len(fast) / exiftool_time:.0f} files/s): {ratio:.1f}x exiftool's throughput"
    )

    full = exiftool(folder)
    compared, missed_by_fast2, disagreements, undated = 0, 0, [], Counter[str]()
    for item in items:
        taken, source, video = item.capture.taken, item.capture.source, item.kind == "video"
        if (ref := reference(full.get(item.path, {}), video)) is None:
            undated[str(source)] += 1
            continue
        compared += 1
        missed_by_fast2 += reference(fast.get(item.path, {}), video) is None
        tag, theirs = ref
        if not (source in ("exif", "xmp", "quicktime") and taken and agree((taken.local, taken.offset), theirs, tag == QUICKTIME[1])):
            ours = f"{taken.iso()} ({source})" if taken else f"nothing ({item.problem})"
            disagreements.append(f"  {Path(item.path).name}: engine {ours} vs exiftool {show(theirs)} ({tag})")
    equal = compared - len(disagreements)
    print(f"agreement: {equal}/{compared} embedded dates equal exiftool's (full read; -fast2 missed {missed_by_fast2} of them)")
    print("\n".join(disagreements[:10]) or "  no disagreement")
    sources = ", ".join(f"{k} {v}" for k, v in sorted(undated.items())) or "-"
    print(f"no embedded date for exiftool: {sum(undated.values())} (the engine's source: {sources})")

    read_kib: dict[str, float] = {}
    for label, kinds in (("photos", ("photo", "screenshot")), ("videos", ("video",))):
        read_kib[label], size = medians([i for i in items if i.kind in kinds])
        print(f"{label}: median {read_kib[label]:.1f} KiB read of {size:.0f} KiB ({100 * read_kib[label] / size:.1f}%)")

    print("TARGETS")
    print(f"  throughput >= 2x exiftool -fast2: {verdict(ratio >= 2)} ({ratio:.1f}x)")
    print(f"  identical dates: {verdict(compared > 0 and equal == compared)} ({equal}/{compared})")
    print(f"  median photo bytes <= 64 KiB: {verdict(read_kib['photos'] <= 64)} ({read_kib['photos']:.1f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="how many sample files (default 1000)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="generate the samples into DIR and keep them")
    args = parser.parse_args()
    if args.keep:
        bench(args.keep.resolve(), args.count)
    else:
        with tempfile.TemporaryDirectory(prefix="capture-dates-") as tmp:
            bench(Path(tmp).resolve(), args.count)


if __name__ == "__main__":
    main()
