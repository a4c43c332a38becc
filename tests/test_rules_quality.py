"""Quality rules on a local library through `python -m mobile_backups rules`, on real generated files: the
issue's three examples unchanged (a HEIC gets a JPEG beside it, a 21 MP JPEG is downscaled to 16 MP with
its original in Originals/, a shared photo loses its location with its pixels untouched), the gates'
skips in the preview, no second transform of what a rule made, undo by hash, and kill -9 at every step
of a quality run and of its undo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from mobile_backups import samples
from mobile_backups.rules.quality import verify
from mobile_backups.samples import Exif
from conftest import ROOT
from test_crash import ENV, killed_runs
from test_organise import tree
from test_rules_local import journal_of, rules, rules_file
from test_rules_model import EXAMPLES

QUALITY = "[[rules]]\nname = \"HEIC as JPEG too\"" + EXAMPLES.split("[[rules]]\nname = \"HEIC as JPEG too\"")[1]
MARCH = Exif(date_time_original="2024:03:02 10:00:00", offset_time_original="+01:00", make="Apple", model="iPhone 15 Pro",
             gps=(48.8584, 2.2945))


def exiftool(path: Path) -> dict:
    return json.loads(subprocess.run(["exiftool", "-j", "-n", str(path)], capture_output=True, text=True, check=True).stdout)[0]


def make_library(library: Path, big: tuple[int, int] = (5616, 3744)) -> None:
    """A HEIC, a big JPEG (21 MP by default), a shared photo with GPS, and a live photo's still (never converted)."""
    samples.phone_photo(library / "2024/03/IMG_1000.HEIC", "heic", exif=MARCH, size=(320, 240), seed=1)
    samples.phone_photo(library / "2024/03/IMG_1001.jpg", "jpeg", exif=MARCH, size=big, seed=2, quality=95)
    samples.phone_photo(library / "Shared/Trip/IMG_1002.jpg", "jpeg", exif=MARCH, size=(320, 240), seed=3)
    samples.heic(library / "2024/03/IMG_1003.HEIC", exif=Exif(date_time_original="2024:03:02 10:00:00", content_id="A-B-C"), seed=4)
    samples.video(library / "2024/03/IMG_1003.MOV", apple_creationdate="2024-03-02T10:00:01+0100", content_id="A-B-C")


def lines(done: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], dict]:
    return {(r["source"], r["rule"]): r for r in map(json.loads, done.stdout.splitlines())}


