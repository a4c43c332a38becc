"""Transforms for many files: a bounded process pool, a time limit and a memory limit per worker.

Workers are as many as the cores and the memory allow (a worker may hold a photo at the pixel limit,
decoded, and its resized copy). A file over its time or memory limit, or one whose worker dies, is a
skip with a reason; the others go on. Workers start from a fork server: a clean process, not a copy of
the caller's state (its threads, locks, or a test's patched functions).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

import pillow_heif

from .gates import MAX_PIXELS
from .transforms import Result, action_of, convert_heic, downscale, reencode, strip_location
from .video import reencode_video

WORKER_MEMORY = MAX_PIXELS * 4 * 2  # RGB(X) at the pixel limit, twice (decoded and resized): about 2 GB
SECONDS_PER_FILE = 120.0

ACTIONS: dict[str, Callable[..., Result]] = {  # a rule's action: its transform, called (source, output, **options)
    "convert": convert_heic,
    "downscale": downscale,
    "reencode": reencode,
    "strip_location": strip_location,
    "reencode_video": reencode_video,
}
Job = Callable[[], Result]  # a transform with its arguments bound: functools.partial(convert_heic, src, dst, quality=90)
CONTEXT = multiprocessing.get_context("forkserver")


def workers(memory: int | None = None) -> int:
    """Processes for a batch: the cores, fewer if the available memory cannot hold that many workers."""
    if memory is None:
        pages = os.sysconf("SC_AVPHYS_PAGES") if hasattr(os, "sysconf") else 0
        memory = pages * os.sysconf("SC_PAGE_SIZE") if pages else WORKER_MEMORY
    return max(1, min(os.cpu_count() or 1, memory // WORKER_MEMORY))


def one_worker(memory: int = WORKER_MEMORY, owner: int | None = None, nice: int = 0) -> None:
    """Settings for one of a pool's workers: one decoding thread (the pool already has a worker per core), and at most
    `memory` bytes of address space beyond what it holds now (a decoder asking for more fails: a skip, not an OOM kill).
    The programs it starts (exiftool, ffmpeg) inherit the limit. It ends when `owner` (the process that made the pool)
    is gone: a worker of the fork server would otherwise wait for work for ever after its owner was killed. `nice`
    lowers its priority (videos: they must not slow down organising)."""
    pillow_heif.options.DECODE_THREADS = 1
    if nice:
        os.nice(nice)
    if owner is not None:
        threading.Thread(target=_watch, args=(owner,), daemon=True, name="owner-watch").start()
    status = Path("/proc/self/status")
    held = next((int(line.split()[1]) * 1024 for line in status.read_text().splitlines() if line.startswith("VmSize:")), None) \
        if status.exists() else None
    if held is not None:
        resource.setrlimit(resource.RLIMIT_AS, (held + memory, resource.getrlimit(resource.RLIMIT_AS)[1]))


def _watch(owner: int) -> None:
    """Exit once the owner process is gone or a zombie (a killed owner stays one until its parent reaps it)."""
    stat = Path(f"/proc/{owner}/stat")
    while True:
        time.sleep(0.5)
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = "gone"
        if state in ("Z", "X", "gone"):
            os._exit(1)


class _TimeUp(BaseException):  # not an Exception: no handler in a transform takes it for a bad file
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _TimeUp


def _run(job: Job, seconds: float) -> Result:
    """Run one job in a worker under a timer (a signal: it fires once the decoder returns to Python)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return job()
    except _TimeUp:
        return _failed(job, f"took longer than {seconds:g} s: stopped")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _failed(job: Job, reason: str) -> Result:
    action = action_of(job.func) if isinstance(job, partial) else "transform"
    source = Path(job.args[0]) if isinstance(job, partial) and job.args else Path("?")
    size = source.stat().st_size if source.exists() else 0
    return Result(action, str(source), None, size, skipped=reason)


def run(jobs: Iterable[Job], *, processes: int | None = None, seconds: float = SECONDS_PER_FILE,
        memory: int = WORKER_MEMORY) -> Iterator[Result]:
    """Each job's result as it finishes (not in order). Jobs must be picklable (partials of module functions).
    If a worker dies (killed for its memory, say), the jobs not finished by then are skipped with that reason."""
    jobs = list(jobs)
    with ProcessPoolExecutor(max_workers=processes or workers(), mp_context=CONTEXT, initializer=one_worker,
                             initargs=(memory, os.getpid())) as executor:
        futures = {executor.submit(_run, job, seconds): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield future.result()
            except BrokenProcessPool:
                yield _failed(futures[future], "its worker died (out of memory, or killed): not transformed")
            except Exception as err:  # a bug or a hostile file in one job: its skip, not the batch's end
                yield _failed(futures[future], f"failed: {type(err).__name__}: {err}")


class Worker:
    """One job at a time in a worker process kept for a whole rules run (started at the first job), under the
    same limits as `run`; a worker that dies is replaced for the next job."""

    def __init__(self, seconds: float = SECONDS_PER_FILE, memory: int = WORKER_MEMORY, nice: int = 0) -> None:
        self.seconds, self.memory, self.nice = seconds, memory, nice
        self._executor: ProcessPoolExecutor | None = None

    def __call__(self, job: Job) -> Result:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=CONTEXT, initializer=one_worker,
                                                 initargs=(self.memory, os.getpid(), self.nice))
        try:
            return self._executor.submit(_run, job, self.seconds).result()
        except BrokenProcessPool:
            self.close()
            return _failed(job, "its worker died (out of memory, or killed): not transformed")
        except Exception as err:
            return _failed(job, f"failed: {type(err).__name__}: {err}")

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None
