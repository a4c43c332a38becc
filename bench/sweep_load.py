"""The sweep's load on a large server, simulated: a stand-in Nextcloud (tests/fake_nextcloud.py, real HTTP,
real files) with 10,000 users that counts every request, driven through the real App, worker and sweeper
for a simulated day. The sweeper runs on a simulated clock (its waits advance it); uploads happen at their
simulated times, with their webhook delivered while the app is up; the worker organises what is due after
every step. Two hours of the day the app is down: those uploads have no webhook, and the sweep must find them.

    .venv/bin/python bench/sweep_load.py [--users 10000] [--uploaders 1000]

Prints the requests of the first enable (a full listing of every user), the steady-state average of the
sweep's requests per second, and the time from the app's return to the last file of the outage organised.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fake_nextcloud import FakeNextcloud  # noqa: E402
from mobile_backups import samples  # noqa: E402
from mobile_backups.nextcloud.app import App  # noqa: E402
from mobile_backups.nextcloud.store import AppAuth  # noqa: E402
from mobile_backups.nextcloud.sweeper import CATCH_UP_RATE, STEADY_RATE, Sweeper  # noqa: E402

DAY = 86400.0


@dataclass
class Result:
    users: int
    interval: float
    first_enable_requests: int = 0
    first_enable_seconds: float = 0.0
    notified: int = 0  # users told about their backlog
    steady_requests: int = 0  # the sweep's, outside the first enable and the catch-up after the outage
    steady_seconds: float = 0.0
    organising_requests: int = 0  # the worker's (organising the uploads, notifications), all day
    uploads: int = 0
    outage_uploads: int = 0
    catch_up_requests: int = 0
    catch_up_seconds: float = 0.0  # from the app's return until every user was looked at
    outage_organised_after: float | None = None  # from the app's return until the last file of the outage was organised
    left_in_inboxes: int = 0  # fresh uploads not organised at the end of the day
    backlog_untouched: bool = True


@dataclass
class World:
    """The simulated day: the clock, the uploads to come, and the app's up or down."""

    fake: FakeNextcloud
    app: App
    t: float
    uploads: list[tuple[float, str, str]]  # (time, user, path), in time order
    down: tuple[float, float]
    photo: bytes
    stop_at: float = float("inf")  # the sweeper's pass is ended here (the end of the simulated day)
    worker_requests: int = 0
    outage_files: dict[tuple[str, str], float | None] = field(default_factory=dict)  # -> when organised

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> bool:
        self.advance(self.t + seconds)
        return False

    def advance(self, to: float) -> None:
        while self.uploads and self.uploads[0][0] <= to:
            when, user, path = self.uploads.pop(0)
            self.t = when
            self._down_or_up()
            self.fake.files.upload(user, path, self.photo + int(when * 1000).to_bytes(8, "big"))  # bytes after the end: each photo its own
            if self.app.enabled.is_set():  # webhook_listeners delivers the event (its worker: within about a second)
                self.app.queue.add(user, path)
            else:
                self.outage_files[(user, path)] = None
            self.organise()
        self.t = to
        self._down_or_up()
        self.organise()

    def _down_or_up(self) -> None:
        if self.down[0] <= self.t < self.down[1] or self.t >= self.stop_at:
            self.app.enabled.clear()  # the sweeper's pass ends at its next user

    def organise(self) -> None:
        """What the worker thread does with what is due (and the batch notifications), counted apart from the sweep."""
        if not self.app.enabled.is_set():
            return
        before = len(self.fake.calls)
        for user, jobs in self.app.queue.due().items():
            self.app.organiser.process(user, jobs)
        self.app.organiser.report_batches(quiet=0)
        self.worker_requests += len(self.fake.calls) - before
        for (user, path), when in self.outage_files.items():
            if when is None and not (self.fake.files.root / user / path).exists():
                self.outage_files[(user, path)] = self.t


