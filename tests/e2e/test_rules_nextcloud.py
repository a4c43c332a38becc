"""End to end: retention rules on a real Nextcloud through NextcloudRulesBackend, driven by the runner as the
ExApp drives it (the store authenticates with AppAPI's headers as the user), and through the ExApp itself
(its rules page through AppAPI's proxy, as the user): the caps, the notice, the re-upload guard.

Run under the shared server's lock: `source /opt/nc/credentials.env && flock /tmp/nc-e2e.lock
python -m pytest -q tests/e2e/test_rules_nextcloud.py`.
"""

from __future__ import annotations

import hashlib
import html
import posixpath
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
from mobile_backups import samples
from mobile_backups.nextcloud.rules_backend import NextcloudRulesBackend, trash_headroom
from mobile_backups.nextcloud.store import AppAuth, NextcloudStore
from mobile_backups.rules.facts import FileFacts
from mobile_backups.rules.match import DAY, Scope, Verdict
from mobile_backups.rules.model import KEEP_TAG, load_rules
from mobile_backups.rules.runner import Caps, preview, read_run, run, undo

from .nextcloud import APP_ID, APP_VERSION
from .test_live_photos import link_as_the_ios_app, props
from .test_nextcloud import live_photo
from .test_settings_ui import OCS, PROXY, notifications, save_on_the_apps_page

LIBRARY = "Photos"
INBOXES = ["InstantUpload"]
ANY_SHARE = Caps(max_files=500, max_percent=100.0)  # these libraries are tiny: the share cap is another test's
TRASH = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'
         "<d:prop><oc:fileid/><nc:trashbin-original-location/></d:prop></d:propfind>")


def store_for(exapp, account) -> NextcloudStore:
    return NextcloudStore(AppAuth(exapp.nextcloud.url, APP_ID, APP_VERSION, exapp.secret), account.user)


def quiet(account) -> None:
    """Organising off for this user: the rules, not the organiser, are under test."""
    assert save_on_the_apps_page(account, organise="0").status_code == 200


def trash_ids(account) -> dict[int, str]:
    """File id -> original location of every item in the user's trash bin."""
    response = account.send("PROPFIND", f"/remote.php/dav/trashbin/{account.user}/trash", headers={"Depth": "1"}, content=TRASH)
    assert response.status_code == 207, f"PROPFIND trash: HTTP {response.status_code}"
    found = {}
    for element in ET.fromstring(response.content).iter("{DAV:}response"):
        file_id = element.findtext(".//{http://owncloud.org/ns}fileid")
        if file_id:
            found[int(file_id)] = element.findtext(".//{http://nextcloud.org/ns}trashbin-original-location") or ""
    return found


def state(account, paths: list[str]) -> dict[str, tuple[int, int, str]]:
    """path -> (file id, size, sha256) as the server has it now."""
    out = {}
    for path in paths:
        data = account.get(path)
        out[path] = (int(props(account, path)["fileid"]), len(data), hashlib.sha256(data).hexdigest())
    return out


def favourite(account, path: str) -> None:
    body = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop>'
            "<oc:favorite>1</oc:favorite></d:prop></d:set></d:propertyupdate>")
    response = account.http.request("PROPPATCH", account.path_url(path), content=body)
    assert response.status_code == 207 and "200 OK" in response.text, response.text[:300]


def share_with(account, folder: str, other) -> None:
    response = account.http.post("/ocs/v2.php/apps/files_sharing/api/v1/shares", headers=OCS,
                                 data={"path": f"/{folder}", "shareType": 0, "shareWith": other.user, "permissions": 1})
    assert response.status_code == 200, f"share {folder}: HTTP {response.status_code} {response.text[:300]}"


def tag(account, path: str, tag_id: str) -> None:
    file_id = props(account, path)["fileid"]
    response = account.http.put(f"/remote.php/dav/systemtags-relations/files/{file_id}/{tag_id}")
    assert response.status_code in (201, 409), f"tag {path}: HTTP {response.status_code}"


