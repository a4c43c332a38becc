"""The worker against a stand-in Nextcloud that fails as real servers do: 503s, stalls and answers cut
half way on a seeded schedule, an outage, a user whose requests all stall, a crash and restart with
uploads made meanwhile, a deleted user, an app that is disabled or no longer known.

Timeouts are short here (0.5 s against 1 s stalls) so that the whole file runs in well under a minute;
the app's defaults are CONNECT_SECONDS / READ_SECONDS in nextcloud/store.py."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.nextcloud import app as app_module
from mobile_backups.nextcloud import occ
from mobile_backups.nextcloud import store as store_module
from mobile_backups.nextcloud import worker as worker_module
from mobile_backups.nextcloud.app import App
from mobile_backups.nextcloud.settings import admin_config, user_config
from mobile_backups.nextcloud.store import AppAuth, NextcloudStore
from mobile_backups.nextcloud.work_queue import MAX_ATTEMPTS, WorkQueue
from mobile_backups.nextcloud.worker import Organiser, Summary
from conftest import BERLIN, ROOT
from fake_nextcloud import FakeNextcloud, Faults
from test_organise import tree

CONFIG = user_config(admin_config({}), {}, server_zone=BERLIN)
TIMEOUT = (0.5, 0.5)  # connect, read: shorter than the fake's 1 s stalls
BACKOFF = (0.05, 0.5)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(store_module, "RETRY_PAUSES", (0.05, 0.1))


@pytest.fixture
def nextcloud(tmp_path: Path):
    fake = FakeNextcloud(files=tmp_path / "files")
    yield fake
    fake.close()


def upload(fake: FakeNextcloud, user: str, count: int, start: int = 0, live: int = 0) -> dict[str, str]:
    """`count` photos (and `live` linked live-photo pairs) uploaded into the user's InstantUpload: name -> sha256."""
    home = fake.files.root / user
    (home / "Photos").mkdir(parents=True, exist_ok=True)
    made = {}
    for n in range(start, start + count):
        day = 1 + n % 28
        path = samples.jpeg(home / f"InstantUpload/IMG_{n:04d}.jpg", seed=n, exif=samples.Exif(date_time_original=f"2024:{1 + n % 12:02d}:{day:02d} 10:00:00"))
        made[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    for n in range(live):
        still = samples.heic(home / f"InstantUpload/IMG_{9000 + n}.HEIC", seed=500 + n,
                             exif=samples.Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00"))
        video = samples.video(home / f"InstantUpload/IMG_{9000 + n}.MOV", apple_creationdate=f"2024-11-24T15:30:{13 + n}+0100")
        fake.files.link(user, f"InstantUpload/{still.name}", f"InstantUpload/{video.name}")
        made.update({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (still, video)})
    for name in made:
        fake.files.stamp(user, f"InstantUpload/{name}")
    return made


def library(fake: FakeNextcloud, user: str) -> dict[str, str]:
    """name -> sha256 of every file organised into the user's Photos (a name twice fails the test)."""
    home = fake.files.root / user / "Photos"
    names = Counter(Path(p).name for p in tree(home))
    assert not [n for n, c in names.items() if c > 1], "a file is in the library twice"
    return {Path(p).name: hashlib.sha256((home / p).read_bytes()).hexdigest() for p in tree(home)}


def organiser(fake: FakeNextcloud, tmp_path: Path, **kw) -> tuple[Organiser, WorkQueue]:
    auth = AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64)
    queue = WorkQueue(tmp_path / "state" / "queue.sqlite", backoff=BACKOFF)
    return Organiser(lambda user: NextcloudStore(auth, user, timeout=TIMEOUT), queue, tmp_path / "state", lambda user: CONFIG, **kw), queue


class Running:
    """The worker's own loop in a thread, as the app runs it."""

    def __init__(self, worker: Organiser) -> None:
        self.worker = worker
        worker.stop.clear()
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()

    def until(self, what: str, check, timeout: float) -> float:
        started = time.monotonic()
        while not check():
            assert time.monotonic() - started < timeout, f"not within {timeout} s: {what}"
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> None:
        self.worker.stop.set()
        self.worker.queue.wake.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def all_done(fake: FakeNextcloud, queue: WorkQueue, users: dict[str, dict[str, str]]):
    return lambda: queue.pending() == 0 and queue.parked_count() == 0 and all(
        not list((fake.files.root / u / "InstantUpload").iterdir()) for u in users)


def test_a_flaky_server_leaves_no_upload_behind(nextcloud, tmp_path):
    """10 % of requests 503, 3 % stalled, 2 % cut half way, for a while: then everything is organised
    once, nothing is a "problem", nothing is settled with a failure for a reason."""
    made = {user: upload(nextcloud, user, 24, live=2) for user in ("alice", "bob")}
    reports: list[tuple[str, Summary]] = []
    worker, queue = organiser(nextcloud, tmp_path, on_batch=lambda user, summary: reports.append((user, summary)))
    nextcloud.faults = Faults(seed=10, error=0.10, stall=0.03, cut=0.02)
    for user, files in made.items():  # what the webhooks bring
        queue.add_many(user, [f"InstantUpload/{name}" for name in sorted(files)])
    running = Running(worker)
    time.sleep(6)
    injected = dict(nextcloud.faults.injected)
    nextcloud.faults = None
    recovery = running.until("everything organised after the faults stopped", all_done(nextcloud, queue, made), 30)
    running.stop()
    print(f"faults injected: {injected}; organised {recovery:.1f} s after they stopped")
    assert injected.get("error", 0) >= 5 and injected.get("stall", 0) >= 1 and injected.get("cut", 0) >= 1, injected
    for user, files in made.items():
        assert library(nextcloud, user) == files  # every file once, with its content: nothing lost, nothing duplicated
        assert queue.settled_count(user) == 0, queue._db.execute("SELECT * FROM settled").fetchall()  # no verdict because the server failed
    assert not [p for p in tree(nextcloud.files.root) if "(2)" in p]
    worker.report_batches(quiet=0)
    told = {user: summary for user, summary in reports}
    assert sorted(told) == ["alice", "bob"]
    # 26 photos and 2 videos each, counted once though many moves were told about only by a later look
    assert {u: (s.moved, s.videos, s.problems, s.duplicates) for u, s in told.items()} == {u: (28, 2, 0, 0) for u in made}


def test_moves_side_by_side_make_each_new_folder_once(nextcloud, tmp_path):
    """Seen on Nextcloud 34 with three groups moving at once: two MKCOLs of one new month folder both pass
    the server's check, one mkdir fails, and that MKCOL is answered 403, which left a photo in the inbox as a
    problem. A store makes folders one at a time; and a 403 for a folder another client made meanwhile
    (the rules' store of the same user, say) is no failure once a PROPFIND finds the folder."""
    nextcloud.files.mkcol_window = 0.2
    home = nextcloud.files.root / "alice"
    made = {}
    for n in range(12):  # one month: every group of the first part needs Photos/2024/05
        path = samples.jpeg(home / f"InstantUpload/IMG_{n:04d}.jpg", seed=n, exif=samples.Exif(date_time_original=f"2024:05:{1 + n:02d} 10:00:00"))
        made[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    worker, queue = organiser(nextcloud, tmp_path)
    queue.add_many("alice", [f"InstantUpload/{name}" for name in sorted(made)])
    for user, jobs in queue.due().items():
        worker.process(user, jobs)
    assert library(nextcloud, "alice") == made and queue.settled_count("alice") == 0
    assert [status for path, status in nextcloud.files.mkcols if path == "Photos/2024/05"] == [201]

    auth = AppAuth(nextcloud.url, "mobile_backups", "0.1.0", "s" * 64)
    stores = [NextcloudStore(auth, "alice", timeout=(5, 5)) for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda store: store.make_folders("Originals/2024/06"), stores))
    assert sorted(s for p, s in nextcloud.files.mkcols if p == "Originals/2024/06") == [201, 403]  # the race, as on the server
    assert (home / "Originals/2024/06").is_dir()


def test_an_outage_ends_with_everything_organised(nextcloud, tmp_path, monkeypatch):
    """Every WebDAV request answered 503: the files are tried with back-off, then parked (occ status
    says so and why), never given a verdict; when the server answers again, a probe brings them all back."""
    monkeypatch.setattr(worker_module, "PROBE_SECONDS", 0.5)
    made = upload(nextcloud, "alice", 20)
    worker, queue = organiser(nextcloud, tmp_path)
    nextcloud.outage = lambda method, path: path.startswith("/remote.php/dav/")
    queue.add_many("alice", [f"InstantUpload/{name}" for name in sorted(made)])
    running = Running(worker)
    running.until("every file parked", lambda: queue.parked_count() == 20, 20)
    status = occ.status(worker, True, {})
    assert "parked after repeated failures: 20" in status and "PROPFIND InstantUpload: HTTP 503" in status, status
    assert not tree(nextcloud.files.root / "alice/Photos") and queue.settled_count("alice") == 0
    nextcloud.outage = None
    recovery = running.until("everything organised after the outage", all_done(nextcloud, queue, {"alice": made}), 15)
    running.stop()
    print(f"organised {recovery:.1f} s after the outage ended")
    assert library(nextcloud, "alice") == made
    assert "parked after repeated failures: 0" in occ.status(worker, True, {})


def test_every_sweep_brings_parked_files_back(nextcloud, tmp_path):
    upload(nextcloud, "alice", 2)
    worker, queue = organiser(nextcloud, tmp_path)
    queue.add("alice", "InstantUpload/IMG_0000.jpg")
    [job] = queue.due()["alice"]
    for attempts in range(MAX_ATTEMPTS):
        queue.failed(replace(job, attempts=attempts), "PROPFIND InstantUpload: HTTP 503")
    assert queue.parked_count() == 1 and queue.due() == {}
    assert worker.sweep("alice") == 2
    assert queue.parked_count() == 0 and sorted(j.path for j in queue.due()["alice"]) == ["InstantUpload/IMG_0000.jpg", "InstantUpload/IMG_0001.jpg"]


def test_a_user_whose_requests_stall_does_not_hold_up_the_others(nextcloud, tmp_path):
    made = {"alice": upload(nextcloud, "alice", 10), "bob": upload(nextcloud, "bob", 10)}
    worker, queue = organiser(nextcloud, tmp_path)
    nextcloud.stalled = lambda method, path: "/files/bob/" in path
    for user, files in made.items():
        queue.add_many(user, [f"InstantUpload/{name}" for name in sorted(files)])
    running = Running(worker)
    took = running.until("alice's files organised while bob's requests stall", lambda: not list((nextcloud.files.root / "alice/InstantUpload").iterdir()), 10)
    assert library(nextcloud, "alice") == made["alice"] and queue.settled_count("bob") == 0
    nextcloud.stalled = None
    queue.revive()
    running.until("bob's too once his requests are answered", all_done(nextcloud, queue, made), 15)
    running.stop()
    print(f"alice organised in {took:.1f} s while every request for bob stalled")
    assert library(nextcloud, "bob") == made["bob"]


APP_SCRIPT = """
import sys, time
from pathlib import Path
from mobile_backups.nextcloud import worker
from mobile_backups.nextcloud.app import App
from mobile_backups.nextcloud.store import AppAuth
worker.QUIET_SECONDS = 1.0
app = App(AppAuth(sys.argv[1], "mobile_backups", "0.1.0", "s" * 64), Path(sys.argv[2]), timeout=(0.5, 2.0))
app.start()
while True:
    time.sleep(1)
"""


def test_a_restart_catches_up_at_once_and_the_batch_remembers(nextcloud, tmp_path):
    """kill -9 in the middle of the work, more uploads while the app is down, a restart: all of it is
    organised within seconds (not at the next sweep, 300 s later), and the notification counts the files
    moved before the crash too."""
    nextcloud.users = {"alice": {}}
    made = upload(nextcloud, "alice", 40)
    storage = tmp_path / "storage"
    storage.mkdir()
    (storage / "enabled").touch()  # the app was enabled before: AppAPI does not call /enabled on a restart
    env = {"PYTHONPATH": str(ROOT / "ex_app" / "lib"), "PATH": os.environ["PATH"], "TZ": "Europe/Berlin"}

    def start() -> subprocess.Popen:
        with open(tmp_path / "app.log", "ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen([sys.executable, "-c", APP_SCRIPT, nextcloud.url, str(storage)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=log)

    first = start()
    try:
        deadline = time.monotonic() + 20
        while sum(status == 201 for _, _, status in nextcloud.files.moves) < 8:
            assert time.monotonic() < deadline and first.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            time.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    moved_before = sum(status == 201 for _, _, status in nextcloud.files.moves)
    assert moved_before < len(made), "the kill came too late to test anything"
    made.update(upload(nextcloud, "alice", 10, start=100))  # uploaded while the app is down: no webhook tells it
    restarted = time.monotonic()
    second = start()
    try:
        deadline = time.monotonic() + 30
        while set(library(nextcloud, "alice")) != set(made):
            assert time.monotonic() < deadline and second.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            time.sleep(0.1)
        caught_up = time.monotonic() - restarted
        while not nextcloud.notifications:  # the batch is over after QUIET_SECONDS (1 s here)
            assert time.monotonic() < deadline, (tmp_path / "app.log").read_text()[-3000:]
            time.sleep(0.1)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)
    print(f"{moved_before} moved before the kill; all {len(made)} organised {caught_up:.1f} s after the restart")
    assert caught_up < 20
    assert library(nextcloud, "alice") == made
    told = [int(m[1]) for _, params in nextcloud.notifications if (m := re.match(r"(\d+) photos? organised", params["subject_params"]["rich_subject"]))]
    assert len(told) == 1 and len(made) - 1 <= told[0] <= len(made), told  # at most the one file in flight at the kill is uncounted


def in_process_app(fake: FakeNextcloud, tmp_path: Path) -> App:
    app = App(AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64), tmp_path / "storage", timeout=TIMEOUT)
    app.queue.backoff = BACKOFF
    return app


