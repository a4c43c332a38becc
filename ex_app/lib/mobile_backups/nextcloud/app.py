"""The ExApp's state: queue, worker and sweeper threads, webhooks, settings, Nextcloud UI entries.

`main.py` only wires this into AppAPI; the handlers here answer at once and leave
the work to the worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from queue import SimpleQueue
from urllib.parse import quote

from nc_py_api import AsyncNextcloudApp
from nc_py_api.ex_app import setup_nextcloud_logging

from .app_state import AppState
from .forms import admin_form, personal_form
from .rules_app import RulesService
from .settings import ADMIN_DEFAULTS, PERSONAL_KEYS, AdminConfig, UserConfig, admin_config, check, folders, pair_problem, user_config, zone_named
from .store import AppAuth, NextcloudStore
from .ui_entries import register_ui
from .work_queue import WorkQueue
from .worker import SETTLE_SECONDS, Organiser, Summary

log = logging.getLogger("mobile_backups")
EVENTS = {
    "OCP\\Files\\Events\\Node\\NodeCreatedEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeWrittenEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeRenamedEvent": "event.target.path",
}
_FILES_PATH = re.compile(r"^/([^/]+)/files/(.+)$")
CONFIG_TTL = 30.0
APP_API = "/ocs/v1.php/apps/app_api/api/v1"


def nextcloud_log() -> QueueListener:
    """Our log records of INFO and above also go to the Nextcloud log, from a thread of their own
    (nc_py_api's handler makes one request per record, which must not slow the worker down),
    except the per-file lines marked `extra={"nextcloud": False}`: the batch summaries say it there."""
    handler = setup_nextcloud_logging("mobile_backups.nextcloud", logging.INFO)
    logging.getLogger("mobile_backups.nextcloud").removeHandler(handler)
    handler.addFilter(lambda record: getattr(record, "nextcloud", True))
    records: SimpleQueue[logging.LogRecord] = SimpleQueue()
    listener = QueueListener(records, handler, respect_handler_level=True)
    listener.start()
    log.addHandler(QueueHandler(records))
    return listener


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


def path_filter(inboxes: Mapping[str, bool]) -> str:
    """webhook_listeners' event_filter value: only paths inside an inbox folder, and only the top
    level of an inbox that is also the library (iOS): our own moves into its subfolders, which
    Nextcloud reports like any other, are not even delivered."""
    parts = [re.escape(inbox).replace("/", "\\/") + ("\\/[^\\/]+$" if top_only else "\\/") for inbox, top_only in sorted(inboxes.items())]
    return f"/^\\/[^\\/]+\\/files\\/({'|'.join(parts)})/"


def webhook_inboxes(configs: list[UserConfig]) -> dict[str, bool]:
    """Every inbox of these users -> whether only its top level holds uploads (it is the library of
    everyone who uses it as an inbox)."""
    inboxes: dict[str, bool] = {}
    for config in configs:
        for inbox in config.inboxes:
            inboxes[inbox] = inboxes.get(inbox, True) and inbox == config.library
    return inboxes


class App:
    def __init__(self, auth: AppAuth, storage: Path) -> None:
        self.auth = auth
        self.storage = storage
        self.queue = WorkQueue(storage / "queue.sqlite")
        self.state = AppState(storage / "state.sqlite")
        self.rules = RulesService(self)
        self.organiser = Organiser(lambda user: NextcloudStore(auth, user), self.queue, storage, self.config_for, self.batch_done)
        self._configs: dict[str, tuple[float, UserConfig, AdminConfig]] = {}
        self._admin: tuple[float, AdminConfig] | None = None
        self._threads: list[threading.Thread] = []
        self._webhook_inboxes: dict[str, bool] = {}
        # Until AppAPI enables the app, it must not call Nextcloud: AppAPI counts calls from an
        # ExApp it does not know yet as failed logins and soon throttles the address.
        self.enabled = threading.Event()
        self._enabled_flag = storage / "enabled"
        self._nextcloud_log: QueueListener | None = None

    @classmethod
    def from_environment(cls, storage: Path) -> App:
        auth = AppAuth(os.environ["NEXTCLOUD_URL"], os.environ["APP_ID"], os.environ["APP_VERSION"], os.environ["APP_SECRET"],
                       os.environ.get("AA_VERSION", "2.2.0"))
        storage.mkdir(parents=True, exist_ok=True)
        log.info("Mobile Backups: state in %s", storage)
        return cls(auth, storage)

    @property
    def page_url(self) -> str:
        """The app's own settings page, through AppAPI's proxy (works for plain users too)."""
        return f"{self.auth.nextcloud_url.rstrip('/')}/index.php/apps/app_api/proxy/{self.auth.app_id}/settings"

    def start(self) -> None:
        if self._enabled_flag.exists():  # a restart of an enabled app: AppAPI will not call /enabled again
            self._set_enabled(True)
        for target in (self.organiser.run, self._sweep_forever, self.rules.schedule_forever):
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
                self._nextcloud_log = nextcloud_log()
            self.enabled.set()
        else:
            self._enabled_flag.unlink(missing_ok=True)
            self.enabled.clear()

    # --- events ----------------------------------------------------------------------

    def on_event(self, payload: dict) -> None:
        for owner, path in event_paths(payload):
            self.queue.add(owner, path, SETTLE_SECONDS)

    async def enable(self) -> str:
        """Register our webhooks exactly once (removing any left from before), the settings forms,
        occ commands and Files actions; then sweep."""
        nc = AsyncNextcloudApp()
        await nc.set_user("")
        self._set_enabled(True)
        await self._register_webhooks(nc, webhook_inboxes([user_config(self.admin(), {})]))
        try:  # organising does not depend on these: a failure is logged, not fatal
            await nc.ui.settings.register_form(admin_form(self.page_url))
            await nc.ui.settings.register_form(personal_form(self.page_url))
            await register_ui(nc)
        except Exception as err:
            log.error("Mobile Backups: could not register its settings forms, occ commands or Files actions: %s", err)
        threading.Thread(target=self.sweep_all, daemon=True, name="sweep-at-enable").start()
        return ""

    async def _register_webhooks(self, nc: AsyncNextcloudApp, inboxes: dict[str, bool]) -> None:
        """Exactly one webhook per event. Ours from before (another enable, a crash) are updated in
        place, not removed and added again: an upload in between would have no webhook."""
        kept = {}
        for hook in await nc.webhooks.get_list():
            if hook.app_id != self.auth.app_id:
                continue
            if hook.event in EVENTS and hook.event not in kept:
                kept[hook.event] = hook
            else:
                await nc.webhooks.unregister(hook.webhook_id)  # a second one of an event: every upload would come twice
        for event, key in EVENTS.items():
            if event in kept:
                await nc.webhooks.update(kept[event].webhook_id, "POST", "/webhook", event, event_filter={key: path_filter(inboxes)})
            else:
                await nc.webhooks.register("POST", "/webhook", event, event_filter={key: path_filter(inboxes)})
        self._webhook_inboxes = inboxes
        log.info("Mobile Backups: webhooks for uploads into %s", ", ".join(f"{i} (top level)" if top else i for i, top in sorted(inboxes.items())))

    def _refresh_webhooks(self, inboxes: dict[str, bool]) -> None:
        """Users may choose other inbox folders: the event filter follows the union of them all."""
        if inboxes and inboxes != self._webhook_inboxes:
            async def again() -> None:
                nc = AsyncNextcloudApp()
                await nc.set_user("")
                await self._register_webhooks(nc, inboxes)

            asyncio.run(again())

    async def disable(self) -> str:
        nc = AsyncNextcloudApp()
        await nc.set_user("")
        await nc.webhooks.unregister_all()
        self._webhook_inboxes = {}
        log.info("Mobile Backups disabled: webhooks removed")
        self._set_enabled(False)
        return ""

    # --- sweeping --------------------------------------------------------------------

    def users(self) -> list[str]:
        """Every user (AppAPI lists all users to an ExApp)."""
        return list(NextcloudStore(self.auth, "").ocs("GET", f"{APP_API}/users") or [])  # type: ignore[arg-type]

    def sweep_all(self) -> None:
        """Every user's inboxes; the webhooks' filter is brought up to date with their inbox folders."""
        try:
            users = self.users()
        except OSError as err:
            log.warning("sweep: could not list users: %s", err)
            return
        configs = []
        for user in users:
            try:
                config = self.config_for(user)
                if not config.enabled:
                    continue
                configs.append(config)
                found = self.organiser.sweep(user)
                if found:
                    log.info("sweep: %d file(s) to look at for %s", found, user)
            except Exception as err:
                log.warning("sweep of %s failed: %s", user, err)
        self.state.put("", "sweep", {"time": time.time(), "users": len(users)})
        try:
            self._refresh_webhooks(webhook_inboxes(configs))
        except Exception as err:
            log.warning("could not update the webhooks' inbox filter: %s", err)

    def _sweep_forever(self) -> None:
        while not self.organiser.stop.is_set():
            self.enabled.wait()
            if not self.organiser.stop.wait(self.admin().sweep_interval) and self.enabled.is_set():
                self.sweep_all()

    # --- settings --------------------------------------------------------------------

    def _values(self, user: str, kind: str, keys: tuple[str, ...]) -> dict[str, str]:
        records = NextcloudStore(self.auth, user).ocs("POST", f"{APP_API}/{kind}/get-values", {"configKeys": list(keys)})
        return {r["configkey"]: str(r["configvalue"]) for r in records or [] if r.get("configvalue") is not None}  # type: ignore[union-attr]

    def admin(self) -> AdminConfig:
        """The admin settings in force (read at most every CONFIG_TTL seconds)."""
        if self._admin and time.monotonic() - self._admin[0] < CONFIG_TTL:
            return self._admin[1]
        try:
            saved = self._values("", "ex-app/config", tuple(ADMIN_DEFAULTS))
        except OSError as err:
            if self._admin:
                return self._admin[1]
            log.warning("could not read the admin settings (%s): using the last valid ones", err)
            saved = {}
        config = admin_config(saved, self.state.get("", "valid"))
        self.state.put("", "valid", config.values)
        for key, problem in self.state.new_problems("", config.problems, saved).items():
            log.error("admin setting %s not applied: %s; still using %r", key, problem, config.values[key])
        self._admin = (time.monotonic(), config)
        return config

    def user_info(self, user: str) -> tuple[tuple[str, ...] | None, str | None]:
        """The user's groups and Nextcloud time zone (None when Nextcloud does not say)."""
        data = NextcloudStore(self.auth, user).ocs("GET", "/ocs/v2.php/cloud/user")
        assert isinstance(data, dict)
        return tuple(data.get("groups") or ()), data.get("timezone") or None

    def config_for(self, user: str, fresh: bool = False) -> UserConfig:
        """The user's settings in force, read at most every CONFIG_TTL seconds (and again at once
        when the admin settings change)."""
        admin = self.admin()
        cached = self._configs.get(user)
        if cached and not fresh and time.monotonic() - cached[0] < CONFIG_TTL and cached[2] is admin:
            return cached[1]
        try:
            saved = self._values(user, "ex-app/preference", PERSONAL_KEYS)
            groups, zone = self.user_info(user)
        except OSError as err:
            if cached:
                return cached[1]
            log.warning("could not read the settings of %s (%s): using the last valid ones", user, err)
            saved, groups, zone = {}, None, None
        config = user_config(admin, saved, self.state.get(user, "valid"), user_groups=groups, user_zone=zone, server_zone=zone_named(os.environ.get("TZ")))
        self.state.put(user, "valid", config.values)
        for key, problem in self.state.new_problems(user, config.problems, saved).items():
            log.warning("setting %s of %s not applied: %s; still using %r", key, user, problem, config.values[key])
            self.notify(user, f"Mobile Backups: your setting “{key}” was not applied",
                        f"{problem}. Still using “{config.values[key]}”.", self.page_url)
        self._configs[user] = (time.monotonic(), config, admin)
        return config

    def save_personal(self, user: str, values: Mapping[str, str]) -> dict[str, str]:
        """Check and save a user's settings (the app's own page); nothing is saved if anything is wrong.
        Returns key -> problem."""
        values = {k: v.strip() for k, v in values.items() if k in PERSONAL_KEYS}
        problems = check({k: v for k, v in values.items() if v})
        config = self.config_for(user, fresh=True)
        merged = {**config.values, **{k: v for k, v in values.items() if v}}
        if not problems and (problem := pair_problem(merged["inbox_folders"], merged["library_folder"])):
            problems["inbox_folders" if values.get("inbox_folders") else "library_folder"] = problem
        if "layout" in values and values["layout"] and self.admin().values["users_may_change_layout"] in ("0", "false"):
            problems["layout"] = "the admin does not let users choose their own layout"
        store = NextcloudStore(self.auth, user)
        if not problems and values.get("inbox_folders"):
            missing = [f for f in folders(values["inbox_folders"]) if not store.exists(f)]
            if missing:
                problems["inbox_folders"] = "no such folder in your files: " + ", ".join(missing)
        if problems:
            return problems
        for key, value in values.items():
            store.ocs("POST", f"{APP_API}/ex-app/preference", {"configKey": key, "configValue": value})
        self.config_for(user, fresh=True)
        log.info("settings of %s saved: %s", user, values)
        return {}

    # --- telling the user --------------------------------------------------------------

    def notify(self, user: str, subject: str, message: str, link: str = "") -> None:
        """A Nextcloud notification (AppAPI's endpoint; the link must be absolute)."""
        params = {"object": "app_api", "object_id": f"mobile_backups-{time.time_ns()}", "subject_type": "app_api_ex_app",
                  "subject_params": {"rich_subject": subject, "rich_subject_params": {}, "rich_message": message or subject,
                                     "rich_message_params": {}, "link": link or self.page_url}}
        try:
            NextcloudStore(self.auth, user).ocs("POST", f"{APP_API}/notification", {"params": params})
        except OSError as err:  # DavError too
            log.warning("could not notify %s (%s): %s", user, err, subject)

    def files_url(self, folder: str) -> str:
        return f"{self.auth.nextcloud_url.rstrip('/')}/index.php/apps/files/?dir={quote('/' + folder.strip('/'))}"

    def batch_done(self, user: str, summary: Summary) -> None:
        subject, message = summary.describe(self.config_for(user).library)
        self.notify(user, subject, message, self.files_url(summary.common_folder(self.config_for(user).library)))
