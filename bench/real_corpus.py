"""Score the engine on a folder of real files: how many it organises in the month exiftool's reading implies.

    PYTHONPATH=ex_app/lib python bench/real_corpus.py FOLDER [--examples 3]

Nothing is moved: the engine only plans (no library), exiftool only reads. exiftool's date is
taken by the order the README documents ("When was it taken?"): EXIF DateTimeOriginal (in a
CRW or X3F, the container's own) > EXIF CreateDate > XMP > QuickTime for videos
(Keys:CreationDate > mvhd CreateDate, in the time zone) > other video containers' dates >
a date in the file name > the file's modification time; both sides in UTC. A file counts as
organised when the engine gives it a destination in that month (a duplicate of another file of
the folder counts too). Not misses, listed apart: files rightly left (empty, or content exiftool
cannot identify either) and files placed by a date exiftool does not read. A video planned
apart from its still (same name, same Apple content identifier) is a miss. The misses are
printed grouped by reason, with examples. The exit status is 0 whatever the score.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from mobile_backups.core.kinds import extension, is_media
from mobile_backups.core.layout import parse_layout
from mobile_backups.engine import Decision, Settings, organise
from mobile_backups.store import LocalStore

# exiftool tags (-G1) in the order of the engine's sources; the first with a usable date wins.
EXIF_GROUPS = r"(?:IFD0|ExifIFD|SubIFD\d*|CanonRaw|SigmaRaw)"
ORDER: list[tuple[str, str]] = [  # (engine source it corresponds to, tag pattern)
    ("exif", EXIF_GROUPS + ":DateTimeOriginal"),
    ("exif", EXIF_GROUPS + ":CreateDate"),
    ("xmp", "XMP-exif:DateTimeOriginal"),
    ("xmp", "XMP-photoshop:DateCreated"),
    ("xmp", "XMP-xmp:CreateDate"),
    ("xmp", "XMP-exif:DateTimeDigitized"),
    ("quicktime", "Keys:CreationDate"),
    ("quicktime", "QuickTime:CreateDate"),
    ("other video", r"(?:RIFF|Matroska|H264|ASF|UserData):(?:DateTimeOriginal|CreationDate|CreateDate)"),
]
VIDEO_ONLY = ("quicktime", "other video")
DATE = re.compile(r"(\d{4}):(\d\d):(\d\d)")
NAME_DATE = re.compile(r"(?<!\d)((?:19[89]|20[0-4])\d)[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
DAMAGE = re.compile(r"error|truncated|missing|corrupt|empty|invalid atom|unknown .*header", re.I)  # exiftool's own complaints
RIGHTLY = "rightly left: empty, or content exiftool cannot identify either"
BEYOND = "placed by a date exiftool does not read: exiftool failed, or a name scheme the reference lacks"
PLACEHOLDERS = (date(1970, 1, 1), date(1969, 12, 31), date(1904, 1, 1))


def exiftool(folder: Path) -> dict[str, dict[str, object]]:
    """Absolute path -> exiftool's tags (-G1), one process over the folder, times in UTC."""
    command = ["exiftool", "-json", "-G1", "-time:all", "-Make", "-Model", "-FileType", "-Error", "-Warning",
               "-MediaGroupUUID", "-ContentIdentifier",
               "-api", "largefilesupport=1", "-api", "QuickTimeUTC", "-r.", str(folder)]  # -r.: hidden folders too, as the engine
    done = subprocess.run(command, capture_output=True, text=True, errors="surrogateescape", env={**os.environ, "TZ": "UTC"})
    return {tags.pop("SourceFile"): tags for tags in json.loads(done.stdout or "[]")}  # absolute: the folder is


def day_of(value: object) -> date | None:
    """The calendar day of an exiftool date; None when blank, zero, impossible or a clock-reset placeholder."""
    match = DATE.match(str(value).strip())
    try:
        day = date(*(int(g) for g in match.groups())) if match else None
    except ValueError:
        return None
    return None if day in PLACEHOLDERS else day


class Reading(NamedTuple):
    """exiftool's date for a file: the engine source it corresponds to, the tag (or 'name', 'file time'), its value, the day."""

    source: str
    tag: str
    value: object
    day: date


def reference(tags: dict[str, object], name: str, mtime: float, video: bool) -> Reading:
    """exiftool's date by the documented order of sources."""
    for source, pattern in ORDER:
        if source in VIDEO_ONLY and not video:
            continue
        for tag, value in tags.items():
            if re.fullmatch(pattern, tag) and (day := day_of(value)):
                return Reading(source, tag, value, day)
    for match in NAME_DATE.finditer(name):
        try:
            return Reading("filename", "name", name, date(*(int(g) for g in match.groups())))
        except ValueError:
            continue
    return Reading("mtime", "file time", "", datetime.fromtimestamp(mtime, ZoneInfo("UTC")).date())


def shape(name: str) -> str:
    """A naming scheme: digits as 9, so 'IMG 2024-01-02 10_11_12.jpg' reads 'IMG 9999-99-99 99_99_99.jpg'."""
    return re.sub(r"\d", "9", name)


def trouble(tags: dict[str, object]) -> str:
    """exiftool's own complaint about the file's structure, if any."""
    said = str(tags.get("ExifTool:Error") or tags.get("ExifTool:Warning", ""))
    return said if DAMAGE.search(said) and not said.startswith("[minor]") else ""


