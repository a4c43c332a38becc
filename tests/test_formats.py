"""Formats whose dates the engine once missed: non-ISO-BMFF videos, PNG EXIF outside eXIf-before-IDAT, XMP in TIFF
and GIF, XMP offsets written "GMT+02:00". Each generated file is checked against exiftool's reading of it."""

from __future__ import annotations

import json
import random
import re
import subprocess
import time
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.core import video_containers
from mobile_backups.core.capture import parse_datetime
from mobile_backups.core.media import PNG_TAIL, read_media_info
from mobile_backups.core.source import BlockReader
from mobile_backups.samples import Exif
from conftest import BERLIN, analysed

MTIME = datetime(2023, 6, 1, 12, tzinfo=timezone.utc).timestamp()  # 2023-06-01T14:00:00+02:00 in Berlin
NIKON = Exif(date_time_original="2006:02:04 16:09:30", make="NIKON CORPORATION", model="NIKON D70")
XMP = samples.xmp_packet(**{"xmp:CreateDate": "2014-01-19T04:04:26+01:00"})
CREATED = datetime(2021, 5, 6, 7, 8, 9, 123456)  # UTC
_EXIFTOOL_DATE = re.compile(r"(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:GMT)?(Z|[+-]\d\d:\d\d)?$")


class Bytes:
    """A ByteSource over bytes in memory that counts the reads it serves."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size, self.reads = data, len(data), 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return self.data[offset : offset + length]


def exiftool(path: Path) -> dict[str, str]:
    """exiftool's dates (`-G -time:all`, file times left out) and file type."""
    out = subprocess.run(["exiftool", "-json", "-G", "-time:all", "-FileType", str(path)], capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(out.stdout)[0].items() if not k.startswith("File:FileModify") and "Access" not in k
            and "InodeChange" not in k and k != "SourceFile"}


def exiftool_date(text: str) -> datetime:
    """An exiftool date to the second: aware when it carries a zone."""
    year, month, day, hour, minute, second, zone = _EXIFTOOL_DATE.match(text).groups()
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    if zone:
        moment = moment.replace(tzinfo=timezone.utc if zone == "Z" else datetime.strptime(zone, "%z").tzinfo)
    return moment


def engine_date(item) -> datetime:
    """The engine's capture time to the second, aware when it has an offset."""
    taken = item.capture.taken
    moment = taken.local.replace(microsecond=0)
    return moment.replace(tzinfo=timezone(taken.offset)) if taken.offset is not None else moment


@cache
def has_encoder(name: str) -> bool:
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True).stdout
    return f" {name} " in listing


def _video(path: Path, **kwargs) -> Path:
    encoder = samples._MUXERS[path.suffix.lower()][1][1]
    if not has_encoder(encoder):
        pytest.skip(f"this ffmpeg has no {encoder} encoder")
    return samples.other_video(path, mtime=MTIME, **kwargs)


# --- videos ---------------------------------------------------------------------------------------------------------

VIDEOS = {  # name: (file name, generator options, exiftool's tag, the engine's date source)
    "avi ctime IDIT (Canon)": ("MVI_0001.AVI", {"idit": "Mon Sep 10 20:52:00 2012\n"}, "RIFF:DateTimeOriginal", "avi"),
    "avi numeric IDIT (Pentax)": ("IMGP0001.AVI", {"idit": "2009/10/27 12:14:34"}, "RIFF:DateTimeOriginal", "avi"),
    "avi IDIT with a 12-hour clock (Casio)": ("CIMG0001.AVI", {"idit": "2001/ 1/27  1:42PM"}, "RIFF:DateTimeOriginal", "avi"),
    "mkv DateUTC": ("clip.mkv", {"created_utc": CREATED}, "Matroska:DateTimeOriginal", "matroska"),
    "webm DateUTC": ("clip.webm", {"created_utc": CREATED}, "Matroska:DateTimeOriginal", "matroska"),
    "wmv creation date": ("clip.wmv", {"created_utc": CREATED}, "ASF:CreationDate", "asf"),
}


