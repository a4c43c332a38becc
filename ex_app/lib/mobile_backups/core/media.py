"""What a media file says about itself: embedded dates, camera, and whether it is whole.

The container walkers here read only the byte ranges that hold metadata (JPEG APP
segments, PNG chunks before the image data, RIFF chunks, ISO-BMFF boxes), and check
the container's own structure. A file whose metadata could be read but whose end is
missing or cut (no end-of-image marker, a last box cut short) is `damage`: still the
user's photo. The EXIF (TIFF) blocks they find are decoded by exifread, after a bounded
walk (`_bounded_tiff`) has checked that exifread's own walk stays small.

Every walker is bounded by what real files need (the MAX_ limits below: counts of
segments, chunks, boxes, items, extents, IFD entries and decoded values; bytes and time
through the `BlockReader` budget); a file beyond one of them is left alone with a reason.
The box walkers nest to a fixed depth (at most moov/meta/ilst/item/data), never recursively.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from xml.parsers import expat

import exifread

from . import raw_containers, video_containers
from .source import BlockReader, OverBudget

logging.getLogger("exifread").setLevel(logging.CRITICAL)

EXIF_TAGS = (
    "DateTimeOriginal",
    "SubSecTimeOriginal",
    "OffsetTimeOriginal",
    "DateTimeDigitized",
    "SubSecTimeDigitized",
    "OffsetTimeDigitized",
    "Make",
    "Model",
)
XMP_DATES = {
    "{http://ns.adobe.com/exif/1.0/}DateTimeOriginal": "exif:DateTimeOriginal",
    "{http://ns.adobe.com/photoshop/1.0/}DateCreated": "photoshop:DateCreated",
    "{http://ns.adobe.com/xap/1.0/}CreateDate": "xmp:CreateDate",
    "{http://ns.adobe.com/exif/1.0/}DateTimeDigitized": "exif:DateTimeDigitized",
}
QUICKTIME_KEYS = (
    "com.apple.quicktime.creationdate",
    "com.apple.quicktime.make",
    "com.apple.quicktime.model",
    "com.apple.quicktime.content.identifier",  # a live photo's video: the still's MediaGroupUUID
)
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
XMP_UUID = bytes.fromhex("be7acfcb97a942e89c71999491e3afac")
CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
JPEG_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
MAX_METADATA = 4 * 1024 * 1024  # no sane metadata block is larger; a bigger one is corrupt
# What real files need, with a wide margin (a camera's file is far below each):
MAX_JPEG_SEGMENTS = 2048  # before the image data: APPn and tables (a depth map's extended XMP: a few hundred)
MAX_FILL_BYTES = 64 * 1024  # 0xFF fill bytes before one JPEG marker (cameras write none or a few)
MAX_APP1_BLOCKS = 4  # EXIF and XMP APP1 blocks decoded per JPEG: EXIF until one has what we use, the first XMP
MAX_CHUNKS = 1024  # PNG chunks before the image data, WebP chunks
MAX_BOXES = 10_000  # ISO-BMFF boxes in one box (a fragmented video has two per fragment)
MAX_ITEMS = 10_000  # HEIF items and extents ('iinf', 'iloc'), QuickTime keys (an iPhone HEIC has about 60)
MAX_IFDS = 32  # TIFF directories exifread walks (a RAW file has a handful)
MAX_IFD_ENTRIES = 1000  # entries in one directory (a DNG's IFD0 has about a hundred)
MAX_ENTRIES = 4000  # entries in all directories exifread walks (a RAW file: a few hundred)
MAX_TAG_VALUES = 10_000  # numbers exifread decodes in one EXIF block (up to 999 per tag; real blocks a few thousand)
MAX_TEXT = 1024 * 1024  # bytes of text tags exifread reads
PNG_TAIL = 64 * 1024 + 24  # an eXIf chunk after the image data: up to 64 KiB (a JPEG's APP1), its header, CRC and IEND
MAX_GIF_BLOCKS = 256  # GIF extensions before the first image
MAX_GIF_SUB_BLOCKS = 16384  # sub-blocks walked in a GIF (an XMP extension of 100 KB: about 1,500)
APPLE_MAKER_NOTE = b"Apple iOS\x00"
MAX_NOTE_ENTRIES = 512  # the IFDs walked for the maker note: real ones have a few dozen entries
MAX_COMMENT = 256  # bytes of an EXIF or XMP UserComment kept: "Screenshot" is what is looked for
XMP_COMMENT = "{http://ns.adobe.com/exif/1.0/}UserComment"  # iOS PNG screenshots: exif:UserComment in XMP


class CorruptMedia(Exception):
    """The file is not the whole, well-formed media file its type promises."""


@dataclass
class MediaInfo:
    container: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    xmp: dict[str, str] = field(default_factory=dict)
    quicktime: dict[str, str] = field(default_factory=dict)
    mvhd_created: int | None = None  # seconds since 1904-01-01 UTC, as stored
    video_local: str | None = None  # another video container's wall-clock capture time, EXIF-style (AVI IDIT)
    video_utc: datetime | None = None  # another video container's UTC capture time (Matroska DateUTC, ASF)
    problem: str | None = None  # why the file cannot be used: it stays where it is
    damage: str | None = None  # what is wrong with a file whose metadata was read: organised, and reported

    @property
    def has_metadata(self) -> bool:
        return bool(self.exif or self.xmp or self.quicktime or self.mvhd_created or self.video_local or self.video_utc)

    @property
    def camera(self) -> str | None:
        make = self.exif.get("Make") or self.quicktime.get("com.apple.quicktime.make") or ""
        model = self.exif.get("Model") or self.quicktime.get("com.apple.quicktime.model") or ""
        if model.lower().startswith(make.lower()):
            make = ""
        return " ".join(p for p in (make.strip(), model.strip()) if p) or None

    @property
    def user_comment(self) -> str | None:
        """EXIF or XMP UserComment: "Screenshot" in iOS screenshots."""
        return self.exif.get("UserComment") or self.xmp.get("exif:UserComment") or None

    @property
    def content_id(self) -> str | None:
        """Apple's live-photo identifier: the same in a still and its video."""
        return self.exif.get("MediaGroupUUID") or self.quicktime.get("com.apple.quicktime.content.identifier") or None


