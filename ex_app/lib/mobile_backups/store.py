"""The interface every file store offers the engine, and the local-filesystem store.

A store moves files without ever overwriting one; `settle` tells, after a crash,
whether a move that was under way happened, and finishes it if it half did.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .core.layout import within
from .core.source import ByteSource

PARTIAL = ".mobile-backups-partial"  # a copy under way across filesystems: one short fixed name per folder
Expect = tuple[int, float | None]  # the size and mtime a file had when it was analysed


class Changed(OSError):
    """The file is not the one that was analysed (rewritten or replaced since): not moved."""


class OutsideLibrary(OSError):
    """A symbolic link in the library leads out of it: nothing is written through it."""


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
    def move(self, src: str, dst: str, expect: Expect | None = None) -> None: ...  # expect: Changed if it differs
    def settle(self, src: str, dst: str) -> bool: ...


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStore:
    """Files on this machine. A move is link-then-unlink, so a crash between the two
    leaves the file under both names (the same inode), never under neither.

    Inside `library` no symbolic link to a folder outside it is followed: a linked year
    folder cannot make a move write elsewhere."""

    def __init__(self, library: str | None = None) -> None:
        self.library = library.rstrip("/") if library else None  # as the engine's paths name it
        self._real_library = os.path.realpath(library) if library else ""

    def walk(self, folder: str) -> Iterator[Entry]:
        """Every file under `folder` (or `folder` itself, a file); a linked or unreadable folder is an
        entry with its reason."""
        if not os.path.isdir(folder) and os.path.lexists(folder):
            yield from self._entries(os.path.dirname(folder), [os.path.basename(folder)])
            return
        unreadable: list[OSError] = []
        for root, dirs, files in os.walk(folder, onerror=unreadable.append):
            yield from self._unreadable(unreadable)
            dirs.sort()
            for name in dirs:
                if os.path.islink(path := os.path.join(root, name)):
                    yield Entry(path, 0, None, "symbolic link to a folder: not followed, the files in it are left alone")
            yield from self._entries(root, sorted(files))
        yield from self._unreadable(unreadable)

    @staticmethod
    def _entries(root: str, names: list[str]) -> Iterator[Entry]:
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError as err:
                yield Entry(path, 0, None, f"unreadable: {err.strerror}")
                continue
            if os.path.islink(path):
                yield Entry(path, st.st_size, st.st_mtime, "symbolic link: left alone")
            elif not name.endswith(PARTIAL):
                yield Entry(path, st.st_size, st.st_mtime)

    @staticmethod
    def _unreadable(errors: list[OSError]) -> Iterator[Entry]:
        while errors:
            err = errors.pop(0)
            yield Entry(str(err.filename), 0, None, f"unreadable folder: {err.strerror}; the files in it are left alone")

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

    def move(self, src: str, dst: str, expect: Expect | None = None) -> None:
        """Never overwrites; with `expect`, a file whose size or mtime changed since is not moved."""
        folder, name = os.path.split(dst)
        fd = self._folder(folder)
        try:
            try:
                os.link(src, name, dst_dir_fd=fd, follow_symlinks=False)  # fails if dst exists: never overwrites
            except FileExistsError:
                raise
            except OSError as err:
                if err.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                    raise
                self._copy_into_place(src, fd, name, expect)
            else:
                if _changed(os.stat(name, dir_fd=fd, follow_symlinks=False), expect):
                    os.unlink(name, dir_fd=fd)  # the same inode as src: src keeps it
                    raise Changed(f"{src} changed since it was looked at")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(src)
        _fsync_dir(Path(src).parent)

    def _folder(self, folder: str) -> int:
        """An open descriptor of `folder`, created if missing; in the library, folder by folder
        without following a link that leads out of it."""
        if self.library is None or not within(folder, self.library):
            os.makedirs(folder, exist_ok=True)
            return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        os.makedirs(self._real_library, exist_ok=True)
        fd, here = os.open(self._real_library, os.O_RDONLY | os.O_DIRECTORY), self.library
        try:
            for part in Path(folder).relative_to(self.library).parts:
                here = os.path.join(here, part)
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
                if os.path.islink(here):
                    target = os.path.realpath(here)
                    if not within(target, self._real_library):
                        raise OutsideLibrary(f"{here} is a symbolic link to {target}, outside the library: nothing is written through it")
                    child = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
                else:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _copy_into_place(self, src: str, fd: int, name: str, expect: Expect | None) -> None:
        """Across filesystems: copy to the folder's short partial name (a long final name plus a
        suffix would pass 255 bytes), flush, then take the final name."""
        with open(src, "rb") as reader:
            before = os.fstat(reader.fileno())
            if _changed(before, expect):
                raise Changed(f"{src} changed since it was looked at")
            with suppress(FileNotFoundError):
                os.unlink(PARTIAL, dir_fd=fd)  # left by a crash
            with open(os.open(PARTIAL, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=fd), "wb") as writer:
                while chunk := reader.read(1 << 20):
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
            os.utime(PARTIAL, ns=(before.st_atime_ns, before.st_mtime_ns), dir_fd=fd)
            after = os.fstat(reader.fileno())
        try:
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise Changed(f"{src} changed while it was copied")
            os.link(PARTIAL, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
        finally:
            os.unlink(PARTIAL, dir_fd=fd)

    def settle(self, src: str, dst: str) -> bool:
        partial = os.path.join(os.path.dirname(dst), PARTIAL)
        if os.path.lexists(partial):
            os.unlink(partial)
        if not os.path.lexists(dst):
            return False
        if not os.path.lexists(src):
            return True
        if os.path.samefile(src, dst) or self.digest(src)[0] == self.digest(dst)[0]:
            os.unlink(src)
            return True
        return False


def _changed(st: os.stat_result, expect: Expect | None) -> bool:
    if expect is None:
        return False
    size, mtime = expect
    return st.st_size != size or (mtime is not None and st.st_mtime != mtime)
