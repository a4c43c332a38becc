"""End to end: quality rules on a real Nextcloud through NextcloudRulesBackend, driven by the runner as the ExApp
drives it (the store authenticates with AppAPI's headers as the user): a HEIC gets a JPEG beside it, a downscale
and a strip location keep the original as a labelled version that undo restores, a motion photo and a live
photo's still are skipped; and what files_versions does with an overwrite that keeps the old mtime.

Run under the shared server's lock: `source /opt/nc/credentials.env && flock /tmp/nc-e2e.lock
python -m pytest -q tests/e2e/test_quality_nextcloud.py`.
"""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from mobile_backups import samples
from mobile_backups.nextcloud.rules_backend import NextcloudRulesBackend
from mobile_backups.nextcloud.rules_quality import LABEL
from mobile_backups.nextcloud.rules_state import RulesState
from mobile_backups.rules import runner
from mobile_backups.rules.match import Scope
from mobile_backups.rules.model import load_rules
from mobile_backups.rules.quality import verify
from test_rules_quality_nextcloud import MARCH, MTIME, RULES  # the same dates and rules as in CI

from .nextcloud import wait_until
from .test_live_photos import link_as_the_ios_app, props
from .test_nextcloud import live_photo
from .test_rules_nextcloud import ANY_SHARE, INBOXES, LIBRARY, quiet, state, store_for, switched_on, trash_ids

VERSIONS = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:nc="http://nextcloud.org/ns"><d:prop>'
            "<d:getcontentlength/><nc:version-label/></d:prop></d:propfind>")


def versions(account, path: str) -> dict[str, tuple[int, str]]:
    """The file's versions as the Versions tab reads them: name (its mtime) -> (size, label); the current content is one."""
    file_id = props(account, path)["fileid"]
    response = account.send("PROPFIND", f"/remote.php/dav/versions/{account.user}/versions/{file_id}", headers={"Depth": "1"}, content=VERSIONS)
    assert response.status_code == 207, f"PROPFIND versions of {path}: HTTP {response.status_code}"
    found = {}
    for element in list(ET.fromstring(response.content).iter("{DAV:}response"))[1:]:
        name = element.findtext("{DAV:}href", "").rstrip("/").rsplit("/", 1)[-1]
        found[name] = (int(element.findtext(".//{DAV:}getcontentlength") or -1), element.findtext(".//{http://nextcloud.org/ns}version-label") or "")
    return found


def test_an_overwrite_that_keeps_the_mtime_hides_the_original_and_the_next_write_destroys_it(account, tmp_path: Path):
    """The pitfall, proved on the server: files_versions names a version by the mtime of the content it keeps, and
    lists the current content under its own mtime. The app writes with the old mtime + 1 s instead."""
    account.mkdirs("Proof")
    first, second, third = b"A" * 1000, b"B" * 2000, b"C" * 3000
    account.put("Proof/same.jpg", first, MTIME)
    account.put("Proof/same.jpg", second, MTIME)
    hidden = versions(account, "Proof/same.jpg")
    account.put("Proof/same.jpg", third, MTIME + 60)
    destroyed = versions(account, "Proof/same.jpg")
    account.put("Proof/kept.jpg", first, MTIME)
    account.put("Proof/kept.jpg", second, MTIME + 1)
    kept = versions(account, "Proof/kept.jpg")
    print(json.dumps({"same mtime, after the overwrite": hidden, "after one more write": destroyed, "mtime + 1 s": kept}))

    assert hidden == {str(MTIME): (2000, "")}, "the original (1000 bytes) is not listed: only the current content"
    assert destroyed == {str(MTIME): (2000, ""), str(MTIME + 60): (3000, "")}, "the original is gone for good"
    assert kept == {str(MTIME): (1000, ""), str(MTIME + 1): (2000, "")}, "the original stays a version"