@pytest.fixture
def created_tags(exapp):
    """System tags are global: those a test created are deleted after it (by the admin: users may not)."""
    made: list[str] = []
    yield made
    nc = exapp.nextcloud
    for tag_id in made:
        httpx.delete(f"{nc.url}/remote.php/dav/systemtags/{tag_id}", auth=nc.admin, timeout=30)


def keep_tag(backend: NextcloudRulesBackend, made: list[str]) -> str:
    existed = KEEP_TAG in backend._known_tags()
    tag_id = backend.ensure_keep_tag()
    if not existed:
        made.append(tag_id)
    return tag_id


def test_old_screenshots_and_a_live_photo_go_to_the_trash_exemptions_stay_and_undo_brings_back_every_file_by_id(
        account, accounts, exapp, created_tags, tmp_path: Path):
    quiet(account)
    friend = accounts.new("rules-friend")
    month = f"{LIBRARY}/2024/01"
    names = {"old": "Screenshot_20240101-101010.png", "fav": "Screenshot_20240102-101010.png",
             "keep": "Screenshot_20240103-101010.png", "new": f"Screenshot_{time.strftime('%Y%m%d')}-101010.png"}
    account.mkdirs(month)
    for n, (key, name) in enumerate(names.items()):
        shot = samples.png(tmp_path / name, seed=n, size=(90, 160))
        account.put(f"{month}/{name}", shot.read_bytes(), time.time() - 400 * DAY)
    shared = samples.png(tmp_path / "Screenshot_20240104-101010.png", seed=9, size=(90, 160))
    account.mkdirs(f"{LIBRARY}/Shared/Trip")
    account.put(f"{LIBRARY}/Shared/Trip/{shared.name}", shared.read_bytes(), time.time() - 400 * DAY)
    share_with(account, f"{LIBRARY}/Shared", friend)
    still, clip = live_photo(tmp_path, "IMG_7301", seed=73)
    account.mkdirs(f"{LIBRARY}/2024/11")
    for part in (still, clip):
        account.put(f"{LIBRARY}/2024/11/{part.name}", part.read_bytes(), part.stat().st_mtime)
    live = [f"{LIBRARY}/2024/11/IMG_7301.HEIC", f"{LIBRARY}/2024/11/IMG_7301.MOV"]
    link_as_the_ios_app(account, *live)

    store = store_for(exapp, account)
    backend = NextcloudRulesBackend(store, LIBRARY, INBOXES)
    favourite(account, f"{month}/{names['fav']}")
    tag(account, f"{month}/{names['keep']}", keep_tag(backend, created_tags))
    rules = load_rules("""
[[rules]]
name = "Old screenshots"
kinds = ["screenshot"]
older_than_days = 30
age_from = "capture"

[[rules]]
name = "Old live photos"
kinds = ["photo", "video"]
names = ["IMG_7301.*"]
older_than_days = 30
""")
    taken = [f"{month}/{names['old']}", live[0]]
    everything = [f"{month}/{n}" for n in names.values()] + [f"{LIBRARY}/Shared/Trip/{shared.name}"] + live
    before = state(account, everything)
    scope = Scope.of(LIBRARY, INBOXES, rules)

    report = run(backend, rules, scope, time.time(), tmp_path / "journals", caps=ANY_SHARE)

    by_path = {v.facts.path: v for v in report.verdicts}
    assert sorted(v.facts.path for v in report.done) == sorted(taken)
    assert by_path[f"{month}/{names['fav']}"].action == "exempt" and by_path[f"{month}/{names['fav']}"].reason == "a favourite"
    assert (by_path[f"{month}/{names['keep']}"].action, by_path[f"{month}/{names['keep']}"].reason) == ("exempt", f"tagged “{KEEP_TAG}”")
    assert by_path[f"{LIBRARY}/Shared/Trip/{shared.name}"].reason == f"in a shared folder ({LIBRARY}/Shared)"
    assert by_path[live[1]].action == "skip" and "live photo" in by_path[live[1]].reason
    assert f"{month}/{names['new']}" not in by_path  # too young: not even a verdict
    # the server took the video along with its still; everything else stayed
    in_trash = trash_ids(account)
    assert {before[p][0] for p in taken + [live[1]]} <= set(in_trash), in_trash
    assert in_trash[before[live[1]][0]] == live[1]
    assert set(account.tree(LIBRARY)) == set(everything) - set(taken) - {live[1]}
    _, steps = read_run(report.journal)
    assert {(s.record["path"], s.record["hash"]) for s in steps} == {(p, before[p][2]) for p in taken}
    assert all(s.undo and s.undo["file_id"] == before[s.record["path"]][0] for s in steps)

    notes = undo(NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES), report.journal)

    assert state(account, everything) == before, notes  # same ids, sizes and content, at the same paths
    assert not trash_ids(account)
    assert any("verified by size and sha256" in n and "live-photo video is back" in n for n in notes), notes


