"""What a quality rule must never transform, read from the file's content, never from its name.

`probe` walks the container (JPEG segments before the image data and its tail; ISO-BMFF boxes of a
HEIF) and notes what a decode/encode would lose: an embedded video (motion photos), auxiliary images
(HDR gain maps, depth, mattes), secondary MPF images, an EXIF block too large for a JPEG, more pixels
than the deliberate limit. `refusal` turns that into the reason a given action skips the file.
Every read goes through a budgeted `BlockReader`, every count is bounded (the MAX_ limits here and
core/media's): a hostile file is refused with a reason, never walked without end.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from ...core.media import (
    JPEG_XMP,
    MAX_JPEG_SEGMENTS,
    MAX_METADATA,
    CorruptMedia,
    boxes,
    container_of,
    heif_items,
    heif_locations,
    read_media_info,
    small_box,
)
from ...core.source import BlockReader, OverBudget
from ...store import LocalFile

MAX_PIXELS = 260_000_000  # what phones make (a 200 MP sensor: 16,320 x 12,240); Pillow's own default refuses those
JPEG_EXIF_MAX = 65535 - 2 - 6  # an APP1 segment's length counts itself and "Exif\0\0": the largest TIFF block it holds
MAX_SEF_ENTRIES = 64  # a Samsung trailer directory (real ones: a handful)
MAX_CONTAINER_ITEMS = 64  # items of a Google Container:Directory (real ones: two or three)
PROBE_SECONDS, PROBE_BYTES = 10.0, 16 * 2**20  # what reading one file's structure may cost
EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
RAW = frozenset({"tiff", "cr3", "raf", "crw", "mrw", "x3f"})  # DNG/ProRAW, CR2, NEF, ARW... are TIFF-based
INPUTS = {  # action: the formats (by content) it applies to
    "convert": frozenset({"heif"}),
    "downscale": frozenset({"jpeg"}),
    "reencode": frozenset({"jpeg"}),
    "strip_location": frozenset({"jpeg", "heif", "quicktime"}),
    "reencode_video": frozenset({"quicktime"}),
}
REWRITES_PIXELS = frozenset({"convert", "downscale", "reencode", "reencode_video"})
CAMERA_NS = "http://ns.google.com/photos/1.0/camera/"  # both the Camera: and the older GCamera: prefix
CONTAINER_NS = "http://ns.google.com/photos/1.0/container/"
ITEM_NS = "http://ns.google.com/photos/1.0/container/item/"
HDRGM_NS = "http://ns.adobe.com/hdr-gain-map/1.0/"
AUX_KINDS = (  # a HEIF auxC type (a part of it): what the auxiliary image is
    ("hdrgainmap", "an HDR gain map"),
    ("depth", "a depth map"),
    ("auxid:2", "a depth map"),
    ("matte", "a portrait matte"),
    ("alpha", "an alpha channel"),
    ("auxid:1", "an alpha channel"),
)
SEMANTICS = {"GainMap": "an HDR gain map (Ultra HDR)", "Depth": "a depth map", "Portrait": "a portrait image"}


@dataclass
class Probe:
    """What one file holds, as far as the gates care."""

    format: str | None = None  # by content: jpeg, heif, avif, tiff, quicktime, ...
    width: int = 0  # the largest image in the file
    height: int = 0
    exif_size: int = 0  # bytes of the EXIF (TIFF) block
    xmp: bytes = b""  # the main XMP packet
    motion: str | None = None  # the evidence of an embedded video
    video: tuple[int, int] | None = None  # where that video lies: (offset, length)
    auxiliary: list[str] = field(default_factory=list)  # what else it holds that no converter here writes back
    live_photo: str | None = None  # Apple's MediaGroupUUID: the still of a live photo, paired with a video
    problem: str | None = None  # the structure could not be read: the file stays as it is


def probe(reader: BlockReader) -> Probe:
    """The file's format and what a transform would lose; `problem` says why it could not be read."""
    found = Probe(format=container_of(reader.pread(0, 32)))
    try:
        if found.format == "jpeg":
            _jpeg(reader, found)
        elif found.format == "heif":
            _heif(reader, found)
        elif found.format == "quicktime":
            _quicktime(reader, found)
        if found.format in ("jpeg", "heif"):
            found.live_photo = read_media_info(reader).content_id
    except (OverBudget, CorruptMedia) as err:
        found.problem = str(err)
    except Exception as err:  # a hostile file must never stop a run
        found.problem = f"unreadable {found.format}: {type(err).__name__}: {err}"
    return found


