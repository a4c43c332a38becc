"""The rule model and matching: the issues' TOML examples, refusals that name the rule and the
problem, folder globs, kinds, exemptions and which rule takes a file."""

from __future__ import annotations

import pytest

from mobile_backups.rules.facts import FileFacts, kinds_of
from mobile_backups.rules.match import Scope, verdicts
from mobile_backups.rules.model import RulesError, glob_regex, load_rules

DAY = 86400
NOW = 1_800_000_000.0
EXAMPLES = '''
[[rules]]
name = "Old screenshots"
kinds = ["screenshot"]
older_than_days = 30
age_from = "capture"        # capture | upload | modified
action = "trash"

[[rules]]
name = "Messenger pictures"
kinds = ["messenger"]
folders = ["**"]            # globs below the library root
older_than_days = 90
action = "archive"
archive_to = "Archive"      # relative to the library root locally, to the user's root on Nextcloud

[[rules]]
name = "HEIC as JPEG too"
formats = ["heic"]
action = "convert"
to = "jpeg"
quality = 90                # the JPEG is written beside the HEIC; both are kept

[[rules]]
name = "Big photos to 16 MP"
kinds = ["photo"]
larger_than_mp = 20
action = "downscale"
to_mp = 16
min_saving_percent = 25

[[rules]]
name = "No location in shared albums"
folders = ["Shared/**"]
action = "strip_location"
'''


def old(path: str, days: float, **facts: object) -> FileFacts:
    return FileFacts(path, 1000, NOW - days * DAY, capture=NOW - days * DAY, **facts)  # type: ignore[arg-type]


def test_the_issues_examples_are_read_unchanged() -> None:
    rules = load_rules(EXAMPLES)
    assert [(r.name, r.action) for r in rules] == [
        ("Old screenshots", "trash"), ("Messenger pictures", "archive"), ("HEIC as JPEG too", "convert"),
        ("Big photos to 16 MP", "downscale"), ("No location in shared albums", "strip_location")]
    assert rules[0].older_than_days == 30 and rules[1].archive_to == "Archive" and rules[2].quality == 90
    assert rules[3].to_mp == 16 and rules[3].min_saving_percent == 25


@pytest.mark.parametrize(("text", "problem"), [
    ('[[rules]]\nname = "a"\nkinds = ["selfie"]\nolder_than_days = 1', "rule 1 ('a'): unknown kind 'selfie'"),
    ('[[rules]]\nname = "a"\nolder_than_days = -3', "rule 1 ('a'): older_than_days must be at least 0, not -3"),
    ('[[rules]]\nname = "a"\nolder_than_days = 3\naction = "archive"\narchive_to = "../elsewhere"', "archive_to must name a folder inside the library"),
    ('[[rules]]\nname = "a"\nolder_than_days = 3\narchive_to = "/tmp"', "archive_to must name a folder inside the library"),  # trash's fallback
    ('[[rules]]\nname = "a"\nolder_than_days = 3\naction = "tag"\ntag = "x"\narchive_to = "A"', "key 'archive_to' does not apply to action 'tag'"),
    ('[[rules]]\nname = "a"\nolder_than_days = 3\ncolour = "red"', "rule 1 ('a'): unknown key 'colour'"),
    ('[[rules]]\nname = "a"\nolder_than_days = 3\nto_mp = 4', "key 'to_mp' does not apply to action 'trash'"),
    ('[[rules]]\nname = "a"\naction = "delete"\nolder_than_days = 3', "unknown action 'delete'"),
    ('[[rules]]\nname = "a"', "needs older_than_days"),
    ('[[rules]]\nname = "a"\nolder_than_days = 3\n[[rules]]\nname = "a"\nolder_than_days = 4', "two rules are named 'a'"),
    ('[[rules]]\nname = "a"\nolder_than_days = "ten"', "older_than_days must be a whole number"),
    ('rules = [', "not valid TOML"),
])
def test_a_bad_rule_is_refused_with_the_rule_and_the_problem_named(text: str, problem: str) -> None:
    with pytest.raises(RulesError) as refused:
        load_rules(text)
    assert problem in str(refused.value)


def test_a_trash_rule_may_name_where_files_go_when_the_trash_bin_has_no_room() -> None:
    [rule] = load_rules('[[rules]]\nname = "a"\nolder_than_days = 3\narchive_to = "Archive/"')
    assert (rule.action, rule.archive_to) == ("trash", "Archive")


def test_one_bad_rule_refuses_the_whole_file() -> None:
    with pytest.raises(RulesError) as refused:
        load_rules(EXAMPLES + '\n[[rules]]\nname = "broken"\nkinds = ["selfie"]\nolder_than_days = 1\n')
    assert refused.value.problems == ["rule 6 ('broken'): unknown kind 'selfie' (known: photo, video, screenshot, messenger)"]


