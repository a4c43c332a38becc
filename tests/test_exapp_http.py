"""The ExApp over real HTTP, against a stand-in Nextcloud on a real port: AppAPI's signature is
required everywhere but /heartbeat; settings, occ commands and Files actions."""

from __future__ import annotations

import base64
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from fake_nextcloud import FakeNextcloud

SECRET = "s" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nextcloud():
    fake = FakeNextcloud()
    fake.users = {
        "admin": {"groups": ["admin"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}},
        "bob": {"groups": ["family"], "timezone": "America/New_York", "folders": {"InstantUpload", "Camera"}},
    }
    yield fake
    fake.close()


@contextmanager
def running_exapp(nextcloud_url: str, storage: Path, *, script: Path = ROOT / "ex_app" / "lib" / "main.py",
                  env: dict[str, str] | None = None, output: int = subprocess.PIPE,
                  started: list[subprocess.Popen] | None = None) -> Iterator[str]:
    """The ExApp as AppAPI starts it (its environment, from ex_app/lib), against the stand-in Nextcloud;
    its base URL once /heartbeat answers (and its process appended to `started`)."""
    port = free_port()
    environment = {
        "PATH": "/usr/bin:/bin", "APP_ID": "mobile_backups", "APP_SECRET": SECRET, "APP_VERSION": "0.1.0",
        "APP_HOST": "127.0.0.1", "APP_PORT": str(port), "NEXTCLOUD_URL": nextcloud_url,
        "APP_PERSISTENT_STORAGE": str(storage), "PYTHONPATH": str(ROOT / "ex_app" / "lib"), **(env or {}),
    }
    process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT / "ex_app" / "lib", env=environment,
                               stdout=output, stderr=subprocess.STDOUT)
    if started is not None:
        started.append(process)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/heartbeat", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def exapp(tmp_path_factory, nextcloud):
    """main.py as AppAPI starts it, with the stand-in Nextcloud."""
    storage = tmp_path_factory.mktemp("storage")
    with running_exapp(nextcloud.url, storage) as base:
        yield base, storage


def signed(user: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "EX-APP-ID": "mobile_backups", "EX-APP-VERSION": "0.1.0", "AA-VERSION": "34.0.0",
        "AUTHORIZATION-APP-API": base64.b64encode(f"{user}:{secret}".encode()).decode(),
    }


def queued(storage: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(storage / "queue.sqlite") as db:
        return set(db.execute("SELECT user, path FROM queue"))


def event(path: str, cls: str = "OCP\\Files\\Events\\Node\\NodeCreatedEvent") -> dict:
    return {"event": {"class": cls, "node": {"id": 7, "path": path}}, "user": None, "time": 1732458612}


def test_heartbeat_needs_no_signature(exapp):
    base, _ = exapp
    assert httpx.get(base + "/heartbeat").json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, signed("alice", "wrong" * 13)], ids=["unsigned", "bad secret"])
def test_unsigned_requests_get_401_and_change_nothing(exapp, headers):
    base, storage = exapp
    assert httpx.post(base + "/webhook", json=event("/alice/files/InstantUpload/evil.jpg"), headers=headers).status_code == 401
    assert httpx.put(base + "/enabled", params={"enabled": 0}, headers=headers).status_code == 401
    assert httpx.get(base + "/docs", headers=headers).status_code in (401, 404)
    assert ("alice", "InstantUpload/evil.jpg") not in queued(storage)


def test_a_signed_event_is_stored_at_once(exapp):
    base, storage = exapp
    started = time.perf_counter()
    answer = httpx.post(base + "/webhook", json=event("/alice/files/InstantUpload/IMG_1.jpg"), headers=signed(""))
    assert answer.status_code == 200 and time.perf_counter() - started < 3  # AppAPI gives the ExApp 3 s
    renamed = {"event": {"class": "OCP\\Files\\Events\\Node\\NodeRenamedEvent", "source": {"id": 8, "path": "/bob/files/Old/a.jpg"},
                         "target": {"id": 8, "path": "/bob/files/InstantUpload/a.jpg"}}, "user": {"uid": "bob"}}
    assert httpx.post(base + "/webhook", json=renamed, headers=signed("bob")).status_code == 200
    assert {("alice", "InstantUpload/IMG_1.jpg"), ("bob", "InstantUpload/a.jpg")} <= queued(storage)


def test_paths_that_could_leave_the_owners_files_are_dropped(exapp):
    base, storage = exapp
    for path in ("/alice/files/InstantUpload/../../bob/files/x.jpg", "/alice/files_trashbin/x.jpg", "relative/x.jpg", "/alice/files/"):
        assert httpx.post(base + "/webhook", json=event(path), headers=signed("")).status_code == 200
    assert not {p for _, p in queued(storage) if ".." in p or "trashbin" in p or p.startswith("relative")}


# --- the settings page (what plain users use: the declarative form returns 403 for them on Nextcloud 34) -----


@pytest.mark.parametrize("user", ["bob", "admin"], ids=["plain user", "admin"])
def test_the_settings_page_shows_what_is_in_force(exapp, nextcloud, user):
    base, _ = exapp
    page = httpx.get(base + "/settings", headers=signed(user))
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert f"Settings of <b>{user}</b>" in page.text
    assert "InstantUpload, Photos, AutoUpload" in page.text and "Photos/2024/11/IMG_1234.jpg" in page.text
    # AppAPI's proxy passes our headers on; without our own policy Nextcloud's `default-src 'none'` blocks style and script
    assert "script-src 'self'" in page.headers["content-security-policy"] and "<script src='js/settings.js'>" in page.text
    assert "fetch('example?'" in httpx.get(base + "/js/settings.js", headers=signed(user)).text


