"""Byte sources: the only way the engine reads a file (the local one is in `store.py`).

The engine asks for byte ranges, never for whole files, so that a remote store can
answer with HTTP range requests. `BlockReader` turns a source into a seekable
file object for parsers (exifread, our box walkers) and counts what was fetched.
"""

from __future__ import annotations

import io
import time
from typing import Protocol


class OverBudget(Exception):
    """Reading one file's metadata needed more time or bytes than any real file does."""


class ByteSource(Protocol):
    """Random access to a file's bytes; `read_at` may return fewer bytes only at EOF."""

    size: int

    def read_at(self, offset: int, length: int) -> bytes: ...


class BlockReader(io.RawIOBase):
    """A read-only, seekable file object over a `ByteSource`, fetched in aligned blocks.

    Blocks are cached, so parsers that re-read headers cost nothing extra;
    `bytes_read` is what the source actually delivered. A budget (`seconds` from now,
    `max_bytes` delivered) bounds what one file may cost: every read checks it, and past it
    raises `OverBudget`, so no parser (ours or exifread) can stall on a crafted file.
    """

    def __init__(self, source: ByteSource, block_size: int = 32 * 1024, *, seconds: float | None = None,
                 max_bytes: int | None = None) -> None:
        super().__init__()
        self.source = source
        self.size = source.size
        self.block_size = block_size
        self.bytes_read = 0
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self._blocks: dict[int, bytes] = {}
        self._pos = 0
        self._cached_reads = 0

    def check(self) -> None:
        """Raise `OverBudget` once the time is up: before every fetch, and every 64th read from the cache
        (every walker's loop reads through here, so none runs on past the deadline)."""
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OverBudget(f"metadata took longer than {self.seconds:g} s to read")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def pread(self, offset: int, length: int) -> bytes:
        """Bytes at `offset` (fewer at EOF), without moving the position.

        The clock is read before every fetch and every 64th read from the cache (a parser's loop
        over cached bytes overruns the deadline by microseconds at most)."""
        end = min(offset + max(length, 0), self.size)
        if offset >= end:
            return b""
        first, last = offset // self.block_size, (end - 1) // self.block_size
        self._cached_reads += 1
        if first == last and first in self._blocks:  # the common case: one cached block
            if not self._cached_reads & 63:
                self.check()
            start = offset - first * self.block_size
            return self._blocks[first][start : start + end - offset]
        self.check()
        run_start = None
        for b in range(first, last + 2):
            if b <= last and b not in self._blocks:
                run_start = b if run_start is None else run_start
            elif run_start is not None:
                self._fetch(run_start, b - 1)
                run_start = None
        chunks = [self._blocks[b] for b in range(first, last + 1)]
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        start = offset - first * self.block_size
        return data[start : start + end - offset]

    def _fetch(self, first: int, last: int) -> None:
        """One source read for a run of blocks (one range request when remote)."""
        self.check()
        start = first * self.block_size
        length = (last - first + 1) * self.block_size
        self._spend(min(length, self.size - start))
        data = self.source.read_at(start, length)
        self.bytes_read += len(data)
        for i, b in enumerate(range(first, last + 1)):
            self._blocks[b] = data[i * self.block_size : (i + 1) * self.block_size]

    def _spend(self, length: int) -> None:
        if self.max_bytes is not None and self.bytes_read + length > self.max_bytes:
            raise OverBudget(f"reading its metadata would take more than {self.max_bytes // 2**20} MiB of the file")

    def read_exact(self, offset: int, length: int) -> bytes:
        """A small read outside the block cache (a box header far into a file, say): counted, not cached."""
        offset, length = max(0, offset), min(length, self.size - max(0, offset))
        if length <= 0:
            return b""
        first, last = offset // self.block_size, (offset + length - 1) // self.block_size
        if first in self._blocks and (first == last or all(b in self._blocks for b in range(first + 1, last + 1))):
            return self.pread(offset, length)
        self.check()
        self._spend(length)
        data = self.source.read_at(offset, length)
        self.bytes_read += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        data = self.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
