"""When a picture was taken: pure functions from metadata, name and mtime to a local time.

The rules follow exiftool's tag semantics: an offset belongs only to its own date
(OffsetTimeOriginal to DateTimeOriginal, never IFD0 OffsetTime), QuickTime `mvhd`
and file times are UTC, and IFD0 DateTime (ModifyDate) is an edit time, never used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo

from .filenames import date_from_name
from .media import MediaInfo

QUICKTIME_EPOCH = datetime(1904, 1, 1, tzinfo=timezone.utc)
EPOCH_DAYS = {date(1970, 1, 1), date(1969, 12, 31)}
MIN_YEAR = 1800

_DATETIME = re.compile(
    r"^\s*(\d{4})[:\-/.](\d{2})[:\-/.](\d{2})"
    r"(?:[T\s]+(\d{2}):(\d{2})(?::(\d{2}))?(?:[.,](\d+))?)?"
    r"\s*(Z|(?:GMT|UTC)?[+-]\d{2}:?\d{2})?\s*$"
)
_OFFSET = re.compile(r"^\s*(Z|(?:GMT|UTC)?([+-])(\d{2}):?(\d{2}))\s*$")  # Apple Vision Pro's XMP: "GMT+02:00"
_SUBSEC = re.compile(r"^\s*(\d{1,9})\s*$")


@dataclass(frozen=True)
class Taken:
    """A local wall-clock capture time, with its UTC offset when one is known."""

    local: datetime  # naive: the clock on the wall where the picture was taken
    offset: timedelta | None = None
    date_only: bool = False

    def iso(self) -> str:
        if self.date_only:
            return self.local.date().isoformat()
        spec = "seconds" if not self.local.microsecond else "milliseconds" if not self.local.microsecond % 1000 else "microseconds"
        text = self.local.isoformat(timespec=spec)
        if self.offset is not None:
            text += _format_offset(self.offset)
        return text


@dataclass(frozen=True)
class Capture:
    taken: Taken | None
    source: str | None  # exif, xmp, a video container (quicktime, avi, matroska, asf), filename, mtime


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def plausible(moment: datetime) -> bool:
    """False for the placeholder dates devices write when they know nothing."""
    return moment.year >= MIN_YEAR and moment.date() not in EPOCH_DAYS


def parse_offset(text: str | None) -> timedelta | None:
    match = _OFFSET.match(text or "")
    if not match:
        return None
    if match.group(1) == "Z":
        return timedelta(0)
    sign = -1 if match.group(2) == "-" else 1
    hours, minutes = int(match.group(3)), int(match.group(4))
    if hours > 14 or minutes > 59:
        return None
    return sign * timedelta(hours=hours, minutes=minutes)


def parse_datetime(text: str | None, subsec: str | None = None, offset: str | None = None) -> Taken | None:
    """An EXIF/XMP/QuickTime date string as a `Taken`, or None when blank or impossible."""
    match = _DATETIME.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, own_offset = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:  # 0000, 00, month 13, Feb 30, hour 25 ...
        return None
    if not plausible(moment):
        return None
    digits = fraction or (_SUBSEC.match(subsec).group(1) if subsec and _SUBSEC.match(subsec) else None)
    if digits and hour is not None:
        moment = moment.replace(microsecond=int(digits[:6].ljust(6, "0")))
    zone = parse_offset(own_offset) if own_offset else parse_offset(offset)
    return Taken(moment, None if hour is None else zone, date_only=hour is None)


def from_utc(moment: datetime, zone: tzinfo | None) -> Taken | None:
    """A UTC instant shown in the user's zone (None: this machine's local zone)."""
    local = moment.astimezone(zone) if zone is not None else moment.astimezone()
    if not (plausible(moment) and plausible(local.replace(tzinfo=None))):
        return None
    return Taken(local.replace(tzinfo=None), local.utcoffset())


def capture_time(info: MediaInfo, *, is_video: bool, name: str, mtime: float | None, zone: tzinfo | None) -> Capture:
    """The capture time by the documented order of sources; Capture(None, None) if none is usable."""
    exif = info.exif
    for source, taken in (
        ("exif", lambda: parse_datetime(exif.get("DateTimeOriginal"), exif.get("SubSecTimeOriginal"), exif.get("OffsetTimeOriginal"))),
        ("exif", lambda: parse_datetime(exif.get("DateTimeDigitized"), exif.get("SubSecTimeDigitized"), exif.get("OffsetTimeDigitized"))),
        ("xmp", lambda: _first_xmp(info)),
        (info.container or "video", lambda: _video(info, zone) if is_video else None),
        ("filename", lambda: _from_name(name, zone)),
        ("mtime", lambda: _from_mtime(mtime, zone)),
    ):
        found = taken()
        if found is not None:
            return Capture(found, source)
    return Capture(None, None)


def _first_xmp(info: MediaInfo) -> Taken | None:
    for key in ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate", "exif:DateTimeDigitized"):
        taken = parse_datetime(info.xmp.get(key))
        if taken is not None:
            return taken
    return None


def _video(info: MediaInfo, zone: tzinfo | None) -> Taken | None:
    """The video container's own date: QuickTime's Apple creation date (local) or mvhd (UTC), AVI's IDIT
    (local), Matroska's DateUTC or ASF's creation date (UTC)."""
    taken = parse_datetime(info.quicktime.get("com.apple.quicktime.creationdate") or info.video_local)
    if taken is not None:
        return taken
    if info.mvhd_created:
        return from_utc(QUICKTIME_EPOCH + timedelta(seconds=info.mvhd_created), zone)
    if info.video_utc is not None:
        return from_utc(info.video_utc, zone)
    return None


def _from_name(name: str, zone: tzinfo | None) -> Taken | None:
    found = date_from_name(name)
    if found is None:
        return None
    moment, is_utc, date_only = found
    if is_utc:
        return from_utc(moment.replace(tzinfo=timezone.utc), zone)
    return Taken(moment, None, date_only) if plausible(moment) else None


def _from_mtime(mtime: float | None, zone: tzinfo | None) -> Taken | None:
    if mtime is None or mtime <= 0:
        return None
    try:
        return from_utc(datetime.fromtimestamp(mtime, timezone.utc), zone)
    except (OverflowError, OSError, ValueError):
        return None
