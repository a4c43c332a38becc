"""When clean-up rules run and when users are told: the pure timing (is a run due for this user
now; notice once, not again the next day, again after the rule changed), the presets becoming
rules, and the daily run of the ExApp's rules service against the stand-in Nextcloud: one
notification per rule ahead, the announced files taken on the day, a file favourited in between
spared, a stopped run told once and confirmed."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from fake_nextcloud import FakeNextcloud
from mobile_backups.nextcloud import rules_settings as rs
from mobile_backups.nextcloud.app import App
from mobile_backups.nextcloud.forms import admin_form, personal_form
from mobile_backups.nextcloud.rules_timing import Notice, due_date, notice_text, run_due, slot, step
from mobile_backups.nextcloud.settings import ADMIN_DEFAULTS, admin_config
from mobile_backups.nextcloud.store import AppAuth
from mobile_backups.rules.model import parse_rules
from rules_fake_backend import JsonBackend, read_files, write_files

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
DAY = 86400


def at(text: str, zone=BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


# --- the schedule decision ------------------------------------------------------------------------------


def test_a_run_is_due_once_a_day_after_the_hour_in_the_users_zone():
    last = at("2026-12-01 03:05")
    assert not run_due(at("2026-12-02 02:59"), BERLIN, 3, last)
    assert run_due(at("2026-12-02 03:00"), BERLIN, 3, last)
    assert not run_due(at("2026-12-02 04:00"), BERLIN, 3, at("2026-12-02 03:01"))  # ran today already
    assert run_due(at("2026-12-05 12:00"), BERLIN, 3, last)  # missed days (the app was down): once, as soon as it can
    assert not run_due(at("2026-12-02 03:30"), BERLIN, 3, None)  # the first look only starts the clock
    # the same instant is past 03:00 in Berlin (09:00) and not yet in New York (03:00 is 09:00 Berlin)
    now = at("2026-12-02 08:30")
    assert run_due(now, BERLIN, 3, at("2026-12-01 12:00")) and not run_due(now, NEW_YORK, 3, at("2026-12-01 12:00", NEW_YORK))


def test_the_hour_survives_summer_time():
    assert datetime.fromtimestamp(slot(at("2026-03-29 12:00"), BERLIN, 3), BERLIN).hour == 3  # the day clocks go forward at 02:00
    assert datetime.fromtimestamp(slot(at("2026-10-25 12:00"), BERLIN, 3), BERLIN).hour == 3
    assert datetime.fromtimestamp(slot(at("2026-03-29 01:59"), BERLIN, 3), BERLIN).day == 28


# --- notice timing -----------------------------------------------------------------------------------------


def test_notice_once_not_again_the_next_day_act_on_the_day_and_again_after_a_change():
    now = at("2026-12-02 03:05")
    assert step("k1", None, now) == "notify"
    due = due_date(now, BERLIN, 3, 7)
    assert datetime.fromtimestamp(due, BERLIN).strftime("%d %H:%M") == "09 03:00"
    notice = Notice("k1", now, due, (1, 2))
    assert step("k1", notice, now + DAY) == "wait"  # not again the next day
    assert step("k1", notice, due - 60) == "wait"
    assert step("k1", notice, due + 60) == "act"
    assert step("k2", notice, now + DAY) == "notify"  # the rule changed: a new notice
    assert step("k1", notice, now + DAY, on_since=now + 3600) == "notify"  # switched off and on again since
    assert due_date(now, BERLIN, 3, 0) == now  # no notice period: the files may go at once


def test_the_notice_text():
    due = at("2026-12-09 03:00")
    assert notice_text(37, 120_000_000, frozenset({"screenshot"}), "trash", due, BERLIN) == "37 screenshots (120 MB) go to the trash on 9 Dec"
    assert notice_text(1, 4_100, frozenset({"screenshot"}), "trash", due, BERLIN) == "1 screenshot (4.1 kB) goes to the trash on 9 Dec"
    assert notice_text(5, 2_500_000, frozenset({"messenger"}), "archive", due, BERLIN, archive="Archive/Chats") == \
        "5 messenger files (2.5 MB) move to Archive/Chats on 9 Dec"
    assert notice_text(2, 10, frozenset(), "tag", due, BERLIN, tag="old") == "2 files (10 bytes) get the tag “old” on 9 Dec"


# --- presets -------------------------------------------------------------------------------------------------


def test_presets_are_off_by_default_and_become_rules_of_the_model():
    assert rs.preset_tables(rs.ADMIN_RULES_DEFAULTS, "rules_", "Admin") == []
    assert rs.preset_tables(rs.PERSONAL_RULES_DEFAULTS, "my_", "Mine") == []
    values = {**rs.PERSONAL_RULES_DEFAULTS, "my_screenshots_days": "30", "my_messenger_days": "90", "my_duplicates_days": "14"}
    rules = parse_rules({"rules": rs.preset_tables(values, "my_", "Mine")})
    shots, chats, dupes = rules
    assert (shots.kinds, shots.older_than_days, shots.action) == ({"screenshot"}, 30, "trash")
    assert (chats.kinds, chats.action, chats.archive_to, "*.jpg" in chats.names, "*.mp4" in chats.names) == ({"messenger"}, "archive", "Archive/Messenger", True, False)
    assert (dupes.duplicates, dupes.age_from, dupes.older_than_days) == (True, "upload", 14)


@pytest.mark.parametrize("key, value, words", [
    ("rules_screenshots_days", "-3", "days must be a whole number from 0 to 36500, not '-3' (0 = never)"),
    ("rules_hour", "24", "the hour must be a whole number from 0 to 23"),
    ("rules_max_percent", "0", "the percentage cap must be a whole number from 1 to 100"),
    ("rules_messenger_archive", "../Out", "must be a folder in your files"),
    ("rules_users_may_add", "maybe", "must be on or off"),
])
def test_a_bad_admin_value_is_refused_and_the_last_valid_one_stays(key, value, words):
    config = admin_config({key: value}, {key: rs.ADMIN_RULES_DEFAULTS[key] if key != "rules_hour" else "5"})
    assert words in config.problems[key]
    assert config.values[key] == ("5" if key == "rules_hour" else rs.ADMIN_RULES_DEFAULTS[key])


def test_the_forms_show_the_presets_with_unique_ids():
    admin_ids = {f["id"] for f in admin_form("u")["fields"]}
    personal_ids = {f["id"] for f in personal_form("u")["fields"]}
    assert set(rs.ADMIN_RULES_DEFAULTS) <= admin_ids <= set(ADMIN_DEFAULTS) and set(rs.PERSONAL_RULES_DEFAULTS) <= personal_ids
    assert not admin_ids & personal_ids
    shots = next(f for f in admin_form("u")["fields"] if f["id"] == "rules_screenshots_days")
    assert shots["default"] == "0" and "0 = never" in shots["description"]


def test_a_rule_key_follows_its_content_only():
    table = {"name": "a", "action": "trash", "older_than_days": 3}
    assert rs.rule_key(table) == rs.rule_key(dict(reversed(table.items()))) == rs.rule_key({**table, "enabled": False})
    assert rs.rule_key(table) != rs.rule_key({**table, "older_than_days": 4})


# --- the daily run of the service ------------------------------------------------------------------------------


def shot(n: int, captured: float, **more: object) -> dict:
    return {"path": f"Photos/2026/11/Screenshot_2026110{n}-101010.png", "size": 40_000, "mtime": captured, "capture": captured, "file_id": n, **more}


@pytest.fixture
def service(tmp_path):
    nextcloud = FakeNextcloud()
    nextcloud.users = {"alice": {"groups": ["family"], "timezone": "Europe/Berlin", "folders": {"InstantUpload"}}}
    start = at("2027-12-02 03:05")  # after the real clock: the switch-on time is real
    files = tmp_path / "files.json"
    photos = [{"path": f"Photos/2026/01/IMG_{n}.jpg", "size": 10, "mtime": start - 300 * DAY, "file_id": 1000 + n} for n in range(40)]
    write_files(files, {"alice": [shot(1, start - 28 * DAY), shot(2, start - 29 * DAY), shot(3, start - 28 * DAY), shot(4, start - 10 * DAY)] + photos})
    app = App(AppAuth(nextcloud.url, "mobile_backups", "0.1.0", "s" * 64, "34.0.0"), tmp_path / "storage")
    app.rules.backend_for = lambda user: JsonBackend(files, user)
    yield app, nextcloud, files, start
    nextcloud.close()


def switch_on(app: App, user: str, table: dict) -> None:
    app.rules.state.save(user, table)
    app.rules.preview(user, [table])  # the owner sees the preview…
    assert app.rules.switch(user, user, table["name"], True) is None  # …and switches it on


RULE = {"name": "Old screenshots", "kinds": ["screenshot"], "older_than_days": 30, "action": "trash"}


def trashed(files) -> set[int]:
    return {d["file_id"] for d in read_files(files, "alice")["trash"]}


def test_one_notice_per_rule_ahead_then_the_announced_files_go_and_a_favourite_is_spared(service):
    app, nextcloud, files, start = service
    switch_on(app, "alice", RULE)
    app.rules.scheduled("alice", start)
    [(user, params)] = nextcloud.notifications
    assert user == "alice" and params["subject_params"]["rich_subject"] == "3 screenshots (120 kB) go to the trash on 9 Dec"
    assert params["subject_params"]["link"].endswith("/proxy/mobile_backups/rules?preview=Old%20screenshots&owner=mine#preview")  # the preview
    assert not trashed(files)

    app.rules.scheduled("alice", start + DAY)  # the next day: no second notice, nothing taken yet
    assert len(nextcloud.notifications) == 1 and not trashed(files)

    everything = json.loads(files.read_text())
    everything["users"]["alice"]["files"][0]["favorite"] = True  # file 1 becomes a favourite in between
    files.write_text(json.dumps(everything))
    outcome = app.rules.scheduled("alice", start + 7 * DAY)
    assert trashed(files) == {2, 3} and outcome.run_id and len(nextcloud.notifications) == 1  # the favourite stays; never one per file

    app.rules.scheduled("alice", start + 8 * DAY)  # the next batch: file 4 is only 25 days old on 17 Dec
    assert len(nextcloud.notifications) == 1
    app.rules.scheduled("alice", start + 14 * DAY)
    assert nextcloud.notifications[-1][1]["subject_params"]["rich_subject"] == "1 screenshot (40 kB) goes to the trash on 23 Dec"
    assert trashed(files) == {2, 3}


def test_the_notice_says_when_the_trash_bin_has_no_room(service):
    app, nextcloud, files, start = service
    everything = json.loads(files.read_text())
    everything["users"]["alice"]["headroom"] = {"free": 100_000, "trash": 50_000}  # 120 kB would purge these too
    files.write_text(json.dumps(everything))
    switch_on(app, "alice", RULE)
    app.rules.scheduled("alice", start)
    subject, message = (nextcloud.notifications[-1][1]["subject_params"][k] for k in ("rich_subject", "rich_message"))
    assert subject == "3 screenshots (120 kB) go to the trash on 9 Dec"
    assert "As it is now, the trash bin has no room for 3 file(s), 120 kB: even after purging all older trash" in message
    switch_on(app, "alice", {**RULE, "name": "Old screenshots, archived", "archive_to": "Archive"})
    app.rules.scheduled("alice", start)
    subject, message = (nextcloud.notifications[-1][1]["subject_params"][k] for k in ("rich_subject", "rich_message"))
    assert subject == "3 screenshots (120 kB) move to Archive on 9 Dec"
    assert "As it is now, 3 file(s) archived instead of trashed: the trash bin has no room" in message


def test_a_changed_rule_is_announced_again_and_acts_only_once_switched_on_again(service):
    app, nextcloud, files, start = service
    switch_on(app, "alice", RULE)
    app.rules.scheduled("alice", start)
    changed = {**RULE, "older_than_days": 20}
    app.rules.state.save("alice", changed, replaces=RULE["name"])
    app.rules.scheduled("alice", start + DAY)
    assert len(nextcloud.notifications) == 1  # the changed rule is a preview again: no notice, nothing done
    app.rules.scheduled("alice", start + 7 * DAY)
    assert not trashed(files)
    app.rules.preview("alice", [changed])
    app.rules.switch("alice", "alice", RULE["name"], True)
    app.rules.scheduled("alice", start + 8 * DAY)
    assert len(nextcloud.notifications) == 2 and "4 screenshots (160 kB) go to the trash on 17 Dec" == nextcloud.notifications[-1][1]["subject_params"]["rich_subject"]


def test_a_scheduled_run_over_the_caps_waits_is_told_once_and_goes_on_when_confirmed(service):
    app, nextcloud, files, start = service
    nextcloud.admin = {"rules_max_files": "2"}
    switch_on(app, "alice", RULE)
    app.rules.scheduled("alice", start)
    app.rules.scheduled("alice", start + 7 * DAY)
    app.rules.scheduled("alice", start + 8 * DAY)
    stops = [p for _, p in nextcloud.notifications if "waits for your confirmation" in p["subject_params"]["rich_subject"]]
    assert len(stops) == 1 and "it would act on 3 files, more than the limit of 2" in stops[0]["subject_params"]["rich_message"]
    assert not trashed(files) and app.rules.state.schedule("alice")[2]["kind"] == "scheduled"
    app.rules.scheduled("alice", start + 8 * DAY, confirm=True)
    assert trashed(files) == {1, 2, 3} and app.rules.state.schedule("alice")[2] is None


def test_the_scheduler_runs_each_user_once_a_day_after_the_hour(service):
    app, nextcloud, files, start = service
    nextcloud.admin = {"rules_notice_days": "0"}  # no notice period: the run takes them at once
    switch_on(app, "alice", {**RULE, "older_than_days": 1})
    app.rules.tick(start)  # the first look starts the clock
    assert not trashed(files)
    app.rules.tick(start + DAY - 600)  # 02:55 the next day
    assert not trashed(files)
    app.rules.tick(start + DAY)
    assert trashed(files) == {1, 2, 3, 4}
    assert [r["trigger"] for r in app.rules.runs("alice")] == ["scheduled"]


def test_a_bad_personal_preset_saved_through_the_declarative_form_is_told_once_and_never_stays(service):
    app, nextcloud, files, start = service
    nextcloud.preferences["alice"] = {"my_screenshots_days": "a week"}
    assert app.rules.rules_for("alice") == []  # not applied: 0 (never) stays in force
    app.rules.rules_for("alice")
    told = [p["subject_params"] for _, p in nextcloud.notifications]
    assert len(told) == 1 and told[0]["rich_subject"] == "Mobile Backups: your clean-up setting “my_screenshots_days” was not applied"
    assert "days must be a whole number from 0 to 36500, not 'a week'" in told[0]["rich_message"] and "Still using “0”" in told[0]["rich_message"]
    nextcloud.preferences["alice"] = {"my_screenshots_days": "30"}
    assert [a.rule.name for a in app.rules.rules_for("alice")] == ["Mine: screenshots"]