def read_media_info(reader: BlockReader) -> MediaInfo:
    """Metadata of any supported container; `problem` says why a file is unusable, `damage` what is
    wrong with one whose metadata was read (a structural error after it, an end that is missing)."""
    head = reader.pread(0, 32)
    container = container_of(head)
    info = MediaInfo(container=container)
    if container is None:
        info.problem = "not a recognised photo or video format (content does not match any known signature)"
        return info
    try:
        PARSERS[container](reader, info)
    except OverBudget as err:
        info.problem = str(err)
    except CorruptMedia as err:
        if info.has_metadata:
            info.damage = str(err)
        else:
            info.problem = str(err)
    except Exception as err:  # a hostile or broken file must never stop a run
        info.problem = f"unreadable {container} metadata: {type(err).__name__}: {err}"
    if info.problem:
        info.damage = None
    return info


def container_of(head: bytes) -> str | None:
    """The container a file's first 32 bytes announce (jpeg, png, heif, quicktime, ...), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"IIRO", b"IIU\x00"):
        return "tiff"
    if head.startswith(b"\x00\x00\x00\x0cJXL ") or head.startswith(b"\xff\x0a"):
        return "jxl"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS:
            return "heif"
        return "cr3" if brand == b"crx " else "quicktime"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return "quicktime"
    return raw_containers.kind(head) or video_containers.kind(head)


def exif_from_tiff(data: bytes) -> dict[str, str]:
    """The EXIF tags we use, from a TIFF-structured block (EXIF IFD before IFD0)."""
    data = _dates_only(data)
    _bounded_tiff(lambda offset, length: data[offset : offset + length])
    picked = _pick_exif(exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False))
    if (content_id := apple_content_id(data)) is not None:
        picked["MediaGroupUUID"] = content_id
    if (comment := user_comment(data)) is not None:
        picked["UserComment"] = comment
    return picked


def user_comment(tiff: bytes) -> str | None:
    """The EXIF UserComment (0x9286, in the Exif IFD): iOS writes "Screenshot" into its screenshots.

    exifread skips this tag unless asked for every detail of the file, so this reads the one value: its
    8-byte character code ("ASCII", "UNICODE" in the block's byte order, or zeros), then at most
    MAX_COMMENT bytes of text."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    exif_ifd = _ifd_value(tiff, order, int.from_bytes(tiff[4:8], "little" if order == "<" else "big"), _EXIF_IFD)
    found = _ifd_value(tiff, order, exif_ifd[1], 0x9286) if exif_ifd else None
    if found is None or len(found[0]) <= 8:
        return None
    code, text = found[0][:8], found[0][8 : 8 + MAX_COMMENT]
    if code.startswith(b"UNICODE"):
        value = text.decode("utf-16-le" if order == "<" else "utf-16-be", "replace")
    else:
        value = text.decode("utf-8" if code.startswith(b"\x00") else "ascii", "replace")
    return value.strip("\x00 ").strip() or None


def apple_content_id(tiff: bytes) -> str | None:
    """The MediaGroupUUID (tag 0x0011, ContentIdentifier before exiftool 12.19) of an Apple iOS maker note.

    exifread decodes maker notes only with details=True (every maker note and tag of the file) and not
    this tag, so this reads just the one value: IFD0 -> Exif IFD -> MakerNote "Apple iOS\\0", version,
    byte order, then an IFD whose offsets count from the maker note's start (exiftool's Apple.pm).
    """
    if tiff[:4] not in (b"II*\x00", b"MM\x00*") or APPLE_MAKER_NOTE not in tiff:  # other phones: under 1 us
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    exif_ifd = _ifd_value(tiff, order, int.from_bytes(tiff[4:8], "little" if order == "<" else "big"), 0x8769)
    note = _ifd_value(tiff, order, exif_ifd[1], 0x927C) if exif_ifd else None
    if note is None or not note[0].startswith(APPLE_MAKER_NOTE) or note[0][12:14] not in (b"MM", b"II"):
        return None
    body = note[0]
    found = _ifd_value(body, "<" if body[12:14] == b"II" else ">", 14, 0x0011)
    if found is None or found[2] != 2:
        return None
    value = found[0].split(b"\x00", 1)[0].decode("ascii", "replace").strip()
    return value or None


def _ifd_value(block: bytes, order: str, ifd: int, tag: int) -> tuple[bytes, int, int] | None:
    """(value bytes, offset or inline value as a number, type) of `tag` in the IFD at `ifd`; None if absent or out of bounds."""
    if not 0 <= ifd <= len(block) - 2:
        return None
    count = min(struct.unpack_from(order + "H", block, ifd)[0], MAX_NOTE_ENTRIES, (len(block) - ifd - 2) // 12)
    for n in range(count):
        entry_tag, kind, length, raw = struct.unpack_from(order + "HHI4s", block, ifd + 2 + 12 * n)
        if entry_tag != tag:
            continue
        size = length * _TYPE_SIZES.get(kind, 8)
        number = struct.unpack(order + "I", raw)[0]
        if size <= 4:
            return raw[:size], number, kind
        return (block[number : number + size], number, kind) if number + size <= len(block) else None
    return None


def _dates_only(data: bytes) -> bytes:
    """A copy of an EXIF block that exifread walks only where our tags live: IFD0 and its EXIF IFD.

    The thumbnail's IFD1, GPS and interoperability directories hold nothing we use, and they are
    where damaged camera files go wrong (a bad InteropIFD of 5,233 entries, an IFD1 of bad formats:
    exiftool warns and skips them). Their links are cut in the copy, so such a file still gives its date.
    """
    if len(data) < 8:
        return data
    order = "little" if data[:1] == b"I" else "big"
    copy = bytearray(data)

    def cut(ifd: int) -> int | None:
        """Unlink the GPS and interoperability directories of one directory; its EXIF IFD pointer, if any."""
        count = int.from_bytes(data[ifd : ifd + 2], order) if ifd + 2 <= len(data) else 0
        exif_ifd = None
        for at in range(ifd + 2, min(ifd + 2 + 12 * min(count, MAX_IFD_ENTRIES), len(data) - 11), 12):
            tag = int.from_bytes(data[at : at + 2], order)
            if tag in _SUB_IFDS:
                copy[at : at + 2] = b"\xff\xff"  # an unknown tag: exifread keeps it as a value, follows nothing
            elif tag == _EXIF_IFD:
                exif_ifd = int.from_bytes(data[at + 8 : at + 12], order)
        if count <= MAX_IFD_ENTRIES and (next_at := ifd + 2 + 12 * count) + 4 <= len(data):
            copy[next_at : next_at + 4] = bytes(4)  # no IFD1 (the thumbnail) after IFD0
        return exif_ifd

    exif_ifd = cut(int.from_bytes(data[4:8], order))
    if exif_ifd:
        cut(exif_ifd)
    return bytes(copy)


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}  # TIFF field types
_DECODES = {kind: 0 if kind == 2 else 2 if size == 8 else 1 for kind, size in _TYPE_SIZES.items()}  # numbers per value
_INTEGER_TYPES = frozenset({1, 3, 4, 6, 7, 8, 9, 13})
_EXIF_IFD, _SUB_IFDS = 0x8769, (0x8825, 0xA005)  # exifread follows GPS and interoperability from every directory
_POINTERS = frozenset({_EXIF_IFD, *_SUB_IFDS})


def _bounded_tiff(read: Callable[[int, int], bytes]) -> None:
    """Raise `OverBudget` if exifread's walk of this TIFF structure would go beyond what real files need.

    Visits what `exifread.process_file(details=False)` visits (the IFD chain, stopping at a loop as
    it does; IFD0's EXIF IFD; the GPS and interoperability IFDs of each) and counts directories,
    entries, the values it decodes (every value of a tag with fewer than 1000) and the text it reads.
    """
    order = "little" if read(0, 1) == b"I" else "big"
    entry_format = ("<" if order == "little" else ">") + "HHI4s"
    spent = [0, 0, 0, 0]  # directories, entries, values, text bytes

    def number(offset: int, size: int) -> int:
        raw = read(offset, size)
        return int.from_bytes(raw, order) if len(raw) == size else 0  # exifread reads a short slice as 0

    def directory(offset: int, follow: bool) -> dict[int, int]:
        count = number(offset, 2)
        spent[0] += 1
        spent[1] += count
        if count > MAX_IFD_ENTRIES:
            raise OverBudget(f"corrupt EXIF: a directory of {count} entries (cameras write at most a few hundred)")
        if spent[0] > MAX_IFDS or spent[1] > MAX_ENTRIES:
            raise OverBudget(f"corrupt EXIF: more than {MAX_IFDS} directories or {MAX_ENTRIES} entries")
        table = read(offset + 2, 12 * count)
        values = text = 0
        pointers: dict[int, int] = {}
        for tag, kind, n, value in struct.iter_unpack(entry_format, table + bytes(12 * count - len(table))):
            if kind == 2:
                text += n
            elif n < 1000:
                values += n * _DECODES.get(kind, 0)
            if tag in _POINTERS and 0 < n < 1000 and kind in _INTEGER_TYPES:
                size = _TYPE_SIZES[kind]
                pointers[tag] = int.from_bytes(value[:size], order) if n * size <= 4 else number(int.from_bytes(value, order), size)
        spent[2] += values
        spent[3] += text
        if spent[2] > MAX_TAG_VALUES:
            raise OverBudget(f"corrupt EXIF: more than {MAX_TAG_VALUES} values to decode (real files have a few thousand)")
        if spent[3] > MAX_TEXT:
            raise OverBudget(f"corrupt EXIF: more than {MAX_TEXT // 1024} KiB of text tags")
        for tag in _SUB_IFDS if follow and pointers else ():
            if tag in pointers:
                directory(pointers[tag], follow=False)
        return pointers

    seen: set[int] = set()
    ifd, first = number(4, 4), True
    while ifd and ifd not in seen:
        seen.add(ifd)
        pointers = directory(ifd, follow=True)
        if first and _EXIF_IFD in pointers:
            directory(pointers[_EXIF_IFD], follow=True)
        following = number(ifd + 2 + 12 * number(ifd, 2), 4)
        ifd, first = (0 if following == ifd else following), False


def _pick_exif(tags: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in EXIF_TAGS:
        for ifd in ("EXIF", "Image"):
            tag = tags.get(f"{ifd} {name}")
            if tag is None:
                continue
            value = tag.values if isinstance(tag.values, str) else str(tag)
            value = value.strip("\x00").strip()
            if value:
                out[name] = value
                break
    return out


def parse_xmp(packet: bytes) -> dict[str, str]:
    """The capture-date properties of an XMP packet (attribute or element form).

    Streamed through expat without building a tree: memory stays flat however many elements
    a packet has (Photoshop's history lists run to megabytes). A packet that is not well-formed
    XML gives nothing."""
    start = packet.find(b"<x:xmpmeta")
    end_tag = b"</x:xmpmeta>"
    if start < 0:
        start, end_tag = packet.find(b"<rdf:RDF"), b"</rdf:RDF>"
    end = packet.find(end_tag, max(start, 0))
    if start < 0 or end < 0:
        return {}
    found: dict[str, str] = {}
    text: list[str] = []
    current: list[str] = []  # the date property whose text is being read

    comment: list[str] = []  # the text inside exif:UserComment (its rdf:Alt/rdf:li), while in it
    in_comment = [False]

    def element(name: str, attributes: dict[str, str]) -> None:
        for key, value in attributes.items():
            if (prop := XMP_DATES.get("{" + key)) is not None:
                found.setdefault(prop, value.strip())
            elif "{" + key == XMP_COMMENT:
                found.setdefault("exif:UserComment", value.strip()[:MAX_COMMENT])
        current[:] = [XMP_DATES["{" + name]] if "{" + name in XMP_DATES else []
        text.clear()
        if "{" + name == XMP_COMMENT:
            in_comment[0] = True

    def characters(data: str) -> None:
        if current:
            text.append(data)
        if in_comment[0] and sum(map(len, comment)) < MAX_COMMENT:
            comment.append(data)

    def element_end(name: str) -> None:
        if current and (value := "".join(text).strip()):
            found.setdefault(current[0], value)
        current.clear()
        if "{" + name == XMP_COMMENT:
            in_comment[0] = False
            if value := "".join(comment).strip()[:MAX_COMMENT]:
                found.setdefault("exif:UserComment", value)

    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = element, characters, element_end
    try:
        parser.Parse(memoryview(packet)[start : end + len(end_tag)], True)
    except expat.ExpatError:
        return {}
    return found


def _need(reader: BlockReader, offset: int, length: int, what: str) -> bytes:
    data = reader.pread(offset, length)
    if len(data) < length:
        raise CorruptMedia(f"truncated {what}: needs bytes up to {offset + length}, the file has {reader.size}")
    return data


# --- JPEG --------------------------------------------------------------------------


def _jpeg(reader: BlockReader, info: MediaInfo, base: int = 0, check_end: bool = True) -> None:
    pos = base + 2
    xmp_text = b""
    decoded = 0  # EXIF and XMP blocks
    for _ in range(MAX_JPEG_SEGMENTS):
        marker = _need(reader, pos, 2, "JPEG")
        if marker[0] != 0xFF:
            raise CorruptMedia(f"corrupt JPEG: no segment marker at byte {pos}")
        code = marker[1]
        if code == 0xFF:  # fill bytes: the marker's code follows the last of them
            pos = _after_fill(reader, pos) - 1
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD8:  # markers without a length
            pos += 2
            continue
        if code == 0xD9:
            raise CorruptMedia("corrupt JPEG: the file ends before any image data")
        length = int.from_bytes(_need(reader, pos + 2, 2, "JPEG"), "big")
        if length < 2 or pos + 2 + length > reader.size:
            raise CorruptMedia(f"truncated JPEG: a segment at byte {pos} runs past the end of the file ({reader.size} bytes)")
        if code == 0xDA:  # start of scan: all metadata comes before it
            break
        if code == 0xE1 and decoded < MAX_APP1_BLOCKS:
            prefix = reader.pread(pos + 4, len(JPEG_XMP))
            if prefix.startswith(b"Exif\x00") and not info.exif:
                decoded += 1
                info.exif = exif_from_tiff(reader.pread(pos + 10, length - 8))
            elif prefix == JPEG_XMP and not xmp_text:
                decoded += 1
                xmp_text = reader.pread(pos + 4 + len(JPEG_XMP), length - 2 - len(JPEG_XMP))
                info.xmp = parse_xmp(xmp_text)
        pos += 2 + length
    else:
        raise OverBudget(f"corrupt JPEG: more than {MAX_JPEG_SEGMENTS} segments before the image data")
    if check_end and not _jpeg_ends_well(reader, xmp_text):
        info.damage = f"truncated JPEG: the image data stops without an end-of-image marker ({reader.size} bytes)"


def _after_fill(reader: BlockReader, pos: int) -> int:
    """The position after a run of 0xFF bytes starting at `pos`, scanned a block at a time."""
    start = pos
    while chunk := reader.pread(pos, 4096):
        run = len(chunk) - len(chunk.lstrip(b"\xff"))
        pos += run
        if pos - start > MAX_FILL_BYTES:
            raise OverBudget(f"corrupt JPEG: more than {MAX_FILL_BYTES // 1024} KiB of fill bytes before a marker")
        if run < len(chunk):
            break
    return pos


def _jpeg_ends_well(reader: BlockReader, xmp_text: bytes) -> bool:
    """An end-of-image marker near the end, or a known trailer (motion photos, Samsung)."""
    tail = reader.read_exact(reader.size - 64, 64)
    if b"\xff\xd9" in tail or tail.endswith(b"SEFT"):
        return True
    return any(k in xmp_text for k in (b"MotionPhoto", b"MicroVideo", b"Container:Directory"))


def _raf(reader: BlockReader, info: MediaInfo) -> None:
    """Fujifilm RAF: the metadata is in the embedded JPEG whose offset the header gives."""
    offset = int.from_bytes(_need(reader, 84, 4, "RAF"), "big")
    if _need(reader, offset, 3, "RAF") != b"\xff\xd8\xff":
        raise CorruptMedia("corrupt RAF: no embedded JPEG where the header says")
    _jpeg(reader, info, base=offset, check_end=False)


# --- PNG, WebP, TIFF ---------------------------------------------------------------


def _png(reader: BlockReader, info: MediaInfo) -> None:
    pos = 8
    for _ in range(MAX_CHUNKS):
        if pos + 8 > reader.size:
            raise CorruptMedia(f"truncated PNG: the file ends before the image data ({reader.size} bytes)")
        length, kind = struct.unpack(">I4s", reader.pread(pos, 8))
        if kind == b"IDAT":  # metadata we use comes before the image data
            break
        if pos + 12 + length > reader.size:
            raise CorruptMedia(f"truncated PNG: chunk {kind.decode('latin-1')!r} at byte {pos} runs past the end")
        if kind == b"eXIf" and length < MAX_METADATA:
            info.exif = exif_from_tiff(reader.pread(pos + 8, length))
        elif kind == b"iTXt" and length < MAX_METADATA:
            data = reader.pread(pos + 8, length)
            if data.startswith(b"XML:com.adobe.xmp\x00"):
                info.xmp = parse_xmp(data)
        elif kind in (b"tEXt", b"zTXt") and length < MAX_METADATA:
            _png_raw_profile(reader.pread(pos + 8, length), kind == b"zTXt", info)
        pos += 12 + length
    else:
        raise OverBudget(f"corrupt PNG: more than {MAX_CHUNKS} chunks before the image data")
    if _png_tail(reader, pos, info)[-8:-4] != b"IEND":
        info.damage = f"truncated PNG: no IEND chunk at the end ({reader.size} bytes)"


def _undated(info: MediaInfo) -> bool:
    """No capture date read yet: only then are the costlier places read (a PNG's tail, a TIFF's XMP)."""
    return not (info.exif.get("DateTimeOriginal") or info.exif.get("DateTimeDigitized") or set(info.xmp) & set(XMP_DATES.values()))


def _png_raw_profile(data: bytes, compressed: bool, info: MediaInfo) -> None:
    """ImageMagick's "Raw profile type exif/APP1/xmp" text chunk: a header line, a length, then hex."""
    keyword, _, text = data.partition(b"\x00")
    if keyword not in (b"Raw profile type exif", b"Raw profile type APP1", b"Raw profile type xmp"):
        return
    try:
        if compressed:  # a method byte (0: deflate), then the compressed text, inflated to a bounded size
            text = zlib.decompressobj().decompress(text[1:], 3 * MAX_METADATA)
        parts = text.split(maxsplit=2)  # profile name, byte count, hex digits with line breaks
        profile = bytes.fromhex(parts[2].decode("ascii"))[: int(parts[1])]
    except (zlib.error, IndexError, ValueError, UnicodeDecodeError):  # a damaged profile: as if it were not there
        return
    if profile.startswith(b"Exif\x00\x00"):
        profile = profile[6:]
    if profile[:4] in (b"II*\x00", b"MM\x00*") and not info.exif:
        info.exif = exif_from_tiff(profile)
    elif b"<x:xmpmeta" in profile and not info.xmp:
        info.xmp = parse_xmp(profile)


def _png_tail(reader: BlockReader, image_data: int, info: MediaInfo) -> bytes:
    """The file's last bytes, for the IEND check: 8, or, if nothing dated came before the image data,
    up to PNG_TAIL, in one read, to find an eXIf chunk after it (the PNG extensions allow one anywhere
    before IEND). Walking the IDAT chunks instead would cost one read per chunk (8 KiB each, often)."""
    if not _undated(info):
        return reader.read_exact(max(0, reader.size - 8), 8)
    start = max(image_data, reader.size - PNG_TAIL)
    tail = reader.read_exact(start, reader.size - start)
    at = tail.find(b"eXIf", 4)
    for _ in range(16):  # the type's letters may also occur in compressed image data: the CRC decides
        if at < 0:
            break
        length = int.from_bytes(tail[at - 4 : at], "big")
        data_end = at + 4 + length
        if data_end + 4 <= len(tail) and zlib.crc32(tail[at:data_end]) == int.from_bytes(tail[data_end : data_end + 4], "big"):
            data = tail[at + 4 : data_end]
            info.exif = exif_from_tiff(data[6:] if data.startswith(b"Exif\x00\x00") else data)
            break
        at = tail.find(b"eXIf", at + 1)
    return tail


def _webp(reader: BlockReader, info: MediaInfo) -> None:
    """RIFF chunks; EXIF and XMP come after the image data, so a cut file has lost them unless it
    is the simple format (no 'VP8X' header), which has no metadata to lose."""
    declared = 8 + int.from_bytes(reader.pread(4, 4), "little")
    end = min(declared, reader.size)
    if declared > reader.size:
        info.damage = f"truncated WebP: the header promises {declared} bytes, the file has {reader.size}"
    extended = reader.pread(12, 4) == b"VP8X"
    pos = 12
    for _ in range(MAX_CHUNKS):
        if pos + 8 > end:
            break
        kind, length = struct.unpack("<4sI", reader.read_exact(pos, 8))
        if pos + 8 + length > end:
            cut = f"truncated WebP: chunk {kind.decode('latin-1')!r} at byte {pos} runs past the end"
            if extended and not info.has_metadata:
                raise CorruptMedia(cut)
            info.damage = cut
            return
        if kind == b"EXIF" and length < MAX_METADATA:
            data = reader.read_exact(pos + 8, length)
            info.exif = exif_from_tiff(data[6:] if data.startswith(b"Exif\x00") else data)
        elif kind == b"XMP " and length < MAX_METADATA:
            info.xmp = parse_xmp(reader.read_exact(pos + 8, length))
        pos += 8 + length + (length & 1)
    else:
        raise OverBudget(f"corrupt WebP: more than {MAX_CHUNKS} chunks")


def _exifread_file(reader: BlockReader, info: MediaInfo) -> None:
    """TIFF and TIFF-based RAW (DNG, CR2, NEF, ARW, ORF, RW2, PEF, ...): exifread walks them."""
    _bounded_tiff(reader.pread)
    reader.seek(0)
    info.exif = _pick_exif(exifread.process_file(reader, details=False, extract_thumbnail=False))
    if reader.pread(0, 2) in (b"II", b"MM") and _undated(info):
        info.xmp = _tiff_xmp(reader)


def _tiff_xmp(reader: BlockReader) -> dict[str, str]:
    """The XMP packet of TIFF tag 700 in the first directory, where TIFF writers put it."""
    order = "<" if reader.pread(0, 2) == b"II" else ">"
    ifd0 = struct.unpack(order + "I", reader.pread(4, 4).ljust(4, b"\x00"))[0]
    count = struct.unpack(order + "H", reader.pread(ifd0, 2).ljust(2, b"\x00"))[0]
    table = reader.pread(ifd0 + 2, 12 * min(count, MAX_IFD_ENTRIES))
    for tag, kind, length, value in struct.iter_unpack(order + "HHI4s", table[: len(table) // 12 * 12]):
        if tag == 700 and kind in (1, 7) and 4 < length <= MAX_METADATA:
            return parse_xmp(reader.pread(struct.unpack(order + "I", value)[0], length))
    return {}


def _gif(reader: BlockReader, info: MediaInfo) -> None:
    """GIF: XMP in the "XMP DataXMP" application extension before the first image; no other date.

    An odd structure only ends the search: GIFs were never refused for it."""
    flags = reader.pread(10, 1)
    pos = 13 + (3 << ((flags[0] & 7) + 1) if flags and flags[0] & 0x80 else 0)  # after the global colour table
    sub_blocks = 0
    for _ in range(MAX_GIF_BLOCKS):
        introducer = reader.pread(pos, 2)
        if len(introducer) < 2 or introducer[0] != 0x21:  # an image, the trailer or the end: no XMP before it
            return
        start = end = pos + 2
        while (size := reader.pread(end, 1)) and size != b"\x00" and sub_blocks < MAX_GIF_SUB_BLOCKS:
            end, sub_blocks = end + 1 + size[0], sub_blocks + 1
        if not size or size != b"\x00":
            return
        if introducer[1] == 0xFF and reader.pread(start, 12) == b"\x0bXMP DataXMP" and end - start <= MAX_METADATA:
            info.xmp = parse_xmp(reader.pread(start + 12, end - start - 12))  # raw XMP, then a 258-byte trailer
            return
        pos = end + 1


def _jxl(reader: BlockReader, info: MediaInfo) -> None:
    """JPEG XL: EXIF in the container's 'Exif' box (as a HEIF Exif item); a bare codestream has none."""
    if reader.pread(0, 2) == b"\xff\x0a":
        return
    top = _top_level(reader, info)
    if b"Exif" in top:
        data = small_box(reader, *top[b"Exif"])
        if len(data) > 4:
            tiff = data[4 + int.from_bytes(data[:4], "big") :]
            info.exif = exif_from_tiff(tiff[6:] if tiff.startswith(b"Exif\x00\x00") else tiff)


# --- ISO base media (MP4, MOV, HEIF, CR3) -------------------------------------------


def boxes(reader: BlockReader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between start and end."""
    pos = start
    for _ in range(MAX_BOXES):
        if pos + 8 > end:
            return
        header = reader.read_exact(pos, 16)
        size, kind = struct.unpack(">I4s", header[:8])
        header_size = 8
        if size == 1:
            size, header_size = struct.unpack(">Q", header[8:16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header_size:
            raise CorruptMedia(f"corrupt file: box {kind!r} at byte {pos} has an impossible size")
        if pos + size > end:
            raise CorruptMedia(
                f"truncated file: box {kind.decode('latin-1')!r} at byte {pos} needs {pos + size} bytes, there are {end}"
            )
        yield kind, pos + header_size, pos + size
        pos += size
    raise OverBudget(f"corrupt file: more than {MAX_BOXES} boxes in one box")


def _top_level(reader: BlockReader, info: MediaInfo) -> dict[bytes, tuple[int, int]]:
    """The file's top-level boxes; one cut short (the end of the file is missing) is damage, and
    the boxes before it are still read: a complete 'moov' or 'meta' still holds the metadata."""
    top: dict[bytes, tuple[int, int]] = {}
    try:
        for kind, payload, end in boxes(reader, 0, reader.size):
            top[kind] = (payload, end)
            if kind == b"uuid" and reader.read_exact(payload, 16) == XMP_UUID:
                info.xmp = parse_xmp(small_box(reader, payload + 16, end))
    except CorruptMedia as err:
        info.damage = str(err)
    return top


def _children(reader: BlockReader, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    return {kind: (payload, box_end) for kind, payload, box_end in boxes(reader, start, end)}


def small_box(reader: BlockReader, start: int, end: int) -> bytes:
    """A metadata box's payload, read whole; refused when implausibly large (a hostile length)."""
    if end - start > MAX_METADATA:
        raise CorruptMedia("corrupt file: a metadata box is implausibly large")
    return reader.read_exact(start, end - start)


def _quicktime(reader: BlockReader, info: MediaInfo) -> None:
    top = _top_level(reader, info)
    if b"moov" not in top:
        raise CorruptMedia(f"corrupt video: no 'moov' box (the recording was not finished){'; ' + info.damage if info.damage else ''}")
    moov = _children(reader, *top[b"moov"])
    if b"mvhd" in moov:
        start, _ = moov[b"mvhd"]
        version = reader.read_exact(start, 1)
        raw = reader.read_exact(start + 4, 8 if version == b"\x01" else 4)
        info.mvhd_created = int.from_bytes(raw, "big") or None
    udta = _children(reader, *moov[b"udta"]) if b"udta" in moov else {}
    for meta in (moov.get(b"meta"), udta.get(b"meta")):  # Apple puts it in moov, ffmpeg in moov/udta
        if meta and not info.quicktime:
            info.quicktime = _quicktime_keys(reader, *meta)
    if b"XMP_" in udta and not info.xmp:
        info.xmp = parse_xmp(small_box(reader, *udta[b"XMP_"]))


def _quicktime_keys(reader: BlockReader, start: int, end: int) -> dict[str, str]:
    """Apple's `keys` + `ilst` metadata ('mdta' handler) as name -> UTF-8 value."""
    if reader.read_exact(start + 4, 4) != b"hdlr":  # the ISO form of 'meta' is a full box
        start += 4
    meta = _children(reader, start, end)
    if b"keys" not in meta or b"ilst" not in meta:
        return {}
    keys_data = small_box(reader, *meta[b"keys"])
    names: dict[int, str] = {}
    pos, index = 8, 1
    while pos + 8 <= len(keys_data) and index <= MAX_ITEMS:
        size = int.from_bytes(keys_data[pos : pos + 4], "big")
        if size < 8:
            break
        names[index] = keys_data[pos + 8 : pos + size].decode("utf-8", "replace")
        pos, index = pos + size, index + 1
    values: dict[str, str] = {}
    for kind, payload, item_end in boxes(reader, *meta[b"ilst"]):
        name = names.get(int.from_bytes(kind, "big"))
        if name not in QUICKTIME_KEYS:
            continue
        for data_kind, data_start, data_end in boxes(reader, payload, item_end):
            if data_kind == b"data" and reader.read_exact(data_start, 4) == b"\x00\x00\x00\x01":
                values[name] = small_box(reader, data_start + 8, data_end).decode("utf-8", "replace").strip("\x00 ")
    return values


def _heif(reader: BlockReader, info: MediaInfo) -> None:
    top = _top_level(reader, info)
    if b"meta" not in top:
        raise CorruptMedia(f"corrupt HEIF: no 'meta' box{'; ' + info.damage if info.damage else ''}")
    start, end = top[b"meta"]
    meta = _children(reader, start + 4, end)
    if b"iinf" not in meta or b"iloc" not in meta:
        return
    items = heif_items(small_box(reader, *meta[b"iinf"]))
    wanted = {i for i, (kind, content) in items.items() if kind == b"Exif" or (kind == b"mime" and content == b"application/rdf+xml")}
    locations = heif_locations(small_box(reader, *meta[b"iloc"]), wanted)
    idat = meta.get(b"idat", (0, 0))[0]
    for item_id in sorted(wanted & locations.keys()):
        method, extents = locations[item_id]
        base = idat if method == 1 else 0
        if sum(length for _, length in extents) > MAX_METADATA:
            raise CorruptMedia("corrupt HEIF: a metadata item is implausibly large")
        if any(base + offset + length > reader.size for offset, length in extents):
            raise CorruptMedia(f"truncated HEIF: a metadata item lies past the end of the file ({reader.size} bytes)")
        data = b"".join(reader.read_exact(base + offset, length) for offset, length in extents)
        if items[item_id][0] == b"mime":
            info.xmp = parse_xmp(data)
        elif len(data) > 4:
            info.exif = exif_from_tiff(data[4 + int.from_bytes(data[:4], "big") :])


def heif_items(iinf: bytes) -> dict[int, tuple[bytes, bytes]]:
    """item id -> (item type, content type) from an `iinf` payload."""
    pos = 6 if iinf[0] == 0 else 8
    items: dict[int, tuple[bytes, bytes]] = {}
    while pos + 8 <= len(iinf):
        if len(items) >= MAX_ITEMS:
            raise OverBudget(f"corrupt HEIF: more than {MAX_ITEMS} items")
        size = int.from_bytes(iinf[pos : pos + 4], "big")
        if size < 8 or iinf[pos + 4 : pos + 8] != b"infe":
            break
        box = iinf[pos + 8 : pos + size]
        version = box[0]
        if version >= 2:
            id_len = 2 if version == 2 else 4
            item_id = int.from_bytes(box[4 : 4 + id_len], "big")
            type_at = 4 + id_len + 2
            item_type = box[type_at : type_at + 4]
            rest = box[type_at + 4 :].split(b"\x00")
            content_type = rest[1] if item_type == b"mime" and len(rest) > 1 else b""
            items[item_id] = (item_type, content_type)
        pos += size
    return items


def heif_locations(iloc: bytes, wanted: set[int]) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """item id -> (construction method, [(offset, length)]) of the `wanted` items, from an `iloc` payload.

    Counts are checked against the bytes that hold them before any loop: a declared 2^32-1 items
    in a box of a few bytes is corrupt, not four billion steps."""
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 15
    base_size, index_size = iloc[5] >> 4, (iloc[5] & 15) if version in (1, 2) else 0
    pos = 6

    def take(n: int) -> int:
        nonlocal pos
        value = int.from_bytes(iloc[pos : pos + n], "big")
        pos += n
        return value

    id_size = 2 if version < 2 else 4
    count = take(id_size)
    item_size = id_size + (2 if version in (1, 2) else 0) + 2 + base_size + 2
    extent_size = index_size + offset_size + length_size
    if count * item_size > len(iloc) - pos:
        raise CorruptMedia(f"corrupt HEIF: 'iloc' declares {count} items, its {len(iloc)} bytes cannot hold them")
    found: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    extents_left = MAX_ITEMS
    for _ in range(count):
        item_id = take(id_size)
        method = take(2) & 15 if version in (1, 2) else 0
        take(2)  # data reference index
        base = take(base_size)
        n = take(2)
        extents_left -= n
        if extents_left < 0:
            raise OverBudget(f"corrupt HEIF: more than {MAX_ITEMS} extents in 'iloc'")
        if n * extent_size > len(iloc) - pos:
            raise CorruptMedia(f"corrupt HEIF: an item in 'iloc' declares {n} extents its box cannot hold")
        extents = []
        for _ in range(n):
            take(index_size)
            extents.append((base + take(offset_size), take(length_size)))
        if item_id in wanted:
            found[item_id] = (method, extents)
    return found


def _cr3(reader: BlockReader, info: MediaInfo) -> None:
    """Canon CR3: IFD0 in moov/uuid/CMT1, the EXIF IFD in CMT2 (each a TIFF block)."""
    top = _top_level(reader, info)
    if b"moov" not in top:
        raise CorruptMedia("corrupt CR3: no 'moov' box")
    for kind, payload, end in boxes(reader, *top[b"moov"]):
        if kind == b"uuid" and reader.read_exact(payload, 16) == CANON_UUID:
            canon = _children(reader, payload + 16, end)
            for name in (b"CMT2", b"CMT1"):
                if name in canon:
                    info.exif = {**exif_from_tiff(small_box(reader, *canon[name])), **info.exif}


def _raw(reader: BlockReader, info: MediaInfo) -> None:
    """Canon CRW, Minolta MRW, Sigma X3F (see raw_containers): an embedded EXIF block wins over their own records."""
    try:
        found = raw_containers.READERS[info.container](reader)
    except raw_containers.CorruptRaw as err:
        raise CorruptMedia(str(err)) from None
    info.exif = {**found.tags, **(exif_from_tiff(found.tiff) if found.tiff else {})}


def _video(reader: BlockReader, info: MediaInfo) -> None:
    """AVI, Matroska/WebM, ASF/WMV and MPEG-TS (see video_containers): the container's own capture time."""
    try:
        found = video_containers.READERS[info.container](reader)
    except video_containers.CorruptVideo as err:
        raise CorruptMedia(str(err)) from None
    info.video_local, info.video_utc = found.local, found.utc


def _no_metadata(reader: BlockReader, info: MediaInfo) -> None:
    """BMP carries no capture date: the name or file time decides."""


PARSERS = {
    "jpeg": _jpeg,
    "png": _png,
    "webp": _webp,
    "tiff": _exifread_file,
    "jxl": _jxl,
    "gif": _gif,
    "bmp": _no_metadata,
    "raf": _raf,
    "heif": _heif,
    "quicktime": _quicktime,
    "cr3": _cr3,
    **dict.fromkeys(raw_containers.READERS, _raw),
    **dict.fromkeys(video_containers.READERS, _video),
}
