"""End to end: the ExApp on a real Nextcloud when the network and the server fail.

The ExApp's requests to Nextcloud go through tests/e2e/fault_proxy.py (127.0.0.1, bounded in time); the
uploads go to Nextcloud directly, as the phones' do. Each test prints what it measured (counts and
recovery times) for the notes. Run alone with
`source /opt/nc/credentials.env && flock /tmp/nc-e2e.lock python -m pytest -q -s tests/e2e/test_faults.py`.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from mobile_backups import samples

from .fault_proxy import FaultProxy
from .nextcloud import Accounts, ExApp, Nextcloud

FLAKY_UPLOADS = int(os.environ.get("FAULTS_E2E_UPLOADS", "150"))  # the issue asked for 500; 150 keeps the shared server free
RECOVERY_TIMEOUT = 300.0  # "within a few minutes of the faults stopping"
POLL = 3.0  # a listing of a user's whole tree is a dozen PROPFINDs: not more often than this


@pytest.fixture(scope="module")
def proxy(exapp: ExApp, nextcloud: Nextcloud):
    """The registered ExApp restarted with NEXTCLOUD_URL pointing at the proxy; restarted without it at the end."""
    proxy = FaultProxy(nextcloud.url, seed=20261202, lifetime=1800)
    direct = exapp.environment
    exapp.environment = lambda: {**direct(), "NEXTCLOUD_URL": proxy.url}  # type: ignore[method-assign]
    exapp.stop()
    exapp.start()
    try:
        yield proxy
    finally:
        proxy.faults()
        proxy.outage = None
        del exapp.environment
        exapp.stop()
        exapp.start()
        proxy.close()


@pytest.fixture(scope="module")
def users(nextcloud: Nextcloud):
    accounts = Accounts(nextcloud)
    accounts.suffix = f"faults-{secrets.token_hex(2)}"  # mbe2e-faults-…: this file's own users
    yield accounts
    accounts.delete_all()


def photos(folder: Path, count: int, first: int = 0) -> dict[str, str]:
    """`count` small phone photos: inbox path -> where the default layout puts them."""
    made = {}
    for n in range(first, first + count):
        month, day = 1 + n % 12, 1 + n % 28
        path = samples.jpeg(folder / f"IMG_{n:04d}.jpg", seed=n, size=(160, 120),
                            exif=samples.Exif(date_time_original=f"2023:{month:02d}:{day:02d} 10:00:00", offset_time_original="+01:00"))
        made[f"InstantUpload/{path.name}"] = f"Photos/2023/{month:02d}/{path.name}"
    return made


def upload_all(account, folder: Path, files: dict[str, str]) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda inbox: account.put(inbox, (folder / Path(inbox).name).read_bytes()), files))


def organised(account, files: dict[str, str]) -> int:
    tree = account.tree()
    return sum(1 for inbox, dst in files.items() if dst in tree and inbox not in tree)


def wait_organised(account, exapp: ExApp, files: dict[str, str], timeout: float = RECOVERY_TIMEOUT) -> float:
    """Seconds until every file is in its place (and the tree holds nothing else); fails after `timeout`."""
    started = time.monotonic()
    while True:
        tree = account.tree()
        if set(tree) == set(files.values()):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            missing = sorted(set(files.values()) - set(tree))
            pytest.fail(f"{len(missing)} of {len(files)} not organised after {timeout:.0f} s (e.g. {missing[:5]}); "
                        f"unexpected: {sorted(set(tree) - set(files.values()))[:5]}\n{status(exapp)}\n{exapp.log_tail(80)}", pytrace=False)
        time.sleep(POLL)


def status(exapp: ExApp) -> str:
    return exapp.nextcloud.occ("mobile_backups:status", check=False, retries=3, timeout=120).stdout


def verdicts(exapp: ExApp, user: str) -> list[str]:
    """Log lines that settled a file of this user as staying in place."""
    return [line for line in exapp.log_text().splitlines() if f"{user}: " in line and "stays in place" in line]


def test_a_flaky_network_leaves_no_upload_behind(proxy, users, exapp, tmp_path):
    """10 % of the app's requests answered 503, 3 % stalled 20 s, 2 % cut half way, during the uploads and a
    minute after: every file organised within minutes of the faults stopping, none settled as a problem."""
    account = users.new("flaky")
    account.mkdirs("InstantUpload")
    files = photos(tmp_path, FLAKY_UPLOADS)
    proxy.faults(error=0.10, stall=0.03, cut=0.02)
    started = time.monotonic()
    try:
        upload_all(account, tmp_path, files)
        uploaded = time.monotonic() - started
        time.sleep(max(0.0, uploaded + 60 - (time.monotonic() - started)))
        during = organised(account, files)
    finally:
        faulty_for = time.monotonic() - started
        proxy.faults()
    injected = {k: proxy.counts[k] for k in ("forwarded", "error", "stall", "cut")}
    recovery = wait_organised(account, exapp, files)
    print(f"\nflaky: {len(files)} uploads in {uploaded:.0f} s; faults for {faulty_for:.0f} s: {injected}; "
          f"{during} organised while faulty; all organised {recovery:.0f} s after the faults stopped")
    assert injected["error"] and injected["stall"]  # and cuts, though at 2 % a run may draw none
    assert verdicts(exapp, account.user) == []
    assert "parked after repeated failures: 0" in status(exapp)


def test_maintenance_mode_then_everything_is_organised(proxy, users, exapp, tmp_path, nextcloud):
    """Uploads, then the server in maintenance mode for 90 s (every request answered 503): nothing is
    given up on, and everything is organised soon after maintenance ends."""
    account = users.new("maintenance")
    account.mkdirs("InstantUpload")
    files = photos(tmp_path, 60, first=300)
    upload_all(account, tmp_path, files)
    before = organised(account, files)
    nextcloud.occ("maintenance:mode", "--on", retries=3)
    try:
        time.sleep(90)
    finally:
        nextcloud.occ("maintenance:mode", "--off", retries=5)
    recovery = wait_organised(account, exapp, files)
    print(f"\nmaintenance: {before} of {len(files)} organised before 90 s of maintenance mode; all {recovery:.0f} s after it ended")
    assert verdicts(exapp, account.user) == []
    assert "parked after repeated failures: 0" in status(exapp)


def notified_counts(account) -> list[int]:
    answer = account.http.get("/ocs/v2.php/apps/notifications/api/v2/notifications", params={"format": "json"},
                              headers={"OCS-APIRequest": "true"})
    assert answer.status_code == 200, answer.text[:300]
    subjects = [n.get("subject", "") for n in answer.json()["ocs"]["data"]]
    return [int(m[1]) for s in subjects if (m := re.match(r"(\d+) photos? organised", s))]


def test_killed_and_restarted_with_uploads_in_between(proxy, users, exapp, tmp_path):
    """kill -9 while organising, more uploads while it is down (their webhooks are lost), a restart: all of
    it organised within a minute of the restart, and the one notification counts the files of both runs."""
    account = users.new("restart")
    account.mkdirs("InstantUpload")
    first = photos(tmp_path, 50, first=400)
    upload_all(account, tmp_path, first)
    deadline = time.monotonic() + 120
    while (done := organised(account, first)) < 5:
        assert time.monotonic() < deadline, exapp.log_tail()
        time.sleep(1)
    exapp.kill()
    done = organised(account, first)
    later = photos(tmp_path, 50, first=500)
    try:
        upload_all(account, tmp_path, later)
    finally:
        exapp.start()
    restarted, restarted_at = time.monotonic(), time.time()
    files = {**first, **later}
    organised_in = wait_organised(account, exapp, files, timeout=180)
    swept = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - restarted_at for line in exapp.log_text().splitlines()
             if f"file(s) to look at for {account.user}" in line and line[:4].isdigit()]
    caught_up = min(t for t in swept if t > -1)  # the sweep at start found what the lost webhooks did not bring
    deadline = time.monotonic() + 90  # the batch is over after 20 quiet seconds
    while not (told := notified_counts(account)):
        assert time.monotonic() < deadline, exapp.log_tail()
        time.sleep(POLL)
    print(f"\nrestart: {done} of 50 organised at the kill, 50 more uploaded while down; the sweep at start found them "
          f"{caught_up:.0f} s after the restart, all 100 organised {organised_in:.0f} s after it; notified: {told}")
    assert caught_up < 60
    assert sum(told) >= len(files) - 1, told  # at most the file in flight at the kill is uncounted
    assert time.monotonic() - restarted < 300


def test_a_deleted_user_is_dropped_once(proxy, users, exapp, tmp_path, nextcloud):
    """A user deleted while their uploads wait (the server did not answer for them): their work is
    dropped with one log line, not retried; Nextcloud's answer for them is recorded."""
    account = users.new("deleted")
    account.mkdirs("InstantUpload")
    files = photos(tmp_path, 5, first=700)
    proxy.outage = lambda method, path: path.startswith(f"/remote.php/dav/files/{account.user}/")
    try:
        upload_all(account, tmp_path, files)
        deadline = time.monotonic() + 60
        while account.user not in status(exapp):
            assert time.monotonic() < deadline, exapp.log_tail()
            time.sleep(POLL)
        nextcloud.occ("user:delete", account.user, retries=3)
    finally:
        proxy.outage = None
    deleted = time.monotonic()
    line = f"{account.user}: no such user any more"
    deadline = deleted + 150  # the next try after the back-off, or the probe
    while line not in exapp.log_text():
        assert time.monotonic() < deadline, f"{status(exapp)}\n{exapp.log_tail()}"
        time.sleep(1)
    took = time.monotonic() - deleted
    time.sleep(10)
    answers = sorted({(m, s) for m, p, s in proxy.answers if f"/{account.user}" in p and s >= 400})
    print(f"\ndeleted user: dropped {took:.0f} s after the deletion; Nextcloud answered {answers}")
    assert exapp.log_text().count(line) == 1
    assert account.user not in status(exapp)


def test_no_failed_logins_were_caused(proxy, exapp, nextcloud):
    """After all of the above (a deleted user included), AppAPI counted no failed login against our address."""
    attempts = nextcloud.throttle().get("attempts", 0)
    print(f"\nbrute-force attempts for {nextcloud.own_address()}: {attempts}")
    assert int(attempts) == 0
