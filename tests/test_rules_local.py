"""`python -m mobile_backups rules` on a local library of real generated files: the issues' TOML
examples unchanged, skip reasons, caps, --now, archive paths, the --trash folder and the desktop
trash (freedesktop.org, under a temporary XDG_DATA_HOME), live pairs, the re-upload guard, undo
by size and hash, and the UserComment of iOS screenshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import pytest

from mobile_backups import samples
from mobile_backups.core.media import MAX_COMMENT, read_media_info, user_comment
from mobile_backups.core.source import BlockReader
from mobile_backups.rules import runner
from mobile_backups.rules.guard import ContentGuard
from mobile_backups.rules.local import LocalBackend, now_of
from mobile_backups.rules.model import load_rules
from mobile_backups.samples import Exif
from mobile_backups.store import LocalFile
from conftest import BERLIN, ROOT
from test_organise import tree
from test_rules_model import EXAMPLES

ID = "7E3A1B2C-5D4E-4F60-8A9B-0C1D2E3F4A5B"
RETENTION = EXAMPLES.split("[[rules]]\nname = \"HEIC as JPEG too\"")[0]  # the retention issue's two rules


def at(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(hour=12, tzinfo=BERLIN).timestamp()


def make_library(library: Path) -> None:
    """Screenshots (by name, by EXIF UserComment), messenger media (by name, by folder), a live photo,
    a HEIC and a few ordinary photos, all dated early 2024 but one young screenshot."""
    january = Exif(date_time_original="2024:01:05 10:00:00", offset_time_original="+01:00")
    samples.png(library / "2024/01/Screenshot_20240101-101010.png", seed=1, mtime=at("2024-01-01"))
    samples.png(library / "2024/01/IMG_0100.PNG", exif=Exif(date_time_original="2024:01:05 10:00:00", user_comment="Screenshot"), seed=2)
    samples.png(library / "2024/05/Screenshot_20240520-101010.png", seed=3, mtime=at("2024-05-20"))
    samples.jpeg(library / "2024/01/IMG-20240101-WA0001.jpg", seed=4, mtime=at("2024-01-01"))
    samples.jpeg(library / "InstantUpload/WhatsApp Images/holiday.jpg", exif=january, seed=5)
    samples.heic(library / "2024/01/IMG_0001.HEIC", exif=Exif(date_time_original="2024:01:05 10:00:00", offset_time_original="+01:00",
                                                              make="Apple", model="iPhone 15 Pro", content_id=ID), seed=6)
    samples.video(library / "2024/01/IMG_0001.MOV", apple_creationdate="2024-01-05T10:00:01+0100", content_id=ID, mtime=at("2024-01-05"))
    for n in range(7, 14):
        samples.jpeg(library / f"2024/02/IMG_{n:04d}.jpg", exif=Exif(date_time_original=f"2024:02:{n:02d} 10:00:00"), seed=n)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    made = tmp_path / "library"
    make_library(made)
    return made


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    return path


def run_cli(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with its own HOME and XDG_DATA_HOME: the desktop trash is the test's."""
    env = {"PYTHONPATH": str(ROOT / "ex_app" / "lib"), "PATH": "/usr/bin:/bin", "TZ": "Europe/Berlin",
           "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    (tmp_path / "home").mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "mobile_backups", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def rules(tmp_path: Path, library: Path, text: str, *extra: str, check: bool = True) -> tuple[dict[str, dict], subprocess.CompletedProcess[str]]:
    done = run_cli(tmp_path, "rules", "--rules", str(rules_file(tmp_path, text)), "--library", str(library), "--json", *extra, check=check)
    found: dict[str, dict] = {}
    for record in map(json.loads, done.stdout.splitlines()):
        found.setdefault(record["source"], record)  # the first rule's verdict (quality rules come after)
    return found, done


def journal_of(done: subprocess.CompletedProcess[str]) -> str:
    return next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("journal: "))


