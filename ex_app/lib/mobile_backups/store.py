"""The interface every file store offers the engine, and the local-filesystem store.

A store moves files without ever overwriting one; `settle` tells, after a crash,
whether a move that was under way happened, and finishes it if it half did.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .core.source import ByteSource

PARTIAL = ".mobile-backups-partial"


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    mtime: float | None
    problem: str | None = None


class LocalFile:
    """A `ByteSource` over a file on the local filesystem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY)
        self.size = os.fstat(self._fd).st_size

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> LocalFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Store(Protocol):
    def walk(self, folder: str) -> Iterator[Entry]: ...
    def open(self, path: str, size: int | None = None) -> AbstractContextManager[ByteSource]: ...  # size: if known
    def listdir(self, folder: str) -> dict[str, int]: ...
    def digest(self, path: str) -> tuple[str, int]: ...
    def head(self, path: str, length: int) -> bytes: ...
    def exists(self, path: str) -> bool: ...
    def move(self, src: str, dst: str) -> None: ...
    def settle(self, src: str, dst: str) -> bool: ...


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """Files on this machine. A move is link-then-unlink, so a crash between the two
    leaves the file under both names (the same inode), never under neither."""

    def walk(self, folder: str) -> Iterator[Entry]:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                except OSError as err:
                    yield Entry(path, 0, None, f"unreadable: {err.strerror}")
                    continue
                if os.path.islink(path):
                    yield Entry(path, st.st_size, st.st_mtime, "symbolic link: left alone")
                elif name.endswith(PARTIAL):
                    continue
                else:
                    yield Entry(path, st.st_size, st.st_mtime)

    def open(self, path: str, size: int | None = None) -> LocalFile:
        return LocalFile(Path(path))

    def head(self, path: str, length: int) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(length)

    def listdir(self, folder: str) -> dict[str, int]:
        try:
            with os.scandir(folder) as entries:
                return {e.name: e.stat().st_size for e in entries if e.is_file(follow_symlinks=False)}
        except FileNotFoundError:
            return {}

    def digest(self, path: str) -> tuple[str, int]:
        sha, total = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
                total += len(chunk)
        return sha.hexdigest(), total

    def exists(self, path: str) -> bool:
        return os.path.lexists(path)

    def move(self, src: str, dst: str) -> None:
        target = Path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)  # fails if dst exists: never overwrites
        except FileExistsError:
            raise
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            self._copy_into_place(Path(src), target)
        _fsync_dir(target.parent)
        os.unlink(src)
        _fsync_dir(Path(src).parent)

    def _copy_into_place(self, src: Path, dst: Path) -> None:
        """Across filesystems: copy to a partial name, flush, then take the final name."""
        partial = dst.with_name(dst.name + PARTIAL)
        with open(src, "rb") as reader, open(partial, "wb") as writer:
            while chunk := reader.read(1 << 20):
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        st = src.stat()
        os.utime(partial, ns=(st.st_atime_ns, st.st_mtime_ns))
        try:
            os.link(partial, dst)
        except FileExistsError:
            partial.unlink()
            raise
        partial.unlink()

    def settle(self, src: str, dst: str) -> bool:
        partial = Path(dst + PARTIAL)
        if partial.exists():
            partial.unlink()
        if not os.path.lexists(dst):
            return False
        if not os.path.lexists(src):
            return True
        if os.path.samefile(src, dst) or self.digest(src)[0] == self.digest(dst)[0]:
            os.unlink(src)
            return True
        return False
