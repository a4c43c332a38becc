"""One run at a time per library and per inbox on this machine.

Both are `flock` locks, which the OS releases when the process ends, however it ends (a
crash or kill -9 leaves no stale lock). The library's is a file in its state folder, holding
who runs; an inbox's is taken on the inbox folder itself, so the user's folder gets no file
(a file there would be synced to phones and shown in the Files app).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

POLL = 0.2  # seconds between tries while waiting


class Busy(Exception):
    """Another run holds the lock; the message names it."""


@contextmanager
def run_lock(state_dir: Path, inboxes: list[str], command: str, wait: float = 0) -> Iterator[None]:
    """Hold the library's lock (`state_dir`) and each inbox's for the block, waiting at most
    `wait` seconds for another run to finish. Always the library first, then the inboxes in
    order, so two runs never wait for each other in a circle."""
    state_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with ExitStack() as held:
        library_fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        held.callback(os.close, library_fd)
        _take(library_fd, deadline, wait, lambda: f"the library {state_dir.parent} ({_holder(library_fd)})")
        os.ftruncate(library_fd, 0)
        os.pwrite(library_fd, f"pid {os.getpid()}: {command} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        for inbox in sorted(set(inboxes)):
            fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
            held.callback(os.close, fd)
            _take(fd, deadline, wait, lambda: f"the inbox {inbox}")
        yield


def _take(fd: int, deadline: float, wait: float, what: Callable[[], str]) -> None:
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Busy(f"another run is active on {what()}") from None
            if not announced:
                print(f"waiting up to {wait:g} s for another run on {what()} to finish", file=sys.stderr, flush=True)
                announced = True
            time.sleep(min(POLL, left))


def _holder(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "starting"
