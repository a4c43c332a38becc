"""What the library already holds, by content: size first, the head hash when sizes agree, the
full hash only when heads agree. Kept in SQLite, so it survives restarts and a crash mid-write
(each change is one transaction), and learnt incrementally:

- from listings (a walk of the library, or one folder the engine listed anyway): paths and sizes
  only, no content read; a changed size or file time forgets what was known of a file's content;
- from the engine: the head of every file it places (read with the metadata) and every head or
  hash it had to read of a library file.

The index only proposes candidates. The engine checks one against the store (still there, same
size, same head) before it calls a new file a duplicate of it, and tells the index to forget
entries that are gone. Paths are relative to the library. Only media are indexed (sidecars are
small and often alike), not hidden files or folders, and not files directly in the library's top
folder (that is where iOS uploads when the library is the inbox; organised files are in folders).
"""

from __future__ import annotations

import logging
import posixpath
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .core.kinds import is_media, kind_of
from .store import Store

log = logging.getLogger("mobile_backups")
SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    folder TEXT NOT NULL,  -- relative to the library
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL,
    head TEXT,  -- sha256 of the first HEAD_BYTES, once read
    digest TEXT,  -- sha256 of the whole file, once read
    PRIMARY KEY (folder, name)
);
CREATE INDEX IF NOT EXISTS files_size ON files (size);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Known:
    path: str  # relative to the library
    size: int
    head: str | None
    digest: str | None


def indexable(rel: str) -> bool:
    """Media in a folder of the library; nothing hidden (the state folder, .trash, .thumbnails)."""
    parts = rel.split("/")
    return len(parts) > 1 and not any(p.startswith(".") for p in parts) and is_media(kind_of(parts[-1]))


class ContentIndex:
    """One library's content index. `path` None: in memory (a plan with no state folder yet).
    `max_age`: seconds a walk of the library stays good enough (0: walk on every `refresh`).
    `records_placements`: False for dry runs, where nothing the engine places really moves."""

    def __init__(self, path: Path | None, *, max_age: float = 0.0, records_placements: bool = True) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(":memory:" if path is None else str(path), timeout=30)
        # write-ahead log, synced at checkpoints: a commit costs no fsync, a crash still leaves the last
        # commits or the ones before, never a torn index (a lost update only costs a read later)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.executescript(SCHEMA)
        self.max_age = max_age
        self.records_placements = records_placements

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> ContentIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- listings ---------------------------------------------------------------------

    def refresh(self, store: Store, library: str) -> bool:
        """Walk the library (sizes only) unless a walk of it is recent; True if it walked."""
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("library") == library and time.time() - float(meta.get("listed", 0)) < self.max_age:
            return False
        root = library.rstrip("/")
        try:
            listed = {e.path[len(root) + 1 :]: (e.size, e.mtime) for e in store.walk(library) if not e.problem}
        except OSError as err:  # the index is a help, not a condition: organise with what it knows
            log.warning("could not list the library %s for the content index: %s", library, err)
            return False
        with self.db:
            if meta.get("library") != library:
                self.db.execute("DELETE FROM files")
            self._sync(self.db.execute("SELECT folder, name, size, mtime FROM files"), listed, lambda rel: True)
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("library", library), ("listed", str(time.time()))])
        return True

    def learn_folder(self, folder: str, sizes: dict[str, int]) -> None:
        """What one listing of a library folder showed (name -> size): files directly in it."""
        listed = {posixpath.join(folder, name): (size, None) for name, size in sizes.items()}
        with self.db:
            rows = self.db.execute("SELECT folder, name, size, mtime FROM files WHERE folder = ?", (folder,))
            self._sync(rows, listed, lambda rel: posixpath.dirname(rel) == folder)

    def _sync(self, rows: Iterable[tuple[str, str, int, float | None]], listed: dict[str, tuple[int, float | None]],
              covered: Callable[[str], bool]) -> None:
        """Make the rows agree with a listing: gone files dropped, changed ones' content forgotten, new ones added."""
        listed = {rel: v for rel, v in listed.items() if indexable(rel)}
        gone, changed, dated = [], [], []
        for folder, name, size, mtime in list(rows):
            rel = posixpath.join(folder, name)
            if rel not in listed:
                if covered(rel):
                    gone.append((folder, name))
                continue
            new_size, new_mtime = listed.pop(rel)
            if new_size != size or None not in (mtime, new_mtime) and new_mtime != mtime:
                changed.append((new_size, new_mtime, folder, name))
            elif mtime is None and new_mtime is not None:
                dated.append((new_mtime, folder, name))
        self.db.executemany("DELETE FROM files WHERE folder = ? AND name = ?", gone)
        self.db.executemany("UPDATE files SET size = ?, mtime = ?, head = NULL, digest = NULL WHERE folder = ? AND name = ?", changed)
        self.db.executemany("UPDATE files SET mtime = ? WHERE folder = ? AND name = ?", dated)
        self.db.executemany("INSERT INTO files (folder, name, size, mtime) VALUES (?, ?, ?, ?)",
                            [(*posixpath.split(rel), size, mtime) for rel, (size, mtime) in listed.items()])

    # --- content ----------------------------------------------------------------------

    def candidates(self, size: int) -> list[Known]:
        """Library files of this size, by path."""
        rows = self.db.execute("SELECT folder, name, size, head, digest FROM files WHERE size = ? ORDER BY folder, name", (size,))
        return [Known(posixpath.join(folder, name), s, head, digest) for folder, name, s, head, digest in rows]

    def known(self, rel: str) -> Known | None:
        folder, name = posixpath.split(rel)
        row = self.db.execute("SELECT size, head, digest FROM files WHERE folder = ? AND name = ?", (folder, name)).fetchone()
        return Known(rel, *row) if row else None

    def learn(self, rel: str, size: int, *, head: str | None = None, digest: str | None = None, mtime: float | None = None) -> None:
        """What the engine read of a library file (a head, a hash): a different head forgets the hash."""
        if not indexable(rel):
            return
        folder, name = posixpath.split(rel)
        with self.db:
            old = self.db.execute("SELECT size, head, digest, mtime FROM files WHERE folder = ? AND name = ?", (folder, name)).fetchone()
            if old is not None and old[0] == size:
                same_head = head is None or old[1] in (None, head)
                head, digest = head or old[1], digest or (old[2] if same_head else None)
                mtime = mtime if mtime is not None else old[3]
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", (folder, name, size, mtime, head, digest))

    def placed(self, rel: str, size: int, mtime: float | None, head: str | None, digest: str | None) -> None:
        """A file the engine is about to move to `rel` (checked like any entry before it is believed)."""
        if self.records_placements:
            self.learn(rel, size, head=head, digest=digest, mtime=mtime)

    def forget(self, rel: str) -> None:
        with self.db:
            self.db.execute("DELETE FROM files WHERE folder = ? AND name = ?", posixpath.split(rel))
