"""Capture dates in the file names that phones and apps really produce.

Each pattern yields (naive datetime, is_utc, date_only). Google Pixel's `PXL_` names
carry UTC (the camera app formats them in UTC, unlike `IMG_`/`VID_` names, which are
local time); WhatsApp names carry only the day. An impossible date falls through
to the next pattern and finally to the next source.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

Found = tuple[datetime, bool, bool]


def _compact(m: re.Match[str]) -> Found:
    """IMG_20241124_153012, VID_…, PANO_…, MVIMG_…, PXL_20241124_153012345, 20241124_153012, Screenshot_20241124-153012."""
    y, mo, d, h, mi, s, ms = m.group("y", "mo", "d", "h", "mi", "s", "ms")
    moment = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int(ms or 0) * 1000)
    return moment, m.string[:4].upper() == "PXL_", False


def _dashed(m: re.Match[str]) -> Found:
    """Screenshot_2024-11-24-15-30-12-123_app, 'Screenshot 2024-11-24 at 15.30.12',
    'Screen Shot 2020-01-02 at 3.04.05 PM', '2024-11-24 15.30.12', signal-2024-11-24-153012."""
    y, mo, d, ampm = m.group("y", "mo", "d", "ampm")
    h, mi, s = m.group("h", "mi", "s") if m.group("h") else m.group("hc", "mc", "sc")
    hour = int(h)
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError("12-hour clock out of range")
        hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
    return datetime(int(y), int(mo), int(d), hour, int(mi), int(s)), False, False


def _ios_app(m: re.Match[str]) -> Found:
    """The Nextcloud iOS app's default 'yy-MM-dd HH-mm-ss NNNN'."""
    y, mo, d, h, mi, s = (int(g) for g in m.groups())
    return datetime(2000 + y, mo, d, h, mi, s), False, False


def _whatsapp(m: re.Match[str]) -> Found:
    """IMG-20241124-WA0001: WhatsApp keeps only the day it received the file."""
    return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3))), False, True


PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Found]], ...] = (
    (re.compile(r"^(?:IMG|VID|AUD|PTT|STK|DOC)-(\d{4})(\d{2})(\d{2})-WA\d+", re.I), _whatsapp),
    (re.compile(r"^(\d{2})-(\d{2})-(\d{2}) (\d{2})-(\d{2})-(\d{2})(?:\D|$)"), _ios_app),
    (
        re.compile(r"(?<!\d)(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})[_-](?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})(?P<ms>\d{3})?(?!\d)"),
        _compact,
    ),
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
            r"(?:[ _-](?:at[ _])?(?P<h>\d{1,2})[-.:](?P<mi>\d{2})[-.:](?P<s>\d{2})|-(?P<hc>\d{2})(?P<mc>\d{2})(?P<sc>\d{2}))"
            r"(?!\d)(?:[\s\u202f\u00a0]?(?P<ampm>[AaPp][Mm])\b)?"
        ),
        _dashed,
    ),
)


def date_from_name(name: str) -> Found | None:
    """The first pattern in `name` that gives a possible date, or None."""
    for pattern, build in PATTERNS:
        for match in pattern.finditer(name):
            try:
                return build(match)
            except ValueError:
                continue
    return None
