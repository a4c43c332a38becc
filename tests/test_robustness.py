"""Files that change under a run, two runs at once, long and odd names, symbolic links: on real
generated files, with files removed mid-run and real second processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.core.layout import DEFAULT_LAYOUT, MAX_NAME_BYTES, file_name, parse_layout
from mobile_backups.engine import CHANGED, STATE_DIR, VANISHED, Decision, Settings, organise
from mobile_backups.journal import Journal
from mobile_backups.samples import Exif
from mobile_backups.store import PARTIAL, LocalStore
from conftest import BERLIN, ROOT, cli
from test_crash import ENV, killed_runs
from test_organise import tree

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00")


def run(store: LocalStore, inbox: Path, library: Path) -> dict[str, Decision]:
    """One journalled run in this process, as the CLI does it; decisions by file name."""
    settings = Settings(parse_layout(DEFAULT_LAYOUT), BERLIN, str(library))
    journal = Journal.new_run(library / STATE_DIR / "journals", library=str(library), inboxes=[str(inbox)], layout=DEFAULT_LAYOUT)
    decisions = organise(store, [str(inbox)], settings, journal, lambda decision: None)
    journal.close()
    names = [Path(d.item.path).name for d in decisions]
    assert len(names) == len(set(names)), "a file reported twice"
    return {Path(d.item.path).name: d for d in decisions}


def live_photo(inbox: Path) -> None:
    samples.heic(inbox / "IMG_0001.HEIC", exif=NOV)
    samples.video(inbox / "IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:12+0100")
    (inbox / "IMG_0001.AAE").write_text("<plist/>")
    samples.jpeg(inbox / "IMG_0002.jpg", exif=NOV, seed=2)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    inbox, library = tmp_path / "inbox", tmp_path / "library"
    inbox.mkdir(), library.mkdir()
    return inbox, library


# --- files that change under a run -------------------------------------------------------------


def test_a_file_deleted_between_the_listing_and_its_analysis_is_reported_and_the_run_goes_on(folders):
    inbox, library = folders
    live_photo(inbox)

    class DeletedBeforeRead(LocalStore):
        def open(self, path, size=None):
            if path.endswith("IMG_0002.jpg"):
                os.unlink(path)  # a user in the Files app
            return super().open(path, size)

    got = run(DeletedBeforeRead(str(library)), inbox, library)
    assert (got["IMG_0002.jpg"].action, got["IMG_0002.jpg"].reason) == ("skip", VANISHED)
    assert {got[n].action for n in ("IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001.AAE")} == {"move", "companion"}
    assert (library / "2024/11/IMG_0001.MOV").is_file() and not list(inbox.iterdir())


def test_a_file_deleted_before_its_content_is_compared_stays_out_with_its_sidecar(folders):
    """Two same-size files with the same head are compared in full: one vanishes right then."""
    inbox, library = folders
    samples.jpeg(inbox / "a.jpg", exif=NOV)
    shutil.copy2(inbox / "a.jpg", inbox / "b.jpg")
    (inbox / "a.AAE").write_text("<plist/>")

    class DeletedBeforeDigest(LocalStore):
        def digest(self, path):
            os.unlink(path)
            return super().digest(path)

    got = run(DeletedBeforeDigest(str(library)), inbox, library)
    assert (got["a.jpg"].action, got["a.jpg"].reason) == ("skip", VANISHED)
    assert got["a.AAE"].action == "skip" and "a.jpg, which stays where it is" in got["a.AAE"].reason
    assert (got["b.jpg"].action, got["b.jpg"].destination) == ("move", "2024/11/b.jpg")
    assert sorted(p.name for p in inbox.iterdir()) == ["a.AAE"]


def deleted_while_compared(folders: tuple[Path, Path], side: str) -> dict[str, Decision]:
    """a.jpg (+ its a.AAE) in the inbox, the same photo in the library; the `side` copy vanishes
    just as its whole content is compared."""
    inbox, library = folders
    samples.jpeg(inbox / "a.jpg", exif=NOV)
    (inbox / "a.AAE").write_text("<plist/>")
    (library / "2024/11").mkdir(parents=True)
    shutil.copy2(inbox / "a.jpg", library / "2024/11/same.jpg")

    class DeletedWhileCompared(LocalStore):
        def digest(self, path):
            if f"/{side}/" in path and path.endswith(".jpg"):
                os.unlink(path)
            return super().digest(path)

    return run(DeletedWhileCompared(str(library)), inbox, library)


def test_a_library_file_deleted_while_it_is_compared_is_no_copy_and_the_group_moves(folders):
    inbox, library = folders
    got = deleted_while_compared(folders, "library")
    assert (got["a.jpg"].action, got["a.jpg"].destination) == ("move", "2024/11/a.jpg")
    assert (got["a.AAE"].action, got["a.AAE"].destination) == ("companion", "2024/11/a.AAE")
    assert list(inbox.iterdir()) == [] and sorted(tree(library)) == ["2024/11/a.AAE", "2024/11/a.jpg"]


def test_a_file_deleted_while_it_is_compared_leaves_its_group_for_later(folders):
    inbox, library = folders
    got = deleted_while_compared(folders, "inbox")
    assert (got["a.jpg"].action, got["a.jpg"].reason) == ("skip", VANISHED)
    assert got["a.AAE"].action == "skip" and got["a.AAE"].reason.startswith("stays with a.jpg")
    assert sorted(p.name for p in inbox.iterdir()) == ["a.AAE"]
    assert sorted(tree(library)) == ["2024/11/same.jpg"]


def test_a_lead_deleted_before_its_move_keeps_its_companions_in_place_and_says_so(folders):
    inbox, library = folders
    live_photo(inbox)

    class DeletedBeforeMove(LocalStore):
        def move(self, src, dst, expect=None):
            if src.endswith("IMG_0001.HEIC"):
                os.unlink(src)
            super().move(src, dst, expect)

    got = run(DeletedBeforeMove(str(library)), inbox, library)
    assert (got["IMG_0001.HEIC"].action, got["IMG_0001.HEIC"].reason) == ("skip", VANISHED)
    for companion in ("IMG_0001.MOV", "IMG_0001.AAE"):
        assert (got[companion].action, got[companion].destination) == ("skip", None)
        assert got[companion].reason == "stays with IMG_0001.HEIC, which could not be moved"
    assert sorted(p.name for p in inbox.iterdir()) == ["IMG_0001.AAE", "IMG_0001.MOV"]
    assert got["IMG_0002.jpg"].action == "move" and sorted(tree(library)) == ["2024/11/IMG_0002.jpg"]


@pytest.fixture(params=["same filesystem", "across filesystems"])
def inbox_anywhere(request, tmp_path: Path):
    """An inbox beside the library, or on another filesystem (/dev/shm), where a move is a copy."""
    if request.param == "same filesystem":
        yield tmp_path / "inbox"
        return
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    other = Path(tempfile.mkdtemp(dir="/dev/shm"))
    yield other / "inbox"
    shutil.rmtree(other)


def test_a_file_rewritten_after_it_was_looked_at_is_not_moved_on_old_metadata(inbox_anywhere, tmp_path):
    inbox, library = inbox_anywhere, tmp_path / "library"
    live_photo(inbox)
    library.mkdir()

    class RewrittenBeforeMove(LocalStore):
        def move(self, src, dst, expect=None):
            if src.endswith("IMG_0002.jpg"):
                samples.jpeg(src, exif=Exif(date_time_original="2019:05:01 10:00:00"), size=(80, 60))  # another client's new version
            super().move(src, dst, expect)

    got = run(RewrittenBeforeMove(str(library)), inbox, library)
    assert (got["IMG_0002.jpg"].action, got["IMG_0002.jpg"].reason) == ("skip", CHANGED)
    assert [p.name for p in inbox.iterdir()] == ["IMG_0002.jpg"]
    assert sorted(tree(library)) == ["2024/11/IMG_0001.AAE", "2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]
    assert not list(library.rglob(PARTIAL))
    again = run(LocalStore(str(library)), inbox, library)  # looked at again: its new date
    assert again["IMG_0002.jpg"].destination == "2019/05/IMG_0002.jpg" and (library / "2019/05/IMG_0002.jpg").is_file()


# --- two runs at once --------------------------------------------------------------------------

# `python -m mobile_backups ...` that stops at its first link (its first move, the lock held and
# the journal begun), writes GATE/ready, and goes on when GATE/go appears.
PAUSED = """
import os, sys, time
from pathlib import Path
from mobile_backups import cli
gate, link = Path(sys.argv[1]), os.link
def paused(*args, **kwargs):
    if not (gate / "ready").exists():
        (gate / "ready").touch()
        deadline = time.monotonic() + 60
        while not (gate / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return link(*args, **kwargs)
os.link = paused
sys.exit(cli.main(sys.argv[2:]))
"""


class Paused:
    """A real run stopped in the middle of its moves."""

    def __init__(self, gate: Path, *args: str) -> None:
        gate.mkdir()
        self.gate = gate
        self.process = subprocess.Popen([sys.executable, "-c", PAUSED, str(gate), *args], env=ENV, cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (gate / "ready").exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the first run never reached its first move"
            time.sleep(0.01)

    def finish(self) -> subprocess.CompletedProcess[str]:
        (self.gate / "go").touch()
        out, err = self.process.communicate(timeout=60)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)


def second(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mobile_backups", *args], env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60)


def sources(out: str) -> dict[str, str]:
    return {Path(r["source"]).name: r["action"] for r in map(json.loads, out.splitlines())}


def test_a_second_organise_of_the_same_library_says_another_run_is_active_and_touches_nothing(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    original = tree(inbox)
    first = Paused(tmp_path / "gate", "organise", "--json", "--library", str(library), str(inbox))
    busy = second("organise", "--json", "--library", str(library), str(inbox))
    assert busy.returncode == 75 and busy.stdout == ""
    assert f"another run is active on the library {library} (pid {first.process.pid}: organise since" in busy.stderr
    assert "nothing was changed" in busy.stderr and "Traceback" not in busy.stderr
    done = first.finish()
    assert done.returncode == 0, done.stderr
    assert set(sources(done.stdout).values()) == {"move", "companion"}
    assert sorted(tree(library).values()) == sorted(original.values()) and not list(inbox.iterdir())
    assert len(list((library / STATE_DIR / "journals").glob("*.jsonl"))) == 1


def test_with_wait_the_second_run_waits_for_the_first_then_does_its_own_work(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    first = Paused(tmp_path / "gate", "organise", "--library", str(library), str(inbox))
    waiting = subprocess.Popen([sys.executable, "-m", "mobile_backups", "organise", "--json", "--wait", "30", "--library", str(library), str(inbox)],
                               env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "waiting up to 30 s for another run on the library" in waiting.stderr.readline()
    assert waiting.poll() is None  # still waiting while the first run is stopped
    assert first.finish().returncode == 0
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out == "" and "nothing to do" in err  # the first run had moved everything
    assert len(tree(library)) == 4 and not list(inbox.iterdir())


def test_a_wait_that_runs_out_says_so(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    first = Paused(tmp_path / "gate", "organise", "--library", str(library), str(inbox))
    started = time.monotonic()
    busy = second("organise", "--wait", "0.5", "--library", str(library), str(inbox))
    assert busy.returncode == 75 and 0.5 <= time.monotonic() - started < 10
    assert "waiting up to 0.5 s for another run on the library" in busy.stderr
    assert "another run is active on the library" in busy.stderr
    assert first.finish().returncode == 0


def test_organise_while_an_undo_runs_is_refused_and_the_undo_puts_every_file_back(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    original = tree(inbox)
    cli("organise", "--library", str(library), str(inbox))
    journal = next((library / STATE_DIR / "journals").glob("*.jsonl"))
    undoing = Paused(tmp_path / "gate", "undo", str(journal))
    busy = second("organise", "--library", str(library), str(inbox))
    assert busy.returncode == 75 and f"(pid {undoing.process.pid}: undo since" in busy.stderr
    done = undoing.finish()
    assert done.returncode == 0, done.stderr
    assert tree(inbox) == original and tree(library) == {}


def test_an_undo_while_organise_runs_is_refused_until_it_ends(folders, tmp_path):
    inbox, library = folders
    samples.jpeg(inbox / "IMG_0002.jpg", exif=NOV, seed=2)
    cli("organise", "--library", str(library), str(inbox))
    journal = next((library / STATE_DIR / "journals").glob("*.jsonl"))
    live_photo(inbox)
    (inbox / "IMG_0002.jpg").unlink()  # live_photo wrote a second one; the first is in the library
    organising = Paused(tmp_path / "gate", "organise", "--library", str(library), str(inbox))
    busy = second("undo", str(journal))
    assert busy.returncode == 75 and "organise since" in busy.stderr
    assert organising.finish().returncode == 0
    assert second("undo", str(journal)).returncode == 0
    assert sorted(p.name for p in inbox.iterdir()) == ["IMG_0002.jpg"]
    assert sorted(tree(library)) == ["2024/11/IMG_0001.AAE", "2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]


def test_two_libraries_never_take_files_from_one_inbox_at_the_same_time(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    other = tmp_path / "other library"
    first = Paused(tmp_path / "gate", "organise", "--library", str(library), str(inbox))
    busy = second("organise", "--library", str(other), str(inbox))
    assert busy.returncode == 75 and f"another run is active on the inbox {inbox}" in busy.stderr
    assert first.finish().returncode == 0
    assert len(tree(library)) == 4 and tree(other) == {}
    assert [p.name for p in inbox.iterdir()] == []  # the inbox got no lock file


def test_a_killed_run_leaves_no_lock_behind(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    original = tree(inbox)
    first = Paused(tmp_path / "gate", "organise", "--library", str(library), str(inbox))
    first.process.send_signal(signal.SIGKILL)
    first.process.communicate(timeout=30)
    after = second("organise", "--library", str(library), str(inbox))
    assert after.returncode == 0, after.stderr
    assert sorted(tree(library).values()) == sorted(original.values())


# --- names ------------------------------------------------------------------------------------


def long_name(tail: str, total: int) -> str:
    return "IMG_" + "é" * ((total - 4 - len(tail)) // 2) + "x" * ((total - 4 - len(tail)) % 2) + tail


@pytest.mark.parametrize("length", [233, 250, 255])
def test_names_up_to_255_bytes_move_across_filesystems(inbox_anywhere, tmp_path, length):
    inbox, library = inbox_anywhere, tmp_path / "library"
    name = long_name(".jpg", length)
    assert len(name.encode()) == length
    samples.jpeg(inbox / name, exif=NOV)
    (inbox / name.replace(".jpg", ".AAE")).write_text("<plist/>")  # a sidecar: it takes its lead's final name
    (library / "2024/11").mkdir(parents=True)
    samples.jpeg(library / "2024/11" / file_name(name), exif=NOV, seed=9)  # taken by another photo: a counter is added
    got = run(LocalStore(str(library)), inbox, library)
    lead = got[name]
    assert lead.action == "move", lead.reason
    final = Path(lead.destination).name
    assert len(final.encode()) <= MAX_NAME_BYTES and final.endswith(" (2).jpg")
    sidecar = got[name.replace(".jpg", ".AAE")]
    assert (sidecar.action, sidecar.destination) == ("companion", lead.destination.replace(".jpg", ".AAE"))
    assert (library / lead.destination).is_file() and (library / sidecar.destination).is_file() and not list(inbox.iterdir())
    assert not list(library.rglob("*" + PARTIAL))


def test_a_copy_interrupted_by_a_crash_leaves_only_its_short_partial_which_the_next_run_clears(inbox_anywhere, tmp_path):
    inbox, library = inbox_anywhere, tmp_path / "library"
    if inbox.parent == tmp_path:
        pytest.skip("a move on one filesystem is a link: no copy")
    name = long_name(".jpg", 250)
    samples.jpeg(inbox / name, exif=NOV)
    original = tree(inbox)

    class CrashAfterCopy(LocalStore):
        def _copy_into_place(self, src, fd, name, expect):
            with open(os.open(PARTIAL, os.O_WRONLY | os.O_CREAT, dir_fd=fd), "wb") as half:
                half.write(b"half a copy")
            raise KeyboardInterrupt  # the process dies here

    with pytest.raises(KeyboardInterrupt):
        run(CrashAfterCopy(str(library)), inbox, library)
    assert tree(inbox) == original
    done = cli("organise", "--library", str(library), str(inbox))
    assert "finished interrupted move" in done.stderr or "redid interrupted move" in done.stderr
    assert sorted(tree(library).values()) == sorted(original.values())
    assert not list(library.rglob("*" + PARTIAL)) and not list(inbox.iterdir())


def test_a_kill_at_any_step_of_a_copy_across_filesystems_loses_nothing_and_leaves_no_partial(tmp_path):
    if os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    shm = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        pristine = shm / "pristine"
        name = long_name(".jpg", 250)
        samples.jpeg(pristine / name, exif=NOV)
        (pristine / name.replace(".jpg", ".AAE")).write_text("<plist/>")
        samples.jpeg(pristine / "IMG_0002.jpg", exif=NOV, seed=2)
        original = tree(pristine)
        shutil.copytree(pristine, shm / "reference")
        cli("organise", "--library", str(tmp_path / "reference"), str(shm / "reference"))
        wanted = tree(tmp_path / "reference")

        def prepare(step: int) -> tuple[Path, Path]:
            shutil.copytree(pristine, shm / f"in{step}")
            return shm / f"in{step}", tmp_path / f"lib{step}"

        killed = 0
        for step, inbox, library in killed_runs(prepare, steps=100):
            killed += 1
            assert set(original.values()) <= set(tree(inbox).values()) | set(tree(library).values()), f"lost a file at step {step}"
            cli("organise", "--library", str(library), str(inbox))
            assert tree(library) == wanted and not list(inbox.iterdir()), f"step {step}"
            assert not list(library.rglob("*" + PARTIAL)), f"a partial copy left at step {step}"
            for journal in sorted((library / STATE_DIR / "journals").glob("*.jsonl"), reverse=True):
                cli("undo", str(journal))
            assert tree(inbox) == original, f"undo after a kill at step {step}"
            shutil.rmtree(inbox), shutil.rmtree(library)
        assert killed >= 10
    finally:
        shutil.rmtree(shm)


def test_each_file_appears_once_in_the_report(tmp_path):
    """The demo inbox, given twice and with a subfolder given again: every file once, as moved or staying."""
    inbox, library = tmp_path / "inbox", tmp_path / "library"
    samples.camera_roll(inbox)
    samples.jpeg(inbox / "sub" / "IMG_0099.jpg", exif=NOV, seed=7)
    files = sorted(str(p) for p in inbox.rglob("*") if p.is_file())
    out = cli("organise", "--json", "--library", str(library), str(inbox), str(inbox), str(inbox / "sub")).stdout
    reported = [r["source"] for r in map(json.loads, out.splitlines())]
    assert sorted(reported) == files
    staying = {r["source"] for r in map(json.loads, out.splitlines()) if r["destination"] is None}
    assert staying == {str(p) for p in inbox.rglob("*") if p.is_file()}


def test_a_name_that_would_be_a_hidden_file_is_organised_under_a_visible_name(folders):
    inbox, library = folders
    samples.jpeg(inbox / " .jpg", exif=NOV)
    (library / "2024/11").mkdir(parents=True)
    samples.jpeg(library / "2024/11/unnamed.jpg", exif=NOV, seed=4)
    got = run(LocalStore(str(library)), inbox, library)
    assert got[" .jpg"].destination == "2024/11/unnamed (2).jpg"
    assert (library / "2024/11/unnamed (2).jpg").is_file()


# --- symbolic links ---------------------------------------------------------------------------


def test_a_year_folder_linked_out_of_the_library_is_never_written_through(folders, tmp_path):
    inbox, library = folders
    live_photo(inbox)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (library / "2024").symlink_to(elsewhere)
    out = cli("organise", "--json", "--library", str(library), str(inbox)).stdout
    got = {Path(r["source"]).name: r for r in map(json.loads, out.splitlines())}
    assert got["IMG_0001.HEIC"]["action"] == "skip"
    assert f"{library}/2024 is a symbolic link to {elsewhere}, outside the library" in got["IMG_0001.HEIC"]["reason"]
    assert got["IMG_0001.MOV"]["reason"] == got["IMG_0001.AAE"]["reason"] == "stays with IMG_0001.HEIC, which could not be moved"
    assert list(elsewhere.iterdir()) == [] and len(list(inbox.iterdir())) == 4


def test_a_link_to_a_folder_inside_the_library_is_followed(folders):
    inbox, library = folders
    samples.jpeg(inbox / "IMG_0002.jpg", exif=NOV)
    (library / "archive/2024").mkdir(parents=True)
    (library / "2024").symlink_to(library / "archive/2024")
    got = run(LocalStore(str(library)), inbox, library)
    assert got["IMG_0002.jpg"].action == "move" and (library / "archive/2024/11/IMG_0002.jpg").is_file()


def test_a_linked_folder_in_the_inbox_is_reported_not_skipped_silently(folders, tmp_path):
    inbox, library = folders
    outside = tmp_path / "outside"
    samples.jpeg(outside / "IMG_0003.jpg", exif=NOV)
    (inbox / "Camera").symlink_to(outside)
    samples.jpeg(inbox / "IMG_0002.jpg", exif=NOV)
    got = run(LocalStore(str(library)), inbox, library)
    assert got["Camera"].action == "skip" and got["Camera"].reason == "symbolic link to a folder: not followed, the files in it are left alone"
    assert got["IMG_0002.jpg"].action == "move" and (outside / "IMG_0003.jpg").is_file()


# --- the ExApp's worker -------------------------------------------------------------------------


def test_the_worker_takes_a_file_deleted_before_its_move_in_its_stride(tmp_path):
    from test_worker import make_worker, run_due
    from userfolder import UserFolder

    class DeletedBeforeMove(UserFolder):
        def move(self, src, dst, expect=None):
            if src.endswith("IMG_0002.jpg"):
                os.unlink(self._abs(src))  # the user deleted it in the Files app
            super().move(src, dst, expect)

    worker, queue, home = make_worker(tmp_path, store_for=lambda user: DeletedBeforeMove(tmp_path / user))
    reports = []
    worker.on_batch = lambda user, summary: reports.append(summary)
    live_photo(home / "InstantUpload")
    worker.sweep("alice")
    run_due(worker, queue)
    worker.report_batches(quiet=0)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.AAE", "2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]
    assert queue.pending() == 0 and not list((home / "InstantUpload").iterdir())
    [summary] = reports
    assert (summary.moved, summary.problems) == (2, 0)  # nothing is said to be left in the inbox


def test_a_name_that_is_not_utf8_stays_with_a_reason_and_the_run_goes_on(folders):
    """An old camera card or a Windows archive can hold Latin-1 names; no layout or Nextcloud can hold them."""
    inbox, library = folders
    bad = os.fsdecode(b"caf\xe9.jpg")
    samples.jpeg(inbox / bad, exif=NOV)
    samples.jpeg(inbox / "good.jpg", exif=NOV, seed=1)
    done = subprocess.run([sys.executable, "-m", "mobile_backups", "organise", "--library", str(library), str(inbox)],
                          capture_output=True, check=True, env={"PYTHONPATH": str(ROOT / "ex_app" / "lib"), "LC_ALL": "C.UTF-8"})
    assert b"caf\xe9.jpg -> (stays)  [the file name is not valid UTF-8" in done.stdout
    assert sorted(tree(library)) == ["2024/11/good.jpg"]
    assert os.listdir(os.fsencode(inbox)) == [b"caf\xe9.jpg"]
