"""File-name dates of the apps people really use, each on a real generated file without metadata."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mobile_backups import samples
from mobile_backups.core.filenames import date_from_name
from mobile_backups.core.kinds import kind_of
from conftest import analysed

MTIME = datetime(2023, 6, 1, 12, tzinfo=timezone.utc).timestamp()  # 2023-06-01T14:00:00+02:00 in Berlin
BY_MTIME = ("2023-06-01T14:00:00+02:00", "mtime")

SCHEMES = [
    # Windows
    ("Snipping Tool", "Screenshot 2024-11-24 153012.png", "2024-11-24T15:30:12"),
    ("Windows Camera / Photos", "WIN_20241124_15_30_12_Pro.jpg", "2024-11-24T15:30:12"),
    ("Windows Camera video", "WIN_20241124_15_30_12_Pro.mp4", "2024-11-24T15:30:12"),
    # Telegram
    ("Telegram Desktop photo", "photo_2024-11-24_15-30-12.jpg", "2024-11-24T15:30:12"),
    ("Telegram Desktop video", "video_2024-11-24_15-30-12.mp4", "2024-11-24T15:30:12"),
    ("Telegram Android", "IMG_20241124_153012_123.jpg", "2024-11-24T15:30:12"),
    # Signal
    ("Signal, dashed time and millis", "signal-2024-11-24-15-30-12-123.jpg", "2024-11-24T15:30:12"),
    ("Signal", "signal-2024-11-24-153012.jpg", "2024-11-24T15:30:12"),
    ("Signal, numbered", "signal-2024-11-24-153012_002.jpg", "2024-11-24T15:30:12"),
    # WhatsApp
    ("WhatsApp Android", "IMG-20241124-WA0001.jpg", "2024-11-24"),
    ("WhatsApp Desktop image", "WhatsApp Image 2024-11-24 at 15.30.12.jpeg", "2024-11-24T15:30:12"),
    ("WhatsApp Desktop video, copy", "WhatsApp Video 2024-11-24 at 15.30.12 (1).mp4", "2024-11-24T15:30:12"),
    ("WhatsApp Desktop, 12-hour clock", "WhatsApp Image 2024-11-24 at 3.30.12 PM.jpeg", "2024-11-24T15:30:12"),
    # Google Takeout (Pixel names are UTC)
    ("Takeout Pixel", "PXL_20241124_143012345.jpg", "2024-11-24T15:30:12.345+01:00"),
    ("Takeout Pixel motion photo", "PXL_20241124_143012345.MP.jpg", "2024-11-24T15:30:12.345+01:00"),
    ("Takeout copy", "IMG_20241124_153012(1).jpg", "2024-11-24T15:30:12"),
    ("Takeout original of an edit", "original_0b7f7c3e-1a2b-4c5d-9e8f-123456789012_PXL_20241124_143012345.jpg", "2024-11-24T15:30:12.345+01:00"),
    # Android camera apps
    ("Samsung / LG", "20241124_153012.jpg", "2024-11-24T15:30:12"),
    ("Samsung burst", "20241124_153012_001.jpg", "2024-11-24T15:30:12"),
    ("Xiaomi / Huawei", "IMG_20241124_153012.jpg", "2024-11-24T15:30:12"),
    ("OnePlus / Oppo / Realme", "IMG20241124153012.jpg", "2024-11-24T15:30:12"),
    ("Oppo video", "VID20241124153012.mp4", "2024-11-24T15:30:12"),
    ("Motorola", "IMG_20241124_153012456.jpg", "2024-11-24T15:30:12.456"),
    ("Samsung screenshot", "Screenshot_20241124_153012_Chrome.jpg", "2024-11-24T15:30:12"),
    ("Xiaomi screenshot", "Screenshot_2024-11-24-15-30-12-123_com.android.chrome.jpg", "2024-11-24T15:30:12"),
    ("Samsung screen recording", "Screen_Recording_20241124-153012_App.mp4", "2024-11-24T15:30:12"),
    ("AOSP screen recording", "screen-20241124-153012.mp4", "2024-11-24T15:30:12"),
    # Apple
    ("iOS / macOS screenshot", "Screenshot 2024-11-24 at 15.30.12.png", "2024-11-24T15:30:12"),
    ("macOS screen recording", "Screen Recording 2024-11-24 at 15.30.12.mov", "2024-11-24T15:30:12"),
    ("macOS 12-hour clock, narrow space", "Screenshot 2024-11-24 at 3.30.12\u202fPM.png", "2024-11-24T15:30:12"),
    ("macOS German", "Bildschirmfoto 2024-11-24 um 15.30.12.png", "2024-11-24T15:30:12"),
    ("macOS Spanish", "Captura de pantalla 2024-11-24 a las 15.30.12.png", "2024-11-24T15:30:12"),
    ("macOS Swedish", "Skärmavbild 2024-11-24 kl. 15.30.12.png", "2024-11-24T15:30:12"),
    # Nextcloud apps
    ("Nextcloud Android, camera in the app", "2024-11-24_153012.jpg", "2024-11-24T15:30:12"),
    ("Nextcloud iOS default", "24-11-24 15-30-12 1234.jpg", "2024-11-24T15:30:12"),
    ("Nextcloud iOS with the type", "Photo 24-11-24 15-30-12 1234.jpg", "2024-11-24T15:30:12"),
    # Names people give
    ("underscored time", "2024-11-24 15_30_12.jpg", "2024-11-24T15:30:12"),
    ("dotted time", "2024-11-24 15.30.12.jpg", "2024-11-24T15:30:12"),
    ("date only", "2024-11-24.jpg", "2024-11-24"),
    ("date only, copy", "2024-11-24 (1).jpg", "2024-11-24"),
    ("date only, copy without a space", "2024-11-24(2).png", "2024-11-24"),
]


def _make(path):
    name = path.name.lower()
    maker = samples.video if name.endswith((".mp4", ".mov")) else samples.png if name.endswith(".png") else samples.jpeg
    return maker(path, mtime=MTIME)


@pytest.mark.parametrize(("app", "name", "expected"), SCHEMES, ids=[s[0] for s in SCHEMES])
def test_each_naming_scheme_gives_its_date(tmp_path, app, name, expected):
    item = analysed(_make(tmp_path / name))
    assert item.problem is None, item.problem
    assert (item.capture.taken.iso(), item.capture.source) == (expected, "filename")


@pytest.mark.parametrize(
    "name",
    [
        "DSC_0001.JPG",  # Sony: a counter, no date
        "DSC_20241124.jpg",  # a counter that looks like a day
        "IMG_1234.jpg",
        "d41d8cd98f00b204e9800998ecf8427e.jpg",  # a hash
        "3f9a1c20-2411-4c5d-9e8f-202411241530.jpg",  # a UUID with digit runs
        "20241124153012345678.jpg",  # a bare digit run
        "1732462212345.jpg",  # a millisecond timestamp
        "IMG_20241124_1530123.jpg",  # seven digits are not a time
        "9999-12-31.jpg",  # a placeholder, not a year
    ],
)
def test_numbers_that_are_not_dates_are_not_read(tmp_path, name):
    assert date_from_name(name) is None
    assert (analysed(_make(tmp_path / name)).capture.taken.iso(), "mtime") == BY_MTIME


@pytest.mark.parametrize(
    "name",
    ["IMG_20241340_153012.jpg", "2024-02-30.jpg", "2024-11-24 25.30.12.jpg", "Screenshot 2024-11-24 at 13.30.12 PM.png",
     "IMG20241124256012.jpg", "WIN_20241124_15_61_12_Pro.jpg", "24-13-24 15-30-12 1234.jpg"],
)
def test_an_impossible_date_falls_through_to_the_next_source(tmp_path, name):
    item = analysed(_make(tmp_path / name))
    assert (item.capture.taken.iso(), item.capture.source) == BY_MTIME


def test_an_impossible_date_falls_through_to_the_next_pattern():
    # the compact date is impossible (month 13), the dashed one after it is read
    assert date_from_name("IMG_20241340_153012 2024-11-24 10.00.00.jpg") == (datetime(2024, 11, 24, 10), False, False)
    # the first dashed date is impossible, the second one is read
    assert date_from_name("2024-02-30 copy of 2024-02-28.jpg") == (datetime(2024, 2, 28), False, True)


def test_metadata_beats_the_name(tmp_path):
    f = samples.jpeg(tmp_path / "2024-11-24.jpg", exif=samples.Exif(date_time_original="2020:05:06 07:08:09"))
    assert analysed(f).capture.source == "exif"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Screenshot 2024-11-24 153012.png", "screenshot"),  # Windows Snipping Tool
        ("Screenshot (12).png", "screenshot"),  # Windows Win+PrtScn
        ("Screenshot_20241124_153012_Chrome.jpg", "screenshot"),
        ("Captura de pantalla 2024-11-24 a las 15.30.12.png", "screenshot"),
        ("Skärmavbild 2024-11-24 kl. 15.30.12.png", "screenshot"),
        ("Screen Recording 2024-11-24 at 15.30.12.mov", "video"),
        ("WIN_20241124_15_30_12_Pro.jpg", "photo"),
        ("photo_2024-11-24_15-30-12.jpg", "photo"),
    ],
)
def test_screenshot_kind(name, kind):
    assert kind_of(name) == kind
