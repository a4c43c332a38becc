"""The quality transforms on real generated files, their metadata compared by exiftool before and after."""

from __future__ import annotations

import json
import subprocess
from functools import partial
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from mobile_backups import samples
from mobile_backups.rules.quality import pool, transforms, verify

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
EXIF = samples.Exif(date_time_original="2024:05:01 10:11:12", sub_sec_time_original="345", offset_time_original="+02:00",
                    make="Apple", model="iPhone 15 Pro", lens_model="iPhone 15 Pro back triple camera 6.86mm f/1.78",
                    gps=(48.8584, -2.2945))
KEPT = ("DateTimeOriginal", "SubSecTimeOriginal", "OffsetTimeOriginal", "Make", "Model", "LensModel", "GPSLatitude",
        "GPSLongitude", "ProfileDescription", "CreateDate")
XMP = samples.xmp_packet(**{"xmp:CreateDate": "2024-05-01T10:11:12+02:00"})


def exiftool(path: Path) -> dict:
    return json.loads(subprocess.run(["exiftool", "-j", "-n", str(path)], capture_output=True, text=True, check=True).stdout)[0]


def displayed(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def reference(orientation: int, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """How a viewer shows the sample picture tagged with `orientation`, worked out from the EXIF rule, not by the code under test."""
    picture = samples._picture(size, seed)
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture.info["exif"] = exif.tobytes()
    picture.getexif()[0x0112] = orientation
    return ImageOps.exif_transpose(picture)


def test_convert_keeps_the_metadata(tmp_path: Path) -> None:
    source = samples.phone_photo(tmp_path / "IMG_0001.HEIC", "heic", exif=EXIF, icc=SRGB, xmp=XMP, size=(320, 240))
    result = transforms.convert_heic(source, tmp_path / "IMG_0001.jpg")
    assert result.skipped is None and result.output and {"exif", "capture date", "GPS", "icc", "xmp", "orientation"} <= set(result.verified)
    before, after = exiftool(source), exiftool(tmp_path / "IMG_0001.jpg")
    assert {k: after.get(k) for k in KEPT} == {k: before.get(k) for k in KEPT} and before["GPSLongitude"] == pytest.approx(-2.2945, abs=1e-3)
    assert after["FileType"] == "JPEG" and abs(transforms.jpeg_quality(Image.open(tmp_path / "IMG_0001.jpg")) - 90) <= 1
    assert result.bytes_before == source.stat().st_size and result.bytes_after == (tmp_path / "IMG_0001.jpg").stat().st_size
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_convert_orientation(tmp_path: Path, orientation: int) -> None:
    source = samples.phone_photo(tmp_path / "o.heic", "heic", exif=samples.Exif(orientation=orientation), size=(96, 64), quality=95)
    assert exiftool(source).get("Orientation") == orientation  # the tag, and irot/imir from pillow_heif
    assert transforms.convert_heic(source, tmp_path / "o.jpg").skipped is None
    assert exiftool(tmp_path / "o.jpg").get("Orientation", 1) == 1  # the pixels are turned; the tag says so
    assert difference(displayed(tmp_path / "o.jpg"), reference(orientation, (96, 64))) < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_downscale_orientation_and_metadata(tmp_path: Path, orientation: int) -> None:
    exif = samples.Exif(**{**EXIF.__dict__, "orientation": orientation})
    source = samples.phone_photo(tmp_path / "big.jpg", "jpeg", exif=exif, icc=SRGB, size=(1200, 800), quality=95)
    result = transforms.downscale(source, tmp_path / "small.jpg", above_mp=0.5, to_mp=0.24)
    assert result.skipped is None and result.saved_percent >= 25
    before, after = exiftool(source), exiftool(tmp_path / "small.jpg")
    assert {k: after.get(k) for k in (*KEPT, "Orientation")} == {k: before.get(k) for k in (*KEPT, "Orientation")}
    assert after["ImageWidth"] == 600 and after["ImageHeight"] == 400
    assert difference(displayed(tmp_path / "small.jpg"), reference(orientation, (1200, 800)).resize(displayed(tmp_path / "small.jpg").size)) < 6


def test_downscale_thresholds(tmp_path: Path) -> None:
    source = samples.phone_photo(tmp_path / "p.jpg", "jpeg", size=(1000, 800))
    assert "not above" in transforms.downscale(source, tmp_path / "a.jpg", above_mp=1, to_mp=0.5).skipped
    assert "upscale" in transforms.downscale(source, tmp_path / "b.jpg", above_mp=0.5, to_mp=2).skipped
    small_saving = transforms.downscale(source, tmp_path / "c.jpg", above_mp=0.5, to_mp=0.75)
    assert "less than 25 %" in small_saving.skipped
    assert not (tmp_path / "a.jpg").exists() and not (tmp_path / "c.jpg").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg"]


def test_reencode_only_above_the_quality(tmp_path: Path) -> None:
    high = samples.phone_photo(tmp_path / "high.jpg", "jpeg", exif=EXIF, size=(800, 600), quality=98)
    result = transforms.reencode(high, tmp_path / "high.q80.jpg", quality=80, above_quality=90)
    assert result.skipped is None and result.saved_percent >= 25 and abs(transforms.jpeg_quality(Image.open(result.output)) - 80) <= 1
    assert exiftool(Path(result.output))["DateTimeOriginal"] == "2024:05:01 10:11:12"
    low = samples.phone_photo(tmp_path / "low.jpg", "jpeg", size=(800, 600), quality=75)
    assert "quality about 75" in transforms.reencode(low, tmp_path / "low.q80.jpg", quality=80, above_quality=90).skipped
    assert "not above 80" in transforms.reencode(low, tmp_path / "low.q80.jpg", quality=80).skipped  # by default: above the target


def test_p3_nclx_heic_keeps_its_colours(tmp_path: Path) -> None:
    p3 = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1}
    source = samples.phone_photo(tmp_path / "p3.heic", "heic", size=(64, 48), quality=95, nclx_profile=p3)
    assert transforms.convert_heic(source, tmp_path / "p3.jpg").skipped is None
    icc = exiftool(tmp_path / "p3.jpg")
    assert icc["ProfileDescription"] == "Display P3 (from nclx)"
    assert icc["RedMatrixColumn"] == "0.51512 0.2412 -0.00105"  # Apple's Display P3 profile's red colourant (D50)
    with Image.open(source) as heic, Image.open(tmp_path / "p3.jpg") as jpeg:
        assert difference(heic.convert("RGB"), jpeg.convert("RGB")) < 6  # the same numbers (less q90's loss), now labelled P3
    srgb = samples.phone_photo(tmp_path / "srgb.heic", "heic", size=(64, 48), nclx_profile={**p3, "color_primaries": 1})
    assert transforms.convert_heic(srgb, tmp_path / "srgb.jpg").skipped is None and "ProfileDescription" not in exiftool(tmp_path / "srgb.jpg")
    pq = samples.phone_photo(tmp_path / "pq.heic", "heic", size=(64, 48), nclx_profile={**p3, "color_primaries": 9, "transfer_characteristics": 16})
    assert "HDR" in transforms.convert_heic(pq, tmp_path / "pq.jpg").skipped and not (tmp_path / "pq.jpg").exists()


def test_convert_drops_motion_flags_but_keeps_the_rest_of_the_xmp(tmp_path: Path) -> None:
    xmp = samples.motion_xmp(None).replace(b'GCamera:MotionPhoto="1"', b'GCamera:MotionPhoto="1" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="2024-05-01T10:11:12"')
    source = samples.phone_photo(tmp_path / "flagged.heic", "heic", xmp=xmp)  # flags, no video: not a motion photo
    assert transforms.convert_heic(source, tmp_path / "flagged.jpg").skipped is None
    after = exiftool(tmp_path / "flagged.jpg")
    assert after["CreateDate"] == "2024:05:01 10:11:12" and not [k for k in after if "MotionPhoto" in k or k.startswith("DirectoryItem")]


def test_convert_refuses_a_large_exif(tmp_path: Path) -> None:
    from test_quality_gates import big_exif

    source = tmp_path / "large.heic"
    samples._picture((64, 48), 0).save(source, "HEIF", exif=big_exif(70_000))
    assert "does not fit in a JPEG" in transforms.convert_heic(source, tmp_path / "large.jpg").skipped
    assert not (tmp_path / "large.jpg").exists()


def test_a_heic_named_jpg_converts_and_nothing_is_overwritten(tmp_path: Path) -> None:
    source = samples.phone_photo(tmp_path / "IMG_0004.JPG", "heic", exif=EXIF)
    assert transforms.convert_heic(source, tmp_path / "IMG_0004.converted.jpg").skipped is None
    (tmp_path / "taken.jpg").write_bytes(b"someone's file")
    assert "already exists" in transforms.convert_heic(source, tmp_path / "taken.jpg").skipped
    assert (tmp_path / "taken.jpg").read_bytes() == b"someone's file"


def with_location(path: Path) -> Path:
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-photoshop:City=Paris", "-XMP-exif:GPSLatitude=48.8584 N",
                    str(path)], check=True)
    return path


