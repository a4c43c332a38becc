"""End to end: a live photo the iOS app linked (`files-live-photo` metadata on both halves) is moved by
Nextcloud itself when its still moves; the ExApp must journal and report it as one clean move, and undo it.

Run under the shared server's lock: `source /opt/nc/credentials.env && flock /tmp/nc-e2e.lock
python -m pytest -q tests/e2e/test_live_photos.py`.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from mobile_backups import samples

from .test_nextcloud import expect_journal, expect_tree, phone_exif, poll, upload, utc
from .test_settings_ui import notifications, occ, save_on_the_apps_page

CONTENT_ID = "5E7B1C2A-9D3F-4E8B-A1C6-2F4D8E0B7A93"
NC = "{http://nextcloud.org/ns}"
PROPS = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'
         "<d:prop><oc:fileid/><nc:metadata-files-live-photo/><nc:hidden/></d:prop></d:propfind>")
# NextcloudKit's requestBodyLivephoto, which the iOS app PROPPATCHes on each half with the other's file id
LINK = ('<?xml version="1.0" encoding="UTF-8"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'
        "<d:set><d:prop><nc:metadata-files-live-photo>{}</nc:metadata-files-live-photo></d:prop></d:set></d:propertyupdate>")


def props(account, path: str) -> dict[str, str]:
    response = account.send("PROPFIND", account.path_url(path), headers={"Depth": "0"}, content=PROPS)
    assert response.status_code == 207, f"PROPFIND {path}: HTTP {response.status_code}"
    root = ET.fromstring(response.content)
    return {e.tag.split("}")[1]: (e.text or "") for e in root.iter() if e.tag.endswith(("}fileid", "}metadata-files-live-photo", "}hidden"))}


def link_as_the_ios_app(account, still: str, video: str) -> None:
    ids = {path: props(account, path)["fileid"] for path in (still, video)}
    for path, other in ((video, still), (still, video)):
        response = account.http.request("PROPPATCH", account.path_url(path), content=LINK.format(ids[other]),
                                        headers={"Content-Type": "application/xml"})
        assert response.status_code == 207 and "200 OK" in response.text, f"PROPPATCH {path}: HTTP {response.status_code} {response.text[:300]}"


def test_a_live_photo_the_ios_app_linked_moves_as_one_group_and_undoes(account, accounts, exapp, tmp_path: Path):
    # uploaded while organising is off for this user, so that the app links both halves before anything moves
    assert save_on_the_apps_page(account, organise="0").status_code == 200
    taken = utc(2024, 11, 24, 14, 30, 12)
    still = samples.heic(tmp_path / "IMG_7301.HEIC", exif=replace(phone_exif("2024:11:24 15:30:12", "+01:00"), content_id=CONTENT_ID),
                         seed=73, size=(320, 240), mtime=taken)
    clip = samples.video(tmp_path / "IMG_7301.MOV", mvhd_utc=datetime(2024, 11, 24, 14, 30, 11), apple_creationdate="2024-11-24T15:30:11+0100",
                         make="Apple", model="iPhone 15 Pro", content_id=CONTENT_ID, seconds=1.5, size=(320, 240), mtime=taken)
    upload(account, "InstantUpload", still, clip)
    link_as_the_ios_app(account, "InstantUpload/IMG_7301.HEIC", "InstantUpload/IMG_7301.MOV")
    ids = {name: props(account, f"InstantUpload/{name}") for name in ("IMG_7301.HEIC", "IMG_7301.MOV")}
    assert ids["IMG_7301.MOV"]["metadata-files-live-photo"] == ids["IMG_7301.HEIC"]["fileid"]
    assert ids["IMG_7301.MOV"]["hidden"] == "true"  # the Files app shows the pair as one photo

    before = {n["notification_id"] for n in notifications(account)}
    assert save_on_the_apps_page(account, organise="1").status_code == 200
    occ(exapp, "mobile_backups:organise", "--user", account.user)
    library = {"Photos/2024/11/IMG_7301.HEIC", "Photos/2024/11/IMG_7301.MOV"}
    expect_tree(account, exapp, library)
    moves = {("InstantUpload/IMG_7301.HEIC", "Photos/2024/11/IMG_7301.HEIC"), ("InstantUpload/IMG_7301.MOV", "Photos/2024/11/IMG_7301.MOV")}
    expect_journal(account, exapp, moves)
    groups = [r for r in exapp.journal_records(account.user) if r.get("op") == "done"]
    assert [{tuple(m) for m in g["moved"]} for g in groups] == [moves]  # one group, both moves
    # the server moved the video with its still (the app's own MOVE of it answered 412); the link and ids survive
    assert props(account, "Photos/2024/11/IMG_7301.MOV")["fileid"] == ids["IMG_7301.MOV"]["fileid"]
    assert props(account, "Photos/2024/11/IMG_7301.MOV")["metadata-files-live-photo"] == ids["IMG_7301.HEIC"]["fileid"]
    log = exapp.log_text()
    assert f"{account.user}: InstantUpload/IMG_7301.MOV -> Photos/2024/11/IMG_7301.MOV" in log, exapp.log_tail()
    assert "IMG_7301.MOV: could not move" not in log and "IMG_7301.MOV stays in place" not in log, exapp.log_tail()

    def ours() -> list[dict]:
        """The batch's notification (the files were uploaded while organising was off: the user is also told
        once about them as files that were there before, which is not what this test looks at)."""
        return [n for n in notifications(account) if n["notification_id"] not in before and n["object_type"] == "app_api"
                and "can be organised" not in n["subject"]]

    poll("the batch notification", lambda: ours() or None, 60, exapp.log_tail)
    time.sleep(3)
    [note] = ours()
    assert note["subject"] == "1 photo and 1 video organised into Photos/2024/11", note
    assert "problem" not in json.dumps(note), note

    # undo: putting the video back brings its still back too; both count as put back and stay there
    run = f"{account.user}/{date.today():%Y-%m-%d}"
    undone = occ(exapp, "mobile_backups:undo", run)
    assert f"{run}: 2 file(s) put back" in undone and "cannot" not in undone, undone
    inbox = {"InstantUpload/IMG_7301.HEIC", "InstantUpload/IMG_7301.MOV"}
    expect_tree(account, exapp, inbox)
    time.sleep(8)  # the undo's own moves fire events: the files must stay put
    assert set(account.tree()) == inbox
    # its journal now holds an undo, which test_nextcloud's journal check (moves and dones only) does not expect
    accounts.created.remove(account)  # the user is still deleted at the end (Accounts.users)
    account.http.close()


def test_a_video_the_ios_app_linked_after_its_still_was_organised_joins_it(account, exapp, tmp_path: Path):
    """The usual iOS order: the still is organised before its video is uploaded; the app then links them,
    which only succeeds on the video (the still's old path is gone: 404). Nextcloud refuses (403) a plain
    MOVE of that video next to its still; the app takes a detour name and both end together."""
    taken = utc(2024, 11, 24, 14, 30, 12)
    still = samples.heic(tmp_path / "IMG_7302.HEIC", exif=replace(phone_exif("2024:11:24 15:30:12", "+01:00"), content_id=CONTENT_ID),
                         seed=74, size=(320, 240), mtime=taken)
    clip = samples.video(tmp_path / "IMG_7302.MOV", apple_creationdate="2024-11-24T15:30:11+0100", make="Apple", model="iPhone 15 Pro",
                         content_id=CONTENT_ID, seconds=1.5, size=(320, 240), mtime=taken)
    upload(account, "InstantUpload", still)
    expect_tree(account, exapp, {"Photos/2024/11/IMG_7302.HEIC"})
    assert save_on_the_apps_page(account, organise="0").status_code == 200  # so that the link is set before the video moves
    upload(account, "InstantUpload", clip)
    still_id = props(account, "Photos/2024/11/IMG_7302.HEIC")["fileid"]
    video_id = props(account, "InstantUpload/IMG_7302.MOV")["fileid"]
    linked = account.http.request("PROPPATCH", account.path_url("InstantUpload/IMG_7302.MOV"), content=LINK.format(still_id),
                                  headers={"Content-Type": "application/xml"})
    assert linked.status_code == 207 and "200 OK" in linked.text
    stale = account.http.request("PROPPATCH", account.path_url("InstantUpload/IMG_7302.HEIC"), content=LINK.format(video_id),
                                 headers={"Content-Type": "application/xml"})
    assert stale.status_code == 404  # what the iOS app gets for the still it uploaded there

    assert save_on_the_apps_page(account, organise="1").status_code == 200
    occ(exapp, "mobile_backups:organise", "--user", account.user)
    expect_tree(account, exapp, {"Photos/2024/11/IMG_7302.HEIC", "Photos/2024/11/IMG_7302.MOV"})
    expect_journal(account, exapp, {("InstantUpload/IMG_7302.HEIC", "Photos/2024/11/IMG_7302.HEIC"),
                                    ("InstantUpload/IMG_7302.MOV", "Photos/2024/11/IMG_7302.MOV")})
    assert props(account, "Photos/2024/11/IMG_7302.HEIC")["fileid"] == still_id
    assert props(account, "Photos/2024/11/IMG_7302.MOV")["metadata-files-live-photo"] == still_id
    log = exapp.log_text()
    assert "IMG_7302.MOV: could not move" not in log and "IMG_7302.MOV stays in place" not in log, exapp.log_tail()
