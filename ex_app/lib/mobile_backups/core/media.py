"""What a media file says about itself: embedded dates, camera, and whether it is whole.

The container walkers here read only the byte ranges that hold metadata (JPEG APP
segments, PNG chunks before the image data, RIFF chunks, ISO-BMFF boxes), and check
the container's own structure so that a truncated upload is recognised. The EXIF
(TIFF) blocks they find are decoded by exifread.
"""

from __future__ import annotations

import io
import logging
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field

import exifread

from .source import BlockReader

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
APPLE_MAKER_NOTE = b"Apple iOS\x00"
MAX_IFD_ENTRIES = 512  # the IFDs walked for the maker note: real ones have a few dozen entries


class CorruptMedia(Exception):
    """The file is not the whole, well-formed media file its type promises."""


@dataclass
class MediaInfo:
    container: str | None = None
    exif: dict[str, str] = field(default_factory=dict)
    xmp: dict[str, str] = field(default_factory=dict)
    quicktime: dict[str, str] = field(default_factory=dict)
    mvhd_created: int | None = None  # seconds since 1904-01-01 UTC, as stored
    problem: str | None = None

    @property
    def camera(self) -> str | None:
        make = self.exif.get("Make") or self.quicktime.get("com.apple.quicktime.make") or ""
        model = self.exif.get("Model") or self.quicktime.get("com.apple.quicktime.model") or ""
        if model.lower().startswith(make.lower()):
            make = ""
        return " ".join(p for p in (make.strip(), model.strip()) if p) or None

    @property
    def content_id(self) -> str | None:
        """Apple's live-photo identifier: the same in a still and its video."""
        return self.exif.get("MediaGroupUUID") or self.quicktime.get("com.apple.quicktime.content.identifier") or None


def read_media_info(reader: BlockReader) -> MediaInfo:
    """Metadata of any supported container; `problem` says why a file is unusable."""
    head = reader.pread(0, 32)
    container = _container(head)
    info = MediaInfo(container=container)
    if container is None:
        info.problem = "not a recognised photo or video format (content does not match any known signature)"
        return info
    try:
        PARSERS[container](reader, info)
    except CorruptMedia as err:
        info.problem = str(err)
    except Exception as err:  # a hostile or broken file must never stop a run
        info.problem = f"unreadable {container} metadata: {type(err).__name__}: {err}"
    return info


def _container(head: bytes) -> str | None:
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
    return None


