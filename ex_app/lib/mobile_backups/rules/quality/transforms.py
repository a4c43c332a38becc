"""The transforming actions: convert HEIC to JPEG, downscale, re-encode, strip location.

Each takes the file and the path its result should get, refuses what the gates refuse, writes to a
temporary name beside `output`, checks it (verify.py), and only then links it to `output`, which must not
exist (never an overwrite). The caller decides what happens next (keep both, or replace the original
through a version). A skip leaves nothing behind and says why. Pillow is given the EXIF, ICC and XMP
explicitly (it writes none unless told) and an explicit quality (its default is 75).
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image

from . import colour, gates, verify

pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = gates.MAX_PIXELS  # deliberate: phones make 200 MP; the gates refuse more before any decode

DEFAULT_QUALITY = 90
MIN_SAVING_PERCENT = 25.0
JPEG_EXIF_MAX = gates.JPEG_EXIF_MAX + 6  # Pillow's exif bytes start with "Exif\0\0"
JPEG_XMP_MAX = 65535 - 2 - 29  # one APP1 segment: its length field and the XMP namespace (extended XMP is not written)
STANDARD_LUMINANCE = (  # the JPEG standard's (Annex K) luminance table, in natural order as Pillow gives tables
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87,
    80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92,
    95, 98, 112, 100, 103, 99,
)
MOTION_ATTRIBUTES = re.compile(rb'\s+[\w-]+:(?:MotionPhoto|MicroVideo)\w*\s*=\s*"[^"]*"')
MOTION_ELEMENTS = re.compile(rb"<([\w-]+:(?:MotionPhoto|MicroVideo)\w*)\b[^>]*?(?:/>|>.*?</\1>)|<([\w-]*Container:Directory)\b[^>]*>.*?</\2>", re.S)
EXIFTOOL_SECONDS = 120
STRIP_LOCATION = (  # exiftool: EXIF/XMP/QuickTime GPS tags, and XMP/IPTC place names (exiftool never touches the image data)
    "-gps*=", "-xmp:LocationCreated*=", "-xmp:LocationShown*=", "-xmp:City=", "-xmp:State=", "-xmp:Country=",
    "-xmp:CountryCode=", "-xmp:Location=", "-xmp:Sublocation=", "-iptc:City=", "-iptc:Province-State=",
    "-iptc:Country-PrimaryLocationName=", "-iptc:Country-PrimaryLocationCode=", "-iptc:Sub-location=",
    "-Keys:LocationName=", "-Keys:LocationBody=", "-Keys:LocationNote=", "-Keys:LocationRole=", "-Keys:LocationDate=",
    "-LocationAccuracyHorizontal=", "-UserData:LocationInformation=",
)


@dataclass(frozen=True)
class Result:
    """What one action did to one file; `skipped` is the reason nothing was written."""

    action: str
    source: str
    output: str | None
    bytes_before: int
    bytes_after: int | None = None
    saved_percent: float | None = None  # negative when the new file is larger (a JPEG from a HEIC, typically)
    skipped: str | None = None
    verified: tuple[str, ...] = ()


def _skip(action: str, source: Path, reason: str) -> Result:
    return Result(action, str(source), None, source.stat().st_size, skipped=reason)


def _safely(transform: Callable[..., Result]) -> Callable[..., Result]:
    """A file the decoders or encoders choke on (cut short, say) is a skip with the reason; the run goes on."""

    @functools.wraps(transform)
    def guarded(source: Path, output: Path, **options: object) -> Result:
        try:
            return transform(source, output, **options)
        except Exception as err:
            return _skip(action_of(transform), source, f"could not be transformed: {type(err).__name__}: {err}")

    return guarded


@_safely
def convert_heic(source: Path, output: Path, *, quality: int = DEFAULT_QUALITY) -> Result:
    """A JPEG of a HEIC/HEIF (by content) at `quality`: EXIF (Orientation 1: pillow_heif has applied irot/imir), ICC
    or an ICC made from its nclx, XMP without motion-photo flags. Typically larger than the HEIC: compatibility, not space."""
    if reason := gates.refusal(gates.probe_path(source), "convert"):
        return _skip("convert", source, reason)
    with Image.open(source) as image:
        if getattr(image, "n_frames", 1) > 1:
            return _skip("convert", source, f"holds {image.n_frames} top-level images (a burst or sequence): only one would be converted")
        icc = image.info.get("icc_profile") or None
        if icc is None and image.info.get("nclx_profile"):
            try:
                icc = colour.icc_for_nclx(image.info["nclx_profile"])
            except colour.Unsupported as err:
                return _skip("convert", source, str(err))
        return _write("convert", source, output, image.convert("RGB") if image.mode not in ("RGB", "L") else image, image.info,
                      icc=icc, quality=quality, min_saving=None)


@_safely
def downscale(source: Path, output: Path, *, above_mp: float, to_mp: float, min_saving_percent: float = MIN_SAVING_PERCENT,
              quality: int = DEFAULT_QUALITY) -> Result:
    """A JPEG of about `to_mp` megapixels from a JPEG of more than `above_mp`; never upscales; written only if it
    saves `min_saving_percent`. The pixels stay in their stored orientation and the EXIF (with it) is kept as is."""
    if reason := gates.refusal(gates.probe_path(source), "downscale"):
        return _skip("downscale", source, reason)
    with Image.open(source) as image:
        pixels = image.width * image.height
        if pixels <= above_mp * 1e6:
            return _skip("downscale", source, f"{pixels / 1e6:.1f} MP: not above {above_mp:g} MP")
        scale = math.sqrt(to_mp * 1e6 / pixels)
        if scale >= 1:
            return _skip("downscale", source, f"{pixels / 1e6:.1f} MP: {to_mp:g} MP would be an upscale")
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        info = dict(image.info)
        image.draft(image.mode, size)  # libjpeg decodes at 1/2, 1/4 or 1/8 when that is still at least `size`
        smaller = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return _write("downscale", source, output, smaller, info, icc=info.get("icc_profile") or None, quality=quality,
                      min_saving=min_saving_percent)


def jpeg_quality(image: Image.Image) -> int | None:
    """The libjpeg quality setting that makes this JPEG's luminance table (an estimate for other encoders' tables)."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    scale = sum(q * 100 / s for q, s in zip(tables[0], STANDARD_LUMINANCE)) / 64
    return max(1, min(100, round((200 - scale) / 2 if scale <= 100 else 5000 / scale)))


