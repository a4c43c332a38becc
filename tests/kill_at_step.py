"""For crash tests: count every link, unlink, rename and journal write, and SIGKILL this process before step N."""

from __future__ import annotations

import os
import signal

from mobile_backups import journal


def install(limit: int) -> None:
    count = 0

    def step(fn):
        def wrapped(*args, **kwargs):
            nonlocal count
            count += 1
            if count == limit:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return wrapped

    os.link, os.unlink, os.rename = step(os.link), step(os.unlink), step(os.rename)
    journal.Journal.write = step(journal.Journal.write)