def test_the_issues_examples_preview_with_reasons_and_touch_nothing(tmp_path: Path, library: Path) -> None:
    before = tree(library)
    found, done = rules(tmp_path, library, EXAMPLES, "--dry-run", "--now", "2024-06-01")
    assert found["2024/01/Screenshot_20240101-101010.png"] == {
        "source": "2024/01/Screenshot_20240101-101010.png", "rule": "Old screenshots", "action": "trash", "destination": None,
        "reason": "screenshot; taken 151 days ago", "size": (library / "2024/01/Screenshot_20240101-101010.png").stat().st_size}
    assert found["2024/01/IMG_0100.PNG"]["action"] == "trash", "an iOS screenshot, by its EXIF UserComment"
    assert "2024/05/Screenshot_20240520-101010.png" not in found or found["2024/05/Screenshot_20240520-101010.png"]["rule"] != "Old screenshots"
    assert found["2024/01/IMG-20240101-WA0001.jpg"] == {
        "source": "2024/01/IMG-20240101-WA0001.jpg", "rule": "Messenger pictures", "action": "archive",
        "destination": "Archive/2024/01/IMG-20240101-WA0001.jpg", "reason": "messenger; taken 151 days ago",
        "size": (library / "2024/01/IMG-20240101-WA0001.jpg").stat().st_size}
    assert found["InstantUpload/WhatsApp Images/holiday.jpg"]["destination"] == "Archive/InstantUpload/WhatsApp Images/holiday.jpg"
    every = [json.loads(line) for line in done.stdout.splitlines()]
    assert {"source": "2024/01/IMG_0001.HEIC", "rule": "HEIC as JPEG too", "action": "skip", "destination": None,
            "reason": "the still of a live photo (2024/01/IMG_0001.MOV): a new or rewritten still would break the pair",
            "size": (library / "2024/01/IMG_0001.HEIC").stat().st_size} in every
    assert not [r for r in every if r["rule"] in ("Big photos to 16 MP", "No location in shared albums")], "small photos, no Shared/"
    assert tree(library) == before and not (tmp_path / "xdg").exists()
    assert "dry run: " in done.stderr and "a run would stop here: it would act on 4 of 14 files (29 %)" in done.stderr


def test_a_bad_rules_file_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    text = ('[[rules]]\nname = "a"\nkinds = ["selfie"]\nolder_than_days = -1\n'
            '[[rules]]\nname = "b"\nolder_than_days = 3\naction = "archive"\narchive_to = "/elsewhere"\ncolour = "red"\n')
    _, done = rules(tmp_path, tmp_path / "no such library", text, check=False)
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert "error: rule 1 ('a'): unknown kind 'selfie' (known: photo, video, screenshot, messenger)" in lines
    assert "error: rule 1 ('a'): older_than_days must be at least 0, not -1" in lines
    assert "error: rule 2 ('b'): unknown key 'colour'" in lines
    assert any(line.startswith("error: rule 2 ('b'): archive_to must name a folder inside the library") for line in lines)
    _, tagged = rules(tmp_path, tmp_path / "no such library", '[[rules]]\nname = "t"\nolder_than_days = 3\naction = "tag"\ntag = "old"\n', check=False)
    assert tagged.returncode == 2
    assert "error: rule 1 ('t'): action 'tag' assigns a Nextcloud system tag; there are no tags locally (use trash or archive)" in tagged.stderr


def test_now_and_the_modification_time(tmp_path: Path, library: Path) -> None:
    text = '[[rules]]\nname = "Old by file time"\nkinds = ["screenshot"]\nolder_than_days = 30\nage_from = "modified"\n'
    young, _ = rules(tmp_path, library, text, "--dry-run", "--now", "2024-06-18")
    old, _ = rules(tmp_path, library, text, "--dry-run", "--now", "2024-06-20")
    assert "2024/05/Screenshot_20240520-101010.png" not in young  # 29 days after its mtime
    assert old["2024/05/Screenshot_20240520-101010.png"]["reason"] == "screenshot; modified 30 days ago"


