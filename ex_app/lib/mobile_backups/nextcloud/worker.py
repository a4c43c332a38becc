"""The ExApp's worker: turns queued paths into organised files, one user at a time.

Events and sweeps only put paths in the durable queue; this worker looks at each path's
folder, analyses the file and the files that belong with it (live-photo halves, sidecars,
edited copies), and places them with the same engine as the command line.
"""

from __future__ import annotations

import itertools
import logging
import posixpath
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..content_index import ContentIndex
from ..core.groups import Item, live_pair
from ..core.kinds import is_sidecar, kind_of
from ..engine import RETRY, VANISHED, Decision, Placer, Settings, analyse, execute, finish_interrupted, organise, placer_for, plan, within
from ..journal import Journal
from ..store import Entry, Store, Unavailable
from .settings import UserConfig
from .store import DavError
from .work_queue import Job, WorkQueue

log = logging.getLogger("mobile_backups")


class UserStore(Store, Protocol):
    """One user's files, paths relative to the user's root (NextcloudStore, or a stand-in in tests)."""

    requests: int  # made so far, for the log

    def entries(self, folder: str) -> list[Entry]: ...
    def live_peer(self, path: str) -> str | None: ...  # the file the phone app linked with it as a live photo


FOLLOW_WITHIN = 24 * 3600.0  # a late live-photo video or sidecar follows a photo placed this recently
SETTLE_SECONDS = 1.0  # Created and Written of one upload come together: wait this long after the last event
READERS = 4  # parallel metadata reads per folder
READ_AHEAD = 24  # files read ahead of the one being planned: what the readers have in hand while the moves run
PART_FILES = 8  # files planned at once (whole bundles): the first moves wait for no more reads than that
MOVES_AT_ONCE = 3  # groups of a part moved side by side (each group in its order)
QUIET_SECONDS = 20.0  # a user's batch is over (and notified) when nothing was left to do for this long
USERS_AT_ONCE = 4  # users organised side by side: one whose requests stall does not hold up the others
PROBE_SECONDS = 60.0  # while files wait after failures and none is due sooner, one is tried this often: when it works, all come back
RELIST_SECONDS = 600.0  # a walk of the library (a PROPFIND per folder) at most this often per user; what the
# engine places and the folders it lists are learnt at once
_EDIT = re.compile(r"^([a-z]+)_[eo](\d+)$")


def stem_key(name: str) -> str:
    """What ties files together: `IMG_0001` for IMG_0001.HEIC, .MOV, .AAE, IMG_E0001.HEIC, IMG_0001.HEIC.xmp."""
    base = name.lower().split(".", 1)[0]
    match = _EDIT.match(base)
    return f"{match[1]}_{match[2]}" if match else base


@dataclass
class Summary:
    """What one batch did for a user: what the notification says."""

    moved: int = 0  # photos and videos (their sidecars move too, uncounted)
    videos: int = 0
    duplicates: int = 0
    problems: int = 0
    damaged: int = 0  # organised though damaged (their end is missing): the log says what is wrong
    folders: Counter[str] = field(default_factory=Counter)  # destination folders, relative to the library
    last: float = field(default_factory=time.time)  # wall time: kept in the queue across restarts

    @classmethod
    def from_record(cls, record: dict) -> Summary:
        return cls(**{**record, "folders": Counter(record.get("folders") or {})})

    def record(self) -> dict:
        return {**vars(self), "folders": dict(self.folders)}

    def add_move(self, kind: str, destination: str, damaged: bool = False) -> None:
        """A file moved to `destination` (relative to the library)."""
        self.last = time.time()
        self.moved += kind != "other"
        self.videos += kind == "video"
        self.folders[posixpath.dirname(destination)] += 1
        self.damaged += damaged

    def add(self, decision: Decision) -> None:
        self.last = time.time()
        if decision.action in ("move", "companion") and decision.destination:
            self.add_move(decision.item.kind, decision.destination, decision.item.damage is not None)
        elif decision.action == "duplicate":
            self.duplicates += 1
        elif decision.item.kind != "other" and decision.reason != VANISHED:  # a vanished file is not left anywhere
            self.problems += 1

    def common_folder(self, library: str) -> str:
        """The deepest folder that holds everything moved (the library itself at worst)."""
        parts = [f.split("/") for f in self.folders if f]
        common = []
        for level in zip(*parts) if parts else ():
            if len(set(level)) != 1:
                break
            common.append(level[0])
        return posixpath.join(library, *common)

    def describe(self, library: str) -> tuple[str, str]:
        where = self.common_folder(library)
        if self.moved:
            photos = self.moved - self.videos
            counts = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((photos, "photo"), (self.videos, "video")) if n]
            subject = f"{' and '.join(counts) or 'Sidecar files'} organised into {where}"
        else:
            subject = "Nothing was organised"
        rest = []
        if self.damaged:
            rest.append(f"{self.damaged} damaged file{'s' if self.damaged != 1 else ''} organised (see the Nextcloud log)")
        if self.duplicates:
            rest.append(f"{self.duplicates} duplicate{'s' if self.duplicates != 1 else ''} left in the inbox (identical files are already in the library)")
        if self.problems:
            rest.append(f"{self.problems} file{'s' if self.problems != 1 else ''} left in the inbox because of a problem (see the Nextcloud log)")
        folders = ", ".join(sorted(self.folders)[:5]) + (" …" if len(self.folders) > 5 else "")
        return subject, "; ".join(rest) or (f"Folders: {folders}" if folders else "All done.")