def test_settings_need_a_signature(exapp, nextcloud):
    base, _ = exapp
    before = dict(nextcloud.preferences)
    assert httpx.get(base + "/settings").status_code == 401
    assert httpx.post(base + "/settings", data={"layout": "{year}"}).status_code == 401
    assert httpx.post(base + "/settings", data={"layout": "{year}"}, headers=signed("bob", "wrong" * 13)).status_code == 401
    assert httpx.get(base + "/settings", headers=signed("")).status_code == 401  # AppAPI itself is no user
    assert nextcloud.preferences == before


@pytest.mark.parametrize("form, words", [
    ({"layout": "{year}/{nope}"}, "unknown token {nope}"),
    ({"library_folder": "InstantUpload/Sorted"}, "is inside the inbox folder &#x27;InstantUpload&#x27;"),
    ({"inbox_folders": "Camera, NoSuchFolder"}, "no such folder in your files: NoSuchFolder"),
    ({"library_folder": "../Elsewhere"}, "&#x27;..&#x27;"),
], ids=["bad template", "library in inbox", "missing folder", "leaves the files"])
def test_bad_settings_are_refused_with_the_problem_named_and_nothing_saved(exapp, nextcloud, form, words):
    base, _ = exapp
    before = dict(nextcloud.preferences.get("bob", {}))
    answer = httpx.post(base + "/settings", data=form, headers=signed("bob"))
    assert answer.status_code == 422 and "Not saved" in answer.text and words in answer.text
    assert nextcloud.preferences.get("bob", {}) == before


def test_good_settings_are_saved_as_the_user_and_take_effect(exapp, nextcloud):
    base, _ = exapp
    form = {"organise": "1", "inbox_folders": "Camera", "library_folder": "Pictures", "layout": "{year}/{month_name}"}
    answer = httpx.post(base + "/settings", data=form, headers=signed("bob"))
    assert answer.status_code == 200 and "Saved." in answer.text
    assert nextcloud.preferences["bob"] == form
    assert "Pictures/2024/November/IMG_1234.jpg" in answer.text
    assert "admin" not in nextcloud.preferences  # only bob's own preferences were written


def test_a_cross_site_post_is_refused(exapp, nextcloud):
    base, _ = exapp
    before = dict(nextcloud.preferences.get("bob", {}))
    answer = httpx.post(base + "/settings", data={"layout": "{year}"}, headers={**signed("bob"), "Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403 and nextcloud.preferences.get("bob", {}) == before


def test_the_live_example(exapp):
    base, _ = exapp
    good = httpx.get(base + "/example", params={"layout": "{year}/{week}", "library": "Pics"}, headers=signed("bob")).json()
    assert good == {"example": "Pics/2024/47/IMG_1234.jpg"}
    bad = httpx.get(base + "/example", params={"layout": "{year}/{x}"}, headers=signed("bob")).json()
    assert "unknown token {x}" in bad["problem"]


# --- occ commands and Files actions ------------------------------------------------------------


def occ(base: str, name: str, user: str = "", **occ_input) -> httpx.Response:
    return httpx.post(f"{base}/occ/{name}", json={"occ": {"arguments": occ_input.get("arguments"), "options": occ_input.get("options")}},
                      headers=signed(user), timeout=30)


def test_occ_commands_answer_appapi_only(exapp):
    base, _ = exapp
    status = occ(base, "status")
    assert status.status_code == 200 and "queue:" in status.text and "last sweep" in status.text
    assert occ(base, "status", user="bob").status_code == 403  # a user through the proxy
    assert httpx.post(f"{base}/occ/status", json={}).status_code == 401
    assert "--user USER or --all" in occ(base, "organise", options={"user": None, "all": False, "dry-run": False}).text
    assert "No run 'nobody/2020-01-01'" in occ(base, "undo", arguments={"run": "nobody/2020-01-01"}).text


def test_files_preview_sends_the_browser_to_the_apps_page(exapp):
    base, _ = exapp
    folder = {"files": [{"fileId": 9, "name": "Camera", "directory": "/", "fileType": "dir", "mime": "httpd/unix-directory"}]}
    answer = httpx.post(base + "/files/preview", json=folder, headers=signed("bob"))
    assert answer.status_code == 200 and answer.json() == {"redirect_handler": "mobile_backups/preview"}
    assert httpx.post(base + "/files/preview", json=folder).status_code == 401
    escape = {"files": [{"fileId": 9, "name": "..", "directory": "/", "fileType": "dir"}]}
    assert httpx.post(base + "/files/organise", json=escape, headers=signed("bob")).status_code == 400


def test_organising_a_folder_of_the_library_is_refused_with_a_notification(exapp, nextcloud):
    base, storage = exapp
    library_folder = {"files": [{"fileId": 5, "name": "2024", "directory": "/Photos", "fileType": "dir"}]}
    assert httpx.post(base + "/files/organise", json=library_folder, headers=signed("admin")).json() == {}
    assert not {p for _, p in queued(storage) if p.startswith("Photos/")}
    user, params = nextcloud.notifications[-1]
    assert user == "admin" and params["subject_params"]["rich_subject"] == "Photos/2024 is already in your library"
    assert params["subject_params"]["link"] == f"{nextcloud.url}/index.php/apps/files/?dir=/Photos/2024"
