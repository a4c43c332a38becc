"""The app's load on Nextcloud and on itself: the admin's bound on requests at once, shared in turn
between users (real HTTP against the stand-in Nextcloud); events written to the queue in batches, with back-pressure."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fake_nextcloud import FakeNextcloud
from mobile_backups.nextcloud.app import App
from mobile_backups.nextcloud.store import REQUESTS_AT_ONCE, AppAuth, Gate, NextcloudStore, requests_at_once
from mobile_backups.nextcloud.work_queue import Intake, WorkQueue


def test_the_gate_bounds_requests_and_serves_the_user_with_fewest_under_way_first():
    gate = Gate(2)
    order: list[str] = []
    release = threading.Event()

    def request(user: str, urgent: bool = False) -> None:
        with gate.slot(user, urgent):
            order.append(user)
            release.wait(5)

    threads = [threading.Thread(target=request, args=("backlog",)) for _ in range(6)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # they queue in this order
    time.sleep(0.1)
    assert order == ["backlog", "backlog"]  # two at once, the others wait
    late = threading.Thread(target=request, args=("fresh",))
    late.start()
    time.sleep(0.1)
    release.set()
    for thread in [*threads, late]:
        thread.join(5)
    assert order.index("fresh") == 2  # the next free place, before the backlog's four that asked earlier


def test_a_users_move_goes_before_their_reads():
    gate = Gate(1)
    order: list[str] = []
    hold = threading.Event()

    def request(what: str, urgent: bool) -> None:
        with gate.slot("alice", urgent):
            order.append(what)
            hold.wait(5)

    first = threading.Thread(target=request, args=("first", False))
    first.start()
    time.sleep(0.05)
    waiting = [threading.Thread(target=request, args=(what, what == "move")) for what in ("read 1", "read 2", "move")]
    for thread in waiting:
        thread.start()
        time.sleep(0.02)
    hold.set()
    for thread in [first, *waiting]:
        thread.join(5)
    assert order == ["first", "move", "read 1", "read 2"]


def test_stores_of_every_user_share_the_admins_bound(tmp_path):
    """Real requests: with the bound at 2, never more than 2 reach the server at once, whoever they are for."""
    fake = FakeNextcloud(tmp_path / "files")
    under_way, most = 0, 0
    lock = threading.Lock()

    def slow(method: str, path: str) -> bool:
        nonlocal under_way, most
        with lock:
            under_way += 1
            most = max(most, under_way)
        time.sleep(0.05)
        with lock:
            under_way -= 1
        return False

    fake.outage = slow
    for user in ("alice", "bob", "carol"):
        (tmp_path / "files" / user / "InstantUpload").mkdir(parents=True)
    auth = AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64)
    gate = Gate(2)
    stores = [NextcloudStore(auth, user, gate=gate) for user in ("alice", "bob", "carol")]
    threads = [threading.Thread(target=lambda s=s: [s.entries("InstantUpload") for _ in range(4)]) for s in stores * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    fake.close()
    assert most == 2


def test_the_admin_sets_the_bound_in_the_apps_config(tmp_path):
    fake = FakeNextcloud()
    app = App(AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64), tmp_path / "storage")
    try:
        app.admin()
        assert app.gate.limit == REQUESTS_AT_ONCE == 4
        fake.admin["requests_at_once"] = "12"
        app._admin = None  # the cached admin settings expired
        app.admin()
        assert app.gate.limit == 12
        fake.admin["requests_at_once"] = "lots"
        app._admin = None
        app.admin()
        assert app.gate.limit == 12  # an invalid value is reported, the last valid one stays
    finally:
        app.stop()
        fake.close()
    assert [requests_at_once(v) for v in (None, "", "1", "64", "0", "65", "2.5")] == [4, 4, 1, 64, None, None, None]


def test_events_are_written_in_batches_and_each_caller_told_when_its_own_are_on_disk(tmp_path):
    queue = WorkQueue(tmp_path / "queue.sqlite")
    commits = []
    add_events = queue.add_events
    queue.add_events = lambda events, delay=0.0: (commits.append(len(events)), add_events(events, delay))[1]  # type: ignore[method-assign]
    with queue._lock:  # the writer is held up: events pile up in the buffer, up to its size
        intake = Intake(queue, 1.0, buffer=50)
        first = intake.offer([("alice", "InstantUpload/IMG_0.jpg")])
        time.sleep(0.1)  # the writer took the first and waits for the lock
        offered = [intake.offer([("alice", f"InstantUpload/IMG_{i}.jpg")]) for i in range(1, 60)]
        assert sum(f is not None for f in offered) == 50 and offered[-1] is None  # full: refused, the caller waits for room (`put`)
    for future in [first, *offered[:50]]:
        assert future is not None
        future.result(5)
    assert commits[0] == 1 and sum(commits) == 51 and len(commits) <= 3
    assert queue.pending() == 51
    intake.close()