def simulate(work: Path, users: int = 10000, uploaders: int = 1000, per_uploader: int = 2, backlog_users: int = 100,
             day: float = DAY, down: tuple[float, float] = (12 * 3600.0, 14 * 3600.0), interval: int = 300, seed: int = 1) -> Result:
    rng = random.Random(seed)
    start = float(int(time.time()) - 2 * day)
    fake = FakeNextcloud(files=work / "files")
    names = [f"user{n:05d}" for n in range(users)]
    fake.users = {name: {"groups": [], "timezone": "Europe/Berlin"} for name in names}
    fake.admin = {"sweep_interval": str(interval)}
    for name in names:
        (work / "files" / name / "InstantUpload").mkdir(parents=True)
    photo = samples.jpeg(work / "photo.jpg", size=(64, 48), exif=samples.Exif(date_time_original="2024:11:24 15:30:12")).read_bytes()
    fake.files.clock = lambda: start - 30 * 86400  # a month before the app is enabled
    backlog = set()
    for name in names[:backlog_users]:
        for n in range(3):
            path = f"InstantUpload/IMG_OLD_{n}.jpg"
            fake.files.upload(name, path, photo + n.to_bytes(4, "big"))
            backlog.add((name, path))
    app = App(AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64), work / "storage")
    app.refresh_webhooks = lambda: None  # type: ignore[method-assign]  # webhook_listeners is not part of the stand-in
    plan = sorted((start + rng.uniform(0, day), user, f"InstantUpload/IMG_{start:.0f}_{n}.jpg")
                  for user in rng.sample(names, uploaders) for n in range(per_uploader))
    world = World(fake, app, start, plan, (start + down[0], start + down[1]), photo)
    fake.files.clock = world.now
    app.backlogs.clock = world.now
    app.sweeper = Sweeper(app, world)
    result = Result(users, float(interval), uploads=len(plan))

    def sweep_requests(since_calls: int, since_worker: int) -> int:
        return (len(fake.calls) - since_calls) - (world.worker_requests - since_worker)

    try:
        # the admin enables the app: every user is listed once (their backlog counted, a notification each)
        app.backlogs.enabled()
        app.enabled.set()
        app.sweeper.catch_up()
        calls, worker = len(fake.calls), world.worker_requests
        app.sweeper.cycle()
        result.first_enable_requests, result.first_enable_seconds = sweep_requests(calls, worker), world.t - start
        steady_from = world.t
        calls, worker = len(fake.calls), world.worker_requests
        while world.t < world.down[0]:
            app.sweeper.cycle()
        result.steady_requests += sweep_requests(calls, worker)
        result.steady_seconds += world.down[0] - steady_from
        world.advance(world.down[1])  # the app is down: uploads pile up without webhooks
        app.enabled.set()  # it starts again: a catch-up of every user
        app.sweeper.catch_up()
        calls, worker = len(fake.calls), world.worker_requests
        app.sweeper.cycle()
        result.catch_up_requests, result.catch_up_seconds = sweep_requests(calls, worker), world.t - world.down[1]
        steady_from = world.t
        calls, worker = len(fake.calls), world.worker_requests
        world.stop_at = start + day
        while app.enabled.is_set():
            app.sweeper.cycle()
        result.steady_requests += sweep_requests(calls, worker)
        result.steady_seconds += world.t - steady_from
        world.stop_at = float("inf")
        app.enabled.set()
        world.advance(world.t + interval)  # what the last steps queued is organised
        result.organising_requests = world.worker_requests
        result.outage_uploads = len(world.outage_files)
        times = list(world.outage_files.values())
        result.outage_organised_after = None if None in times or not times else max(times) - world.down[1]
        result.left_in_inboxes = sum(1 for p in (work / "files").glob("*/InstantUpload/IMG_*") if "IMG_OLD" not in p.name)
        result.backlog_untouched = all((work / "files" / u / p).exists() for u, p in backlog)
        result.notified = len({u for u, params in fake.notifications if "older" in params["subject_params"]["rich_subject"]})
    finally:
        app.stop()
        fake.close()
    return result


def report(r: Result) -> str:
    full_pass_rate = r.first_enable_requests / r.interval
    caught = "not all organised" if r.outage_organised_after is None else f"all organised {r.outage_organised_after:.0f} s after it came back"
    return "\n".join([
        f"users: {r.users:,}; sweep interval {r.interval:.0f} s; steady pace <= {STEADY_RATE} requests/s, catch-up <= {CATCH_UP_RATE:.0f} requests/s",
        f"first enable: every user listed once (inboxes by PROPFIND, settings): {r.first_enable_requests:,} requests in "
        f"{r.first_enable_seconds:.0f} s; {r.notified} user(s) told about their backlog"
        + ("" if r.backlog_untouched else "; BACKLOG TOUCHED"),
        f"  (that listing of every user at every interval, as the sweep did before: {full_pass_rate:.0f} requests/s)",
        f"steady state: {r.steady_requests:,} sweep requests in {r.steady_seconds / 3600:.1f} h -> "
        f"{r.steady_requests / r.steady_seconds:.2f} requests/s on average (target <= 1); organising {r.uploads:,} uploads "
        f"(and their notifications) all day: {r.organising_requests:,} requests more",
        f"outage of 2 h: {r.outage_uploads} file(s) uploaded while the app was down; after it came back, every user looked at in "
        f"{r.catch_up_seconds:.0f} s ({r.catch_up_requests:,} requests), {caught} (target: within one sweep interval, {r.interval:.0f} s)",
        f"left in the inboxes at the end of the day: {r.left_in_inboxes} fresh upload(s)",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--uploaders", type=int, default=1000, help="users who upload during the day")
    parser.add_argument("--per-uploader", type=int, default=2)
    parser.add_argument("--interval", type=int, default=300)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(Path(tmp), args.users, args.uploaders, args.per_uploader, interval=args.interval)
    print(report(result))
    print(f"(simulated in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
