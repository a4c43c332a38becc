"""Per-user configuration: one source of defaults, in code (Nextcloud stores no defaults).

Keys are those the settings forms write: admin values with `appconfig_ex`, personal
values with `preferences_ex`; a personal value wins over the admin default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .layout import DEFAULT_LAYOUT, Layout, LayoutError, parse_layout

DEFAULTS = {
    # InstantUpload: Android's default; Photos: iOS (there it is the library too); AutoUpload: branded Android apps
    "inbox_folders": "InstantUpload, Photos, AutoUpload",
    "library_folder": "Photos",
    "layout": DEFAULT_LAYOUT,
    "timezone": "",
    "sweep_interval": "300",
}
KEYS = tuple(DEFAULTS)


@dataclass(frozen=True)
class UserConfig:
    inboxes: tuple[str, ...]
    library: str
    layout: Layout
    zone: tzinfo | None
    problems: tuple[str, ...] = ()  # invalid saved values, replaced by defaults


def _folders(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f.strip().strip("/") for f in text.split(",") if f.strip().strip("/")))


def resolve(admin: Mapping[str, str], personal: Mapping[str, str], server_zone: tzinfo | None = None) -> UserConfig:
    """The configuration in force for one user; an invalid value falls back, with a problem noted."""
    values = {key: personal.get(key) or admin.get(key) or default for key, default in DEFAULTS.items()}
    problems = []
    try:
        layout = parse_layout(values["layout"])
    except LayoutError as err:
        problems.append(f"layout: {err}; using {DEFAULT_LAYOUT}")
        layout = parse_layout(DEFAULT_LAYOUT)
    zone = server_zone
    if values["timezone"]:
        try:
            zone = ZoneInfo(values["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone: unknown time zone {values['timezone']!r}")
    inboxes = _folders(values["inbox_folders"]) or _folders(DEFAULTS["inbox_folders"])
    library = values["library_folder"].strip().strip("/") or DEFAULTS["library_folder"]
    return UserConfig(inboxes, library, layout, zone, tuple(problems))


def all_inbox_names(configs: list[UserConfig]) -> list[str]:
    return sorted({inbox for config in configs for inbox in config.inboxes})
