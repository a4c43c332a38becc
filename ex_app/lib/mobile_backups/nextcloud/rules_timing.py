"""When rules run and when users are told, as pure functions of the time.

Rules run daily at the admin's hour in each user's time zone. A scheduled run acts in batches: a
notice announces, for one rule, the files it will take on a date `notice_days` ahead (one
notification per user and rule, never one per file); on that date the run takes those files it
still catches (a file favourited or tagged keep in between is spared), and the next notice
follows. A changed rule is a new rule: its notice comes again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

DAY = 86400.0


def slot(now: float, zone: tzinfo | None, hour: int) -> float:
    """The latest run time (the hour, in the zone) at or before `now`."""
    local = datetime.fromtimestamp(now, zone or timezone.utc)
    today = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    start = today if today <= local else (today - timedelta(days=1)).replace(hour=hour)
    return start.timestamp()


def run_due(now: float, zone: tzinfo | None, hour: int, last: float | None) -> bool:
    """Is a scheduled run due? Once per day after the hour; one that was missed (the app was down)
    runs as soon as it can. Never at the first look (`last` None): the first run waits for the hour."""
    return last is not None and last < slot(now, zone, hour) <= now


@dataclass(frozen=True)
class Notice:
    rule_key: str  # the rule's content key when the notice went out
    sent: float
    due: float  # from this time on, the announced files may be taken
    files: tuple[int | str, ...] = ()  # the ids (or paths) announced


def step(rule_key: str, notice: Notice | None, now: float, on_since: float = 0.0) -> str:
    """What a scheduled run does for one switched-on rule: "notify" (announce the next batch),
    "act" (the announced date has come), or "wait". A notice of other content (the rule changed),
    or from before the rule was last switched on, is no notice."""
    if notice is None or notice.rule_key != rule_key or notice.sent < on_since:
        return "notify"
    return "act" if now >= notice.due else "wait"


def due_date(now: float, zone: tzinfo | None, hour: int, notice_days: int) -> float:
    """The run time `notice_days` after now: the day the announced files go."""
    return slot(now + notice_days * DAY, zone, hour) if notice_days else now


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}" if size < 10 * scale else f"{size / scale:.0f} {unit}"
    return f"{size} bytes"


WHAT = {"screenshot": ("screenshot", "screenshots"), "messenger": ("messenger file", "messenger files"),
        "video": ("video", "videos"), "photo": ("photo", "photos")}
GOES = {"trash": ("goes to the trash", "go to the trash"), "archive": ("moves to {archive}", "move to {archive}"),
        "tag": ("gets the tag “{tag}”", "get the tag “{tag}”"),
        "convert": ("gets a JPEG beside it", "get a JPEG beside them"), "downscale": ("is downscaled", "are downscaled"),
        "reencode": ("is re-encoded", "are re-encoded"), "strip_location": ("loses its location", "lose their location"),
        "reencode_video": ("is re-encoded", "are re-encoded")}


def notice_text(count: int, size: int, kinds: frozenset[str], action: str, due: float, zone: tzinfo | None,
                archive: str | None = None, tag: str | None = None) -> str:
    """"37 screenshots (120 MB) go to the trash on 9 Dec"."""
    kind = next((k for k in ("screenshot", "messenger", "video", "photo") if kinds == {k}), None)
    one, many = WHAT[kind] if kind else ("file", "files")
    when = datetime.fromtimestamp(due, zone or timezone.utc)
    return (f"{count} {one if count == 1 else many} ({size_text(size)}) "
            + GOES[action][count != 1].format(archive=archive, tag=tag) + f" on {when.day} {when:%b}")
