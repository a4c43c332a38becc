"""The re-upload guard and what a library's rules remember between runs, in SQLite in the
library's state folder (LIBRARY/.mobile_backups/rules.sqlite).

A phone that still holds a photo uploads it again after a rule trashed or archived it (the
phone apps track what they uploaded by name and folder). The guard keeps the content hash of
everything a rule took; when the same content turns up again, the runner keeps it and says so,
and the organiser reports it once, instead of it being taken again night after night. An undo
forgets what it put back: that file came back by the user's choice, not from a phone.

It also keeps what quality rules made (the hash of each new file and of the file it came from), so
that the app's own outputs are never transformed again (no loops) and a file a rule has already
transformed is not transformed by it twice."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS taken (
    hash TEXT PRIMARY KEY,  -- sha256 of the whole file
    size INTEGER,
    path TEXT NOT NULL,  -- where it was when the rule took it
    rule TEXT NOT NULL,
    time REAL NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0  -- the organiser said "came back" once
);
CREATE INDEX IF NOT EXISTS taken_size ON taken (size);
CREATE TABLE IF NOT EXISTS made (
    hash TEXT PRIMARY KEY,  -- sha256 of a file a quality rule wrote
    size INTEGER,
    source TEXT NOT NULL,  -- sha256 of the file it was made from
    source_size INTEGER,
    path TEXT NOT NULL,
    rule TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS made_source ON made (source);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ContentGuard:
    """One library's guard (the runner's `Guard`) and its remembered library size."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def returned(self, content_hash: str) -> str | None:
        row = self.db.execute("SELECT path, rule, time FROM taken WHERE hash = ?", (content_hash,)).fetchone()
        if row is None:
            return None
        path, rule, when = row
        return f"{path} was taken by rule “{rule}” on {time.strftime('%Y-%m-%d', time.localtime(when))}"

    def remember(self, content_hash: str, path: str, rule: str, size: int | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO taken (hash, size, path, rule, time) VALUES (?, ?, ?, ?, ?)",
                            (content_hash, size, path, rule, time.time()))

    def forget(self, content_hash: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM taken WHERE hash = ?", (content_hash,))

    def made(self, content_hash: str, size: int | None, source_hash: str, source_size: int | None, path: str, rule: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO made VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (content_hash, size, source_hash, source_size, path, rule, time.time()))

    def unmade(self, content_hash: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM made WHERE hash = ?", (content_hash,))

    def conversions(self, source_size: int) -> list[tuple[str, str, str]]:
        """(made path, its hash, the source's hash) of what quality rules made from files of this size."""
        return self.db.execute("SELECT path, hash, source FROM made WHERE source_size = ?", (source_size,)).fetchall()

    def transformed(self, content_hash: str, rule: str) -> str | None:
        """Why a quality rule must leave this content alone: the app made it, or this rule already made something of it."""
        row = self.db.execute("SELECT rule, time FROM made WHERE hash = ?", (content_hash,)).fetchone()
        if row:
            return f"made by Mobile Backups (rule “{row[0]}”, {time.strftime('%Y-%m-%d', time.localtime(row[1]))}): not transformed again"
        row = self.db.execute("SELECT path, time FROM made WHERE source = ? AND rule = ?", (content_hash, rule)).fetchone()
        if row:
            return f"already transformed by this rule on {time.strftime('%Y-%m-%d', time.localtime(row[1]))} ({row[0]})"
        return None

    def sizes(self) -> set[int]:
        """The sizes of what was taken or made: only files of these sizes need hashing to be recognised."""
        return {size for (size,) in self.db.execute(
            "SELECT size FROM taken UNION SELECT size FROM made UNION SELECT source_size FROM made") if size is not None}

    def report_once(self, content_hash: str) -> str | None:
        """`returned`, the first time it is asked for this content only (the organiser's note)."""
        with self.db:
            if self.db.execute("UPDATE taken SET reported = 1 WHERE hash = ? AND reported = 0", (content_hash,)).rowcount:
                return self.returned(content_hash)
        return None

    def video_seconds(self, day: str) -> float:
        """Seconds spent encoding videos on `day` (YYYY-MM-DD): the rules' daily budget."""
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (f"video_seconds:{day}",)).fetchone()
        return float(row[0]) if row else 0.0

    def spend_video_seconds(self, day: str, seconds: float) -> None:
        with self.db:
            self.db.execute("DELETE FROM meta WHERE key LIKE 'video_seconds:%' AND key < ?", (f"video_seconds:{day}",))
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"video_seconds:{day}", str(self.video_seconds(day) + seconds)))

    def library_files(self) -> int | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'library_files'").fetchone()
        return int(row[0]) if row else None

    def set_library_files(self, count: int) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('library_files', ?)", (str(count),))