def test_quality_rules_convert_beside_rewrite_into_labelled_versions_skip_motion_and_live_photos_and_undo(account, exapp, tmp_path: Path):
    quiet(account)
    month = f"{LIBRARY}/2024/03"
    local = tmp_path / "upload"
    heic = samples.phone_photo(local / "IMG_1000.HEIC", "heic", exif=MARCH, size=(320, 240), seed=1)
    big = samples.phone_photo(local / "IMG_1001.jpg", "jpeg", exif=MARCH, size=(640, 480), seed=2, quality=95)
    shared = samples.phone_photo(local / "IMG_1002.jpg", "jpeg", exif=MARCH, size=(120, 90), seed=3)
    motion = samples.motion_photo_jpeg(local / "PXL_20240302_090000000.MP.jpg", samples.video(tmp_path / "clip.mp4", seconds=0.5), size=(640, 480))
    still, clip = live_photo(tmp_path, "IMG_7301", seed=73)
    account.mkdirs(month)
    account.mkdirs(f"{LIBRARY}/Shared/Trip")
    for path in (heic, big, motion, still, clip):
        account.put(f"{month}/{path.name}", path.read_bytes(), MTIME)
    account.put(f"{LIBRARY}/Shared/Trip/{shared.name}", shared.read_bytes(), MTIME)
    live = [f"{month}/IMG_7301.HEIC", f"{month}/IMG_7301.MOV"]
    link_as_the_ios_app(account, *live)
    everything = [f"{month}/{p.name}" for p in (heic, big, motion)] + live + [f"{LIBRARY}/Shared/Trip/{shared.name}"]
    before = state(account, everything)
    guard = RulesState(tmp_path / "rules.sqlite").guard(account.user)
    scope = Scope.of(LIBRARY, INBOXES, RULES)

    def backend() -> NextcloudRulesBackend:
        return NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES, guard=guard, work=tmp_path / "work")

    seen = {(v.facts.path, v.rule.name): v for v in runner.preview(backend(), RULES, scope, time.time(), guard).verdicts}
    assert seen[(f"{month}/IMG_1000.HEIC", "HEIC as JPEG too")].action == "convert"
    assert "the original is kept as a labelled version" in seen[(f"{month}/IMG_1001.jpg", "Big photos smaller")].reason
    assert "motion photo" in seen[(f"{month}/{motion.name}", "Big photos smaller")].reason
    assert "still of a live photo" in seen[(live[0], "HEIC as JPEG too")].reason
    assert state(account, everything) == before

    report = runner.run(backend(), RULES, scope, time.time(), tmp_path / "journals", caps=ANY_SHARE, guard=guard)

    assert sorted(v.facts.path for v in report.done) == sorted([f"{month}/IMG_1000.HEIC", f"{month}/IMG_1001.jpg", f"{LIBRARY}/Shared/Trip/{shared.name}"]), \
        [(v.facts.path, v.action, v.reason) for v in report.outcome]
    tree = account.tree(LIBRARY)
    jpeg = f"{month}/IMG_1000.jpg"
    assert jpeg in tree and tree[jpeg].mtime == MTIME, "the JPEG is beside the HEIC, with its time"
    converted = tmp_path / "converted.jpg"
    converted.write_bytes(account.get(jpeg))
    tags = json.loads(subprocess.run(["exiftool", "-j", "-n", str(converted)], capture_output=True, text=True, check=True).stdout)[0]
    assert tags["FileType"] == "JPEG" and tags["DateTimeOriginal"] == "2024:03:02 10:00:00" and tags["Model"] == "iPhone 15 Pro"
    unchanged = state(account, [f"{month}/IMG_1000.HEIC", f"{month}/{motion.name}", *live])
    assert all(unchanged[p] == before[p] for p in unchanged), "the HEIC, the motion photo and the live photo are untouched"
    for path in (f"{month}/IMG_1001.jpg", f"{LIBRARY}/Shared/Trip/{shared.name}"):
        listed = versions(account, path)
        assert listed[str(MTIME)] == (before[path][1], LABEL), listed
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(account.get(f"{LIBRARY}/Shared/Trip/{shared.name}"))
    assert not verify.location_tags(verify.exiftool_json(stripped)[0]) and verify.pixel_digest(stripped) == verify.pixel_digest(shared)
    assert state(account, [f"{month}/IMG_1001.jpg"])[f"{month}/IMG_1001.jpg"][1] < before[f"{month}/IMG_1001.jpg"][1]

    notes = runner.undo(backend(), report.journal, guard)

    assert state(account, everything) == before, notes  # the same ids, sizes and content
    assert jpeg not in account.tree(LIBRARY) and props(account, f"{month}/IMG_1001.jpg") and \
        any(location == jpeg for location in trash_ids(account).values()), "the JPEG went to the trash bin"
    assert account.tree(LIBRARY)[f"{month}/IMG_1001.jpg"].mtime == MTIME, "the restored version has the original's time"


