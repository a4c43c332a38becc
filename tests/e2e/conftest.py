"""End-to-end fixtures: a real Nextcloud, the ExApp as a process registered through AppAPI, test accounts.

The suite reads only NEXTCLOUD_URL, NC_AUTH_USER, NC_AUTH_PASS and NC_OCC from the environment
(`source /opt/nc/credentials.env`); without them every test is skipped, and the reason names them.
What it changes on the server (the ExApp registration, its admin config, the test accounts) is undone at the
end; the ExApp's storage (queue, journals) and its log stay in pytest's temporary directory for inspection.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from mobile_backups import samples

from .nextcloud import SUITE_GROUP, Account, Accounts, ExApp, Nextcloud, missing_variables, nextcloud_from_environment, skip_reason, unregister


@pytest.fixture(scope="session", autouse=True)
def require_nextcloud() -> None:
    """Every test here needs the real server: skip them all, naming what is missing."""
    missing = missing_variables()
    if missing:
        pytest.skip(skip_reason(missing))


@pytest.fixture(scope="session")
def nextcloud(require_nextcloud: None) -> Nextcloud:
    nc = nextcloud_from_environment()
    try:
        status = httpx.get(f"{nc.url}/status.php", timeout=10)
    except httpx.HTTPError as err:
        pytest.fail(f"Nextcloud at {nc.url} does not answer: {err} (on the test machine: cd /opt/nc && setsid bash start.sh)", pytrace=False)
    assert status.status_code == 200 and status.json().get("installed"), f"{nc.url}/status.php: {status.status_code} {status.text[:200]}"
    caps = httpx.get(f"{nc.url}/ocs/v2.php/cloud/capabilities", params={"format": "json"}, auth=nc.admin,
                     headers={"OCS-APIRequest": "true"}, timeout=30)
    assert caps.status_code == 200, f"NC_AUTH_USER/NC_AUTH_PASS rejected by {nc.url}: HTTP {caps.status_code}"
    return nc


def forget_notifications(nextcloud: Nextcloud) -> None:
    """The app's notifications to the admin (a backlog notice at enable, before the suite restricted the app to its
    own users) are deleted."""
    answer = httpx.get(f"{nextcloud.url}/ocs/v2.php/apps/notifications/api/v2/notifications", params={"format": "json"},
                       auth=nextcloud.admin, headers={"OCS-APIRequest": "true"}, timeout=30)
    for notice in answer.json()["ocs"]["data"] if answer.status_code == 200 else []:
        if notice.get("object_type") == "app_api" and str(notice.get("object_id", "")).startswith("mobile_backups-"):
            httpx.delete(f"{nextcloud.url}/ocs/v2.php/apps/notifications/api/v2/notifications/{notice['notification_id']}",
                         auth=nextcloud.admin, headers={"OCS-APIRequest": "true"}, timeout=30)


def failed_logins(nextcloud: Nextcloud) -> int:
    return int(nextcloud.throttle().get("attempts", 0))


@pytest.fixture(scope="session")
def clean_registration(nextcloud: Nextcloud) -> Iterator[None]:
    """No registration and no throttling left from an earlier run; none left behind either."""
    unregister(nextcloud.occ)
    nextcloud.reset_throttle()
    yield
    unregister(nextcloud.occ)


@pytest.fixture(scope="session")
def accounts(nextcloud: Nextcloud) -> Iterator[Accounts]:
    created = Accounts(nextcloud)
    yield created
    created.delete_all()


@dataclass
class Preinstalled:
    account: Account
    files: dict[str, str]  # inbox path -> library path


@pytest.fixture(scope="session")
def preinstalled(clean_registration: None, accounts: Accounts, tmp_path_factory: pytest.TempPathFactory) -> Preinstalled:
    """Photos already waiting in a user's inbox before the app is installed: the sweep at enable finds them, and
    (the admin's default "ask") leaves them where they are, telling the user once."""
    folder = tmp_path_factory.mktemp("preinstalled")
    account = accounts.new("preinstalled")
    account.mkdirs("InstantUpload")
    files = {}
    for n, (day, month) in enumerate((("2022:02:02", "2022/02"), ("2022:03:03", "2022/03"))):
        photo = samples.jpeg(folder / f"IMG_900{n}.jpg", exif=samples.Exif(date_time_original=f"{day} 09:00:00"), seed=60 + n, size=(320, 240))
        account.put(f"InstantUpload/{photo.name}", photo.read_bytes(), photo.stat().st_mtime)
        files[f"InstantUpload/{photo.name}"] = f"Photos/{month}/{photo.name}"
    return Preinstalled(account, files)


@pytest.fixture(scope="session")
def exapp(nextcloud: Nextcloud, preinstalled: Preinstalled, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExApp]:
    """The ExApp started as a developer does (run, then register), registered, enabled; unregistered at the end."""
    app = ExApp(nextcloud, tmp_path_factory.mktemp("exapp"))
    before = failed_logins(nextcloud)
    app.start()
    time.sleep(3)  # what it does on its own before AppAPI knows it
    app.failed_logins_at_start = failed_logins(nextcloud) - before
    nextcloud.reset_throttle()
    app.register()
    try:
        # only the suite's own users (AppAPI keeps no config before the app is registered: the sweep at enable may
        # already have looked at other users, which leaves their files where they are: they were there before)
        app.set_config("allowed_groups", SUITE_GROUP)
        app.set_config("access", "groups")
        yield app
    finally:
        app.restore_config()
        app.unregister()
        app.stop()
        forget_notifications(nextcloud)


@pytest.fixture
def account(exapp: ExApp, accounts: Accounts, request: pytest.FixtureRequest) -> Account:
    """A fresh user for one test, so that the test can assert the user's whole tree."""
    return accounts.new(re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))[:24].strip("-"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failing test shows the end of the ExApp's log."""
    outcome = yield
    report = outcome.get_result()
    app = getattr(item, "funcargs", {}).get("exapp")
    if report.failed and isinstance(app, ExApp):
        report.sections.append(("ExApp log", app.log_tail(120)))