@pytest.mark.parametrize("case", VIDEOS)
def test_videos_that_are_not_iso_bmff_are_dated_as_exiftool_reads_them(tmp_path, case):
    name, options, tag, source = VIDEOS[case]
    f = _video(tmp_path / name, **options)
    truth = exiftool(f)
    item = analysed(f)
    assert item.problem is None and item.kind == "video"
    assert item.capture.source == source
    ours = engine_date(item)
    if "numeric" in case:  # exiftool's pattern for "yyyy/mm/dd hh:mm" (Casio) also takes this form, and drops its seconds
        ours = ours.replace(second=0)
    assert ours == exiftool_date(truth[tag]), truth
    if source != "avi":  # UTC in the file, shown in the time zone
        assert item.capture.taken.iso() == "2021-05-06T09:08:09.123456+02:00"


def test_a_video_container_without_a_date_goes_by_the_next_source(tmp_path):
    plain = {ext: _video(tmp_path / f"clip{ext}") for ext in (".avi", ".mkv", ".wmv")}
    for ext, f in plain.items():
        dates = {k: v for k, v in exiftool(f).items() if k.startswith(("RIFF:", "Matroska:", "ASF:"))}
        assert all(v.startswith("0000:00:00") for v in dates.values()), (ext, dates)  # ffmpeg's ASF: a zero date
        item = analysed(f)
        assert item.problem is None, ext
        assert (item.capture.source, item.capture.taken.iso()) == ("mtime", "2023-06-01T14:00:00+02:00"), ext


@pytest.mark.parametrize(("name", "file_type"), [("00001.MTS", "M2T"), ("00002.m2ts", "M2TS")])
def test_transport_streams_are_videos_dated_by_the_next_source(tmp_path, name, file_type):
    """Their dates are in the H.264 stream (not read): recognised by their sync bytes, dated by name or file time."""
    f = _video(tmp_path / name)
    truth = exiftool(f)
    assert truth["File:FileType"] == file_type and not any("Date" in k for k in truth)
    item = analysed(f)
    assert item.problem is None and item.kind == "video"
    assert (item.capture.source, item.capture.taken.iso()) == ("mtime", "2023-06-01T14:00:00+02:00")
    named = f.rename(tmp_path / f"VID_20240102_030405{f.suffix}")
    assert (analysed(named).capture.source, analysed(named).capture.taken.iso()) == ("filename", "2024-01-02T03:04:05")


def test_bytes_that_only_look_like_a_transport_stream_stay_unrecognised(tmp_path):
    f = tmp_path / "clip.mts"
    f.write_bytes(b"G" + bytes(4000))  # a 0x47 first byte, no sync byte 188 bytes later
    item = analysed(f)
    assert item.problem.startswith("not a recognised photo or video format")


def test_avi_dates_in_the_forms_cameras_write():
    assert video_containers.riff_date(b"Mon Mar 10 15:04:43 2003\n\x00") == "2003:03:10 15:04:43"
    assert video_containers.riff_date(b"2005/11/28/ 09:19") == "2005:11:28 09:19:00"  # Casio EX-Z30
    assert video_containers.riff_date(b"2002-12-16  15:35:01\x00\x00") == "2002:12:16 15:35:01"  # Konica KD500Z
    assert video_containers.riff_date(b"2001/ 1/27 12:05AM") == "2001:01:27 00:05:00"
    assert video_containers.riff_date(b"Mon Foo 10 15:04:43 2003") is None
    assert video_containers.riff_date(b"\x00\x00\x00") is None


# --- PNG ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["zTXt", "tEXt"])
def test_png_exif_as_an_imagemagick_raw_profile(tmp_path, compressed):
    f = samples.png_raw_profile(tmp_path / "convert.png", exif=NIKON, compressed=compressed, mtime=MTIME)
    assert exiftool(f)["EXIF:DateTimeOriginal"] == "2006:02:04 16:09:30"
    item = analysed(f)
    assert (item.capture.source, item.capture.taken.iso(), item.camera) == ("exif", "2006-02-04T16:09:30", "NIKON CORPORATION NIKON D70")