@pytest.mark.parametrize("access", ["everyone", "groups"])
def test_a_deleted_user_is_dropped_once(nextcloud, tmp_path, caplog, access):
    """Also where only groups may organise: the app never read bob's groups, and drops his work as gone, not as not allowed."""
    nextcloud.admin = {"access": access, "allowed_groups": "family"}
    nextcloud.users = {"alice": {"groups": ["family"]}, "bob": {"groups": ["family"]}}
    upload(nextcloud, "bob", 3)
    app = in_process_app(nextcloud, tmp_path)
    app.queue.add_many("bob", [f"InstantUpload/IMG_{n:04d}.jpg" for n in range(3)])
    app.queue.save_batch("bob", Summary(moved=2).record())
    app.queue.settle("bob", "InstantUpload/old.jpg", 1, None, "duplicate")
    nextcloud.deleted.add("bob")  # `occ user:delete bob`: AppAPI answers 401 "Requested user does not exists"
    with caplog.at_level(logging.INFO, logger="mobile_backups"):
        for user, jobs in app.queue.due().items():
            app.organiser.process(user, jobs)
        app.organiser.report_batches(quiet=0)
    assert app.queue.pending("bob") == 0 and app.queue.parked() == [] and app.queue.settled_count("bob") == 0
    assert app.queue.batch("bob") is None and not nextcloud.notifications
    assert len([r for r in caplog.records if "no such user any more" in r.getMessage()]) == 1
    asked = len(nextcloud.refused)
    assert asked <= 4, nextcloud.refused  # settings, user info, one listing: then it knows
    for user, jobs in app.queue.due().items():
        app.organiser.process(user, jobs)
    assert len(nextcloud.refused) == asked


