"""The clean-up rules on the ExApp, over real HTTP against the stand-in Nextcloud, as a plain user,
an admin and unsigned: presets becoming rules, preview before acting, switching on, the live
preview, runs, caps and confirmation, undo, admin rules for groups, occ rules and undo.

The ExApp runs in its own process with the rules backend over tests/rules_fake_backend.py's JSON
files (the Nextcloud backend is another module's)."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
import time
from pathlib import Path

import httpx
import pytest

from conftest import ROOT
from fake_nextcloud import FakeNextcloud
from rules_fake_backend import read_files, write_files
from test_exapp_http import occ, running_exapp, signed

DAY = 86400
NOW = time.time()


def screenshot(n: int, days: float, **more: object) -> dict:
    return {"path": f"Photos/2025/0{1 + n % 9}/Screenshot_2025010{1 + n % 9}-{101000 + n}.png", "size": 40_000, "mtime": NOW - days * DAY,
            "capture": NOW - days * DAY, "upload": NOW - days * DAY, "file_id": 100 + n, **more}


def photo(n: int, days: float) -> dict:
    return {"path": f"Photos/2025/01/IMG_{n:04d}.jpg", "size": 3_000_000, "mtime": NOW - days * DAY, "capture": NOW - days * DAY, "file_id": 5000 + n}


FILES = {
    "bob": [screenshot(1, 40), screenshot(2, 50), screenshot(3, 60, favorite=True), screenshot(4, 2)] + [photo(n, 400) for n in range(30)],
    "carol": [screenshot(n, 100) for n in range(60)] + [photo(n, 100) for n in range(600)],
    "admin": [screenshot(1, 90)],
    "dave": [screenshot(n, 100) for n in range(12)] + [photo(n, 100) for n in range(8)],
    "erin": [screenshot(1, 100, hash="c0ffee")] + [photo(n, 100) for n in range(9)],
}


@pytest.fixture(scope="module")
def nextcloud():
    fake = FakeNextcloud()
    fake.users = {
        "admin": {"groups": ["admin"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}},
        "bob": {"groups": ["family"], "timezone": "America/New_York", "folders": {"InstantUpload"}},
        "carol": {"groups": ["staff"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}},
        "dave": {"groups": ["staff"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}},
        "erin": {"groups": ["staff"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}},
    }
    # "-3" is refused (0, never, stays); the file cap is the admin's
    fake.admin = {"rules_duplicates_days": "14", "rules_messenger_days": "-3", "rules_max_files": "50"}
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def exapp(tmp_path_factory, nextcloud):
    storage = tmp_path_factory.mktemp("storage")
    files = storage.parent / "rules-files.json"
    write_files(files, FILES)
    env = {"PYTHONPATH": f"{ROOT / 'ex_app' / 'lib'}:{ROOT / 'tests'}", "RULES_FAKE_FILES": str(files)}
    with running_exapp(nextcloud.url, storage, script=ROOT / "tests" / "rules_fake_backend.py", env=env) as base:
        yield base, files


def get(base: str, user: str, path: str = "/rules", **params: object) -> httpx.Response:
    return httpx.get(base + path, params=params, headers=signed(user), timeout=30)


def post(base: str, user: str, path: str, data: dict, **headers: str) -> httpx.Response:
    return httpx.post(base + path, data=data, headers={**signed(user), **headers}, timeout=60)


def paths(files: Path, user: str, where: str = "files") -> set[str]:
    return {d["path"] for d in read_files(files, user)[where]}


def card(page: str, name: str) -> str:
    """The text of one rule's card on the page."""
    match = re.search(r"<div class='rules-card' id='rule-[0-9a-f]+'><h3>" + re.escape(name) + r" .*?</div>", page)
    assert match, f"no card for {name!r}"
    return match[0]


OLD_SCREENSHOTS = {"name": "Old screenshots", "action": "trash", "kinds": "screenshot", "older_than_days": "30", "age_from": "capture",
                   "exemptions_shown": "1", "exemptions": ["favorite", "keep", "shared", "mount", "edited"], "owner": "mine"}