def test_png_exif_after_the_image_data(tmp_path):
    f = samples.png_late_exif(tmp_path / "late.png", exif=NIKON, size=(640, 480), mtime=MTIME)
    assert exiftool(f)["EXIF:DateTimeOriginal"] == "2006:02:04 16:09:30"
    item = analysed(f)
    assert (item.capture.source, item.capture.taken.iso()) == ("exif", "2006-02-04T16:09:30")


def _reads(data: bytes) -> tuple[object, int, int]:
    source = Bytes(data)
    reader = BlockReader(source)
    return read_media_info(reader), reader.bytes_read, source.reads


def test_the_png_tail_is_one_bounded_read_and_only_when_nothing_dated_came_first(tmp_path):
    """An undated PNG costs one read of at most PNG_TAIL more (the end check read 8 bytes there anyway);
    a dated PNG reads what it always read; an eXIf beyond the tail window is not looked for."""
    big = (1500, 1000)  # about 4.5 MB at compress level 1
    undated = samples.png(tmp_path / "undated.png", size=big, seed=1).read_bytes()
    dated = samples.png(tmp_path / "dated.png", exif=NIKON, size=big, seed=1).read_bytes()
    info, read, reads = _reads(undated)
    assert info.problem is None and not info.exif
    assert (reads, read) == (2, 32 * 1024 + PNG_TAIL)
    info, read, reads = _reads(dated)
    assert info.exif["DateTimeOriginal"] == "2006:02:04 16:09:30"
    assert (reads, read) == (2, 32 * 1024 + 8)
    far = samples.png_late_exif(tmp_path / "far.png", exif=NIKON, size=big, after=samples.png_chunk(b"tEXt", b"Comment\x00" + bytes(PNG_TAIL)))
    assert exiftool(far)["EXIF:DateTimeOriginal"] == "2006:02:04 16:09:30"
    info, read, _ = _reads(far.read_bytes())
    assert not info.exif and read == 32 * 1024 + PNG_TAIL


def test_eXIf_letters_in_image_data_are_not_a_chunk(tmp_path):
    """The type's letters with a length that fits but a wrong CRC (compressed image data, say) are not read."""
    data = samples.png_late_exif(tmp_path / "late.png", exif=NIKON).read_bytes()
    at = data.index(b"eXIf")
    length = int.from_bytes(data[at - 4 : at], "big")
    broken = data[: at + 4 + length] + bytes(4) + data[at + 8 + length :]  # the CRC zeroed
    info, _, _ = _reads(broken)
    assert info.problem is None and not info.exif


# --- TIFF and GIF XMP, XMP offsets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True], ids=["II", "MM"])
def test_tiff_xmp_in_tag_700(tmp_path, big_endian):
    f = samples.tiff(tmp_path / "scan.tif", xmp=XMP, big_endian=big_endian, mtime=MTIME)
    truth = exiftool(f)
    item = analysed(f)
    assert item.capture.source == "xmp"
    assert engine_date(item) == exiftool_date(truth["XMP:CreateDate"])


def test_tiff_xmp_written_by_exiftool(tmp_path):
    f = samples.tiff(tmp_path / "scan.tif", mtime=MTIME)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-photoshop:DateCreated=2003:08:30", str(f)], check=True)
    assert exiftool(f)["XMP:DateCreated"] == "2003:08:30"
    item = analysed(f)
    assert (item.capture.source, item.capture.taken.iso()) == ("xmp", "2003-08-30")


def test_gif_xmp_application_extension(tmp_path):
    ours = samples.gif_xmp(tmp_path / "ours.gif", xmp=XMP, mtime=MTIME)
    theirs = tmp_path / "theirs.gif"
    samples._picture((64, 48), 0).convert("P").save(theirs, "GIF")
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:CreateDate=2014:01:19 04:04:26+01:00", str(theirs)], check=True)
    for f in (ours, theirs):
        truth = exiftool(f)
        item = analysed(f)
        assert item.capture.source == "xmp", f.name
        assert engine_date(item) == exiftool_date(truth["XMP:CreateDate"]), f.name