def bundles(entries: list[Entry], live_peer: Callable[[str], str | None]) -> list[list[Entry]]:
    """The entries in bundles that are planned together: those of one stem key (a photo, its edited copy,
    sidecars and live video) and those the server links as a live photo, whatever their names."""
    keys = {e.path: stem_key(posixpath.basename(e.path)) for e in entries}
    merged: dict[str, str] = {}  # stem key -> the key of the bundle it joined

    def root(key: str) -> str:
        while merged.get(key, key) != key:
            key = merged[key]
        return key

    for entry in entries:
        if (peer := live_peer(entry.path)) in keys:
            a, b = root(keys[entry.path]), root(keys[peer])
            if a != b:
                merged[max(a, b)] = min(a, b)
    found: dict[str, list[Entry]] = {}
    for entry in entries:
        found.setdefault(root(keys[entry.path]), []).append(entry)
    return list(found.values())


def read_ahead(pool: ThreadPoolExecutor, look: Callable[[Entry], Item | None], groups: list[list[Entry]],
               ahead: int = READ_AHEAD) -> Iterator[list[Item | None]]:
    """`look` at every entry, bundle after bundle, on the pool's threads, at most `ahead` files beyond
    the bundle handed out: the reads keep ahead of the moves without running far ahead of them."""
    flat = iter([(n, entry) for n, group in enumerate(groups) for entry in group])
    pending: deque[tuple[int, Future[Item | None]]] = deque()
    current: list[Item | None] = []
    for n, entry in itertools.islice(flat, ahead):
        pending.append((n, pool.submit(look, entry)))
    try:
        for n in range(len(groups)):
            while pending and pending[0][0] == n:
                current.append(pending.popleft()[1].result())
                if (more := next(flat, None)) is not None:
                    pending.append((more[0], pool.submit(look, more[1])))
            yield current
            current = []
    finally:
        for _, future in pending:
            future.cancel()


def parts(bundled: Iterator[list[Item | None]], size: int) -> Iterator[list[Item | None]]:
    """Whole bundles, gathered into parts of at least `size` files (the last may be smaller)."""
    part: list[Item | None] = []
    for bundle in bundled:
        part.extend(bundle)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def inbox_of(path: str, config: UserConfig, extra: str | None = None) -> str | None:
    """The inbox a path is in (or `extra`, a folder the user asked to organise), unless it already
    sits in the library's folders."""
    if extra and within(path, extra) and path != extra and not within(path, config.library):
        return extra
    for inbox in config.inboxes:
        if within(path, inbox) and path != inbox:
            library_inside = within(config.library, inbox)
            if library_inside and within(path, config.library) and posixpath.dirname(path) != config.library:
                return None  # already organised (iOS: the library is the upload folder)
            return inbox
    return None


