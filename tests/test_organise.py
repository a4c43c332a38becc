"""`organise`, `plan` and `undo` through the CLI, on real generated files."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.samples import Exif
from conftest import cli, plan_json

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00", make="Apple", model="iPhone 15 Pro")
FIELDS = {"source", "taken", "date_source", "kind", "destination", "action", "reason", "damage", "bytes_read"}


def tree(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every file (the journal folder excluded)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".mobile_backups" not in p.parts
    }


def organise(inbox: Path, library: Path, *extra: str) -> dict[str, dict]:
    out = cli("organise", "--json", "--library", str(library), *extra, str(inbox)).stdout
    return {Path(r["source"]).name: r for r in map(json.loads, out.splitlines())}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "InstantUpload"
    folder.mkdir()
    return folder


def test_plan_reports_every_file_with_every_field(inbox):
    samples.heic(inbox / "IMG_0001.HEIC", exif=NOV)
    samples.video(inbox / "IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:13+0100")
    (inbox / "notes.txt").write_text("not media")
    (inbox / "empty.jpg").write_bytes(b"")
    plan = plan_json(str(inbox))
    assert set(plan) == {"IMG_0001.HEIC", "IMG_0001.MOV", "notes.txt", "empty.jpg"}
    assert all(set(r) == FIELDS for r in plan.values())
    assert plan["IMG_0001.HEIC"] | {"bytes_read": 0, "source": ""} == {
        "source": "", "taken": "2024-11-24T15:30:12+01:00", "date_source": "exif", "kind": "photo",
        "destination": "2024/11/IMG_0001.HEIC", "action": "move", "reason": None, "damage": None, "bytes_read": 0,
    }
    video = plan["IMG_0001.MOV"]
    assert (video["taken"], video["date_source"], video["kind"]) == ("2024-11-24T15:30:13+01:00", "quicktime", "video")
    assert (video["action"], video["destination"]) == ("companion", "2024/11/IMG_0001.MOV")
    assert plan["notes.txt"]["action"] == "skip" and plan["notes.txt"]["destination"] is None
    assert plan["empty.jpg"]["action"] == "skip" and "0 bytes" in plan["empty.jpg"]["reason"]
    assert list(inbox.iterdir())  # plan touched nothing
    assert len(list(inbox.iterdir())) == 4


def test_organise_moves_then_does_nothing_and_undo_puts_everything_back(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(inbox / "IMG_20241124_153012.jpg", exif=NOV)
    samples.jpeg(inbox / "IMG_0002.JPG", exif=Exif(date_time_original="2025:01:01 00:30:00", offset_time_original="+01:00"))
    samples.video(inbox / "VID_20240701_101010.mp4", mvhd_utc=datetime(2024, 7, 1, 8, 10, 10))
    (inbox / "notes.txt").write_text("x")
    before = tree(inbox)
    first = organise(inbox, library)
    assert tree(library) == {
        "2024/11/IMG_20241124_153012.jpg": before["IMG_20241124_153012.jpg"],
        "2025/01/IMG_0002.JPG": before["IMG_0002.JPG"],
        "2024/07/VID_20240701_101010.mp4": before["VID_20240701_101010.mp4"],
    }
    assert first["IMG_0002.JPG"]["taken"] == "2025-01-01T00:30:00+01:00"  # still 2024 in UTC, 2025 where it was taken
    second = organise(inbox, library)
    assert [r["action"] for r in second.values()] == ["skip"]
    journals = sorted((library / ".mobile_backups" / "journals").glob("*.jsonl"))
    assert len(journals) == 2
    result = cli("undo", str(journals[0]))
    assert "put back" in result.stdout
    assert tree(inbox) == before
    assert tree(library) == {}


def test_name_clash_gets_a_suffix_and_identical_content_is_a_duplicate(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(library / "2024/11/IMG_1.jpg", exif=NOV, seed=1)
    samples.jpeg(inbox / "IMG_1.jpg", exif=NOV, seed=2)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "same-as-library.jpg").write_bytes((library / "2024/11/IMG_1.jpg").read_bytes())
    result = organise(inbox, library)
    assert result["IMG_1.jpg"]["destination"] == "2024/11/IMG_1 (2).jpg"
    assert "taken by a different file" in result["IMG_1.jpg"]["reason"]
    dup = result["same-as-library.jpg"]
    assert (dup["action"], dup["destination"]) == ("duplicate", None)
    assert "2024/11/IMG_1.jpg" in dup["reason"]
    assert (inbox / "sub" / "same-as-library.jpg").exists()
    assert sorted(tree(library)) == ["2024/11/IMG_1 (2).jpg", "2024/11/IMG_1.jpg"]


def test_photos_of_the_same_size_are_told_apart_without_reading_them_whole(inbox, tmp_path):
    """A burst: the same scene, the same size, other dates. The heads differ, so nothing is read whole."""
    library = tmp_path / "lib"
    samples.jpeg(library / "2024/11/IMG_1.jpg", exif=NOV, seed=5, size=(1024, 768))
    samples.jpeg(inbox / "IMG_2.jpg", exif=Exif(date_time_original="2024:11:24 15:30:13", offset_time_original="+01:00",
                                                make="Apple", model="iPhone 15 Pro"), seed=5, size=(1024, 768))
    samples.jpeg(inbox / "IMG_3.jpg", exif=Exif(date_time_original="2024:11:24 15:30:14", offset_time_original="+01:00",
                                                make="Apple", model="iPhone 15 Pro"), seed=5, size=(1024, 768))
    size = (inbox / "IMG_2.jpg").stat().st_size
    assert size == (inbox / "IMG_3.jpg").stat().st_size == (library / "2024/11/IMG_1.jpg").stat().st_size > 200_000
    result = organise(inbox, library)
    assert [result[n]["action"] for n in ("IMG_2.jpg", "IMG_3.jpg")] == ["move", "move"]
    assert all(r["bytes_read"] <= 64 * 1024 for r in result.values()), result


def test_identical_files_in_one_batch_are_placed_once(inbox, tmp_path):
    samples.jpeg(inbox / "a.jpg", exif=NOV)
    (inbox / "b.jpg").write_bytes((inbox / "a.jpg").read_bytes())
    (inbox / "IMG_20200101_000001.jpg").write_bytes((inbox / "a.jpg").read_bytes())
    result = organise(inbox, tmp_path / "lib")
    assert result["a.jpg"]["action"] == "move"  # the shortest name is kept, the copies are reported
    assert [r["action"] for r in result.values()].count("move") == 1
    assert [r["action"] for r in result.values()].count("duplicate") == 2
    assert len(tree(tmp_path / "lib")) == 1 and len(tree(inbox)) == 2


def test_live_photo_pair_moves_together_and_renames_together(inbox, tmp_path):
    library = tmp_path / "lib"
    samples.video(library / "2024/11/IMG_0001.MOV", apple_creationdate="2023-01-01T00:00:00+0000")  # someone else's
    samples.heic(inbox / "IMG_0001.HEIC", exif=Exif(date_time_original="2024:11:30 23:59:59", offset_time_original="+01:00"))
    # the video half was recorded two seconds later, just after midnight: it still follows the still
    samples.video(inbox / "IMG_0001.MOV", apple_creationdate="2024-12-01T00:00:01+0100")
    result = organise(inbox, library)
    assert result["IMG_0001.HEIC"]["destination"] == "2024/11/IMG_0001 (2).HEIC"
    assert result["IMG_0001.MOV"]["destination"] == "2024/11/IMG_0001 (2).MOV"
    assert result["IMG_0001.MOV"]["taken"] == "2024-12-01T00:00:01+01:00"  # each half reports its own date


def test_sidecars_and_edited_copies_follow_their_photo(inbox, tmp_path):
    samples.heic(inbox / "IMG_0001.HEIC", exif=NOV)
    samples.heic(inbox / "IMG_E0001.HEIC", exif=Exif(date_time_original="2025:03:01 10:00:00"))
    (inbox / "IMG_0001.AAE").write_text("<plist/>")
    (inbox / "IMG_O0001.AAE").write_text("<plist/>")
    samples.jpeg(inbox / "IMG_5.jpg", exif=NOV)
    (inbox / "IMG_5.jpg.xmp").write_text("<x:xmpmeta/>")
    (inbox / "IMG_5.jpg.supplemental-metadata.json").write_text("{}")
    samples.jpeg(inbox / "IMG_6.jpg", exif=Exif(date_time_original="2023:05:05 05:05:05"))
    (inbox / "IMG_6.xmp").write_text("<x:xmpmeta/>")
    (inbox / "IMG_9.xmp").write_text("<x:xmpmeta/>")  # its photo is not here
    result = organise(inbox, tmp_path / "lib")
    expected = {
        "IMG_E0001.HEIC": "2024/11/IMG_E0001.HEIC",
        "IMG_0001.AAE": "2024/11/IMG_0001.AAE",
        "IMG_O0001.AAE": "2024/11/IMG_O0001.AAE",
        "IMG_5.jpg.xmp": "2024/11/IMG_5.jpg.xmp",
        "IMG_5.jpg.supplemental-metadata.json": "2024/11/IMG_5.jpg.supplemental-metadata.json",
        "IMG_6.xmp": "2023/05/IMG_6.xmp",
    }
    for name, destination in expected.items():
        assert (result[name]["action"], result[name]["destination"]) == ("companion", destination), name
    assert result["IMG_9.xmp"]["action"] == "skip" and (inbox / "IMG_9.xmp").exists()


@pytest.mark.parametrize(
    ("name", "maker", "keep", "action"),  # cut after its metadata: damaged but the user's photo; before: stays
    [("broken.jpg", samples.jpeg, 300, "move"), ("half.jpg", samples.jpeg, -2, "move"), ("cut.HEIC", samples.heic, -200, "move"),
     ("cut.png", samples.png, -10, "move"), ("cut.mp4", samples.video, -100, "skip"), ("cut.webp", samples.webp, -50, "skip")],
)
def test_corrupt_and_truncated_media_stay_with_a_reason(inbox, tmp_path, name, maker, keep, action):
    whole = maker(tmp_path / ("whole" + Path(name).suffix), **({"exif": NOV} if maker is not samples.video else {"mvhd_utc": datetime(2024, 1, 1)}))
    size = whole.stat().st_size
    samples.corrupt_copy(whole, inbox / name, keep_bytes=keep if keep > 0 else size + keep)
    samples.jpeg(inbox / "fine.jpg", exif=NOV)
    result = organise(inbox, tmp_path / "lib")
    assert result[name]["action"] == action and "truncated" in result[name]["reason"]
    assert (inbox / name).exists() == (action == "skip")
    assert (result[name]["damage"] is not None) == (action == "move")
    assert result["fine.jpg"]["action"] == "move"  # the run goes on


def test_not_media_in_disguise_and_odd_names(inbox, tmp_path):
    (inbox / "fake.jpg").write_text("this is text")
    samples.jpeg(inbox / ".hidden.jpg", exif=NOV, seed=1)
    samples.jpeg(inbox / "Ünïcödé café 📷.jpg", exif=NOV, seed=2)
    long_name = "IMG_" + "x" * 230 + ".jpg"
    samples.jpeg(inbox / long_name, exif=NOV, seed=3)
    (inbox / "link.jpg").symlink_to(inbox / long_name)
    result = organise(inbox, tmp_path / "lib")
    assert result["link.jpg"]["action"] == "skip" and "symbolic link" in result["link.jpg"]["reason"]
    assert result["fake.jpg"]["action"] == "skip" and "not a recognised" in result["fake.jpg"]["reason"]
    assert result[".hidden.jpg"]["action"] == "skip" and "hidden" in result[".hidden.jpg"]["reason"]
    assert result["Ünïcödé café 📷.jpg"]["destination"] == "2024/11/Ünïcödé café 📷.jpg"
    assert result[long_name]["destination"] == f"2024/11/{long_name}"


def test_bad_template_and_zone_are_refused_clearly(inbox, tmp_path):
    samples.jpeg(inbox / "a.jpg", exif=NOV)
    bad = cli("organise", "--library", str(tmp_path / "lib"), "--layout", "{year}/../{month}", str(inbox), check=False)
    assert bad.returncode != 0 and "'..'" in bad.stderr
    bad = cli("plan", "--timezone", "Mars/Olympus", str(inbox), check=False)
    assert bad.returncode != 0 and "unknown time zone 'Mars/Olympus'" in bad.stderr
    assert (inbox / "a.jpg").exists()


def test_custom_layout_and_timezone(inbox):
    samples.video(inbox / "clip.mp4", mvhd_utc=datetime(2024, 3, 31, 23, 30))
    plan = plan_json("--layout", "{year}/{month_name}/{kind}", "--timezone", "Asia/Tokyo", str(inbox))
    assert plan["clip.mp4"]["taken"] == "2024-04-01T08:30:00+09:00"
    assert plan["clip.mp4"]["destination"] == "2024/April/video/clip.mp4"


def test_library_inside_the_inbox_is_left_alone(tmp_path):
    photos = tmp_path / "Photos"  # iOS: the upload folder is also the library
    samples.jpeg(photos / "IMG_1.jpg", exif=NOV)
    samples.jpeg(photos / "2023/01/IMG_0.jpg", exif=NOV, seed=1)  # organised earlier, by hand, somewhere else
    result = organise(photos, photos)
    assert result["IMG_1.jpg"]["destination"] == "2024/11/IMG_1.jpg"
    assert result["IMG_0.jpg"]["action"] == "skip" and result["IMG_0.jpg"]["reason"] == "already in the library"
    assert (photos / "2023/01/IMG_0.jpg").exists()


def test_screenshots_are_their_own_kind(inbox):
    samples.png(inbox / "Screenshot_20241124-153012.png")
    assert plan_json(str(inbox))["Screenshot_20241124-153012.png"]["kind"] == "screenshot"
