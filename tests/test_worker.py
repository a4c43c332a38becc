"""The ExApp's worker against a stand-in store with the NextcloudStore interface."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mobile_backups.nextcloud import occ
from mobile_backups import samples
from mobile_backups.nextcloud.settings import admin_config, user_config
from mobile_backups.samples import Exif
from mobile_backups.nextcloud.worker import Organiser, inbox_of, stem_key
from mobile_backups.nextcloud.work_queue import MAX_ATTEMPTS, WorkQueue
from conftest import BERLIN, ROOT
from test_organise import tree
from userfolder import UserFolder

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00")
CONFIG = user_config(admin_config({}), {}, server_zone=BERLIN)  # the code's defaults


def make_worker(tmp_path: Path, store_for=None) -> tuple[Organiser, WorkQueue, Path]:
    home = tmp_path / "alice"
    home.mkdir(exist_ok=True)
    queue = WorkQueue(tmp_path / "state" / "queue.sqlite")
    worker = Organiser(store_for or (lambda user: UserFolder(tmp_path / user)), queue, tmp_path / "state", lambda user: CONFIG)
    return worker, queue, home


def run_due(worker: Organiser, queue: WorkQueue) -> None:
    for user, jobs in queue.due().items():
        worker.process(user, jobs)


def test_defaults_and_inboxes():
    assert CONFIG.inboxes == ("InstantUpload", "Photos", "AutoUpload") and CONFIG.library == "Photos"
    assert inbox_of("InstantUpload/2024/IMG_1.jpg", CONFIG) == "InstantUpload"
    assert inbox_of("Photos/IMG_1.jpg", CONFIG) == "Photos"  # iOS uploads into the library's top level
    assert inbox_of("Photos/2024/11/IMG_1.jpg", CONFIG) is None  # already organised: our own moves land here
    assert inbox_of("Documents/IMG_1.jpg", CONFIG) is None
    assert stem_key("IMG_E0001.HEIC") == stem_key("IMG_0001.MOV") == stem_key("IMG_0001.HEIC.xmp") == "img_0001"


def test_an_event_gets_the_file_and_its_companions_organised(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.heic(home / "InstantUpload/IMG_0001.HEIC", exif=NOV)
    samples.video(home / "InstantUpload/IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:13+0100")
    (home / "InstantUpload/IMG_0001.AAE").write_text("<plist/>")
    samples.jpeg(home / "InstantUpload/other.jpg", exif=NOV)  # no event for it: not touched by this batch
    queue.add("alice", "InstantUpload/IMG_0001.HEIC")
    run_due(worker, queue)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.AAE", "2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]
    assert sorted(tree(home / "InstantUpload")) == ["other.jpg"]
    assert queue.pending() == 0


def test_own_moves_and_paths_outside_inboxes_are_dropped_without_reading(tmp_path):
    worker, queue, home = make_worker(tmp_path, store_for=lambda user: pytest.fail("no store needed"))
    queue.add("alice", "Photos/2024/11/IMG_0001.HEIC")
    queue.add("alice", "Documents/scan.jpg")
    run_due(worker, queue)
    assert queue.pending() == 0


def test_ios_uploads_into_the_library_folder(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "Photos/IMG_0005.JPG", exif=NOV)
    queue.add("alice", "Photos/IMG_0005.JPG")
    run_due(worker, queue)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0005.JPG"]


def test_duplicates_stay_and_the_sweep_leaves_them_alone(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "Photos/2024/11/IMG_1.jpg", exif=NOV)
    (home / "InstantUpload").mkdir()
    (home / "InstantUpload/again.jpg").write_bytes((home / "Photos/2024/11/IMG_1.jpg").read_bytes())
    (home / "InstantUpload/notes.txt").write_text("x")
    assert worker.sweep("alice") == 2
    run_due(worker, queue)
    assert sorted(tree(home / "InstantUpload")) == ["again.jpg", "notes.txt"]
    assert worker.sweep("alice") == 0  # settled: not looked at again while unchanged


def test_the_sweep_finds_what_no_event_announced(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "AutoUpload/2024/IMG_20240301_101010.jpg")
    samples.jpeg(home / "Photos/2023/05/old.jpg", exif=NOV)  # in the library already: not queued
    assert worker.sweep("alice") == 1
    run_due(worker, queue)
    assert "2024/03/IMG_20240301_101010.jpg" in tree(home / "Photos")


def test_failures_are_retried_with_back_off_then_parked(tmp_path):
    class Broken(UserFolder):
        def move(self, src: str, dst: str) -> None:
            raise OSError("server answered 503")

    def failing(user):  # the listing fails: the whole folder is retried
        store = Broken(tmp_path / user)
        store.entries = lambda folder: (_ for _ in ()).throw(OSError("server answered 503"))
        return store

    worker, queue, home = make_worker(tmp_path, store_for=failing)
    samples.jpeg(home / "InstantUpload/a.jpg", exif=NOV)
    queue.add("alice", "InstantUpload/a.jpg")
    for attempt in range(MAX_ATTEMPTS):
        jobs = [j for js in queue.due().values() for j in js] or [j for js in _all(queue).values() for j in js]
        worker.process("alice", jobs)
    assert queue.parked() == [("alice", "InstantUpload/a.jpg", "server answered 503")]
    assert (home / "InstantUpload/a.jpg").exists()
    queue.add("alice", "InstantUpload/a.jpg")  # a new event revives it
    assert queue.parked() == []


def _all(queue: WorkQueue):
    """Jobs regardless of their back-off (the test does not wait minutes)."""
    with queue._lock:
        queue._db.execute("UPDATE queue SET due = 0 WHERE parked = 0")
    return queue.due()


def test_the_queue_survives_a_restart(tmp_path):
    queue = WorkQueue(tmp_path / "q.sqlite")
    queue.add("alice", "InstantUpload/a.jpg", delay=0)
    del queue
    reopened = WorkQueue(tmp_path / "q.sqlite")
    assert [j.path for j in reopened.due()["alice"]] == ["InstantUpload/a.jpg"]


DRIVER = """
import sys
from pathlib import Path
from zoneinfo import ZoneInfo
import kill_at_step
from mobile_backups.nextcloud.settings import admin_config, user_config
from mobile_backups.nextcloud.worker import Organiser
from mobile_backups.nextcloud.work_queue import WorkQueue
from userfolder import UserFolder
kill_at_step.install(int(sys.argv[1]))
root = Path(sys.argv[2])
queue = WorkQueue(root / "state" / "queue.sqlite")
config = user_config(admin_config({}), {}, server_zone=ZoneInfo("Europe/Berlin"))
worker = Organiser(lambda user: UserFolder(root / user), queue, root / "state", lambda user: config)
for user, jobs in queue.due().items():
    worker.process(user, jobs)