def test_messenger_media_are_archived_by_upload_age_without_overwriting_and_come_back(account, exapp, tmp_path: Path):
    quiet(account)
    account.mkdirs(LIBRARY)
    name = "IMG-20240101-WA0001.jpg"
    photo = samples.jpeg(tmp_path / name, seed=3, size=(160, 120))
    account.mkdirs("InstantUpload/WhatsApp Images")
    account.put(f"InstantUpload/WhatsApp Images/{name}", photo.read_bytes(), time.time() - 2 * DAY)
    clip = samples.jpeg(tmp_path / "IMG_1234.jpg", seed=4, size=(160, 120))  # a messenger image by its folder only
    account.put(f"InstantUpload/WhatsApp Images/{clip.name}", clip.read_bytes(), time.time() - 2 * DAY)
    taken_by_someone = samples.jpeg(tmp_path / "other.jpg", seed=5, size=(64, 48))
    account.mkdirs("Archive/InstantUpload/WhatsApp Images")
    account.put(f"Archive/InstantUpload/WhatsApp Images/{name}", taken_by_someone.read_bytes())
    originals = [f"InstantUpload/WhatsApp Images/{n}" for n in (name, clip.name)]
    before = state(account, originals + [f"Archive/InstantUpload/WhatsApp Images/{name}"])
    rules = load_rules("""
[[rules]]
name = "Messenger pictures"
kinds = ["messenger"]
older_than_days = 10
age_from = "upload"
action = "archive"
archive_to = "Archive"
""")
    scope = Scope.of(LIBRARY, INBOXES, rules)
    # uploaded just now (the server sets upload_time itself): ten days ago is 11 days from now
    now = time.time() + 11 * DAY
    assert not run(NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES), rules, scope, time.time(),
                   tmp_path / "j0", caps=ANY_SHARE).verdicts
    backend = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES)
    report = run(backend, rules, scope, now, tmp_path / "journals", caps=ANY_SHARE)

    assert sorted(v.facts.path for v in report.done) == sorted(originals)
    tree = account.tree("Archive")
    assert set(tree) == {f"Archive/InstantUpload/WhatsApp Images/{n}" for n in (name, "IMG-20240101-WA0001 (2).jpg", clip.name)}
    assert state(account, [f"Archive/InstantUpload/WhatsApp Images/{name}"])[f"Archive/InstantUpload/WhatsApp Images/{name}"] == \
        before[f"Archive/InstantUpload/WhatsApp Images/{name}"]  # the file that was there is untouched

    notes = undo(NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES), report.journal)

    assert state(account, list(before)) == before, notes
    assert set(account.tree("Archive")) == {f"Archive/InstantUpload/WhatsApp Images/{name}"}


