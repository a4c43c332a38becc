"""The ExApp over real HTTP: AppAPI's signature is required everywhere but /heartbeat."""

from __future__ import annotations

import base64
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT

SECRET = "s" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def exapp(tmp_path_factory):
    """main.py as AppAPI starts it; Nextcloud itself is absent (an unused port)."""
    storage = tmp_path_factory.mktemp("storage")
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin", "APP_ID": "mobile_backups", "APP_SECRET": SECRET, "APP_VERSION": "0.1.0",
        "APP_HOST": "127.0.0.1", "APP_PORT": str(port), "NEXTCLOUD_URL": f"http://127.0.0.1:{free_port()}",
        "APP_PERSISTENT_STORAGE": str(storage), "PYTHONPATH": str(ROOT / "ex_app" / "lib"),
    }
    process = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT / "ex_app" / "lib", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/heartbeat", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base, storage
    process.terminate()
    process.wait(10)


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
    before = queued(storage)
    assert httpx.post(base + "/webhook", json=event("/alice/files/InstantUpload/evil.jpg"), headers=headers).status_code == 401
    assert httpx.put(base + "/enabled", params={"enabled": 0}, headers=headers).status_code == 401
    assert httpx.get(base + "/docs", headers=headers).status_code in (401, 404)
    assert queued(storage) == before


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
