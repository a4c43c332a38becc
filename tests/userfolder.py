"""A stand-in for NextcloudStore: one user's files in a local folder, paths relative to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mobile_backups.store import Entry, LocalStore
from mobile_backups.store import LocalFile


class UserFolder:
    requests = 0

    def __init__(self, root: Path) -> None:
        self.root = root
        self.local = LocalStore()

    def _abs(self, path: str) -> str:
        return str(self.root / path)

    def _entry(self, entry: Entry) -> Entry:
        return Entry(str(Path(entry.path).relative_to(self.root)), entry.size, entry.mtime, entry.problem)

    def walk(self, folder: str) -> Iterator[Entry]:
        return (self._entry(e) for e in self.local.walk(self._abs(folder)))

    def entries(self, folder: str) -> list[Entry]:
        return [self._entry(e) for e in self.local.walk(self._abs(folder)) if Path(e.path).parent == self.root / folder]

    def open(self, path: str, size: int | None = None) -> LocalFile:
        return self.local.open(self._abs(path))

    def listdir(self, folder: str) -> dict[str, int]:
        return self.local.listdir(self._abs(folder))

    def head(self, path: str, length: int) -> bytes:
        return self.local.head(self._abs(path), length)

    def digest(self, path: str) -> tuple[str, int]:
        return self.local.digest(self._abs(path))

    def exists(self, path: str) -> bool:
        return self.local.exists(self._abs(path))

    def move(self, src: str, dst: str, expect: tuple[int, float | None] | None = None) -> None:
        self.local.move(self._abs(src), self._abs(dst), expect)

    def live_peer(self, path: str) -> str | None:
        return None  # no phone app links files here (FakeNextcloud's DavFiles does)

    def settle(self, src: str, dst: str) -> bool:
        return self.local.settle(self._abs(src), self._abs(dst))