@_safely
def reencode(source: Path, output: Path, *, quality: int = 85, above_quality: int | None = None, larger_than_bytes: int = 0,
             min_saving_percent: float = MIN_SAVING_PERCENT) -> Result:
    """The JPEG again at `quality`, if its own (estimated) quality is above `above_quality` (default: `quality`) and it is
    larger than `larger_than_bytes`; written only if that saves `min_saving_percent`."""
    above_quality = quality if above_quality is None else above_quality
    if reason := gates.refusal(gates.probe_path(source), "reencode"):
        return _skip("reencode", source, reason)
    if (size := source.stat().st_size) <= larger_than_bytes:
        return _skip("reencode", source, f"{size:,} bytes: not larger than {larger_than_bytes:,}")
    with Image.open(source) as image:
        found = jpeg_quality(image)
        if found is not None and found <= above_quality:
            return _skip("reencode", source, f"quality about {found}: not above {above_quality}")
        image.load()
        return _write("reencode", source, output, image, image.info, icc=image.info.get("icc_profile") or None, quality=quality,
                      min_saving=min_saving_percent)


def without_motion_flags(xmp: bytes) -> bytes:
    """The XMP packet without Google's motion-photo properties and container directory (the video is not in the new file)."""
    return MOTION_ELEMENTS.sub(b"", MOTION_ATTRIBUTES.sub(b"", xmp))


