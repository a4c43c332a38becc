"""Capture dates in the file names that phones and apps really produce.

Each pattern yields (naive datetime, is_utc, date_only). Google Pixel's `PXL_` names
carry UTC (the camera app formats them in UTC, unlike `IMG_`/`VID_` names, which are
local time); every other scheme here is the device's local time (Signal and both
Nextcloud apps format with the default time zone, see the README). WhatsApp's and
bare `YYYY-MM-DD` names carry only the day. An impossible date falls through to the
next match, then to the next pattern and finally to the next source. Bare digit runs
(counters, hashes, `DSC_20241124`) are never read as dates: every pattern needs the
separators or the prefix of a real naming scheme.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

Found = tuple[datetime, bool, bool]
YEARS = range(1900, 2100)  # a name's "date" outside this is a counter, not a date


def _moment(y: str, mo: str, d: str, h: str | None = None, mi: str | None = None, s: str | None = None, ms: str | None = None) -> datetime:
    if int(y) not in YEARS:
        raise ValueError("year out of range for a file name")
    return datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), int(ms or 0) * 1000)


def _compact(m: re.Match[str]) -> Found:
    """IMG_20241124_153012, VID_…, PXL_20241124_153012345 (UTC), 20241124_153012, Screenshot_20241124-153012,
    Screen_Recording_20241124-153012_App, WIN_20241124_15_30_12_Pro (Windows Camera)."""
    moment = _moment(*m.group("y", "mo", "d", "h", "mi", "s", "ms"))
    return moment, m.string[max(0, m.start() - 4) : m.start()].upper() == "PXL_", False


def _digits14(m: re.Match[str]) -> Found:
    """IMG20241124153012 (OnePlus, Oppo, Realme)."""
    return _moment(*m.groups()), False, False


def _dashed(m: re.Match[str]) -> Found:
    """2024-11-24 15.30.12, 'Screenshot 2024-11-24 at 3.30.12 PM', signal-2024-11-24-153012,
    'Screenshot 2024-11-24 153012' (Windows), photo_2024-11-24_15-30-12 (Telegram), 2024-11-24 (day only)."""
    y, mo, d, ampm = m.group("y", "mo", "d", "ampm")
    h, mi, s = m.group("h", "mi", "s") if m.group("h") else m.group("hc", "mc", "sc")
    if h is None:
        return _moment(y, mo, d), False, True
    hour = int(h)
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError("12-hour clock out of range")
        hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
    return _moment(y, mo, d, str(hour), mi, s), False, False


def _ios_app(m: re.Match[str]) -> Found:
    """The Nextcloud iOS app's default 'yy-MM-dd HH-mm-ss NNNN', optionally after its localised type ('Photo ')."""
    y, mo, d, h, mi, s = m.groups()
    return _moment(str(2000 + int(y)), mo, d, h, mi, s), False, False


def _whatsapp(m: re.Match[str]) -> Found:
    """IMG-20241124-WA0001: WhatsApp keeps only the day it received the file."""
    return _moment(*m.groups()), False, True


PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], Found]], ...] = (
    (re.compile(r"^(?:IMG|VID|AUD|PTT|STK|DOC)-(\d{4})(\d{2})(\d{2})-WA\d+", re.I), _whatsapp),
    (re.compile(r"^(?:[^\W\d_]+ )?(\d{2})-(\d{2})-(\d{2}) (\d{2})-(\d{2})-(\d{2})(?!\d)"), _ios_app),
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})[_-]"
            r"(?P<h>\d{2})(?P<u>_?)(?P<mi>\d{2})(?P=u)(?P<s>\d{2})(?P<ms>\d{3})?(?!\d)"
        ),
        _compact,
    ),
    (re.compile(r"(?:^|[_ ])(?:IMG|VID)(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?!\d)", re.I), _digits14),
    (
        re.compile(
            r"(?<!\d)(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
            r"(?:[ _-](?:[^\W\d_]{1,5}\.?[ _]){0,2}(?P<h>\d{1,2})(?P<sep>[-.:_])(?P<mi>\d{2})(?P=sep)(?P<s>\d{2})"
            r"|[ _-](?P<hc>\d{2})(?P<mc>\d{2})(?P<sc>\d{2}))?"
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
