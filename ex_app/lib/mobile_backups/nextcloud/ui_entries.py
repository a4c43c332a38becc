"""What the app adds to Nextcloud's UI when enabled: occ commands, Files actions, a top-menu page.

Paths are the ExApp routes that handle them (`main.py`). occ commands are called by AppAPI
itself; the Files actions and pages by the browser through AppAPI's proxy, which only lets
through the routes declared in `appinfo/info.xml`.
"""

from __future__ import annotations

from nc_py_api import AsyncNextcloudApp

TOP_MENU = "mobile_backups"  # the embedded page: /index.php/apps/app_api/embedded/mobile_backups/mobile_backups
FOLDER_MIME = "httpd/unix-directory"
OCC = [
    {
        "name": "mobile_backups:organise", "callback_url": "/occ/organise",
        "description": "Organise the photos and videos already in users' inbox folders (through the same queue as uploads)",
        "options": [
            {"name": "user", "shortcut": "u", "mode": "required", "description": "only this user"},
            {"name": "all", "mode": "none", "description": "every user"},
            {"name": "dry-run", "mode": "none", "description": "print where every file would go; move nothing"},
        ],
        "usages": ["mobile_backups:organise --user alice --dry-run", "mobile_backups:organise --all"],
    },
    {"name": "mobile_backups:status", "callback_url": "/occ/status",
     "description": "Queue length, files parked after repeated failures, last sweep, backlogs being organised, and per-user counts"},
    {
        "name": "mobile_backups:undo", "callback_url": "/occ/undo",
        "description": "Put every file of a run back where it was (runs: see mobile_backups:status; clean-up runs: mobile_backups:rules)",
        "arguments": [{"name": "run", "mode": "required", "description": "USER/DATE, e.g. alice/2026-11-25, or a clean-up run USER/run-…"}],
    },
    {
        "name": "mobile_backups:rules", "callback_url": "/occ/rules",
        "description": "Run the clean-up rules that are switched on (or preview every rule), stopping before acting over the caps",
        "options": [
            {"name": "user", "shortcut": "u", "mode": "required", "description": "only this user"},
            {"name": "all", "mode": "none", "description": "every user"},
            {"name": "dry-run", "mode": "none", "description": "preview every rule that applies; do nothing"},
            {"name": "confirm", "mode": "none", "description": "go on when a run would act on more files than the caps allow"},
        ],
        "usages": ["mobile_backups:rules --user alice --dry-run", "mobile_backups:rules --all", "mobile_backups:rules --user alice --confirm"],
    },
]


async def register_ui(nc: AsyncNextcloudApp) -> None:
    for command in OCC:
        await nc.occ_commands.register(**command)
    await nc.ui.files_dropdown_menu.register_ex("organise_folder", "Organise into date folders", "/files/organise",
                                                mime=FOLDER_MIME, icon="img/app.svg", order=50)
    await nc.ui.files_dropdown_menu.register_ex("preview_folder", "Preview organisation", "/files/preview",
                                                mime=FOLDER_MIME, icon="img/app.svg", order=51)
    await nc.ui.files_dropdown_menu.register_ex("cleanup_folder", "Preview clean-up", "/files/cleanup",
                                                mime=FOLDER_MIME, icon="img/app.svg", order=52)
    await nc.ui.top_menu.register(TOP_MENU, "Mobile Backups", "img/app.svg")
    await nc.ui.resources.set_script("top_menu", TOP_MENU, "js/embedded")