def test_a_video_above_the_rule_is_re_encoded_with_its_original_as_a_labelled_version_and_undone(account, exapp, tmp_path: Path):
    quiet(account)
    month = f"{LIBRARY}/2024/03"
    clip = samples.video(tmp_path / "VID_2001.mp4", apple_creationdate="2024-03-02T10:00:07+0100", size=(640, 360), seconds=1.0)
    account.mkdirs(month)
    account.put(f"{month}/{clip.name}", clip.read_bytes(), MTIME)
    path = f"{month}/{clip.name}"
    before = state(account, [path])
    rules = load_rules('[[rules]]\nname = "Videos to 240p"\naction = "reencode_video"\nmax_lines = 240\nmin_saving_percent = 0\n')
    guard = RulesState(tmp_path / "rules.sqlite").guard(account.user)
    backend = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES, guard=guard, work=tmp_path / "work")

    report = runner.run(backend, rules, Scope.of(LIBRARY, INBOXES, rules), time.time(), tmp_path / "journals", caps=ANY_SHARE, guard=guard)
    backend.close()

    assert [v.facts.path for v in report.done] == [path], [(v.facts.path, v.action, v.reason) for v in report.outcome]
    encoded = tmp_path / "encoded.mp4"
    encoded.write_bytes(account.get(path))
    tags = json.loads(subprocess.run(["exiftool", "-j", "-n", str(encoded)], capture_output=True, text=True, check=True).stdout)[0]
    assert tags["ImageHeight"] == 240 and tags["CreationDate"] == "2024:03:02 10:00:07+01:00", "the date with its offset kept"
    assert versions(account, path)[str(MTIME)] == (before[path][1], LABEL)

    notes = runner.undo(NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES, guard=guard, work=tmp_path / "work"), report.journal, guard)

    assert state(account, [path]) == before, notes


def test_a_switched_on_quality_rule_converts_a_new_upload_after_organising_it(account, exapp, tmp_path: Path):
    """At upload, through the ExApp as it runs: the phone uploads a HEIC into InstantUpload, the organiser moves it
    into the library, and once that batch is over the switched-on rule writes the JPEG beside it."""
    switched_on(account, {"name": "HEIC as JPEG too", "action": "convert", "formats": "heic", "quality": "90", "owner": "mine"})
    heic = samples.phone_photo(tmp_path / "IMG_3000.HEIC", "heic", exif=MARCH, size=(320, 240), seed=30)
    account.mkdirs("InstantUpload")
    account.put(f"InstantUpload/{heic.name}", heic.read_bytes(), MTIME)
    organised, made = f"{LIBRARY}/2024/03/IMG_3000.HEIC", f"{LIBRARY}/2024/03/IMG_3000.jpg"

    uploaded = time.monotonic()
    wait_until("the HEIC organised", lambda: organised in account.tree(LIBRARY) or None, 60)
    moved = time.monotonic()
    wait_until("the JPEG beside it", lambda: made in account.tree(LIBRARY) or None, 120, lambda: exapp.log_text()[-3000:])
    print(json.dumps({"organised after s": round(moved - uploaded, 1), "JPEG beside it after s": round(time.monotonic() - uploaded, 1)}))

    tree = account.tree(LIBRARY)
    assert tree[made].mtime == MTIME and organised in tree and "InstantUpload/IMG_3000.HEIC" not in account.tree()
    [journal] = (exapp.storage / "rules-journals" / account.user).glob("run-*.jsonl")
    assert json.loads(journal.read_text().splitlines()[0])["trigger"] == "upload"


def test_strip_location_deletes_the_version_holding_it_only_when_the_rule_asks(account, exapp, tmp_path: Path):
    quiet(account)
    folder = f"{LIBRARY}/Shared/Private"
    photo = samples.phone_photo(tmp_path / "IMG_4000.jpg", "jpeg", exif=MARCH, size=(120, 90), seed=40)
    account.mkdirs(folder)
    path = f"{folder}/{photo.name}"
    account.put(path, photo.read_bytes(), MTIME)
    rules = load_rules('[[rules]]\nname = "No trace"\nfolders = ["Photos/Shared/Private"]\naction = "strip_location"\n'
                       'delete_previous_version = true\n')
    guard = RulesState(tmp_path / "rules.sqlite").guard(account.user)
    backend = NextcloudRulesBackend(store_for(exapp, account), LIBRARY, INBOXES, guard=guard, work=tmp_path / "work")
    [shown] = [v for v in runner.preview(backend, rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts if v.facts.path == path]
    assert "deleted for good (cannot be undone)" in shown.reason, "Nextcloud 34 has files.version_deletion"

    report = runner.run(backend, rules, Scope.of(LIBRARY, INBOXES, rules), time.time(), tmp_path / "journals", caps=ANY_SHARE, guard=guard)
    backend.close()

    assert [v.facts.path for v in report.done] == [path], [(v.facts.path, v.action, v.reason) for v in report.outcome]
    listed = versions(account, path)
    assert str(MTIME) not in listed and list(listed) == [str(MTIME + 1)], f"only the stripped content is left: {listed}"
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(account.get(path))
    assert not verify.location_tags(verify.exiftool_json(stripped)[0]) and verify.pixel_digest(stripped) == verify.pixel_digest(photo)
