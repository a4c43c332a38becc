"""The ExApp's state: queue, worker and sweeper threads, webhooks, settings, Nextcloud UI entries.

`main.py` only wires this into AppAPI; the handlers here answer at once and leave
the work to the worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path
from queue import SimpleQueue
from urllib.parse import quote

from nc_py_api import AsyncNextcloudApp

from ..store import Unavailable
from .app_state import AppState
from .backlog import Backlogs, Progress
from .forms import admin_form, personal_form
from .rules_app import RulesService
from .settings import ADMIN_DEFAULTS, PERSONAL_KEYS, AdminConfig, UserConfig, admin_config, check, folders, pair_problem, user_config, zone_named
from .store import REQUESTS_AT_ONCE, REQUESTS_KEY, TIMEOUT, AppAuth, DavError, Gate, NextcloudStore, requests_at_once
from .sweeper import Sweeper
from .ui_entries import register_ui
from .work_queue import Intake, WorkQueue
from .worker import SETTLE_SECONDS, Organiser, Summary

log = logging.getLogger("mobile_backups")
EVENTS = {
    "OCP\\Files\\Events\\Node\\NodeCreatedEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeWrittenEvent": "event.node.path",
    "OCP\\Files\\Events\\Node\\NodeRenamedEvent": "event.target.path",
}
_FILES_PATH = re.compile(r"^/([^/]+)/files/(.+)$")
CONFIG_TTL = 30.0
RETRY_SECONDS = 30.0  # a sweep or a settings read that failed is tried again this soon (jittered)
APP_API = "/ocs/v1.php/apps/app_api/api/v1"
NEXTCLOUD_LEVELS = {logging.DEBUG: 0, logging.INFO: 1, logging.WARNING: 2, logging.ERROR: 3, logging.CRITICAL: 4}


class NextcloudLog(logging.Handler):
    """Posts records to the Nextcloud log (AppAPI's log endpoint), only while `enabled` is set.
    A 401 (AppAPI does not accept the app: disabled or unregistered; it counts each such call as a failed
    login against our address) calls `refused` and posts nothing more until the app is enabled again;
    any other failure drops the record: a retry would only add load to a server that struggles.
    (nc_py_api's handler hides every failure and keeps posting.)"""

    def __init__(self, store: NextcloudStore, enabled: threading.Event, refused: Callable[[], None]) -> None:
        super().__init__(logging.INFO)
        self.store, self.enabled, self.refused = store, enabled, refused
        self.addFilter(lambda record: getattr(record, "nextcloud", True))

    def emit(self, record: logging.LogRecord) -> None:
        if not self.enabled.is_set():
            return
        try:
            self.store.ocs("POST", f"{APP_API}/log", {"level": NEXTCLOUD_LEVELS.get(record.levelno, 4), "message": self.format(record)})
        except DavError as err:
            if err.status == 401:
                self.refused()
        except OSError:
            pass  # the server does not answer now: this record is dropped


def nextcloud_log(handler: NextcloudLog) -> tuple[QueueListener, QueueHandler]:
    """Our log records of INFO and above also go to the Nextcloud log, from a thread of their own
    (one request per record, which must not slow the worker down), except the per-file lines marked
    `extra={"nextcloud": False}`: the batch summaries say it there."""
    records: SimpleQueue[logging.LogRecord] = SimpleQueue()
    listener = QueueListener(records, handler, respect_handler_level=True)
    listener.start()
    queued = QueueHandler(records)
    log.addHandler(queued)
    return listener, queued


def soon() -> float:
    return RETRY_SECONDS * random.uniform(0.5, 1.5)


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
    def __init__(self, auth: AppAuth, storage: Path, timeout: tuple[float, float] = TIMEOUT) -> None:
        self.auth = auth
        self.storage = storage
        self.timeout = timeout  # of every request to Nextcloud (connect, read)
        # Until AppAPI enables the app, it must not call Nextcloud: AppAPI counts calls from an
        # ExApp it does not know yet as failed logins and soon throttles the address.
        self.enabled = threading.Event()
        self.gate = Gate(REQUESTS_AT_ONCE)  # every request to Nextcloud, of all users together
        self.queue = WorkQueue(storage / "queue.sqlite")
        self.intake = Intake(self.queue, SETTLE_SECONDS)
        self.state = AppState(storage / "state.sqlite")
        self.backlogs = Backlogs(self.state, self.queue)
        self.rules = RulesService(self)
        self.organiser = Organiser(self.store, self.queue, storage, self.config_for, self.batch_done, active=self.enabled, user_gone=self.user_gone,
                                   on_placed=self.rules.uploaded)
        self._configs: dict[str, tuple[float, UserConfig, AdminConfig]] = {}
        self._admin: tuple[float, AdminConfig] | None = None
        self._threads: list[threading.Thread] = []
        self._webhook_inboxes: dict[str, bool] = {}
        self._enabled_flag = storage / "enabled"
        self._nextcloud_log: tuple[QueueListener, QueueHandler] | None = None
        self._admins: dict[str, tuple[float, bool]] = {}  # user -> (when asked, in the admin group)
        self.sweeper = Sweeper(self)

    @property
    def stopped(self) -> threading.Event:
        return self.organiser.stop

    def store(self, user: str) -> NextcloudStore:
        """A user's files and OCS calls as that user ('' for the app itself)."""
        return NextcloudStore(self.auth, user, timeout=self.timeout, gate=self.gate)

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
            self.backlogs.enabled(before_it_remembered=True)  # enabled by a version that did not note when: all is new
            self._set_enabled(True)
            self.sweeper.catch_up()  # what was uploaded while it was down (or being upgraded) is looked for now
        for target in (self.organiser.run, self.sweeper.run, self.rules.schedule_forever, self.rules.at_upload_forever):
            thread = threading.Thread(target=target, daemon=True, name=target.__name__)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.intake.close()
        self.organiser.stop.set()
        self.enabled.set()  # let the sweeper see the stop
        self.sweeper.wake.set()
        self.queue.wake.set()
        self._close_nextcloud_log()

    def _close_nextcloud_log(self) -> None:
        """Post what is queued for the Nextcloud log, then no more. On disable this runs while AppAPI still
        waits for our answer and accepts the app: posted after it, a record is refused (401), which AppAPI
        counts as a failed login (seen on NC 34 with AppAPI 34: the "disabled" line itself)."""
        if self._nextcloud_log is not None:
            listener, queued = self._nextcloud_log
            log.removeHandler(queued)
            listener.stop()
            self._nextcloud_log = None

    def _set_enabled(self, enabled: bool) -> None:
        if enabled:
            self._enabled_flag.touch()
            if self._nextcloud_log is None:
                self._nextcloud_log = nextcloud_log(NextcloudLog(self.store(""), self.enabled, self._refused))
            self.enabled.set()
        else:
            self._enabled_flag.unlink(missing_ok=True)
            self.enabled.clear()

    def _refused(self) -> None:
        """AppAPI answered 401 to the app itself (disabled or unregistered without telling us): no more
        calls to Nextcloud until it enables the app again (AppAPI counts each as a failed login)."""
        if self.enabled.is_set():
            self.enabled.clear()
            log.warning("Mobile Backups: Nextcloud does not accept the app (disabled or unregistered?): "
                        "no more calls to Nextcloud until it is enabled again", extra={"nextcloud": False})

    # --- events ----------------------------------------------------------------------

    async def on_event(self, payload: dict) -> None:
        """Returns once the event's paths are in the queue on disk, written in one transaction with those
        of the other calls meanwhile; while the writer is behind, a call waits for room (back-pressure)."""
        if events := event_paths(payload):
            stored = self.intake.offer(events) or await asyncio.to_thread(self.intake.put, events)
            await asyncio.wrap_future(stored)

    async def enable(self) -> str:
        """Register our webhooks exactly once (removing any left from before), the settings forms,
        occ commands and Files actions; then sweep."""
        nc = AsyncNextcloudApp()
        await nc.set_user("")
        self.backlogs.enabled()
        self._set_enabled(True)
        await self._register_webhooks(nc, webhook_inboxes([user_config(self.admin(), {})]))
        try:  # organising does not depend on these: a failure is logged, not fatal
            await nc.ui.settings.register_form(admin_form(self.page_url))
            await nc.ui.settings.register_form(personal_form(self.page_url))
            await register_ui(nc)
        except Exception as err:
            log.error("Mobile Backups: could not register its settings forms, occ commands or Files actions: %s", err)
        self.sweeper.catch_up()
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

    def refresh_webhooks(self) -> None:
        """Users may choose other inbox folders: the event filter follows the union of the admin's and those
        of every user whose settings the app read (the sweep reads them where it finds uploads)."""
        configs = [user_config(self.admin(), {})] + [config for _, config, _ in list(self._configs.values()) if config.enabled]
        inboxes = webhook_inboxes(configs)
        if inboxes != self._webhook_inboxes:
            async def again() -> None:
                nc = AsyncNextcloudApp()
                await nc.set_user("")
                await self._register_webhooks(nc, inboxes)

            asyncio.run(again())

    async def disable(self) -> str:
        try:
            nc = AsyncNextcloudApp()
            await nc.set_user("")
            await nc.webhooks.unregister_all()
            self._webhook_inboxes = {}
            log.info("Mobile Backups disabled: webhooks removed")
        finally:  # whatever happened, no more calls to Nextcloud (the log handler's included)
            await asyncio.to_thread(self._close_nextcloud_log)
            self._set_enabled(False)
        return ""

    # --- sweeping --------------------------------------------------------------------

    def users(self) -> list[str]:
        """Every user (AppAPI lists all users to an ExApp); a 401 means the app is not accepted (`_refused`)."""
        try:
            return list(self.store("").ocs("GET", f"{APP_API}/users") or [])  # type: ignore[arg-type]
        except DavError as err:
            if err.status == 401:
                self._refused()
            raise

    def user_gone(self, user: str) -> bool:
        """After a 401 for a user: whether Nextcloud no longer has them (deleted), as the app's own list
        of users says; their settings kept here go too. False when that cannot be told now."""
        try:
            gone = user not in self.users()
        except OSError:
            return False
        if gone:
            self._configs.pop(user, None)
            self.state.forget(user)
        return gone

    def forget(self, user: str) -> None:
        self.organiser.forget(user)

    # --- settings --------------------------------------------------------------------

    def _values(self, user: str, kind: str, keys: tuple[str, ...]) -> dict[str, str]:
        records = self.store(user).ocs("POST", f"{APP_API}/{kind}/get-values", {"configKeys": list(keys)})
        return {r["configkey"]: str(r["configvalue"]) for r in records or [] if r.get("configvalue") is not None}  # type: ignore[union-attr]

    def admin(self) -> AdminConfig:
        """The admin settings in force (read at most every CONFIG_TTL seconds)."""
        if self._admin and time.monotonic() - self._admin[0] < CONFIG_TTL:
            return self._admin[1]
        try:
            saved = self._values("", "ex-app/config", (*ADMIN_DEFAULTS, REQUESTS_KEY))
        except OSError as err:
            if self._admin:  # the last valid ones stay in force; read again soon
                self._admin = (time.monotonic() - CONFIG_TTL + soon(), self._admin[1])
                return self._admin[1]
            log.warning("could not read the admin settings (%s): using the last valid ones", err)
            saved = {}
        config = admin_config(saved, self.state.get("", "valid"))
        self.state.put("", "valid", config.values)
        for key, problem in self.state.new_problems("", config.problems, saved).items():
            log.error("admin setting %s not applied: %s; still using %r", key, problem, config.values[key])
        self._limit_requests(config.values[REQUESTS_KEY])
        self._admin = (time.monotonic(), config)
        return config

    def _limit_requests(self, value: str) -> None:
        """The admin's bound on requests to Nextcloud at once (the admin form's field, or `occ app_api:app:config:set`),
        as validated with the other admin settings (an invalid value is logged there; the last valid one stays)."""
        limit = requests_at_once(value) or REQUESTS_AT_ONCE
        if limit != self.gate.limit:
            self.gate.set_limit(limit)
            log.info("Mobile Backups: at most %d request(s) to Nextcloud at once", limit)

    def user_info(self, user: str) -> tuple[tuple[str, ...] | None, str | None]:
        """The user's groups and Nextcloud time zone (None when Nextcloud does not say)."""
        data = self.store(user).ocs("GET", "/ocs/v2.php/cloud/user")
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
            if cached:  # the last valid ones stay in force; read again soon
                self._configs[user] = (time.monotonic() - CONFIG_TTL + soon(), cached[1], cached[2])
                return cached[1]
            log.warning("could not read the settings of %s (%s): nothing is organised for them until they can be read", user, err)
            return replace(user_config(admin, {}, self.state.get(user, "valid")), unread=err)  # not kept: read again next time
        config = user_config(admin, saved, self.state.get(user, "valid"), user_groups=groups, user_zone=zone, server_zone=zone_named(os.environ.get("TZ")))
        self.state.put(user, "valid", config.values)
        if groups is not None and self.backlogs.observe(user, config.enabled):  # only what Nextcloud said is a switch
            self.sweeper.soon(user)  # switched on again: what was there before is counted (and the user told) now
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
        store = self.store(user)
        if not problems and values.get("inbox_folders"):
            missing = [f for f in folders(values["inbox_folders"]) if not store.exists(f)]
            if missing:
                problems["inbox_folders"] = "no such folder in your files: " + ", ".join(missing)
        if problems:
            return problems
        self.store_preferences(user, values)
        self.config_for(user, fresh=True)
        log.info("settings of %s saved: %s", user, values)
        return {}

    def is_admin(self, user: str) -> bool:
        """Whether the user is in Nextcloud's admin group (asked at most every CONFIG_TTL seconds)."""
        asked = self._admins.get(user)
        if asked is None or time.monotonic() - asked[0] > CONFIG_TTL:
            asked = (time.monotonic(), "admin" in (self.user_info(user)[0] or ()))
            self._admins[user] = asked
        return asked[1]

    # --- the backlog: files that were there before -------------------------------------

    def start_backlog(self, user: str) -> int:
        """The user asked to organise the files that were there before: queue them all. How many are queued."""
        self.sweeper.visit(user, consent=True)
        self.queue.wake.set()
        progress = self.backlogs.progress(user)
        return progress.left if progress else 0

    def progress(self, user: str, everyone: bool = False) -> list[Progress]:
        """The user's backlog run (or, for an admin, every user's)."""
        users = self.backlogs.users() if everyone else [user]
        return [p for u in users if (p := self.backlogs.progress(u)) is not None]

    def tell_backlog(self, user: str, waiting: str) -> None:
        self.notify(user, f"{waiting} can be organised: preview",
                    "They were there before organising was switched on, so they stay where they are until you say so: "
                    "see where they would go and start it on the app's page.", self.page_url + "#backlog")

    def store_preferences(self, user: str, values: Mapping[str, str]) -> None:
        store = self.store(user)
        for key, value in values.items():
            store.ocs("POST", f"{APP_API}/ex-app/preference", {"configKey": key, "configValue": value})

    # --- telling the user --------------------------------------------------------------

    def notify(self, user: str, subject: str, message: str, link: str = "", again_later: bool = False) -> None:
        """A Nextcloud notification (AppAPI's endpoint; the link must be absolute). `again_later`: a server
        that does not answer now raises `Unavailable`, for the caller to try again."""
        params = {"object": "app_api", "object_id": f"mobile_backups-{time.time_ns()}", "subject_type": "app_api_ex_app",
                  "subject_params": {"rich_subject": subject, "rich_subject_params": {}, "rich_message": message or subject,
                                     "rich_message_params": {}, "link": link or self.page_url}}
        try:
            self.store(user).ocs("POST", f"{APP_API}/notification", {"params": params})
        except OSError as err:  # DavError too
            if again_later and isinstance(err, Unavailable):
                raise
            log.warning("could not notify %s (%s): %s", user, err, subject)

    def files_url(self, folder: str) -> str:
        return f"{self.auth.nextcloud_url.rstrip('/')}/index.php/apps/files/?dir={quote('/' + folder.strip('/'))}"

    def batch_done(self, user: str, summary: Summary) -> None:
        subject, message = summary.describe(self.config_for(user).library)
        self.notify(user, subject, message, self.files_url(summary.common_folder(self.config_for(user).library)), again_later=True)
