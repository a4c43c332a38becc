"""Real sample phone media with real metadata, for the tests, the demo and the benchmark.

Photos are encoded by Pillow (HEIC by pillow_heif) with EXIF/XMP written by the encoder,
except HEIC metadata, which exiftool writes so that it sits before the image data as on
phones. Videos are muxed by ffmpeg, whose `creation_time` sets the `mvhd` dates and whose
`use_metadata_tags` writes Apple's `keys`/`ilst` tags. `mixed` encodes a few base files
once and makes the rest by re-muxing (`ffmpeg -c copy`), copying and batched exiftool runs.

    python -m mobile_backups.samples camera-roll DIR
    python -m mobile_backups.samples mixed DIR --count 1000
"""

from __future__ import annotations

import argparse
import io
import os
import plistlib
import random
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from bisect import bisect_right
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import cache
from itertools import accumulate, count as counter
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pillow_heif
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

pillow_heif.register_heif_opener()

_PathLike = str | os.PathLike[str]
_Size = tuple[int, int]
_EXIF_IFD = 0x8769
_MAKER_NOTE = 0x927C
_USER_COMMENT = 0x9286
_TAGS = {  # Exif field: (IFD, tag)
    "date_time_original": (_EXIF_IFD, 0x9003),
    "sub_sec_time_original": (_EXIF_IFD, 0x9291),
    "offset_time_original": (_EXIF_IFD, 0x9011),
    "create_date": (_EXIF_IFD, 0x9004),
    "offset_time_digitized": (_EXIF_IFD, 0x9012),
    "offset_time": (_EXIF_IFD, 0x9010),
    "modify_date": (0, 0x0132),
    "make": (0, 0x010F),
    "model": (0, 0x0110),
    "orientation": (0, 0x0112),
    "lens_model": (_EXIF_IFD, 0xA434),
}
_GPS_IFD = 0x8825
_NAMESPACES = {"exif": "http://ns.adobe.com/exif/1.0/", "photoshop": "http://ns.adobe.com/photoshop/1.0/",
               "xmp": "http://ns.adobe.com/xap/1.0/", "tiff": "http://ns.adobe.com/tiff/1.0/"}
_FORMATS = {"jpeg": ("JPEG", {"quality": 90}), "heic": ("HEIF", {"quality": 80}), "avif": ("AVIF", {"quality": 60}),
            "png": ("PNG", {"compress_level": 1}), "webp": ("WEBP", {"quality": 85})}  # kind: (Pillow format, options)


@dataclass(frozen=True)
class Exif:
    """EXIF date and camera tags, each written verbatim when not None."""

    date_time_original: str | None = None
    sub_sec_time_original: str | None = None
    offset_time_original: str | None = None
    create_date: str | None = None
    offset_time_digitized: str | None = None
    offset_time: str | None = None
    modify_date: str | None = None
    make: str | None = None
    model: str | None = None
    content_id: str | None = None  # a live photo's identifier, in an Apple maker note
    orientation: int | None = None
    lens_model: str | None = None
    gps: tuple[float, float] | None = None  # latitude, longitude in degrees
    user_comment: str | None = None  # EXIF UserComment (ASCII character code): iOS writes "Screenshot"


def exif_bytes(exif: Exif) -> bytes:
    """An `Exif\\0\\0`-prefixed TIFF block: dates (and an Apple maker note) in the Exif IFD, camera and DateTime in IFD0."""
    out = Image.Exif()
    for name, (ifd, tag) in _TAGS.items():
        if (value := getattr(exif, name)) is not None:
            (out.get_ifd(_EXIF_IFD) if ifd else out)[tag] = value
    if exif.content_id is not None:
        out.get_ifd(_EXIF_IFD)[_MAKER_NOTE] = apple_maker_note(exif.content_id)
    if exif.gps is not None:
        gps = out.get_ifd(_GPS_IFD)
        for ref_tag, (positive, negative), value in ((1, "NS", exif.gps[0]), (3, "EW", exif.gps[1])):
            degrees, minutes = divmod(abs(value) * 60, 60)
            gps[ref_tag] = positive if value >= 0 else negative
            gps[ref_tag + 1] = (float(int(degrees)), float(int(minutes)), round((minutes % 1) * 60, 4))
    if exif.user_comment is not None:
        out.get_ifd(_EXIF_IFD)[_USER_COMMENT] = b"ASCII\0\0\0" + exif.user_comment.encode("ascii")
    return out.tobytes()


def apple_maker_note(content_id: str) -> bytes:
    """An iPhone's maker note as exiftool's Apple.pm reads it: "Apple iOS\\0", version 1, "MM", then a big-endian IFD
    whose offsets count from the note's start, holding MakerNoteVersion (0x0001) and MediaGroupUUID (0x0011)."""
    value = content_id.encode("ascii") + b"\x00"
    entries = 2
    data_at = 14 + 2 + 12 * entries + 4
    ifd = struct.pack(">H", entries)
    ifd += struct.pack(">HHI4s", 0x0001, 9, 1, struct.pack(">i", 14))  # int32s, as iOS 16 writes
    ifd += struct.pack(">HHII", 0x0011, 2, len(value), data_at)
    return b"Apple iOS\x00" + b"\x00\x01MM" + ifd + b"\x00\x00\x00\x00" + value


