"""What the ExApp keeps about rules, in the app's persistent storage (SQLite beside the work queue):
the rules written on the app's page (a user's own, and the admin's with their groups), which rule
contents their owner has previewed and switched on, users' opt-outs of admin rules, the notices
sent, each user's schedule and stopped run, and the re-upload guard.

A rule's switch is keyed by its content (rules_settings.rule_key): a changed rule is off again
until its owner has seen the new preview and switches it on."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .rules_timing import Notice

SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (owner TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, groups TEXT NOT NULL DEFAULT '[]',
                                  position INTEGER NOT NULL, PRIMARY KEY (owner, name));
CREATE TABLE IF NOT EXISTS seen (owner TEXT NOT NULL, key TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (owner, key));
CREATE TABLE IF NOT EXISTS switched (owner TEXT NOT NULL, key TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (owner, key));
CREATE TABLE IF NOT EXISTS optout (user TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (user, name));
CREATE TABLE IF NOT EXISTS notices (user TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL, sent REAL NOT NULL, due REAL NOT NULL,
                                    files TEXT NOT NULL, PRIMARY KEY (user, name));
CREATE TABLE IF NOT EXISTS schedule (user TEXT PRIMARY KEY, last REAL, library INTEGER, stopped TEXT);
CREATE TABLE IF NOT EXISTS guard (user TEXT NOT NULL, hash TEXT NOT NULL, path TEXT NOT NULL, rule TEXT NOT NULL, time REAL NOT NULL,
                                  PRIMARY KEY (user, hash));
CREATE TABLE IF NOT EXISTS made (user TEXT NOT NULL, hash TEXT NOT NULL, size INTEGER, source TEXT NOT NULL, source_size INTEGER,
                                 path TEXT NOT NULL, rule TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (user, hash));
CREATE TABLE IF NOT EXISTS video_time (user TEXT NOT NULL, day TEXT NOT NULL, seconds REAL NOT NULL, PRIMARY KEY (user, day));
CREATE TABLE IF NOT EXISTS uploads (user TEXT NOT NULL, path TEXT NOT NULL, time REAL NOT NULL, PRIMARY KEY (user, path));
CREATE INDEX IF NOT EXISTS made_source ON made (user, source);
"""
ADMIN = ""  # the owner of the admin's rules


@dataclass(frozen=True)
class Stored:
    owner: str
    name: str
    table: dict
    groups: tuple[str, ...] = ()  # admin rules: only for these groups (empty: everyone)


