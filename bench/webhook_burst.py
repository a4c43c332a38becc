#!/usr/bin/env python3
"""The ExApp's webhook handler under a burst, without Nextcloud: main.py as AppAPI starts it, against the
stand-in Nextcloud of the tests (tests/fake_nextcloud.py), with the app enabled (its worker drains the queue meanwhile).

1. p99 answer time of 10,000 signed POST /webhook calls, 16 at a time, against 10,000 GET /heartbeat
   calls sent the same way just before (target: the webhook's p99 within 1.5x of /heartbeat's).
2. The ExApp's memory (resident set, and its peak) while 1,000,000 events arrive: they wait on disk
   (the SQLite queue), not in memory.

`python bench/webhook_burst.py [--events 10000] [--flood 1000000]`
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from fake_nextcloud import FakeNextcloud  # noqa: E402
from test_exapp_http import running_exapp, signed  # noqa: E402

CREATED = "OCP\\Files\\Events\\Node\\NodeCreatedEvent"


def payload(i: int) -> dict:
    """An upload into another folder than the inboxes: the worker drops it after one look at the path."""
    return {"event": {"class": CREATED, "node": {"id": i, "path": f"/burst/files/Elsewhere/IMG_{i:07d}.jpg"}}, "user": None}


def timed(base: str, count: int, workers: int, webhook: bool, offset: int = 0, headers: dict[str, str] | None = None) -> tuple[list[float], float]:
    """Answer times of `count` calls, `workers` at a time, and the wall time of them all (signed with `headers`,
    by default as for the stand-in Nextcloud)."""
    client = httpx.Client(base_url=base, headers=headers or signed(""), limits=httpx.Limits(max_connections=workers), timeout=60)

    def call(i: int) -> float:
        started = time.perf_counter()
        response = client.post("/webhook", json=payload(offset + i)) if webhook else client.get("/heartbeat")
        assert response.status_code == 200, response.text
        return time.perf_counter() - started

    with ThreadPoolExecutor(workers) as pool:
        started = time.perf_counter()
        times = sorted(pool.map(call, range(count)))
    client.close()
    return times, time.perf_counter() - started


def pct(times: list[float], q: float) -> float:
    return times[min(len(times) - 1, int(len(times) * q))]


def burst(base: str, events: int, workers: int, headers: dict[str, str] | None = None, rounds: int = 10) -> str:
    """`events` webhook calls and as many /heartbeat calls, `workers` at a time, in alternating rounds
    (whatever else the machine does then weighs on both alike); their p50 and p99 compared."""
    timed(base, 500, workers, webhook=True, offset=10**8, headers=headers)  # warm-up: connections, the first settings read
    beats: list[float] = []
    hooks: list[float] = []
    wall = 0.0
    for r in range(rounds):
        beats += timed(base, events // rounds, workers, webhook=False, headers=headers)[0]
        times, seconds = timed(base, events // rounds, workers, webhook=True, offset=r * events, headers=headers)
        hooks, wall = hooks + times, wall + seconds
    beats.sort()
    hooks.sort()
    h50, h99, w50, w99 = pct(beats, 0.5), pct(beats, 0.99), pct(hooks, 0.5), pct(hooks, 0.99)
    return (f"burst: {len(hooks)} webhook calls, {workers} at a time, in {wall:.1f} s: p50 {w50 * 1000:.1f} ms, p99 {w99 * 1000:.1f} ms; "
            f"/heartbeat the same way (alternating rounds of {events // rounds}): p50 {h50 * 1000:.1f} ms, p99 {h99 * 1000:.1f} ms "
            f"-> webhook p99 = {w99 / h99:.2f}x heartbeat p99 (target <= 1.5x)")


def memory(pid: int) -> tuple[int, int]:
    """(resident, peak resident) KiB of a process."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="calls of each kind for the p99 figures")
    parser.add_argument("--workers", type=int, default=16, help="calls at a time")
    parser.add_argument("--flood", type=int, default=1_000_000, help="events for the memory figure (0: none)")
    args = parser.parse_args()
    fake = FakeNextcloud()
    fake.users = {"burst": {"folders": {"InstantUpload"}}}
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) / "storage"
        storage.mkdir()
        (storage / "enabled").touch()  # enabled before: the worker and the sweeper run from the start
        started: list[subprocess.Popen] = []
        with running_exapp(fake.url, storage, output=subprocess.DEVNULL, started=started) as base:
            pid = started[0].pid
            print(burst(base, args.events, args.workers), flush=True)
            if args.flood:
                before, _ = memory(pid)
                step, sent, flood_started = 50_000, 0, time.perf_counter()
                while sent < args.flood:
                    n = min(step, args.flood - sent)
                    timed(base, n, args.workers, webhook=True, offset=sent + 10**7)
                    sent += n
                    rss, peak = memory(pid)
                    print(f"  {sent} events in {time.perf_counter() - flood_started:.0f} s: ExApp resident {rss / 1024:.0f} MiB "
                          f"(peak {peak / 1024:.0f} MiB)", flush=True)
                rss, peak = memory(pid)
                queue_mib = sum(p.stat().st_size for p in storage.glob("queue.sqlite*")) / 2**20
                print(f"memory: {sent} events: ExApp resident {before / 1024:.0f} MiB before, {rss / 1024:.0f} MiB after, "
                      f"peak {peak / 1024:.0f} MiB; the queue on disk {queue_mib:.0f} MiB")
    fake.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
