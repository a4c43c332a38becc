"""End to end: the clean-up rules' ExApp side on a real Nextcloud: the presets in both declarative forms,
the occ command and Files action registered, the rules page and its forms through AppAPI's proxy as a
plain user, occ rules and undo. (Acting on files needs the Nextcloud rules backend: not here.)"""

from __future__ import annotations

import httpx
import pytest

from .nextcloud import Accounts
from .test_settings_ui import OCS, PROXY, declarative, occ


@pytest.fixture(scope="session")
def accounts(nextcloud):
    """This module's users are named mbe2e-ncrules…, and deleted at the end."""
    created = Accounts(nextcloud)
    created.suffix = f"ncrules{created.suffix}"
    yield created
    created.delete_all()


def test_presets_page_and_occ_of_the_rules(account, exapp, nextcloud):
    assert "could not register its settings forms, occ commands or Files actions" not in exapp.log_text()
    with httpx.Client(base_url=nextcloud.url, auth=nextcloud.admin, timeout=60) as admin:
        forms = admin.get("/ocs/v2.php/settings/api/declarative/forms", headers=OCS).json()["ocs"]["data"]
    ours = {f["id"]: {field["id"] for field in f["fields"]} for f in forms if f.get("app") == "mobile_backups"}
    assert {"rules_screenshots_days", "rules_messenger_days", "rules_duplicates_days", "rules_hour", "rules_max_files"} <= ours["mobile_backups_admin"]
    assert {"my_screenshots_days", "my_messenger_archive"} <= ours["mobile_backups_personal"]
    listed = occ(exapp, "list", "mobile_backups")
    assert "mobile_backups:rules" in listed and "mobile_backups:undo" in listed

    assert declarative(account.http, "mobile_backups_personal", "my_screenshots_days", "30").status_code in (200, 403)  # 403 on 34.0.1
    page = account.http.get(f"{PROXY}/rules")
    assert page.status_code == 200 and f"Clean-up rules of <b>{account.user}</b>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "fetch('rules/preview'" in account.http.get(f"{PROXY}/js/rules.js").text

    bad = account.http.post(f"{PROXY}/rules/presets", data={"my_screenshots_days": "soon"})
    assert bad.status_code == 422 and "days must be a whole number" in bad.text
    good = account.http.post(f"{PROXY}/rules/presets", data={"my_screenshots_days": "30"})
    assert good.status_code == 200 and "Mine: screenshots" in good.text and "preview: not seen yet" in good.text
    rule = {"name": "Old screenshots", "action": "trash", "kinds": "screenshot", "older_than_days": "30", "owner": "mine"}
    saved = account.http.post(f"{PROXY}/rules/save", data=rule)
    assert saved.status_code == 200 and "Saved “Old screenshots”" in saved.text
    refused = account.http.post(f"{PROXY}/rules/switch", data={"name": "Old screenshots", "owner": "mine", "on": "1"})
    assert refused.status_code == 422 and "see the preview of “Old screenshots” first" in refused.text

    dry = occ(exapp, "mobile_backups:rules", "--user", account.user, "--dry-run")
    assert f"{account.user}: Old screenshots: preview: not seen yet" in dry and f"{account.user}: Mine: screenshots" in dry, dry
    assert "No run" in occ(exapp, "mobile_backups:undo", f"{account.user}/run-nope")
    assert "Give either --user USER or --all" in occ(exapp, "mobile_backups:rules")