@pytest.mark.parametrize("kind", ["jpeg", "heic"])
def test_strip_location_leaves_the_pixels_alone(tmp_path: Path, kind: str) -> None:
    source = with_location(samples.phone_photo(tmp_path / f"loc.{kind}", kind, exif=EXIF, icc=SRGB, size=(320, 240)))
    before = exiftool(source)
    assert verify.location_tags(verify.exiftool_json(source)[0])
    result = transforms.strip_location(source, tmp_path / f"out.{kind}")
    assert result.skipped is None and "pixels identical" in result.verified
    after = exiftool(tmp_path / f"out.{kind}")
    assert not [k for k in after if k.startswith("GPS") or k == "City"] and before["City"] == "Paris"
    assert {k: after.get(k) for k in KEPT[:6]} == {k: before.get(k) for k in KEPT[:6]}
    with Image.open(source) as a, Image.open(tmp_path / f"out.{kind}") as b:
        assert a.tobytes() == b.tobytes()
    if kind == "jpeg":
        assert verify.jpeg_scan(source) == verify.jpeg_scan(tmp_path / "out.jpeg") and len(verify.jpeg_scan(source)) > 1000
    assert "no location" in transforms.strip_location(tmp_path / f"out.{kind}", tmp_path / f"again.{kind}").skipped


