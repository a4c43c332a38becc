"""What a file is, from its name alone: photo, video, screenshot, sidecar or other."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

PHOTO_EXTENSIONS = frozenset(
    "jpg jpeg jpe jfif heic heif hif avif jxl png webp gif bmp tif tiff dng "
    "cr2 cr3 crw nef nrw arw srf sr2 orf rw2 raf pef srw x3f 3fr erf kdc mrw rwl iiq".split()
)
VIDEO_EXTENSIONS = frozenset("mp4 m4v mov qt 3gp 3g2 mkv webm avi mts m2ts mpg mpeg wmv".split())
SIDECAR_EXTENSIONS = frozenset({"aae", "xmp", "json"})
# Android, iOS, Windows (Snipping Tool: "Screenshot 2024-11-24 153012") and macOS, in macOS's main languages
SCREENSHOT = re.compile(
    r"^(screenshot|screen[ _]?shot|bildschirmfoto|capture d.[ée]cran|schermafbeelding|captura de (pantalla|tela|ecr[ãa])"
    r"|istantanea schermo|sk[äæ]rm(avbild|billede)|skjermbilde|zrzut ekranu|снимок экрана|スクリーンショット)",
    re.I,
)


def extension(name: str) -> str:
    return PurePosixPath(name).suffix[1:].lower()


def kind_of(name: str) -> str:
    """`photo`, `video`, `screenshot` or `other`, as the issue's plan output names them."""
    ext = extension(name)
    if ext in PHOTO_EXTENSIONS:
        return "screenshot" if SCREENSHOT.match(name) else "photo"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return "other"


def is_media(kind: str) -> bool:
    return kind != "other"


def is_sidecar(name: str) -> bool:
    return extension(name) in SIDECAR_EXTENSIONS
