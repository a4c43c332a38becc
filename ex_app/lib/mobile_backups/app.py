"""The ExApp's state: queue, worker and sweeper threads, webhooks, configuration.

`main.py` only wires this into AppAPI; the handlers here answer at once and leave
the work to the worker thread.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from nc_py_api import AsyncNextcloudApp
from nc_py_api.ex_app import setup_nextcloud_logging

from .config import DEFAULTS, KEYS, UserConfig, resolve
from .nextcloud_store import AppAuth, NextcloudStore
from .service import SETTLE_SECONDS, Organiser
from .work_queue import WorkQueue

log = logging.getLogger("mobile_backups")
EVENTS = {
    "OCP\\Files\\Events\\Node\\NodeCreatedEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeWrittenEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeRenamedEvent": "event.target.path",
}
_FILES_PATH = re.compile(r"^/([^/]+)/files/(.+)$")
CONFIG_TTL = 30.0


def event_paths(payload: dict) -> list[tuple[str, str]]:
    """(owner, path in the owner's files) named by a webhook payload; the owner comes from the path
    (the payload's user can be null), and a path that could leave the owner's files is dropped."""
    event = payload.get("event") or {}
    node = event.get("target") or event.get("node") or {}
    match = _FILES_PATH.match(str(node.get("path") or ""))
    if not match:
        return []
    owner, rel = match.groups()
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return []
    return [(owner, rel)]


def path_filter(inboxes: list[str]) -> str:
    """webhook_listeners' event_filter value: only paths inside an inbox folder."""
    names = "|".join(re.escape(i).replace("/", "\\/") for i in inboxes)
    return f"/^\\/[^\\/]+\\/files\\/({names})\\//"


class App:
    def __init__(self, auth: AppAuth, storage: Path) -> None:
        self.auth = auth
        self.storage = storage
        self.queue = WorkQueue(storage / "queue.sqlite")
        self.organiser = Organiser(lambda user: NextcloudStore(auth, user), self.queue, storage, self.config_for)
        self._configs: dict[str, tuple[float, UserConfig]] = {}
        self._threads: list[threading.Thread] = []
        # Until AppAPI enables the app, it must not call Nextcloud: AppAPI counts calls from an
        # ExApp it does not know yet as failed logins and soon throttles the address.
        self.enabled = threading.Event()
        self._enabled_flag = storage / "enabled"
        self._nextcloud_log: logging.Handler | None = None

    @classmethod
    def from_environment(cls, storage: Path) -> App:
        auth = AppAuth(os.environ["NEXTCLOUD_URL"], os.environ["APP_ID"], os.environ["APP_VERSION"], os.environ["APP_SECRET"],
                       os.environ.get("AA_VERSION", "2.2.0"))
        storage.mkdir(parents=True, exist_ok=True)
        log.info("Mobile Backups: state in %s", storage)
        return cls(auth, storage)

    def start(self) -> None:
        if self._enabled_flag.exists():  # a restart of an enabled app: AppAPI will not call /enabled again
            self._set_enabled(True)
        for target in (self.organiser.run, self._sweep_forever):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.organiser.stop.set()
        self.enabled.set()  # let the sweeper see the stop
        self.queue.wake.set()

    def _set_enabled(self, enabled: bool) -> None:
        if enabled:
            self._enabled_flag.touch()
            if self._nextcloud_log is None:
                self._nextcloud_log = setup_nextcloud_logging("mobile_backups", logging.INFO)
            self.enabled.set()
        else:
            self._enabled_flag.unlink(missing_ok=True)
            self.enabled.clear()

    # --- events ----------------------------------------------------------------------

    def on_event(self, payload: dict) -> None:
        for owner, path in event_paths(payload):
            self.queue.add(owner, path, SETTLE_SECONDS)

    async def enable(self) -> str:
        """Register our webhooks exactly once (removing any left from before), then sweep."""
        nc = AsyncNextcloudApp()
        await nc.set_user("")
        self._set_enabled(True)
        inboxes = list(self.config_for("").inboxes)
        await nc.webhooks.unregister_all()
        for event, key in EVENTS.items():
            await nc.webhooks.register("POST", "/webhook", event, event_filter={key: path_filter(inboxes)})
        threading.Thread(target=self.sweep_all, daemon=True, name="sweep-at-enable").start()
        log.info("Mobile Backups enabled: webhooks for %s", ", ".join(inboxes))
        return ""

    async def disable(self) -> str:
        nc = AsyncNextcloudApp()
        await nc.set_user("")
        await nc.webhooks.unregister_all()
        log.info("Mobile Backups disabled: webhooks removed")
        self._set_enabled(False)
        return ""

    # --- sweeping --------------------------------------------------------------------

    def sweep_all(self) -> None:
        """Every user's inboxes (AppAPI lists all users to an ExApp)."""
        try:
            users = NextcloudStore(self.auth, "").ocs("GET", "/ocs/v1.php/apps/app_api/api/v1/users")
        except OSError as err:
            log.warning("sweep: could not list users: %s", err)
            return
        for user in users:  # type: ignore[union-attr]
            try:
                found = self.organiser.sweep(user)
                if found:
                    log.info("sweep: %d file(s) to look at for %s", found, user)
            except Exception as err:
                log.warning("sweep of %s failed: %s", user, err)

    def _sweep_forever(self) -> None:
        while not self.organiser.stop.is_set():
            self.enabled.wait()
            if not self.organiser.stop.wait(self._sweep_interval()) and self.enabled.is_set():
                self.sweep_all()

    def _sweep_interval(self) -> float:
        try:
            return max(30.0, float(self._admin_values().get("sweep_interval") or DEFAULTS["sweep_interval"]))
        except (ValueError, OSError):
            return float(DEFAULTS["sweep_interval"])

    # --- configuration ---------------------------------------------------------------

    def _admin_values(self) -> dict[str, str]:
        return self._values("", "ex-app/config")

    def _values(self, user: str, kind: str) -> dict[str, str]:
        records = NextcloudStore(self.auth, user).ocs("POST", f"/ocs/v1.php/apps/app_api/api/v1/{kind}/get-values", {"configKeys": list(KEYS)})
        return {r["configkey"]: r["configvalue"] for r in records or [] if r.get("configvalue") is not None}  # type: ignore[union-attr]

    def config_for(self, user: str) -> UserConfig:
        cached = self._configs.get(user)
        if cached and time.monotonic() - cached[0] < CONFIG_TTL:
            return cached[1]
        try:
            admin = self._admin_values()
            personal = self._values(user, "ex-app/preference") if user else {}
        except OSError as err:
            if cached:
                return cached[1]
            log.warning("could not read settings (%s): using defaults", err)
            admin, personal = {}, {}
        config = resolve(admin, personal, _server_zone())
        for problem in config.problems:
            log.warning("settings of %s: %s", user or "the admin", problem)
        self._configs[user] = (time.monotonic(), config)
        return config


def _server_zone() -> ZoneInfo | None:
    name = os.environ.get("TZ")
    try:
        return ZoneInfo(name) if name else None
    except (KeyError, ValueError):
        return None
