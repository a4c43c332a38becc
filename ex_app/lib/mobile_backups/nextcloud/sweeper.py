"""The sweep: finds uploads that no webhook brought (the app was down, a delivery was lost), with bounded load.

Each look at a user ("visit") is one WebDAV SEARCH for the user's files with `nc:upload_time` after the
previous visit (less OVERLAP): apps/dav's FileSearchBackend lets that property be searched, and the column
has an index (`fce_utime_idx`). The answer holds only the recent uploads, where a PROPFIND answers with
every file of a folder (a waiting backlog of thousands on every pass), one request per inbox. The settings of a user are read only when the SEARCH found
something. A full listing (PROPFIND of the inbox folders, with upload times) is made only where the app
knows nothing yet: a user's first visit (the app's first enable) and after a user switched organising on
again, to count the files that were there before (backlog.py), and when a waiting backlog is to be organised.

Visits are spread evenly over the sweep interval, at most STEADY_RATE requests per second on average
(a cycle takes longer than the interval on a large server). After the app starts (it may have been down)
or is enabled, every user is visited at once, at up to CATCH_UP_RATE requests per second: each visit
looks back to that user's previous one, so what was uploaded while the app was down is found.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

from ..core.kinds import kind_of
from .app_state import AppState
from .backlog import Backlogs, uploaded_at, waiting_text
from .settings import AdminConfig, UserConfig
from .store import DAV, NAMESPACES, NC, DavError, NextcloudStore
from .work_queue import WorkQueue
from .worker import inbox_of

log = logging.getLogger("mobile_backups")
STEADY_RATE = 0.5  # requests per second of the slow cycle, on average, at most
CATCH_UP_RATE = 50.0  # requests per second after a start or an enable: 10,000 users' SEARCHes in about 200 s
OVERLAP = 120.0  # a visit looks back this far before the previous one: clocks that differ, uploads finishing meanwhile
RETRY_SECONDS = 30.0  # users whose visit failed in a catch-up are visited again this soon (jittered)
CONFIG_REQUESTS = 2  # what reading a user's settings may cost (preferences, groups and time zone)
SWEPT = "swept"  # (user, SWEPT): {"until": the time of the user's last visit}
SELECT = "<d:getcontentlength/><d:getlastmodified/><d:resourcetype/><nc:upload_time/><d:creationdate/>"
PROPFIND_BODY = f'<?xml version="1.0"?><d:propfind {NAMESPACES}><d:prop>{SELECT}</d:prop></d:propfind>'


@dataclass(frozen=True)
class Found:
    path: str
    size: int
    mtime: float | None
    uploaded: float  # Nextcloud's upload time, else the creation time, else the file time


def _found(store: NextcloudStore, element: ET.Element) -> Found | None:
    """A file of a PROPFIND or SEARCH answer (None for a folder)."""
    prop = f"{DAV}propstat/{DAV}prop/"
    if element.find(f"{prop}{DAV}resourcetype/{DAV}collection") is not None:
        return None
    modified, created = element.findtext(f"{prop}{DAV}getlastmodified"), element.findtext(f"{prop}{DAV}creationdate")
    mtime = parsedate_to_datetime(modified).timestamp() if modified else None
    try:
        creation = datetime.fromisoformat(created).timestamp() if created else 0.0
    except ValueError:
        creation = 0.0
    upload = element.findtext(f"{prop}{NC}upload_time") or ""
    return Found(store.rel(element), int(element.findtext(f"{prop}{DAV}getcontentlength") or 0), mtime,
                 uploaded_at(float(upload) if upload.strip().isdigit() else 0.0, max(creation, 0.0), mtime))


def listing(store: NextcloudStore, folder: str, recursive: bool) -> Iterator[Found]:
    """The files in a folder (and its subfolders when `recursive`), one PROPFIND per folder; nothing for a missing folder."""
    elements = store.dav_multistatus("PROPFIND", f"files/{store.user}/{folder}", PROPFIND_BODY, depth=1)
    for element in elements:
        path = store.rel(element)
        if path == folder.strip("/"):
            continue
        if (found := _found(store, element)) is not None:
            yield found
        elif recursive:
            yield from listing(store, path, recursive)


def uploaded_since(store: NextcloudStore, since: float) -> Iterator[Found]:
    """The user's files uploaded after `since` (a SEARCH by `nc:upload_time`, which Nextcloud's index answers)."""
    where = (f"<d:and><d:gt><d:prop><nc:upload_time/></d:prop><d:literal>{max(0, int(since))}</d:literal></d:gt>"
             "<d:not><d:is-collection/></d:not></d:and>")
    for element in store.search([""], where, SELECT):
        if (found := _found(store, element)) is not None:
            yield found


class Clock(Protocol):
    def now(self) -> float: ...
    def wait(self, seconds: float) -> bool: ...  # True when woken early (a catch-up was asked for, or a stop)


class RealClock:
    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake

    def now(self) -> float:
        return time.time()

    def wait(self, seconds: float) -> bool:
        woken = self.wake.wait(seconds)
        self.wake.clear()
        return woken


class Host(Protocol):
    """What the sweeper needs of the app (app.App)."""

    queue: WorkQueue
    state: AppState
    backlogs: Backlogs
    enabled: threading.Event
    stopped: threading.Event

    def users(self) -> list[str]: ...
    def admin(self) -> AdminConfig: ...
    def config_for(self, user: str, fresh: bool = False) -> UserConfig: ...
    def store(self, user: str) -> NextcloudStore: ...
    def user_gone(self, user: str) -> bool: ...
    def forget(self, user: str) -> None: ...
    def tell_backlog(self, user: str, text: str) -> None: ...
    def refresh_webhooks(self) -> None: ...


class Sweeper:
    def __init__(self, host: Host, clock: Clock | None = None) -> None:
        self.host = host
        self.wake = threading.Event()
        self.clock = clock or RealClock(self.wake)
        self._catch_up: list[str] | None = None  # users to visit at once ([] : every user)
        self._last = ""  # the last user the slow cycle visited: it goes on from there after a catch-up

    def catch_up(self) -> None:
        """Visit every user at once (at CATCH_UP_RATE): after a start or an enable."""
        self._catch_up = []
        self.wake.set()

    def soon(self, user: str) -> None:
        """Visit this user at once (they switched organising on again)."""
        if self._catch_up != []:
            self._catch_up = [*(self._catch_up or []), user]
            self.wake.set()

    def run(self) -> None:
        while not self.host.stopped.is_set():
            self.host.enabled.wait()
            if self.host.stopped.is_set():
                return
            self.cycle()

    def cycle(self) -> None:
        """One pass: over the users a catch-up asked for (all of them), else over every user, spread over the interval."""
        catching_up, self._catch_up = self._catch_up, None
        try:
            users = catching_up or self.host.users()
        except OSError as err:
            log.warning("sweep: could not list users: %s", err)
            self.clock.wait(RETRY_SECONDS * random.uniform(0.5, 1.5))
            self._catch_up = catching_up
            return
        if not users:
            self.clock.wait(self.host.admin().sweep_interval)
            return
        everyone = len(users)
        if catching_up is None:
            users = [u for u in sorted(users) if u > self._last]
        self.host.queue.revive()  # what waits after failures is tried again at every pass
        failed = []
        for user in users:
            if self.host.stopped.is_set() or not self.host.enabled.is_set():
                return
            try:
                cost = self.visit(user)
            except Exception as err:
                log.warning("sweep of %s failed: %s", user, err)
                failed.append(user)
                cost = 1
            if catching_up is None:
                self._last = user
                gap = max(self.host.admin().sweep_interval / everyone, cost / STEADY_RATE)
            else:
                gap = cost / CATCH_UP_RATE
            if self.clock.wait(gap) and self._catch_up is not None and catching_up is None:
                return  # a catch-up was asked for: it is made now, then this pass goes on
        if not catching_up:  # a whole pass (not a look at a few users)
            self._last = ""
            self.host.state.put("", "sweep", {"time": self.clock.now(), "users": everyone, "catch_up": catching_up is not None})
        try:
            self.host.refresh_webhooks()
        except Exception as err:
            log.warning("could not update the webhooks' inbox filter: %s", err)
        if failed and catching_up is not None:  # those whose look failed in a catch-up are looked at again soon
            self.clock.wait(RETRY_SECONDS * random.uniform(0.5, 1.5))
            if self._catch_up is None:
                self._catch_up = failed

    def visit(self, user: str, consent: bool = False) -> int:
        """Queue the user's files that no event brought; the backlog only with consent (`consent`: the user
        asked now). Returns the requests it made, about."""
        host, started = self.host, self.clock.now()
        store = host.store(user)
        seen = host.state.get(user, SWEPT).get("until")
        choice = "yes" if consent else host.admin().backlog
        full = consent or seen is None or host.backlogs.listing_due(user) or (choice == "yes" and host.backlogs.waiting(user)[0] > 0)
        try:
            found = None if full else list(uploaded_since(store, seen - OVERLAP))
            if found == []:
                host.state.put(user, SWEPT, {"until": started})
                return store.requests
            config = host.config_for(user).to_act_on()  # not swept on the admin's defaults: this user is looked at again
            if config.enabled:
                found = found if found is not None else [f for inbox in config.inboxes for f in listing(store, inbox, inbox != config.library)]
                self._queue(user, config, found, choice, consent, full)
        except DavError as err:
            if err.status == 401 and host.user_gone(user):
                host.forget(user)
                return store.requests
            raise
        host.state.put(user, SWEPT, {"until": started})
        return store.requests + CONFIG_REQUESTS

    def _queue(self, user: str, config: UserConfig, found: list[Found], choice: str, consent: bool, full: bool) -> None:
        host = self.host
        since = math.floor(host.backlogs.since(user))  # Nextcloud's upload times are whole seconds
        new, old = [], []
        for f in found:
            if inbox_of(f.path, config) is not None and not host.queue.is_settled(user, f.path, f.size, f.mtime):
                (new if f.uploaded >= since else old).append(f)
        if new:
            host.queue.add_many(user, [f.path for f in new])
            log.info("sweep: %d file(s) to look at for %s", len(new), user)
        if choice == "yes" and (old or consent):
            host.backlogs.start(user, [f.path for f in old], consent)
            if old:
                log.info("sweep: %d older file(s) of %s to organise", len(old), user)
        elif full:
            media = [f for f in old if kind_of(f.path) != "other"] if choice == "ask" else []
            folders = sorted({inbox_of(f.path, config) or "" for f in media})
            videos = sum(kind_of(f.path) == "video" for f in media)
            if host.backlogs.listed(user, len(media), videos, folders):
                host.tell_backlog(user, waiting_text(len(media), videos, folders))