def test_a_tag_rule_tags_and_its_undo_untags_and_a_killed_trash_is_settled(account, exapp, created_tags, tmp_path: Path):
    quiet(account)
    account.mkdirs(f"{LIBRARY}/2023/05")
    for n in (1, 2):
        photo = samples.jpeg(tmp_path / f"IMG_000{n}.jpg", seed=n)
        account.put(f"{LIBRARY}/2023/05/{photo.name}", photo.read_bytes(), time.time() - 900 * DAY)
    backend = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES)
    rules = load_rules(f"""
[[rules]]
name = "Old photos to review"
kinds = ["photo"]
names = ["IMG_0001.jpg"]
older_than_days = 365
age_from = "modified"
action = "tag"
tag = "mbe2e-ncbackend-{account.user[-12:]}"
""")
    report = run(backend, rules, Scope.of(LIBRARY, INBOXES, rules), time.time(), tmp_path / "journals", caps=ANY_SHARE)
    [done] = report.done
    created_tags.append(backend.ensure_tag(rules[0].tag))
    assert backend._tag_ids(done.facts.path) == {created_tags[-1]}
    undo(backend, report.journal)
    assert backend._tag_ids(done.facts.path) == set()

    # a trash killed after its journal line: settle finds it in the trash by id; one never done stays "not done"
    path = f"{LIBRARY}/2023/05/IMG_0002.jpg"
    file_id = int(props(account, path)["fileid"])
    record = {"action": "trash", "path": path, "file_id": file_id, "size": 1, "hash": None, "destination": None}
    assert backend.settle(record) is None
    assert account.http.request("DELETE", account.path_url(path)).status_code == 204
    settled = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES).settle(record)
    assert settled is not None and settled["file_id"] == file_id and settled["to"] == "trash"


def test_trash_headroom_predicts_when_nextcloud_purges_older_trash(account, exapp, tmp_path: Path):
    """With a 1 MB quota, the trash may hold half of what is free. Measured: the prediction and what
    `occ trashbin:expire` (the job Nextcloud queues after a delete) then removes."""
    quiet(account)
    nc = exapp.nextcloud
    nc.occ("user:setting", account.user, "files", "quota", "1 MB", retries=3)
    store = store_for(exapp, account)
    assert trash_headroom(store).free is not None
    blobs = {n: bytes([n]) * 200_000 for n in (1, 2, 3)}
    for n, data in blobs.items():
        account.put(f"b{n}.bin", data)
    assert account.http.request("DELETE", account.path_url("b1.bin")).status_code == 204
    room = trash_headroom(store)
    assert room.trash == 200_000
    assert not room.pushes_out(200_000) and room.pushes_out(400_000), room
    # what a run is told: 400 kB push older trash out (confirmable); more than the quota left would purge them too
    [rule] = load_rules('[[rules]]\nname = "Blobs"\nnames = ["*.bin"]\nolder_than_days = 0\n')
    backend = NextcloudRulesBackend(store, LIBRARY, INBOXES)
    pushes = backend.trash_room([Verdict(FileFacts("b2.bin", 200_000, None), rule, "trash", ""),
                                 Verdict(FileFacts("b3.bin", 200_000, None), rule, "trash", "")])
    assert pushes is not None and pushes.confirmable and "purge about 76 kB of older trash" in str(pushes), pushes
    loses = backend.trash_room([Verdict(FileFacts("b2.bin", 700_000, None), rule, "trash", "")])
    assert loses is not None and not loses.confirmable, loses
    for n in (2, 3):  # 400 kB more: older trash must go
        time.sleep(1.1)  # distinct deletion times (seconds)
        assert account.http.request("DELETE", account.path_url(f"b{n}.bin")).status_code == 204
    # Nextcloud 34.0.1's ExpireTrash expires the user's trash, then prints "Unknown user" and exits 1 all the same
    expired = nc.occ("trashbin:expire", account.user, check=False, retries=3)
    assert f"Remove deleted files of {account.user}" in expired.stdout, expired.stdout + expired.stderr
    left = trash_ids(account)
    assert "b1.bin" not in left.values() and "b3.bin" in left.values(), left
    # unlimited quota: -3, and nothing is ever purged for room
    nc.occ("user:setting", account.user, "files", "quota", "none", retries=3)
    unlimited = trash_headroom(store)
    assert unlimited.free is None and not unlimited.pushes_out(10**12)