@pytest.mark.parametrize(("glob", "folder", "matches"), [
    ("**", "", True), ("**", "2024/05", True), ("Shared/**", "Shared", True), ("Shared/**", "Shared/a/b", True),
    ("Shared/**", "Sharedx", False), ("Shared/**", "Photos/Shared", False), ("*/05", "2024/05", True),
    ("*/05", "2024/x/05", False), ("**/WhatsApp*", "InstantUpload/WhatsApp Images", True), ("InstantUpload", "InstantUpload/x", False),
])
def test_folder_globs(glob: str, folder: str, matches: bool) -> None:
    assert bool(glob_regex(glob).match(folder)) is matches


@pytest.mark.parametrize(("path", "comment", "kinds"), [
    ("2024/05/IMG_0001.HEIC", None, {"photo"}),
    ("2024/05/IMG_0002.PNG", "Screenshot", {"photo", "screenshot"}),  # iOS names screenshots like photos
    ("Screenshot_20241124-153012_Chrome.jpg", None, {"photo", "screenshot"}),
    ("InstantUpload/Screenshots/x.png", None, {"photo", "screenshot"}),
    ("IMG-20241124-WA0003.jpg", None, {"photo", "messenger"}),
    ("VID-20241124-WA0003.mp4", None, {"video", "messenger"}),
    ("InstantUpload/WhatsApp Images/holiday.jpg", None, {"photo", "messenger"}),
    ("InstantUpload/Telegram/x.mp4", None, {"video", "messenger"}),
    ("notes.txt", None, set()),
])
def test_kinds(path: str, comment: str | None, kinds: set[str]) -> None:
    assert kinds_of(path, comment) == kinds


def test_verdicts_take_spare_and_skip_with_reasons() -> None:
    rules = load_rules(EXAMPLES)
    files = [
        old("2024/01/Screenshot_20240101-101010.png", 40),
        old("2024/01/Screenshot_20240102-101010.png", 10),  # too young
        old("2024/01/IMG-20240101-WA0001.jpg", 100, favorite=True),
        old("2024/01/IMG-20240101-WA0002.jpg", 100, tags=frozenset({"Keep"})),
        old("2024/01/IMG-20240101-WA0003.jpg", 100, shared_by="2024"),
        old("2024/01/IMG-20240101-WA0004.jpg", 100),
        old("Archive/2023/IMG-20230101-WA0001.jpg", 900),  # already archived: never taken again
        FileFacts("2024/01/Screenshot_nodate.png", 10, None),
    ]
    found = {(v.facts.name, v.rule.name): (v.action, v.reason, v.destination) for v in verdicts(rules, files, NOW, Scope.of("", [], rules))}
    assert found[("Screenshot_20240101-101010.png", "Old screenshots")] == ("trash", "screenshot; taken 40 days ago", None)
    assert ("Screenshot_20240102-101010.png", "Old screenshots") not in found
    assert found[("IMG-20240101-WA0001.jpg", "Messenger pictures")][:2] == ("exempt", "a favourite")
    assert found[("IMG-20240101-WA0002.jpg", "Messenger pictures")][:2] == ("exempt", "tagged “keep”")
    assert found[("IMG-20240101-WA0003.jpg", "Messenger pictures")][:2] == ("exempt", "in a shared folder (2024)")
    assert found[("IMG-20240101-WA0004.jpg", "Messenger pictures")] == (
        "archive", "messenger; taken 100 days ago", "Archive/2024/01/IMG-20240101-WA0004.jpg")
    assert not any(rule == "Big photos to 16 MP" and name == "IMG-20240101-WA0004.jpg" for name, rule in found), "taken by an earlier rule"
    assert ("IMG-20240101-WA0001.jpg", "Big photos to 16 MP") in found, "a spared file is still seen by later rules"
    assert not any(name == "IMG-20230101-WA0001.jpg" for name, _ in found)
    assert found[("Screenshot_nodate.png", "Old screenshots")][0] == "skip"


def test_the_video_of_a_live_photo_is_never_acted_on_directly() -> None:
    rules = load_rules('[[rules]]\nname = "old"\nolder_than_days = 1')
    files = [old("IMG_0001.HEIC", 5, live_peer="IMG_0001.MOV"), old("IMG_0001.MOV", 5, live_peer="IMG_0001.HEIC", live_video=True)]
    found = [(v.facts.name, v.action) for v in verdicts(rules, files, NOW, Scope.of("", [], rules))]
    assert found == [("IMG_0001.HEIC", "trash"), ("IMG_0001.MOV", "skip")]


def test_by_default_rules_look_in_the_library_and_the_inboxes_only() -> None:
    rules = load_rules('[[rules]]\nname = "old"\nolder_than_days = 1\nage_from = "upload"')
    files = [FileFacts(p, 1, None, upload=NOW - 5 * DAY) for p in ("Photos/2024/a.jpg", "InstantUpload/b.jpg", "Documents/c.jpg")]
    scope = Scope.of("Photos", ["InstantUpload"], rules)
    assert [v.facts.path for v in verdicts(rules, files, NOW, scope)] == ["Photos/2024/a.jpg", "InstantUpload/b.jpg"]
