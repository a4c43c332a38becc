"""Where rules come from on Nextcloud, as pure functions: the admin's and the users' preset fields
(declarative forms), their checks, the rules they become, the rule editor's form, and a rule's
content key (a new or changed rule is a new key, and starts again as a preview).

Values are checked when read, like settings.py: an invalid one is reported and the last valid one
stays in force. Nothing here reads or writes anything."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..rules.model import ACTIONS, AGE_FROM, EXEMPTIONS, FORMATS, KINDS, RETENTION_ACTIONS, Rule, RulesError, parse_rules

IMAGE_NAMES = ["*.jpg", "*.jpeg", "*.png", "*.webp", "*.heic", "*.gif"]
MAX_DAYS = 36500
QUALITY_FIELDS = {  # the editor's numeric fields of each quality action (empty: the model's default)
    "convert": ("quality",), "downscale": ("larger_than_mp", "to_mp", "min_saving_percent"),
    "reencode": ("quality", "larger_than_mb", "min_saving_percent"), "strip_location": (),
    "reencode_video": ("max_lines", "min_saving_percent", "minutes_per_day"),
}
ADMIN_RULES_DEFAULTS = {
    "rules_screenshots_days": "0",  # 0: never
    "rules_messenger_days": "0",
    "rules_messenger_archive": "Archive/Messenger",
    "rules_duplicates_days": "0",
    "rules_users_may_add": "1",
    "rules_users_may_switch_off": "1",
    "rules_hour": "3",  # in each user's time zone
    "rules_notice_days": "7",
    "rules_max_files": "500",
    "rules_max_percent": "10",
}
# AppAPI wants field ids to differ between the admin and the personal form
PERSONAL_RULES_DEFAULTS = {
    "my_screenshots_days": "0",
    "my_messenger_days": "0",
    "my_messenger_archive": "Archive/Messenger",
    "my_duplicates_days": "0",
}
_NUMBERS = {  # key -> (lowest, highest, what)
    "screenshots_days": (0, MAX_DAYS, "days"), "messenger_days": (0, MAX_DAYS, "days"), "duplicates_days": (0, MAX_DAYS, "days"),
    "rules_hour": (0, 23, "the hour"), "rules_notice_days": (0, 60, "the notice"), "rules_max_files": (1, 10**6, "the file cap"),
    "rules_max_percent": (1, 100, "the percentage cap"),
}


def _base(key: str) -> str:
    return key.removeprefix("my_").removeprefix("rules_") if key.removeprefix("my_").removeprefix("rules_") in _NUMBERS else key


def check_value(key: str, value: str) -> str | None:
    """What is wrong with one preset or rules setting, if anything."""
    base = _base(key)
    if base in _NUMBERS:
        low, high, what = _NUMBERS[base]
        if not value.strip().isdigit() or not low <= int(value) <= high:
            return f"{what} must be a whole number from {low} to {high}, not {value!r}" + (" (0 = never)" if low == 0 and what == "days" else "")
    elif key.endswith("messenger_archive"):
        try:
            parse_rules({"rules": [{"name": "archive", "kinds": ["messenger"], "older_than_days": 1, "action": "archive", "archive_to": value}]})
        except RulesError:
            return f"the archive folder {value!r} must be a folder in your files (relative, without '..')"
    elif key in ("rules_users_may_add", "rules_users_may_switch_off") and value not in ("0", "1", "true", "false"):
        return f"{key} must be on or off, not {value!r}"
    return None


def in_force(saved: Mapping[str, str], defaults: Mapping[str, str], last_valid: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Each key's saved value if valid, else its last valid one, else the default; with the problems found."""
    values, problems = {}, {}
    for key, default in defaults.items():
        value = str(saved.get(key, "")).strip()
        problem = check_value(key, value) if value else None
        if value and not problem:
            values[key] = value
        else:
            if problem:
                problems[key] = problem
            kept = last_valid.get(key)
            values[key] = kept if kept and not check_value(key, kept) else default
    return values, problems


def on(value: str) -> bool:
    return value not in ("0", "false", "")