def test_the_issues_quality_examples_run_and_undo(tmp_path: Path) -> None:
    library = tmp_path / "library"
    make_library(library)
    pristine = tree(library)
    before_gps = exiftool(library / "Shared/Trip/IMG_1002.jpg")
    pixels = verify.pixel_digest(library / "Shared/Trip/IMG_1002.jpg")

    _, preview = rules(tmp_path, library, QUALITY, "--dry-run")
    seen = lines(preview)
    assert seen[("2024/03/IMG_1000.HEIC", "HEIC as JPEG too")]["action"] == "convert"
    assert seen[("2024/03/IMG_1000.HEIC", "HEIC as JPEG too")]["destination"] == "2024/03/IMG_1000.jpg"
    assert "not space" in seen[("2024/03/IMG_1000.HEIC", "HEIC as JPEG too")]["reason"]
    assert "21.0 MP to 16 MP" in seen[("2024/03/IMG_1001.jpg", "Big photos to 16 MP")]["reason"]
    assert seen[("Shared/Trip/IMG_1002.jpg", "No location in shared albums")]["action"] == "strip_location"
    assert seen[("2024/03/IMG_1003.HEIC", "HEIC as JPEG too")]["action"] == "skip"
    assert "still of a live photo" in seen[("2024/03/IMG_1003.HEIC", "HEIC as JPEG too")]["reason"]
    assert ("2024/03/IMG_1000.HEIC", "Big photos to 16 MP") not in seen, "a downscale takes JPEGs only"
    assert tree(library) == pristine

    _, done = rules(tmp_path, library, QUALITY, "--confirm")
    outcome = lines(done)
    assert outcome[("2024/03/IMG_1000.HEIC", "HEIC as JPEG too")]["destination"] == "2024/03/IMG_1000.jpg"
    converted = exiftool(library / "2024/03/IMG_1000.jpg")
    assert converted["FileType"] == "JPEG" and converted["DateTimeOriginal"] == "2024:03:02 10:00:00"
    assert (library / "2024/03/IMG_1000.HEIC").exists(), "both are kept"
    assert (library / "2024/03/IMG_1000.jpg").stat().st_mtime == (library / "2024/03/IMG_1000.HEIC").stat().st_mtime

    small = exiftool(library / "2024/03/IMG_1001.jpg")
    assert abs(small["ImageWidth"] * small["ImageHeight"] - 16e6) < 0.02e6 and small["Model"] == "iPhone 15 Pro"
    assert tree(library)["Originals/2024/03/IMG_1001.jpg"] == pristine["2024/03/IMG_1001.jpg"]
    assert outcome[("2024/03/IMG_1001.jpg", "Big photos to 16 MP")]["destination"] == "Originals/2024/03/IMG_1001.jpg"
    assert "→" in outcome[("2024/03/IMG_1001.jpg", "Big photos to 16 MP")]["reason"], "the sizes before and after"

    stripped = exiftool(library / "Shared/Trip/IMG_1002.jpg")
    assert "GPSLatitude" in before_gps and not verify.location_tags(stripped) and stripped["DateTimeOriginal"] == "2024:03:02 10:00:00"
    assert verify.pixel_digest(library / "Shared/Trip/IMG_1002.jpg") == pixels
    assert tree(library)["Originals/Shared/Trip/IMG_1002.jpg"] == pristine["Shared/Trip/IMG_1002.jpg"]
    assert not [p for p in library.rglob("*") if ".mobile-backups-" in p.name or p.name.endswith(".partial")]

    _, again = rules(tmp_path, library, QUALITY, "--dry-run")
    second = lines(again)
    assert "already transformed by this rule" in second[("2024/03/IMG_1000.HEIC", "HEIC as JPEG too")]["reason"]
    assert "made by Mobile Backups" in second[("Shared/Trip/IMG_1002.jpg", "No location in shared albums")]["reason"]
    assert not [r for r in second.values() if r["action"] not in ("skip", "exempt")], "nothing is transformed twice"
    assert not [k for k in second if k[0].startswith("Originals/")], "the originals are not looked at"

    undone = subprocess.run([sys.executable, "-m", "mobile_backups", "undo", journal_of(done)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert tree(library) == pristine


def test_the_gates_skip_with_their_reasons_and_the_format_is_read_from_the_content(tmp_path: Path) -> None:
    library = tmp_path / "library"
    clip = samples.video(tmp_path / "clip.mp4")
    samples.motion_photo_heic(library / "PXL_0001.heic", clip, size=(320, 240))
    samples.heic_with_auxiliary(library / "IMG_2001.HEIC", size=(320, 240))
    samples.phone_photo(library / "IMG_2002.jpg", "heic", size=(320, 240))  # a HEIC named .jpg, as phones upload them
    samples.motion_photo_jpeg(library / "PXL_0002.MP.jpg", clip, size=(800, 600))
    samples.ultra_hdr_jpeg(library / "PXL_0003.jpg", size=(800, 600))
    samples.phone_photo(library / "IMG_2003.jpg", "jpeg", size=(800, 600), quality=95)
    text = QUALITY.replace("larger_than_mp = 20", "larger_than_mp = 0.2").replace("to_mp = 16", "to_mp = 0.12")
    motion = (library / "PXL_0002.MP.jpg").read_bytes()
    _, preview = rules(tmp_path, library, text, "--dry-run")
    seen = lines(preview)
    assert "motion photo" in seen[("PXL_0001.heic", "HEIC as JPEG too")]["reason"]
    assert "HDR gain map" in seen[("IMG_2001.HEIC", "HEIC as JPEG too")]["reason"]
    assert seen[("IMG_2002.jpg", "HEIC as JPEG too")]["action"] == "convert"
    assert "motion photo" in seen[("PXL_0002.MP.jpg", "Big photos to 16 MP")]["reason"]
    assert "gain map" in seen[("PXL_0003.jpg", "Big photos to 16 MP")]["reason"]
    assert seen[("IMG_2003.jpg", "Big photos to 16 MP")]["action"] == "downscale"
    _, done = rules(tmp_path, library, text, "--confirm")
    assert lines(done)[("IMG_2002.jpg", "HEIC as JPEG too")]["destination"] == "IMG_2002 (2).jpg", "never over its own name"
    assert exiftool(library / "IMG_2002 (2).jpg")["FileType"] == "JPEG" and exiftool(library / "IMG_2002.jpg")["FileType"] == "HEIC"
    assert exiftool(library / "IMG_2003.jpg")["ImageWidth"] == 400
    assert (library / "PXL_0002.MP.jpg").read_bytes() == motion and set(tree(library / "Originals")) == {"IMG_2003.jpg"}


def test_a_refused_result_leaves_the_file_alone(tmp_path: Path) -> None:
    """A downscale that would not save enough is not written: the original stays, nothing goes to Originals/."""
    library = tmp_path / "library"
    samples.phone_photo(library / "IMG_3000.jpg", "jpeg", size=(800, 600), quality=95)
    pristine = tree(library)
    text = QUALITY.replace("larger_than_mp = 20", "larger_than_mp = 0.45").replace("to_mp = 16", "to_mp = 0.44")
    _, done = rules(tmp_path, library, text.replace("min_saving_percent = 25", "min_saving_percent = 90"), "--confirm")
    assert "less than 90 %" in lines(done)[("IMG_3000.jpg", "Big photos to 16 MP")]["reason"]
    assert lines(done)[("IMG_3000.jpg", "Big photos to 16 MP")]["action"] == "skip"
    assert tree(library) == pristine


def test_a_kill_at_any_step_of_a_quality_run_or_its_undo_loses_nothing(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    make_library(pristine / "library", big=(1600, 1200))
    (pristine / "inbox").mkdir()
    text = QUALITY.replace("larger_than_mp = 20", "larger_than_mp = 1").replace("to_mp = 16", "to_mp = 0.5")
    rules_path = rules_file(tmp_path, text)

    def args(inbox: Path, library: Path) -> list[str]:
        return ["rules", "--rules", str(rules_path), "--library", str(library), "--confirm"]

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "mobile_backups", *argv], cwd=ROOT, env=ENV, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def prepare(step: int, name: str = "run") -> tuple[Path, Path]:
        shutil.copytree(pristine, tmp_path / f"{name}{step}")
        return tmp_path / f"{name}{step}" / "inbox", tmp_path / f"{name}{step}" / "library"

    def journal(library: Path) -> Path:
        return max((library / ".mobile_backups" / "rules").glob("*.jsonl"))

    def clean(library: Path) -> dict[str, str]:
        leftovers = [p for p in library.rglob("*") if ".mobile-backups-" in p.name or p.name.endswith(".partial")]
        assert not leftovers, leftovers
        return tree(library)

    original = tree(pristine / "library")
    reference = prepare(0)[1]
    cli(*args(reference.parent / "inbox", reference))
    wanted = clean(reference)
    assert len(wanted) == len(original) + 3, "a JPEG beside the HEIC, two originals in Originals/"

    run_kills = []
    for step, inbox, library in killed_runs(prepare, command=args):
        run_kills.append(step)
        held = set(tree(library).values())
        assert set(original.values()) <= held, f"lost a file at step {step}"
        cli(*args(inbox, library))
        assert clean(library) == wanted, f"run killed at step {step}"
        for each in sorted((library / ".mobile_backups" / "rules").glob("*.jsonl"), reverse=True):
            cli("undo", str(each))  # the killed run's own, finished by the next run, and the next run's
        assert clean(library) == original, f"undo after a run killed at step {step}"
        shutil.rmtree(library.parent)
    assert len(run_kills) >= 8  # 3 actions: journal before and after each, and a rewrite's move, link, unlink

    def prepare_undo(step: int) -> tuple[Path, Path]:
        inbox, library = prepare(step, "undo")
        cli(*args(inbox, library))
        return inbox, library

    undo_kills = []
    for step, inbox, library in killed_runs(prepare_undo, command=lambda inbox, library: ["undo", str(journal(library))]):
        undo_kills.append(step)
        assert set(original.values()) <= set(tree(library).values()), f"lost a file when undo was killed at step {step}"
        cli("undo", str(journal(library)))
        assert clean(library) == original, f"undo killed at step {step}"
        shutil.rmtree(library.parent)
    assert len(undo_kills) >= 6


VIDEOS = '''
[[rules]]
name = "Videos to 240p"
action = "reencode_video"
max_lines = 240
codec = "h264"
min_saving_percent = 0
minutes_per_day = 0.001
'''


def test_videos_are_re_encoded_last_within_their_daily_budget_and_come_back(tmp_path: Path) -> None:
    library = tmp_path / "library"
    for n in (1, 2):
        samples.video(library / f"2024/03/VID_{n}.mp4", apple_creationdate=f"2024-03-02T10:00:0{n}+0100", size=(640, 360), seconds=2.0)
    samples.video(library / "2024/03/VID_small.mp4", size=(320, 180))
    pristine = tree(library)
    _, preview = rules(tmp_path, library, VIDEOS, "--dry-run")
    seen = lines(preview)
    assert seen[("2024/03/VID_1.mp4", "Videos to 240p")]["action"] == "reencode_video"
    assert "360p to 240p in H264" in seen[("2024/03/VID_1.mp4", "Videos to 240p")]["reason"]
    assert ("2024/03/VID_small.mp4", "Videos to 240p") not in seen, "not above 240p"
    _, done = rules(tmp_path, library, VIDEOS, "--confirm")
    outcome = lines(done)
    assert [outcome[(f"2024/03/VID_{n}.mp4", "Videos to 240p")]["action"] for n in (1, 2)] == ["reencode_video", "skip"]
    assert "encoding time for videos" in outcome[("2024/03/VID_2.mp4", "Videos to 240p")]["reason"]
    encoded = exiftool(library / "2024/03/VID_1.mp4")
    assert encoded["ImageHeight"] == 240 and encoded.get("CreationDate") == "2024:03:02 10:00:01+01:00", "the date with its offset kept"
    assert tree(library)["Originals/2024/03/VID_1.mp4"] == pristine["2024/03/VID_1.mp4"]
    undone = subprocess.run([sys.executable, "-m", "mobile_backups", "undo", journal_of(done)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert tree(library) == pristine


REPLACE_HEIC = '''
[[rules]]
name = "HEIC gone once its JPEG is there"
action = "trash"
converted = true
older_than_days = 0
'''


def test_replacing_the_heic_is_an_opt_in_retention_step_that_checks_its_jpeg_first(tmp_path: Path) -> None:
    library = tmp_path / "library"
    make_library(library, big=(320, 240))
    samples.phone_photo(library / "2024/03/IMG_1004.HEIC", "heic", exif=MARCH, size=(320, 240), seed=9)
    rules(tmp_path, library, QUALITY, "--confirm")
    assert (library / "2024/03/IMG_1004.jpg").exists()
    (library / "2024/03/IMG_1004.jpg").unlink()  # the user deleted this JPEG: its HEIC must stay
    heic = (library / "2024/03/IMG_1000.HEIC").read_bytes()

    _, preview = rules(tmp_path, library, REPLACE_HEIC, "--dry-run")
    seen = lines(preview)
    rule = "HEIC gone once its JPEG is there"
    assert seen[("2024/03/IMG_1000.HEIC", rule)]["action"] == "trash"
    assert "its JPEG IMG_1000.jpg is beside it (made by Mobile Backups)" in seen[("2024/03/IMG_1000.HEIC", rule)]["reason"]
    assert ("2024/03/IMG_1003.HEIC", rule) not in seen and ("2024/03/IMG_1001.jpg", rule) not in seen, "only what was converted"
    _, done = rules(tmp_path, library, REPLACE_HEIC, "--confirm", "--trash", str(tmp_path / "trash"))
    outcome = lines(done)

    assert outcome[("2024/03/IMG_1000.HEIC", rule)]["action"] == "trash" and not (library / "2024/03/IMG_1000.HEIC").exists()
    assert (tmp_path / "trash/2024/03/IMG_1000.HEIC").read_bytes() == heic and (library / "2024/03/IMG_1000.jpg").exists()
    assert ("2024/03/IMG_1004.HEIC", rule) not in seen and (library / "2024/03/IMG_1004.HEIC").exists(), "its JPEG is gone: it stays"