def _quicktime(reader: BlockReader, found: Probe) -> None:
    """A video's size as it shows: the largest track header's width and height (16.16 fixed point), turned by its
    matrix (a phone held upright records landscape with a 90° matrix). Audio tracks have none."""
    top = {kind: (payload, end) for kind, payload, end in boxes(reader, 0, reader.size)}
    if b"moov" not in top:
        raise CorruptMedia("corrupt video: no 'moov' box (the recording was not finished)")
    for kind, payload, end in boxes(reader, *top[b"moov"]):
        if kind != b"trak":
            continue
        header = next(((p, e) for k, p, e in boxes(reader, payload, end) if k == b"tkhd"), None)
        if header is None:
            continue
        data = small_box(reader, *header)
        at = 88 if data[:1] == b"\x01" else 76  # where width and height start (version 1 has 64-bit times)
        if len(data) < at + 8:
            raise CorruptMedia("corrupt video: a track header is too short")
        a, b = struct.unpack(">ii", data[at - 36 : at - 28])
        width, height = (v >> 16 for v in struct.unpack(">II", data[at : at + 8]))
        if a == 0 and b != 0:
            width, height = height, width
        if width * height > found.width * found.height:
            found.width, found.height = width, height


def probe_path(path: Path) -> Probe:
    with LocalFile(path) as source:
        return probe(BlockReader(source, seconds=PROBE_SECONDS, max_bytes=PROBE_BYTES))


def refusal(found: Probe, action: str) -> str | None:
    """Why `action` must not touch this file, or None. Strip location rewrites metadata only (exiftool,
    no re-encode), so only the unreadable and the unsupported stop it; `verify` checks what it kept."""
    if found.problem:
        return f"not transformed: {found.problem}"
    if found.format is None:
        return "not a recognised photo or video format (content does not match any known signature)"
    if found.format in RAW:
        return f"RAW photo ({found.format}: DNG/ProRAW and camera RAW files are never transformed)"
    if found.format not in INPUTS[action]:
        return f"{action} does not apply to {found.format} files (format read from the content)"
    if action not in REWRITES_PIXELS:
        return None
    if found.motion:
        return f"motion photo ({found.motion}): re-encoding would drop its video"
    if found.live_photo:
        return f"the still of a live photo (MediaGroupUUID {found.live_photo}): a new or rewritten still would break the pair"
    if found.auxiliary:
        return f"holds {', '.join(found.auxiliary)}: no converter here writes it back"
    if found.width * found.height > MAX_PIXELS:
        return f"{found.width} x {found.height} pixels: above the limit of {MAX_PIXELS // 1_000_000} MP"
    if found.exif_size > JPEG_EXIF_MAX:
        return f"EXIF of {found.exif_size:,} bytes does not fit in a JPEG ({JPEG_EXIF_MAX:,} at most): not written without it"
    return None


# --- JPEG ------------------------------------------------------------------------------


def _jpeg(reader: BlockReader, found: Probe) -> None:
    pos, extended, mpf_images, scan = 2, 0, 1, 0
    for _ in range(MAX_JPEG_SEGMENTS):
        head = reader.pread(pos, 4)
        if len(head) < 2 or head[0] != 0xFF:
            raise CorruptMedia(f"corrupt JPEG: no segment marker at byte {pos}")
        code = head[1]
        if code == 0xFF:  # a fill byte
            pos += 1
            continue
        if code == 0x01 or 0xD0 <= code <= 0xD8:
            pos += 2
            continue
        length = int.from_bytes(head[2:4], "big")
        if code in (0xD9, 0xDA) or length < 2 or pos + 2 + length > reader.size:
            if code != 0xDA:
                raise CorruptMedia(f"corrupt JPEG: no image data, or a segment at byte {pos} runs past the end")
            scan = pos
            break
        if code == 0xE1:
            prefix = reader.pread(pos + 4, len(EXTENDED_XMP))
            if prefix.startswith(b"Exif\x00") and not found.exif_size:
                found.exif_size = length - 8
            elif prefix.startswith(JPEG_XMP) and not found.xmp:
                found.xmp = reader.pread(pos + 4 + len(JPEG_XMP), length - 2 - len(JPEG_XMP))
            elif prefix == EXTENDED_XMP:
                extended += length  # Google's depth maps and portrait originals live here
        elif code == 0xE2 and reader.pread(pos + 4, 4) == b"MPF\x00":
            mpf_images = _mpf_images(reader.pread(pos + 8, length - 6))
        elif 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", reader.pread(pos + 5, 4))
            if width * height > found.width * found.height:
                found.width, found.height = width, height
        pos += 2 + length
    else:
        raise OverBudget(f"corrupt JPEG: more than {MAX_JPEG_SEGMENTS} segments before the image data")
    facts = _xmp_facts(found.xmp)
    found.motion, found.video = _jpeg_motion(reader, facts, scan) or _samsung_motion(reader) or (None, None)
    for semantic in facts.semantics:
        if semantic in SEMANTICS and SEMANTICS[semantic] not in found.auxiliary:
            found.auxiliary.append(SEMANTICS[semantic])
    if HDRGM_NS in facts.namespaces and mpf_images > 1:
        found.auxiliary.append("an HDR gain map (Ultra HDR: an MPF secondary image and hdrgm XMP)")
    elif mpf_images > 1:
        found.auxiliary.append(f"{mpf_images - 1} secondary image(s) (MPF: a gain map, depth or preview)")
    if extended:
        found.auxiliary.append(f"{extended:,} bytes of extended XMP (a depth map or portrait original)")