def test_the_log_goes_quiet_when_the_app_is_disabled_or_refused(nextcloud, tmp_path):
    app = in_process_app(nextcloud, tmp_path)
    app._set_enabled(True)
    try:
        log = logging.getLogger("mobile_backups")
        log.warning("while enabled")
        wait_for(lambda: any("while enabled" in m for _, m in nextcloud.logs))
        app._set_enabled(False)  # what disable() does, whatever its webhook calls did
        log.warning("while disabled")
        time.sleep(0.5)
        assert not any("while disabled" in m for _, m in nextcloud.logs)
        app._set_enabled(True)
        nextcloud.refuse_app = True  # unregistered behind its back: AppAPI answers 401 and counts a failed login
        log.warning("first after the unregister")
        wait_for(lambda: not app.enabled.is_set())
        for n in range(5):
            log.warning("more after the unregister %d", n)
        time.sleep(0.5)
        assert len(nextcloud.refused) == 1, nextcloud.refused  # the log post that found out; the worker and sweeper wait too
    finally:
        app.stop()


def test_disabling_posts_the_queued_log_lines_before_it_answers(nextcloud, tmp_path):
    """AppAPI marks the app disabled once our answer to its disable call came (AppAPIService::disableExApp):
    a line still queued then would be refused (401, a failed login). Closing the log posts them all first."""
    app = in_process_app(nextcloud, tmp_path)
    app._set_enabled(True)
    try:
        log = logging.getLogger("mobile_backups")
        for n in range(30):
            log.warning("line %d before the disable", n)
        app._close_nextcloud_log()  # what disable() does before it answers
        posted = [m for _, m in nextcloud.logs if "before the disable" in m]
        assert len(posted) == 30, posted
        log.warning("after the disable")
        time.sleep(0.3)
        assert not any("after the disable" in m for _, m in nextcloud.logs) and not nextcloud.refused
    finally:
        app.stop()


