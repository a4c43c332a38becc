"""Camera RAW containers that are not TIFF-based: Canon CRW (CIFF), Minolta MRW, Sigma X3F.

Where each keeps its capture date (as exiftool's CanonRaw, MinoltaRaw and SigmaRaw
modules read them):
- CRW: a tree of CIFF heaps; the TimeStamp record (0x180e, in ImageProps) holds the
  wall-clock time as seconds since 1970, the MakeModel record (0x080a) "Make\\0Model".
- MRW: a list of blocks before the image data; the TTW block is a TIFF (EXIF) structure.
- X3F: a section directory at the offset in the file's last 4 bytes; the PROP section's
  TIME property (seconds since 1970, wall clock), CAMMANUF and CAMMODEL; newer cameras
  also embed a JPEG preview whose APP1 carries EXIF.

The walkers return EXIF-named tags and the embedded TIFF block for the caller to
decode. Every walk is bounded: heap depth, directories, entries and bytes per block.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .source import BlockReader

MAX_DEPTH = 6  # CIFF heaps in real files nest three deep
MAX_DIRECTORIES = 64  # CIFF heaps per file
MAX_ENTRIES = 1024  # records in one CIFF heap, sections in one X3F directory, properties in PROP
MAX_BLOCKS = 64  # MRW blocks before the image data
MAX_BLOCK = 4 * 1024 * 1024  # a TTW block, a PROP section
MAX_RECORD = 256  # a CIFF value we read (TimeStamp is 12 bytes, MakeModel about 40)
EPOCH = datetime(1970, 1, 1)

CRW_TIMESTAMP, CRW_MAKE_MODEL = 0x180E, 0x080A
X3F_JPEG = b"SECi\x00\x00\x02\x00\x02\x00\x00\x00\x12\x00\x00\x00"  # image section v2.0, type 2, format 18 (JPEG)


class CorruptRaw(Exception):
    """The RAW file's own structure is broken (cut short, or offsets pointing outside it)."""


@dataclass
class RawMetadata:
    tags: dict[str, str] = field(default_factory=dict)  # DateTimeOriginal, Make, Model, as EXIF names them
    tiff: bytes | None = None  # an embedded TIFF (EXIF) block


def kind(head: bytes) -> str | None:
    """crw, mrw or x3f from a file's first bytes, else None."""
    if head[:2] in (b"II", b"MM") and head[6:14] == b"HEAPCCDR":
        return "crw"
    if head[:4] == b"\x00MRM":
        return "mrw"
    if head[:4] == b"FOVb":
        return "x3f"
    return None


def _need(reader: BlockReader, offset: int, length: int, what: str) -> bytes:
    data = reader.pread(offset, length) if offset >= 0 else b""
    if len(data) < length:
        raise CorruptRaw(f"corrupt {what}: needs bytes up to {offset + length}, the file has {reader.size}")
    return data


def _wall_clock(seconds: int) -> str | None:
    """Seconds since 1970 that these cameras store for their local clock, as an EXIF date string."""
    if seconds <= 0:
        return None
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y:%m:%d %H:%M:%S")


# --- Canon CRW (CIFF) -------------------------------------------------------------


def read_crw(reader: BlockReader) -> RawMetadata:
    order = "<" if reader.pread(0, 2) == b"II" else ">"
    header_length = struct.unpack(order + "I", _need(reader, 2, 4, "CRW header"))[0]
    found = RawMetadata()
    _ciff_heap(reader, order, header_length, reader.size, 0, set(), found)
    return found


def _ciff_heap(reader: BlockReader, order: str, start: int, end: int, depth: int, seen: set[int], found: RawMetadata) -> None:
    """One heap: its directory offset is in its last 4 bytes; records point into the heap."""
    if end - start < 6:
        raise CorruptRaw(f"corrupt CRW: a heap at byte {start} is too small")
    directory = start + struct.unpack(order + "I", _need(reader, end - 4, 4, "CRW"))[0]
    if directory in seen or len(seen) >= MAX_DIRECTORIES:
        raise CorruptRaw("corrupt CRW: too many or looping heaps")
    seen.add(directory)
    if not start <= directory <= end - 6:
        raise CorruptRaw(f"corrupt CRW: a heap's directory at byte {directory} lies outside the heap ({start}-{end})")
    count = struct.unpack(order + "H", _need(reader, directory, 2, "CRW"))[0]
    if count > MAX_ENTRIES or directory + 2 + 10 * count > end:
        raise CorruptRaw(f"corrupt CRW: a heap directory at byte {directory} declares {count} records")
    records = _need(reader, directory + 2, 10 * count, "CRW")
    for i in range(count):
        tag, size, offset = struct.unpack_from(order + "HII", records, 10 * i)
        if tag & 0x8000:  # a bad record ends its heap; what came before stands (as in exiftool)
            return
        in_directory, ident, kind_bits = tag & 0x4000, tag & 0x3FFF, (tag >> 8) & 0x38
        if in_directory:
            value = records[10 * i + 2 : 10 * i + 10]
        else:
            if offset > end - start or size > end - start - offset:
                raise CorruptRaw(f"corrupt CRW: record 0x{tag:04x} points outside its heap")
            if kind_bits in (0x28, 0x30):  # a sub-heap
                if depth + 1 >= MAX_DEPTH:
                    raise CorruptRaw("corrupt CRW: heaps nested too deep")
                _ciff_heap(reader, order, start + offset, start + offset + size, depth + 1, seen, found)
                continue
            if ident not in (CRW_TIMESTAMP, CRW_MAKE_MODEL) or size > MAX_RECORD:
                continue
            value = _need(reader, start + offset, size, "CRW")
        if ident == CRW_TIMESTAMP and len(value) >= 4 and "DateTimeOriginal" not in found.tags:
            if moment := _wall_clock(struct.unpack_from(order + "I", value)[0]):
                found.tags["DateTimeOriginal"] = moment
        elif ident == CRW_MAKE_MODEL and "Make" not in found.tags:
            make, _, rest = value.partition(b"\x00")
            model = rest.partition(b"\x00")[0]
            found.tags.update({k: v.decode("latin-1").strip() for k, v in (("Make", make), ("Model", model)) if v.strip()})