def test_strip_location_of_a_video_and_a_motion_photo(tmp_path: Path) -> None:
    video = samples.video(tmp_path / "clip.mp4", seconds=0.5)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Keys:GPSCoordinates=48.8584, 2.2945, 30", str(video)], check=True)
    result = transforms.strip_location(video, tmp_path / "clip.stripped.mp4")
    assert result.skipped is None and "pixels identical" in result.verified
    assert "GPSCoordinates" not in exiftool(tmp_path / "clip.stripped.mp4")
    motion = samples.motion_photo_jpeg(tmp_path / "motion.jpg", video, exif=EXIF)
    result = transforms.strip_location(motion, tmp_path / "motion.stripped.jpg")
    assert result.skipped is None and "motion video identical" in result.verified


def test_pool_runs_a_batch_with_a_time_limit(tmp_path: Path) -> None:
    sources = [samples.phone_photo(tmp_path / f"{n}.heic", "heic", exif=EXIF, seed=n) for n in range(3)]
    jobs = [partial(transforms.convert_heic, s, s.with_suffix(".jpg")) for s in sources]
    results = list(pool.run(jobs, processes=2))
    assert sorted(r.output for r in results) == sorted(str(s.with_suffix(".jpg")) for s in sources)
    big = samples.phone_photo(tmp_path / "big.jpg", "jpeg", size=(4000, 3000))
    slow = list(pool.run([partial(transforms.downscale, big, tmp_path / "big.small.jpg", above_mp=1, to_mp=0.5)], processes=1, seconds=0.01))
    assert "took longer than 0.01 s" in slow[0].skipped and not (tmp_path / "big.small.jpg").exists()
    hungry = list(pool.run([partial(transforms.downscale, big, tmp_path / "big.small.jpg", above_mp=1, to_mp=8, min_saving_percent=0)],
                           processes=1, memory=16 * 2**20))  # the 12 MP decode alone needs 36 MB
    assert "MemoryError" in hungry[0].skipped and not (tmp_path / "big.small.jpg").exists()
    roomy = list(pool.run([partial(transforms.downscale, big, tmp_path / "big.small.jpg", above_mp=1, to_mp=8, min_saving_percent=0)],
                          processes=1))
    assert roomy[0].skipped is None
    assert 1 <= pool.workers() <= 64 and pool.workers(memory=pool.WORKER_MEMORY) == 1


