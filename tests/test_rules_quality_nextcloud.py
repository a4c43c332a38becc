"""Quality rules through NextcloudRulesBackend over real HTTP against the stand-in Nextcloud (its WebDAV PUT
with If-Match / If-None-Match / X-OC-Mtime, its trash bin and files_versions' versions): a HEIC gets a JPEG
beside it, a downscale keeps its original as a labelled version (or in Originals/ where versions are off or
none appears), strip location, the gates' and the guard's skips in the preview, undo by hash, and a run
killed before and after its PUT, settled by the next one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from fake_nextcloud import FakeNextcloud
from mobile_backups import samples
from mobile_backups.nextcloud import rules_quality
from mobile_backups.nextcloud.rules_backend import NextcloudRulesBackend
from mobile_backups.nextcloud.rules_quality import LABEL
from mobile_backups.nextcloud.rules_state import RulesState
from mobile_backups.nextcloud.store import AppAuth, NextcloudStore
from mobile_backups.rules import runner
from mobile_backups.rules.match import Scope
from mobile_backups.rules.model import load_rules
from mobile_backups.samples import Exif

USER, LIBRARY, INBOXES = "alice", "Photos", ["InstantUpload", "Photos"]  # the defaults: iOS uploads into the library's top
MTIME = 1_709_370_000  # 2024-03-02
MARCH = Exif(date_time_original="2024:03:02 10:00:00", offset_time_original="+01:00", make="Apple", model="iPhone 15 Pro",
             gps=(48.8584, 2.2945))
RULES = load_rules("""
[[rules]]
name = "HEIC as JPEG too"
formats = ["heic"]
action = "convert"

[[rules]]
name = "Big photos smaller"
kinds = ["photo"]
larger_than_mp = 0.2
action = "downscale"
to_mp = 0.1