# --- Minolta MRW -------------------------------------------------------------------


def read_mrw(reader: BlockReader) -> RawMetadata:
    data_offset = 8 + struct.unpack(">I", _need(reader, 4, 4, "MRW header"))[0]
    if data_offset > reader.size:
        raise CorruptRaw(f"truncated MRW: the metadata runs to byte {data_offset}, the file has {reader.size}")
    found = RawMetadata()
    pos = 8
    for _ in range(MAX_BLOCKS):
        if pos + 8 > data_offset:
            break
        name, length = struct.unpack(">4sI", _need(reader, pos, 8, "MRW"))
        if pos + 8 + length > data_offset:
            raise CorruptRaw(f"corrupt MRW: block {name!r} at byte {pos} runs past the metadata")
        if name == b"\x00TTW" and found.tiff is None:
            if length > MAX_BLOCK:
                raise CorruptRaw("corrupt MRW: the TTW block is implausibly large")
            found.tiff = _need(reader, pos + 8, length, "MRW")
        pos += 8 + length
    return found


# --- Sigma X3F ---------------------------------------------------------------------


def read_x3f(reader: BlockReader) -> RawMetadata:
    directory = struct.unpack("<I", _need(reader, reader.size - 4, 4, "X3F"))[0]
    head = _need(reader, directory, 12, "X3F directory")
    count = struct.unpack_from("<I", head, 8)[0]
    if head[:4] != b"SECd" or count > MAX_ENTRIES:
        raise CorruptRaw(f"corrupt X3F: no section directory at byte {directory}")
    entries = _need(reader, directory + 12, 12 * count, "X3F directory")
    found = RawMetadata()
    for i in range(count):
        offset, length, name = struct.unpack_from("<II4s", entries, 12 * i)
        if offset + length > reader.size:
            raise CorruptRaw(f"truncated X3F: section {name!r} runs to byte {offset + length}, the file has {reader.size}")
        if name == b"PROP" and not found.tags:
            if length > MAX_BLOCK:
                raise CorruptRaw("corrupt X3F: the PROP section is implausibly large")
            found.tags = _x3f_properties(reader.pread(offset, length))
        elif name in (b"IMA2", b"IMAG") and found.tiff is None and length > 40 and reader.pread(offset, 16) == X3F_JPEG:
            found.tiff = _jpeg_exif(reader, offset + 28, offset + length)
    return found


def _x3f_properties(section: bytes) -> dict[str, str]:
    """TIME, CAMMANUF and CAMMODEL of a PROP section: (name, value) index pairs into UTF-16LE text."""
    if len(section) < 24 or section[:4] != b"SECp":
        raise CorruptRaw("corrupt X3F: a bad PROP section")
    count, char_format, chars = struct.unpack_from("<II4xI", section, 8)
    text_at = 24 + 8 * count
    if char_format != 0 or count > MAX_ENTRIES or text_at + 2 * chars > len(section):
        raise CorruptRaw("corrupt X3F: a bad PROP section")
    text = section[text_at : text_at + 2 * chars].decode("utf-16-le", "replace")

    def string_at(index: int) -> str:
        stop = text.find("\x00", index)
        return text[index : stop if stop >= 0 else None]

    props = {string_at(n): string_at(v) for n, v in struct.iter_unpack("<II", section[24:text_at]) if n < chars and v < chars}
    tags = {"Make": props.get("CAMMANUF", "").strip(), "Model": props.get("CAMMODEL", "").strip()}
    seconds = props.get("TIME", "").strip()
    if seconds.isascii() and seconds.isdigit() and len(seconds) <= 10:  # 10 digits reach the year 2286
        tags["DateTimeOriginal"] = _wall_clock(int(seconds)) or ""
    return {k: v for k, v in tags.items() if v}


def _jpeg_exif(reader: BlockReader, start: int, end: int) -> bytes | None:
    """The TIFF block of the EXIF APP1 that opens an embedded JPEG (as exiftool requires: FFD8 FFE1 first)."""
    head = reader.pread(start, 10)
    if head[:4] != b"\xff\xd8\xff\xe1" or head[6:10] != b"Exif":
        return None
    length = int.from_bytes(head[4:6], "big")
    if start + 4 + length > end or length < 8:
        raise CorruptRaw("corrupt X3F: the preview's EXIF segment runs past its section")
    return reader.pread(start + 12, length - 8)


READERS = {"crw": read_crw, "mrw": read_mrw, "x3f": read_x3f}
