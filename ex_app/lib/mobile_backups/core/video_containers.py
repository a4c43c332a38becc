"""Video containers that are not ISO-BMFF: AVI (RIFF), Matroska/WebM (EBML), ASF/WMV, MPEG-TS.

Where each keeps its capture date (as exiftool's RIFF, Matroska and ASF modules read them):
- AVI: the IDIT chunk (exiftool's RIFF:DateTimeOriginal), in the 'hdrl' list at the
  start of the file, as text in the camera's local time ("Mon Mar 10 15:04:43 2003",
  "2009/10/27 12:14:34", ...).
- Matroska and WebM: Segment/Info/DateUTC, a signed count of nanoseconds since
  2001-01-01 UTC; Info comes before the clusters, or the SeekHead says where it is.
- ASF (WMV, WMA): the File Properties object's creation date in the header, in 100 ns
  steps since 1601-01-01 UTC.
- MPEG-TS (MTS, M2TS): its dates are inside the H.264 stream; the container is only
  recognised (0x47 sync bytes every 188 bytes, or every 192 in Blu-ray M2TS) and the
  next source dates it.

Every walk is bounded: elements and chunks per level, a fixed depth, bytes per value.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .source import BlockReader

MAX_CHUNKS = 256  # RIFF chunks per level before the 'movi' data (a camera's AVI has a handful)
MAX_ELEMENTS = 1024  # EBML elements per level before the first cluster
MAX_OBJECTS = 256  # ASF header objects (real headers have about ten)
MAX_INFO = 64 * 1024  # a Matroska Info or SeekHead element (real ones: under 1 KiB)
MAX_TEXT = 64  # an IDIT date (26 bytes)
TS_PACKETS = 8  # MPEG-TS packets whose sync bytes are checked
MATROSKA_EPOCH = datetime(2001, 1, 1, tzinfo=timezone.utc)
ASF_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)

ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
ASF_FILE_PROPERTIES = bytes.fromhex("a1dcab8c47a9cf118ee400c00c205365")
EBML_MAGIC = b"\x1a\x45\xdf\xa3"
SEGMENT, INFO, CLUSTER, SEEK_HEAD, SEEK, SEEK_ID, SEEK_POSITION, DATE_UTC = (
    0x18538067, 0x1549A966, 0x1F43B675, 0x114D9B74, 0x4DBB, 0x53AB, 0x53AC, 0x4461,
)
MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_CTIME = re.compile(r"^\w+\s+(\w{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})")  # Mon Mar 10 15:04:43 2003
_NUMERIC = re.compile(r"(\d{4})[-/:]\s*(\d{1,2})[-/:]\s*(\d{1,2})/?\s+(\d{1,2}):\s*(\d{2})(?::(\d{2}))?\s*([AP]M)?", re.I)


class CorruptVideo(Exception):
    """The container's own structure is not what its signature promises."""


@dataclass
class VideoMetadata:
    local: str | None = None  # a wall-clock capture time, EXIF-style text ("2003:03:10 15:04:43")
    utc: datetime | None = None  # a UTC capture time


def kind(head: bytes) -> str | None:
    """avi, matroska, asf or mpegts from a file's first bytes, else None (MPEG-TS is confirmed by its reader)."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(EBML_MAGIC):
        return "matroska"
    if head.startswith(ASF_HEADER):
        return "asf"
    if head[:1] == b"\x47" or head[4:5] == b"\x47":
        return "mpegts"
    return None


# --- AVI (RIFF) --------------------------------------------------------------------


def read_avi(reader: BlockReader) -> VideoMetadata:
    found = VideoMetadata()
    for kind_, start, end in _riff_chunks(reader, 12, min(reader.size, 8 + int.from_bytes(reader.pread(4, 4), "little"))):
        if kind_ == b"LIST" and reader.pread(start, 4) == b"hdrl":
            for inner, istart, iend in _riff_chunks(reader, start + 4, end):
                if inner == b"IDIT":
                    found.local = riff_date(reader.pread(istart, min(iend - istart, MAX_TEXT)))
                    return found
        elif kind_ == b"IDIT":
            found.local = riff_date(reader.pread(start, min(end - start, MAX_TEXT)))
            return found
        elif kind_ == b"LIST" and reader.pread(start, 4) == b"movi":  # the frames: nothing we use follows
            break
    return found


def _riff_chunks(reader: BlockReader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(id, data start, data end) of the chunks between start and end; stops at one that runs past `end`."""
    pos = start
    for _ in range(MAX_CHUNKS):
        header = reader.pread(pos, 8)
        if len(header) < 8:
            return
        kind_, length = struct.unpack("<4sI", header)
        if pos + 8 + length > end:
            return
        yield kind_, pos + 8, pos + 8 + length
        pos += 8 + length + (length & 1)


def riff_date(raw: bytes) -> str | None:
    """An IDIT date in the forms cameras write (exiftool's ConvertRIFFDate), as EXIF text; None if unreadable."""
    text = raw.split(b"\x00")[0].decode("latin-1").strip()
    if match := _CTIME.match(text):
        month = MONTHS.get(match.group(1).lower())
        if month is None:
            return None
        _, day, hour, minute, second, year = match.groups()
        return f"{year}:{month:02d}:{int(day):02d} {int(hour):02d}:{minute}:{second}"
    if match := _NUMERIC.search(text):
        year, month, day, hour, minute, second, half = match.groups()
        hour_ = int(hour) % 12 + (12 if half.upper() == "PM" else 0) if half else int(hour)
        return f"{year}:{int(month):02d}:{int(day):02d} {hour_:02d}:{minute}:{second or '00'}"
    return None