def test_a_copy_left_in_the_inbox_goes_to_the_trash_only_while_the_library_holds_the_same_content(account, exapp, tmp_path: Path):
    quiet(account)
    photo = samples.jpeg(tmp_path / "IMG_0042.jpg", seed=42, size=(160, 120))
    other = samples.jpeg(tmp_path / "IMG_0043.jpg", seed=43, size=(160, 120))
    account.mkdirs(f"{LIBRARY}/2024/05")
    account.mkdirs("InstantUpload")
    account.put(f"{LIBRARY}/2024/05/IMG_0042.jpg", photo.read_bytes())
    account.put("InstantUpload/IMG_0042.jpg", photo.read_bytes(), time.time() - 40 * DAY)
    account.put("InstantUpload/IMG_0043.jpg", other.read_bytes(), time.time() - 40 * DAY)  # no copy in the library
    rules = load_rules("""
[[rules]]
name = "Duplicates left in the inbox"
duplicates = true
older_than_days = 7
age_from = "modified"
""")
    scope = Scope.of(LIBRARY, INBOXES, rules)
    backend = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES)
    [verdict] = [v for v in run(backend, rules, scope, time.time(), tmp_path / "j0", caps=ANY_SHARE, confirm=True).done]
    assert (verdict.facts.path, verdict.facts.duplicate_of) == ("InstantUpload/IMG_0042.jpg", f"{LIBRARY}/2024/05/IMG_0042.jpg")
    assert set(account.tree("")) == {f"{LIBRARY}/2024/05/IMG_0042.jpg", "InstantUpload/IMG_0043.jpg"}

    # the library copy changes between the listing and the action: the inbox file stays
    account.put("InstantUpload/IMG_0042.jpg", photo.read_bytes(), time.time() - 40 * DAY)
    listed = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES)
    [candidate] = [v for v in preview(listed, rules, scope, time.time()).verdicts if v.action == "trash"]
    account.put(f"{LIBRARY}/2024/05/IMG_0042.jpg", other.read_bytes())
    facts, why = listed.recheck(candidate)
    assert facts is None and why == f"no longer identical to {LIBRARY}/2024/05/IMG_0042.jpg"


# --- through the ExApp: its rules page, as the user ---------------------------------------------


OLD_SCREENSHOTS = {"name": "Old screenshots", "action": "trash", "kinds": "screenshot", "older_than_days": "30", "age_from": "capture",
                   "owner": "mine"}


def screenshots(account, tmp_path: Path, count: int, folder: str = f"{LIBRARY}/2024/01", seed: int = 0) -> dict[str, bytes]:
    """`count` screenshots named as Android names them, from January 2024: path -> content."""
    account.mkdirs(folder)
    made = {}
    for n in range(count):
        shot = samples.png(tmp_path / f"Screenshot_202401{1 + n % 28:02d}-1010{n % 60:02d}.png", seed=seed + n, size=(90, 160))
        made[f"{folder}/{shot.name}"] = shot.read_bytes()
        account.put(f"{folder}/{shot.name}", made[f"{folder}/{shot.name}"], time.time() - 400 * DAY)
    return made


def switched_on(account, rule: dict = OLD_SCREENSHOTS) -> str:
    """The rule saved on the app's page, its preview seen and switched on, as its owner does; the preview's text."""
    saved = account.http.post(f"{PROXY}/rules/save", data=rule)
    assert saved.status_code == 200, saved.text[-2000:]
    shown = account.http.get(f"{PROXY}/rules", params={"preview": rule["name"], "owner": "mine"})
    assert shown.status_code == 200, shown.text[-2000:]
    on = account.http.post(f"{PROXY}/rules/switch", data={"name": rule["name"], "owner": "mine", "on": "1"})
    assert on.status_code == 200, on.text[-2000:]
    return shown.text