class RulesState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        if "size" not in {row[1] for row in self._db.execute("PRAGMA table_info(guard)")}:  # a guard from before sizes were kept
            self._db.execute("ALTER TABLE guard ADD COLUMN size INTEGER")
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _all(self, sql: str, *args: object) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # --- rules written on the page ---------------------------------------------------------

    def rules(self, owner: str) -> list[Stored]:
        return [Stored(owner, name, json.loads(body), tuple(json.loads(groups)))
                for name, body, groups in self._all("SELECT name, body, groups FROM rules WHERE owner = ? ORDER BY position", owner)]

    def save(self, owner: str, table: dict, groups: tuple[str, ...] = (), replaces: str | None = None) -> None:
        """Add a rule, or replace the one named `replaces` in its place."""
        with self._tx() as db:
            row = db.execute("SELECT position FROM rules WHERE owner = ? AND name = ?", (owner, replaces)).fetchone() if replaces else None
            position = row[0] if row else (db.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM rules WHERE owner = ?", (owner,)).fetchone()[0])
            if replaces:
                db.execute("DELETE FROM rules WHERE owner = ? AND name = ?", (owner, replaces))
            db.execute("INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?)", (owner, table["name"], json.dumps(table), json.dumps(list(groups)), position))

    def delete(self, owner: str, name: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM rules WHERE owner = ? AND name = ?", (owner, name)).rowcount > 0

    # --- preview first, then the owner's switch ------------------------------------------------

    def saw(self, owner: str, key: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (owner, key, time.time()))

    def has_seen(self, owner: str, key: str) -> bool:
        return bool(self._all("SELECT 1 FROM seen WHERE owner = ? AND key = ?", owner, key))

    def switch(self, owner: str, key: str, on: bool) -> None:
        with self._tx() as db:
            if on:
                db.execute("INSERT OR IGNORE INTO switched VALUES (?, ?, ?)", (owner, key, time.time()))
            else:
                db.execute("DELETE FROM switched WHERE owner = ? AND key = ?", (owner, key))

    def on_since(self, owner: str, key: str) -> float | None:
        """When the owner switched this content on; None: it is off."""
        rows = self._all("SELECT time FROM switched WHERE owner = ? AND key = ?", owner, key)
        return rows[0][0] if rows else None

    def opt_out(self, user: str, name: str, out: bool) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO optout VALUES (?, ?)" if out else "DELETE FROM optout WHERE user = ? AND name = ?", (user, name))

    def opted_out(self, user: str) -> set[str]:
        return {name for (name,) in self._all("SELECT name FROM optout WHERE user = ?", user)}

    # --- notices and the schedule -----------------------------------------------------------

    def notice(self, user: str, name: str) -> Notice | None:
        rows = self._all("SELECT key, sent, due, files FROM notices WHERE user = ? AND name = ?", user, name)
        return Notice(rows[0][0], rows[0][1], rows[0][2], tuple(json.loads(rows[0][3]))) if rows else None

    def put_notice(self, user: str, name: str, notice: Notice | None) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM notices WHERE user = ? AND name = ?", (user, name))
            if notice is not None:
                db.execute("INSERT INTO notices VALUES (?, ?, ?, ?, ?, ?)", (user, name, notice.rule_key, notice.sent, notice.due, json.dumps(list(notice.files))))

    def schedule(self, user: str) -> tuple[float | None, int | None, dict | None]:
        """(last scheduled look, library files at the last run, the stopped run waiting for confirmation)."""
        rows = self._all("SELECT last, library, stopped FROM schedule WHERE user = ?", user)
        if not rows:
            return None, None, None
        last, library, stopped = rows[0]
        return last, library, json.loads(stopped) if stopped else None

    def put_schedule(self, user: str, *, last: float | None = None, library: int | None = None, stopped: dict | None | bool = False) -> None:
        """Update what is given; `stopped=None` clears a stopped run, False leaves it."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO schedule (user) VALUES (?)", (user,))
            if last is not None:
                db.execute("UPDATE schedule SET last = ? WHERE user = ?", (last, user))
            if library is not None:
                db.execute("UPDATE schedule SET library = ? WHERE user = ?", (library, user))
            if stopped is not False:
                db.execute("UPDATE schedule SET stopped = ? WHERE user = ?", (json.dumps(stopped) if stopped else None, user))

    # --- uploads the organiser placed, for the quality rules that act at upload ---------------------

    def add_uploads(self, user: str, paths: Sequence[str]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR REPLACE INTO uploads VALUES (?, ?, ?)", [(user, p, time.time()) for p in paths])

    def uploads(self, user: str, limit: int) -> list[str]:
        """The oldest `limit` placed uploads of the user that no quality run has looked at yet."""
        return [p for (p,) in self._all("SELECT path FROM uploads WHERE user = ? ORDER BY time LIMIT ?", user, limit)]

    def users_with_uploads(self) -> list[str]:
        return [u for (u,) in self._all("SELECT DISTINCT user FROM uploads")]

    def drop_uploads(self, user: str, paths: Sequence[str] | None = None) -> None:
        with self._tx() as db:
            if paths is None:
                db.execute("DELETE FROM uploads WHERE user = ?", (user,))
            else:
                db.executemany("DELETE FROM uploads WHERE user = ? AND path = ?", [(user, p) for p in paths])

    # --- the re-upload guard (runner.Guard, per user) ------------------------------------------------

    def guard(self, user: str) -> UserGuard:
        return UserGuard(self, user)


@dataclass
class UserGuard:
    """rules.guard.ContentGuard's questions, per user: what rules took (a re-upload is kept), and what quality
    rules made and from what (the app's outputs are never transformed again, nor a file by the same rule twice)."""

    state: RulesState
    user: str

    def returned(self, content_hash: str) -> str | None:
        rows = self.state._all("SELECT path, rule, time FROM guard WHERE user = ? AND hash = ?", self.user, content_hash)
        if not rows:
            return None
        path, rule, when = rows[0]
        return f"“{rule}” took {path} on {time.strftime('%Y-%m-%d', time.gmtime(when))}"

    def remember(self, content_hash: str, path: str, rule: str, size: int | None = None) -> None:
        with self.state._tx() as db:
            db.execute("INSERT OR REPLACE INTO guard (user, hash, path, rule, time, size) VALUES (?, ?, ?, ?, ?, ?)",
                       (self.user, content_hash, path, rule, time.time(), size))

    def forget(self, content_hash: str) -> None:
        with self.state._tx() as db:
            db.execute("DELETE FROM guard WHERE user = ? AND hash = ?", (self.user, content_hash))

    def made(self, content_hash: str, size: int | None, source_hash: str, source_size: int | None, path: str, rule: str) -> None:
        with self.state._tx() as db:
            db.execute("INSERT OR REPLACE INTO made VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (self.user, content_hash, size, source_hash, source_size, path, rule, time.time()))

    def unmade(self, content_hash: str) -> None:
        with self.state._tx() as db:
            db.execute("DELETE FROM made WHERE user = ? AND hash = ?", (self.user, content_hash))

    def conversions(self, source_size: int) -> list[tuple[str, str, str]]:
        """(made path, its hash, the source's hash) of what quality rules made from files of this size."""
        return self.state._all("SELECT path, hash, source FROM made WHERE user = ? AND source_size = ?", self.user, source_size)

    def transformed(self, content_hash: str, rule: str) -> str | None:
        rows = self.state._all("SELECT rule, time FROM made WHERE user = ? AND hash = ?", self.user, content_hash)
        if rows:
            return f"made by Mobile Backups (rule “{rows[0][0]}”, {time.strftime('%Y-%m-%d', time.gmtime(rows[0][1]))}): not transformed again"
        rows = self.state._all("SELECT path, time FROM made WHERE user = ? AND source = ? AND rule = ?", self.user, content_hash, rule)
        if rows:
            return f"already transformed by this rule on {time.strftime('%Y-%m-%d', time.gmtime(rows[0][1]))} ({rows[0][0]})"
        return None

    def video_seconds(self, day: str) -> float:
        """Seconds spent encoding this user's videos on `day` (YYYY-MM-DD): the rules' daily budget."""
        rows = self.state._all("SELECT seconds FROM video_time WHERE user = ? AND day = ?", self.user, day)
        return float(rows[0][0]) if rows else 0.0

    def spend_video_seconds(self, day: str, seconds: float) -> None:
        with self.state._tx() as db:
            db.execute("DELETE FROM video_time WHERE user = ? AND day < ?", (self.user, day))
            db.execute("INSERT INTO video_time VALUES (?, ?, ?) ON CONFLICT (user, day) DO UPDATE SET seconds = seconds + excluded.seconds",
                       (self.user, day, seconds))

    def sizes(self) -> set[int]:
        """The sizes of what was taken or made: only files of these sizes need hashing to be recognised."""
        return {size for (size,) in self.state._all(
            "SELECT size FROM guard WHERE user = ? UNION SELECT size FROM made WHERE user = ? UNION SELECT source_size FROM made WHERE user = ?",
            self.user, self.user, self.user) if size is not None}
