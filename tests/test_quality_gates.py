"""The gates of the quality rules, each with a file it must stop and one it must let through, all real files."""

from __future__ import annotations

import json
import struct
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from mobile_backups import samples
from mobile_backups.rules.quality import gates, transforms


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return samples.video(tmp_path_factory.mktemp("video") / "clip.mp4", seconds=0.5)


def exiftool(path: Path, *tags: str) -> dict:
    return json.loads(subprocess.run(["exiftool", "-j", "-n", *tags, str(path)], capture_output=True, text=True, check=True).stdout)[0]


def test_google_motion_photo_needs_the_flag_and_the_video(tmp_path: Path, mp4: Path) -> None:
    motion = gates.probe_path(samples.motion_photo_jpeg(tmp_path / "PXL_motion.jpg", mp4))
    assert motion.motion and "MotionPhoto" in motion.motion
    assert "motion photo" in gates.refusal(motion, "downscale")
    assert gates.refusal(motion, "reencode") and gates.refusal(motion, "strip_location") is None  # metadata only: allowed
    flag_only = gates.probe_path(samples.motion_photo_jpeg(tmp_path / "PXL_flag_only.MP.jpg", None))  # a name never decides
    assert flag_only.motion is None and gates.refusal(flag_only, "downscale") is None


def test_micro_video_motion_photo(tmp_path: Path, mp4: Path) -> None:
    found = gates.probe_path(samples.motion_photo_jpeg(tmp_path / "MVIMG.jpg", mp4, micro_video=True))
    assert "MicroVideo" in found.motion and found.video[1] == mp4.stat().st_size
    cut = samples.corrupt_copy(tmp_path / "MVIMG.jpg", tmp_path / "cut.jpg", keep_bytes=(tmp_path / "MVIMG.jpg").stat().st_size - 100)
    assert gates.probe_path(cut).motion is None  # the offset no longer lands on an MP4


def test_samsung_motion_photo_trailer(tmp_path: Path, mp4: Path) -> None:
    path = samples.samsung_motion_jpeg(tmp_path / "20240501_101112.jpg", mp4)
    assert exiftool(path, "-EmbeddedVideoType")["EmbeddedVideoType"] == "MotionPhoto_Data"  # exiftool reads the same trailer
    found = gates.probe_path(path)
    assert "MotionPhoto_Data" in found.motion and found.video[1] == mp4.stat().st_size
    other = gates.probe_path(samples.samsung_motion_jpeg(tmp_path / "other.jpg", mp4, name=b"Image_UTC_Data"))
    assert other.motion is None and gates.refusal(other, "downscale") is None


def test_heic_motion_photo_mpvd_box(tmp_path: Path, mp4: Path) -> None:
    path = samples.motion_photo_heic(tmp_path / "motion.heic", mp4)
    assert "MotionPhotoVideo" in exiftool(path, "-MotionPhotoVideo")
    found = gates.probe_path(path)
    assert "mpvd" in found.motion and "motion photo" in gates.refusal(found, "convert")
    other = gates.probe_path(samples.motion_photo_heic(tmp_path / "free.heic", mp4, kind=b"free"))
    assert other.motion is None and gates.refusal(other, "convert") is None


@pytest.mark.parametrize(("aux_type", "what"), [
    ("urn:com:apple:photo:2020:aux:hdrgainmap", "an HDR gain map"),
    ("urn:mpeg:hevc:2015:auxid:2", "a depth map"),
    ("urn:com:apple:photo:2018:aux:portraiteffectsmatte", "a portrait matte"),
])
def test_heic_auxiliary_images(tmp_path: Path, aux_type: str, what: str) -> None:
    path = samples.heic_with_auxiliary(tmp_path / "aux.heic", aux_type)
    assert exiftool(path, "-AuxiliaryImageType")["AuxiliaryImageType"] == aux_type
    with Image.open(path) as image:
        image.load()  # the fixture is a real HEIC: the primary image still decodes
    found = gates.probe_path(path)
    assert found.auxiliary == [what] and what in gates.refusal(found, "convert")
    assert gates.refusal(gates.probe_path(samples.phone_photo(tmp_path / "plain.heic", "heic")), "convert") is None


def test_ultra_hdr_jpeg(tmp_path: Path) -> None:
    path = samples.ultra_hdr_jpeg(tmp_path / "ultrahdr.jpg")
    assert exiftool(path, "-NumberOfImages")["NumberOfImages"] == 2
    assert "gain map" in gates.refusal(gates.probe_path(path), "downscale")
    xmp_only = gates.probe_path(samples.ultra_hdr_jpeg(tmp_path / "xmp_only.jpg", secondary=False))
    assert xmp_only.auxiliary == [] and gates.refusal(xmp_only, "downscale") is None


