"""Files that were in a user's inboxes before organising was switched on for them (the backlog), the
user's consent to organise them, and the progress of a backlog being organised.

Organising is switched on for a user when the app is first enabled (a later disable and enable is an
interruption, like a restart: what was uploaded meanwhile is new), or when the user (or the admin's
groups) switches it on again after it was off. The app remembers that moment per user (`since`). A
file uploaded before it (Nextcloud's upload time; its creation time or file time where Nextcloud has
none) is backlog: organised only when the admin's setting says "yes", or the user started it on the
app's page (their `since` then becomes 0: everything is theirs to organise), or occ or the Files action
is pointed at it. A webhook's event is an upload or a move made now: always new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .app_state import AppState
from .work_queue import WorkQueue

ENABLED = "enabled_at"  # ("", ENABLED): {"time": when the app was first enabled; 0: before the app remembered it}
ORGANISING = "organising"  # (user, ORGANISING): {"on", "since", "listed": False while a full listing is due}
BACKLOG = "backlog"  # (user, BACKLOG): {"waiting", "folders", "notified_for", "total", "started", "finished"}


def uploaded_at(upload_time: float, creation_time: float, mtime: float | None) -> float:
    """When a file came: Nextcloud's upload time (0 for files it found on disk: then the creation time, then the file time)."""
    return upload_time or creation_time or mtime or 0.0


@dataclass(frozen=True)
class Progress:
    """A user's backlog being organised: files queued for it, left, since when; `finished` once none is left."""

    user: str
    total: int
    left: int
    started: float
    finished: float | None

    @property
    def done(self) -> int:
        return self.total - self.left

    def seconds_left(self, now: float) -> float | None:
        """At the pace so far; None until a file is done."""
        if self.finished is not None or not self.done:
            return None if self.finished is None else 0.0
        return self.left * (now - self.started) / self.done

    def record(self, now: float) -> dict:
        return {"user": self.user, "total": self.total, "done": self.done, "left": self.left,
                "seconds_left": self.seconds_left(now), "finished": self.finished is not None}

    def describe(self, now: float) -> str:
        if self.finished is not None:
            return f"{self.total} older file(s) organised"
        eta = self.seconds_left(now)
        return f"{self.done} of {self.total} older file(s) done, {self.left} left" + (f", about {duration(eta)} to go" if eta is not None else "")


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def waiting_text(count: int, videos: int, folders: Sequence[str]) -> str:
    """'1,234 older photos in InstantUpload': what a waiting backlog holds."""
    what = "photos and videos" if 0 < videos < count else "video" if videos else "photo"
    return f"{count:,} older {what}{'s' if count != 1 and videos in (0, count) else ''} in {', '.join(folders)}"


class Backlogs:
    def __init__(self, state: AppState, queue: WorkQueue, clock: Callable[[], float] = time.time) -> None:
        self.state, self.queue, self.clock = state, queue, clock

    def enabled(self, before_it_remembered: bool = False) -> None:
        """The app is enabled: its first enable is when organising was switched on for everyone who is on.
        `before_it_remembered`: an app enabled by a version that kept no such time (everything is new)."""
        if not self.state.get("", ENABLED):
            self.state.put("", ENABLED, {"time": 0.0 if before_it_remembered else self.clock()})

    def observe(self, user: str, on: bool) -> bool:
        """The user's settings were read: organising is on or off for them. Off -> on is a switch-on (True), dated
        now (a switch through the declarative form is seen late: files uploaded meanwhile whose webhook was lost wait
        with the backlog rather than be taken unasked); a full listing of their inboxes is then due, to count it."""
        record = self.state.get(user, ORGANISING)
        if record and record["on"] == on:
            return False
        switched = bool(record) and on
        since = self.clock() if switched else record.get("since", self.state.get("", ENABLED).get("time", 0.0))
        self.state.put(user, ORGANISING, {"on": on, "since": since, "listed": record.get("listed", False) and not switched})
        return switched

    def since(self, user: str) -> float:
        """When organising was switched on for the user: files uploaded before are their backlog."""
        return float(self.state.get(user, ORGANISING).get("since", self.state.get("", ENABLED).get("time", 0.0)))

    def listing_due(self, user: str) -> bool:
        return self.state.get(user, ORGANISING).get("listed") is False

    def listed(self, user: str, waiting: int, videos: int, folders: Sequence[str]) -> bool:
        """A full listing found this backlog waiting (not consented); True when the user is to be told
        (once per switch-on)."""
        organising = self.state.get(user, ORGANISING)
        if organising:
            self.state.put(user, ORGANISING, {**organising, "listed": True})
        record = self.state.get(user, BACKLOG)
        since = self.since(user)
        tell = bool(waiting) and record.get("notified_for") != since
        record = {**record, "waiting": waiting, "videos": videos, "folders": list(folders)}
        if tell:
            record["notified_for"] = since
        self.state.put(user, BACKLOG, record)
        return tell

    def waiting(self, user: str) -> tuple[int, int, list[str]]:
        """(files, videos among them, inbox folders) of the user's backlog that waits for consent, as last listed."""
        record = self.state.get(user, BACKLOG)
        return int(record.get("waiting", 0)), int(record.get("videos", 0)), list(record.get("folders", []))

    def start(self, user: str, paths: list[str], consent: bool) -> None:
        """Queue these backlog paths; with `consent` (the user asked), all of the user's files count as new from now on."""
        record = self.state.get(user, BACKLOG)
        running = record.get("total") and not record.get("finished")
        if paths:
            self.queue.add_backlog(user, paths)
            record = {**record, "total": (record["total"] if running else 0) + len(paths),
                      "started": record["started"] if running else self.clock(), "finished": None}
        record["waiting"] = 0
        self.state.put(user, BACKLOG, record)
        organising = self.state.get(user, ORGANISING)
        if organising or consent:  # listed now; with consent everything of theirs is new from now on
            self.state.put(user, ORGANISING, {**organising, "listed": True, **({"on": True, "since": 0.0} if consent else {})})

    def progress(self, user: str) -> Progress | None:
        """The user's backlog run, if there was one; a run with nothing left is marked finished here."""
        record = self.state.get(user, BACKLOG)
        if not record.get("total"):
            return None
        left = 0 if record.get("finished") else self.queue.backlog_left(user)
        if not left and not record.get("finished"):
            record = {**record, "finished": self.clock()}
            self.state.put(user, BACKLOG, record)
            self.queue.end_backlog(user)
        return Progress(user, int(record["total"]), left, float(record["started"]), record.get("finished"))

    def users(self) -> list[str]:
        """Users with a backlog run or a waiting backlog."""
        return self.state.scopes(BACKLOG)