"""


def test_a_killed_worker_loses_nothing_and_finishes_after_a_restart(tmp_path):
    pristine = tmp_path / "pristine"
    samples.heic(pristine / "alice/InstantUpload/IMG_0001.HEIC", exif=NOV)
    samples.video(pristine / "alice/InstantUpload/IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:13+0100")
    samples.jpeg(pristine / "alice/InstantUpload/IMG_20240101_101010.jpg")
    samples.jpeg(pristine / "alice/Photos/2024/11/IMG_0001.HEIC", exif=NOV, seed=9)  # forces a suffix for the pair
    original = tree(pristine / "alice/InstantUpload")
    queue = WorkQueue(pristine / "state" / "queue.sqlite")
    for name in original:
        queue.add("alice", f"InstantUpload/{name}")
    del queue
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'ex_app' / 'lib'}:{ROOT / 'tests'}"}
    finals = set()
    for step in range(1, 100):
        root = tmp_path / f"run{step}"
        subprocess.run(["cp", "-a", str(pristine), str(root)], check=True)
        run = subprocess.run([sys.executable, "-c", DRIVER, str(step), str(root)], env=env, capture_output=True, text=True)
        if run.returncode == 0:
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        everything = set(tree(root / "alice").values())
        assert set(original.values()) <= everything, f"lost a file at step {step}"
        # restart: a new worker, the same queue and journals
        subprocess.run([sys.executable, "-c", DRIVER, "0", str(root)], env=env, check=True)
        finals.add(tuple(sorted(tree(root / "alice").items())))
        assert not list((root / "alice/InstantUpload").iterdir()), f"left behind after a kill at step {step}"
    assert step > 5 and len(finals) == 1  # every interrupted run ends in the same, complete tree
    assert sorted(dict(next(iter(finals)))) == [
        "Photos/2024/01/IMG_20240101_101010.jpg", "Photos/2024/11/IMG_0001 (2).HEIC", "Photos/2024/11/IMG_0001 (2).MOV", "Photos/2024/11/IMG_0001.HEIC",
    ]


def test_a_live_photo_video_arriving_later_follows_its_still(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "Photos/2024/11/IMG_0007.HEIC", exif=NOV, seed=5)  # someone else's: the still gets (2)
    samples.heic(home / "InstantUpload/IMG_0007.HEIC", exif=Exif(date_time_original="2024:11:30 23:59:59", offset_time_original="+01:00"))
    queue.add("alice", "InstantUpload/IMG_0007.HEIC")
    run_due(worker, queue)
    assert "2024/11/IMG_0007 (2).HEIC" in tree(home / "Photos")
    # minutes later, the video half: recorded three seconds later, after midnight, it still joins the still under its name
    samples.video(home / "InstantUpload/IMG_0007.MOV", apple_creationdate="2024-12-01T00:00:02+0100")
    (home / "InstantUpload/IMG_0007.AAE").write_text("<plist/>")
    queue.add("alice", "InstantUpload/IMG_0007.MOV")
    run_due(worker, queue)
    assert {"2024/11/IMG_0007 (2).HEIC", "2024/11/IMG_0007 (2).MOV", "2024/11/IMG_0007 (2).AAE"} <= set(tree(home / "Photos"))
    assert not list((home / "InstantUpload").iterdir())


def test_a_batch_is_reported_once_when_it_is_over(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    reports = []
    worker.on_batch = lambda user, summary: reports.append((user, summary))
    samples.jpeg(home / "InstantUpload/IMG_1.jpg", exif=NOV, seed=1)
    samples.jpeg(home / "InstantUpload/IMG_2.jpg", exif=NOV, seed=2)
    (home / "InstantUpload/IMG_3.jpg").write_bytes((home / "InstantUpload/IMG_1.jpg").read_bytes())  # a duplicate
    samples.video(home / "InstantUpload/VID_20241124_153500.mp4")
    worker.sweep("alice")
    run_due(worker, queue)
    assert worker.report_batches(quiet=60) > 0 and not reports  # not over yet: nothing said
    worker.report_batches(quiet=0)
    [(user, summary)] = reports
    assert user == "alice" and (summary.moved, summary.videos, summary.duplicates, summary.problems) == (3, 1, 1, 0)
    subject, message = summary.describe("Photos")
    assert subject == "2 photos and 1 video organised into Photos/2024/11"
    assert "1 duplicate left in the inbox" in message
    worker.report_batches(quiet=0)
    assert len(reports) == 1  # once per batch, not per file


def test_a_folder_the_user_chose_is_organised_though_it_is_no_inbox(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "Old phone/DCIM/IMG_7.jpg", exif=NOV)
    assert worker.sweep("alice", "Old phone") == 1
    run_due(worker, queue)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_7.jpg"] and not tree(home / "Old phone")


def test_undo_puts_a_run_back_and_the_files_stay_put(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "InstantUpload/IMG_8.jpg", exif=NOV)
    worker.sweep("alice")
    run_due(worker, queue)
    status = occ.status(worker, True, {})
    [run] = [line.split(":")[0].strip() for line in status.splitlines() if line.startswith("  alice/")]
    assert "alice: 1 file(s) organised in 1 run(s)" in status
    assert "1 file(s) put back" in occ.undo_run(worker, run)
    assert sorted(tree(home / "InstantUpload")) == ["IMG_8.jpg"]
    queue.add("alice", "InstantUpload/IMG_8.jpg")  # the undo's own move fires an event
    run_due(worker, queue)
    assert worker.sweep("alice") == 0 and sorted(tree(home / "InstantUpload")) == ["IMG_8.jpg"]
    assert "1 put back" in occ.status(worker, True, {})


def test_occ_organise_waits_for_the_queue_and_the_dry_run_moves_nothing(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.jpeg(home / "InstantUpload/IMG_9.jpg", exif=NOV)
    dry = occ.organise(worker, ["alice"], dry_run=True)
    assert "alice: InstantUpload/IMG_9.jpg -> Photos/2024/11/IMG_9.jpg" in dry and "1 of 1 file(s) would move" in dry
    assert sorted(tree(home / "InstantUpload")) == ["IMG_9.jpg"] and queue.pending() == 0
    threading.Thread(target=worker.run, daemon=True).start()
    try:
        out = occ.organise(worker, ["alice"], dry_run=False)
    finally:
        worker.stop.set()
        queue.wake.set()
    assert "alice: 1 file(s) queued from InstantUpload, Photos, AutoUpload" in out and "alice: done" in out
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_9.jpg"]


def test_reads_run_ahead_of_the_moves_and_each_group_keeps_its_order(tmp_path):
    """The moves start before all files are read, and while they run, files further on are being read
    (a pipeline): the first move waits for such a read, which would never come if reads happened only
    between moves."""
    started_reading: list[str] = []
    far_read = threading.Event()
    moves: list[str] = []
    read_before_first_move: list[int] = []

    class Watched(UserFolder):
        def open(self, path: str, size: int | None = None):
            started_reading.append(path)
            if len(started_reading) > 12:
                far_read.set()
            return super().open(path, size)

        def move(self, src: str, dst: str, expect=None) -> None:
            read_before_first_move[:] = read_before_first_move or [len(started_reading)]
            assert far_read.wait(10), f"no read ran ahead of the first move: {started_reading}"
            moves.append(src)
            super().move(src, dst, expect)

    worker, queue, home = make_worker(tmp_path, store_for=lambda user: Watched(tmp_path / user))
    for i in range(30):
        samples.jpeg(home / f"InstantUpload/IMG_{i:04d}.JPG", exif=NOV, seed=i)
        (home / f"InstantUpload/IMG_{i:04d}.AAE").write_text("<plist/>")
    assert worker.sweep("alice") == 60
    run_due(worker, queue)
    assert len(tree(home / "Photos/2024/11")) == 60 and not tree(home / "InstantUpload")
    assert read_before_first_move[0] < 30  # not all 30 photos read first (sidecars are not read)
    for i in range(30):  # a sidecar after its photo (the 30 are not alike: no duplicate stays)
        assert moves.index(f"InstantUpload/IMG_{i:04d}.JPG") < moves.index(f"InstantUpload/IMG_{i:04d}.AAE")
    assert queue.pending() == 0


def test_the_worker_waits_while_a_busy_users_files_are_due(tmp_path):
    """A user's batch in progress with more of their files due: the loop sleeps until the batch ends
    (it used to poll the queue without pause, a core's worth of CPU on the server it shares)."""
    release = threading.Event()
    worker, queue, home = make_worker(tmp_path)
    calls = []
    worker.process = lambda user, jobs: (calls.append(len(jobs)), release.wait(10))  # type: ignore[method-assign]
    asked = []
    due = queue.due
    queue.due = lambda *a, **kw: (asked.append(1), due(*a, **kw))[1]  # type: ignore[method-assign]
    queue.add_many("alice", [f"InstantUpload/IMG_{i}.jpg" for i in range(600)])  # more than one batch
    runner = threading.Thread(target=worker.run)
    runner.start()
    try:
        time.sleep(1.0)
        assert calls == [500] and len(asked) < 10, f"{len(asked)} looks at the queue in a second"
    finally:
        worker.stop.set()
        release.set()
        queue.wake.set()
        runner.join(10)


def test_a_failure_mid_part_leaves_the_journal_as_it_happened(tmp_path):
    """A part's groups are journalled before its moves: when the second move fails unexpectedly, the one
    under way is left for finishing, every other group is closed with what it really moved (its moves, or
    nothing if it never started: groups move side by side), and a restart organises everything once."""
    class Failing(UserFolder):
        moves = 0

        def move(self, src: str, dst: str, expect=None) -> None:
            Failing.moves += 1
            if Failing.moves == 2:
                raise RuntimeError("a bug")
            super().move(src, dst, expect)

    worker, queue, home = make_worker(tmp_path, store_for=lambda user: Failing(tmp_path / user))
    for i in range(5):
        samples.jpeg(home / f"InstantUpload/IMG_{i}.jpg", exif=NOV, seed=i)
    worker.sweep("alice")
    with pytest.raises(RuntimeError):
        run_due(worker, queue)
    records = [json.loads(line) for path in (tmp_path / "state/journals/alice").glob("*.jsonl") for line in path.read_text().splitlines()]
    done = {r["group"]: r["moved"] for r in records if r["op"] == "done"}
    begun = {r["group"]: r["moves"] for r in records if r["op"] == "move"}
    assert sorted(begun) == [1, 2, 3, 4, 5] and sorted(done) == [1, 3, 4, 5], "the failed group is left for finishing"
    assert all(done[g] in ([], begun[g]) for g in done) and done[1] == begun[1]
    assert all(Path(tmp_path / "alice" / dst).exists() for g in done for _, dst in done[g]), "the journal says what happened"
    restarted, queue, _ = make_worker(tmp_path)  # a new worker finishes group 2 and organises the rest
    run_due(restarted, queue)
    assert len(tree(home / "Photos/2024/11")) == 5 and not tree(home / "InstantUpload")