def _write(action: str, source: Path, output: Path, image: Image.Image, info: dict, *, icc: bytes | None, quality: int,
           min_saving: float | None) -> Result:
    """Encode `image` as a JPEG beside `output`, check it, then link it to `output` (which must not exist)."""
    exif = info.get("exif") or None
    if exif and not exif.startswith(b"Exif\x00\x00"):
        exif = b"Exif\x00\x00" + exif
    if exif and len(exif) > JPEG_EXIF_MAX:
        return _skip(action, source, f"EXIF of {len(exif) - 6:,} bytes does not fit in a JPEG: not written without it")
    xmp = info.get("xmp") or None
    if isinstance(xmp, str):
        xmp = xmp.encode()
    xmp = without_motion_flags(xmp) if xmp else None
    if xmp and len(xmp) > JPEG_XMP_MAX:
        return _skip(action, source, f"XMP of {len(xmp):,} bytes does not fit in a JPEG segment: not written without it")
    before = source.stat().st_size
    descriptor, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    os.close(descriptor)
    temp = Path(temporary)
    try:
        options = {k: v for k, v in (("exif", exif), ("icc_profile", icc), ("xmp", xmp)) if v}
        image.save(temp, "JPEG", quality=quality, **options)
        after = temp.stat().st_size
        saved = round(100 * (before - after) / before, 1)
        if min_saving is not None and saved < min_saving:
            return _skip(action, source, f"would save {saved:g} %: less than {min_saving:g} %")
        orientation = Image.Exif()
        if exif:
            orientation.load(exif)
        problem, checked = verify.check_photo(temp, size=image.size, exif=exif, icc=icc, xmp=xmp,
                                              orientation=orientation.get(verify.ORIENTATION, 1))
        if problem:
            return _skip(action, source, f"the new file failed its check: {problem}")
        os.link(temp, output)  # fails if `output` exists: nothing is overwritten
        return Result(action, str(source), str(output), before, after, saved, None, checked)
    except FileExistsError:
        return _skip(action, source, f"{output.name} already exists: not overwritten")
    finally:
        temp.unlink(missing_ok=True)


@_safely
def strip_location(source: Path, output: Path) -> Result:
    """A copy without GPS and place names, written by exiftool (which rewrites metadata only: JPEG segments, HEIF
    items, QuickTime atoms; the image data is copied as is), then checked pixel for pixel."""
    if reason := gates.refusal(gates.probe_path(source), "strip_location"):
        return _skip("strip_location", source, reason)
    before_tags = verify.exiftool_json(source)[0]
    if not verify.location_tags(before_tags):
        return _skip("strip_location", source, "no location to strip")
    temp = output.parent / f".{output.name}.{os.getpid()}.partial{output.suffix}"
    try:
        run = subprocess.run(["exiftool", "-q", "-m", *STRIP_LOCATION, "-o", str(temp), str(source)], capture_output=True,
                             text=True, timeout=EXIFTOOL_SECONDS)
        if run.returncode != 0 or not temp.exists():
            return _skip("strip_location", source, f"exiftool could not write it: {run.stderr.strip() or run.returncode}")
        problem, checked = verify.check_stripped(source, temp, before_tags, verify.exiftool_json(temp)[0])
        if problem:
            return _skip("strip_location", source, f"the new file failed its check: {problem}")
        before, after = source.stat().st_size, temp.stat().st_size
        os.link(temp, output)
        return Result("strip_location", str(source), str(output), before, after, round(100 * (before - after) / before, 1), None, checked)
    except FileExistsError:
        return _skip("strip_location", source, f"{output.name} already exists: not overwritten")
    finally:
        temp.unlink(missing_ok=True)


def action_of(transform: Callable[..., Result]) -> str:
    """The rule action a transform function carries out ("convert" for convert_heic)."""
    return "convert" if transform.__name__ == "convert_heic" else transform.__name__  # the others are named for theirs
