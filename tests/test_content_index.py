"""The content index: identical content is placed once across runs and folders, on real generated
files, through the local store (CLI) and through the worker with its stand-in Nextcloud."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mobile_backups import samples
from mobile_backups.content_index import ContentIndex
from mobile_backups.core.layout import DEFAULT_LAYOUT, parse_layout
from mobile_backups.engine import HEAD_BYTES, Decision, Settings, organise
from mobile_backups.journal import Journal
from mobile_backups.samples import Exif
from mobile_backups.store import LocalStore
from conftest import BERLIN, ROOT
from test_organise import inbox, organise as cli_organise, tree  # noqa: F401 (inbox: a fixture)
from test_worker import make_worker, run_due

NOV = Exif(date_time_original="2024:11:24 15:30:12", offset_time_original="+01:00", make="Apple", model="iPhone 15 Pro")
MAY_2023 = datetime(2023, 5, 5, 12, tzinfo=timezone.utc).timestamp()
NAMED = "IMG_20240301_101010.jpg"  # no EXIF date: dated by its name, into 2024/03


class Counted:
    """A byte source that adds what is read through it to a counter."""

    def __init__(self, source, add) -> None:
        self.source, self.add, self.size = source, add, source.size

    def read_at(self, offset: int, length: int) -> bytes:
        data = self.source.read_at(offset, length)
        self.add(len(data))
        return data


class Counting:
    """A store that counts its calls, and the bytes read and the head reads of each path."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.read: Counter[str] = Counter()
        self.heads: Counter[str] = Counter()
        self.walked: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def walk(self, folder: str):
        self.walked.append(folder)
        return self.inner.walk(folder)

    def listdir(self, folder: str) -> dict[str, int]:
        self.calls["listdir"] += 1
        return self.inner.listdir(folder)

    def head(self, path: str, length: int) -> bytes:
        self.calls["head"] += 1
        self.heads[path] += 1
        data = self.inner.head(path, length)
        self.read[path] += len(data)
        return data

    def digest(self, path: str) -> tuple[str, int]:
        self.calls["digest"] += 1
        value, size = self.inner.digest(path)
        self.read[path] += size
        return value, size

    @contextmanager
    def open(self, path: str, size: int | None = None) -> Iterator[Counted]:
        self.calls["open"] += 1
        with self.inner.open(path, size) as source:
            yield Counted(source, lambda n: self.read.update({path: n}))

    def library_bytes(self, library: Path) -> int:
        return sum(n for path, n in self.read.items() if path.startswith(f"{library}/"))


def run(store, inbox: Path, library: Path) -> dict[str, Decision]:
    """One organise run in this process, as the CLI does it (its index in the library's state folder)."""
    with ContentIndex(library / ".mobile_backups" / "content.sqlite") as index:
        settings = Settings(parse_layout(DEFAULT_LAYOUT), BERLIN, str(library), index)
        journal = Journal.new_run(library / ".mobile_backups" / "journals")
        try:
            decisions = organise(store, [str(inbox)], settings, journal, lambda decision: None)
        finally:
            journal.close()
    return {Path(d.item.path).name: d for d in decisions}


def burst(path: Path, variant: int) -> Path:
    """Photos of one scene and size that differ in their EXIF (so in their heads); no date in it:
    each is dated by its name, else by its file time."""
    return samples.jpeg(path, exif=Exif(make="Apple", model=f"iPhone {variant:02}"), seed=5, size=(1024, 768))


