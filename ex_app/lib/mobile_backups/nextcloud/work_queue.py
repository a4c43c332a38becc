"""A durable queue of files to look at, in SQLite: it survives restarts and crashes.

An event only says "look at this path soon"; the worker decides what to do from the
file itself, so processing the same path twice is harmless (at-least-once, idempotent).
A path that keeps failing is retried with back-off, then parked with its reason.
"""

from __future__ import annotations

import sqlite3
import threading
import time
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


@dataclass(frozen=True)
class Job:
    user: str
    path: str
    attempts: int
    version: int  # bumped by every new event: a look that started earlier does not clear a later one
    root: str | None = None  # a folder the user asked to organise, treated as an inbox


class WorkQueue:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.wake = threading.Event()

    def add(self, user: str, path: str, delay: float = 0.0) -> None:
        """Ask for a look at `path`; a newer event pushes the look back (the file may still be written)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO queue (user, path, due) VALUES (?, ?, ?) "
                "ON CONFLICT (user, path) DO UPDATE SET due = excluded.due, parked = 0, attempts = 0, error = NULL, version = version + 1",
                (user, path, time.time() + delay),
            )
        self.wake.set()

    def add_many(self, user: str, paths: list[str], root: str | None = None) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT INTO queue (user, path, due, root) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user, path) DO UPDATE SET root = COALESCE(excluded.root, root)",
                [(user, p, time.time(), root) for p in paths],
            )
        self.wake.set()

    def due(self, limit: int = 500) -> dict[str, list[Job]]:
        """Due jobs, by user."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user, path, attempts, version, root FROM queue WHERE parked = 0 AND due <= ? ORDER BY due LIMIT ?", (time.time(), limit)
            ).fetchall()
        jobs: dict[str, list[Job]] = {}
        for user, path, attempts, version, root in rows:
            jobs.setdefault(user, []).append(Job(user, path, attempts, version, root))
        return jobs

    def next_due_in(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT MIN(due) FROM queue WHERE parked = 0").fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    def done(self, job: Job) -> None:
        with self._lock:
            self._db.execute("DELETE FROM queue WHERE user = ? AND path = ? AND version = ?", (job.user, job.path, job.version))

    def failed(self, job: Job, error: str) -> bool:
        """Retry later with back-off; True when the job is parked for good."""
        attempts = job.attempts + 1
        parked = attempts >= MAX_ATTEMPTS
        with self._lock:
            self._db.execute(
                "UPDATE queue SET attempts = ?, error = ?, parked = ?, due = ? WHERE user = ? AND path = ? AND version = ?",
                (attempts, error, int(parked), time.time() + min(600, 5 * 2**attempts), job.user, job.path, job.version),
            )
        return parked

    def parked(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return self._db.execute("SELECT user, path, error FROM queue WHERE parked = 1").fetchall()

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
