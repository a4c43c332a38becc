"""End to end: settings, occ commands, Files actions and notifications on a real Nextcloud.

Admin and personal values are saved through Nextcloud's own declarative-settings OCS endpoint (what
the settings pages call) and through the app's own page behind AppAPI's proxy (what plain users use:
Nextcloud 34.0.1 refuses their declarative saves). Each test then checks that the next upload follows.
"""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path

import httpx
from mobile_backups import samples

from .test_nextcloud import expect_tree, phone_exif, poll, upload

PROXY = "/index.php/apps/app_api/proxy/mobile_backups"
OCS = {"OCS-APIRequest": "true", "Accept": "application/json"}
CONFIG_TTL = 35.0  # the app reads the admin settings at most every 30 s


def photo(folder: Path, name: str, seed: int) -> Path:
    return samples.jpeg(folder / name, exif=phone_exif("2024:11:24 15:30:12", "+01:00"), seed=seed, size=(320, 240))


def declarative(client: httpx.Client, form: str, field: str, value: str) -> httpx.Response:
    """What Nextcloud's settings page sends when a declarative field is saved."""
    return client.post("/ocs/v2.php/settings/api/declarative/value", headers=OCS,
                       json={"app": "mobile_backups", "formId": form, "fieldId": field, "value": value})


def save_on_the_apps_page(account, **values: str) -> httpx.Response:
    """A form post to the app's own settings page, through AppAPI's proxy, as the logged-in user."""
    return account.http.post(f"{PROXY}/settings", data=values)


def occ(exapp, *args: str) -> str:
    result = exapp.nextcloud.occ(*args, timeout=300)
    assert result.returncode == 0, f"occ {' '.join(args)}: {result.returncode}\n{result.stdout}\n{result.stderr}\n{exapp.log_tail()}"
    return result.stdout


def notifications(account) -> list[dict]:
    answer = account.http.get("/ocs/v2.php/apps/notifications/api/v2/notifications", headers=OCS)
    assert answer.status_code == 200, f"notifications: HTTP {answer.status_code}"
    return answer.json()["ocs"]["data"]


def test_a_plain_user_saves_settings_on_the_apps_page_and_the_next_upload_follows(account, exapp, tmp_path):
    refused = declarative(account.http, "mobile_backups_personal", "layout", "{year}")
    assert refused.status_code in (200, 403)  # 403 on 34.0.1 (SubadminMiddleware): why the app has its own page
    page = account.http.get(f"{PROXY}/settings")
    assert page.status_code == 200 and f"Settings of <b>{account.user}</b>" in page.text

    bad = save_on_the_apps_page(account, layout="{year}/{nope}", library_folder="Pictures")
    assert bad.status_code == 422 and "unknown token {nope}" in bad.text and "Not saved" in bad.text
    inside = save_on_the_apps_page(account, library_folder="InstantUpload/Sorted")
    assert inside.status_code == 422 and "inside the inbox folder" in inside.text
    missing = save_on_the_apps_page(account, inbox_folders="NoSuchFolder")
    assert missing.status_code == 422 and "no such folder in your files: NoSuchFolder" in missing.text

    good = save_on_the_apps_page(account, organise="1", library_folder="Pictures", layout="{year}/{month_name}")
    assert good.status_code == 200 and "Saved." in good.text and "Pictures/2024/November/IMG_1234.jpg" in good.text
    assert account.http.get(f"{PROXY}/example", params={"layout": "{year}/{week}"}).json() == {"example": "Pictures/2024/47/IMG_1234.jpg"}
    upload(account, "InstantUpload", photo(tmp_path, "IMG_5001.jpg", 501))
    expect_tree(account, exapp, {"Pictures/2024/November/IMG_5001.jpg"})


def test_an_admin_saves_the_personal_declarative_form(account, exapp, tmp_path):
    """Admins and sub-admins can save personal declarative forms on 34.0.1 (making a sub-admin needs a
    password confirmation that an app password cannot give, so this user is made an admin)."""
    occ(exapp, "group:adduser", "admin", account.user)
    try:
        saved = declarative(account.http, "mobile_backups_personal", "layout", "{year}/{yy}{month}")
        assert saved.status_code == 200, saved.text
        page = account.http.get(f"{PROXY}/settings")
        assert "value='{year}/{yy}{month}'" in page.text and "Photos/2024/2411/IMG_1234.jpg" in page.text
        upload(account, "InstantUpload", photo(tmp_path, "IMG_5002.jpg", 502))
        expect_tree(account, exapp, {"Photos/2024/2411/IMG_5002.jpg"})
    finally:
        exapp.nextcloud.occ("group:removeuser", "admin", account.user, check=False, retries=3)