def test_archive_keeps_the_path_never_overwrites_and_trash_dir_mirrors_the_library(tmp_path: Path, library: Path) -> None:
    clash = samples.jpeg(library / "Archive/2024/01/IMG-20240101-WA0001.jpg", seed=99)  # archived earlier, other content
    before, trash = tree(library), tmp_path / "trash"
    found, done = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", "--trash", str(trash), "--confirm")
    assert found["2024/01/IMG-20240101-WA0001.jpg"]["destination"] == "Archive/2024/01/IMG-20240101-WA0001 (2).jpg"
    assert tree(library / "Archive") == {
        "2024/01/IMG-20240101-WA0001.jpg": before["Archive/2024/01/IMG-20240101-WA0001.jpg"],
        "2024/01/IMG-20240101-WA0001 (2).jpg": before["2024/01/IMG-20240101-WA0001.jpg"],
        "InstantUpload/WhatsApp Images/holiday.jpg": before["InstantUpload/WhatsApp Images/holiday.jpg"]}
    assert tree(trash) == {p: before[p] for p in ("2024/01/Screenshot_20240101-101010.png", "2024/01/IMG_0100.PNG")}
    assert clash.exists() and "2 archive, 2 trash" in done.stderr
    undone = run_cli(tmp_path, "undo", journal_of(done))
    assert tree(library) == before and tree(trash) == {}, undone.stdout


def trash_entries(trash: Path, topdir: Path = Path("/")) -> dict[str, str]:
    """name in the trash -> the original path its .trashinfo gives (a relative one is below `topdir`)."""
    return {info.name.removesuffix(".trashinfo"): str(topdir / unquote(next(l[5:] for l in info.read_text().splitlines() if l.startswith("Path="))))
            for info in (trash / "info").glob("*.trashinfo")}


def test_the_desktop_trash_and_back(tmp_path: Path, library: Path) -> None:
    before = tree(library)
    shot = library / "2024/01/Screenshot_20240101-101010.png"
    samples.png(tmp_path / "xdg/Trash/files/Screenshot_20240101-101010.png", seed=50)  # the trash holds one of that name already
    _, done = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", "--confirm")
    trash = tmp_path / "xdg" / "Trash"
    assert trash_entries(trash) == {"Screenshot_20240101-101010 1.png": str(shot), "IMG_0100.PNG": str(library / "2024/01/IMG_0100.PNG")}
    assert tree(trash / "files")["Screenshot_20240101-101010 1.png"] == before["2024/01/Screenshot_20240101-101010.png"]
    run_cli(tmp_path, "undo", journal_of(done))
    assert tree(library) == before
    assert trash_entries(trash) == {} and sorted(tree(trash / "files")) == ["Screenshot_20240101-101010.png"]


def other_filesystem(tmp_path: Path) -> Path | None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK) or shm.stat().st_dev == tmp_path.stat().st_dev:
        return None
    return shm


def test_on_another_filesystem_the_trash_is_its_topdir_trash(tmp_path: Path) -> None:
    shm = other_filesystem(tmp_path)
    if shm is None:
        pytest.skip("no writable filesystem other than the home's (/dev/shm)")
    topdir = shm
    while not os.path.ismount(topdir):
        topdir = topdir.parent
    trash = topdir / f".Trash-{os.getuid()}"
    existed = trash.exists()
    library = Path(shm, f"mbtest-{os.getpid()}-{tmp_path.name}")
    try:
        shot = samples.png(library / "2024/01/Screenshot_20240101-101010.png", seed=1, mtime=at("2024-01-01"))
        for n in range(12):
            samples.jpeg(library / f"2024/02/IMG_{n:04d}.jpg", seed=n)
        before = tree(library)
        _, done = rules(tmp_path, library, RETENTION, "--now", "2024-06-01")
        ours = {name: path for name, path in trash_entries(trash, topdir).items() if path.startswith(str(library))}
        assert list(ours.values()) == [str(shot)] and not shot.exists()
        assert "Path=" + shot.relative_to(topdir).as_posix() in (trash / "info" / f"{next(iter(ours))}.trashinfo").read_text()  # relative to $topdir
        run_cli(tmp_path, "undo", journal_of(done))
        assert tree(library) == before and not any(p.startswith(str(library)) for p in trash_entries(trash, topdir).values())
    finally:
        shutil.rmtree(library, ignore_errors=True)
        if not existed:
            shutil.rmtree(trash, ignore_errors=True)


