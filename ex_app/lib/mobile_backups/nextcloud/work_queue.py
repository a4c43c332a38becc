"""A durable queue of files to look at, in SQLite: it survives restarts and crashes.

An event only says "look at this path soon"; the worker decides what to do from the
file itself, so processing the same path twice is harmless (at-least-once, idempotent).
A path that keeps failing is retried with back-off and jitter, then parked with its reason; parked
paths come back at every sweep and when the server answers again (`revive`). What a user's batch
did so far (the notification's counts) is kept here too, so that a crash does not forget it.
"""

from __future__ import annotations

import json
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    user TEXT NOT NULL,
    path TEXT NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    parked INTEGER NOT NULL DEFAULT 0,
    root TEXT,  -- a folder the user asked to organise (Files action), treated as an inbox
    PRIMARY KEY (user, path)
);
CREATE INDEX IF NOT EXISTS queue_due ON queue (parked, due);
CREATE TABLE IF NOT EXISTS placed (
    user TEXT NOT NULL,
    folder TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    destination TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (user, folder, key)
);
CREATE TABLE IF NOT EXISTS batch (
    user TEXT PRIMARY KEY,
    summary TEXT NOT NULL  -- JSON: what the user's current batch did (worker.Summary)
);
CREATE TABLE IF NOT EXISTS backlog (  -- the paths of a user's running backlog (files that were there before), for its progress
    user TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (user, path)
);
CREATE TABLE IF NOT EXISTS settled (
    user TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL,
    reason TEXT,
    PRIMARY KEY (user, path)
);
"""
MAX_ATTEMPTS = 6
INTAKE_BUFFER = 10_000  # events handed over and not yet written, at most: the webhook handler waits for room beyond
BACKOFF = (5.0, 600.0)  # seconds before the first retry, and at most: doubled each time, then jittered


def jittered(seconds: float) -> float:
    """Between half and one and a half of `seconds`: retries of many files do not come all at once."""
    return seconds * random.uniform(0.5, 1.5)


@dataclass(frozen=True)
class Job:
    user: str
    path: str
    attempts: int
    version: int  # bumped by every new event: a look that started earlier does not clear a later one
    root: str | None = None  # a folder the user asked to organise, treated as an inbox


class WorkQueue:
    def __init__(self, path: Path, backoff: tuple[float, float] = BACKOFF) -> None:
        self.backoff = backoff
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.wake = threading.Event()

    def add(self, user: str, path: str, delay: float = 0.0) -> None:
        """Ask for a look at `path`; a newer event pushes the look back (the file may still be written)."""
        self.add_events([(user, path)], delay)

    def add_events(self, events: Iterable[tuple[str, str]], delay: float = 0.0) -> None:
        """`add` for many (user, path), in one transaction."""
        due = time.time() + delay
        with self._lock:
            self._db.executemany(
                "INSERT INTO queue (user, path, due) VALUES (?, ?, ?) "
                "ON CONFLICT (user, path) DO UPDATE SET due = excluded.due, parked = 0, attempts = 0, error = NULL, version = version + 1",
                [(user, path, due) for user, path in events],
            )
        self.wake.set()

    def add_many(self, user: str, paths: list[str], root: str | None = None) -> None:
        """Ask for a look at paths a sweep found; one parked or backing off is looked at again now
        (the sweep's listing just worked: the server answers)."""
        with self._lock:
            self._db.executemany(
                "INSERT INTO queue (user, path, due, root) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user, path) DO UPDATE SET root = COALESCE(excluded.root, root), parked = 0, due = MIN(due, excluded.due)",
                [(user, p, time.time(), root) for p in paths],
            )
        self.wake.set()

    def due(self, limit: int = 500, skip: frozenset[str] = frozenset()) -> dict[str, list[Job]]:
        """Due jobs, by user (but not of the users in `skip`, being organised already)."""
        marks = ",".join("?" * len(skip))
        with self._lock:
            rows = self._db.execute(
                f"SELECT user, path, attempts, version, root FROM queue WHERE parked = 0 AND due <= ? AND user NOT IN ({marks}) ORDER BY due LIMIT ?",
                (time.time(), *sorted(skip), limit),
            ).fetchall()
        jobs: dict[str, list[Job]] = {}
        for user, path, attempts, version, root in rows:
            jobs.setdefault(user, []).append(Job(user, path, attempts, version, root))
        return jobs

    def next_due_in(self, skip: frozenset[str] = frozenset()) -> float | None:
        """Seconds until the next job is due (0: one is due now), not counting those of the users in `skip`."""
        marks = ",".join("?" * len(skip))
        with self._lock:
            row = self._db.execute(f"SELECT MIN(due) FROM queue WHERE parked = 0 AND user NOT IN ({marks})", tuple(sorted(skip))).fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def done(self, *jobs: Job) -> None:
        """These jobs are finished (one transaction), unless an event came for their path since they were taken."""
        with self._lock:
            self._db.executemany("DELETE FROM queue WHERE user = ? AND path = ? AND version = ?", [(j.user, j.path, j.version) for j in jobs])

    def failed(self, job: Job, error: str) -> bool:
        """Retry later with back-off and jitter; True when the job is parked (until `revive` or a sweep)."""
        attempts = job.attempts + 1
        parked = attempts >= MAX_ATTEMPTS
        first, most = self.backoff
        with self._lock:
            self._db.execute(
                "UPDATE queue SET attempts = ?, error = ?, parked = ?, due = ? WHERE user = ? AND path = ? AND version = ?",
                (attempts, error, int(parked), time.time() + jittered(min(most, first * 2 ** (attempts - 1))), job.user, job.path, job.version),
            )
        return parked

    def revive(self, limit: int = -1) -> int:
        """Paths waiting after a failure (parked or backing off) due again soon: the server answers again.
        With `limit`, only that many (the next due first) are due now, as a probe: one parked that fails
        again is parked again at once. Returns how many."""
        first = self.backoff[0]
        with self._lock:
            rows = self._db.execute("SELECT user, path FROM queue WHERE error IS NOT NULL ORDER BY parked, due LIMIT ?", (limit,)).fetchall()
            if limit >= 0:
                self._db.executemany("UPDATE queue SET parked = 0, due = ? WHERE user = ? AND path = ?", [(time.time(), u, p) for u, p in rows])
            else:
                self._db.executemany("UPDATE queue SET parked = 0, attempts = 0, due = MIN(due, ?) WHERE user = ? AND path = ?",
                                     [(time.time() + random.uniform(0, first), u, p) for u, p in rows])
        if rows:
            self.wake.set()
        return len(rows)

    def failing(self) -> int:
        """How many paths wait after a failure (parked or not)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM queue WHERE error IS NOT NULL").fetchone()[0]

    def parked(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return self._db.execute("SELECT user, path, error FROM queue WHERE parked = 1").fetchall()

    def parked_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM queue WHERE parked = 1").fetchone()[0]

    def retrying(self) -> list[tuple[str, str, int, str, float]]:
        """(user, path, attempts, error, seconds until the next try) of every path waiting after a failure, not parked."""
        with self._lock:
            rows = self._db.execute("SELECT user, path, attempts, error, due FROM queue WHERE parked = 0 AND error IS NOT NULL ORDER BY due").fetchall()
        return [(u, p, a, e, max(0.0, d - time.time())) for u, p, a, e, d in rows]

    def forget_user(self, user: str) -> int:
        """Drop everything kept for a user (deleted from Nextcloud); returns how many paths were queued."""
        with self._lock:
            queued = self._db.execute("SELECT COUNT(*) FROM queue WHERE user = ?", (user,)).fetchone()[0]
            for table in ("queue", "placed", "settled", "batch", "backlog"):
                self._db.execute(f"DELETE FROM {table} WHERE user = ?", (user,))
        return queued

    # What each user's current batch did, for its notification (JSON of worker.Summary).

    def batch(self, user: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT summary FROM batch WHERE user = ?", (user,)).fetchone()
        return json.loads(row[0]) if row else None

    def batches(self) -> dict[str, dict]:
        with self._lock:
            return {user: json.loads(summary) for user, summary in self._db.execute("SELECT user, summary FROM batch").fetchall()}

    def save_batch(self, user: str, summary: dict) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO batch (user, summary) VALUES (?, ?)", (user, json.dumps(summary)))

    def end_batch(self, user: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM batch WHERE user = ?", (user,))

    def pending(self, user: str | None = None) -> int:
        with self._lock:
            if user is None:
                return self._db.execute("SELECT COUNT(*) FROM queue WHERE parked = 0").fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM queue WHERE parked = 0 AND user = ?", (user,)).fetchone()[0]

    def pending_by_user(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT user, COUNT(*) FROM queue WHERE parked = 0 GROUP BY user").fetchall())

    def settled_count(self, user: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM settled WHERE user = ?", (user,)).fetchone()[0]

    def settled_by_user(self) -> dict[str, int]:
        with self._lock:
            return dict(self._db.execute("SELECT user, COUNT(*) FROM settled GROUP BY user").fetchall())

    # The paths of a running backlog: those still in the queue are what is left of it.

    def add_backlog(self, user: str, paths: list[str]) -> None:
        """Queue a backlog's paths (as a sweep does) and remember them as the user's backlog."""
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO backlog (user, path) VALUES (?, ?)", [(user, p) for p in paths])
        self.add_many(user, paths)

    def backlog_left(self, user: str) -> int:
        """How many of the user's backlog paths are still to be looked at (parked ones included)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM backlog JOIN queue USING (user, path) WHERE user = ?", (user,)).fetchone()[0]

    def end_backlog(self, user: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM backlog WHERE user = ?", (user,))

    # Where a photo went, so that its live-photo video or sidecar arriving later can follow it.

    def record_placed(self, user: str, folder: str, key: str, name: str, destination: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO placed (user, folder, key, name, destination, time) VALUES (?, ?, ?, ?, ?, ?)",
                (user, folder, key, name, destination, time.time()),
            )

    def placed(self, user: str, folder: str, key: str, within: float) -> tuple[str, str] | None:
        """(name, destination) of the photo with this key placed from this folder in the last `within` seconds."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, destination FROM placed WHERE user = ? AND folder = ? AND key = ? AND time >= ?",
                (user, folder, key, time.time() - within),
            ).fetchone()
        return (row[0], row[1]) if row else None

    # Files that were looked at and stay (duplicates, problems): a sweep skips them while unchanged.

    def settle(self, user: str, path: str, size: int, mtime: float | None, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO settled (user, path, size, mtime, reason) VALUES (?, ?, ?, ?, ?)", (user, path, size, mtime, reason)
            )

    def is_settled(self, user: str, path: str, size: int, mtime: float | None) -> bool:
        with self._lock:
            row = self._db.execute("SELECT size, mtime FROM settled WHERE user = ? AND path = ?", (user, path)).fetchone()
        return row is not None and row[0] == size and row[1] == mtime


class Intake:
    """Events on their way into the queue: one thread writes all that arrived meanwhile in one
    transaction (a burst costs a commit per batch, not per event, and the caller never waits for the
    queue's lock), and tells each caller when its own are on disk. At most `buffer` events wait in
    memory: `offer` refuses beyond that, and `put` waits for room."""

    def __init__(self, work: WorkQueue, delay: float, buffer: int = INTAKE_BUFFER) -> None:
        self.work, self.delay = work, delay
        self._waiting: queue.Queue[tuple[list[tuple[str, str]], Future[None]] | None] = queue.Queue(buffer)
        threading.Thread(target=self._write_forever, daemon=True, name="intake").start()

    def close(self) -> None:
        """The writer ends once it has written what was handed over before."""
        self._waiting.put(None)

    def offer(self, events: list[tuple[str, str]]) -> Future[None] | None:
        """A future done once the events are in the queue; None when the buffer is full."""
        done: Future[None] = Future()
        try:
            self._waiting.put_nowait((events, done))
        except queue.Full:
            return None
        return done

    def put(self, events: list[tuple[str, str]]) -> Future[None]:
        """`offer`, waiting for room (the writer is behind)."""
        done: Future[None] = Future()
        self._waiting.put((events, done))
        return done

    def _write_forever(self) -> None:
        closed = False
        while not closed:
            batch = []
            item = self._waiting.get()
            while item is not None:
                batch.append(item)
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
            closed = item is None
            if not batch:
                continue
            try:
                self.work.add_events([e for events, _ in batch for e in events], self.delay)
            except Exception as err:  # the callers answer with an error: the sender delivers again, or the sweep finds the files
                for _, done in batch:
                    done.set_exception(err)
            else:
                for _, done in batch:
                    done.set_result(None)
