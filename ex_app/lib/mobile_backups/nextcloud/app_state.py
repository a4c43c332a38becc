"""What the ExApp remembers besides its queue: the last valid settings of each scope ("" for the
admin, else a user id), the problems it already reported, when it last swept (and up to when each user's
uploads were looked at), and each user's backlog (backlog.py)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS kept (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,   -- 'valid', 'reported', 'swept', 'organising', 'backlog', ...
    value TEXT NOT NULL,  -- JSON object
    PRIMARY KEY (scope, name)
);
"""


class AppState:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # as the queue: a crash may lose the last writes, never the database
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def get(self, scope: str, name: str) -> dict:
        with self._lock:
            row = self._db.execute("SELECT value FROM kept WHERE scope = ? AND name = ?", (scope, name)).fetchone()
        return json.loads(row[0]) if row else {}

    def put(self, scope: str, name: str, value: Mapping) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO kept (scope, name, value) VALUES (?, ?, ?)", (scope, name, json.dumps(dict(value))))

    def scopes(self, name: str) -> list[str]:
        """The scopes that keep a value under `name`."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT scope FROM kept WHERE name = ? ORDER BY scope", (name,))]

    def forget(self, scope: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kept WHERE scope = ?", (scope,))

    def new_problems(self, scope: str, problems: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
        """The problems not reported yet for these saved values; remembers them as reported."""
        reported = {key: f"{values.get(key)}\n{problem}" for key, problem in problems.items()}
        before = self.get(scope, "reported")
        if reported != before:
            self.put(scope, "reported", reported)
        return {key: problems[key] for key in reported if before.get(key) != reported[key]}