def test_a_live_photo_goes_and_comes_back_together(tmp_path: Path, library: Path) -> None:
    before = tree(library)
    text = '[[rules]]\nname = "Old iPhone photos"\nnames = ["IMG_0001.*"]\nolder_than_days = 30\naction = "archive"\narchive_to = "Old"\n'
    found, done = rules(tmp_path, library, text, "--now", "2024-06-01", "--confirm")
    assert found["2024/01/IMG_0001.HEIC"]["action"] == "archive"
    assert found["2024/01/IMG_0001.MOV"]["action"] == "skip"
    assert found["2024/01/IMG_0001.MOV"]["reason"] == "the video of a live photo (2024/01/IMG_0001.HEIC): it goes and comes back with its still"
    assert sorted(tree(library / "Old")) == ["2024/01/IMG_0001.HEIC", "2024/01/IMG_0001.MOV"]
    run_cli(tmp_path, "undo", journal_of(done))
    assert tree(library) == before


def test_caps_and_a_library_that_shrank(tmp_path: Path, library: Path) -> None:
    before = tree(library)
    _, stopped = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", check=False)
    assert stopped.returncode == 3 and tree(library) == before
    assert "stopped: it would act on 4 of 14 files (29 %), more than 10 % of the library: confirm to go on" in stopped.stderr
    shot = '[[rules]]\nname = "Old screenshots"\nkinds = ["screenshot"]\nolder_than_days = 30\naction = "trash"\nnames = ["Screenshot_2024*"]\n'
    _, one = rules(tmp_path, library, shot, "--now", "2024-06-01", "--trash", str(tmp_path / "t"))  # 1 of 12: within the caps
    assert "1 trash" in one.stderr
    for path in sorted((library / "2024/02").iterdir()):
        shutil.move(path, tmp_path / path.name)  # a folder that went missing: 13 files after that run, 6 now
    left = tree(library)
    _, shrunk = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", "--confirm", check=False)
    assert shrunk.returncode == 3 and "the library looks much smaller than last time (6 files, 13 before)" in shrunk.stderr
    assert tree(library) == left, "even --confirm does not act on a library that shrank"


def test_a_confirmed_run_that_took_most_of_the_library_does_not_make_the_next_one_look_shrunk(tmp_path: Path, library: Path) -> None:
    """The next run compares to the count before acting less what the run took out of the library (archiving
    inside it takes nothing out): the same count the ExApp keeps."""
    most = '[[rules]]\nname = "Most"\nnames = ["IMG_*", "Screenshot_*"]\nolder_than_days = 30\naction = "trash"\n'
    _, done = rules(tmp_path, library, most, "--now", "2024-06-01", "--trash", str(tmp_path / "t"), "--confirm")
    assert "10 trash" in done.stderr, done.stderr  # of 14 (a live photo's video went with its still)
    assert ContentGuard(library / ".mobile_backups" / "rules.sqlite").library_files() == 14 - 10
    _, again = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", "--dry-run")
    assert "smaller" not in again.stderr, again.stderr


def test_the_file_cap(tmp_path: Path, library: Path) -> None:
    rule = load_rules(RETENTION)
    backend = LocalBackend(library, zone=BERLIN)
    with pytest.raises(runner.RunStopped, match="it would act on 4 files, more than the limit of 3"):
        runner.run(backend, rule, backend.scope(rule), now_of("2024-06-01", BERLIN), tmp_path / "j", caps=runner.Caps(3, 100))
    assert not (tmp_path / "j").exists()


