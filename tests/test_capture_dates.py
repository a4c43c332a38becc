"""Every capture-date rule of the README, each on a real generated file."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mobile_backups import samples
from mobile_backups.samples import Exif
from conftest import analysed


def taken(path, **kw) -> tuple[str | None, str | None]:
    item = analysed(path, **kw)
    assert item.problem is None, item.problem
    return (item.capture.taken.iso() if item.capture.taken else None), item.capture.source


def test_date_time_original_with_subseconds_and_its_own_offset(tmp_path):
    f = samples.jpeg(tmp_path / "a.jpg", exif=Exif(date_time_original="2024:11:24 15:30:12", sub_sec_time_original="123", offset_time_original="+01:00"))
    assert taken(f) == ("2024-11-24T15:30:12.123+01:00", "exif")


def test_offset_time_of_ifd0_is_never_applied_to_date_time_original(tmp_path):
    f = samples.jpeg(tmp_path / "a.jpg", exif=Exif(date_time_original="2024:11:24 15:30:12", offset_time="+05:00", modify_date="2024:12:01 10:00:00"))
    assert taken(f) == ("2024-11-24T15:30:12", "exif")


def test_create_date_with_its_offset_when_date_time_original_is_missing(tmp_path):
    f = samples.jpeg(tmp_path / "a.jpg", exif=Exif(create_date="2023:07:01 08:00:00", offset_time_digitized="-04:00", offset_time_original="+09:00"))
    assert taken(f) == ("2023-07-01T08:00:00-04:00", "exif")


def test_modify_date_is_never_a_capture_date(tmp_path):
    f = samples.jpeg(tmp_path / "IMG_0003.jpg", exif=Exif(modify_date="2024:12:30 10:00:00"), mtime=datetime(2024, 6, 1, 12, tzinfo=timezone.utc).timestamp())
    assert taken(f) == ("2024-06-01T14:00:00+02:00", "mtime")


@pytest.mark.parametrize("bad", ["0000:00:00 00:00:00", "    :  :     :  :  ", "", "2024:00:10 10:00:00", "2024:02:30 10:00:00", "2024:11:24 25:00:00", "1970:01:01 00:00:00", "1969:12:31 23:59:59", "garbage"])
def test_impossible_exif_values_fall_through_to_the_next_source(tmp_path, bad):
    f = samples.jpeg(tmp_path / "IMG_20220305_101112.jpg", exif=Exif(date_time_original=bad, create_date="2022:03:05 10:11:13"))
    assert taken(f) == ("2022-03-05T10:11:13", "exif")


def test_old_dates_are_fine(tmp_path):
    f = samples.jpeg(tmp_path / "scan.jpg", exif=Exif(date_time_original="1955:06:15 12:00:00"))
    assert taken(f) == ("1955-06-15T12:00:00", "exif")


def test_xmp_order_when_exif_has_no_date(tmp_path):
    xmp = samples.xmp_packet(**{"xmp:CreateDate": "2021-01-02T03:04:05", "photoshop:DateCreated": "2020-05-06T07:08:09+02:00", "exif:DateTimeDigitized": "2019-01-01T00:00:00"})
    f = samples.jpeg(tmp_path / "a.jpg", exif=Exif(make="Canon"), xmp=xmp)
    assert taken(f) == ("2020-05-06T07:08:09+02:00", "xmp")
    xmp = samples.xmp_packet(**{"exif:DateTimeOriginal": "2018-02-03T04:05:06", "xmp:CreateDate": "2021-01-02T03:04:05", "xmp:ModifyDate": "2025-01-01T00:00:00"})
    assert taken(samples.png(tmp_path / "b.png", xmp=xmp)) == ("2018-02-03T04:05:06", "xmp")


def test_xmp_modify_date_is_never_used(tmp_path):
    xmp = samples.xmp_packet(**{"xmp:ModifyDate": "2025-01-01T00:00:00"})
    f = samples.jpeg(tmp_path / "x.jpg", xmp=xmp, mtime=datetime(2021, 3, 3, 12, tzinfo=timezone.utc).timestamp())
    assert taken(f)[1] == "mtime"


def test_exif_beats_xmp(tmp_path):
    xmp = samples.xmp_packet(**{"exif:DateTimeOriginal": "2018-02-03T04:05:06"})
    f = samples.jpeg(tmp_path / "a.jpg", exif=Exif(date_time_original="2024:11:24 15:30:12"), xmp=xmp)
    assert taken(f) == ("2024-11-24T15:30:12", "exif")


@pytest.mark.parametrize("maker", [samples.heic, samples.png, samples.webp, samples.avif])
def test_exif_in_other_photo_containers(tmp_path, maker):
    f = maker(tmp_path / f"a.{maker.__name__}", exif=Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00"))
    assert taken(f) == ("2024-11-24T15:30:12+01:00", "exif")


def test_quicktime_creationdate_beats_mvhd_and_keeps_its_offset(tmp_path):
    f = samples.video(tmp_path / "IMG_0001.MOV", mvhd_utc=datetime(2024, 11, 24, 14, 30, 12), apple_creationdate="2024-11-24T09:30:12-0500")
    assert taken(f) == ("2024-11-24T09:30:12-05:00", "quicktime")  # New York wall clock, though the user is in Berlin


@pytest.mark.parametrize("faststart", [False, True])
def test_mvhd_is_utc_shown_in_the_users_zone(tmp_path, faststart):
    f = samples.video(tmp_path / "clip.mp4", mvhd_utc=datetime(2024, 12, 31, 23, 30), faststart=faststart)
    assert taken(f) == ("2025-01-01T00:30:00+01:00", "quicktime")


def test_zero_mvhd_falls_through_to_the_name(tmp_path):
    f = samples.video(tmp_path / "VID_20241124_153500.mp4")
    assert taken(f) == ("2024-11-24T15:35:00", "filename")


def test_quicktime_dates_are_for_videos_only(tmp_path):
    # A HEIC is an ISO-BMFF file too; with no EXIF date it must not use a QuickTime date.
    f = samples.heic(tmp_path / "IMG_20200101_120000.HEIC", exif=Exif(make="Apple"))
    assert taken(f) == ("2020-01-01T12:00:00", "filename")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("IMG_20241124_153012.jpg", "2024-11-24T15:30:12"),
        ("VID_20241124_153012.mp4", "2024-11-24T15:30:12"),
        ("PANO_20241124_153012.jpg", "2024-11-24T15:30:12"),
        ("MVIMG_20241124_153012.jpg", "2024-11-24T15:30:12"),
        ("PXL_20241124_153012345.jpg", "2024-11-24T16:30:12.345+01:00"),  # Pixel names are UTC
        ("20241124_153012.jpg", "2024-11-24T15:30:12"),
        ("Screenshot_20241124-153012.png", "2024-11-24T15:30:12"),
        ("Screenshot_2024-11-24-15-30-12-123_com.android.chrome.jpg", "2024-11-24T15:30:12"),
        ("Screenshot 2024-11-24 at 15.30.12.png", "2024-11-24T15:30:12"),
        ("Screen Shot 2020-01-02 at 3.04.05 PM.png", "2020-01-02T15:04:05"),
        ("IMG-20241124-WA0001.jpg", "2024-11-24"),
        ("signal-2024-11-24-153012.jpg", "2024-11-24T15:30:12"),
        ("2024-11-24 15.30.12.jpg", "2024-11-24T15:30:12"),
        ("24-11-24 15-30-12 1234.jpg", "2024-11-24T15:30:12"),
    ],
)
def test_file_name_patterns(tmp_path, name, expected):
    maker = samples.video if name.endswith(".mp4") else samples.png if name.endswith(".png") else samples.jpeg
    f = maker(tmp_path / name)
    assert taken(f) == (expected, "filename")


def test_impossible_date_in_a_name_falls_through_to_mtime(tmp_path):
    f = samples.jpeg(tmp_path / "IMG_20241340_153012.jpg", mtime=datetime(2024, 6, 1, 12, tzinfo=timezone.utc).timestamp())
    assert taken(f) == ("2024-06-01T14:00:00+02:00", "mtime")


def test_mtime_is_shown_in_the_requested_zone(tmp_path):
    from zoneinfo import ZoneInfo

    f = samples.jpeg(tmp_path / "photo.jpg", mtime=datetime(2024, 6, 1, 2, tzinfo=timezone.utc).timestamp())
    assert taken(f, zone=ZoneInfo("America/New_York")) == ("2024-05-31T22:00:00-04:00", "mtime")


def test_epoch_mtime_gives_no_date(tmp_path):
    f = samples.jpeg(tmp_path / "photo.jpg", mtime=0.0)
    item = analysed(f)
    assert item.capture.taken is None and "no usable capture date" in item.problem
