"""A real Nextcloud for the e2e tests and the benchmarks: occ, test accounts that upload like the
phone apps, and the ExApp as a process registered through AppAPI's manual-install daemon."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest
from mobile_backups.nextcloud.json_info import json_info

REQUIRED = ("NEXTCLOUD_URL", "NC_AUTH_USER", "NC_AUTH_PASS", "NC_OCC")
ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "ex_app" / "lib"
APP_ID = "mobile_backups"
APP_VERSION = "0.1.0"
DAEMON = "manual_install"
POLL = 0.5
DAV = "{DAV:}"
T = TypeVar("T")


def missing_variables() -> list[str]:
    return [name for name in REQUIRED if not os.environ.get(name)]


def skip_reason(missing: list[str]) -> str:
    return (f"needs a real Nextcloud (AppAPI, webhook_listeners): set {', '.join(REQUIRED)}; missing: {', '.join(missing)} "
            "(e.g. `source /opt/nc/credentials.env`)")


def wait_until(what: str, check: Callable[[], T | None], timeout: float, describe: Callable[[], str] = lambda: "") -> T:
    """Poll `check` until it returns something other than None/False; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{describe()}", pytrace=False)
        time.sleep(POLL)


# --- occ ------------------------------------------------------------------------------------


class Occ:
    """`$NC_OCC ...` (e.g. `runuser -u www-data -- php /opt/nc/nextcloud/occ`).

    A Nextcloud on SQLite answers "database is locked" when occ writes while the server and the webhook
    worker are busy; `retries` repeats such a command (only pass it for commands that are safe to repeat).
    """

    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)

    def __call__(self, *args: str, env: dict[str, str] | None = None, check: bool = True, retries: int = 0,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        for attempt in range(retries + 1):
            result = subprocess.run(
                [*self.argv, "--no-warnings", *args], cwd="/", env={**os.environ, **(env or {})},
                capture_output=True, text=True, timeout=timeout, check=False,
            )
            if result.returncode == 0 or not locked(result) or attempt == retries:
                break
            time.sleep(0.5 + attempt)
        if check and result.returncode != 0:
            raise AssertionError(f"occ {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def locked(result: subprocess.CompletedProcess[str]) -> bool:
    return "database is locked" in result.stdout + result.stderr


@dataclass(frozen=True)
class Nextcloud:
    url: str
    admin: tuple[str, str]
    occ: Occ

    def own_address(self) -> str:
        """The address Nextcloud sees our requests (and the ExApp's) come from."""
        parts = urlsplit(self.url)
        with socket.socket(socket.AF_INET6 if ":" in (parts.hostname or "") else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((parts.hostname or "127.0.0.1", parts.port or 80))
            return probe.getsockname()[0]

    def throttle(self) -> dict:
        """Brute-force protection state of our address: AppAPI counts each ExApp request it cannot authenticate."""
        out = self.occ("security:bruteforce:attempts", self.own_address(), "--output=json", retries=3).stdout
        return json.loads(out)

    def reset_throttle(self) -> None:
        self.occ("security:bruteforce:reset", self.own_address(), retries=3)


# --- accounts and their files ---------------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    size: int
    mtime: float


class Account:
    """A Nextcloud user that uploads the way the phone clients do (WebDAV with an app password)."""

    def __init__(self, nextcloud: Nextcloud, user: str, app_password: str) -> None:
        self.nextcloud = nextcloud
        self.user = user
        self.app_password = app_password
        self.http = httpx.Client(base_url=nextcloud.url.rstrip("/"), auth=(user, app_password), timeout=120)
        self.root = f"/remote.php/dav/files/{quote(user)}"
        self.reuploaded: set[str] = set()  # paths uploaded again after their first file was organised

    def __repr__(self) -> str:
        return f"Account({self.user})"

    def send(self, method: str, url: str, **kw) -> httpx.Response:
        """An idempotent request (PUT, GET, PROPFIND, MKCOL), repeated after a server error."""
        for attempt in range(4):
            response = self.http.request(method, url, **kw)
            if response.status_code < 500 or attempt == 3:
                return response
            time.sleep(0.5 + attempt)
        raise AssertionError("unreachable")

    def path_url(self, path: str) -> str:
        return f"{self.root}/{quote(path.strip('/'))}"

    def absolute_url(self, path: str) -> str:
        return self.nextcloud.url.rstrip("/") + self.path_url(path)

    def mkdirs(self, folder: str) -> None:
        parts = [p for p in folder.strip("/").split("/") if p]
        for depth in range(1, len(parts) + 1):
            response = self.send("MKCOL", self.path_url("/".join(parts[:depth])))
            assert response.status_code in (201, 405), f"MKCOL {folder}: HTTP {response.status_code} {response.text[:300]}"

    def put(self, path: str, data: bytes, mtime: float | None = None) -> None:
        """A plain upload, as the apps do for small files: PUT with the file's mtime in X-OC-Mtime."""
        headers = {"Content-Type": "application/octet-stream"}
        if mtime is not None:
            headers["X-OC-Mtime"] = str(int(mtime))
        response = self.send("PUT", self.path_url(path), content=data, headers=headers)
        assert response.status_code in (201, 204), f"PUT {path}: HTTP {response.status_code} {response.text[:300]}"
        if mtime is not None:
            assert response.headers.get("X-OC-MTime") == "accepted", f"PUT {path}: mtime not accepted: {dict(response.headers)}"

    def chunked_upload(self, path: str, data: bytes, mtime: float, chunk_size: int = 5 * 1024 * 1024) -> int:
        """Chunked upload v2 as the Android/iOS/desktop clients do it; returns the number of chunks."""
        destination = self.absolute_url(path)
        folder = f"/remote.php/dav/uploads/{quote(self.user)}/mobile-backups-e2e-{secrets.token_hex(8)}"
        response = self.http.request("MKCOL", folder, headers={"Destination": destination})
        assert response.status_code == 201, f"MKCOL {folder}: HTTP {response.status_code} {response.text[:300]}"
        chunks = 0
        for number, offset in enumerate(range(0, len(data), chunk_size), start=1):
            response = self.send(
                "PUT", f"{folder}/{number:05d}", content=data[offset : offset + chunk_size],
                headers={"Destination": destination, "OC-Total-Length": str(len(data))},
            )
            assert response.status_code in (201, 204), f"PUT chunk {number}: HTTP {response.status_code} {response.text[:300]}"
            chunks = number
        response = self.http.request(
            "MOVE", f"{folder}/.file",
            headers={"Destination": destination, "OC-Total-Length": str(len(data)), "X-OC-Mtime": str(int(mtime))},
        )
        assert response.status_code in (201, 204), f"MOVE .file -> {path}: HTTP {response.status_code} {response.text[:300]}"
        return chunks

    def get(self, path: str) -> bytes:
        response = self.send("GET", self.path_url(path))
        assert response.status_code == 200, f"GET {path}: HTTP {response.status_code}"
        return response.content

    def _propfind(self, path: str) -> list[tuple[str, bool, int, float | None]]:
        body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getcontentlength/><d:getlastmodified/>'
                "<d:resourcetype/></d:prop></d:propfind>")
        response = self.send("PROPFIND", self.path_url(path), headers={"Depth": "1", "Content-Type": "application/xml"}, content=body)
        if response.status_code == 404:
            return []
        assert response.status_code == 207, f"PROPFIND {path}: HTTP {response.status_code} {response.text[:300]}"
        out = []
        prefix = unquote(self.root) + "/"
        for element in ET.fromstring(response.content).iter(f"{DAV}response"):
            href = unquote(urlsplit(element.findtext(f"{DAV}href", "")).path)
            rel = href.split(prefix, 1)[-1].strip("/") if href.startswith(prefix) else ""
            prop = element.find(f"{DAV}propstat/{DAV}prop")
            assert prop is not None
            modified = prop.findtext(f"{DAV}getlastmodified")
            out.append((rel, prop.find(f"{DAV}resourcetype/{DAV}collection") is not None,
                        int(prop.findtext(f"{DAV}getcontentlength") or 0),
                        parsedate_to_datetime(modified).timestamp() if modified else None))
        return out

    def tree(self, folder: str = "") -> dict[str, FileInfo]:
        """Every file under `folder` (the whole account by default): path -> size and mtime."""
        files: dict[str, FileInfo] = {}
        for rel, is_folder, size, mtime in self._propfind(folder):
            if rel == folder.strip("/"):
                continue
            if is_folder:
                files.update(self.tree(rel))
            else:
                files[rel] = FileInfo(size, mtime or 0.0)
        return files


SUITE_GROUP = f"mbe2e-{secrets.token_hex(3)}"  # every test user of this run is in it: the suite restricts the app to it


class Accounts:
    """Creates test users (random names, 13+ character passwords, app passwords) in SUITE_GROUP and deletes them
    at the end, and the group once it is empty."""

    def __init__(self, nextcloud: Nextcloud) -> None:
        self.nextcloud = nextcloud
        self.suffix = secrets.token_hex(3)
        self.created: list[Account] = []
        self.users: list[str] = []  # every user added, even one whose app password failed

    def new(self, label: str) -> Account:
        user = f"mbe2e-{self.suffix}-{len(self.users) + 1:02d}-{label}"[:56]
        password = f"Mb-e2e-{secrets.token_urlsafe(18)}"
        self.users.append(user)
        for attempt in range(4):
            added = self.nextcloud.occ("user:add", "--password-from-env", user, env={"OC_PASS": password}, check=False)
            if added.returncode == 0 or self.nextcloud.occ("user:info", user, check=False).returncode == 0:
                break  # created (a lock error after "created successfully" leaves a usable account)
            if not locked(added) or attempt == 3:
                raise AssertionError(f"occ user:add {user} failed ({added.returncode}):\n{added.stdout}\n{added.stderr}")
            time.sleep(0.5 + attempt)
        if self.nextcloud.occ("group:adduser", SUITE_GROUP, user, check=False).returncode != 0:  # the run's first user
            self.nextcloud.occ("group:add", SUITE_GROUP, check=False, retries=3)
            self.nextcloud.occ("group:adduser", SUITE_GROUP, user, retries=3)
        out = self.nextcloud.occ("user:add-app-password", "--password-from-env", "--name=mobile-backups-e2e", user,
                                 env={"NC_PASS": password}, retries=3).stdout
        app_password = [line.strip() for line in out.splitlines() if line.strip()][-1]
        account = Account(self.nextcloud, user, app_password)
        self.created.append(account)
        return account

    def delete_all(self) -> None:
        for account in self.created:
            account.http.close()
        for user in self.users:
            self.nextcloud.occ("user:delete", user, check=False, retries=3)
        groups = self.nextcloud.occ("group:list", "--output=json", check=False, retries=3)
        if groups.returncode == 0 and not json.loads(groups.stdout or "{}").get(SUITE_GROUP, ["?"]):
            self.nextcloud.occ("group:delete", SUITE_GROUP, check=False, retries=3)


# --- the ExApp ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ExApp:
    """The ExApp as AppAPI's manual-install daemon expects it: a process we start, on a port we choose."""

    def __init__(self, nextcloud: Nextcloud, workdir: Path) -> None:
        self.nextcloud = nextcloud
        self.storage = workdir / "storage"
        self.log_path = workdir / "exapp.log"
        self.port = free_port()
        self.secret = secrets.token_hex(32)  # 64 characters
        self.process: subprocess.Popen[bytes] | None = None
        self.registered = False
        self.saved_config: dict[str, str | None] = {}  # key -> value before the suite changed it (None: unset)
        self.failed_logins_at_start = 0  # brute-force attempts AppAPI counted while the app ran unregistered

    # process

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NC_AUTH_", "APP_", "AA_"))}
        env.update(APP_ID=APP_ID, APP_SECRET=self.secret, APP_VERSION=APP_VERSION, APP_HOST="127.0.0.1", APP_PORT=str(self.port),
                   NEXTCLOUD_URL=self.nextcloud.url, APP_PERSISTENT_STORAGE=str(self.storage), PYTHONUNBUFFERED="1")
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "the ExApp is already running"
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== e2e: starting the ExApp on port {self.port} =====\n".encode())
            log.flush()
            self.process = subprocess.Popen([sys.executable, "main.py"], cwd=APP_DIR, env=self.environment(),
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.port}/heartbeat"

        def up() -> bool:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"the ExApp exited with {self.process.returncode}\n{self.log_tail()}", pytrace=False)
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the ExApp's /heartbeat", up, 30, self.log_tail)

    def kill(self) -> None:
        """Stop it the hard way, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        with open(self.log_path, "ab") as log:
            log.write(b"\n===== e2e: ExApp killed =====\n")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    # AppAPI

    def json_info(self) -> str:
        return json.dumps(json_info(ROOT / "appinfo" / "info.xml", self.port, self.secret, DAEMON))

    def register(self) -> None:
        ensure_daemon(self.nextcloud)
        try:
            result = self.nextcloud.occ("app_api:app:register", APP_ID, DAEMON, "--wait-finish", "--json-info", self.json_info(),
                                        check=False, timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail(f"app_api:app:register did not finish in 90 s (throttled? {self.nextcloud.throttle()})\n{self.log_tail()}", pytrace=False)
        if result.returncode != 0:
            pytest.fail(f"app_api:app:register failed ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{self.log_tail()}", pytrace=False)
        self.registered = True

    def unregister(self) -> None:
        unregister(self.nextcloud.occ)
        self.registered = False

    def webhooks(self) -> list[dict]:
        out = self.nextcloud.occ("webhook_listeners:list", "--output=json", retries=3).stdout
        return [w for w in json.loads(out or "[]") if w.get("appId") == APP_ID]

    def remember_config(self, key: str) -> None:
        """Keep an admin setting's value from before the suite, for `restore_config`."""
        if key not in self.saved_config:
            got = self.nextcloud.occ("app_api:app:config:get", APP_ID, key, check=False, retries=3)
            self.saved_config[key] = got.stdout.strip() if got.returncode == 0 else None

    def set_config(self, key: str, value: str) -> None:
        """An admin setting (AppAPI's appconfig_ex, what the admin settings form writes); restored by `restore_config`."""
        self.remember_config(key)
        exists = self.nextcloud.occ("app_api:app:config:get", APP_ID, key, check=False, retries=3).returncode == 0
        self.nextcloud.occ("app_api:app:config:set", APP_ID, key, f"--value={value}", *(["--update-only"] if exists else []), retries=3)

    def restore_config(self, *keys: str) -> None:
        """AppAPI keeps an ExApp's config after unregistering it: put back what was there before the suite
        (only `keys`, when given)."""
        for key in keys or list(self.saved_config):
            value = self.saved_config.pop(key)
            if value is None:
                self.nextcloud.occ("app_api:app:config:delete", APP_ID, key, check=False, retries=3)
            else:
                self.nextcloud.occ("app_api:app:config:set", APP_ID, key, f"--value={value}", "--update-only", check=False, retries=3)

    def disable(self) -> None:
        self.nextcloud.occ("app_api:app:disable", APP_ID, retries=3)

    def enable(self) -> None:
        self.nextcloud.occ("app_api:app:enable", APP_ID, retries=3)

    # what it left behind

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "--- ExApp log (last lines) ---\n" + "\n".join(self.log_text().splitlines()[-lines:])

    def journal_records(self, user: str) -> list[dict]:
        folder = self.storage / "journals" / user
        records = []
        for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = {"op": "torn line", "line": line}
                record["_file"] = path.name  # group numbers restart in each day's file
                records.append(record)
        return records


def ensure_daemon(nextcloud: Nextcloud) -> None:
    """AppAPI's manual-install daemon, created if missing; its host must be real (`null` makes AppAPI call http://null:PORT)."""
    if f'"name":"{DAEMON}"' not in nextcloud.occ("app_api:daemon:list", "--output=json", retries=3).stdout.replace(" ", ""):
        nextcloud.occ("app_api:daemon:register", DAEMON, "Manual Install", "manual-install", "http", "127.0.0.1", nextcloud.url, retries=3)


def installed(occ: Occ) -> bool:
    return f"{APP_ID} " in occ("app_api:app:list", retries=3).stdout


def unregister(occ: Occ) -> None:
    if installed(occ):
        occ("app_api:app:unregister", APP_ID, "--silent", "--force", check=False, retries=3)
    assert not installed(occ), f"could not unregister {APP_ID}"


def nextcloud_from_environment() -> Nextcloud:
    return Nextcloud(os.environ["NEXTCLOUD_URL"].rstrip("/"), (os.environ["NC_AUTH_USER"], os.environ["NC_AUTH_PASS"]), Occ(os.environ["NC_OCC"]))
