"""Settings: one source of defaults (Nextcloud stores none), validation, and the configuration in force.

Admin values live in AppAPI's `appconfig_ex`, personal ones in `preferences_ex`, under the
keys below (the declarative forms' field ids, which AppAPI requires to differ between the
two forms). Nextcloud saves whatever a form sends and does not tell the app, so every value
is checked when it is read: an invalid one is reported and the last valid one stays in force.
Everything here is pure; `app.py` does the reading and writing.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..core.layout import DEFAULT_LAYOUT, Layout, LayoutError, parse_layout, render
from ..engine import within
from .rules_settings import ADMIN_RULES_DEFAULTS, check_value as rules_problem
from .store import MAX_REQUESTS, REQUESTS_AT_ONCE, REQUESTS_KEY, requests_at_once

ADMIN_DEFAULTS = {
    # InstantUpload: Android's default; Photos: iOS (there it is the library too); AutoUpload: branded Android apps
    "default_inbox_folders": "InstantUpload, Photos, AutoUpload",
    "default_library_folder": "Photos",
    "default_layout": DEFAULT_LAYOUT,
    "default_timezone": "",  # empty: the ExApp's TZ
    "sweep_interval": "300",
    "access": "everyone",  # or "groups": only members of allowed_groups
    "allowed_groups": "",
    "users_may_change_layout": "1",
    "backlog": "ask",  # files that were in the inboxes before organising was switched on: ask each user, yes, no
    REQUESTS_KEY: str(REQUESTS_AT_ONCE),  # requests to Nextcloud at once, all users together
    **ADMIN_RULES_DEFAULTS,  # the clean-up rules' presets, schedule and caps (rules_settings.py)
}
PERSONAL_KEYS = ("organise", "inbox_folders", "library_folder", "layout")
PERSONAL_OF_ADMIN = {"inbox_folders": "default_inbox_folders", "library_folder": "default_library_folder", "layout": "default_layout"}
MIN_SWEEP, MAX_SWEEP = 30, 86400
BACKLOG_CHOICES = ("ask", "yes", "no")
_BAD_FOLDER = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass(frozen=True)
class AdminConfig:
    values: Mapping[str, str]  # the admin values in force (valid ones), by key
    problems: Mapping[str, str] = field(default_factory=dict)  # key -> what is wrong with the saved value

    @property
    def sweep_interval(self) -> float:
        return float(self.values["sweep_interval"])

    @property
    def groups(self) -> tuple[str, ...]:
        return split_list(self.values["allowed_groups"])

    @property
    def backlog(self) -> str:
        """Whether files that were there before are organised: 'ask' each user, 'yes' for everyone, 'no'."""
        return self.values["backlog"]

    def may_use(self, user_groups: tuple[str, ...] | None) -> bool:
        return self.values["access"] == "everyone" or bool(user_groups and set(user_groups) & set(self.groups))


@dataclass(frozen=True)
class UserConfig:
    inboxes: tuple[str, ...]
    library: str
    layout: Layout
    zone: tzinfo | None
    enabled: bool = True
    why_disabled: str = ""
    values: Mapping[str, str] = field(default_factory=dict)  # the personal values in force, by key
    saved: Mapping[str, str] = field(default_factory=dict)  # what the user saved (absent: the admin's default)
    problems: Mapping[str, str] = field(default_factory=dict)  # key -> what is wrong with the saved value
    # what kept the user's settings from being read when none were known yet: these are the admin's
    # defaults then, shown on pages but never acted on (no file is moved, queued or dropped by them)
    unread: OSError | None = field(default=None, compare=False)

    def to_act_on(self) -> UserConfig:
        """This config, or the error that kept the user's settings from being read: nothing acts on the admin's
        defaults in their place."""
        if self.unread:
            raise self.unread
        return self


def split_list(text: str) -> tuple[str, ...]:
    """`a, b` or one per line, without empties or repeats."""
    return tuple(dict.fromkeys(part.strip() for part in re.split(r"[,\n]", text) if part.strip()))


def folders(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.strip("/") for f in split_list(text) if f.strip("/")))


def folder_problem(folder: str, what: str) -> str | None:
    if not folder:
        return f"the {what} is empty"
    if _BAD_FOLDER.search(folder):
        return f"the {what} {folder!r} contains a backslash or a control character"
    for part in folder.split("/"):
        if part.strip() in ("", ".", ".."):
            return f"the {what} {folder!r} has an empty, '.' or '..' part"
    return None


def check(values: Mapping[str, str]) -> dict[str, str]:
    """What is wrong with each value present (admin or personal keys): key -> message naming the problem."""
    problems: dict[str, str] = {}
    for key, value in values.items():
        base = PERSONAL_OF_ADMIN.get(key, key)
        if base == "default_layout":
            try:
                parse_layout(value)
            except LayoutError as err:
                problems[key] = str(err)
        elif base == "default_library_folder":
            if problem := folder_problem(value.strip().strip("/"), "library folder"):
                problems[key] = problem
        elif base == "default_inbox_folders":
            found = folders(value)
            problem = None if found else "no inbox folder given"
            for folder in found:
                problem = problem or folder_problem(folder, "inbox folder")
            if problem:
                problems[key] = problem
        elif key == "default_timezone" and value.strip():
            try:
                ZoneInfo(value.strip())
            except (ZoneInfoNotFoundError, ValueError):
                problems[key] = f"unknown time zone {value.strip()!r} (use an IANA name such as Europe/Berlin)"
        elif key == "sweep_interval":
            if not value.strip().isdigit() or not MIN_SWEEP <= int(value) <= MAX_SWEEP:
                problems[key] = f"the sweep interval must be a whole number of seconds from {MIN_SWEEP} to {MAX_SWEEP}, not {value!r}"
        elif key == REQUESTS_KEY and requests_at_once(value) is None:
            problems[key] = f"requests at once must be a whole number from 1 to {MAX_REQUESTS}, not {value!r}"
        elif key == "access" and value not in ("everyone", "groups"):
            problems[key] = f"access must be 'everyone' or 'groups', not {value!r}"
        elif key == "backlog" and value not in BACKLOG_CHOICES:
            problems[key] = f"backlog must be one of {', '.join(BACKLOG_CHOICES)}, not {value!r}"
        elif key in ("users_may_change_layout", "organise") and value not in ("0", "1", "true", "false"):
            problems[key] = f"{key} must be on or off, not {value!r}"
        elif key in ADMIN_RULES_DEFAULTS and (problem := rules_problem(key, value)):
            problems[key] = problem
    return problems


def pair_problem(inboxes: str, library: str) -> str | None:
    """A library inside an inbox, or an inbox inside the library, would organise its own output.
    The same folder for both is the iOS case: new files in its top level, the layout below."""
    lib = library.strip().strip("/")
    for inbox in folders(inboxes):
        if inbox != lib and within(lib, inbox):
            return f"the library folder {lib!r} is inside the inbox folder {inbox!r}"
        if inbox != lib and within(inbox, lib):
            return f"the inbox folder {inbox!r} is inside the library folder {lib!r}"
    return None


def _in_force(saved: Mapping[str, str], fallback: Mapping[str, str], last_valid: Mapping[str, str],
              keys: tuple[str, ...], pair: tuple[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each key's saved value if valid, else its last valid value, else the fallback; with the problems found."""
    chosen = {k: saved[k] for k in keys if saved.get(k) not in (None, "")}
    problems = check(chosen)
    values = {}
    for key in keys:
        if key in chosen and key not in problems:
            values[key] = chosen[key]
        elif key in problems and key in last_valid and not check({key: last_valid[key]}):
            values[key] = last_valid[key]
        else:
            values[key] = fallback[key]
    inbox_key, library_key = pair
    if problem := pair_problem(values[inbox_key], values[library_key]):
        problems[inbox_key if saved.get(inbox_key) else library_key] = problem
        ok = all(k in last_valid for k in pair) and not pair_problem(last_valid[inbox_key], last_valid[library_key])
        source = last_valid if ok else fallback
        values[inbox_key], values[library_key] = source[inbox_key], source[library_key]
    return values, problems