def xmp_packet(**props: str) -> bytes:
    """An XMP packet with one rdf:Description carrying `props` ("prefix:Name": value) as attributes."""
    namespaces = "".join(f"\n    xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in _NAMESPACES.items())
    attributes = "".join(f"\n    {key}={quoteattr(value)}" for key, value in props.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        f'  <rdf:Description rdf:about=""{namespaces}{attributes}/>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end="w"?>'
    ).encode()


def _picture(size: _Size, seed: int) -> Image.Image:
    """A deterministic photo-like picture: smooth colour patches under fine grain, compressing like a photo."""
    rng = random.Random(seed)
    width, height = size
    cols, rows = max(1, width // 16), max(1, height // 16)
    patches = Image.frombytes("RGB", (cols, rows), rng.randbytes(cols * rows * 3)).resize(size, Image.Resampling.BICUBIC)
    return Image.blend(patches, Image.frombytes("RGB", size, rng.randbytes(width * height * 3)), 0.1)


def _prepare(path: _PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _photo(path: _PathLike, kind: str, image: Image.Image, exif: Exif | None, xmp: bytes | None, mtime: float | None) -> Path:
    """Encode `image` as `kind` with the encoder's own EXIF/XMP support."""
    path = _prepare(path)
    fmt, options = _FORMATS[kind]
    params: dict[str, object] = dict(options)
    if exif is not None:
        params["exif"] = exif_bytes(exif)
    if xmp is not None and kind == "png":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=False)
        params["pnginfo"] = info
    elif xmp is not None:
        params["xmp"] = xmp
    image.save(path, fmt, **params)
    if mtime is not None:
        set_mtime(path, mtime)
    return path


def jpeg(path: _PathLike, *, exif: Exif | None = None, xmp: bytes | None = None, size: _Size = (64, 48), seed: int = 0, mtime: float | None = None) -> Path:
    """A JPEG with EXIF in APP1 and XMP in its own APP1."""
    return _photo(path, "jpeg", _picture(size, seed), exif, xmp, mtime)


def heic(path: _PathLike, *, exif: Exif | None = None, xmp: bytes | None = None, size: _Size = (64, 48), seed: int = 0, mtime: float | None = None) -> Path:
    """A real HEIC (ftyp heic) with Exif and XMP items at the head of `mdat`."""
    path = _photo(path, "heic", _picture(size, seed), None, None, None)
    _heic_metadata([(path, exif, xmp)])
    if mtime is not None:
        set_mtime(path, mtime)
    return path


def avif(path: _PathLike, *, exif: Exif | None = None, size: _Size = (64, 48), seed: int = 0, mtime: float | None = None) -> Path:
    """An AVIF with an Exif item."""
    return _photo(path, "avif", _picture(size, seed), exif, None, mtime)


def png(path: _PathLike, *, exif: Exif | None = None, xmp: bytes | None = None, size: _Size = (64, 48), seed: int = 0, mtime: float | None = None) -> Path:
    """A PNG with an eXIf chunk and XMP as iTXt "XML:com.adobe.xmp"."""
    return _photo(path, "png", _picture(size, seed), exif, xmp, mtime)


def webp(path: _PathLike, *, exif: Exif | None = None, xmp: bytes | None = None, size: _Size = (64, 48), seed: int = 0, mtime: float | None = None) -> Path:
    """An extended WebP with EXIF and XMP chunks."""
    return _photo(path, "webp", _picture(size, seed), exif, xmp, mtime)


def _heic_metadata(jobs: list[tuple[Path, Exif | None, bytes | None]]) -> None:
    """Write each HEIC's EXIF block and XMP packet verbatim, with one exiftool process for all (`-execute` between files).

    libheif (pillow_heif's `exif=`/`xmp=`) stores metadata items after the image data; exiftool puts them at the head
    of `mdat` as phones do, so a reader finds them without fetching the whole file.
    """
    with tempfile.TemporaryDirectory() as tmp:
        commands = []
        for n, (path, exif, xmp) in enumerate(jobs):
            args = []
            for group, data in (("EXIF", exif_bytes(exif)[6:] if exif is not None else None), ("XMP", xmp)):  # EXIF as bare TIFF
                if data is not None:
                    (block := Path(tmp, f"{n}.{group}")).write_bytes(data)
                    args.append(f"-{group}<={block}")
            if args:
                commands.append("\n".join([*args, str(path)]))
        if commands:
            Path(tmp, "args").write_text("\n-execute\n".join(commands) + "\n", encoding="utf-8")
            subprocess.run(["exiftool", "-@", str(Path(tmp, "args")), "-common_args", "-q", "-overwrite_original"], check=True, capture_output=True)


@cache
def _encoder() -> tuple[str, ...]:
    """libx264 when this ffmpeg has it, else MPEG-4 part 2."""
    listing = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True, check=True).stdout
    if " libx264 " in listing:
        return ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
    return ("-c:v", "mpeg4", "-q:v", "5")


def _testsrc(seconds: float, size: _Size, grain: int = 0) -> list[str]:
    """ffmpeg input (and filter) for a lavfi test pattern, optionally under temporal noise."""
    source = ["-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate=25:duration={seconds}"]
    return source + (["-vf", f"noise=alls={grain}:allf=t"] if grain else [])


def _mux(path: _PathLike, inputs: list[str], codec: tuple[str, ...], mvhd_utc: datetime | None, keys: dict[str, str], faststart: bool) -> Path:
    """ffmpeg into MP4 (QuickTime for .mov): `mvhd` date from creation_time (else 0), Apple keys as mdta tags."""
    path = _prepare(path)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *codec, "-an", "-map_metadata", "-1", "-fflags", "+bitexact"]
    cmd += ["-f", "mov" if path.suffix.lower() == ".mov" else "mp4"]
    flags = ["use_metadata_tags"] * bool(keys) + ["faststart"] * faststart
    if flags:
        cmd += ["-movflags", "+" + "+".join(flags)]
    if mvhd_utc is not None:
        utc = mvhd_utc.astimezone(timezone.utc) if mvhd_utc.tzinfo else mvhd_utc
        cmd += ["-metadata", f"creation_time={utc:%Y-%m-%dT%H:%M:%S}.000000Z"]
    for key, value in keys.items():
        cmd += ["-metadata", f"com.apple.quicktime.{key}={value}"]
    subprocess.run([*cmd, f"file:{path}"], check=True, capture_output=True)
    return path


def video(path: _PathLike, *, mvhd_utc: datetime | None = None, apple_creationdate: str | None = None, make: str | None = None,
          model: str | None = None, content_id: str | None = None, seconds: float = 1.0, size: _Size = (64, 48), faststart: bool = False,
          mtime: float | None = None) -> Path:
    """A real MP4 (QuickTime for .mov) test pattern; naive `mvhd_utc` is taken as UTC, None leaves mvhd at 0.
    `content_id`: a live photo's video, `com.apple.quicktime.content.identifier` as the still's MediaGroupUUID."""
    keys = {k: v for k, v in (("creationdate", apple_creationdate), ("make", make), ("model", model), ("content.identifier", content_id))
            if v is not None}
    path = _mux(path, _testsrc(seconds, size), _encoder(), mvhd_utc, keys, faststart)
    if mtime is not None:
        set_mtime(path, mtime)
    return path


# --- RAW containers that are not TIFF-based, built from their format descriptions (exiftool's CanonRaw, MinoltaRaw
# and SigmaRaw modules): the structure a reader walks is real, the image data is a small placeholder.


