"""What a rule may know about a file, gathered by a backend (local folder or Nextcloud), and the
kinds a file is: photo or video, and also screenshot or messenger media, by name, folder and
(for iOS screenshots) the EXIF UserComment. Pure: no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from ..core.kinds import kind_of

# WhatsApp names what it saves IMG-20241124-WA0003.jpg / VID-…-WA…; Signal signal-2024-11-24-153012.jpg;
# Telegram Android photo_2024-11-24_15-30-12.jpg
MESSENGER_NAME = re.compile(r"^((IMG|VID|AUD|STK|PTT)-\d{8}-WA\d{4}|signal-\d{4}-\d{2}-\d{2}-\d{6}|photo_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}|video_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})", re.I)
# The folders the phone apps' auto upload takes them from (Android uploads a local folder into a
# remote one of the same name: InstantUpload/WhatsApp Images, …)
MESSENGER_FOLDER = re.compile(r"(^|/)(whatsapp( business)? (images|video|animated gifs|stickers)|whatsapp|telegram( images| video)?|signal|viber|messenger|wechat|threema)(/|$)", re.I)
SCREENSHOT_FOLDER = re.compile(r"(^|/)(screenshots?|screen ?shots|bildschirmfotos|captures d.écran|capturas de pantalla)(/|$)", re.I)


@dataclass(frozen=True)
class FileFacts:
    """One file as the rules see it. Paths are relative to the root rules are written against
    (the user's root on Nextcloud, the library folder locally)."""

    path: str
    size: int
    mtime: float | None  # seconds since the epoch
    capture: float | None = None  # the organiser's capture time
    upload: float | None = None  # Nextcloud's upload time
    file_id: int | None = None
    format: str | None = None  # by content (magic bytes), never by extension
    megapixels: float | None = None  # when known without decoding (quality rules check again before acting)
    lines: int | None = None  # a video's short side in pixels, when known
    user_comment: str | None = None  # EXIF UserComment: iOS writes "Screenshot"
    favorite: bool = False
    tags: frozenset[str] = frozenset()
    shared_by: str | None = None  # the path shared (the file itself or a folder above it)
    mount: str | None = None  # "group folder", "external storage": not the user's own storage
    in_inbox: bool = False
    duplicate_of: str | None = None  # the library file with the identical content (for a file left in an inbox)
    converted_to: str | None = None  # the JPEG a quality rule made of this file, beside it (its hashes: extra["conversion"])
    live_peer: str | None = None  # the other half of a live photo
    live_video: bool = False  # this is the video half: it goes and comes back with its still
    edited_after_upload: bool = False
    hash: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def folder(self) -> str:
        parent = str(PurePosixPath(self.path).parent)
        return "" if parent == "." else parent


def kinds_of(path: str, user_comment: str | None = None) -> frozenset[str]:
    """`photo` or `video`, plus `screenshot` and `messenger` when the name, a folder or the
    metadata says so; empty for anything else. A screenshot and a messenger image are photos too."""
    name = PurePosixPath(path).name
    base = kind_of(name)
    if base == "other":
        return frozenset()
    kinds = {"video"} if base == "video" else {"photo"}
    folder = str(PurePosixPath(path).parent)
    if base == "screenshot" or SCREENSHOT_FOLDER.search(folder) or (user_comment or "").strip().lower() == "screenshot":
        kinds.add("screenshot")
    if MESSENGER_NAME.match(name) or MESSENGER_FOLDER.search(folder):
        kinds.add("messenger")
    return frozenset(kinds)