def exif_from_tiff(data: bytes) -> dict[str, str]:
    """The EXIF tags we use, from a TIFF-structured block (EXIF IFD before IFD0)."""
    picked = _pick_exif(exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False))
    if (content_id := apple_content_id(data)) is not None:
        picked["MediaGroupUUID"] = content_id
    return picked


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
    count = min(struct.unpack_from(order + "H", block, ifd)[0], MAX_IFD_ENTRIES, (len(block) - ifd - 2) // 12)
    for n in range(count):
        entry_tag, kind, length, raw = struct.unpack_from(order + "HHI4s", block, ifd + 2 + 12 * n)
        if entry_tag != tag:
            continue
        size = length * {1: 1, 2: 1, 3: 2, 4: 4, 7: 1, 9: 4}.get(kind, 8)
        number = struct.unpack(order + "I", raw)[0]
        if size <= 4:
            return raw[:size], number, kind
        return (block[number : number + size], number, kind) if number + size <= len(block) else None
    return None


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
    """The capture-date properties of an XMP packet (attribute or element form)."""
    start = packet.find(b"<x:xmpmeta")
    end_tag = b"</x:xmpmeta>"
    if start < 0:
        start, end_tag = packet.find(b"<rdf:RDF"), b"</rdf:RDF>"
    end = packet.find(end_tag, max(start, 0))
    if start < 0 or end < 0:
        return {}
    try:
        root = ET.fromstring(packet[start : end + len(end_tag)])
    except ET.ParseError:
        return {}
    found: dict[str, str] = {}
    for element in root.iter():
        for key, value in element.attrib.items():
            if key in XMP_DATES:
                found.setdefault(XMP_DATES[key], value.strip())
        if element.tag in XMP_DATES and element.text and element.text.strip():
            found.setdefault(XMP_DATES[element.tag], element.text.strip())
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
    while True:
        marker = _need(reader, pos, 2, "JPEG")
        if marker[0] != 0xFF:
            raise CorruptMedia(f"corrupt JPEG: no segment marker at byte {pos}")
        code = marker[1]
        if code == 0xFF:  # fill byte
            pos += 1
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
        if code == 0xE1:
            payload = reader.pread(pos + 4, length - 2)
            if payload.startswith(b"Exif\x00") and not info.exif:
                info.exif = exif_from_tiff(payload[6:])
            elif payload.startswith(JPEG_XMP):
                xmp_text = payload[len(JPEG_XMP) :]
                info.xmp = info.xmp or parse_xmp(xmp_text)
        pos += 2 + length
    if check_end and not _jpeg_ends_well(reader, xmp_text):
        raise CorruptMedia(f"truncated JPEG: the image data stops without an end-of-image marker ({reader.size} bytes)")


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
    while pos + 8 <= reader.size:
        length, kind = struct.unpack(">I4s", reader.pread(pos, 8))
        if pos + 12 + length > reader.size:
            raise CorruptMedia(f"truncated PNG: chunk {kind.decode('latin-1')!r} at byte {pos} runs past the end")
        if kind == b"IDAT":  # metadata we use comes before the image data
            break
        if kind == b"eXIf":
            info.exif = exif_from_tiff(reader.pread(pos + 8, length))
        elif kind == b"iTXt" and length < MAX_METADATA:
            data = reader.pread(pos + 8, length)
            if data.startswith(b"XML:com.adobe.xmp\x00"):
                info.xmp = parse_xmp(data)
        pos += 12 + length
    if reader.read_exact(max(0, reader.size - 8), 8)[:4] != b"IEND":
        raise CorruptMedia(f"truncated PNG: no IEND chunk at the end ({reader.size} bytes)")


def _webp(reader: BlockReader, info: MediaInfo) -> None:
    end = 8 + int.from_bytes(reader.pread(4, 4), "little")
    if end > reader.size:
        raise CorruptMedia(f"truncated WebP: the header promises {end} bytes, the file has {reader.size}")
    pos = 12
    while pos + 8 <= end:
        kind, length = struct.unpack("<4sI", reader.read_exact(pos, 8))
        if pos + 8 + length > end:
            raise CorruptMedia(f"truncated WebP: chunk {kind.decode('latin-1')!r} at byte {pos} runs past the end")
        if kind == b"EXIF" and length < MAX_METADATA:
            data = reader.read_exact(pos + 8, length)
            info.exif = exif_from_tiff(data[6:] if data.startswith(b"Exif\x00") else data)
        elif kind == b"XMP " and length < MAX_METADATA:
            info.xmp = parse_xmp(reader.read_exact(pos + 8, length))
        pos += 8 + length + (length & 1)


def _exifread_file(reader: BlockReader, info: MediaInfo) -> None:
    """TIFF, TIFF-based RAW (DNG, CR2, NEF, ARW, ORF, RW2, PEF, ...) and JPEG XL: exifread walks them."""
    reader.seek(0)
    info.exif = _pick_exif(exifread.process_file(reader, details=False, extract_thumbnail=False))


# --- ISO base media (MP4, MOV, HEIF, CR3) -------------------------------------------


def _boxes(reader: BlockReader, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between start and end."""
    pos = start
    while pos + 8 <= end:
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


def _children(reader: BlockReader, start: int, end: int) -> dict[bytes, tuple[int, int]]:
    return {kind: (payload, box_end) for kind, payload, box_end in _boxes(reader, start, end)}


def _small(reader: BlockReader, start: int, end: int) -> bytes:
    if end - start > MAX_METADATA:
        raise CorruptMedia("corrupt file: a metadata box is implausibly large")
    return reader.read_exact(start, end - start)


def _quicktime(reader: BlockReader, info: MediaInfo) -> None:
    top: dict[bytes, tuple[int, int]] = {}
    for kind, payload, end in _boxes(reader, 0, reader.size):
        top[kind] = (payload, end)
        if kind == b"uuid" and reader.read_exact(payload, 16) == XMP_UUID:
            info.xmp = parse_xmp(_small(reader, payload + 16, end))
    if b"moov" not in top:
        raise CorruptMedia("corrupt video: no 'moov' box (the recording was not finished)")
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
        info.xmp = parse_xmp(_small(reader, *udta[b"XMP_"]))


def _quicktime_keys(reader: BlockReader, start: int, end: int) -> dict[str, str]:
    """Apple's `keys` + `ilst` metadata ('mdta' handler) as name -> UTF-8 value."""
    if reader.read_exact(start + 4, 4) != b"hdlr":  # the ISO form of 'meta' is a full box
        start += 4
    meta = _children(reader, start, end)
    if b"keys" not in meta or b"ilst" not in meta:
        return {}
    keys_data = _small(reader, *meta[b"keys"])
    names: dict[int, str] = {}
    pos, index = 8, 1
    while pos + 8 <= len(keys_data):
        size = int.from_bytes(keys_data[pos : pos + 4], "big")
        if size < 8:
            break
        names[index] = keys_data[pos + 8 : pos + size].decode("utf-8", "replace")
        pos, index = pos + size, index + 1
    values: dict[str, str] = {}
    for kind, payload, item_end in _boxes(reader, *meta[b"ilst"]):
        name = names.get(int.from_bytes(kind, "big"))
        if name not in QUICKTIME_KEYS:
            continue
        for data_kind, data_start, data_end in _boxes(reader, payload, item_end):
            if data_kind == b"data" and reader.read_exact(data_start, 4) == b"\x00\x00\x00\x01":
                values[name] = _small(reader, data_start + 8, data_end).decode("utf-8", "replace").strip("\x00 ")
    return values


def _heif(reader: BlockReader, info: MediaInfo) -> None:
    top = _children(reader, 0, reader.size)
    if b"meta" not in top:
        raise CorruptMedia("corrupt HEIF: no 'meta' box")
    start, end = top[b"meta"]
    meta = _children(reader, start + 4, end)
    if b"iinf" not in meta or b"iloc" not in meta:
        return
    items = _heif_items(_small(reader, *meta[b"iinf"]))
    locations = _heif_locations(_small(reader, *meta[b"iloc"]))
    idat = meta.get(b"idat", (0, 0))[0]
    for item_id, (item_type, content_type) in items.items():
        is_xmp = item_type == b"mime" and content_type == b"application/rdf+xml"
        if item_id not in locations or not (item_type == b"Exif" or is_xmp):
            continue
        method, extents = locations[item_id]
        base = idat if method == 1 else 0
        data = b"".join(_small(reader, base + offset, base + offset + length) for offset, length in extents)
        if is_xmp:
            info.xmp = parse_xmp(data)
        elif len(data) > 4:
            info.exif = exif_from_tiff(data[4 + int.from_bytes(data[:4], "big") :])


def _heif_items(iinf: bytes) -> dict[int, tuple[bytes, bytes]]:
    """item id -> (item type, content type) from an `iinf` payload."""
    pos = 6 if iinf[0] == 0 else 8
    items: dict[int, tuple[bytes, bytes]] = {}
    while pos + 8 <= len(iinf):
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


def _heif_locations(iloc: bytes) -> dict[int, tuple[int, list[tuple[int, int]]]]:
    """item id -> (construction method, [(offset, length)]) from an `iloc` payload."""
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 15
    base_size, index_size = iloc[5] >> 4, (iloc[5] & 15) if version in (1, 2) else 0
    pos = 6

    def take(n: int) -> int:
        nonlocal pos
        value = int.from_bytes(iloc[pos : pos + n], "big")
        pos += n
        return value

    count = take(2 if version < 2 else 4)
    found: dict[int, tuple[int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        item_id = take(2 if version < 2 else 4)
        method = take(2) & 15 if version in (1, 2) else 0
        take(2)  # data reference index
        base = take(base_size)
        extents = []
        for _ in range(take(2)):
            take(index_size)
            extents.append((base + take(offset_size), take(length_size)))
        found[item_id] = (method, extents)
    return found


def _cr3(reader: BlockReader, info: MediaInfo) -> None:
    """Canon CR3: IFD0 in moov/uuid/CMT1, the EXIF IFD in CMT2 (each a TIFF block)."""
    top = _children(reader, 0, reader.size)
    if b"moov" not in top:
        raise CorruptMedia("corrupt CR3: no 'moov' box")
    for kind, payload, end in _boxes(reader, *top[b"moov"]):
        if kind == b"uuid" and reader.read_exact(payload, 16) == CANON_UUID:
            canon = _children(reader, payload + 16, end)
            for name in (b"CMT2", b"CMT1"):
                if name in canon:
                    info.exif = {**exif_from_tiff(_small(reader, *canon[name])), **info.exif}


def _no_metadata(reader: BlockReader, info: MediaInfo) -> None:
    """GIF and BMP carry no capture date: the name or file time decides."""


PARSERS = {
    "jpeg": _jpeg,
    "png": _png,
    "webp": _webp,
    "tiff": _exifread_file,
    "jxl": _exifread_file,
    "gif": _no_metadata,
    "bmp": _no_metadata,
    "raf": _raf,
    "heif": _heif,
    "quicktime": _quicktime,
    "cr3": _cr3,
}