def test_settings_that_cannot_be_read_are_read_again_soon_the_last_valid_ones_in_force(nextcloud, tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "RETRY_SECONDS", 0.2)
    nextcloud.users = {"alice": {}}
    nextcloud.preferences = {"alice": {"library_folder": "Pictures"}}
    app = in_process_app(nextcloud, tmp_path)
    assert app.config_for("alice").library == "Pictures"
    nextcloud.outage = lambda method, path: True
    app._configs["alice"] = (time.monotonic() - 60, *app._configs["alice"][1:])  # its CONFIG_TTL is over
    before = len(nextcloud.calls)
    assert app.config_for("alice").library == "Pictures"
    asked = len(nextcloud.calls)
    assert asked > before
    assert app.config_for("alice").library == "Pictures" and len(nextcloud.calls) == asked  # not asked again at once
    nextcloud.outage = None
    time.sleep(0.35)
    nextcloud.preferences["alice"]["library_folder"] = "Bilder"
    assert app.config_for("alice").library == "Bilder"


def test_settings_never_read_decide_nothing(nextcloud, tmp_path, caplog):
    """A user's first settings read fails: their uploads are not organised by the admin's defaults (another
    library), nor dropped as not allowed (their groups unknown), nor skipped by the sweep: they wait, and go
    where the user's own settings say once those can be read."""
    nextcloud.admin = {"access": "groups", "allowed_groups": "family"}
    nextcloud.users = {"carol": {"groups": ["family"]}}
    nextcloud.preferences = {"carol": {"library_folder": "Pictures"}}
    made = upload(nextcloud, "carol", 2)
    app = in_process_app(nextcloud, tmp_path)
    app.queue.add_many("carol", [f"InstantUpload/{name}" for name in made])
    nextcloud.outage = lambda method, path: path.endswith("/get-values") and "preference" in path
    with caplog.at_level(logging.INFO, logger="mobile_backups"):
        for user, jobs in app.queue.due().items():
            app.organiser.process(user, jobs)
        with pytest.raises(OSError):
            app.sweeper.visit("carol")
    assert sorted(p.name for p in (nextcloud.files.root / "carol" / "InstantUpload").iterdir()) == sorted(made)
    assert app.queue.pending("carol") == len(made)  # waiting, with back-off
    assert any("carol: 2 file(s) in InstantUpload will be looked at again" in r.getMessage() for r in caplog.records)
    assert any("could not read the settings of carol" in r.getMessage() and "nothing is organised" in r.getMessage()
               for r in caplog.records)
    nextcloud.outage = None
    time.sleep(BACKOFF[1])
    for user, jobs in app.queue.due().items():
        app.organiser.process(user, jobs)
    assert sorted(Path(p).name for p in tree(nextcloud.files.root / "carol" / "Pictures")) == sorted(made)
    assert not (nextcloud.files.root / "carol" / "Photos" / "2024").exists()


def wait_for(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_notification_the_server_did_not_take_is_sent_later(nextcloud, tmp_path):
    nextcloud.users = {"alice": {}}
    app = in_process_app(nextcloud, tmp_path)
    app.queue.save_batch("alice", Summary(moved=3, folders=Counter({"2024/11": 3}), last=time.time() - 60).record())
    nextcloud.outage = lambda method, path: path.endswith("/notification")
    app.organiser.report_batches(quiet=0)
    assert not nextcloud.notifications and app.queue.batch("alice") is not None  # kept, not forgotten
    nextcloud.outage = None
    app.organiser.report_batches(quiet=0)
    [(user, params)] = nextcloud.notifications
    assert user == "alice" and params["subject_params"]["rich_subject"] == "3 photos organised into Photos/2024/11"
    assert app.queue.batch("alice") is None