def admin_config(saved: Mapping[str, str], last_valid: Mapping[str, str] = {}) -> AdminConfig:
    values, problems = _in_force(saved, ADMIN_DEFAULTS, last_valid, tuple(ADMIN_DEFAULTS), ("default_inbox_folders", "default_library_folder"))
    return AdminConfig(values, problems)


def zone_named(name: str | None) -> tzinfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def user_config(admin: AdminConfig, saved: Mapping[str, str], last_valid: Mapping[str, str] = {}, *,
                user_groups: tuple[str, ...] | None = None, user_zone: str | None = None, server_zone: tzinfo | None = None) -> UserConfig:
    """The configuration in force for one user: personal values over the admin defaults over the code's.

    UTC-only dates are shown in the user's Nextcloud time zone, else the admin's default, else the server's."""
    fallback = {"organise": "1", **{key: admin.values[base] for key, base in PERSONAL_OF_ADMIN.items()}}
    personal = dict(saved)
    if admin.values["users_may_change_layout"] in ("0", "false"):
        personal.pop("layout", None)
    values, problems = _in_force(personal, fallback, last_valid, PERSONAL_KEYS, ("inbox_folders", "library_folder"))
    enabled, why = True, ""
    if values["organise"] in ("0", "false"):
        enabled, why = False, "turned off in the personal settings"
    elif not admin.may_use(user_groups):
        enabled, why = False, "not in a group the admin allowed (" + ", ".join(admin.groups) + ")"
    zone = zone_named(user_zone) or zone_named(admin.values["default_timezone"]) or server_zone
    return UserConfig(
        inboxes=folders(values["inbox_folders"]), library=values["library_folder"].strip().strip("/"),
        layout=parse_layout(values["layout"]), zone=zone, enabled=enabled, why_disabled=why, values=values, saved=dict(saved),
        problems=problems,
    )


def example_destination(config_values: Mapping[str, str]) -> str:
    """Where a sample photo (IMG_1234.jpg, taken 24 Nov 2024 15:30 with an iPhone) would go: for the settings pages."""
    layout = parse_layout(config_values["layout"])
    path = render(layout, datetime(2024, 11, 24, 15, 30, 12), kind="photo", camera="Apple iPhone 15 Pro", filename="IMG_1234.jpg")
    return posixpath.join(config_values["library_folder"].strip().strip("/"), path)