# --- Matroska / WebM (EBML) --------------------------------------------------------


def read_matroska(reader: BlockReader) -> VideoMetadata:
    found = VideoMetadata()
    elements = _ebml_elements(reader, 0, reader.size)
    header = next(elements, None)
    if header is None or header[0] != 0x1A45DFA3:
        raise CorruptVideo("corrupt Matroska: no EBML header")
    segment = next(elements, None)
    if segment is None or segment[0] != SEGMENT:
        return found
    _, seg_start, seg_end = segment
    seg_end = min(seg_end, reader.size)
    info_at = None
    for element_id, start, end in _ebml_elements(reader, seg_start, seg_end):
        if element_id == INFO:
            found.utc = _date_utc(reader, start, end)
            return found
        if element_id == SEEK_HEAD and end - start <= MAX_INFO:
            info_at = _seek_position(reader, start, end, INFO)
        elif element_id == CLUSTER:
            break
    if info_at is not None:
        info = next(_ebml_elements(reader, seg_start + info_at, seg_end), None)
        if info is not None and info[0] == INFO:
            found.utc = _date_utc(reader, info[1], info[2])
    return found


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, length), value -1 for "unknown size"; None if invalid."""
    if pos >= len(data) or data[pos] == 0:
        return None
    length = 9 - data[pos].bit_length()
    if length > 8 or pos + length > len(data):
        return None
    value = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (-1 if value == (1 << (7 * length)) - 1 else value), length


def _ebml_elements(reader: BlockReader, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(id, data start, data end) of the elements between start and end; an unknown size runs to `end`.

    One that runs past `end` (a cut file) is the last: its end is as declared, its reader checks what it reads."""
    pos = start
    for _ in range(MAX_ELEMENTS):
        header = reader.pread(pos, 12)
        element_id = _vint(header, 0, keep_marker=True)
        if element_id is None or element_id[1] > 4:
            return
        size = _vint(header, element_id[1], keep_marker=False)
        if size is None:
            return
        data_start = pos + element_id[1] + size[1]
        data_end = end if size[0] < 0 else data_start + size[0]
        yield element_id[0], data_start, data_end
        if size[0] < 0 or data_end >= end:
            return
        pos = data_end


def _seek_position(reader: BlockReader, start: int, end: int, wanted: int) -> int | None:
    """Where the SeekHead says element `wanted` is, relative to the segment's data."""
    for element_id, seek_start, seek_end in _ebml_elements(reader, start, end):
        if element_id != SEEK:
            continue
        fields = {i: reader.pread(s, min(e - s, 8)) for i, s, e in _ebml_elements(reader, seek_start, seek_end)}
        if int.from_bytes(fields.get(SEEK_ID, b""), "big") == wanted and SEEK_POSITION in fields:
            return int.from_bytes(fields[SEEK_POSITION], "big")
    return None


def _date_utc(reader: BlockReader, start: int, end: int) -> datetime | None:
    if end - start > MAX_INFO:
        raise CorruptVideo("corrupt Matroska: an implausibly large Info element")
    for element_id, value_start, value_end in _ebml_elements(reader, start, end):
        raw = reader.pread(value_start, value_end - value_start) if element_id == DATE_UTC and value_end - value_start <= 8 else b""
        if raw and len(raw) == value_end - value_start:
            return _after(MATROSKA_EPOCH, int.from_bytes(raw, "big", signed=True) // 1000)
    return None


# --- ASF (WMV) ---------------------------------------------------------------------


def read_asf(reader: BlockReader) -> VideoMetadata:
    found = VideoMetadata()
    header = reader.pread(0, 30)
    size, count = struct.unpack("<QI", header[16:28])
    end, pos = min(size, reader.size), 30
    for _ in range(min(count, MAX_OBJECTS)):
        guid, length = struct.unpack("<16sQ", reader.pread(pos, 24).ljust(24, b"\x00"))
        if length < 24 or pos + length > end:
            break
        if guid == ASF_FILE_PROPERTIES and length >= 24 + 32:
            ticks = int.from_bytes(reader.pread(pos + 48, 8), "little")
            found.utc = _after(ASF_EPOCH, ticks // 10) if ticks else None
            break
        pos += length
    return found


def _after(epoch: datetime, microseconds: int) -> datetime | None:
    try:
        return epoch + timedelta(microseconds=microseconds)
    except OverflowError:  # beyond year 9999: not a date
        return None


# --- MPEG transport stream ---------------------------------------------------------


def read_mpegts(reader: BlockReader) -> VideoMetadata:
    """Only recognised: sync bytes at every packet start (188-byte TS or 192-byte M2TS packets)."""
    for packet, first in ((188, 0), (192, 4)):
        count = min(TS_PACKETS, (reader.size - first) // packet)
        data = reader.pread(0, first + count * packet)
        if count >= 2 and all(data[first + i * packet] == 0x47 for i in range(count)):
            return VideoMetadata()
    raise CorruptVideo("not a recognised photo or video format (no MPEG-TS sync bytes where its packets start)")


READERS = {"avi": read_avi, "matroska": read_matroska, "asf": read_asf, "mpegts": read_mpegts}