def run_on_the_page(account, confirm: bool, kind: str = "now") -> httpx.Response:
    return account.http.post(f"{PROXY}/rules/run", data={"confirm": "1" if confirm else "0", "kind": kind})


def test_the_cap_stops_a_big_run_on_the_page_and_a_confirmation_goes_past_it(account, exapp, tmp_path: Path):
    quiet(account)
    shots = screenshots(account, tmp_path, 12)
    shown = switched_on(account)
    assert "Would take <b>12</b> file(s)" in shown and "A run would stop before trashing" not in shown  # no quota: room
    ids = {int(props(account, path)["fileid"]) for path in shots}

    stopped = run_on_the_page(account, confirm=False)
    assert stopped.status_code == 409 and ("it would act on 12 of 12 files (100 %), more than 10 % of the library: confirm to go on"
                                           in stopped.text), stopped.text[-2000:]
    assert set(account.tree(LIBRARY)) == set(shots) and not trash_ids(account)
    assert "The last run stopped before acting" in account.http.get(f"{PROXY}/rules").text

    confirmed = run_on_the_page(account, confirm=True)
    assert confirmed.status_code == 200 and "12 file(s) done" in confirmed.text, confirmed.text[-2000:]
    assert set(trash_ids(account)) == ids and not account.tree(LIBRARY)
    run_id = re.search(rf"undo: ({re.escape(account.user)}/run-[0-9-]+)", confirmed.text)[1]
    undone = account.http.post(f"{PROXY}/rules/undo", data={"run": run_id})
    assert undone.status_code == 200 and f"Run {run_id} undone" in undone.text
    assert {path: account.get(path) for path in shots} == shots and not trash_ids(account)


def test_the_notice_arrives_once_per_rule_not_per_file(account, exapp, tmp_path: Path):
    quiet(account)
    screenshots(account, tmp_path, 3)
    switched_on(account)
    before = {n["notification_id"] for n in notifications(account)}
    for _ in range(2):  # the daily run, twice (as the confirmation of a scheduled run starts it): announce, then wait
        answer = run_on_the_page(account, confirm=True, kind="scheduled")
        assert answer.status_code == 200 and "nothing due today" in answer.text, answer.text[-2000:]
    new = [n for n in notifications(account) if n["notification_id"] not in before and n["object_type"] == "app_api"]
    assert len(new) == 1, new
    assert re.fullmatch(r"3 screenshots \(\d+(\.\d)? kB\) go to the trash on \d+ \w{3}", new[0]["subject"]), new[0]
    assert "Old screenshots" in new[0]["message"] and "rules?preview=Old%20screenshots" in new[0]["link"], new[0]
    assert len(account.tree(LIBRARY)) == 3 and not trash_ids(account)  # announced, not taken


def test_a_screenshot_uploaded_again_after_it_was_trashed_is_not_trashed_again(account, exapp, tmp_path: Path):
    quiet(account)
    [(path, content)] = screenshots(account, tmp_path, 1).items()
    switched_on(account)
    first = run_on_the_page(account, confirm=True)
    assert first.status_code == 200 and "1 file(s) done" in first.text, first.text[-2000:]
    assert list(trash_ids(account).values()) == [path]
    again = f"InstantUpload/{posixpath.basename(path)}"  # the phone still holds it and uploads it again
    account.mkdirs("InstantUpload")
    account.put(again, content, time.time() - 400 * DAY)

    second = run_on_the_page(account, confirm=True)
    assert second.status_code == 200, second.text[-2000:]
    assert (f"0 file(s) done (0 bytes): nothing to do; left alone: {again} (came back after clean-up" in html.unescape(second.text)
            and "the phone may still hold it; kept" in html.unescape(second.text)), second.text[-2000:]
    assert account.get(again) == content and list(trash_ids(account).values()) == [path]