def _unix(taken: datetime | None) -> int:
    """The cameras' clock as seconds since 1970 (wall clock, no zone); 0 when unknown."""
    return int((taken - datetime(1970, 1, 1)).total_seconds()) if taken is not None else 0


def _ciff_heap(records: list[tuple[int, bytes]]) -> bytes:
    """A CIFF heap: the values, then the directory (count, 10-byte records), then the directory's offset."""
    values, entries = b"", []
    for tag, value in records:
        entries.append(struct.pack("<HII", tag, len(value), len(values)))
        values += value + b"\x00" * (len(value) & 1)
    return values + struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", len(values))


def crw(path: _PathLike, *, taken: datetime | None, make: str = "Canon", model: str = "Canon EOS 300D DIGITAL", mtime: float | None = None) -> Path:
    """A Canon CRW: header, root heap with RawData, JpgFromRaw and ImageProps; ImageProps holds TimeStamp (0x180e),
    OriginalFileName and the ExifInformation heap with MakeModel (0x080a)."""
    exif_information = _ciff_heap([(0x080A, f"{make}\x00{model}\x00".encode())])
    image_props = _ciff_heap([
        (0x180E, struct.pack("<IiI", _unix(taken), 0, 0)),  # DateTimeOriginal, TimeZoneCode, TimeZoneInfo
        (0x0816, Path(path).name.upper().encode().ljust(32, b"\x00")[:32]),  # OriginalFileName
        (0x300B, exif_information),
    ])
    root = _ciff_heap([(0x2005, b"<raw image data>"), (0x2007, b"\xff\xd8\xff\xd9"), (0x300A, image_props)])
    header = b"II" + struct.pack("<I", 26) + b"HEAPCCDR" + struct.pack("<I", 0x00010002) + b"\x00" * 8
    return _write(_prepare(path), header + root, mtime if mtime is not None else time.time())


