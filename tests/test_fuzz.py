"""A seeded mutation fuzzer over the sample generator's files, organised as one inbox.

Mutations: truncation at random offsets, flipped header bytes, structural length and count
fields (ISO-BMFF box sizes, JPEG segment lengths, PNG and RIFF chunk sizes, TIFF entry and
value counts, HEIF item counts) set to their maximum, IFD chains and EXIF pointers looped back,
and deeply nested boxes. Every case must get a decision or a reason, within the time budget,
with no exception, and after the run every file's bytes are in the inbox or the library exactly once.
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mobile_backups import engine, samples
from mobile_backups.core.layout import DEFAULT_LAYOUT, parse_layout
from mobile_backups.journal import Journal
from mobile_backups.samples import Exif
from mobile_backups.store import LocalStore
from conftest import FUZZ_SUMMARY

SEED = int(os.environ.get("FUZZ_SEED", "9"))
CASES_PER_BASE = 130
EXIF = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00", sub_sec_time_original="120",
            create_date="2024:11:24 15:30:12", make="Google", model="Pixel 8")
XMP = samples.xmp_packet(**{"exif:DateTimeOriginal": "2024-11-24T15:30:12+01:00"})
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"dinf", b"iprp", b"ipco", b"ilst"}


@pytest.fixture(scope="session")
def bases(tmp_path_factory) -> dict[str, bytes]:
    """One real file of each kind, made once per session."""
    folder = tmp_path_factory.mktemp("fuzz-bases")
    made = [
        samples.jpeg(folder / "b.jpg", exif=EXIF, xmp=XMP),
        samples.heic(folder / "b.heic", exif=EXIF, xmp=XMP),
        samples.png(folder / "b.png", exif=EXIF, xmp=XMP),
        samples.webp(folder / "b.webp", exif=EXIF, xmp=XMP),
        samples.avif(folder / "b.avif", exif=EXIF),
        samples.video(folder / "b.mp4", mvhd_utc=datetime(2024, 11, 24, 14, 30), faststart=True),
        samples.video(folder / "b.mov", apple_creationdate="2024-11-24T15:30:12+0100", make="Apple", model="iPhone 15"),
    ]
    (folder / "b.dng").write_bytes(samples.exif_bytes(EXIF)[6:])  # a bare TIFF structure, as a RAW file starts
    made.append(folder / "b.dng")
    return {p.suffix: p.read_bytes() for p in made}


# --- where the structural fields are ------------------------------------------------


def box_fields(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> Iterator[tuple[int, int]]:
    """(offset, width) of every box size, and of HEIF 'iloc' and 'iinf' counts, down the container tree."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end and depth < 8:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8 or pos + size > end:
            return
        yield pos, 4
        payload = pos + 8
        if kind == b"meta":
            payload += 4 if data[payload + 4 : payload + 8] != b"hdlr" else 0
        if kind == b"iloc":
            yield payload + 6, 2 if data[payload] < 2 else 4
        if kind == b"iinf":
            yield payload + 4, 2
        if kind in CONTAINERS or kind == b"meta":
            yield from box_fields(data, payload, pos + size, depth + 1)
        pos += size


def tiff_fields(data: bytes, base: int) -> Iterator[tuple[int, int, str]]:
    """(offset, width, role) of IFD entry counts, tag value counts and next-IFD pointers of a TIFF at `base`."""
    order = "<" if data[base : base + 1] == b"I" else ">"
    seen: set[int] = set()
    todo = [struct.unpack_from(order + "I", data, base + 4)[0]] if base + 8 <= len(data) else []
    while todo:
        ifd = todo.pop()
        if ifd in seen or base + ifd + 2 > len(data):
            continue
        seen.add(ifd)
        count = struct.unpack_from(order + "H", data, base + ifd)[0]
        yield base + ifd, 2, "entries"
        for n in range(min(count, 200)):
            entry = base + ifd + 2 + 12 * n
            if entry + 12 > len(data):
                break
            tag = struct.unpack_from(order + "H", data, entry)[0]
            yield entry + 4, 4, "count"
            if tag in (0x8769, 0x8825, 0xA005):
                todo.append(struct.unpack_from(order + "I", data, entry + 8)[0])
                yield entry + 8, 4, "pointer"
        after = base + ifd + 2 + 12 * count
        if after + 4 <= len(data):
            yield after, 4, "next"


def fields(data: bytes) -> list[tuple[int, int, str]]:
    """The structural fields of a JPEG, PNG, WebP, TIFF or ISO-BMFF file."""
    found: list[tuple[int, int, str]] = []
    if data[:2] == b"\xff\xd8":
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xDA:
            length = struct.unpack_from(">H", data, pos + 2)[0]
            found.append((pos + 2, 2, "length"))
            if data[pos + 4 : pos + 10] == b"Exif\0\0":
                found += tiff_fields(data, pos + 10)
            pos += 2 + length
    elif data[:4] == b"\x89PNG":
        pos = 8
        while pos + 12 <= len(data):
            length, kind = struct.unpack_from(">I4s", data, pos)
            found.append((pos, 4, "length"))
            if kind == b"eXIf":
                found += tiff_fields(data, pos + 8)
            pos += 12 + length
    elif data[:4] == b"RIFF":
        found.append((4, 4, "length"))
        pos = 12
        while pos + 8 <= len(data):
            kind, length = struct.unpack_from("<4sI", data, pos)
            found.append((pos + 4, 4, "length"))
            if kind == b"EXIF":
                found += tiff_fields(data, pos + 8 + (6 if data[pos + 8 : pos + 14] == b"Exif\0\0" else 0))
            pos += 8 + length + (length & 1)
    elif data[:2] in (b"II", b"MM"):
        found += tiff_fields(data, 0)
    else:
        found += [(offset, width, "length") for offset, width in box_fields(data)]
        exif = data.find(b"Exif\0\0MM")
        exif = exif if exif >= 0 else data.find(b"Exif\0\0II")
        if exif >= 0:
            found += tiff_fields(data, exif + 6)
    return found