def test_occ_organise_status_and_undo(account, exapp, tmp_path):
    assert save_on_the_apps_page(account, organise="0").status_code == 200
    names = ["IMG_6001.jpg", "IMG_6002.jpg"]
    upload(account, "InstantUpload", *(photo(tmp_path, n, 601 + i) for i, n in enumerate(names)))
    time.sleep(6)  # the events arrive; organising is off for this user
    inbox = {f"InstantUpload/{n}" for n in names}
    assert set(account.tree()) == inbox

    dry = occ(exapp, "mobile_backups:organise", "--user", account.user, "--dry-run")
    assert all(f"InstantUpload/{n} -> Photos/2024/11/{n}" in dry for n in names), dry
    assert "2 of 2 file(s) would move" in dry and set(account.tree()) == inbox

    assert save_on_the_apps_page(account, organise="1").status_code == 200
    done = occ(exapp, "mobile_backups:organise", "--user", account.user)
    assert f"{account.user}: done" in done or "file(s) queued" in done, done
    organised = {f"Photos/2024/11/{n}" for n in names}
    expect_tree(account, exapp, organised)

    status = occ(exapp, "mobile_backups:status")
    run = f"{account.user}/{date.today():%Y-%m-%d}"
    assert "queue:" in status and "last sweep" in status and f"  {run}: 2 moved" in status, status

    undone = occ(exapp, "mobile_backups:undo", run)
    assert f"{run}: 2 file(s) put back" in undone, undone
    expect_tree(account, exapp, inbox)
    time.sleep(8)  # the undo's own moves fire events: the files must stay put
    assert set(account.tree()) == inbox
    assert "No run 'nobody/2020-01-01'" in occ(exapp, "mobile_backups:undo", "nobody/2020-01-01")


def test_files_actions_preview_then_organise_a_folder_and_one_notification_says_so(account, exapp, tmp_path):
    names = ["IMG_7001.jpg", "IMG_7002.jpg", "IMG_7003.jpg"]
    upload(account, "Old phone", *(photo(tmp_path, n, 701 + i) for i, n in enumerate(names)))
    selection = {"files": [{"fileId": 1, "name": "Old phone", "directory": "/", "fileType": "dir", "mime": "httpd/unix-directory",
                            "userId": account.user}]}

    preview = account.http.post(f"{PROXY}/files/preview", json=selection)
    assert preview.status_code == 200 and preview.json() == {"redirect_handler": "mobile_backups/preview"}
    embedded = account.http.get("/index.php/apps/app_api/embedded/mobile_backups/mobile_backups/preview", params={"fileIds": "1"})
    assert embedded.status_code == 200 and "proxy/mobile_backups/js/embedded" in embedded.text
    file_id = re.search(r"<oc:fileid>(\d+)</oc:fileid>", account.send(
        "PROPFIND", account.path_url("Old phone"), headers={"Depth": "0"},
        content='<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/></d:prop></d:propfind>').text)[1]
    page = account.http.get(f"{PROXY}/preview", params={"fileId": file_id})
    assert page.status_code == 200 and "would move 3 of 3 file(s)" in page.text
    assert all(f"Photos/2024/11/{n}" in page.text for n in names)
    assert set(account.tree()) == {f"Old phone/{n}" for n in names}  # a preview moves nothing

    before = {n["notification_id"] for n in notifications(account)}
    assert account.http.post(f"{PROXY}/files/organise", json=selection).json() == {"queued": 3}
    expect_tree(account, exapp, {f"Photos/2024/11/{n}" for n in names})
    def ours() -> list[dict]:  # Nextcloud has its own for new users (firstrunwizard)
        return [n for n in notifications(account) if n["notification_id"] not in before and n["object_type"] == "app_api"]

    new = poll("the batch notification", lambda: ours() or None, 60, exapp.log_tail)
    time.sleep(3)  # nothing more comes for this batch
    new = ours()
    assert len(new) == 1, new  # one per batch, not one per file
    assert new[0]["subject"] == "3 photos organised into Photos/2024/11", new[0]
    assert new[0]["link"].endswith("/index.php/apps/files/?dir=/Photos/2024/11")


def test_admin_defaults_saved_through_the_admin_form_take_effect(account, exapp, nextcloud, tmp_path):
    """Last: the admin's layout applies to everyone until it is restored."""
    admin = httpx.Client(base_url=nextcloud.url, auth=nextcloud.admin, timeout=60)
    exapp.remember_config("default_layout")
    try:
        assert declarative(admin, "mobile_backups_admin", "default_layout", "{year}/{month}/{day}").status_code == 200
        time.sleep(CONFIG_TTL)  # the app reads the admin settings at most this often
        forms = admin.get("/ocs/v2.php/settings/api/declarative/forms", headers=OCS).json()["ocs"]["data"]
        ours = {f["id"]: f for f in forms if f.get("app") == "mobile_backups"}
        assert {"mobile_backups_admin", "mobile_backups_personal"} <= set(ours)
        upload(account, "InstantUpload", photo(tmp_path, "IMG_8001.jpg", 801))
        expect_tree(account, exapp, {"Photos/2024/11/24/IMG_8001.jpg"}, timeout=45)
        assert declarative(admin, "mobile_backups_admin", "default_layout", "{year}/{nonsense}").status_code == 200  # Nextcloud stores anything
        time.sleep(CONFIG_TTL)
        upload(account, "InstantUpload", photo(tmp_path, "IMG_8002.jpg", 802))
        expect_tree(account, exapp, {"Photos/2024/11/24/IMG_8001.jpg", "Photos/2024/11/24/IMG_8002.jpg"}, timeout=45)
        poll("the invalid admin layout in the log", lambda: "admin setting default_layout not applied: unknown token {nonsense}" in exapp.log_text(),
             45, exapp.log_tail)
    finally:
        exapp.restore_config("default_layout")
        admin.close()
