"""Which files belong together, and where each group wants to go. Pure: no I/O.

A group has a lead (the photo or video that decides the folder) and companions
that follow it: the video half of a live photo and sidecars take the lead's base
name; edited copies (IMG_E0001) keep their own name in the lead's folder.

A still and a video of the same base name are a live photo only when they say so:
the phone app linked them on the server, or Apple's content identifier is the same
in both, or (neither carrying one) they were taken within LIVE_TOLERANCE.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PurePosixPath

from .capture import Capture, Taken
from .kinds import extension, is_sidecar
from .layout import Layout, render

LIVE_STILLS = frozenset({"heic", "heif", "jpg", "jpeg", "avif"})
LIVE_VIDEOS = frozenset({"mov", "mp4"})
_EDITED = re.compile(r"^([A-Za-z]+)_E(\d+)$")
_ORIGINAL_ADJUSTMENTS = re.compile(r"^([A-Za-z]+)_O(\d+)$")
# An iPhone live photo's video runs about 1.5 s either side of the still and both times come from
# the same clock, stored in whole seconds (QuickTime, mvhd) or with sub-seconds (EXIF): a real
# pair is at most ~2.5 s apart. Unrelated files that share a name (IMG_0001 from two phones, a
# video re-exported later) are minutes to years apart.
LIVE_TOLERANCE = timedelta(seconds=3)


@dataclass
class Item:
    """One file of the inbox and what the engine learnt about it."""

    path: str
    size: int
    mtime: float | None
    kind: str
    capture: Capture = field(default_factory=lambda: Capture(None, None))
    camera: str | None = None
    problem: str | None = None  # why it stays where it is
    damage: str | None = None  # what is wrong with a file organised anyway (its metadata was read)
    bytes_read: int = 0
    head: str | None = None  # hash of the first HEAD_BYTES, read with the metadata: tells same-size files apart
    content_id: str | None = None  # Apple's live-photo identifier (still: MediaGroupUUID; video: content.identifier)
    live_peer: str | None = None  # path of the file the server links it with as a live photo (Nextcloud's files-live-photo)
    user_comment: str | None = None  # EXIF/XMP UserComment ("Screenshot" in iOS screenshots)

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.path).parent)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.path).stem


@dataclass
class Member:
    item: Item
    role: str  # "live-photo video", "sidecar", "edited copy"
    renames_with_lead: bool  # takes the lead's (possibly suffixed) base name


@dataclass
class Group:
    lead: Item
    members: list[Member]
    destination: str  # the lead's wanted path relative to the library
    note: str | None = None  # why the lead goes where it goes, when that is not its own date

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.destination).parent)


def group_items(
    items: list[Item], layout: Layout, placed: Mapping[str, tuple[str, str]] | None = None
) -> tuple[list[Group], list[tuple[Item, str]]]:
    """Groups to place, and (item, reason) for every file that stays where it is.

    A live-photo video or sidecar whose lead stays, stays with it: a pair is never split.
    `placed` maps a file whose lead was organised in an earlier batch (a live-photo video
    that arrived after its still) to (that lead's name, its destination): it follows it there.
    """
    placed = placed or {}
    leader = _leaders(items)
    by_path = {item.path: item for item in items}
    stays: list[tuple[Item, str]] = []
    groups: dict[str, Group] = {}

    def lead_of(item: Item) -> tuple[Item | None, str]:
        path, role = leader.get(item.path, (None, ""))
        while path in leader and by_path[leader[path][0]].problem is None:
            path = leader[path][0]  # an edited copy's own live video follows the original
        return (by_path[path] if path else None), role

    for item in items:
        lead, role = lead_of(item)
        if item.problem and not is_sidecar(item.name):
            stays.append((item, item.problem))
        elif lead is not None and lead.problem is None:
            continue  # placed with its lead below
        elif lead is not None and role != "edited copy":
            stays.append((item, f"{role} of {lead.name}, which stays where it is"))
        elif item.path in placed:
            lead_name, lead_destination = placed[item.path]
            groups[item.path] = Group(item, [], _follow(item, lead_name, lead_destination), f"follows {lead_name}, organised earlier")
        elif item.kind == "other":
            stays.append((item, item.problem or _other_reason(item)))
        else:
            taken = item.capture.taken
            assert taken is not None  # analysis gives every media file without a problem a date
            destination = render(layout, taken.local, kind=item.kind, camera=item.camera, filename=item.name)
            groups[item.path] = Group(item, [], destination)
    for item in items:
        lead, role = lead_of(item)
        if lead is not None and lead.path in groups and not (item.problem and not is_sidecar(item.name)):
            renames = role != "edited copy" and item.name.lower().startswith(lead.stem.lower())
            groups[lead.path].members.append(Member(item, role, renames))
    return list(groups.values()), stays


def _follow(item: Item, lead_name: str, lead_destination: str) -> str:
    """The item's path beside its lead, under the lead's (possibly suffixed) base name."""
    lead_stem = PurePosixPath(lead_name).stem
    new_stem = PurePosixPath(lead_destination).stem
    name = new_stem + item.name[len(lead_stem) :] if item.name.lower().startswith(lead_stem.lower()) else item.name
    return str(PurePosixPath(lead_destination).parent / name)


def _other_reason(item: Item) -> str:
    if is_sidecar(item.name):
        return "sidecar without its photo or video in the same folder: left alone"
    return "not a photo or video: left alone"


def _leaders(items: list[Item]) -> dict[str, tuple[str, str]]:
    """item path -> (path of the item it follows, role)."""
    media: dict[str, dict[str, Item]] = defaultdict(dict)
    stems: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        if item.kind != "other":
            media[item.folder][item.name.lower()] = item
            stems[item.folder][item.stem.lower()].append(item)
    leader: dict[str, tuple[str, str]] = {}
    for item in items:
        same_stem = stems[item.folder]
        if item.kind == "video" and extension(item.name) in LIVE_VIDEOS:
            stills = [s for s in same_stem.get(item.stem.lower(), []) if extension(s.name) in LIVE_STILLS]
            linked = [s for s in media[item.folder].values()
                      if extension(s.name) in LIVE_STILLS and (s.live_peer == item.path or item.live_peer == s.path)]
            if still := next(iter(linked), None) or next((s for s in stills if s.live_peer is None and live_pair(s, item)), None):
                leader[item.path] = (still.path, "live-photo video")
        elif item.kind in ("photo", "screenshot") and (edited := _EDITED.match(item.stem)):
            originals = [o for o in same_stem.get(f"{edited[1]}_{edited[2]}".lower(), []) if o.kind != "video"]
            if originals:
                leader[item.path] = (originals[0].path, "edited copy")
        elif item.kind == "other" and is_sidecar(item.name) and (lead := _sidecar_lead(item, media[item.folder], same_stem)):
            leader[item.path] = (lead.path, "sidecar")
    return leader


def live_pair(still: Item, video: Item) -> bool:
    """Whether a still and a video of the same name are one live photo (the server's link aside).

    The same content identifier pairs; different ones, or one on a single side, do not. Without
    identifiers the capture times must agree within LIVE_TOLERANCE. A still that cannot be read
    stays, and its video with it: a real pair is never split.
    """
    if still.problem is not None:
        return None in (still.content_id, video.content_id) or still.content_id == video.content_id
    if still.content_id is not None or video.content_id is not None:
        return still.content_id == video.content_id
    gap = _apart(still.capture.taken, video.capture.taken)
    return gap is not None and gap <= LIVE_TOLERANCE


def _apart(a: Taken | None, b: Taken | None) -> timedelta | None:
    """The time between two capture times: as instants when both offsets are known, else as wall-clock times."""
    if a is None or b is None:
        return None
    if a.offset is not None and b.offset is not None:
        return abs((a.local - a.offset) - (b.local - b.offset))
    return abs(a.local - b.local)


def _sidecar_lead(item: Item, media: dict[str, Item], stems: dict[str, list[Item]]) -> Item | None:
    """IMG_1.jpg.xmp / IMG_1.jpg.json / IMG_1.jpg.supplemental-metadata.json / IMG_1.xmp / IMG_1.AAE / IMG_O1.AAE."""
    name = item.name.lower()
    for media_name, candidate in media.items():
        if name.startswith(media_name + ".") and candidate.kind != "other":
            return candidate
    stem = item.stem.lower()
    if (original := _ORIGINAL_ADJUSTMENTS.match(item.stem)) is not None:
        stem = f"{original[1]}_{original[2]}".lower()
    candidates = [c for c in stems.get(stem, []) if c.kind != "video"] or stems.get(stem, [])
    return candidates[0] if candidates else None