def test_raw_by_content_whatever_the_name(tmp_path: Path) -> None:
    dng = tmp_path / "IMG_0001.jpg"
    Image.new("RGB", (32, 24)).save(dng, "TIFF", tiffinfo={50706: b"\x01\x04\x00\x00"})  # DNGVersion 1.4
    found = gates.probe_path(dng)
    assert found.format == "tiff" and "RAW" in gates.refusal(found, "downscale") and "RAW" in gates.refusal(found, "strip_location")
    assert gates.refusal(gates.probe_path(samples.phone_photo(tmp_path / "IMG_0002.dng", "jpeg")), "downscale") is None


def test_heic_named_jpg_is_a_heic(tmp_path: Path) -> None:
    found = gates.probe_path(samples.phone_photo(tmp_path / "IMG_0003.JPG", "heic"))
    assert found.format == "heif"
    assert gates.refusal(found, "convert") is None and "heif" in gates.refusal(found, "downscale")


def big_exif(size: int) -> bytes:
    exif = Image.Exif()
    exif[0x010E] = "x" * size  # ImageDescription
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 10:11:12"
    return exif.tobytes()


def test_exif_too_large_for_a_jpeg(tmp_path: Path) -> None:
    large = tmp_path / "large_exif.heic"
    samples._picture((64, 48), 0).save(large, "HEIF", exif=big_exif(70_000))
    found = gates.probe_path(large)
    assert found.exif_size > gates.JPEG_EXIF_MAX and "does not fit in a JPEG" in gates.refusal(found, "convert")
    assert gates.refusal(found, "strip_location") is None
    small = tmp_path / "small_exif.heic"
    samples._picture((64, 48), 0).save(small, "HEIF", exif=big_exif(1_000))
    assert 1_000 < gates.probe_path(small).exif_size < gates.JPEG_EXIF_MAX and gates.refusal(gates.probe_path(small), "convert") is None


def with_dimensions(path: Path, width: int, height: int) -> Path:
    """The JPEG with its SOF0 frame header claiming another size (the gate must refuse before any decode)."""
    data = bytearray(path.read_bytes())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    path.write_bytes(bytes(data))
    return path


def test_pixel_limit(tmp_path: Path) -> None:
    assert Image.MAX_IMAGE_PIXELS == gates.MAX_PIXELS == transforms.gates.MAX_PIXELS  # set deliberately, not Pillow's 89 MP
    huge = gates.probe_path(with_dimensions(samples.phone_photo(tmp_path / "huge.jpg", "jpeg"), 20_000, 14_000))
    assert "above the limit" in gates.refusal(huge, "downscale")
    phone_200mp = gates.probe_path(with_dimensions(samples.phone_photo(tmp_path / "200mp.jpg", "jpeg"), 16_320, 12_240))
    assert gates.refusal(phone_200mp, "downscale") is None


def test_hostile_files_are_refused_quickly(tmp_path: Path) -> None:
    for name, make in samples.HOSTILE.items():
        path = make(tmp_path / name)
        started = time.monotonic()
        found = gates.probe_path(path)
        assert time.monotonic() - started < 2, name
        if name.endswith(".heic"):
            assert found.problem and gates.refusal(found, "convert").startswith("not transformed"), name


@pytest.mark.parametrize("kind", ["heic", "jpeg"])
def test_live_photo_still_by_its_content_identifier(tmp_path: Path, kind: str) -> None:
    make = samples.heic if kind == "heic" else samples.jpeg
    still = gates.probe_path(make(tmp_path / f"IMG_0006.{kind}", exif=samples.Exif(make="Apple", content_id="A1B2C3D4-0000-4000-8000-00000000ABCD")))
    action = "convert" if kind == "heic" else "downscale"
    assert still.live_photo and "live photo" in gates.refusal(still, action) and gates.refusal(still, "strip_location") is None
    alone = gates.probe_path(make(tmp_path / f"IMG_0007.{kind}", exif=samples.Exif(make="Apple")))
    assert alone.live_photo is None and gates.refusal(alone, action) is None


def test_a_videos_size_as_it_shows_from_its_track_header(tmp_path: Path) -> None:
    wide = samples.video(tmp_path / "wide.mp4", size=(640, 360), seconds=0.5)
    turned = tmp_path / "upright.mp4"  # a phone held upright: landscape frames with a 90° display matrix
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wide), "-c", "copy", "-metadata:s:v", "rotate=90", str(turned)], check=True)
    assert exiftool(turned, "-Rotation")["Rotation"] in (90, 270)  # (ffmpeg and exiftool count the turn in opposite senses)
    assert (gates.probe_path(wide).width, gates.probe_path(wide).height) == (640, 360)
    assert (gates.probe_path(turned).width, gates.probe_path(turned).height) == (360, 640)
    unfinished = samples.corrupt_copy(wide, tmp_path / "unfinished.mp4", keep_bytes=wide.stat().st_size // 2)  # moov is at the end
    assert gates.refusal(gates.probe_path(unfinished), "reencode_video").startswith("not transformed: truncated file")
