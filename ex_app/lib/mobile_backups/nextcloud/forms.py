"""The declarative settings forms AppAPI shows in Nextcloud's admin and personal settings.

Field ids are the keys of `config.py` (AppAPI wants them unique across the app's forms).
Nextcloud stores a value only once it is saved, and shows `default` until then; the
defaults shown here are the code's, so what the form shows is what is in force.
"""

from __future__ import annotations

from ..core.layout import TOKENS
from .rules_settings import admin_fields, personal_fields
from .settings import ADMIN_DEFAULTS, MAX_SWEEP, MIN_SWEEP
from .store import MAX_REQUESTS, REQUESTS_AT_ONCE, REQUESTS_KEY

SECTION = "declarative_settings"  # AppAPI's own section, in admin and personal settings
TOKEN_LIST = " ".join(f"{{{t}}}" for t in TOKENS)


def _text(key: str, title: str, description: str, default: str, placeholder: str = "") -> dict:
    return {"id": key, "title": title, "description": description, "type": "text", "default": default, "placeholder": placeholder or default}


def admin_form(settings_url: str) -> dict:
    d = ADMIN_DEFAULTS
    return {
        "id": "mobile_backups_admin", "priority": 10, "section_type": "admin", "section_id": SECTION,
        "title": "Mobile Backups",
        "description": "Defaults for everyone; users can change their own folders in their personal settings "
                       f"(or on the app's page: {settings_url}). An invalid value is refused when the app reads it: "
                       "the last valid one stays in force and the problem is written to the Nextcloud log.",
        "doc_url": settings_url,
        "fields": [
            _text("default_inbox_folders", "Inbox folders",
                  "Folders the phones upload into, separated by commas (Android: InstantUpload, iOS: Photos, branded apps: AutoUpload).",
                  d["default_inbox_folders"]),
            _text("default_library_folder", "Library folder",
                  "Where organised photos and videos go. It may be an inbox folder too (the iOS app uploads into Photos): "
                  "then only its top level is organised.", d["default_library_folder"]),
            _text("default_layout", "Layout", f"Folders (and optionally the file name) inside the library. Tokens: {TOKEN_LIST}",
                  d["default_layout"]),
            _text("default_timezone", "Default time zone",
                  "For dates stored in UTC (video mvhd, Pixel names, modification times) when a user has no Nextcloud time zone. "
                  "An IANA name such as Europe/Berlin; empty: the app's server time zone.", d["default_timezone"], "Europe/Berlin"),
            {"id": "sweep_interval", "title": "Sweep interval (seconds)", "type": "number", "default": d["sweep_interval"],
             "placeholder": d["sweep_interval"],
             "description": f"How often every inbox is checked for uploads whose event was lost ({MIN_SWEEP} to {MAX_SWEEP})."},
            {"id": REQUESTS_KEY, "title": "Requests to Nextcloud at once", "type": "number", "default": str(REQUESTS_AT_ONCE),
             "placeholder": str(REQUESTS_AT_ONCE),
             "description": f"For all users together (1 to {MAX_REQUESTS}). Keep it below php-fpm's pm.max_children (Debian's default "
                            "is 5), so that the users' own clients always find a free worker; raise it on a bigger server."},
            {"id": "access", "title": "Who may use the app", "type": "radio", "default": d["access"],
             "options": [{"name": "Everyone", "value": "everyone"}, {"name": "Only the groups below", "value": "groups"}]},
            _text("allowed_groups", "Allowed groups", "Group ids, separated by commas (used when only listed groups may use the app).",
                  d["allowed_groups"], "family, staff"),
            {"id": "users_may_change_layout", "title": "Personal layouts", "type": "checkbox", "default": True,
             "label": "Users may choose their own layout template"},
            {"id": "backlog", "title": "Organise files that were there before", "type": "radio", "default": d["backlog"],
             "description": "Files already in a user's inbox folders when the app (or the user's organising) was switched on. "
                            "New uploads are always organised.",
             "options": [{"name": "Ask each user (a notification links to the button on the app's page)", "value": "ask"},
                         {"name": "Yes, for everyone", "value": "yes"}, {"name": "No", "value": "no"}]},
            *admin_fields(),
        ],
    }


def personal_form(settings_url: str) -> dict:
    return {
        "id": "mobile_backups_personal", "priority": 10, "section_type": "personal", "section_id": SECTION,
        "title": "Mobile Backups",
        "description": "Photos and videos your phone uploads are moved into date folders of your library. "
                       f"Empty fields use the admin's defaults. Live example and checks on the app's page: {settings_url}",
        "doc_url": settings_url,
        "fields": [
            {"id": "organise", "title": "Organise my uploads", "type": "checkbox", "default": True, "label": "On"},
            _text("inbox_folders", "Inbox folders", "Folders your phone uploads into, separated by commas.", "",
                  ADMIN_DEFAULTS["default_inbox_folders"]),
            _text("library_folder", "Library folder", "Where organised photos and videos go.", "", ADMIN_DEFAULTS["default_library_folder"]),
            _text("layout", "Layout", f"Example: {{year}}/{{month}} puts IMG_1234.jpg taken on 24 Nov 2024 into Photos/2024/11/. "
                  f"Tokens: {TOKEN_LIST}", "", ADMIN_DEFAULTS["default_layout"]),
            *personal_fields(),
        ],
    }