[[rules]]
name = "No location in shared albums"
folders = ["Photos/Shared/**"]
action = "strip_location"
""")
CAPS = runner.Caps(max_files=100, max_percent=100.0)
HEIC, BIG, SHARED = f"{LIBRARY}/2024/03/IMG_1000.HEIC", f"{LIBRARY}/2024/03/IMG_1001.jpg", f"{LIBRARY}/Shared/Trip/IMG_1002.jpg"
WAITING = f"{LIBRARY}/IMG_1005.HEIC"  # uploaded by iOS, not organised yet: quality rules wait for the organiser
VIDEO = f"{LIBRARY}/2024/03/VID_1006.mp4"
WIDE = [f"{LIBRARY}/2024/03/VID_1007.mp4", f"{LIBRARY}/2024/03/VID_1008.mp4"]  # 360p: above a 240p rule
MOTION, LIVE = f"{LIBRARY}/2024/03/PXL_1004.MP.jpg", f"{LIBRARY}/2024/03/IMG_1003.HEIC"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def nextcloud(tmp_path: Path):
    root = tmp_path / "files"
    mine = root / USER
    samples.phone_photo(mine / HEIC, "heic", exif=MARCH, size=(320, 240), seed=1)
    samples.phone_photo(mine / WAITING, "heic", exif=MARCH, size=(320, 240), seed=5)
    samples.phone_photo(mine / BIG, "jpeg", exif=MARCH, size=(640, 480), seed=2, quality=95)
    samples.phone_photo(mine / SHARED, "jpeg", exif=MARCH, size=(120, 90), seed=3)
    clip = samples.video(tmp_path / "clip.mp4", seconds=0.5)
    samples.motion_photo_jpeg(mine / MOTION, clip, size=(640, 480))
    samples.heic(mine / LIVE, exif=Exif(date_time_original="2024:03:02 10:00:00"), size=(320, 240), seed=4)
    samples.video(mine / f"{LIBRARY}/2024/03/IMG_1003.MOV", apple_creationdate="2024-03-02T10:00:01+0100")
    samples.video(mine / VIDEO, seconds=0.5)
    for n, path in enumerate(WIDE, 7):
        samples.video(mine / path, apple_creationdate=f"2024-03-02T10:00:0{n}+0100", size=(640, 360), seconds=1.0)
    (mine / "InstantUpload").mkdir()
    for path in mine.rglob("*"):
        if path.is_file():
            os.utime(path, (MTIME, MTIME))
    fake = FakeNextcloud(root)
    fake.files.link(USER, LIVE, f"{LIBRARY}/2024/03/IMG_1003.MOV")
    yield fake
    fake.close()


def backend(fake: FakeNextcloud, tmp_path: Path) -> NextcloudRulesBackend:
    store = NextcloudStore(AppAuth(fake.url, "mobile_backups", "1.0.0", "secret"), USER)
    return NextcloudRulesBackend(store, LIBRARY, INBOXES, guard=RulesState(tmp_path / "rules.sqlite").guard(USER), work=tmp_path / "work")


def run(fake: FakeNextcloud, tmp_path: Path, rules=RULES) -> runner.Report:
    nc = backend(fake, tmp_path)
    return runner.run(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time(), tmp_path / "journals", caps=CAPS, guard=nc.guard)


def files(fake: FakeNextcloud) -> dict[str, bytes]:
    top = fake.files.root / USER
    return {str(p.relative_to(top)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_convert_downscale_and_strip_with_the_original_as_a_labelled_version_then_undo(nextcloud, tmp_path: Path) -> None:
    before = files(nextcloud)
    ids = {p: nextcloud.files.file_id(USER, p) for p in (HEIC, BIG, SHARED)}
    nc = backend(nextcloud, tmp_path)
    preview = {(v.facts.path, v.rule.name): v for v in runner.preview(nc, RULES, Scope.of(LIBRARY, INBOXES, RULES), time.time(), nc.guard).verdicts}
    assert preview[(HEIC, "HEIC as JPEG too")].action == "convert" and "not space" in preview[(HEIC, "HEIC as JPEG too")].reason
    assert preview[(HEIC, "HEIC as JPEG too")].facts.format == "heic"
    assert "0.3 MP to 0.1 MP" in preview[(BIG, "Big photos smaller")].reason
    assert "the original is kept as a labelled version" in preview[(BIG, "Big photos smaller")].reason
    assert preview[(MOTION, "Big photos smaller")].action == "skip" and "motion photo" in preview[(MOTION, "Big photos smaller")].reason
    assert preview[(LIVE, "HEIC as JPEG too")].action == "skip" and "still of a live photo" in preview[(LIVE, "HEIC as JPEG too")].reason
    assert preview[(SHARED, "No location in shared albums")].action == "strip_location"
    assert not any(path == WAITING for path, _ in preview)
    assert files(nextcloud) == before, "a preview changes nothing"

    report = run(nextcloud, tmp_path)

    done = {(v.facts.path, v.rule.name) for v in report.done}
    assert done == {(HEIC, "HEIC as JPEG too"), (BIG, "Big photos smaller"), (SHARED, "No location in shared albums")}, report.outcome
    after = files(nextcloud)
    jpeg = f"{LIBRARY}/2024/03/IMG_1000.jpg"
    assert after[jpeg][:3] == b"\xff\xd8\xff" and after[HEIC] == before[HEIC], "the JPEG joins the HEIC; both are kept"
    assert int((nextcloud.files.root / USER / jpeg).stat().st_mtime) == MTIME
    assert len(after[BIG]) < len(before[BIG]) and after[MOTION] == before[MOTION] and after[LIVE] == before[LIVE]
    big_versions = nextcloud.files.versions[ids[BIG]]
    assert big_versions[str(MTIME)] == [before[BIG], LABEL], "the original is a labelled version, named by its mtime"
    assert int((nextcloud.files.root / USER / BIG).stat().st_mtime) == MTIME + 1, "one second on: the version stays visible"
    assert nextcloud.files.versions[ids[SHARED]][str(MTIME)] == [before[SHARED], LABEL]
    assert not any(p.startswith(f"{LIBRARY}/Originals") for p in after)
    assert not list((tmp_path / "work").iterdir()), "no work copy left once the steps are journalled"

    again = {(v.facts.path, v.rule.name): v for v in run(nextcloud, tmp_path).outcome}
    assert again[(HEIC, "HEIC as JPEG too")].action == "skip" and "already transformed by this rule" in again[(HEIC, "HEIC as JPEG too")].reason
    assert (BIG, "Big photos smaller") not in again, "0.1 MP now: below the rule"
    strip = again[(SHARED, "No location in shared albums")]
    assert strip.action == "skip" and "made by Mobile Backups" in strip.reason, "the app's own output is not transformed again"

    notes = runner.undo(backend(nextcloud, tmp_path), report.journal, backend(nextcloud, tmp_path).guard)

    assert files(nextcloud) == before, notes
    assert int((nextcloud.files.root / USER / BIG).stat().st_mtime) == MTIME, "the restored version has its own mtime"
    assert [(rel, sha(data)) for _, rel, _, data in nextcloud.files.trash] == [(jpeg, sha(after[jpeg]))], "the JPEG is in the trash bin"
    assert nextcloud.files.versions[ids[BIG]][str(MTIME + 1)][0] == after[BIG], "the undone rewrite is a version itself"
    assert sum("verified by sha256" in n for n in notes) == 2, notes


@pytest.mark.parametrize("why", ["versions off", "no version appeared"])
def test_without_a_version_the_original_goes_to_originals_and_comes_back(nextcloud, tmp_path: Path, why: str) -> None:
    if why == "versions off":
        nextcloud.files.versioning = False
    else:
        nextcloud.files.block_versions = True
    rules = [r for r in RULES if r.action == "downscale"]
    before = files(nextcloud)
    if why == "versions off":
        nc = backend(nextcloud, tmp_path)
        [verdict] = [v for v in runner.preview(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts if v.facts.path == BIG]
        assert f"the original is kept in {LIBRARY}/Originals/2024/03/IMG_1001.jpg" in verdict.reason

    report = run(nextcloud, tmp_path, rules)

    assert [v.facts.path for v in report.done] == [BIG]
    after = files(nextcloud)
    assert after[f"{LIBRARY}/Originals/2024/03/IMG_1001.jpg"] == before[BIG] and len(after[BIG]) < len(before[BIG])
    assert report.outcome[[v.facts.path for v in report.outcome].index(BIG)].destination == f"{LIBRARY}/Originals/2024/03/IMG_1001.jpg"
    assert not run(nextcloud, tmp_path, rules).done, "Originals/ is never looked at, the made file is the app's"

    notes = runner.undo(backend(nextcloud, tmp_path), report.journal)

    now = files(nextcloud)
    assert now[BIG] == before[BIG] and f"{LIBRARY}/Originals/2024/03/IMG_1001.jpg" not in now, notes
    assert [(rel, data) for _, rel, _, data in nextcloud.files.trash] == [(BIG, after[BIG])], "what the run made is in the trash bin"


class Killed(BaseException):
    """A kill -9 at that point: nothing after it runs (not an Exception: no handler takes it)."""


@pytest.mark.parametrize("where", ["before the PUT", "after the PUT, before the label"])
def test_a_run_killed_between_its_steps_is_settled_by_the_next(nextcloud, tmp_path: Path, monkeypatch, where: str) -> None:
    rules = [r for r in RULES if r.action == "downscale"]
    before = files(nextcloud)
    file_id = nextcloud.files.file_id(USER, BIG)
    if where == "before the PUT":
        monkeypatch.setattr(rules_quality.NextcloudQuality, "_put", lambda *a: (_ for _ in ()).throw(Killed()))
    else:
        monkeypatch.setattr(rules_quality.NextcloudQuality, "_original", lambda *a: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        run(nextcloud, tmp_path, rules)
    monkeypatch.undo()
    [journal] = (tmp_path / "journals").glob("*.jsonl")
    assert runner.unfinished(journal) and list((tmp_path / "work").iterdir()), "the work copy is the safety net"

    nc = backend(nextcloud, tmp_path)
    notes = runner.finish(nc, journal, nc.guard)

    assert not runner.unfinished(journal) and not list((tmp_path / "work").iterdir())
    _, [step] = runner.read_run(journal)
    if where == "before the PUT":
        assert step.failed and files(nextcloud) == before and not notes
        return
    assert step.undo["original"]["version"] == str(MTIME) and nextcloud.files.versions[file_id][str(MTIME)] == [before[BIG], LABEL], notes
    runner.undo(backend(nextcloud, tmp_path), journal)
    assert files(nextcloud) == before


def test_an_undo_leaves_a_file_changed_since_the_run(nextcloud, tmp_path: Path) -> None:
    rules = [r for r in RULES if r.action == "convert"]
    report = run(nextcloud, tmp_path, rules)
    jpeg = nextcloud.files.root / USER / f"{LIBRARY}/2024/03/IMG_1000.jpg"
    jpeg.write_bytes(jpeg.read_bytes() + b"edited")

    notes = runner.undo(backend(nextcloud, tmp_path), report.journal)

    assert jpeg.exists() and not nextcloud.files.trash and any("changed since the run made it" in n for n in notes), notes


def test_videos_above_the_rule_are_re_encoded_within_the_daily_budget_with_the_original_as_a_version(nextcloud, tmp_path: Path) -> None:
    rules = load_rules('[[rules]]\nname = "Videos to 240p"\naction = "reencode_video"\nmax_lines = 240\n'
                       'min_saving_percent = 0\nminutes_per_day = 0.001\n')
    before = files(nextcloud)
    ids = {p: nextcloud.files.file_id(USER, p) for p in WIDE}
    nc = backend(nextcloud, tmp_path)
    preview = {v.facts.path: v for v in runner.preview(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts}
    assert set(preview) == set(WIDE), "the 48-line clip and the live video are not above 240p (read from the track header)"
    assert "360p to 240p in H264" in preview[WIDE[0]].reason and "the original is kept as a labelled version" in preview[WIDE[0]].reason

    report = run(nextcloud, tmp_path, rules)

    outcome = {v.facts.path: v for v in report.outcome}
    assert [outcome[p].action for p in WIDE] == ["reencode_video", "skip"], report.outcome
    assert "encoding time for videos" in outcome[WIDE[1]].reason, "one video, then the day's budget is spent"
    encoded = nextcloud.files.root / USER / WIDE[0]
    read = subprocess.run(["exiftool", "-j", "-n", "-ImageHeight", "-CreationDate", str(encoded)], capture_output=True, text=True)
    tags = json.loads(read.stdout)[0]
    assert tags["ImageHeight"] == 240 and tags["CreationDate"] == "2024:03:02 10:00:07+01:00", "the date with its offset kept"
    assert nextcloud.files.versions[ids[WIDE[0]]][str(MTIME)] == [before[WIDE[0]], LABEL]
    assert files(nextcloud)[WIDE[1]] == before[WIDE[1]]

    runner.undo(backend(nextcloud, tmp_path), report.journal)

    assert files(nextcloud)[WIDE[0]] == before[WIDE[0]]


def test_strip_location_may_delete_the_version_that_still_holds_it_when_the_rule_asks(nextcloud, tmp_path: Path) -> None:
    rules = load_rules('[[rules]]\nname = "No location, no trace"\nfolders = ["Photos/Shared/**"]\naction = "strip_location"\n'
                       'delete_previous_version = true\n')
    plain = [r for r in RULES if r.action == "strip_location"]
    file_id = nextcloud.files.file_id(USER, SHARED)
    nc = backend(nextcloud, tmp_path)
    [offered] = [v for v in runner.preview(nc, plain, Scope.of(LIBRARY, INBOXES, plain), time.time()).verdicts if v.facts.path == SHARED]
    assert "delete_previous_version = true deletes the version this run makes" in offered.reason, "the server allows it: offered"
    [verdict] = [v for v in runner.preview(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts if v.facts.path == SHARED]
    assert "deleted for good (cannot be undone)" in verdict.reason and "the original is kept" not in verdict.reason

    report = run(nextcloud, tmp_path, rules)

    assert [v.facts.path for v in report.done] == [SHARED], report.outcome
    assert str(MTIME) not in nextcloud.files.versions.get(file_id, {}), "the version with the location is gone"
    notes = runner.undo(backend(nextcloud, tmp_path), report.journal)
    assert any("nothing to put back" in n for n in notes), notes

    nextcloud.files.versioning = False  # versions off: nothing to delete, the original stays in Originals/ and the preview says so
    [kept] = [v for v in runner.preview(backend(nextcloud, tmp_path), rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts
              if v.facts.path == SHARED]
    assert "this server does not let apps delete versions" in kept.reason and "kept in Photos/Originals/" in kept.reason, kept.reason


def test_a_preview_reads_a_bounded_number_of_files_and_the_run_still_checks_each_by_content(nextcloud, tmp_path: Path) -> None:
    rules = [r for r in RULES if r.action == "downscale"]
    before = files(nextcloud)
    nc = backend(nextcloud, tmp_path)
    nc.preview_probes = 0  # a big library: nothing is read for the preview

    shown = {v.facts.path: v for v in runner.preview(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time()).verdicts}

    assert shown[MOTION].action == "downscale" and "not read in the preview" in shown[MOTION].reason, "by its mime type only"
    assert not any(method == "GET" and path.startswith("/remote.php/dav/files/") for method, path, _ in nextcloud.requests), "no file read"
    report = runner.run(nc, rules, Scope.of(LIBRARY, INBOXES, rules), time.time(), tmp_path / "journals", caps=CAPS, guard=nc.guard)
    outcome = {v.facts.path: v for v in report.outcome}
    assert outcome[MOTION].action == "skip" and "motion photo" in outcome[MOTION].reason, "read before acting: the gate holds"
    assert files(nextcloud)[MOTION] == before[MOTION] and len(files(nextcloud)[BIG]) < len(before[BIG])


def test_a_heic_goes_to_the_trash_only_while_the_jpeg_the_app_made_of_it_is_there_unchanged(nextcloud, tmp_path: Path) -> None:
    second = f"{LIBRARY}/2024/03/IMG_1009.HEIC"
    samples.phone_photo(nextcloud.files.root / USER / second, "heic", exif=MARCH, size=(320, 240), seed=9)
    convert = [r for r in RULES if r.action == "convert"]
    assert {v.facts.path for v in run(nextcloud, tmp_path, convert).done} == {HEIC, second}
    edited = nextcloud.files.root / USER / f"{LIBRARY}/2024/03/IMG_1009.jpg"
    edited.write_bytes(edited.read_bytes() + b"edited")  # the user edited this JPEG since: its HEIC must stay
    replace = load_rules('[[rules]]\nname = "HEIC gone once its JPEG is there"\naction = "trash"\nconverted = true\nolder_than_days = 0\n')
    heic = files(nextcloud)[HEIC]
    nextcloud.users.setdefault(USER, {})["trash"] = []  # the Deleted files app is on, its bin empty

    report = run(nextcloud, tmp_path, replace)

    outcome = {v.facts.path: v for v in report.outcome}
    assert set(outcome) == {HEIC, second}, "only what the app converted"
    assert outcome[HEIC].action == "trash" and "its JPEG IMG_1000.jpg is beside it" in outcome[HEIC].reason
    assert outcome[second].action == "skip" and "gone or changed since it was made" in outcome[second].reason
    after = files(nextcloud)
    assert HEIC not in after and f"{LIBRARY}/2024/03/IMG_1000.jpg" in after and second in after
    assert [data for _, rel, _, data in nextcloud.files.trash if rel == HEIC] == [heic], "in the trash bin, restorable"


def test_the_preview_expects_bytes_added_by_a_jpeg_beside_and_saved_by_a_downscale(nextcloud, tmp_path: Path) -> None:
    from mobile_backups.nextcloud.rules_app import describe
    from mobile_backups.nextcloud.rules_page import expected_html

    nc = backend(nextcloud, tmp_path)
    report = runner.preview(nc, RULES, Scope.of(LIBRARY, INBOXES, RULES), time.time(), nc.guard)
    found = {entry["rule"]: entry for entry in describe(report, RULES)["rules"]}
    heic, big = (nextcloud.files.root / USER / p for p in (HEIC, BIG))

    assert found["HEIC as JPEG too"]["change"] == round(heic.stat().st_size * 1.5)
    assert found["Big photos smaller"]["change"] == -round(big.stat().st_size * (1 - 0.1 / 0.3072))
    assert found["No location in shared albums"]["change"] == 0
    assert "Expected for 1 of them: about" in expected_html(found["HEIC as JPEG too"]) and "more" in expected_html(found["HEIC as JPEG too"])
    assert "saved" in expected_html(found["Big photos smaller"])
    assert [r["expected_bytes"] for r in map(lambda v: v.record(), report.verdicts) if r["source"] == HEIC and r["action"] == "convert"] == \
        [found["HEIC as JPEG too"]["change"]]
