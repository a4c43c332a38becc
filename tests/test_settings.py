"""Settings: defaults in code, validation naming the problem, the last valid value kept in force."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from mobile_backups.nextcloud.app import EVENTS, App, path_filter, webhook_inboxes
from mobile_backups.nextcloud.settings import ADMIN_DEFAULTS, admin_config, check, example_destination, pair_problem, user_config
from mobile_backups.nextcloud.forms import admin_form, personal_form
from mobile_backups.nextcloud.store import AppAuth

ADMIN = admin_config({})


def test_nothing_saved_means_the_code_defaults():
    config = user_config(ADMIN, {})
    assert config.inboxes == ("InstantUpload", "Photos", "AutoUpload") and config.library == "Photos"
    assert config.layout.template == "{year}/{month}" and config.enabled and not config.problems
    assert ADMIN.sweep_interval == 300 and ADMIN.values["access"] == "everyone"


@pytest.mark.parametrize("key, value, words", [
    ("layout", "{year}/{nonsense}", "unknown token {nonsense}"),
    ("layout", "/{year}", "absolute"),
    ("layout", "{year}/../x", "'..'"),
    ("layout", "", None),  # empty: not saved, the default applies
    ("library_folder", "Photos/../..", "'..'"),
    ("inbox_folders", "Camera\\Roll", "backslash"),
    ("default_timezone", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("sweep_interval", "5", "from 30 to 86400"),
    ("sweep_interval", "often", "whole number"),
    ("access", "friends", "'everyone' or 'groups'"),
])
def test_bad_values_are_refused_with_the_problem_named(key, value, words):
    problems = check({key: value}) if value else {}
    if words is None:
        assert not problems
    else:
        assert words in problems[key]


def test_a_library_inside_an_inbox_or_the_reverse_is_refused_but_the_same_folder_is_the_ios_case():
    assert "inside the inbox folder 'InstantUpload'" in pair_problem("InstantUpload", "InstantUpload/Sorted")
    assert "inside the library folder 'Photos'" in pair_problem("Photos/Upload, Camera", "Photos")
    assert pair_problem("InstantUpload, Photos", "Photos") is None


def test_an_invalid_personal_value_keeps_the_last_valid_one_in_force():
    good = user_config(ADMIN, {"layout": "{year}/{month_name}"})
    assert good.layout.template == "{year}/{month_name}" and not good.problems
    bad = user_config(ADMIN, {"layout": "{year}/{oops}"}, last_valid=good.values)
    assert bad.layout.template == "{year}/{month_name}"  # still the user's last valid layout, not the default
    assert "unknown token {oops}" in bad.problems["layout"]
    first_time_bad = user_config(ADMIN, {"layout": "{oops}"})
    assert first_time_bad.layout.template == ADMIN_DEFAULTS["default_layout"]


def test_a_library_moved_into_an_inbox_keeps_the_last_valid_pair():
    before = user_config(ADMIN, {"inbox_folders": "Camera", "library_folder": "Pictures"})
    after = user_config(ADMIN, {"inbox_folders": "Camera", "library_folder": "Camera/Sorted"}, last_valid=before.values)
    assert (after.inboxes, after.library) == (("Camera",), "Pictures")
    assert "inside the inbox folder 'Camera'" in after.problems["inbox_folders"]


def test_admin_defaults_apply_to_users_who_saved_nothing_and_invalid_admin_values_fall_back():
    admin = admin_config({"default_library_folder": "Library", "default_layout": "{year}", "sweep_interval": "2"},
                         last_valid={"sweep_interval": "600"})
    assert admin.sweep_interval == 600 and "sweep_interval" in admin.problems
    config = user_config(admin, {})
    assert config.library == "Library" and config.layout.template == "{year}"


def test_users_may_not_change_the_layout_when_the_admin_says_so():
    admin = admin_config({"users_may_change_layout": "0", "default_layout": "{year}"})
    assert user_config(admin, {"layout": "{year}/{month}/{day}"}).layout.template == "{year}"
    assert user_config(admin, {"library_folder": "Mine"}).library == "Mine"


def test_who_may_use_the_app():
    admin = admin_config({"access": "groups", "allowed_groups": "family, staff"})
    assert user_config(admin, {}, user_groups=("staff",)).enabled
    stranger = user_config(admin, {}, user_groups=("guests",))
    assert not stranger.enabled and "family, staff" in stranger.why_disabled
    assert not user_config(ADMIN, {"organise": "0"}).enabled


def test_the_users_nextcloud_time_zone_wins_then_the_admins_then_the_servers():
    admin = admin_config({"default_timezone": "Asia/Tokyo"})
    assert user_config(admin, {}, user_zone="America/New_York").zone == ZoneInfo("America/New_York")
    assert user_config(admin, {}, user_zone="", server_zone=ZoneInfo("UTC")).zone == ZoneInfo("Asia/Tokyo")
    assert user_config(ADMIN, {}, server_zone=ZoneInfo("Europe/Berlin")).zone == ZoneInfo("Europe/Berlin")


def test_the_example_follows_library_and_layout():
    assert example_destination({"library_folder": "Photos", "layout": "{year}/{month}"}) == "Photos/2024/11/IMG_1234.jpg"
    assert example_destination({"library_folder": "Pics/", "layout": "{year}/{year}{month}{day}_{stem}"}) == "Pics/2024/20241124_IMG_1234.jpg"


def test_forms_use_ids_unique_across_both_forms_and_only_known_keys():
    admin, personal = admin_form("http://nc/x"), personal_form("http://nc/x")
    admin_ids = [f["id"] for f in admin["fields"]]
    personal_ids = [f["id"] for f in personal["fields"]]
    assert not set(admin_ids) & set(personal_ids)
    assert set(admin_ids) == set(ADMIN_DEFAULTS)
    assert admin["section_id"] == personal["section_id"] == "declarative_settings"
    assert (admin["section_type"], personal["section_type"]) == ("admin", "personal")


def test_the_webhook_filter_lets_through_inboxes_only_and_just_the_top_level_of_a_library_inbox():
    """Our own moves into Photos/2024/11 fire events too: with the iOS default they are not even delivered."""
    custom = user_config(ADMIN, {"inbox_folders": "Camera Uploads, Photos", "library_folder": "Library"})
    regex = re.compile(path_filter(webhook_inboxes([user_config(ADMIN, {}), custom]))[1:-1])  # PHP's /…/ delimiters
    delivered = {p for p in ("/a/files/InstantUpload/x.jpg", "/a/files/AutoUpload/sub/x.jpg", "/a/files/Photos/x.jpg",
                             "/a/files/Photos/2024/11/x.jpg", "/a/files/Camera Uploads/x.jpg", "/a/files/Library/2024/x.jpg",
                             "/a/files/Documents/x.jpg", "/a/files/PhotosOld/x.jpg") if regex.search(p)}
    # Photos is an inbox in its own right for `custom` (its library is elsewhere): all of it is delivered
    assert delivered == {"/a/files/InstantUpload/x.jpg", "/a/files/AutoUpload/sub/x.jpg", "/a/files/Photos/x.jpg",
                         "/a/files/Photos/2024/11/x.jpg", "/a/files/Camera Uploads/x.jpg"}
    ios_only = re.compile(path_filter(webhook_inboxes([user_config(ADMIN, {})]))[1:-1])
    assert ios_only.search("/a/files/Photos/IMG_1.HEIC") and not ios_only.search("/a/files/Photos/2024/11/IMG_1.HEIC")


def test_webhooks_are_updated_in_place_and_left_exactly_one_per_event(tmp_path):
    """Enabling again (or after a crash) must neither drop the webhooks for a moment nor leave two of one."""
    created, written = "OCP\\Files\\Events\\Node\\NodeCreatedEvent", "OCP\\Files\\Events\\Node\\NodeWrittenEvent"
    hooks = {1: SimpleNamespace(webhook_id=1, app_id="mobile_backups", event=created),
             2: SimpleNamespace(webhook_id=2, app_id="mobile_backups", event=created),  # left by a crash
             3: SimpleNamespace(webhook_id=3, app_id="other_app", event=written)}
    calls = []

    class Webhooks:
        async def get_list(self):
            return list(hooks.values())

        async def register(self, method, uri, event, event_filter):
            calls.append(("register", event))
            new = max(hooks) + 1
            hooks[new] = SimpleNamespace(webhook_id=new, app_id="mobile_backups", event=event)

        async def update(self, webhook_id, method, uri, event, event_filter):
            calls.append(("update", webhook_id))

        async def unregister(self, webhook_id):
            calls.append(("unregister", webhook_id))
            del hooks[webhook_id]

    app = App(AppAuth("http://nc", "mobile_backups", "0.1.0", "s" * 64), tmp_path)
    asyncio.run(app._register_webhooks(SimpleNamespace(webhooks=Webhooks()), {"InstantUpload": False}))
    ours = sorted(h.event for h in hooks.values() if h.app_id == "mobile_backups")
    assert ours == sorted(EVENTS) and hooks[3].app_id == "other_app"
    assert ("update", 1) in calls and ("unregister", 2) in calls and ("unregister", 1) not in calls
