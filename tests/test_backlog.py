"""Files that were in the inboxes before the app was enabled (the backlog), over real HTTP: the ExApp as a
process, enabled as AppAPI enables it, against the stand-in Nextcloud with real files. With the admin's
"ask" (the default) they stay until the user presses the button (one notification tells them), with
"yes" they are organised at once, with "no" never; a fresh upload is organised in all three."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from mobile_backups import samples
from mobile_backups.nextcloud.app_state import AppState
from mobile_backups.nextcloud.backlog import Backlogs
from mobile_backups.nextcloud.work_queue import WorkQueue
from fake_nextcloud import FakeNextcloud
from test_exapp_http import event, running_exapp, signed

OLD = {"InstantUpload/IMG_20220202_090000.jpg": "Photos/2022/02/IMG_20220202_090000.jpg",
       "InstantUpload/IMG_20220303_090000.jpg": "Photos/2022/03/IMG_20220303_090000.jpg",
       "Photos/IMG_20220404_090000.jpg": "Photos/2022/04/IMG_20220404_090000.jpg"}  # iOS: the library's top level is an inbox
FRESH = ("InstantUpload/IMG_20241124_153012.jpg", "Photos/2024/11/IMG_20241124_153012.jpg")


@contextmanager
def enabled_app(tmp_path: Path, choice: str | None) -> Iterator[tuple[FakeNextcloud, str]]:
    """ann's inboxes hold OLD, uploaded an hour before the app is enabled with the admin's `choice` (None: not set)."""
    fake = FakeNextcloud(files=tmp_path / "files")
    fake.users = {"ann": {"groups": ["family"], "timezone": "Europe/Berlin"}, "root": {"groups": ["admin"], "timezone": "Europe/Berlin"},
                  "bob": {"groups": ["family"], "timezone": "Europe/Berlin"}}
    if choice:
        fake.admin["backlog"] = choice
    fake.files.clock = lambda: time.time() - 3600
    for n, path in enumerate(OLD):
        fake.files.upload("ann", path, samples.jpeg(tmp_path / "made" / path, seed=n).read_bytes())
    fake.files.clock = time.time
    try:
        with running_exapp(fake.url, tmp_path / "storage", env={"TZ": "Europe/Berlin"}, output=subprocess.DEVNULL) as base:
            enable(base)
            yield fake, base
    finally:
        fake.close()


def enable(base: str) -> None:
    assert httpx.put(base + "/enabled", params={"enabled": 1}, headers=signed(""), timeout=30).json() == {"error": ""}


def files(fake: FakeNextcloud) -> set[str]:
    home = fake.files.root / "ann"
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}


def until(what: str, check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def upload_fresh(fake: FakeNextcloud, base: str, tmp_path: Path, webhook: bool = True) -> None:
    fake.files.upload("ann", FRESH[0], samples.jpeg(tmp_path / "fresh.jpg", seed=9).read_bytes())
    if webhook:
        assert httpx.post(base + "/webhook", json=event(f"/ann/files/{FRESH[0]}"), headers=signed("")).status_code == 200


def told(fake: FakeNextcloud) -> list[str]:
    """The subjects of the backlog notifications ann got."""
    return [p["subject_params"]["rich_subject"] for user, p in fake.notifications if user == "ann" and "older" in p["subject_params"]["rich_subject"]]


def progress(base: str, user: str = "ann") -> list[dict]:
    return httpx.get(base + "/progress", headers=signed(user), timeout=30).json()["progress"]


def test_ask_leaves_them_tells_once_and_the_button_organises_them(tmp_path):
    with enabled_app(tmp_path, None) as (fake, base):
        until("the notification", lambda: told(fake))
        upload_fresh(fake, base, tmp_path)
        until("the fresh upload organised", lambda: FRESH[1] in files(fake))
        enable(base)  # enabled again (and a sweep): still one notification, the files still where they were
        time.sleep(1.5)
        assert files(fake) == set(OLD) | {FRESH[1]}
        assert told(fake) == ["3 older photos in InstantUpload, Photos can be organised: preview"]
        [(_, params)] = [(u, p) for u, p in fake.notifications if "older" in p["subject_params"]["rich_subject"]]
        assert params["subject_params"]["link"].endswith("/index.php/apps/app_api/proxy/mobile_backups/settings#backlog")
        page = httpx.get(base + "/settings", headers=signed("ann"), timeout=30).text
        assert "3 older photos in InstantUpload, Photos were there before" in page and "action='backlog'" in page
        assert httpx.post(base + "/backlog", timeout=30).status_code == 401
        assert httpx.post(base + "/backlog", headers={**signed("ann"), "Sec-Fetch-Site": "cross-site"}, timeout=30).status_code == 403
        assert files(fake) == set(OLD) | {FRESH[1]}
        started = httpx.post(base + "/backlog", headers=signed("ann"), timeout=30)
        assert started.status_code == 200 and "Organising 3 older file(s)" in started.text
        until("the backlog organised", lambda: files(fake) == set(OLD.values()) | {FRESH[1]})
        until("its figures say it is done", lambda: progress(base) and progress(base)[0]["finished"])
        assert progress(base) == [{"user": "ann", "total": 3, "done": 3, "left": 0, "seconds_left": 0.0, "finished": True,
                                   "text": "3 older file(s) organised"}]
        assert [r["user"] for r in progress(base, "root")] == ["ann"]  # an admin sees every user's
        assert progress(base, "bob") == []
        status = httpx.post(base + "/occ/status", json={"occ": {}}, headers=signed(""), timeout=30).text
        assert "  ann: 3 older file(s) organised" in status
        assert "Organise them" not in httpx.get(base + "/settings", headers=signed("ann"), timeout=30).text
        assert len(told(fake)) == 1


def test_yes_organises_them_at_enable(tmp_path):
    with enabled_app(tmp_path, "yes") as (fake, base):
        until("the backlog organised", lambda: files(fake) == set(OLD.values()))
        upload_fresh(fake, base, tmp_path)
        until("the fresh upload organised", lambda: FRESH[1] in files(fake))
        assert not told(fake)
        until("its figures say it is done", lambda: progress(base) and progress(base)[0]["finished"])


def test_no_never_organises_them(tmp_path):
    with enabled_app(tmp_path, "no") as (fake, base):
        upload_fresh(fake, base, tmp_path, webhook=False)  # no webhook: a sweep (at the next enable) finds it by its upload time
        enable(base)
        until("the fresh upload organised", lambda: FRESH[1] in files(fake))
        time.sleep(1)
        assert files(fake) == set(OLD) | {FRESH[1]}
        assert not told(fake) and progress(base) == []
        assert "Organise them" not in httpx.get(base + "/settings", headers=signed("ann"), timeout=30).text


@pytest.mark.parametrize("choice", ["ask", "yes", "no"])
def test_a_fresh_upload_found_by_the_sweep_is_organised_whatever_the_choice(tmp_path, choice):
    """The upload's webhook was lost: the sweep's SEARCH by upload time finds it."""
    with enabled_app(tmp_path, choice) as (fake, base):
        upload_fresh(fake, base, tmp_path, webhook=False)
        enable(base)
        until("the fresh upload organised", lambda: FRESH[1] in files(fake))
        assert fake.files.moves[-1][:2] == FRESH or choice == "yes"


def test_files_uploaded_while_a_user_had_organising_off_wait_too_and_the_switch_on_tells_them(tmp_path):
    with enabled_app(tmp_path, None) as (fake, base):
        until("the notification", lambda: told(fake))
        assert httpx.post(base + "/settings", data={"organise": "0"}, headers=signed("ann"), timeout=30).status_code == 200
        upload_fresh(fake, base, tmp_path)  # its webhook comes, but organising is off for ann
        time.sleep(1.5)
        assert httpx.post(base + "/settings", data={"organise": "1"}, headers=signed("ann"), timeout=30).status_code == 200
        until("the second notification", lambda: len(told(fake)) == 2)
        assert told(fake)[1] == "4 older photos in InstantUpload, Photos can be organised: preview"
        assert files(fake) == set(OLD) | {FRESH[0]}
        upload_fresh(fake, base, tmp_path)  # uploaded again now: new
        until("the new upload organised", lambda: FRESH[1] in files(fake))
        assert files(fake) == set(OLD) | {FRESH[1]}


def test_the_backlog_state_a_switch_on_a_run_and_its_figures(tmp_path):
    now = [1000.0]
    queue = WorkQueue(tmp_path / "queue.sqlite")
    backlogs = Backlogs(AppState(tmp_path / "state.sqlite"), queue, clock=lambda: now[0])
    backlogs.enabled()
    now[0] = 2000.0
    backlogs.enabled()  # enabled again: still the first enable's time
    assert not backlogs.observe("ann", True) and backlogs.since("ann") == 1000.0 and backlogs.listing_due("ann")
    assert backlogs.listed("ann", 2, 0, ["InstantUpload"]) and not backlogs.listing_due("ann")
    assert not backlogs.listed("ann", 2, 0, ["InstantUpload"])  # told once
    assert not backlogs.observe("ann", False) and not backlogs.observe("ann", False)
    now[0] = 3000.0
    assert backlogs.observe("ann", True) and backlogs.since("ann") == 3000.0 and backlogs.listing_due("ann")  # switched on again
    assert backlogs.listed("ann", 3, 1, ["InstantUpload"])  # a new backlog: told again
    backlogs.start("ann", ["InstantUpload/a.jpg", "InstantUpload/b.jpg"], consent=True)
    assert backlogs.since("ann") == 0.0 and backlogs.waiting("ann")[0] == 0
    now[0] = 3010.0
    [job, _] = queue.due()["ann"]
    queue.done(job)
    progress = backlogs.progress("ann")
    assert (progress.total, progress.done, progress.left, progress.seconds_left(now[0])) == (2, 1, 1, 10.0)
    assert progress.describe(now[0]) == "1 of 2 older file(s) done, 1 left, about 10 s to go"
    queue.done(queue.due()["ann"][0])
    assert backlogs.progress("ann").finished == 3010.0 and backlogs.users() == ["ann"]