def mrw(path: _PathLike, *, exif: Exif | None, mtime: float | None = None) -> Path:
    """A Minolta MRW: "\\0MRM", then PRD (picture dimensions), TTW (a TIFF with IFD0 and the Exif IFD), WBG and RIF
    blocks before the (placeholder) raw data."""
    blocks = [
        (b"\x00PRD", b"27200001" + struct.pack(">4H", 16, 16, 16, 16) + bytes([12, 12, 0x59, 0, 0, 0, 0, 1])),
        (b"\x00TTW", exif_bytes(exif or Exif())[6:]),
        (b"\x00WBG", bytes([2, 2, 2, 2]) + struct.pack(">4H", 0x1B6, 0x100, 0x100, 0x1FD)),
        (b"\x00RIF", bytes(60)),
    ]
    meta = b"".join(name + struct.pack(">I", len(data)) + data for name, data in blocks)
    return _write(_prepare(path), b"\x00MRM" + struct.pack(">I", len(meta)) + meta + bytes(16 * 16 * 3 // 2),
                  mtime if mtime is not None else time.time())


def _x3f_properties(props: dict[str, str]) -> bytes:
    """A PROP section: 'SECp', version, count, UTF-16 format 0, reserved, text length; (name, value) offsets; the text."""
    text, pairs = "", []
    for name, value in props.items():
        pairs.append(struct.pack("<II", len(text), len(text) + len(name) + 1))
        text += f"{name}\x00{value}\x00"
    return b"SECp" + struct.pack("<IIIII", 0x00020000, len(props), 0, 0, len(text)) + b"".join(pairs) + text.encode("utf-16-le")


def _exif_jpeg(exif: Exif) -> bytes:
    """A real small JPEG that opens with its EXIF APP1 (Pillow's APP0 JFIF segment taken out), as Sigma writes it."""
    out = io.BytesIO()
    _picture((32, 24), 0).save(out, "JPEG", quality=80, exif=exif_bytes(exif))
    data = out.getvalue()
    if data[2:4] == b"\xff\xe0":
        data = data[:2] + data[4 + int.from_bytes(data[4:6], "big") :]
    assert data[2:4] == b"\xff\xe1", "Pillow put the EXIF APP1 elsewhere"
    return data


def x3f(path: _PathLike, *, taken: datetime | None, make: str = "SIGMA", model: str = "SIGMA SD10", preview_exif: Exif | None = None,
        mtime: float | None = None) -> Path:
    """A Sigma X3F (version 2.2 header with its 160-byte extension): an IMA2 JPEG preview whose APP1 carries
    `preview_exif` (as in newer models) when given, CAMF, and a PROP section with TIME, CAMMANUF and CAMMODEL; the
    section directory ('SECd') at the end, its offset in the last 4 bytes."""
    header = b"FOVb" + struct.pack("<I", 0x00020002) + b"02001234" + bytes(8) + struct.pack("<IIII", 0, 16, 16, 0)
    header += b"Auto".ljust(32, b"\x00") + bytes(160)
    props = {"CAMMANUF": make, "CAMMODEL": model, "ISO": "100"} | ({"TIME": str(_unix(taken))} if taken is not None else {})
    sections = [(b"CAMF", b"SECc" + struct.pack("<III", 0x00020000, 0, 0) + b"<camf data>\x00")]
    if preview_exif is not None:
        sections.insert(0, (b"IMA2", b"SECi" + struct.pack("<IIIIII", 0x00020000, 2, 18, 32, 24, 0) + _exif_jpeg(preview_exif)))
    sections.append((b"PROP", _x3f_properties(props)))
    body, entries = header, []
    for name, data in sections:
        entries.append(struct.pack("<II4s", len(body), len(data), name))
        body += data + b"\x00" * (-len(data) % 4)
    directory = b"SECd" + struct.pack("<II", 0x00020000, len(entries)) + b"".join(entries)
    return _write(_prepare(path), body + directory + struct.pack("<I", len(body)), mtime if mtime is not None else time.time())


# --- Metadata where ImageMagick, other writers and the TIFF and GIF formats keep it


def png_raw_profile(path: _PathLike, *, exif: Exif, compressed: bool = True, mtime: float | None = None) -> Path:
    """A PNG whose EXIF is ImageMagick's "Raw profile type exif" text chunk (zTXt, or tEXt when not `compressed`):
    a newline, the profile name, its byte count, then the bytes as hex in lines of 72 digits."""
    data = exif_bytes(exif)
    digits = data.hex()
    text = f"\nexif\n{len(data):8d}\n" + "\n".join(digits[i : i + 72] for i in range(0, len(digits), 72)) + "\n"
    info = PngInfo()
    info.add_text("Raw profile type exif", text, zip=compressed)
    path = _prepare(path)
    _picture((64, 48), 0).save(path, "PNG", pnginfo=info)
    return _write(path, path.read_bytes(), mtime if mtime is not None else time.time())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_late_exif(path: _PathLike, *, exif: Exif, size: _Size = (64, 48), after: bytes = b"", mtime: float | None = None) -> Path:
    """A PNG with its eXIf chunk after the image data (and `after`, more bytes, before IEND), as the PNG extensions allow."""
    out = io.BytesIO()
    _picture(size, 0).save(out, "PNG", compress_level=1)
    data = out.getvalue()
    assert data[-12:-8] == b"\x00\x00\x00\x00" and data[-8:-4] == b"IEND"
    late = png_chunk(b"eXIf", exif_bytes(exif)[6:]) + after
    return _write(_prepare(path), data[:-12] + late + data[-12:], mtime if mtime is not None else time.time())


def tiff(path: _PathLike, *, xmp: bytes | None = None, big_endian: bool = False, mtime: float | None = None) -> Path:
    """A TIFF by Pillow (big-endian: a 16-bit grey image, which Pillow writes as "MM"), XMP in tag 700."""
    image = _picture((64, 48), 0)
    image = image.convert("I;16B") if big_endian else image
    path = _prepare(path)
    image.save(path, "TIFF", tiffinfo={700: xmp} if xmp is not None else {})
    return _write(path, path.read_bytes(), mtime if mtime is not None else time.time())


def gif_xmp(path: _PathLike, *, xmp: bytes, mtime: float | None = None) -> Path:
    """A GIF by Pillow with XMP in the "XMP DataXMP" application extension before its image, as Adobe's XMP
    specification (part 3) lays it out: the packet as raw bytes, then the 258-byte "magic trailer"."""
    out = io.BytesIO()
    _picture((64, 48), 0).convert("P").save(out, "GIF")
    data = out.getvalue()
    flags = data[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    extension = b"\x21\xff\x0bXMP DataXMP" + xmp + b"\x01" + bytes(range(255, -1, -1)) + b"\x00"
    return _write(_prepare(path), data[:start] + extension + data[start:], mtime if mtime is not None else time.time())


# --- Videos that are not ISO-BMFF, muxed by ffmpeg

_MUXERS = {  # extension: ffmpeg muxer and its options, video encoder
    ".avi": (("-f", "avi"), ("-c:v", "mpeg4")),
    ".mkv": (("-f", "matroska"), ("-c:v", "mpeg4")),
    ".webm": (("-f", "webm"), ("-c:v", "libvpx-vp9", "-b:v", "100k")),
    ".wmv": (("-f", "asf"), ("-c:v", "wmv2")),
    ".mts": (("-f", "mpegts"), ("-c:v", "mpeg2video")),
    ".m2ts": (("-f", "mpegts", "-mpegts_m2ts_mode", "1"), ("-c:v", "mpeg2video")),
}


def other_video(path: _PathLike, *, created_utc: datetime | None = None, idit: str | None = None, mtime: float | None = None) -> Path:
    """A real AVI, Matroska, WebM, ASF (WMV) or MPEG-TS (MTS, M2TS: 192-byte packets) test pattern, by extension.

    ffmpeg writes `created_utc` (naive: UTC) as Matroska's DateUTC and ASF's creation date (AVI and MPEG-TS have no
    such field); `idit` is written verbatim as an AVI's IDIT chunk in its 'hdrl' list, as cameras do."""
    path = _prepare(path)
    muxer, codec = _MUXERS[path.suffix.lower()]
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *_testsrc(0.4, (64, 48)), *codec, "-an", "-map_metadata", "-1", *muxer]
    if created_utc is not None:
        utc = created_utc.astimezone(timezone.utc) if created_utc.tzinfo else created_utc
        cmd += ["-metadata", f"creation_time={utc:%Y-%m-%dT%H:%M:%S.%f}Z"]
    subprocess.run([*cmd, f"file:{path}"], check=True, capture_output=True)
    if idit is not None:
        path.write_bytes(_with_idit(path.read_bytes(), idit.encode("latin-1") + b"\x00"))
    return _write(path, path.read_bytes(), mtime if mtime is not None else time.time())


def _with_idit(avi: bytes, value: bytes) -> bytes:
    """The AVI with an IDIT chunk at the end of its 'hdrl' list, in room taken from the JUNK padding that ffmpeg
    writes after that list: nothing after it moves, so the indexes stay right."""
    assert avi[12:16] == b"LIST" and avi[20:24] == b"hdrl", "ffmpeg's AVI starts with its hdrl list"
    chunk = b"IDIT" + struct.pack("<I", len(value)) + value + b"\x00" * (len(value) & 1)
    hdrl_end = 20 + int.from_bytes(avi[16:20], "little")
    junk = avi.find(b"JUNK", hdrl_end)
    junk_size = int.from_bytes(avi[junk + 4 : junk + 8], "little")
    assert junk > 0 and junk_size >= len(chunk), "ffmpeg left no JUNK padding after hdrl"
    hdrl = avi[12:16] + struct.pack("<I", hdrl_end - 20 + len(chunk)) + avi[20:hdrl_end]
    padding = b"JUNK" + struct.pack("<I", junk_size - len(chunk)) + avi[junk + 8 + len(chunk) : junk + 8 + junk_size]
    return avi[:12] + hdrl + chunk + avi[hdrl_end:junk] + padding + avi[junk + 8 + junk_size :]


def corrupt_copy(src: _PathLike, dst: _PathLike, *, keep_bytes: int) -> Path:
    """A truncated copy: the first `keep_bytes` bytes of `src`, with its mtime."""
    with open(src, "rb") as whole:
        return _write(_prepare(dst), whole.read(keep_bytes), os.stat(src).st_mtime)


# --- Quality-rule fixtures: what phones make and a converter must not break -------------------------


def phone_photo(path: _PathLike, kind: str, *, exif: Exif | None = None, xmp: bytes | None = None, icc: bytes | None = None,
                size: _Size = (64, 48), seed: int = 0, **options: object) -> Path:
    """A JPEG or HEIC written in one pass by its encoder: for a HEIC, pillow_heif turns the EXIF orientation into
    `irot`/`imir` and keeps the tag, as phones do. `options` go to the encoder (quality, nclx_profile, ...)."""
    path = _prepare(path)
    fmt, defaults = _FORMATS[kind]
    params = {**defaults, **options, **({"exif": exif_bytes(exif)} if exif else {}), **({"xmp": xmp} if xmp else {})}
    _picture(size, seed).save(path, fmt, **params, **({"icc_profile": icc} if icc else {}))
    return path


def motion_xmp(video_length: int | None, *, micro_video: bool = False) -> bytes:
    """Google's motion-photo XMP: Camera:MotionPhoto and a Container:Directory whose last item is the video
    (or the older GCamera:MicroVideo with MicroVideoOffset); `video_length` None writes the flag alone."""
    ns = ('xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" xmlns:Container="http://ns.google.com/photos/1.0/container/" '
          'xmlns:Item="http://ns.google.com/photos/1.0/container/item/"')
    if micro_video:
        attributes = f'GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{video_length or 0}"'
        directory = ""
    else:
        attributes = 'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0"'
        items = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>'
        if video_length is not None:
            items += f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{video_length}"/></rdf:li>'
        directory = f"<Container:Directory><rdf:Seq>{items}</rdf:Seq></Container:Directory>"
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {ns} {attributes}>{directory}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()


def motion_photo_jpeg(path: _PathLike, video_file: _PathLike | None, *, micro_video: bool = False, exif: Exif | None = None,
                      size: _Size = (64, 48)) -> Path:
    """A Google motion photo: a JPEG with the XMP flags, the MP4 appended after its end-of-image marker.
    `video_file` None: the flags without a video (what a converter that copies the XMP leaves)."""
    video_bytes = Path(video_file).read_bytes() if video_file is not None else b""
    path = phone_photo(path, "jpeg", exif=exif, size=size, xmp=motion_xmp(len(video_bytes) if video_file else None, micro_video=micro_video))
    with open(path, "ab") as out:
        out.write(video_bytes)
    return path


def samsung_motion_jpeg(path: _PathLike, video_file: _PathLike, *, name: bytes = b"MotionPhoto_Data", size: _Size = (64, 48)) -> Path:
    """A Samsung motion photo: a JPEG, then the trailer exiftool's Samsung.pm reads (a block of type 0x0a30 named
    "MotionPhoto_Data" holding the MP4, a "SEFH" directory pointing back at it, its length and "SEFT")."""
    path = phone_photo(path, "jpeg", size=size)
    block = struct.pack("<HHI", 0, 0x0A30, len(name)) + name + Path(video_file).read_bytes()
    directory = b"SEFH" + struct.pack("<II", 101, 1) + struct.pack("<HHII", 0, 0x0A30, len(block), len(block))
    with open(path, "ab") as out:
        out.write(block + directory + struct.pack("<I", len(directory)) + b"SEFT")
    return path


def motion_photo_heic(path: _PathLike, video_file: _PathLike, *, kind: bytes = b"mpvd", size: _Size = (64, 48)) -> Path:
    """A Samsung HEIC motion photo: the MP4, whole, in a top-level `mpvd` box after the image data."""
    path = phone_photo(path, "heic", size=size)
    with open(path, "ab") as out:
        out.write(_box(kind, Path(video_file).read_bytes()))
    return path


def ultra_hdr_jpeg(path: _PathLike, *, secondary: bool = True, size: _Size = (64, 48)) -> Path:
    """An Android Ultra HDR JPEG: hdrgm XMP and a gain map as the MPF secondary image (`secondary` False: the XMP alone)."""
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" hdrgm:Version="1.0"/>'
           "</rdf:RDF></x:xmpmeta>").encode()
    path = _prepare(path)
    picture = _picture(size, 0)
    if not secondary:
        return phone_photo(path, "jpeg", xmp=xmp, size=size)
    gain_map = picture.convert("L").resize((size[0] // 4, size[1] // 4)).convert("RGB")
    picture.save(path, "MPO", save_all=True, append_images=[gain_map], xmp=xmp, quality=90)
    return path


def heic_with_auxiliary(path: _PathLike, aux_type: str = "urn:com:apple:photo:2020:aux:hdrgainmap", size: _Size = (64, 48)) -> Path:
    """A HEIC whose second image is an auxiliary image of `aux_type` (an iPhone's HDR gain map by default).

    pillow_heif writes no auxiliary images, so this writes two images and gives the second an `auxC` property:
    appended to `ipco`, associated in `ipma`, the boxes around them resized and `iloc`'s file offsets moved
    by what `meta` grew (its image data follows `meta`)."""
    path = _prepare(path)
    heif = pillow_heif.from_pillow(_picture(size, 0))
    heif.add_from_pillow(_picture((size[0] // 2, size[1] // 2), 1))
    heif.save(path, quality=50)
    data = bytearray(path.read_bytes())
    meta_at = 8 + struct.unpack(">I", data[:4])[0] - 8  # after ftyp
    assert data[meta_at + 4 : meta_at + 8] == b"meta"
    aux = _box(b"auxC", aux_type.encode() + b"\0", version=0)

    def child(start: int, end: int, kind: bytes) -> int:
        while start < end:
            size_, found = struct.unpack(">I4s", data[start : start + 8])
            if found == kind:
                return start
            start += size_
        raise ValueError(f"no {kind!r} box")

    meta_end = meta_at + struct.unpack(">I", data[meta_at : meta_at + 4])[0]
    iprp = child(meta_at + 12, meta_end, b"iprp")
    ipco = child(iprp + 8, iprp + struct.unpack(">I", data[iprp : iprp + 4])[0], b"ipco")
    ipco_end = ipco + struct.unpack(">I", data[ipco : ipco + 4])[0]
    index, at = 0, ipco + 8
    while at < ipco_end:
        index, at = index + 1, at + struct.unpack(">I", data[at : at + 4])[0]
    ipma = child(iprp + 8, iprp + struct.unpack(">I", data[iprp : iprp + 4])[0], b"ipma")
    version, wide = data[ipma + 8], data[ipma + 11] & 1
    id_size, entries, at = 2 if version == 0 else 4, struct.unpack(">I", data[ipma + 12 : ipma + 16])[0], ipma + 16
    for _ in range(entries):  # find item 2's associations; append the new property's index to them
        item = int.from_bytes(data[at : at + id_size], "big")
        count = data[at + id_size]
        end = at + id_size + 1 + count * (2 if wide else 1)
        if item == 2:
            data[at + id_size] = count + 1
            data[end:end] = (index + 1).to_bytes(2, "big") if wide else bytes([index + 1])
            grown_ipma = 2 if wide else 1
            break
        at = end
    data[ipco_end:ipco_end] = aux
    grown = len(aux) + grown_ipma
    for box, more in ((meta_at, grown), (iprp, grown), (ipco, len(aux)), (ipma + len(aux), grown_ipma)):  # all before the insertions
        struct.pack_into(">I", data, box, struct.unpack_from(">I", data, box)[0] + more)
    _shift_iloc(data, child(meta_at + 12, meta_end, b"iloc"), grown)
    path.write_bytes(bytes(data))
    return path


def _shift_iloc(data: bytearray, iloc: int, delta: int) -> None:
    """Add `delta` to every file offset (construction method 0) in the `iloc` box at `iloc`."""
    version = data[iloc + 8]
    offset_size, length_size, base_size = data[iloc + 12] >> 4, data[iloc + 12] & 15, data[iloc + 13] >> 4
    index_size = data[iloc + 13] & 15 if version in (1, 2) else 0
    at, id_size = iloc + 14, 2 if version < 2 else 4
    count = int.from_bytes(data[at : at + id_size], "big")
    at += id_size
    for _ in range(count):
        at += id_size
        method = 0
        if version in (1, 2):
            method = int.from_bytes(data[at : at + 2], "big") & 15
            at += 2
        at += 2  # data reference index
        fields = [(at, base_size)] if base_size else []
        at += base_size
        extents = int.from_bytes(data[at : at + 2], "big")
        at += 2
        for _ in range(extents):
            at += index_size
            if not base_size and offset_size:
                fields.append((at, offset_size))
            at += offset_size + length_size
        for where, width in fields if method == 0 else ():
            data[where : where + width] = (int.from_bytes(data[where : where + width], "big") + delta).to_bytes(width, "big")


# --- Hostile files: crafted to make a metadata reader loop, decode or allocate without end ----------


def _box(kind: bytes, payload: bytes, version: int | None = None) -> bytes:
    """An ISO-BMFF box (a full box when `version` is given, flags 0)."""
    body = (bytes([version, 0, 0, 0]) if version is not None else b"") + payload
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _heif_file(path: _PathLike, iinf: bytes, iloc: bytes, mdat: bytes = b"\0" * 16) -> Path:
    hdlr = _box(b"hdlr", b"\0" * 4 + b"pict" + b"\0" * 13, version=0)
    meta = _box(b"meta", hdlr + _box(b"iinf", iinf, version=0) + _box(b"iloc", iloc[1:], version=iloc[0]), version=0)
    path = _prepare(path)
    path.write_bytes(_box(b"ftyp", b"heic\0\0\0\0mif1heic") + meta + _box(b"mdat", mdat))
    return path


def hostile_heif_items(path: _PathLike, count: int = 2**32 - 1) -> Path:
    """A HEIF whose `iloc` (version 2) declares `count` items and holds none."""
    return _heif_file(path, struct.pack(">H", 0), bytes([2, 0x44, 0x00]) + struct.pack(">I", count))


def hostile_heif_extents(path: _PathLike, extents: int = 65535, data: int = 1 << 20) -> Path:
    """A HEIF whose Exif item has `extents` extents, each the whole `data`-byte `mdat` (the join is extents x data)."""
    iinf = struct.pack(">H", 1) + _box(b"infe", struct.pack(">HH", 1, 0) + b"Exif\0", version=2)
    iloc = lambda mdat_at: bytes([1, 0x44, 0x00]) + struct.pack(">HHHHH", 1, 1, 0, 0, extents) + struct.pack(">II", mdat_at, data) * extents  # noqa: E731
    head = _heif_file(path, iinf, iloc(0), b"").stat().st_size  # the same layout without data: where mdat's payload starts
    return _heif_file(path, iinf, iloc(head), b"\0" * data)


def hostile_heif_extent_counts(path: _PathLike, items: int = 65535, extents: int = 65535) -> Path:
    """A HEIF whose `iloc` (version 1) declares `items` items of `extents` extents each, with no bytes behind them."""
    return _heif_file(path, struct.pack(">H", 0), bytes([1, 0x44, 0x00]) + struct.pack(">HHHHH", items, 1, 0, 0, extents))


def _tiff_block(entries: int, values: int) -> bytes:
    """A little-endian TIFF whose IFD0 has `entries` SHORT tags of `values` values each (all on one value area)."""
    area = 8 + 2 + 12 * entries + 4
    ifd = b"".join(struct.pack("<HHII", 0x1000 + i % 0xB000, 3, values, area) for i in range(entries))
    return b"II*\0" + struct.pack("<IH", 8, entries) + ifd + b"\0" * 4 + b"\1\0" * values


def hostile_tiff(path: _PathLike, entries: int = 65535, values: int = 999) -> Path:
    """A TIFF (name it .dng) whose single IFD has `entries` entries of `values` values each."""
    path = _prepare(path)
    path.write_bytes(_tiff_block(entries, values))
    return path


def hostile_jpeg_exif(path: _PathLike, *, blocks: int = 8, entries: int = 5000, values: int = 999, exif: Exif | None = None) -> Path:
    """A real JPEG after `blocks` APP1 EXIF blocks of `entries` tags with `values` values each."""
    path = jpeg(path, exif=exif)
    block = b"Exif\0\0" + _tiff_block(entries, values)
    app1 = b"\xff\xe1" + struct.pack(">H", len(block) + 2) + block
    data = path.read_bytes()
    path.write_bytes(data[:2] + app1 * blocks + data[2:])
    return path


def hostile_jpeg_fill(path: _PathLike, *, fill: int = 20 << 20, exif: Exif | None = None) -> Path:
    """A real JPEG with `fill` 0xFF fill bytes before its first marker."""
    path = jpeg(path, exif=exif)
    data = path.read_bytes()
    path.write_bytes(data[:2] + b"\xff" * fill + data[2:])
    return path


HOSTILE = {
    "heif-iloc-4G-items.heic": hostile_heif_items,
    "heif-iloc-extents-64G.heic": hostile_heif_extents,
    "heif-iloc-65535x65535-extents.heic": hostile_heif_extent_counts,
    "jpeg-8-app1-5000x999.jpg": hostile_jpeg_exif,
    "tiff-65535-entries.dng": hostile_tiff,
    "jpeg-20MiB-fill.jpg": hostile_jpeg_fill,
}


def set_mtime(path: _PathLike, mtime: float) -> None:
    """Set both access and modification time."""
    os.utime(path, (mtime, mtime))


def _write(path: Path, data: bytes, mtime: float) -> Path:
    path.write_bytes(data)
    set_mtime(path, mtime)
    return path


def _at(*when: int) -> float:
    return datetime(*when, tzinfo=timezone.utc).timestamp()


def camera_roll(folder: Path) -> list[Path]:
    """A small realistic phone inbox: real phone/app names, metadata that agrees with them, a few awkward files."""
    f = Path(folder)
    f.mkdir(parents=True, exist_ok=True)
    nov = "2024:11:24 15:30:12"  # local time at +01:00, i.e. 14:30:12 UTC
    taken = _at(2024, 11, 24, 14, 30, 12)

    def phone(make: str, model: str, subsec: str | None = None, when: str = nov) -> Exif:
        return Exif(date_time_original=when, sub_sec_time_original=subsec, offset_time_original="+01:00", create_date=when,
                    offset_time_digitized="+01:00", offset_time="+01:00", modify_date=when, make=make, model=model)

    iphone, oneplus = phone("Apple", "iPhone 15 Pro"), phone("OnePlus", "CPH2581", "417")
    aae = {"adjustmentBaseVersion": 0, "adjustmentData": b"\x8d\x90\xcb\x0e\x82", "adjustmentEditorBundleID": "com.apple.mobileslideshow",
           "adjustmentFormatIdentifier": "com.apple.photo", "adjustmentFormatVersion": "1.5"}
    paths = [
        heic(f / "IMG_0001.HEIC", exif=iphone, seed=1, mtime=taken),
        video(f / "IMG_0001.MOV", mvhd_utc=datetime(2024, 11, 24, 14, 30, 12), apple_creationdate="2024-11-24T15:30:12+0100",
              make="Apple", model="iPhone 15 Pro", mtime=taken),
        heic(f / "IMG_E0001.HEIC", exif=replace(iphone, modify_date="2024:11:25 09:12:44"), seed=2, mtime=_at(2024, 11, 25, 8, 12, 44)),
        _write(f / "IMG_0001.AAE", plistlib.dumps(aae), _at(2024, 11, 25, 8, 12, 44)),
        jpeg(f / "IMG_20241124_153012.jpg", exif=oneplus, seed=3, mtime=taken),
        jpeg(f / "PXL_20241124_143012345.jpg", exif=phone("Google", "Pixel 8", "345"), seed=4, mtime=taken),
        jpeg(f / "20241124_153012.jpg", exif=phone("samsung", "SM-S921B", "088"), seed=5, mtime=taken),
        video(f / "VID_20241124_153500.mp4", mvhd_utc=datetime(2024, 11, 24, 14, 35, 0), mtime=_at(2024, 11, 24, 14, 35, 0)),
        png(f / "Screenshot_20241124-153012.png", seed=6, mtime=taken),
        png(f / "Screenshot 2024-11-24 at 15.30.12.png", seed=7, mtime=taken),
        jpeg(f / "IMG-20241124-WA0001.jpg", seed=8, mtime=_at(2024, 11, 24, 17, 2, 51)),
        jpeg(f / "signal-2024-11-24-153012.jpg", seed=9, mtime=taken),
        jpeg(f / "2024-11-24 15.30.12.jpg", exif=iphone, seed=10, mtime=taken),
        jpeg(f / "24-11-24 15-30-12 1234.jpg", exif=iphone, seed=11, mtime=taken),
        jpeg(f / "IMG_0002.JPG", exif=Exif(date_time_original="2025:01:01 00:30:00", offset_time_original="+01:00", make="Apple", model="iPhone 12"), seed=12,
             mtime=_at(2024, 12, 31, 23, 30)),
        jpeg(f / "IMG_0003.jpg", exif=Exif(modify_date="2024:12:30 10:00:00"), seed=13, mtime=_at(2024, 6, 1, 12)),
        jpeg(f / "IMG_0004.jpg", xmp=xmp_packet(**{"exif:DateTimeOriginal": "2024-11-24T15:30:12+01:00"}), seed=14, mtime=taken),
        webp(f / "IMG_20241124_160000.webp", exif=phone("samsung", "SM-S921B", when="2024:11:24 16:00:00"),
             seed=15, mtime=_at(2024, 11, 24, 15)),
        avif(f / "IMG_20241124_161500.avif", exif=phone("samsung", "SM-S921B", when="2024:11:24 16:15:00"),
             seed=16, mtime=_at(2024, 11, 24, 15, 15)),
        _write(f / "notes.txt", b"Pick up prints on Monday.\n", taken),
        _write(f / "empty.jpg", b"", taken),
        jpeg(f / "Ünïcödé café 📷.jpg", exif=oneplus, seed=17, mtime=taken),
    ]
    paths.append(corrupt_copy(f / "IMG_20241124_153012.jpg", f / "broken.jpg", keep_bytes=300))
    paths.append(Path(shutil.copy2(f / "IMG_20241124_153012.jpg", f / "IMG_20241124_153012 (copy).jpg")))
    return paths


# kind, share in percent, extension, cameras (make, model)
_MIXED: tuple[tuple[str, int, str, tuple[tuple[str | None, str | None], ...]], ...] = (
    ("jpeg", 45, "jpg", (("Google", "Pixel 8"), ("samsung", "SM-S921B"), ("Xiaomi", "2201117TG"), ("Apple", "iPhone 8"))),
    ("heic", 20, "HEIC", (("Apple", "iPhone 15 Pro"), ("Apple", "iPhone 12 mini"))),
    ("png", 10, "png", ((None, None),)),
    ("webp", 5, "webp", (("samsung", "SM-A546B"),)),
    ("mp4", 10, "mp4", (("Google", "Pixel 7a"), ("samsung", "SM-G991B"), ("motorola", "moto g54 5G"))),
    ("mov", 10, "MOV", (("Apple", "iPhone 15 Pro"), ("Apple", "iPhone 11"))),
)
_OFFSETS = ("+01:00", "+02:00", "+00:00", "-04:00", "-07:00", "+05:30", "+09:00", "+10:00")
_START, _SPAN = datetime(2005, 1, 1), int((datetime(2026, 1, 1) - datetime(2005, 1, 1)).total_seconds())


@dataclass
class _Planned:
    path: Path
    kind: str
    mtime: float
    exif: Exif | None = None
    xmp: dict[str, str] = field(default_factory=dict)
    mvhd_utc: datetime | None = None
    keys: dict[str, str] = field(default_factory=dict)
    faststart: bool = False


def _name(kind: str, ext: str, make: str | None, local: datetime, utc: datetime, number: int, dated: bool) -> str:
    """The name the phone (or app) would give; `dated` forces a name that carries the date."""
    if kind == "png":
        return f"Screenshot_{local:%Y%m%d-%H%M%S}.png"
    if make == "Google":  # Pixel names are UTC, with milliseconds
        return f"PXL_{utc:%Y%m%d_%H%M%S}{utc.microsecond // 1000:03d}.{ext}"
    if make == "Apple":
        return f"{local:%Y-%m-%d %H.%M.%S}.{ext.upper()}" if dated else f"IMG_{number:04d}.{ext.upper()}"
    if make == "samsung":
        return f"{local:%Y%m%d_%H%M%S}.{ext}"
    return f"{'VID' if kind == 'mp4' else 'IMG'}_{local:%Y%m%d_%H%M%S}.{ext}"


def _plan(folder: Path, count: int, rng: random.Random) -> list[_Planned]:
    """What each file is, is called and says: exact kind shares, ~5% XMP-only, ~5% name-only dates."""
    shares = list(accumulate(share for _, share, _, _ in _MIXED))
    kinds = [_MIXED[bisect_right(shares, (i + 0.5) * 100 / count)] for i in range(count)]
    rng.shuffle(kinds)
    used: set[str] = set()
    numbers, videos = counter(1), counter()
    planned = []
    for kind, _, ext, cameras in kinds:
        make, model = rng.choice(cameras)
        style = rng.choices(("exif", "xmp", "name"), (90, 5 * (kind not in ("mp4", "mov")), 5))[0]
        offset, with_offset = rng.choice(_OFFSETS), rng.random() < 0.6
        shift = datetime.strptime(offset, "%z").utcoffset() or timedelta()
        millis = rng.randrange(1000) if rng.random() < 0.3 else 0
        local = _START + timedelta(seconds=rng.randrange(_SPAN), milliseconds=millis)
        while True:
            utc = local - shift
            name = _name(kind, ext, make, local, utc, next(numbers), style == "name")
            if name not in used:
                break
            local += timedelta(seconds=1)
        used.add(name)
        item = _Planned(folder / name, kind, utc.replace(tzinfo=timezone.utc).timestamp() + rng.randrange(90))
        stamp, zone = f"{local:%Y:%m:%d %H:%M:%S}", offset if with_offset else None
        camera = Exif(make=make, model=model) if make else None
        if kind in ("mp4", "mov"):
            item.faststart = next(videos) % 2 == 1
            item.mvhd_utc = utc if style == "exif" else None
            if kind == "mov":
                item.keys = {"make": make or "", "model": model or ""}
                if style == "exif":
                    item.keys["creationdate"] = f"{local:%Y-%m-%dT%H:%M:%S}{offset.replace(':', '')}"
        elif style == "exif":
            item.exif = replace(camera or Exif(), date_time_original=stamp, sub_sec_time_original=f"{millis:03d}" if millis else None,
                                offset_time_original=zone, create_date=stamp, offset_time_digitized=zone, modify_date=stamp, offset_time=zone)
        else:
            item.exif = camera
            if style == "xmp":
                item.xmp = {"exif:DateTimeOriginal": f"{local:%Y-%m-%dT%H:%M:%S}{zone or ''}"}
        planned.append(item)
    return planned


def mixed(folder: Path, count: int, *, seed: int = 0) -> list[Path]:
    """`count` phone files for a benchmark: JPEG, HEIC, PNG, WebP, MP4 and MOV of realistic sizes, dated 2005–2025.

    Four groups, each with one 1024x768 base picture, HEIC and clip encoded once; half the videos keep `moov` last.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = _plan(folder, count, random.Random(seed))
    workers = os.cpu_count() or 2
    groups = [items[k::4] for k in range(4)]  # one base picture/clip per group: no Image is shared between threads

    def build_group(k: int, tmp: Path) -> None:
        picture = _picture((1024, 768), seed * 10 + k)
        screen = ImageOps.posterize(picture, 4)
        template = _photo(tmp / f"{k}.heic", "heic", picture, None, None, None)
        clip = _mux(tmp / f"{k}.mp4", _testsrc(2 + k % 2, (1280, 720), grain=20), (*_encoder(), "-b:v", "1500k"), None, {}, False)
        for item in groups[k]:
            if item.kind in ("mp4", "mov"):
                _mux(item.path, ["-i", str(clip)], ("-c", "copy"), item.mvhd_utc, item.keys, item.faststart)
            elif item.kind == "heic":
                shutil.copyfile(template, item.path)
            else:
                xmp = xmp_packet(**item.xmp) if item.xmp else None
                _photo(item.path, item.kind, screen if item.kind == "png" else picture, item.exif, xmp, None)

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        list(pool.map(build_group, range(4), [Path(tmp)] * 4))
        heics = [(i.path, i.exif, xmp_packet(**i.xmp) if i.xmp else None) for i in items if i.kind == "heic"]
        list(pool.map(_heic_metadata, [heics[k::workers] for k in range(workers)]))
    for item in items:
        set_mtime(item.path, item.mtime)
    return [item.path for item in items]


def main(argv: list[str] | None = None) -> int:
    """CLI: make a camera roll or a mixed benchmark set and print what was made."""
    parser = argparse.ArgumentParser(prog="python -m mobile_backups.samples", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("camera-roll", help="a ~20-file demo inbox").add_argument("dir", type=Path)
    bench = commands.add_parser("mixed", help="COUNT files for the benchmark")
    bench.add_argument("dir", type=Path)
    bench.add_argument("--count", type=int, default=1000)
    bench.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = camera_roll(args.dir) if args.command == "camera-roll" else mixed(args.dir, args.count, seed=args.seed)
    seconds = time.perf_counter() - started
    if args.command == "camera-roll":
        for path in paths:
            print(f"{path.stat().st_size:>9,}  {path.name}")
    kinds = Counter(path.suffix.lower() for path in paths)
    print(", ".join(f"{n} {suffix}" for suffix, n in kinds.most_common()))
    print(f"{len(paths)} files, {sum(p.stat().st_size for p in paths) / 1e6:.1f} MB in {args.dir}, made in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