# --- mutations -------------------------------------------------------------------------


def nested(kind: bytes, depth: int, inner: bytes = b"") -> bytes:
    for _ in range(depth):
        inner = struct.pack(">I4s", 8 + len(inner), kind) + inner
    return inner


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One seeded mutation of `data`: (what was done, the new bytes)."""
    choice = rng.randrange(6)
    out = bytearray(data)
    structure = fields(data)
    if choice == 0 or not structure:
        at = rng.randrange(1, len(data))
        return f"truncated at {at}", data[:at]
    if choice == 1:
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(min(len(data), 512))
            out[at] ^= 1 << rng.randrange(8)
        return "flipped header bits", bytes(out)
    if choice in (2, 3):
        picked = rng.sample(structure, min(len(structure), rng.randint(1, 3)))
        for offset, width, _ in picked:
            out[offset : offset + width] = b"\xff" * width if rng.random() < 0.8 else b"\x00" * width
        return "fields at max: " + ",".join(f"{role}@{offset}" for offset, width, role in picked), bytes(out)
    if choice == 4:
        loops = [f for f in structure if f[2] in ("next", "pointer")]
        if loops:
            offset, width, role = rng.choice(loops)
            target = next(o for o, _, r in structure if r == "entries")  # the first IFD
            base = data.find(b"II*\0") if data[:2] not in (b"II", b"MM") else 0
            order = "<" if data[base : base + 1] == b"I" else ">"
            out[offset : offset + 4] = struct.pack(order + "I", max(target - max(base, 0), 0))
            return f"looping {role}@{offset}", bytes(out)
        at = rng.randrange(1, len(data))
        return f"truncated at {at}", data[:at]
    kind, depth = rng.choice([b"moov", b"meta", b"udta", b"ilst", b"iinf"]), rng.randint(10, 3000)
    if data[4:8] == b"ftyp":
        return f"{kind.decode()} nested {depth} deep at the end", data + nested(kind, depth, b"\0" * 8)
    if data[:2] == b"\xff\xd8":  # APP1 segments inside each other are just bytes: many of them instead
        return f"{depth} empty APP1 segments", data[:2] + b"\xff\xe1\x00\x02" * depth + data[2:]
    return f"{kind.decode()} nested {depth} deep appended", data + nested(kind, depth)


# --- the run --------------------------------------------------------------------------


def test_mutated_inbox_every_file_decided_in_budget_and_nothing_lost(bases, tmp_path, monkeypatch):
    rng = random.Random(SEED)
    inbox, library = tmp_path / "inbox", tmp_path / "library"
    inbox.mkdir()
    what: dict[str, str] = {}
    for suffix, data in bases.items():
        for n in range(CASES_PER_BASE):
            done, mutated = mutate(data, rng)
            path = inbox / f"case{len(what):04d}{suffix}"
            path.write_bytes(mutated)
            os.utime(path, (1700000000, 1700000000))
            what[str(path)] = f"{done} of {suffix}"
    before = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in inbox.iterdir())

    timings: list[tuple[float, int, str]] = []
    analyse = engine.analyse

    def timed(store, entry, zone, seconds=engine.READ_SECONDS):
        tracemalloc.reset_peak()
        started = time.perf_counter()
        item = analyse(store, entry, zone, seconds)
        timings.append((time.perf_counter() - started, tracemalloc.get_traced_memory()[1], entry.path))
        return item

    monkeypatch.setattr(engine, "analyse", timed)
    settings = engine.Settings(parse_layout(DEFAULT_LAYOUT), ZoneInfo("Europe/Berlin"), str(library))
    journal = Journal(tmp_path / "journal.jsonl")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        decisions = engine.organise(LocalStore(), [str(inbox)], settings, journal, lambda decision: None)
    finally:
        journal.close()
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert len(what) >= 1000
    assert sorted(d.item.path for d in decisions) == sorted(what)  # each file once
    for d in decisions:
        assert d.destination if d.action in ("move", "companion") else d.reason, (d.item.path, what[d.item.path], d)
    after = Counter(hashlib.sha256(p.read_bytes()).hexdigest() for p in [*inbox.rglob("*"), *library.rglob("*")]
                    if p.is_file() and ".mobile_backups" not in p.parts)
    assert after == before  # every file's bytes are somewhere, exactly once

    seconds, _, slowest = max(timings)
    peak, _, biggest = max((m, s, p) for s, m, p in timings)
    assert seconds < engine.READ_SECONDS and peak < 64 * 2**20
    actions = Counter(d.action for d in decisions)
    damaged = sum(d.item.damage is not None and d.action == "move" for d in decisions)
    FUZZ_SUMMARY.extend([
        f"fuzz (seed {SEED}): {len(what)} mutated files organised in {elapsed:.1f} s: "
        + ", ".join(f"{n} {a}" for a, n in sorted(actions.items())) + f" ({damaged} moved as damaged)",
        f"fuzz slowest file: {seconds * 1000:.1f} ms, {what[slowest]}",
        f"fuzz peak memory of one file: {peak / 2**20:.2f} MiB, {what[biggest]}",
    ])
