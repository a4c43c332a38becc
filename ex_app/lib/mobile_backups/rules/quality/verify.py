"""The new file, re-opened and checked before anything replaces or joins it: a failed check is a skip.

`check_photo` decodes the output and compares what was meant to be written (size, EXIF block, the
tags people lose, orientation, ICC profile, XMP) with what a reader finds; `check_stripped` proves a
location strip changed metadata only (decoded pixels, or a video's media data, and a JPEG's scan data
byte-identical; a motion photo's video untouched; every tag but location as before, read by exiftool).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from PIL import Image

from ...core.media import boxes
from ...core.source import BlockReader
from ...store import LocalFile
from .gates import probe_path

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ORIENTATION = 0x0112
KEPT_TAGS = {  # what users complain about losing: name -> (IFD, tag)
    "capture date": (EXIF_IFD, 0x9003),
    "sub-seconds": (EXIF_IFD, 0x9291),
    "offset": (EXIF_IFD, 0x9011),
    "camera": (0, 0x0110),
    "lens": (EXIF_IFD, 0xA434),
}
EXIFTOOL_SECONDS = 60
PLACE_NAMES = frozenset({"City", "State", "Country", "CountryCode", "Sublocation", "Province-State", "Sub-location"})
STRUCTURAL = frozenset({"QuickTime:MediaDataSize", "QuickTime:MediaDataOffset", "QuickTime:HandlerType", "XMP:XMPToolkit"})  # tags that say where things lie in the file, which a rewrite moves
VOLATILE = ("SourceFile", "File:", "ExifTool:", "Composite:")  # tags that name the file, not its content


def _tags(exif: Image.Exif) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, (ifd, tag) in KEPT_TAGS.items():
        value = (exif.get_ifd(ifd) if ifd else exif).get(tag)
        if value is not None:
            found[name] = value
    if gps := exif.get_ifd(GPS_IFD):
        found["GPS"] = {tag: gps[tag] for tag in (1, 2, 3, 4) if tag in gps}
    return found


def exif_tags(exif_block: bytes | None) -> dict[str, object]:
    """The kept tags of an EXIF block ("Exif\\0\\0" + TIFF, as Pillow and pillow_heif give it)."""
    exif = Image.Exif()
    if exif_block:
        exif.load(exif_block)
    return _tags(exif)


def check_photo(output: Path, *, size: tuple[int, int], exif: bytes | None, icc: bytes | None, xmp: bytes | None,
                orientation: int) -> tuple[str | None, tuple[str, ...]]:
    """(why the output fails, None if it passes; what was verified)."""
    checked: list[str] = []
    try:
        with Image.open(output) as image:
            if image.format != "JPEG":
                return f"the output is {image.format}, not JPEG", ()
            if image.size != size:
                return f"the output is {image.size[0]} x {image.size[1]}, not {size[0]} x {size[1]}", ()
            info, found = image.info, image.getexif()
            image.draft(image.mode, (image.width // 8, image.height // 8))  # libjpeg still decodes every coefficient
            image.load()
            checked += ["decodes", "size"]
    except Exception as err:  # whatever a decoder raises: the file is not what was meant
        return f"the output does not decode: {type(err).__name__}: {err}", tuple(checked)
    if exif and info.get("exif") != exif:
        return "the output's EXIF differs from what was written", tuple(checked)
    wanted = exif_tags(exif)
    if _tags(found) != wanted:
        return f"EXIF tags lost or changed: {sorted(set(wanted) ^ set(_tags(found)))}", tuple(checked)
    checked += ["exif"] * bool(exif) + list(wanted)
    if found.get(ORIENTATION, 1) != orientation:
        return f"orientation {found.get(ORIENTATION, 1)} where {orientation} was meant", tuple(checked)
    checked.append("orientation")
    for name, meant in (("icc", icc), ("xmp", xmp)):
        if meant and info.get("icc_profile" if name == "icc" else "xmp") != meant:
            return f"the output's {name.upper()} differs from what was written", tuple(checked)
        if meant:
            checked.append(name)
    return None, tuple(checked)


def exiftool_json(*paths: Path) -> list[dict]:
    """Every tag of each file, numeric values, with group names (`exiftool -j -n -G`)."""
    run = subprocess.run(["exiftool", "-j", "-n", "-G", "-a", *map(str, paths)], capture_output=True, text=True,
                         timeout=EXIFTOOL_SECONDS)
    return json.loads(run.stdout or "[]")


def location_tags(tags: dict) -> set[str]:
    """The tags (exiftool's group:name) that say where a file was made: GPS*, *Location*, place names."""
    names = {key: key.rpartition(":")[2] for key in tags if not key.startswith(VOLATILE)}
    return {key for key, name in names.items() if name.lower().startswith("gps") or "location" in name.lower() or name in PLACE_NAMES}


def pixel_digest(path: Path) -> str:
    """A digest of the decoded pixels (photos), or of the media data boxes ('mdat') of a video, which a
    metadata rewrite may move but must not change."""
    try:
        with Image.open(path) as image:
            return hashlib.sha256(image.tobytes()).hexdigest() + f":{image.size}:{image.mode}"
    except Image.UnidentifiedImageError:
        digest = hashlib.sha256()
        with LocalFile(path) as source:
            reader = BlockReader(source)
            for kind, start, end in boxes(reader, 0, reader.size):
                for at in range(start, end, 1 << 20) if kind == b"mdat" else ():
                    digest.update(source.read_at(at, min(1 << 20, end - at)))
        return "mdat:" + digest.hexdigest()


def jpeg_scan(path: Path) -> bytes:
    """A JPEG's bytes from its first start-of-scan marker to its end-of-image marker (the entropy-coded image data)."""
    data = path.read_bytes()
    found = probe_path(path)
    start = data.find(b"\xff\xda")
    end = found.video[0] if found.video else len(data)
    return data[start : data.rfind(b"\xff\xd9", 0, end) + 2]


def check_stripped(source: Path, output: Path, before: dict, after: dict) -> tuple[str | None, tuple[str, ...]]:
    """Checks of a location strip: exiftool's readings `before` and `after`, then the image data itself."""
    if left := location_tags(after):
        return f"location tags still present: {sorted(left)}", ()
    kept = {k: v for k, v in before.items() if not k.startswith(VOLATILE) and k not in location_tags(before)}
    changed = sorted(k for k, v in kept.items() if after.get(k) != v and k not in STRUCTURAL)
    if changed:
        return f"tags changed by the strip: {changed[:8]}", ()
    checked = ["location removed", "other tags kept"]
    if pixel_digest(source) != pixel_digest(output):
        return "the pixels changed", tuple(checked)
    checked.append("pixels identical")
    source_probe, output_probe = probe_path(source), probe_path(output)
    if source_probe.format == "jpeg":
        if jpeg_scan(source) != jpeg_scan(output):
            return "the JPEG scan data changed", tuple(checked)
        checked.append("scan data identical")
    if source_probe.video:
        if output_probe.video is None or _slice(source, source_probe.video) != _slice(output, output_probe.video):
            return "the motion photo's video did not survive", tuple(checked)
        checked.append("motion video identical")
    return None, tuple(checked)


def _slice(path: Path, where: tuple[int, int]) -> bytes:
    with open(path, "rb") as f:
        f.seek(where[0])
        return f.read(where[1])
