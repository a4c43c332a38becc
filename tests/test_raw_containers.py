"""Canon CRW, Minolta MRW and Sigma X3F: generated files that exiftool reads, read the same by the engine."""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.core import raw_containers
from mobile_backups.core.media import read_media_info
from mobile_backups.core.source import BlockReader
from mobile_backups.samples import Exif
from conftest import analysed

MTIME = datetime(2023, 6, 1, 12, tzinfo=timezone.utc).timestamp()  # 2023-06-01T14:00:00+02:00 in Berlin
MINOLTA = Exif(date_time_original="2005:06:07 08:09:10", make="Konica Minolta Camera, Inc.", model="DiMAGE A2")


class Bytes:
    """A ByteSource over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def exiftool(path: Path) -> dict[str, str]:
    out = subprocess.run(["exiftool", "-json", "-DateTimeOriginal", "-Make", "-Model", "-Warning", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


MAKERS = {
    "crw": lambda p: samples.crw(p, taken=datetime(2004, 5, 6, 7, 8, 9), mtime=MTIME),
    "mrw": lambda p: samples.mrw(p, exif=MINOLTA, mtime=MTIME),
    "x3f": lambda p: samples.x3f(p, taken=datetime(2006, 7, 8, 9, 10, 11), mtime=MTIME),
    # a newer Sigma: the JPEG preview's EXIF (here a second later) wins over PROP's TIME, as in exiftool
    "x3f-preview": lambda p: samples.x3f(p, taken=datetime(2006, 7, 8, 9, 10, 11), model="SIGMA DP2", mtime=MTIME,
                                         preview_exif=Exif(date_time_original="2006:07:08 09:10:12", make="SIGMA", model="SIGMA DP2")),
}


@pytest.mark.parametrize("fmt", MAKERS)
def test_the_engine_reads_the_date_exiftool_reads(tmp_path, fmt):
    f = MAKERS[fmt](tmp_path / f"CAM_0001.{fmt.split('-')[0].upper()}")
    truth = exiftool(f)
    assert "Warning" not in truth, truth["Warning"]  # the generated structure is sound to exiftool
    item = analysed(f)
    assert item.problem is None and item.kind == "photo"
    assert item.capture.source == "exif"
    assert item.capture.taken.local == datetime.strptime(truth["DateTimeOriginal"], "%Y:%m:%d %H:%M:%S")
    assert item.camera in (truth["Model"], f"{truth['Make']} {truth['Model']}")


@pytest.mark.parametrize(("maker", "name", "expected"), [
    (lambda p: samples.crw(p, taken=None, mtime=MTIME), "CRW_1602.CRW", ("2023-06-01T14:00:00+02:00", "mtime")),
    (lambda p: samples.x3f(p, taken=None, mtime=MTIME), "2024-11-24 15.30.12.X3F", ("2024-11-24T15:30:12", "filename")),
    (lambda p: samples.mrw(p, exif=Exif(make="Minolta"), mtime=MTIME), "PICT0001.MRW", ("2023-06-01T14:00:00+02:00", "mtime")),
])
def test_a_raw_file_without_a_date_goes_by_the_next_source(tmp_path, maker, name, expected):
    f = maker(tmp_path / name)
    assert exiftool(f).get("DateTimeOriginal", "0000:00:00 00:00:00") == "0000:00:00 00:00:00"  # a CRW's zero TimeStamp
    item = analysed(f)
    assert item.problem is None and item.kind == "photo"
    assert (item.capture.taken.iso(), item.capture.source) == expected


def _info(data: bytes):
    reader = BlockReader(Bytes(data))
    return read_media_info(reader), reader.bytes_read


def _patch(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def test_broken_structures_get_a_clear_reason(tmp_path):
    crw = MAKERS["crw"](tmp_path / "a.crw").read_bytes()
    mrw = MAKERS["mrw"](tmp_path / "a.mrw").read_bytes()
    x3f = MAKERS["x3f"](tmp_path / "a.x3f").read_bytes()
    root_directory = 26 + int.from_bytes(crw[-4:], "little")
    image_props = root_directory + 2 + 2 * 10  # the root's third record
    x3f_directory = int.from_bytes(x3f[-4:], "little")
    cases = {
        "truncated CRW": (crw[: len(crw) // 2], "corrupt CRW"),
        "CRW heap that contains itself": (_patch(crw, image_props + 2, (len(crw) - 26).to_bytes(4, "little") + bytes(4)), "looping"),
        "CRW heap with 65535 records": (_patch(crw, root_directory, b"\xff\xff"), "declares 65535 records"),
        "MRW cut inside its metadata": (mrw[:100], "truncated MRW"),
        "MRW length at its maximum": (_patch(mrw, 4, b"\xff\xff\xff\xff"), "truncated MRW"),
        "truncated X3F": (x3f[: len(x3f) // 2], "X3F"),
        "X3F directory count at its maximum": (_patch(x3f, x3f_directory + 8, b"\xff\xff\xff\xff"), "no section directory"),
    }
    for what, (data, reason) in cases.items():
        info, _ = _info(data)
        assert info.problem and reason in info.problem, (what, info.problem)


def test_huge_declared_sizes_read_only_what_they_need():
    """A 16 MiB X3F whose PROP section declares 2^32-1 properties: a reason after a few blocks, not the file."""
    prop = b"SECp" + (0x00020000).to_bytes(4, "little") + b"\xff\xff\xff\xff" + bytes(12)
    header = b"FOVb" + (0x00020002).to_bytes(4, "little") + bytes(224)
    image = bytes(16 * 1024 * 1024)
    body = header + image + prop
    directory = b"SECd" + (0x00020000).to_bytes(4, "little") + (1).to_bytes(4, "little")
    directory += (len(header) + len(image)).to_bytes(4, "little") + len(prop).to_bytes(4, "little") + b"PROP"
    info, read = _info(body + directory + len(body).to_bytes(4, "little"))
    assert "bad PROP section" in info.problem
    assert read <= 4 * 32 * 1024


def test_seeded_mutations_fail_only_with_a_reason(tmp_path):
    """Flipped bytes and length fields set to their maximum: every walk ends, fast, with a result or CorruptRaw."""
    rng = random.Random(9)
    files = {fmt: MAKERS[fmt](tmp_path / f"m.{fmt}").read_bytes() for fmt in MAKERS}
    started, cases = time.perf_counter(), 0
    for fmt, data in files.items():
        reader_of = raw_containers.READERS[fmt.split("-")[0]]
        for _ in range(250):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(len(mutated) - 4)
                mutated[at : at + 4] = b"\xff\xff\xff\xff" if rng.random() < 0.3 else rng.randbytes(4)
            if rng.random() < 0.2:
                mutated = mutated[: rng.randrange(8, len(mutated))]
            try:
                reader_of(BlockReader(Bytes(bytes(mutated))))
            except raw_containers.CorruptRaw:
                pass
            cases += 1
    assert cases == 1000 and time.perf_counter() - started < 10


IMAGES = os.environ.get("EXIFTOOL_IMAGES")  # exiftool's t/images, e.g. from a clone of github.com/exiftool/exiftool


@pytest.mark.skipif(not IMAGES, reason="set EXIFTOOL_IMAGES to exiftool's t/images folder")
@pytest.mark.parametrize("name", ["CanonRaw.crw", "Minolta.mrw", "Sigma.x3f", "SigmaDP2.x3f"])
def test_exiftools_own_sample_images(name):
    path = Path(IMAGES or ".", name)
    info, _ = _info(path.read_bytes())
    assert info.problem is None
    assert info.exif["DateTimeOriginal"] == exiftool(path)["DateTimeOriginal"]