def _mpf_images(tiff: bytes) -> int:
    """NumberOfImages (0xB001) of an MPF index IFD; 1 if it cannot be read."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    order = "<" if tiff[:1] == b"I" else ">"
    ifd = struct.unpack_from(order + "I", tiff, 4)[0]
    if ifd + 2 > len(tiff):
        return 1
    count = min(struct.unpack_from(order + "H", tiff, ifd)[0], (len(tiff) - ifd - 2) // 12)
    for n in range(count):
        tag, _, _, value = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * n)
        if tag == 0xB001:
            return value
    return 1


@dataclass
class _XmpFacts:
    namespaces: set[str] = field(default_factory=set)
    values: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, name): first value
    items: list[dict[str, str]] = field(default_factory=list)  # Container:Directory items, Item: attributes by name

    @property
    def semantics(self) -> list[str]:
        return [item.get("Semantic", "") for item in self.items]


def _xmp_facts(packet: bytes) -> _XmpFacts:
    """Namespaces, properties (attribute and simple element form) and container items of an XMP packet, streamed
    through expat (no tree: memory stays flat); a packet that is not well-formed XML gives nothing."""
    facts = _XmpFacts()
    if not packet or len(packet) > MAX_METADATA:
        return facts
    text: list[str] = []

    def split(name: str) -> tuple[str, str]:
        namespace, _, local = name.rpartition("}")
        return namespace, local

    def start(name: str, attributes: dict[str, str]) -> None:
        namespace, local = split(name)
        facts.namespaces.add(namespace)
        for key, value in attributes.items():
            facts.namespaces.add(split(key)[0])
            facts.values.setdefault(split(key), value)
        if (namespace, local) == (CONTAINER_NS, "Item") and len(facts.items) < MAX_CONTAINER_ITEMS:
            facts.items.append({split(k)[1]: v for k, v in attributes.items() if split(k)[0] == ITEM_NS})
        text.clear()

    def characters(data: str) -> None:
        if len(text) < 64:
            text.append(data)

    def end(name: str) -> None:
        if value := "".join(text).strip():
            facts.values.setdefault(split(name), value)
        text.clear()

    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = start, characters, end
    begin = packet.find(b"<x:xmpmeta")
    stop = packet.rfind(b"</x:xmpmeta>")
    try:
        parser.Parse(packet[begin : stop + 12] if 0 <= begin < stop else packet, True)
    except expat.ExpatError:
        return _XmpFacts()
    return facts


def _jpeg_motion(reader: BlockReader, facts: _XmpFacts, scan: int) -> tuple[str, tuple[int, int]] | None:
    """Google's motion photo (Camera:MotionPhoto, or the older GCamera:MicroVideo): the flag, and an MP4 where the
    XMP says it is, at the end of the file and after the image data. A flag without the video is no motion photo."""
    flag = next((n for n in ("MotionPhoto", "MicroVideo") if facts.values.get((CAMERA_NS, n)) == "1"), None)
    if flag is None:
        return None
    length = 0
    for item in facts.items:
        if item.get("Semantic") == "MotionPhoto" and item.get("Length", "").isdigit():
            length = int(item["Length"])
    if not length and facts.values.get((CAMERA_NS, "MicroVideoOffset"), "").isdigit():
        length = int(facts.values[(CAMERA_NS, "MicroVideoOffset")])
    start = reader.size - length
    if length < 8 or start <= scan or reader.read_exact(start + 4, 4) != b"ftyp":
        return None
    return f"XMP {flag} and a {length:,}-byte video after the image", (start, length)


def _samsung_motion(reader: BlockReader) -> tuple[str, tuple[int, int]] | None:
    """Samsung's trailer (exiftool's Samsung.pm): blocks, a "SEFH" directory, its length and "SEFT" at the very end;
    a block named "MotionPhoto_Data" holding an MP4 is the motion photo's video."""
    tail = reader.read_exact(reader.size - 8, 8)
    if len(tail) < 8 or tail[4:] != b"SEFT":
        return None
    length = int.from_bytes(tail[:4], "little")
    directory = reader.size - 8 - length
    if not 12 <= length < 0x10000 or directory < 0:
        return None
    sefh = reader.read_exact(directory, length)
    if sefh[:4] != b"SEFH":
        return None
    count = int.from_bytes(sefh[8:12], "little")
    for n in range(min(count, MAX_SEF_ENTRIES, (length - 12) // 12)):
        _, _, back, size = struct.unpack_from("<HHII", sefh, 12 + 12 * n)
        if not 8 <= size <= back <= directory:
            continue
        block = reader.read_exact(directory - back, 8)
        name_length = int.from_bytes(block[4:8], "little")
        if name_length > 64 or name_length + 8 > size:
            continue
        name_and_head = reader.read_exact(directory - back + 8, name_length + 8)
        if name_and_head[:name_length] == b"MotionPhoto_Data" and name_and_head[name_length + 4 :] == b"ftyp":
            start = directory - back + 8 + name_length
            return f"Samsung MotionPhoto_Data trailer with a {size - 8 - name_length:,}-byte video", (start, size - 8 - name_length)
    return None


# --- HEIF --------------------------------------------------------------------------------


def _heif(reader: BlockReader, found: Probe) -> None:
    brand = reader.pread(8, 4)
    if brand in (b"avif", b"avis"):
        found.format = "avif"
        return
    top = {kind: (start, end) for kind, start, end in boxes(reader, 0, reader.size)}
    if b"mpvd" in top:  # Samsung's HEIC motion photo: the MP4, whole, in a top-level box
        start, end = top[b"mpvd"]
        if end - start >= 8 and reader.read_exact(start + 4, 4) == b"ftyp":
            found.motion, found.video = f"a video of {end - start:,} bytes in an 'mpvd' box", (start, end - start)
    if b"meta" not in top:
        raise CorruptMedia("corrupt HEIF: no 'meta' box")
    meta = {kind: (start, end) for kind, start, end in boxes(reader, top[b"meta"][0] + 4, top[b"meta"][1])}
    if b"iprp" in meta:
        _heif_properties(reader, meta[b"iprp"], found)
    if b"iinf" in meta and b"iloc" in meta:
        items = heif_items(small_box(reader, *meta[b"iinf"]))
        exif = {i for i, (kind, _) in items.items() if kind == b"Exif"}
        for _, extents in heif_locations(small_box(reader, *meta[b"iloc"]), exif).values():
            found.exif_size = max(found.exif_size, sum(length for _, length in extents) - 4)  # less the header offset


def _heif_properties(reader: BlockReader, iprp: tuple[int, int], found: Probe) -> None:
    """The sizes ('ispe') and auxiliary types ('auxC') among the item properties."""
    for kind, start, end in boxes(reader, *iprp):
        if kind != b"ipco":
            continue
        for prop, p_start, p_end in boxes(reader, start, end):
            if prop == b"ispe" and p_end - p_start >= 12:
                width, height = struct.unpack(">II", reader.read_exact(p_start + 4, 8))
                if width * height > found.width * found.height:
                    found.width, found.height = width, height
            elif prop == b"auxC":
                aux_type = small_box(reader, p_start + 4, p_end).split(b"\x00", 1)[0].decode("ascii", "replace")
                what = next((name for part, name in AUX_KINDS if part in aux_type), f"an auxiliary image ({aux_type})")
                if what not in found.auxiliary:
                    found.auxiliary.append(what)