def test_an_endless_gif_extension_ends_the_search_not_the_file(tmp_path):
    """Sub-blocks without a terminator, or a million of them: no XMP, the file still goes by its file time."""
    header = samples.gif_xmp(tmp_path / "g.gif", xmp=XMP).read_bytes()[:13]
    header = header[:10] + b"\x00" + header[11:]  # no global colour table
    for body in (b"\x21\xff" + b"\x01a" * 1_000_000, b"\x21\xff\x0bXMP DataXMP" + b"\x05abc"):
        f = tmp_path / "endless.gif"
        f.write_bytes(header + body)
        samples.set_mtime(f, MTIME)
        started = time.perf_counter()
        item = analysed(f)
        assert time.perf_counter() - started < 1
        assert item.problem is None and item.capture.source == "mtime"


def test_xmp_offsets_written_gmt_plus(tmp_path):
    """Apple Vision Pro writes xmp:CreateDate as 2024-04-22T14:38:09.526GMT+02:00."""
    assert parse_datetime("2024-04-22T14:38:09.526GMT+02:00").iso() == "2024-04-22T14:38:09.526+02:00"
    assert parse_datetime("2024-04-22T14:38:09UTC-05:30").iso() == "2024-04-22T14:38:09-05:30"
    f = samples.jpeg(tmp_path / "spatial.jpg", xmp=samples.xmp_packet(**{"xmp:CreateDate": "2024-04-22T14:38:09.526GMT+02:00"}))
    truth = exiftool(f)
    item = analysed(f)
    assert item.capture.source == "xmp"
    assert engine_date(item) == exiftool_date(truth["XMP:CreateDate"]) == datetime(2024, 4, 22, 14, 38, 9, tzinfo=timezone(timedelta(hours=2)))


# --- bounds -----------------------------------------------------------------------------------------------------------


def test_huge_declared_video_structures_read_only_what_they_need():
    """A 16 MiB Matroska of Void elements, an ASF declaring 2^32-1 header objects: a few blocks, no date, no hang."""
    void = b"\xec\x81\x00"  # a Void element of one byte, again and again
    mkv = b"\x1a\x45\xdf\xa3\x80" + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + void * (16 * 1024 * 1024 // 3)
    asf = video_containers.ASF_HEADER + (2**40).to_bytes(8, "little") + b"\xff\xff\xff\xff\x01\x02" + bytes(16 * 1024 * 1024)
    for data in (mkv, asf):
        started = time.perf_counter()
        info, read, _ = _reads(data)
        assert time.perf_counter() - started < 1
        assert info.problem is None and info.video_utc is None
        assert read <= 4 * 32 * 1024


def test_seeded_mutations_of_the_new_formats_fail_only_with_a_reason(tmp_path):
    """Flipped bytes, length fields at their maximum, cuts: every read ends, fast, with metadata or a reason."""
    rng = random.Random(9)
    files = [_video(tmp_path / f"m{ext}", created_utc=CREATED, idit="Mon Mar 10 15:04:43 2003\n" if ext == ".avi" else None).read_bytes()
             for ext in (".avi", ".mkv", ".wmv", ".m2ts")]
    files += [samples.png_raw_profile(tmp_path / "r.png", exif=NIKON).read_bytes(), samples.png_late_exif(tmp_path / "l.png", exif=NIKON).read_bytes(),
              samples.tiff(tmp_path / "t.tif", xmp=XMP).read_bytes(), samples.gif_xmp(tmp_path / "g.gif", xmp=XMP).read_bytes()]
    started, cases, slowest = time.perf_counter(), 0, 0.0
    for data in files:
        for _ in range(150):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(min(len(mutated), 4096) - 8)  # where the metadata is
                mutated[at : at + 4] = b"\xff\xff\xff\xff" if rng.random() < 0.3 else rng.randbytes(4)
            if rng.random() < 0.2:
                mutated = mutated[: rng.randrange(8, len(mutated))]
            case_started = time.perf_counter()
            info, _, _ = _reads(bytes(mutated))
            slowest = max(slowest, time.perf_counter() - case_started)
            assert info.problem is None or not info.problem.startswith("unreadable"), info.problem
            cases += 1
    assert cases == 1200 and slowest < 0.5 and time.perf_counter() - started < 30