def test_the_check_catches_a_broken_or_different_output(tmp_path: Path) -> None:
    source = samples.phone_photo(tmp_path / "ok.jpg", "jpeg", exif=EXIF, icc=SRGB, size=(640, 480))
    with Image.open(source) as image:
        exif, size = image.info["exif"], image.size
    assert verify.check_photo(source, size=size, exif=exif, icc=SRGB, xmp=None, orientation=1)[0] is None
    cut = samples.corrupt_copy(source, tmp_path / "cut.jpg", keep_bytes=source.stat().st_size // 2)
    assert "does not decode" in verify.check_photo(cut, size=size, exif=exif, icc=SRGB, xmp=None, orientation=1)[0]
    assert "not 320 x 240" in verify.check_photo(source, size=(320, 240), exif=exif, icc=SRGB, xmp=None, orientation=1)[0]
    assert "orientation" in verify.check_photo(source, size=size, exif=exif, icc=SRGB, xmp=None, orientation=6)[0]
    assert "ICC" in verify.check_photo(source, size=size, exif=exif, icc=SRGB + b"x", xmp=None, orientation=1)[0]
    other = samples.phone_photo(tmp_path / "other.jpg", "jpeg", exif=samples.Exif(make="Apple"), size=(640, 480))
    assert "EXIF" in verify.check_photo(other, size=size, exif=exif, icc=None, xmp=None, orientation=1)[0]


def test_a_file_cut_short_is_a_skip_with_its_reason(tmp_path: Path) -> None:
    whole = samples.phone_photo(tmp_path / "whole.heic", "heic", exif=EXIF, size=(320, 240))
    cut = samples.corrupt_copy(whole, tmp_path / "cut.heic", keep_bytes=whole.stat().st_size - 2000)
    result = pool.ACTIONS["convert"](cut, tmp_path / "cut.jpg")
    assert result.action == "convert" and result.skipped and result.output is None and not (tmp_path / "cut.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.heic", "whole.heic"]


def phone_video(path: Path, size: tuple[int, int], rotation: int) -> Path:
    """A phone-like MP4: H.264 with AAC audio, Apple's creation date (with offset), location, make and model, a rotation."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={size[0]}x{size[1]}:rate=25:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
                    "-metadata", "creation_time=2024-05-01T08:11:12Z", "-metadata", "com.apple.quicktime.creationdate=2024-05-01T10:11:12+0200",
                    "-metadata", "com.apple.quicktime.location.ISO6709=+48.8584+002.2945+030.000/",
                    "-metadata", "com.apple.quicktime.make=Apple", "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
                    "-movflags", "+use_metadata_tags", str(path)], check=True, capture_output=True)
    subprocess.run(["exiftool", "-q", "-overwrite_original", f"-Rotation={rotation}", str(path)], check=True)  # the track matrix
    return path


def test_reencode_video_above_1080p(tmp_path: Path) -> None:
    from mobile_backups.rules.quality import video

    source = phone_video(tmp_path / "IMG_0005.MP4", (1600, 1200), rotation=90)
    before = exiftool(source)
    assert before["Rotation"] == 90 and before["GPSCoordinates"]
    result = video.reencode_video(source, tmp_path / "IMG_0005.1080p.mp4", preset="ultrafast", min_saving_percent=10)
    assert result.skipped is None and {"decodes", "orientation", "audio", "CreationDate", "GPSCoordinates"} <= set(result.verified)
    after = exiftool(tmp_path / "IMG_0005.1080p.mp4")
    shown = (after["ImageHeight"], after["ImageWidth"]) if after.get("Rotation", 0) % 180 else (after["ImageWidth"], after["ImageHeight"])
    assert shown == (1080, 1440)  # portrait as before, short side 1080
    assert {k: after.get(k) for k in ("CreationDate", "GPSCoordinates", "Make", "Model", "CreateDate")} == \
        {k: before.get(k) for k in ("CreationDate", "GPSCoordinates", "Make", "Model", "CreateDate")}
    assert after["AudioFormat"] == before["AudioFormat"] == "mp4a"
    small = phone_video(tmp_path / "small.mp4", (640, 480), rotation=0)
    assert "not above 1080p" in video.reencode_video(small, tmp_path / "small.out.mp4").skipped