def test_duplicates_left_in_the_inbox_are_checked_again_before_acting(tmp_path: Path, library: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    copy = Path(shutil.copy2(library / "2024/02/IMG_0007.jpg", inbox / "IMG_0007.jpg"))
    os.utime(copy, (at("2024-03-01"), at("2024-03-01")))
    samples.jpeg(inbox / "IMG_0008.jpg", seed=1234)  # same name as a library file, other content
    text = '[[rules]]\nname = "Leftovers"\nduplicates = true\nolder_than_days = 7\nage_from = "modified"\n'
    found, _ = rules(tmp_path, library, text, "--inbox", str(inbox), "--dry-run", "--now", "2024-06-01")
    assert found == {str(copy): {"source": str(copy), "rule": "Leftovers", "action": "trash", "destination": None, "size": copy.stat().st_size,
                                 "reason": "photo; identical to 2024/02/IMG_0007.jpg; modified 91 days ago"}}
    uploads = library / "InstantUpload"  # an inbox inside the library: two alike in it are no library copies
    for name in ("IMG_5000.jpg", "IMG_5000 (1).jpg"):
        samples.jpeg(uploads / name, seed=500, mtime=at("2024-03-01"))
    alike, _ = rules(tmp_path, library, text, "--inbox", str(inbox), "--inbox", str(uploads), "--dry-run", "--now", "2024-06-01")
    assert list(alike) == [str(copy)]
    _, trashed = rules(tmp_path, library, text, "--inbox", str(inbox), "--now", "2024-06-01", "--trash", str(tmp_path / "t0"))
    assert "1 trash" in trashed.stderr and not copy.exists()
    assert ContentGuard(library / ".mobile_backups/rules.sqlite").sizes() == set(), "the library still holds it: no re-upload to guard"
    shutil.copy2(tmp_path / "t0" / "inbox/IMG_0007.jpg", copy)
    rule = load_rules(text)
    backend = LocalBackend(library, [inbox], tmp_path / "t", BERLIN)
    [verdict] = runner.preview(backend, rule, backend.scope(rule), now_of("2024-06-01", BERLIN)).acting()
    samples.jpeg(library / "2024/02/IMG_0007.jpg", seed=77)  # the library copy changed since
    assert backend.recheck(verdict) == (None, "its copy in the library (2024/02/IMG_0007.jpg) is gone or differs now")


def test_the_re_upload_guard(tmp_path: Path, library: Path) -> None:
    shot = library / "2024/01/Screenshot_20240101-101010.png"
    phone = tmp_path / "phone.png"
    shutil.copy2(shot, phone)
    text = '[[rules]]\nname = "Old screenshots"\nkinds = ["screenshot"]\nolder_than_days = 30\nnames = ["Screenshot_2024*"]\n'
    rules(tmp_path, library, text, "--now", "2024-06-01", "--trash", str(tmp_path / "t"))
    assert not shot.exists()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy2(phone, inbox / shot.name)  # the phone uploads it again
    organised = run_cli(tmp_path, "organise", "--library", str(library), str(inbox))
    assert f"{inbox / shot.name}: came back after clean-up (2024/01/Screenshot_20240101-101010.png was taken by rule “Old screenshots” on " in organised.stderr
    assert "the phone may still hold it" in organised.stderr and shot.exists()
    found, again = rules(tmp_path, library, text, "--now", "2024-06-01", "--trash", str(tmp_path / "t"))
    assert found[str(shot.relative_to(library))]["action"] == "skip"
    assert found[str(shot.relative_to(library))]["reason"].startswith("came back after clean-up (2024/01/Screenshot_20240101-101010.png was taken")
    assert shot.exists() and "journal: " not in again.stderr
    shutil.copy2(phone, inbox / "again.png")
    assert "came back" not in run_cli(tmp_path, "organise", "--library", str(library), str(inbox)).stderr  # said once


def test_undo_checks_size_and_hash_and_never_overwrites(tmp_path: Path, library: Path) -> None:
    trash = tmp_path / "t"
    _, done = rules(tmp_path, library, RETENTION, "--now", "2024-06-01", "--trash", str(trash), "--confirm")
    samples.png(trash / "2024/01/IMG_0100.PNG", seed=66)  # changed in the trash
    taken = samples.png(library / "2024/01/Screenshot_20240101-101010.png", seed=67)  # a new file in the old place
    kept = taken.read_bytes()
    undone = run_cli(tmp_path, "undo", journal_of(done), check=False)
    assert undone.returncode == 1
    assert "is not the file that was taken (size or hash differ): left there" in undone.stdout
    assert "its place is taken by another file" in undone.stdout
    assert taken.read_bytes() == kept and (trash / "2024/01/Screenshot_20240101-101010.png").exists()
    assert (library / "2024/01/IMG-20240101-WA0001.jpg").exists(), "the archived ones came back"


def test_the_user_comment_of_ios_screenshots_is_read_and_bounded(tmp_path: Path) -> None:
    shot = Exif(date_time_original="2024:01:05 10:00:00", user_comment="Screenshot")
    xmp = samples.xmp_packet().replace(b"/>\n </rdf:RDF>", b'><exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">Screenshot'
                                       b'</rdf:li></rdf:Alt></exif:UserComment></rdf:Description>\n </rdf:RDF>')
    made = [samples.jpeg(tmp_path / "a.jpg", exif=shot), samples.heic(tmp_path / "b.heic", exif=shot), samples.png(tmp_path / "c.png", exif=shot),
            samples.png(tmp_path / "d.png", xmp=xmp)]
    for path in made:
        with LocalFile(path) as source:
            assert read_media_info(BlockReader(source)).user_comment == "Screenshot", path.name
    with LocalFile(samples.jpeg(tmp_path / "plain.jpg", exif=Exif(date_time_original="2024:01:05 10:00:00"))) as source:
        assert read_media_info(BlockReader(source)).user_comment is None
    long = samples.exif_bytes(Exif(user_comment="x" * 100_000))[6:]
    assert user_comment(long) == "x" * MAX_COMMENT


def test_rules_state_remembers_and_forgets(tmp_path: Path) -> None:
    guard = ContentGuard(tmp_path / "g.sqlite")
    guard.remember("ab", "2024/x.png", "Old", size=5)
    assert guard.sizes() == {5} and guard.returned("ab").startswith("2024/x.png was taken by rule “Old” on ")
    assert guard.report_once("ab") and guard.report_once("ab") is None and guard.returned("ab")
    guard.forget("ab")
    assert guard.returned("ab") is None
    guard.set_library_files(42)
    assert ContentGuard(tmp_path / "g.sqlite").library_files() == 42


def test_the_demo_rules_preview(tmp_path: Path) -> None:
    """`make demo`'s last step: examples/rules.toml previewed on the organised camera roll."""
    inbox, library = tmp_path / "inbox", tmp_path / "library"
    samples.camera_roll(inbox)
    run_cli(tmp_path, "organise", "--library", str(library), str(inbox))
    before = tree(library), tree(inbox)
    found, done = rules(tmp_path, library, (ROOT / "examples/rules.toml").read_text(), "--inbox", str(inbox), "--dry-run", "--now", "2025-06-01")
    assert {source: (r["rule"], r["action"]) for source, r in found.items()} == {
        "2024/11/Screenshot_20241124-153012.png": ("Old screenshots", "trash"),
        "2024/11/Screenshot 2024-11-24 at 15.30.12.png": ("Old screenshots", "trash"),
        "2024/11/IMG-20241124-WA0001.jpg": ("Messenger pictures", "archive"),
        "2024/11/signal-2024-11-24-153012.jpg": ("Messenger pictures", "archive"),
        str(inbox / "IMG_20241124_153012 (copy).jpg"): ("Duplicates left in the inbox", "trash"),
        "2024/11/IMG_E0001.HEIC": ("HEIC as JPEG too", "convert"),
        "2024/11/IMG_0001.HEIC": ("HEIC as JPEG too", "skip"),  # a live photo's still
        "2024/11/broken.jpg": ("Big photos to 16 MP", "skip")}
    assert (tree(library), tree(inbox)) == before and "dry run: 2 archive, 1 convert, 2 skip, 3 trash" in done.stderr


def test_a_file_changed_or_gone_since_the_preview_is_left_alone(tmp_path: Path, library: Path) -> None:
    rule = load_rules(RETENTION)
    backend = LocalBackend(library, [], tmp_path / "t", BERLIN)
    acting = {v.facts.path: v for v in runner.preview(backend, rule, backend.scope(rule), now_of("2024-06-01", BERLIN)).acting()}
    shot, chat = library / "2024/01/Screenshot_20240101-101010.png", library / "2024/01/IMG-20240101-WA0001.jpg"
    os.utime(shot, (at("2024-02-01"), at("2024-02-01")))
    chat.unlink()
    assert backend.recheck(acting["2024/01/Screenshot_20240101-101010.png"]) == (None, "changed since it was looked at: will be looked at again")
    assert backend.recheck(acting["2024/01/IMG-20240101-WA0001.jpg"]) == (None, "vanished since it was looked at")
    facts, _ = backend.recheck(acting["2024/01/IMG_0100.PNG"])
    assert facts is not None and facts.extra["journal"] == {"files": [{
        "from": str(library / "2024/01/IMG_0100.PNG"), "path": "2024/01/IMG_0100.PNG", "size": facts.size, "mtime": facts.mtime,
        "hash": facts.hash, "to": str(tmp_path / "t/2024/01/IMG_0100.PNG")}]}, "what settle and undo need, journalled before the move"