def miss(decision: Decision, tags: dict[str, object], ref: Reading) -> str | None:
    """Why the file is not organised as exiftool reads it, as a category; None when it is."""
    item, ext = decision.item, extension(decision.item.name)
    if decision.destination is None:
        if decision.action == "duplicate":
            return None  # identical content is placed once: scored by its other copy
        reason = re.sub(r" \([^)]*\)|; left alone$", "", decision.reason or "no reason")
        complaint = f"exiftool: {said}; " if (said := trouble(tags)) else ""
        return f"left: {re.sub(r'[0-9]+', 'N', reason)[:80]} (.{ext}; {complaint}exiftool's date: {ref.source})"
    if decision.destination.split("/")[:2] == [f"{ref.day.year:04}", f"{ref.day.month:02}"]:
        return None
    ours = item.capture.source or "nothing"
    if decision.action == "companion":
        return f"wrong month: {(decision.reason or '').split(' of ')[0]} follows its lead, exiftool has {ref.tag}"
    if ref.source == "filename" and ours == "mtime":
        return f"name date not read: {shape(item.name)}"
    return f"wrong month: engine used {ours}, exiftool has {ref.tag} (.{ext})"


def apart(decision: Decision, tags: dict[str, object], ref: Reading) -> str | None:
    """Why a file that does not match exiftool's reading is still not a miss, if it is not."""
    item = decision.item
    if decision.destination is None and (item.size == 0 or "File:FileType" not in tags):
        return RIGHTLY
    if decision.destination is not None and ref.source == "mtime" and item.capture.source not in (None, "mtime"):
        return BEYOND
    return None


def split_pairs(decisions: list[Decision], read: dict[str, dict[str, object]]) -> set[str]:
    """Videos not planned together with their still: same folder and base name, same Apple content
    identifier (exiftool's Apple:MediaGroupUUID in the still, Keys:ContentIdentifier in the video)."""
    stills = {}
    for d in decisions:
        tags = read.get(d.item.path, {})
        if ident := tags.get("Apple:MediaGroupUUID") or tags.get("Apple:ContentIdentifier"):  # names differ by version
            stills[(d.item.folder, d.item.stem.lower(), ident)] = d
    split = set()
    for d in decisions:
        still = stills.get((d.item.folder, d.item.stem.lower(), read.get(d.item.path, {}).get("Keys:ContentIdentifier")))
        if still is None or (still.destination is None and d.destination is None):
            continue  # not a pair, or both stay
        if not (d.action == "companion" and still.destination and d.destination
                and d.destination.rpartition("/")[0] == still.destination.rpartition("/")[0]):
            split.add(d.item.path)
    return split


def example(decision: Decision, tags: dict[str, object], ref: Reading, folder: Path) -> str:
    """One line: the file, what exiftool read, what the engine did."""
    item, taken = decision.item, decision.item.capture.taken
    camera = " ".join(dict.fromkeys(str(v) for t, v in tags.items() if t.endswith((":Make", ":Model"))))
    kind = f"{tags.get('File:FileType', '?')}{', ' + camera if camera else ''}"
    read = f"{ref.tag}={ref.value}" if ref.value != "" else ref.tag
    complaint = f" ({said})" if (said := trouble(tags)) else ""
    engine = decision.destination or decision.reason
    return f"{os.path.relpath(item.path, folder)} [{kind}]: exiftool {read}{complaint}; engine {engine}" + (
        f" from {item.capture.source} {taken.iso()}" if taken and decision.destination else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--examples", type=int, default=3, help="examples per reason (default 3)")
    args = parser.parse_args()
    folder = args.folder.resolve()
    start = time.perf_counter()
    read = exiftool(folder)
    middle = time.perf_counter()
    settings = Settings(parse_layout("{year}/{month}"), ZoneInfo("UTC"), None)
    decisions = [d for d in organise(LocalStore(), [str(folder)], settings, None, lambda d: None) if is_media(d.item.kind)]
    seconds = time.perf_counter() - middle, middle - start
    misses: dict[str, list[str]] = defaultdict(list)
    notes: dict[str, list[str]] = defaultdict(list)
    by_mtime, split = 0, split_pairs(decisions, read)
    for decision in decisions:
        tags = read.get(decision.item.path, {})
        ref = reference(tags, decision.item.name, decision.item.mtime or 0, decision.item.kind == "video")
        if decision.item.path in split:
            misses["live pair split: same name and Apple content identifier, not planned together"].append(
                example(decision, tags, ref, folder))
        elif (why := miss(decision, tags, ref)) is None:
            by_mtime += ref.source == "mtime"
        elif note := apart(decision, tags, ref):
            notes[note].append(example(decision, tags, ref, folder))
        else:
            misses[why].append(example(decision, tags, ref, folder))
    total, missed = len(decisions), sum(len(v) for v in misses.values())
    good = total - missed - len(notes[RIGHTLY])
    print(f"organised as exiftool reads them: {good} of {total} ({100 * good / max(total, 1):.1f}%), "
          f"{by_mtime} of them by the file time alone" + (f", {len(notes[BEYOND])} by a date exiftool does not read" if notes[BEYOND] else ""))
    kinds = Counter(why.split(":")[0] for why, examples in misses.items() for _ in examples)
    print("misses: " + (", ".join(f"{n} {kind}" for kind, n in kinds.most_common()) or "none")
          + f"; {len(notes[RIGHTLY])} rightly left")
    print("time: engine plan {:.1f} s, exiftool {:.1f} s".format(*seconds))
    for why, lines in sorted(misses.items(), key=lambda kv: (-len(kv[1]), kv[0])) + [(n, v) for n, v in notes.items() if v]:
        print(f"\n{len(lines):4}  {why}")
        for line in lines[: args.examples]:
            print(f"        {line}")


if __name__ == "__main__":
    main()