class Organiser:
    def __init__(self, store_for: Callable[[str], UserStore], queue: WorkQueue, storage: Path, config_for: Callable[[str], UserConfig],
                 on_batch: Callable[[str, Summary], None] | None = None, active: threading.Event | None = None,
                 user_gone: Callable[[str], bool] | None = None, on_placed: Callable[[str, list[str]], None] | None = None) -> None:
        self.store_for = store_for
        self.queue = queue
        self.storage = storage
        self.config_for = config_for
        self.on_batch = on_batch  # told once a user's batch is over (a notification), not per file
        self.active = active or threading.Event()  # cleared while the app is disabled: no call to Nextcloud then
        if active is None:
            self.active.set()
        self.user_gone = user_gone  # asked after a 401: whether the user no longer exists
        self.on_placed = on_placed  # told the library paths of the media each part placed (quality rules at upload)
        self.stop = threading.Event()
        self._recovered: set[str] = set()
        self._failing = False  # a request failed for want of an answer: the next that works brings parked work back
        self._probed = 0.0

    def journal_dir(self, user: str) -> Path:
        return self.storage / "journals" / user

    def content_index(self, user: str, moves: bool = True) -> ContentIndex:
        """The user's library by content; a walk of the library counts as current for RELIST_SECONDS."""
        return ContentIndex(self.storage / "content" / f"{user}.sqlite", max_age=RELIST_SECONDS, records_placements=moves)

    def run(self) -> None:
        """Until stopped: process due paths, USERS_AT_ONCE users side by side; sleep until the next is
        due or an event arrives. While the app is disabled, nothing is done (no call to Nextcloud)."""
        busy: dict[str, Future[None]] = {}
        with ThreadPoolExecutor(USERS_AT_ONCE, thread_name_prefix="organise") as pool:
            while not self.stop.is_set():
                if not self.active.wait(1.0):
                    continue
                for user in [u for u, f in busy.items() if f.done()]:
                    if (err := busy.pop(user).exception()) is not None:
                        log.error("%s: organising failed: %s", user, err, exc_info=err)
                self.queue.wake.clear()
                for user, jobs in self.queue.due(skip=frozenset(busy)).items():
                    busy[user] = pool.submit(self.process, user, jobs)
                    busy[user].add_done_callback(lambda _: self.queue.wake.set())
                quiet_in = self.report_batches(skip=frozenset(busy))
                self._probe()
                wait = self.queue.next_due_in(skip=frozenset(busy))  # a busy user's next jobs wait for its batch to end (`wake`)
                self.queue.wake.wait(timeout=min(wait if wait is not None else 60.0, quiet_in, PROBE_SECONDS))

    def _probe(self) -> None:
        """While files wait after failures (parked, or backing off for longer), one is tried every
        PROBE_SECONDS: an outage ends with everything organised within about that long."""
        if time.monotonic() - self._probed < PROBE_SECONDS:
            return
        self._probed = time.monotonic()
        due_in = self.queue.next_due_in()
        if (due_in is None or due_in > PROBE_SECONDS) and self.queue.failing():
            self.queue.revive(limit=1)

    def report_batches(self, quiet: float | None = None, skip: frozenset[str] = frozenset()) -> float:
        """Tell `on_batch` about every user whose batch is over (quiet for QUIET_SECONDS); seconds until the next may be."""
        quiet = QUIET_SECONDS if quiet is None else quiet
        next_in = 60.0
        for user, record in self.queue.batches().items():
            summary = Summary.from_record(record)
            left = quiet - (time.time() - summary.last)
            if left <= 0 and user not in skip and not self.queue.pending(user):
                if self.on_batch and (summary.moved or summary.duplicates or summary.problems):
                    try:
                        self.on_batch(user, summary)
                    except Unavailable as err:  # the batch stays, and is told about later
                        log.info("%s: the batch's notification waits: %s", user, err, extra={"nextcloud": False})
                        next_in = min(next_in, quiet or QUIET_SECONDS)
                        continue
                    except Exception as err:  # a notification is not worth stopping the worker for
                        log.warning("%s: could not report the batch: %s", user, err)
                self.queue.end_batch(user)
            else:
                next_in = min(next_in, max(left, 1.0))
        return next_in

    def process(self, user: str, jobs: list[Job]) -> None:
        config = self.config_for(user)
        by_folder: dict[str, list[Job]] = defaultdict(list)
        dropped = []  # turned off, outside the inboxes, or our own move into the library
        for job in jobs:
            if not config.unread and (not config.enabled or inbox_of(job.path, config, job.root) is None):
                dropped.append(job)
            else:
                by_folder[posixpath.dirname(job.path)].append(job)
        self.queue.done(*dropped)
        if config.unread:  # nothing is decided on settings that could not be read
            if not self._gone(user, config.unread):
                for folder, folder_jobs in by_folder.items():
                    self._retry(user, folder, {job: str(config.unread) for job in folder_jobs})
            return
        if not by_folder:
            return
        store = self.store_for(user)
        for folder, folder_jobs in by_folder.items():
            try:
                if user not in self._recovered:
                    self._finish_interrupted(store, user, config)
                again = self._organise_folder(store, user, config, folder, folder_jobs)
            except Unavailable as err:  # no answer now: not a verdict; a move it could not tell about is finished later
                self._recovered.discard(user)
                self._retry(user, folder, {job: str(err) for job in folder_jobs})
            except OSError as err:  # permissions and the like: parked after some tries
                if self._gone(user, err):
                    return
                self._retry(user, folder, {job: str(err) for job in folder_jobs})
            else:
                if self._failing and not again:  # the server answers again: what waits after a failure is tried now
                    self._failing = False
                    self.queue.revive()

    def _finish_interrupted(self, store: UserStore, user: str, config: UserConfig) -> None:
        """Moves a crash (or a move whose answer never came) left unfinished; those it finishes count in the batch."""
        finished: list[tuple[str, str]] = []
        try:
            for note in finish_interrupted(store, self.journal_dir(user), finished):
                log.warning("%s: %s", user, note)
        finally:
            if finished:
                summary = self._summary(user)
                for src, dst in finished:
                    if within(dst, config.library):
                        summary.add_move(kind_of(posixpath.basename(src)), dst[len(config.library.rstrip("/")) + 1 :])
                self.queue.save_batch(user, summary.record())
        self._recovered.add(user)

    def _summary(self, user: str) -> Summary:
        return Summary.from_record(record) if (record := self.queue.batch(user)) else Summary()

    def _retry(self, user: str, folder: str, jobs: dict[Job, str]) -> None:
        """Jobs looked at again later (with back-off): nothing was decided about their files."""
        if not jobs:
            return
        self._failing = True
        parked = [job for job, why in jobs.items() if self.queue.failed(job, why)]
        reasons = sorted(set(jobs.values()))
        log.info("%s: %d file(s) in %s will be looked at again: %s", user, len(jobs), folder or "/", "; ".join(reasons[:3]),
                 extra={"nextcloud": False})
        if parked:
            log.warning("%s: %d file(s) in %s parked after %d failed attempts (tried again at every sweep and when the server "
                        "answers again): %s", user, len(parked), folder or "/", parked[0].attempts + 1, "; ".join(reasons[:3]))

    def _gone(self, user: str, err: OSError) -> bool:
        """After a 401 for a user Nextcloud no longer has: their work and state dropped (True: nothing of theirs is left)."""
        if isinstance(err, DavError) and err.status == 401 and self.user_gone is not None and self.user_gone(user):
            self.forget(user)
            return True
        return False

    def forget(self, user: str) -> None:
        """A user deleted from Nextcloud: their queued work and the app's state for them go, once."""
        queued = self.queue.forget_user(user)
        for path in (self.storage / "content").glob(f"{user}.sqlite*"):
            path.unlink(missing_ok=True)
        self._recovered.discard(user)
        log.warning("%s: no such user any more (deleted?): dropped %d queued file(s) and the app's state for them", user, queued)

    def _organise_folder(self, store: UserStore, user: str, config: UserConfig, folder: str, jobs: list[Job]) -> int:
        """Organise the files of these jobs (and those that belong with them); returns how many groups
        of files wait to be looked at again because the server did not answer about them."""
        entries = {e.path: e for e in store.entries(folder)}
        for job in [j for j in jobs if j.path in entries]:  # looked at before, unchanged: stays (duplicates, problems, undone)
            if self.queue.is_settled(user, job.path, entries[job.path].size, entries[job.path].mtime):
                self.queue.done(job)
                jobs.remove(job)
        wanted = {stem_key(posixpath.basename(j.path)) for j in jobs if j.path in entries}
        wanted |= {stem_key(posixpath.basename(peer)) for j in jobs if (peer := store.live_peer(j.path)) in entries}
        related = [e for e in entries.values() if stem_key(posixpath.basename(e.path)) in wanted]
        retry: dict[str, str] = {}  # stem key -> why the server could not answer about a file of it: looked at again later

        def look(entry: Entry) -> Item | None:
            try:
                return analyse(store, entry, config.zone, slow_is_unavailable=True)
            except Unavailable as err:
                retry[stem_key(posixpath.basename(entry.path))] = str(err)
                return None

        index = self.content_index(user)
        settings = Settings(config.layout, config.zone, config.library, index)
        placer = placer_for(store, settings)  # one for the whole folder: the library's folders listed once
        journal = Journal(self.journal_dir(user) / f"{time.strftime('%Y-%m-%d')}.jsonl")
        actions: Counter[str] = Counter()
        looked_at = 0
        try:
            with ThreadPoolExecutor(READERS) as pool:
                # the reads run ahead of the moves (a pipeline): a part is planned and moved while the next ones are read
                for part in parts(read_ahead(pool, look, bundles(related, store.live_peer)), PART_FILES):
                    items = [i for i in part if i is not None and stem_key(i.name) not in retry]  # a group waits whole
                    for item in items:
                        item.live_peer = store.live_peer(item.path)  # Nextcloud moves the two together: they are one group
                    looked_at += len(items)
                    self._place(store, user, config, folder, items, settings, placer, journal, retry, actions)
                    placed = {item.path for item in items}  # their jobs are finished now, not only at the folder's end
                    self.queue.done(*[job for job in jobs if job.path in placed and stem_key(posixpath.basename(job.path)) not in retry])
        finally:
            journal.close()
            index.close()
        if retry:
            self._recovered.discard(user)  # a move whose outcome could not be told is finished by the next look
        self._retry(user, folder, {job: why for job in jobs if (why := retry.get(stem_key(posixpath.basename(job.path))))})
        self.queue.done(*[job for job in jobs if stem_key(posixpath.basename(job.path)) not in retry])
        if retry:
            actions["to look at again"] = len(retry)
        log.info("%s: looked at %d file(s) in %s with %d request(s): %s", user, looked_at, folder or "/", store.requests,
                 ", ".join(f"{n} {what}" for what, n in sorted(actions.items())) or "nothing to do")
        return len(retry)

    def _place(self, store: UserStore, user: str, config: UserConfig, folder: str, items: list[Item], settings: Settings,
               placer: Placer, journal: Journal, retry: dict[str, str], actions: Counter[str]) -> None:
        """Plan these files (all that could belong together) and move them (their moves journalled first, with one
        sync): MOVES_AT_ONCE groups side by side, each group's moves in its order (a live photo's still before its
        video, sidecars after their media). The planner gave every file its own destination, so no two collide."""
        planned = plan(store, items, settings, self._followers(store, user, config, folder, items), placer)
        moving = [n for n, (_, moves) in enumerate(planned) if moves]
        begun = dict(zip(moving, journal.begin_many([planned[n][1] for n in moving])))
        placed: list[str] = []
        try:
            with ThreadPoolExecutor(MOVES_AT_ONCE, thread_name_prefix="move") as movers:
                running = [movers.submit(execute, store, journal, decisions, moves, begun.pop(n, None))
                           for n, (decisions, moves) in enumerate(planned)]
                for future, (decisions, _) in zip(running, planned):
                    future.result()
                    self._record(user, config, folder, decisions, placer, retry, actions)
                    placed += [posixpath.join(config.library, d.destination) for d in decisions
                               if d.action in ("move", "companion") and d.destination and d.item.kind != "other"]
        finally:
            for gid in begun.values():  # never started (a failure before them): nothing of theirs moved
                journal.done(gid, [])
            if placed and self.on_placed is not None:
                self.on_placed(user, placed)

    def _record(self, user: str, config: UserConfig, folder: str, decisions: list[Decision], placer: Placer,
                retry: dict[str, str], actions: Counter[str]) -> None:
        """What one group's execution did: for later followers, the placer, the batch and the log."""
        lead = decisions[0]
        if lead.action == "move" and lead.item.kind in ("photo", "screenshot") and lead.destination:
            self.queue.record_placed(user, folder, stem_key(lead.item.name), lead.item.name, lead.destination)
        for decision in decisions:
            if decision.action == RETRY:
                retry[stem_key(decision.item.name)] = decision.reason or "no answer"
                continue
            if decision.action in ("move", "companion") and decision.destination:
                placer.moved(decision.item.path, posixpath.join(config.library, decision.destination))
            self._log(user, decision)
            actions["moved" if decision.destination else decision.action] += 1

    def _followers(self, store: UserStore, user: str, config: UserConfig, folder: str, items: list[Item]) -> dict[str, tuple[str, str]]:
        """Live-photo videos, sidecars and edited copies whose photo went to the library in an
        earlier batch (the video often arrives minutes after the still): they follow it, a video
        only if it is that still's live video (see `live_pair`)."""
        leads = {stem_key(i.name) for i in items if i.kind in ("photo", "screenshot") and not _EDIT.match(i.stem.lower())}
        followers = {}
        for item in items:
            key = stem_key(item.name)
            follows = item.kind == "video" or is_sidecar(item.name) or _EDIT.match(item.stem.lower())
            if follows and key not in leads and (placed := self.queue.placed(user, folder, key, FOLLOW_WITHIN)):
                if item.kind != "video" or self._is_live_video(store, config, item, placed[1]):
                    followers[item.path] = placed
        return followers

    def _is_live_video(self, store: UserStore, config: UserConfig, video: Item, still_destination: str) -> bool:
        """Whether `video` is the live video of the still placed at `still_destination` (in the library)."""
        path = posixpath.join(config.library, still_destination)
        size = store.listdir(posixpath.dirname(path)).get(posixpath.basename(path))
        if size is None:
            return False  # the still was moved on or removed: the video goes by its own date
        if store.live_peer(video.path) == path:
            return True  # the phone app linked them: Nextcloud moves them together whatever their dates say
        return live_pair(analyse(store, Entry(path, size, None), config.zone), video)

    def _log(self, user: str, decision: Decision) -> None:
        item = decision.item
        summary = self._summary(user)
        summary.add(decision)
        self.queue.save_batch(user, summary.record())
        if decision.action in ("move", "companion") and item.damage:
            log.warning("%s: %s -> %s/%s: %s", user, item.path, self.config_for(user).library, decision.destination, decision.reason)
        elif decision.action in ("move", "companion"):
            log.info("%s: %s -> %s/%s (%d bytes read)", user, item.path, self.config_for(user).library, decision.destination, item.bytes_read,
                     extra={"nextcloud": False})
        else:
            self.queue.settle(user, item.path, item.size, item.mtime, decision.reason or decision.action)
            level = logging.INFO if decision.action == "duplicate" else logging.WARNING
            log.log(level, "%s: %s stays in place: %s", user, item.path, decision.reason)

    def sweep(self, user: str, folder: str | None = None) -> int:
        """Queue every file in the user's inboxes (or in `folder`, which the user asked to organise)
        that no event brought and that is not settled."""
        config = self.config_for(user)
        if not config.enabled:
            return 0
        store = self.store_for(user)
        found = []
        for inbox in [folder] if folder is not None else config.inboxes:
            # when the inbox is the library (iOS), only its top level holds new uploads
            entries = store.entries(inbox) if inbox == config.library else store.walk(inbox)
            for entry in entries:
                if inbox_of(entry.path, config, folder) and not self.queue.is_settled(user, entry.path, entry.size, entry.mtime):
                    found.append(entry.path)
        self.queue.add_many(user, found, root=folder)
        return len(found)

    def hold(self, user: str, paths: list[str], reason: str) -> None:
        """Files put back by an undo stay where they are until they change."""
        store = self.store_for(user)
        for folder in {posixpath.dirname(p) for p in paths}:
            for entry in store.entries(folder):
                if entry.path in paths:
                    self.queue.settle(user, entry.path, entry.size, entry.mtime, reason)

    def preview(self, user: str, folder: str | None = None) -> list[Decision]:
        """What organising the user's inboxes (or `folder`) would do now; nothing is moved."""
        config = self.config_for(user)
        folders = [folder] if folder is not None else list(config.inboxes)
        store = self.store_for(user)
        present = [f for f in folders if store.exists(f)]
        with self.content_index(user, moves=False) as index:
            return organise(store, present, Settings(config.layout, config.zone, config.library, index), None, lambda decision: None)