def form(**changes: object) -> dict[str, object]:
    return {**OLD_SCREENSHOTS, **changes}


def switched_on(base: str, user: str) -> None:
    """The user's own rule of `form()`, saved, its preview seen and switched on, as a user does it on the page."""
    post(base, user, "/rules/save", form())
    get(base, user, preview="Old screenshots", owner="mine")
    assert post(base, user, "/rules/switch", {"name": "Old screenshots", "owner": "mine", "on": "1"}).status_code == 200


# --- who may call -----------------------------------------------------------------------------------


def test_unsigned_requests_are_refused_and_change_nothing(exapp):
    base, files = exapp
    before = files.read_text()
    assert httpx.get(base + "/rules").status_code == 401
    assert httpx.post(base + "/rules/save", data=form()).status_code == 401
    assert httpx.post(base + "/rules/run", data={"confirm": "1"}).status_code == 401
    assert httpx.post(base + "/rules/save", data=form(), headers=signed("bob", "wrong" * 13)).status_code == 401
    assert get(base, "").status_code == 401  # AppAPI itself is no user
    assert occ(base, "rules", user="bob", options={"user": "bob"}).status_code == 403  # occ only from AppAPI
    assert httpx.post(base + "/occ/rules", json={}).status_code == 401
    assert post(base, "bob", "/rules/save", form(), **{"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert files.read_text() == before


@pytest.mark.parametrize("user", ["bob", "admin"], ids=["plain user", "admin"])
def test_the_rules_page_renders_with_its_own_policy(exapp, user):
    base, _ = exapp
    page = get(base, user)
    assert page.status_code == 200 and f"Clean-up rules of <b>{user}</b>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"] and "<script src='js/rules.js'>" in page.text
    assert "fetch('rules/preview'" in get(base, user, "/js/rules.js").text
    assert "@media (max-width: 30em)" in page.text and "grid-template-columns: repeat(auto-fit" in page.text  # narrow screens: one column


# --- presets -----------------------------------------------------------------------------------------


def test_admin_presets_become_rules_that_start_as_a_preview_and_a_refused_value_keeps_never(exapp):
    base, _ = exapp
    page = get(base, "bob").text
    duplicates = card(page, "Admin: duplicates in the inbox")
    assert "not switched on by the admin yet" in duplicates and "14 days after upload, to the trash" in duplicates
    assert "preview: not seen yet" in card(get(base, "admin").text, "Admin: duplicates in the inbox")
    assert "Admin: messenger images" not in page  # "-3" was refused; 0 (never) stays in force
    assert "Switch off for me" in duplicates  # the admin lets users switch admin rules off (the default)


def test_personal_presets_are_checked_where_they_are_entered(exapp, nextcloud):
    base, _ = exapp
    bad = post(base, "bob", "/rules/presets", {"my_screenshots_days": "soon", "my_messenger_archive": "../out"})
    assert bad.status_code == 422 and "days must be a whole number from 0 to 36500, not &#x27;soon&#x27;" in bad.text
    assert "must be a folder in your files" in bad.text and "my_screenshots_days" not in nextcloud.preferences.get("bob", {})
    good = post(base, "bob", "/rules/presets", {"my_screenshots_days": "45", "my_messenger_days": "0", "my_messenger_archive": "Archive/Chats",
                                                "my_duplicates_days": "0"})
    assert good.status_code == 200 and nextcloud.preferences["bob"]["my_screenshots_days"] == "45"
    assert "preview: not seen yet" in card(good.text, "Mine: screenshots")
    assert "screenshot in the library and the inboxes, 45 days after capture, to the trash" in card(good.text, "Mine: screenshots")
    assert post(base, "bob", "/rules/presets", {"my_screenshots_days": "0"}).status_code == 200  # off again
    assert "Mine: screenshots" not in get(base, "bob").text


# --- preview first, then the owner's switch; run; undo --------------------------------------------------


def test_a_new_rule_acts_only_after_its_preview_was_seen_and_it_was_switched_on(exapp):
    base, files = exapp
    saved = post(base, "bob", "/rules/save", form())
    assert saved.status_code == 200 and "preview: not seen yet" in card(saved.text, "Old screenshots")
    assert "disabled aria-disabled='true' title='See its preview first'" in card(saved.text, "Old screenshots")
    refused = post(base, "bob", "/rules/switch", {"name": "Old screenshots", "owner": "mine", "on": "1"})
    assert refused.status_code == 422 and "see the preview of “Old screenshots” first" in refused.text
    nothing = post(base, "bob", "/rules/run", {"confirm": "0"})
    assert "no rule is switched on" in nothing.text and len(paths(files, "bob")) == 34

    preview = get(base, "bob", preview="Old screenshots", owner="mine")
    assert preview.status_code == 200 and "Would take <b>2</b> file(s) (80 kB)" in preview.text and "spares 1" in preview.text
    assert "a favourite" in preview.text and re.search(r"screenshot; taken 4\d days ago", preview.text)  # the Why of each sample
    assert "<svg class='chart'" in preview.text and "role='img'" in preview.text
    assert len(paths(files, "bob")) == 34  # a preview does nothing

    on = post(base, "bob", "/rules/switch", {"name": "Old screenshots", "owner": "mine", "on": "1"})
    assert on.status_code == 200 and "<span class='state on'>on</span>" in card(on.text, "Old screenshots")
    ran = post(base, "bob", "/rules/run", {"confirm": "0"})
    assert ran.status_code == 200 and "2 file(s) done (80 kB): 2 trash" in ran.text
    assert paths(files, "bob", "trash") == {screenshot(1, 0)["path"], screenshot(2, 0)["path"]}
    assert screenshot(3, 0)["path"] in paths(files, "bob")  # the favourite stays

    run_id = re.search(r"undo: (bob/run-[0-9-]+)", ran.text)[1]
    assert f"<input type='hidden' name='run' value='{run_id}'>" in ran.text
    assert post(base, "carol", "/rules/undo", {"run": run_id}).status_code == 403  # not carol's
    undone = post(base, "bob", "/rules/undo", {"run": run_id})
    assert undone.status_code == 200 and f"Run {run_id} undone" in undone.text
    assert not paths(files, "bob", "trash") and len(paths(files, "bob")) == 34


def test_a_changed_rule_starts_again_as_a_preview(exapp):
    base, _ = exapp
    edit = get(base, "bob", edit="Old screenshots", owner="mine")
    assert edit.status_code == 200 and "value='Old screenshots'" in edit.text and "name='replaces' value='Old screenshots'" in edit.text
    changed = post(base, "bob", "/rules/save", form(older_than_days="45", replaces="Old screenshots"))
    assert changed.status_code == 200 and "preview: not seen yet" in card(changed.text, "Old screenshots")
    assert "45 days after capture" in card(changed.text, "Old screenshots")


def test_the_live_preview_counts_samples_and_charts_an_unsaved_rule(exapp):
    base, _ = exapp
    live = post(base, "bob", "/rules/preview", form(name="Try", older_than_days="1"), Accept="application/json").json()
    assert not live["problems"] and "Would take <b>3</b> file(s) (120 kB)" in live["html"] and "spares 1" in live["html"]
    assert live["html"].count("<tr><td>Photos/") == 4 and "<title>" in live["html"]  # samples; the chart's bars say month and kind
    bad = post(base, "bob", "/rules/preview", form(name="Try", older_than_days="-1", action="archive", archive_to="/etc"), Accept="application/json").json()
    assert bad["problems"] and "the age must be a whole number of days" in bad["html"]
    bad = post(base, "bob", "/rules/preview", form(name="Try", action="archive", archive_to="../x"), Accept="application/json").json()
    assert any("archive_to must name a folder inside the library" in p for p in bad["problems"])
    page = post(base, "bob", "/rules/preview", form(name="Try", older_than_days="1"))  # without JavaScript: the page with the preview
    assert page.status_code == 200 and "Would take <b>3</b>" in page.text and "value='Try'" in page.text


def test_the_editor_takes_a_quality_rule_without_an_age(exapp):
    base, _ = exapp
    fields = {"name": "Smaller photos", "action": "downscale", "kinds": "photo", "names": "*.jpg", "larger_than_mp": "20", "to_mp": "16",
              "min_saving_percent": "30", "older_than_days": "30", "exemptions_shown": "1", "exemptions": ["favorite"], "owner": "mine"}
    live = post(base, "bob", "/rules/preview", fields, Accept="application/json").json()
    assert not live["problems"] and "Would take <b>30</b> file(s)" in live["html"] and "downscale" in live["html"], live
    saved = post(base, "bob", "/rules/save", fields)
    assert saved.status_code == 200 and "photo in the library (every format it applies to): downscale" in card(saved.text, "Smaller photos")
    edit = get(base, "bob", edit="Smaller photos", owner="mine")
    assert "id='to_mp' name='to_mp' value='16.0'" in edit.text and "<option value='downscale' selected>" in edit.text
    assert post(base, "bob", "/rules/delete", {"name": "Smaller photos", "owner": "mine"}).status_code == 200


def test_the_editor_takes_a_video_rule_a_strip_that_deletes_the_version_and_a_heic_replacement(exapp):
    base, _ = exapp
    video = {"name": "Videos to 720p", "action": "reencode_video", "max_lines": "720", "codec": "hevc", "minutes_per_day": "30", "owner": "mine"}
    strip = {"name": "No trace", "action": "strip_location", "delete_previous_version": "1", "owner": "mine"}
    for fields in (video, strip):
        assert post(base, "bob", "/rules/save", fields).status_code == 200
    edit = get(base, "bob", edit="Videos to 720p", owner="mine").text
    assert "id='max_lines' name='max_lines' value='720'" in edit and "<option value='hevc' selected>" in edit
    assert "id='minutes_per_day' name='minutes_per_day' value='30.0'" in edit
    assert "name='delete_previous_version' value='1' checked" in get(base, "bob", edit="No trace", owner="mine").text
    replace = {"name": "HEIC gone", "action": "trash", "converted": "1", "older_than_days": "7", "owner": "mine"}
    assert post(base, "bob", "/rules/save", replace).status_code == 200
    assert "name='converted' value='1' checked" in get(base, "bob", edit="HEIC gone", owner="mine").text
    for name in ("Videos to 720p", "No trace", "HEIC gone"):
        assert post(base, "bob", "/rules/delete", {"name": name, "owner": "mine"}).status_code == 200


def test_bad_rules_are_refused_with_the_problem_named_and_nothing_saved(exapp):
    base, _ = exapp
    for fields, words in [({"name": ""}, "needs a name"), ({"action": "archive", "archive_to": "../x"}, "archive_to must name a folder"),
                          ({"folders": "/etc"}, "is outside the library"), ({"name": "Admin: duplicates in the inbox"}, "already a rule named")]:
        answer = post(base, "bob", "/rules/save", form(name=fields.pop("name", "Bad one"), **fields))
        assert answer.status_code == 422 and "Not saved" in answer.text and words in answer.text.replace("&#x27;", "'")
    assert "Bad one" not in get(base, "bob").text


# --- caps and confirmation ---------------------------------------------------------------------------------


def test_a_run_over_the_caps_stops_says_why_and_goes_on_once_confirmed(exapp):
    base, files = exapp
    switched_on(base, "carol")
    stopped = post(base, "carol", "/rules/run", {"confirm": "0"})
    assert stopped.status_code == 409 and "it would act on 60 files, more than the limit of 50: confirm to go on" in stopped.text
    assert "Confirm and run" in stopped.text and len(paths(files, "carol", "trash")) == 0
    again = get(base, "carol")  # the page still shows why, until confirmed
    assert "The last run stopped before acting" in again.text and "more than the limit of 50" in again.text
    confirmed = post(base, "carol", "/rules/run", {"confirm": "1", "kind": "now"})
    assert confirmed.status_code == 200 and "60 file(s) done" in confirmed.text and len(paths(files, "carol", "trash")) == 60
    assert "The last run stopped before acting" not in confirmed.text
    run_id = re.search(r"undo: (carol/run-[0-9-]+)", confirmed.text)[1]
    assert "put back" in post(base, "carol", "/rules/undo", {"run": run_id}).text
    assert len(paths(files, "carol", "trash")) == 0


def test_occ_rules_dry_run_caps_confirm_and_undo(exapp):
    base, files = exapp
    dry = occ(base, "rules", options={"user": "carol", "dry-run": True})
    assert "carol: Old screenshots: on" in dry.text and "carol: Old screenshots: would take 60 file(s) (2.4 MB), spare 0" in dry.text
    assert re.search(r"carol:   trash Photos/\S+\.png  \[screenshot; taken 100 days ago\]", dry.text) and "dry run: nothing done" in dry.text
    stopped = occ(base, "rules", options={"user": "carol"})
    assert "Stopped before acting: it would act on 60 files" in stopped.text and "(run again with --confirm)" in stopped.text
    assert not paths(files, "carol", "trash")
    done = occ(base, "rules", options={"user": "carol", "confirm": True})
    run_id = re.search(r"undo with: occ mobile_backups:undo (carol/run-[0-9-]+)", done.text)[1]
    assert len(paths(files, "carol", "trash")) == 60
    undone = occ(base, "undo", arguments={"run": run_id})
    assert f"{run_id}: clean-up run undone" in undone.text and not paths(files, "carol", "trash")
    assert "No run" in occ(base, "undo", arguments={"run": "carol/run-nope"}).text
    assert "--user USER or --all" in occ(base, "rules", options={"user": None, "all": False}).text


def change(json_files: Path, user: str, **values: object) -> None:
    """The user's files as the stand-in backend sees them, changed (`files`, `headroom`, `library_count`)."""
    everything = json.loads(json_files.read_text())
    everything["users"][user].update(values)
    json_files.write_text(json.dumps(everything))


def test_the_trash_bins_room_in_the_preview_in_occ_and_the_next_runs_library_check(exapp):
    base, files = exapp
    change(files, "dave", headroom={"free": 1_000_000, "trash": 400_000})  # room for 100 kB; the rule would trash 480 kB
    post(base, "dave", "/rules/save", form())
    shown = get(base, "dave", preview="Old screenshots", owner="mine").text
    assert ("A run would stop before trashing: trashing 12 file(s), 480 kB would make Nextcloud purge about 140 kB of older trash"
            in shown and "The run's confirmation goes past it." in shown), shown
    post(base, "dave", "/rules/switch", {"name": "Old screenshots", "owner": "mine", "on": "1"})
    assert "dave: a run would stop here: trashing 12 file(s), 480 kB" in occ(base, "rules", options={"user": "dave", "dry-run": True}).text
    stopped = occ(base, "rules", options={"user": "dave"}).text
    assert ("Stopped before acting: it would act on 12 of 20 files (60 %), more than 10 % of the library: confirm to go on; "
            "trashing 12 file(s), 480 kB would make Nextcloud purge" in stopped and "(run again with --confirm)" in stopped), stopped
    assert not paths(files, "dave", "trash")
    done = occ(base, "rules", options={"user": "dave", "confirm": True}).text
    assert "12 file(s) done" in done and len(paths(files, "dave", "trash")) == 12
    # the library holds 8 now, as the run left it: no "much smaller" next time; a lost folder is one
    change(files, "dave", headroom=None)
    assert "smaller" not in occ(base, "rules", options={"user": "dave"}).text
    change(files, "dave", library_count=3)
    shrunk = occ(base, "rules", options={"user": "dave", "confirm": True}).text
    assert "the library looks much smaller than last time (3 files, 8 before)" in shrunk and "--confirm" not in shrunk, shrunk
    change(files, "dave", library_count=8)
    run_id = re.search(r"undo with: occ mobile_backups:undo (dave/run-[0-9-]+)", done)[1]
    occ(base, "undo", arguments={"run": run_id})
    # named an archive folder, the trash rule archives instead when the trash has no room
    change(files, "dave", headroom={"free": 100_000, "trash": 0})
    post(base, "dave", "/rules/save", form(archive_to="Archive", replaces="Old screenshots"))
    archived = get(base, "dave", preview="Old screenshots", owner="mine").text
    assert "12 file(s) archived instead of trashed: the trash bin has no room" in archived and "A run would stop" not in archived
    assert re.search(r"<td>Photos/2025/0\d/Screenshot_\S+\.png</td><td>archive</td><td>screenshot; taken 100 days ago; archived: the trash bin "
                     r"has no room</td><td>Archive/2025/0\d/Screenshot_", archived), archived


def test_content_that_comes_back_after_a_rule_trashed_it_is_left_alone_and_the_answer_says_why(exapp):
    base, files = exapp
    switched_on(base, "erin")
    first = post(base, "erin", "/rules/run", {"confirm": "0"})
    assert first.status_code == 200 and "1 file(s) done" in first.text and len(paths(files, "erin", "trash")) == 1
    back = {**screenshot(1, 100, hash="c0ffee"), "path": "InstantUpload/Screenshot_20250102-101001.png", "file_id": 777}
    change(files, "erin", files=read_files(files, "erin")["files"] + [back])  # the phone uploads it again
    second = post(base, "erin", "/rules/run", {"confirm": "0"})
    assert second.status_code == 200 and html.unescape(second.text).count(
        "left alone: InstantUpload/Screenshot_20250102-101001.png (came back after clean-up (“Old screenshots” took Photos/2025/02/") == 1, second.text
    assert "InstantUpload/Screenshot_20250102-101001.png" in paths(files, "erin") and len(paths(files, "erin", "trash")) == 1


# --- admin rules for groups ---------------------------------------------------------------------------------


def test_admin_rules_for_a_group_with_the_users_switch_off(exapp):
    base, _ = exapp
    refused = post(base, "bob", "/rules/save", form(name="For all", owner="admin", groups="family"))
    assert refused.status_code == 422 and "only an admin writes rules for everyone" in refused.text
    saved = post(base, "admin", "/rules/save", form(name="Family screenshots", owner="admin", groups="family"))
    assert saved.status_code == 200 and "Admin rules for other groups" in saved.text  # the admin is not in family
    assert "Groups: family" in card(saved.text, "Family screenshots")
    assert "Family screenshots" not in get(base, "carol").text
    bob = get(base, "bob").text
    assert "not switched on by the admin yet" in card(bob, "Family screenshots") and "Switch off for me" in card(bob, "Family screenshots")
    assert post(base, "bob", "/rules/switch", {"name": "Family screenshots", "owner": "admin", "on": "1"}).status_code == 422
    get(base, "bob", preview="Family screenshots", owner="admin")  # a user's look is not the admin's
    assert "See its preview first" in card(get(base, "admin").text, "Family screenshots")
    get(base, "admin", preview="Family screenshots", owner="admin")
    on = post(base, "admin", "/rules/switch", {"name": "Family screenshots", "owner": "admin", "on": "1"})
    assert on.status_code == 200 and "<span class='state on'>on</span>" in card(get(base, "bob").text, "Family screenshots")
    out = post(base, "bob", "/rules/optout", {"name": "Family screenshots", "out": "1"})
    assert "switched off by you" in card(out.text, "Family screenshots") and "Switch on for me" in card(out.text, "Family screenshots")


# --- the Files action ------------------------------------------------------------------------------------------


def test_preview_clean_up_of_a_folder(exapp):
    base, _ = exapp
    folder = {"files": [{"fileId": 9, "name": "2025", "directory": "/Photos", "fileType": "dir", "mime": "httpd/unix-directory"}]}
    answer = httpx.post(base + "/files/cleanup", json=folder, headers=signed("bob"))
    assert answer.status_code == 200 and answer.json() == {"redirect_handler": "mobile_backups/cleanup"}
    assert httpx.post(base + "/files/cleanup", json=folder).status_code == 401
    page = get(base, "bob", folder="Photos/2025/02")
    assert page.status_code == 200 and "in <b>Photos/2025/02</b>" in page.text and "Photos/2025/03/" not in page.text


# --- what a preview says (pure) ------------------------------------------------------------------------------


def test_a_preview_keeps_room_for_spared_samples_and_charts_every_month_between():
    from mobile_backups.nextcloud.rules_app import describe
    from mobile_backups.nextcloud.rules_page import chart
    from mobile_backups.rules.match import Scope
    from mobile_backups.rules.model import parse_rules
    from mobile_backups.rules.runner import preview
    from rules_fake_backend import facts

    january, march, june = (datetime(2026, m, 15, tzinfo=timezone.utc).timestamp() for m in (1, 3, 6))

    class Files:
        def files(self, scope, rules, now):
            return iter([facts({**screenshot(n, 0), "capture": january if n % 2 else march}) for n in range(30)]
                        + [facts({**screenshot(99, 0), "capture": january, "favorite": True})])

    rules = parse_rules({"rules": [{"name": "s", "kinds": ["screenshot"], "older_than_days": 30, "action": "trash"}]})
    [entry] = describe(preview(Files(), rules, Scope("Photos"), june), rules)["rules"]
    assert (entry["files"], entry["exempt"], entry["bytes"]) == (30, 1, 30 * 40_000)
    assert len(entry["samples"]) == 20 and entry["samples"][-1]["action"] == "exempt" and entry["samples"][-1]["reason"] == "a favourite"
    assert entry["chart"] == {"2026-01": {"screenshot": 15}, "2026-02": {}, "2026-03": {"screenshot": 15}}  # the empty month is shown
    svg = chart({"2026-01": {"photo": 2}, "2026-02": {}, "2026-03": {"screenshot": 1, "photo": 1}})
    assert svg.count("<rect") == 3 and "aria-label='2026-01: 2 photo; 2026-02: none; 2026-03: 1 photo, 1 screenshot'" in svg


def test_a_runs_answer_names_the_files_its_actions_left_alone_and_why():
    from mobile_backups.nextcloud.rules_app import Outcome
    from mobile_backups.nextcloud.rules_routes import outcome_text
    from mobile_backups.rules.match import Verdict
    from mobile_backups.rules.model import parse_rules
    from mobile_backups.rules.runner import Report
    from rules_fake_backend import facts

    [rule] = parse_rules({"rules": [{"name": "s", "kinds": ["screenshot"], "older_than_days": 30}]})
    taken = [Verdict(facts(screenshot(n, 90)), rule, "trash", "old") for n in range(8)]
    spared = Verdict(facts(screenshot(9, 90)), rule, "exempt", "a favourite")
    ended = [Verdict(v.facts, rule, "skip", "came back after clean-up (2026-01-02): the phone may still hold it; kept") for v in taken[:7]]
    report = Report(taken + [spared], done=taken[7:], outcome=ended + taken[7:] + [spared])
    text = outcome_text(Outcome(report=report))
    assert text.startswith("1 file(s) done (40 kB): 1 trash; left alone: Photos/2025/01/Screenshot_20250101-101000.png (came back after clean-up")
    assert text.count("left alone: ") == 5 and text.endswith("; 2 more left alone") and "a favourite" not in text