def copy_dated_by_file_time(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    samples.set_mtime(dst, MAY_2023)
    return dst


# --- the command line --------------------------------------------------------------------


def test_the_same_photo_dated_two_ways_is_placed_once_across_runs(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(inbox / NAMED, size=(640, 480))
    first = cli_organise(inbox, library)
    assert first[NAMED]["destination"] == "2024/03/" + NAMED
    copy = copy_dated_by_file_time(library / "2024/03" / NAMED, inbox / "photo.jpg")  # would go to 2023/05
    second = cli_organise(inbox, library)  # a new process: the index is read from the state folder
    dup = second["photo.jpg"]
    assert (dup["action"], dup["destination"]) == ("duplicate", None)
    assert dup["reason"] == f"identical to 2024/03/{NAMED} already in the library"
    assert copy.exists()  # a duplicate is never deleted: it stays in the inbox, reported
    assert sorted(tree(library)) == ["2024/03/" + NAMED]


def test_a_file_put_in_the_library_by_hand_is_found(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(inbox / NAMED)
    cli_organise(inbox, library)  # the index exists and knows what the engine placed
    beach = samples.jpeg(library / "2019/Holidays/beach.jpg", exif=NOV, seed=3)  # by hand, in a folder of its own
    (inbox / "IMG_0042.JPG").write_bytes(beach.read_bytes())
    result = cli_organise(inbox, library)
    assert result["IMG_0042.JPG"]["reason"] == "identical to 2019/Holidays/beach.jpg already in the library"
    assert sorted(tree(library)) == ["2019/Holidays/beach.jpg", "2024/03/" + NAMED]


def test_a_library_file_moved_or_removed_by_hand_is_not_claimed(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(inbox / NAMED, seed=1)
    samples.jpeg(inbox / "IMG_20240302_101010.jpg", seed=2)
    cli_organise(inbox, library)
    moved = library / "2010/Sorted/kept.jpg"
    moved.parent.mkdir(parents=True)
    (library / "2024/03" / NAMED).rename(moved)
    removed = (library / "2024/03/IMG_20240302_101010.jpg").read_bytes()
    (library / "2024/03/IMG_20240302_101010.jpg").unlink()
    copy_dated_by_file_time(moved, inbox / "a.jpg")
    (inbox / "b.jpg").write_bytes(removed)
    samples.set_mtime(inbox / "b.jpg", MAY_2023)
    result = cli_organise(inbox, library)
    assert result["a.jpg"]["reason"] == "identical to 2010/Sorted/kept.jpg already in the library"
    assert (result["b.jpg"]["action"], result["b.jpg"]["destination"]) == ("move", "2023/05/b.jpg")


def test_a_live_photo_whose_still_is_in_the_library_elsewhere_stays_a_pair(inbox, tmp_path):
    library = tmp_path / "Photos"
    still = samples.heic(inbox / "IMG_0001.HEIC", exif=NOV)
    samples.video(inbox / "IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:13+0100")
    trip = library / "2023/Trip/IMG_0001 (edited).HEIC"
    trip.parent.mkdir(parents=True)
    trip.write_bytes(still.read_bytes())  # the still, sorted by hand into a folder of its own
    result = cli_organise(inbox, library)
    assert result["IMG_0001.HEIC"]["reason"] == "identical to 2023/Trip/IMG_0001 (edited).HEIC already in the library"
    assert result["IMG_0001.MOV"]["destination"] == "2023/Trip/IMG_0001 (edited).MOV"  # the video joins its still
    assert sorted(tree(library)) == ["2023/Trip/IMG_0001 (edited).HEIC", "2023/Trip/IMG_0001 (edited).MOV"]


def test_a_same_size_different_file_is_placed_after_one_head_read_of_the_library_file(inbox, tmp_path):
    library = tmp_path / "Photos"
    old = burst(library / "2019/Old/IMG_1.jpg", 12)
    burst(inbox / "IMG_2.jpg", 13)
    assert old.stat().st_size == (inbox / "IMG_2.jpg").stat().st_size > 2 * HEAD_BYTES
    store = Counting(LocalStore())
    assert run(store, inbox, library)["IMG_2.jpg"].action == "move"
    assert store.heads[str(old)] == 1 and store.read[str(old)] == HEAD_BYTES  # one range read, never the whole file
    assert store.calls["digest"] == 0
    burst(inbox / "IMG_3.jpg", 14)  # the next one of the burst: both library files' heads are known
    store = Counting(LocalStore())
    assert run(store, inbox, library)["IMG_3.jpg"].action == "move"
    assert store.library_bytes(library) == 0 and store.calls["head"] == 0


def test_the_index_survives_a_restart(inbox, tmp_path):
    library = tmp_path / "Photos"
    photo = samples.jpeg(inbox / NAMED, size=(640, 480))
    head = hashlib.sha256(photo.read_bytes()[:HEAD_BYTES]).hexdigest()
    cli_organise(inbox, library)  # another process wrote it
    with ContentIndex(library / ".mobile_backups/content.sqlite") as index:
        known = index.known("2024/03/" + NAMED)
    assert known is not None and (known.size, known.head) == ((library / "2024/03" / NAMED).stat().st_size, head)


CRASH = """
import os, signal, sys
from pathlib import Path
from mobile_backups.content_index import ContentIndex
from mobile_backups.store import LocalStore
index = ContentIndex(Path(sys.argv[1]))
inserts = 0
def trace(statement):
    global inserts
    inserts += statement.startswith("INSERT INTO files")
    if inserts == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
index.db.set_trace_callback(trace)
index.refresh(LocalStore(), sys.argv[2])
"""


def test_a_crash_mid_write_leaves_the_index_as_it_was(tmp_path):
    library, db = tmp_path / "Photos", tmp_path / "content.sqlite"
    base = samples.jpeg(tmp_path / "base.jpg").read_bytes()
    for n in range(300):
        (library / f"2024/{n % 12 + 1:02}").mkdir(parents=True, exist_ok=True)
        (library / f"2024/{n % 12 + 1:02}/IMG_{n:04}.jpg").write_bytes(base + bytes(n))  # distinct sizes
        if n == 99:
            with ContentIndex(db) as index:
                index.refresh(LocalStore(), str(library))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "ex_app" / "lib")}
    killed = subprocess.run([sys.executable, "-c", CRASH, str(db), str(library), "150"], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("SELECT count(*) FROM files").fetchone() == (100,)  # all of the last walk, none of the torn one
    with ContentIndex(db) as index:
        assert index.refresh(LocalStore(), str(library))
        assert len(index.candidates(len(base) + 299)) == 1
        assert index.db.execute("SELECT count(*) FROM files").fetchone() == (300,)


def test_a_plan_learns_but_records_no_placement(inbox, tmp_path):
    library = tmp_path / "Photos"
    samples.jpeg(inbox / NAMED)
    cli_organise(inbox, library, "--dry-run")  # no state folder yet: the index is kept in memory
    assert not (library / ".mobile_backups/content.sqlite").exists()
    cli_organise(inbox, library)
    copy_dated_by_file_time(library / "2024/03" / NAMED, inbox / "photo.jpg")
    samples.jpeg(inbox / "IMG_20240303_101010.jpg", seed=4)
    planned = cli_organise(inbox, library, "--dry-run")
    assert planned["photo.jpg"]["action"] == "duplicate" and planned["IMG_20240303_101010.jpg"]["action"] == "move"
    with ContentIndex(library / ".mobile_backups/content.sqlite") as index:
        assert index.known("2024/03/IMG_20240303_101010.jpg") is None  # it did not move: not in the library


def test_the_cost_per_file_on_a_library_of_thousands(inbox, tmp_path):
    """3,000 library files: the listing reads no content; a new file costs one head read per library
    file of its size (three here), the first time only; nothing is read whole but real duplicates."""
    library = tmp_path / "Photos"
    new = samples.jpeg(inbox / NAMED, exif=Exif(model="iPhone 01"), seed=8)
    base = samples.jpeg(tmp_path / "base.jpg", seed=7).read_bytes()
    size = new.stat().st_size
    padding = size - len(base)
    same_size = {10, 1000, 2000}
    for n in range(3000):  # copies of one real JPEG, each made distinct by trailing bytes
        pad = padding if n in same_size else padding + 1 + n  # three of them have the new file's size
        folder = library / f"{2000 + n % 20}/{n % 12 + 1:02}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"IMG_{n:04}.jpg").write_bytes(base + n.to_bytes(4, "big") * (pad // 4) + bytes(pad % 4))
    store = Counting(LocalStore())
    assert run(store, inbox, library)[NAMED].action == "move"
    assert store.walked == [str(inbox), str(library)]  # the scan, then one listing of the library for the index
    assert store.calls["head"] == len(same_size) and store.calls["digest"] == 0
    assert store.library_bytes(library) == len(same_size) * min(HEAD_BYTES, size)
    assert store.calls["listdir"] == 1  # the destination folder; a candidate's folder only when heads agree
    samples.jpeg(inbox / "IMG_20240304_101010.jpg", exif=Exif(model="iPhone 02"), seed=8)  # that size again: every head is known
    store = Counting(LocalStore())
    run(store, inbox, library)
    assert store.library_bytes(library) == 0 and store.calls["head"] == 0 and store.walked == [str(inbox), str(library)]


# --- the ExApp worker ---------------------------------------------------------------------


def test_the_worker_places_identical_content_once_and_says_where_it_is(tmp_path, caplog):
    worker, queue, home = make_worker(tmp_path)
    beach = samples.jpeg(home / "Photos/2019/Holidays/beach.jpg", exif=NOV, seed=3)  # in the library before
    samples.jpeg(home / "InstantUpload" / NAMED, size=(640, 480))
    queue.add("alice", "InstantUpload/" + NAMED)
    run_due(worker, queue)
    copy_dated_by_file_time(home / "Photos/2024/03" / NAMED, home / "InstantUpload/IMG_0001.jpg")
    (home / "InstantUpload/IMG_0002.jpg").write_bytes(beach.read_bytes())
    queue.add("alice", "InstantUpload/IMG_0001.jpg")
    queue.add("alice", "InstantUpload/IMG_0002.jpg")
    with caplog.at_level(logging.INFO, logger="mobile_backups"):
        run_due(worker, queue)
    assert f"InstantUpload/IMG_0001.jpg stays in place: identical to 2024/03/{NAMED} already in the library" in caplog.text
    assert "InstantUpload/IMG_0002.jpg stays in place: identical to 2019/Holidays/beach.jpg already in the library" in caplog.text
    assert sorted(tree(home / "InstantUpload")) == ["IMG_0001.jpg", "IMG_0002.jpg"]
    assert sorted(tree(home / "Photos")) == ["2019/Holidays/beach.jpg", "2024/03/" + NAMED]
    assert (tmp_path / "state/content/alice.sqlite").is_file()  # in the ExApp's storage, per user


def test_the_worker_never_claims_a_copy_that_is_gone_or_changed(tmp_path):
    """Within RELIST_SECONDS no walk notices what the user did in the Files app: the check at decision
    time does (a listing for the size, the head read again), even where the index knows the whole hash."""
    worker, queue, home = make_worker(tmp_path)
    inbox, march = home / "InstantUpload", home / "Photos/2024/03"
    samples.jpeg(inbox / NAMED, seed=1)
    burst(inbox / "IMG_20240305_101010.jpg", 12)
    samples.jpeg(inbox / "IMG_20240306_101010.jpg", seed=2)
    originals = {}
    for name in (NAMED, "IMG_20240305_101010.jpg", "IMG_20240306_101010.jpg"):
        originals[name] = (inbox / name).read_bytes()
        queue.add("alice", f"InstantUpload/{name}")
    run_due(worker, queue)
    for n, name in enumerate(originals):  # copies dated otherwise: duplicates, and now the index knows the whole hashes
        copy_dated_by_file_time(march / name, inbox / f"copy{n}.jpg")
        queue.add("alice", f"InstantUpload/copy{n}.jpg")
    run_due(worker, queue)
    assert len(tree(inbox)) == 3 and len(tree(home / "Photos")) == 3
    with open(march / NAMED, "ab") as grown:  # edited by hand: longer, the same first bytes
        grown.write(b"\0" * 100)
    burst(march / "IMG_20240305_101010.jpg", 13)  # rewritten by hand: the same size and name, other content
    (march / "IMG_20240306_101010.jpg").unlink()  # deleted by hand
    for n, data in enumerate(originals.values()):
        (inbox / f"again{n}.jpg").write_bytes(data)
        samples.set_mtime(inbox / f"again{n}.jpg", MAY_2023)
        queue.add("alice", f"InstantUpload/again{n}.jpg")
    run_due(worker, queue)
    assert sorted(tree(home / "Photos")) == ["2023/05/again0.jpg", "2023/05/again1.jpg", "2023/05/again2.jpg",
                                             "2024/03/" + NAMED, "2024/03/IMG_20240305_101010.jpg"]
    with ContentIndex(tmp_path / "state/content/alice.sqlite") as index:
        assert index.known("2024/03/IMG_20240306_101010.jpg") is None  # the stale entry is dropped
        grown = index.known("2024/03/" + NAMED)
        assert grown is not None and grown.size == len(originals[NAMED]) + 100 and grown.digest is None
        assert index.known("2023/05/again0.jpg") is not None