def preset_tables(values: Mapping[str, str], prefix: str, owner: str) -> list[dict]:
    """The rules the presets say (those not 0), as rule tables. `prefix`: "rules_" (admin) or "my_"."""
    days = {k: int(values[prefix + k]) for k in ("screenshots_days", "messenger_days", "duplicates_days")}
    tables = []
    if days["screenshots_days"]:
        tables.append({"name": f"{owner}: screenshots", "kinds": ["screenshot"], "older_than_days": days["screenshots_days"], "action": "trash"})
    if days["messenger_days"]:
        tables.append({"name": f"{owner}: messenger images", "kinds": ["messenger"], "names": IMAGE_NAMES,
                       "older_than_days": days["messenger_days"], "action": "archive", "archive_to": values[prefix + "messenger_archive"]})
    if days["duplicates_days"]:
        tables.append({"name": f"{owner}: duplicates in the inbox", "duplicates": True, "older_than_days": days["duplicates_days"],
                       "age_from": "upload", "action": "trash"})
    return tables


def rule_key(table: Mapping[str, object]) -> str:
    """The rule's content, hashed: the same rule keeps its key, any change gives a new one."""
    content = {k: v for k, v in table.items() if k != "enabled"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def parse_table(table: Mapping[str, object]) -> Rule:
    """One rule table as the model reads it; RulesError names what is wrong."""
    return parse_rules({"rules": [dict(table)]})[0]


@dataclass(frozen=True)
class Choices:
    """The admin's choices about rules: schedule, notice, caps, and what users may do."""

    hour: int
    notice_days: int
    max_files: int
    max_percent: float
    users_may_add: bool
    users_may_switch_off: bool


def admin_choices(values: Mapping[str, str]) -> Choices:
    return Choices(int(values["rules_hour"]), int(values["rules_notice_days"]), int(values["rules_max_files"]),
                float(values["rules_max_percent"]), on(values["rules_users_may_add"]), on(values["rules_users_may_switch_off"]))


# --- the rule editor's form -------------------------------------------------------------------


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


@dataclass
class Form:
    """The editor's fields, as posted (lists for checkboxes)."""

    values: Mapping[str, list[str]] = field(default_factory=dict)

    def one(self, key: str) -> str:
        return (self.values.get(key) or [""])[-1].strip()

    def many(self, key: str) -> list[str]:
        return [v for v in self.values.get(key, []) if v]


def table_from_form(form: Form) -> tuple[dict, dict[str, str]]:
    """A rule table from the editor's fields, and the problems of fields that are not even numbers."""
    problems: dict[str, str] = {}
    table: dict[str, object] = {"name": form.one("name"), "action": form.one("action") or "trash"}
    kinds = [k for k in form.many("kinds") if k in KINDS]
    if kinds:
        table["kinds"] = kinds
    for key in ("folders", "names"):
        if form.one(key):
            table[key] = _list(form.one(key))
    if table["action"] in QUALITY_FIELDS:
        return _quality_table(form, table)
    days = form.one("older_than_days")
    if not days.isdigit():
        problems["older_than_days"] = f"the age must be a whole number of days, not {days!r}"
    else:
        table["older_than_days"] = int(days)
    if form.one("min_size_mb"):
        try:
            table["min_size"] = int(float(form.one("min_size_mb")) * 1_000_000)
        except ValueError:
            problems["min_size_mb"] = f"the minimum size must be a number of MB, not {form.one('min_size_mb')!r}"
    if form.one("age_from") in AGE_FROM:
        table["age_from"] = form.one("age_from")
    if form.one("duplicates"):
        table["duplicates"] = True
    if form.one("converted"):
        table["converted"] = True
    if table["action"] == "archive" or table["action"] == "trash" and form.one("archive_to"):
        table["archive_to"] = form.one("archive_to")
    if table["action"] == "tag":
        table["tag"] = form.one("tag")
    if "exemptions_shown" in form.values:  # the checkboxes were on the form: unticked ones are off
        table["exemptions"] = [e for e in EXEMPTIONS if e in form.many("exemptions")]
    return table, problems


def _quality_table(form: Form, table: dict[str, object]) -> tuple[dict, dict[str, str]]:
    """A quality rule's table: its formats and numbers (no age: it works on what is in the library now)."""
    problems: dict[str, str] = {}
    formats = [f for f in form.many("formats") if f in FORMATS]
    if formats:
        table["formats"] = formats
    for key in QUALITY_FIELDS[str(table["action"])]:
        if form.one(key):
            try:
                number = float(form.one(key))
                table[key] = int(number) if key in ("quality", "max_lines") and number.is_integer() else number
            except ValueError:
                problems[key] = f"{key.replace('_', ' ')} must be a number, not {form.one(key)!r}"
    if table["action"] == "reencode_video" and form.one("codec"):
        table["codec"] = form.one("codec")
    if table["action"] == "strip_location" and form.one("delete_previous_version"):
        table["delete_previous_version"] = True
    if "exemptions_shown" in form.values:
        table["exemptions"] = [e for e in EXEMPTIONS if e in form.many("exemptions")]
    return table, problems


def problems_of(table: Mapping[str, object]) -> list[str]:
    if table.get("action") not in ACTIONS:
        return [f"the editor makes clean-up rules ({', '.join(RETENTION_ACTIONS)}) and quality rules ({', '.join(QUALITY_FIELDS)})"]
    try:
        parse_table(table)
    except RulesError as err:
        return [p.split(": ", 1)[-1] for p in err.problems]
    return []


# --- the declarative forms' fields --------------------------------------------------------------


def _number(key: str, title: str, description: str, default: str) -> dict:
    return {"id": key, "title": title, "description": description, "type": "number", "default": default, "placeholder": default}


def preset_fields(prefix: str, defaults: Mapping[str, str]) -> list[dict]:
    """The three presets, all off (0) by default; they act only once previewed and switched on on the app's page."""
    fields = [
        _number(prefix + "screenshots_days", "Screenshots older than [N] days → trash",
                "0 = never. Favourites, files tagged “keep”, shared files and files in group folders are spared.", defaults[prefix + "screenshots_days"]),
        _number(prefix + "messenger_days", "Messenger images older than [N] days → archive",
                "WhatsApp, Telegram, Signal… images, moved to the folder below. 0 = never.", defaults[prefix + "messenger_days"]),
        {"id": prefix + "messenger_archive", "title": "… archive to folder", "type": "text", "default": defaults[prefix + "messenger_archive"],
         "placeholder": defaults[prefix + "messenger_archive"], "description": "A folder in the files, e.g. Archive/Messenger."},
        _number(prefix + "duplicates_days", "Duplicates left in the inbox → trash after [N] days",
                "Files whose identical copy is already in the library. 0 = never.", defaults[prefix + "duplicates_days"]),
    ]
    for f in fields:
        if f["type"] == "number":
            f["description"] += " Each rule is a preview until it is switched on on the app's clean-up page."
    return fields


def admin_fields() -> list[dict]:
    d = ADMIN_RULES_DEFAULTS
    return preset_fields("rules_", d) + [
        {"id": "rules_users_may_add", "title": "Clean-up rules of users", "type": "checkbox", "default": True,
         "label": "Users may add their own clean-up rules"},
        {"id": "rules_users_may_switch_off", "title": "Admin rules", "type": "checkbox", "default": True,
         "label": "Users may switch the admin's clean-up rules off for themselves"},
        _number("rules_hour", "Clean-up hour", "Rules run daily at this hour (0–23) in each user's time zone.", d["rules_hour"]),
        _number("rules_notice_days", "Notice (days)", "Users are told this many days ahead what a rule will clean up.", d["rules_notice_days"]),
        _number("rules_max_files", "Stop above N files", "A run that would act on more files waits for confirmation.", d["rules_max_files"]),
        _number("rules_max_percent", "Stop above N % of the library", "… or on more than this share of the library.", d["rules_max_percent"]),
    ]


def personal_fields() -> list[dict]:
    return preset_fields("my_", PERSONAL_RULES_DEFAULTS)
