"""Live photos: a still and a video of the same name are one only when they say so, and on Nextcloud
the pair the phone app linked is moved by the server itself, which the app must take as a clean move."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from mobile_backups import samples
from mobile_backups.core.layout import DEFAULT_LAYOUT, parse_layout
from mobile_backups.core.media import read_media_info
from mobile_backups.core.source import BlockReader
from mobile_backups.engine import Settings, organise
from mobile_backups.journal import Journal, read_journal
from mobile_backups.nextcloud import occ
from mobile_backups.nextcloud.store import AppAuth, NextcloudStore
from mobile_backups.nextcloud.worker import Organiser
from mobile_backups.nextcloud.work_queue import WorkQueue
from mobile_backups.samples import Exif
from mobile_backups.store import LocalFile, LocalStore
from conftest import BERLIN
from fake_nextcloud import FakeNextcloud
from test_organise import tree
from test_worker import CONFIG, make_worker, run_due

ID = "8A4B3F2C-1D2E-4F5A-9B8C-7D6E5F4A3B2C"
OTHER_ID = "1F0E2D3C-4B5A-4968-8776-A5B4C3D2E1F0"


def still_exif(when: str = "2024:11:24 15:30:12", offset: str | None = "+01:00", content_id: str | None = None) -> Exif:
    return Exif(date_time_original=when, offset_time_original=offset, make="Apple", model="iPhone 15 Pro", content_id=content_id)


def run(inbox: Path, library: Path) -> dict[str, tuple[str, str | None]]:
    """Organise `inbox` into `library` with the engine: file name -> (action, destination)."""
    journal = Journal.new_run(library / ".mobile_backups" / "journals")
    decisions = organise(LocalStore(), [str(inbox)], Settings(parse_layout(DEFAULT_LAYOUT), BERLIN, str(library)), journal, lambda d: None)
    journal.close()
    return {Path(d.item.path).name: (d.action, d.destination) for d in decisions}


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    return tmp_path / "InstantUpload"


def content_id(path: Path) -> str | None:
    with LocalFile(path) as source:
        return read_media_info(BlockReader(source)).content_id


@pytest.mark.parametrize("maker", [samples.heic, samples.jpeg])
def test_the_identifiers_are_read_as_exiftool_reads_them(tmp_path, maker):
    still = maker(tmp_path / f"IMG_0001.{'HEIC' if maker is samples.heic else 'JPG'}", exif=still_exif(content_id=ID))
    video = samples.video(tmp_path / "IMG_0001.MOV", content_id=ID)
    assert content_id(still) == content_id(video) == ID
    out = subprocess.run(["exiftool", "-s3", "-Apple:MediaGroupUUID", "-Keys:ContentIdentifier", still, video], capture_output=True, text=True).stdout
    assert out.split() == ["========", str(still), ID, "========", str(video), ID, "2", "image", "files", "read"]
    rewritten = subprocess.run(["exiftool", "-q", "-overwrite_original", f"-Apple:MediaGroupUUID={OTHER_ID}", still], capture_output=True)
    assert rewritten.returncode == 0 and content_id(still) == OTHER_ID  # a maker note exiftool wrote itself
    assert content_id(maker(tmp_path / f"plain{still.suffix}", exif=still_exif())) is None


def test_matching_identifiers_pair_though_the_times_differ(inbox, tmp_path):
    samples.heic(inbox / "IMG_0001.HEIC", exif=still_exif(content_id=ID))
    samples.video(inbox / "IMG_0001.MOV", content_id=ID, apple_creationdate="2024-12-03T08:00:00+0100")  # a clock that is off
    result = run(inbox, tmp_path / "lib")
    assert result["IMG_0001.HEIC"] == ("move", "2024/11/IMG_0001.HEIC")
    assert result["IMG_0001.MOV"] == ("companion", "2024/11/IMG_0001.MOV")


@pytest.mark.parametrize("video_id", [OTHER_ID, None])
def test_different_identifiers_or_one_alone_do_not_pair(inbox, tmp_path, video_id):
    samples.heic(inbox / "IMG_0001.HEIC", exif=still_exif(content_id=ID))
    # recorded the same second: only the identifiers tell them apart
    samples.video(inbox / "IMG_0001.MOV", content_id=video_id, apple_creationdate="2024-11-24T15:30:12+0100")
    samples.jpeg(inbox / "IMG_0002.JPG", exif=still_exif())
    samples.video(inbox / "IMG_0002.MOV", content_id=OTHER_ID, apple_creationdate="2024-11-24T15:30:12+0100", size=(80, 60))
    result = run(inbox, tmp_path / "lib")
    assert result["IMG_0001.MOV"][0] == "move" and result["IMG_0002.MOV"][0] == "move"  # each a group of its own
    assert result["IMG_0001.HEIC"][0] == result["IMG_0002.JPG"][0] == "move"


def test_unrelated_files_of_one_name_each_go_by_their_own_date(inbox, tmp_path):
    samples.heic(inbox / "IMG_0001.HEIC", exif=still_exif(content_id=ID))
    samples.video(inbox / "IMG_0001.MOV", content_id=OTHER_ID, apple_creationdate="2025-03-02T10:00:00+0100")
    result = run(inbox, tmp_path / "lib")
    assert result == {"IMG_0001.HEIC": ("move", "2024/11/IMG_0001.HEIC"), "IMG_0001.MOV": ("move", "2025/03/IMG_0001.MOV")}


@pytest.mark.parametrize(
    ("still", "video", "pair"),
    [
        # EXIF local time with its offset, the video's creationdate with its own: compared as instants
        (still_exif("2024:11:30 23:59:59"), {"apple_creationdate": "2024-12-01T00:00:01+0100"}, True),
        # the same instant written in another zone's wall-clock time
        (still_exif("2024:11:24 15:30:12"), {"apple_creationdate": "2024-11-24T09:30:14-0500"}, True),
        # iPhone video without keys: mvhd is UTC; the still's EXIF says +01:00
        (still_exif("2024:11:24 15:30:12"), {"mvhd_utc": datetime(2024, 11, 24, 14, 30, 11)}, True),
        # no offset in the still: its wall clock against the video's time in the user's zone (Berlin)
        (still_exif("2024:11:24 15:30:12", offset=None), {"mvhd_utc": datetime(2024, 11, 24, 14, 30, 14)}, True),
        (still_exif("2024:11:24 15:30:12"), {"apple_creationdate": "2024-11-24T15:30:16+0100"}, False),
        (still_exif("2024:11:24 15:30:12"), {"apple_creationdate": "2024-11-24T16:30:12+0100"}, False),  # same wall clock, an hour apart
        (still_exif("2024:11:24 15:30:12"), {"mvhd_utc": datetime(2024, 11, 24, 15, 30, 12)}, False),  # mvhd is UTC, not local
    ],
)
def test_without_identifiers_capture_times_within_three_seconds_pair(inbox, tmp_path, still, video, pair):
    samples.heic(inbox / "IMG_0001.HEIC", exif=still)
    samples.video(inbox / "IMG_0001.MOV", **video)
    assert run(inbox, tmp_path / "lib")["IMG_0001.MOV"][0] == ("companion" if pair else "move")


def test_a_real_pair_is_never_split(inbox, tmp_path):
    samples.heic(inbox / "good.HEIC", exif=still_exif())
    samples.corrupt_copy(inbox / "good.HEIC", inbox / "IMG_0001.HEIC", keep_bytes=200)  # the still cannot be read: it stays
    (inbox / "good.HEIC").unlink()
    samples.video(inbox / "IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:12+0100")
    samples.heic(inbox / "IMG_0002.HEIC", exif=still_exif(content_id=ID))
    samples.corrupt_copy(inbox / "IMG_0002.HEIC", inbox / "IMG_0003.HEIC", keep_bytes=300)
    samples.video(inbox / "IMG_0003.MOV", content_id=ID, apple_creationdate="2024-11-24T15:30:12+0100")
    (inbox / "IMG_0002.HEIC").unlink()
    result = run(inbox, tmp_path / "lib")
    assert result["IMG_0001.HEIC"][0] == result["IMG_0001.MOV"][0] == "skip"  # the still stays -> its video stays
    assert result["IMG_0003.HEIC"][0] == result["IMG_0003.MOV"][0] == "skip"
    assert sorted(tree(inbox)) == ["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0003.HEIC", "IMG_0003.MOV"]


# --- on Nextcloud: the server moves a linked pair itself ----------------------------------------


@pytest.fixture
def nextcloud(tmp_path: Path):
    fake = FakeNextcloud(files=tmp_path / "files")
    yield fake
    fake.close()


def worker_on(fake: FakeNextcloud, tmp_path: Path) -> tuple[Organiser, WorkQueue, list]:
    auth = AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64)
    queue = WorkQueue(tmp_path / "state" / "queue.sqlite")
    reports: list = []
    worker = Organiser(lambda user: NextcloudStore(auth, user), queue, tmp_path / "state", lambda user: CONFIG,
                       on_batch=lambda user, summary: reports.append(summary))
    return worker, queue, reports


def upload_live_photos(fake: FakeNextcloud, count: int, *, linked: bool = True) -> Path:
    home = fake.files.root / "alice"
    for n in range(1, count + 1):
        samples.heic(home / f"InstantUpload/IMG_000{n}.HEIC", exif=still_exif(content_id=f"{ID[:-1]}{n}"), seed=n)
        samples.video(home / f"InstantUpload/IMG_000{n}.MOV", content_id=f"{ID[:-1]}{n}", apple_creationdate="2024-11-24T15:30:12+0100")
        if linked:
            fake.files.link("alice", f"InstantUpload/IMG_000{n}.HEIC", f"InstantUpload/IMG_000{n}.MOV")
    (home / "Photos").mkdir(parents=True)
    return home


def test_a_pair_the_server_moves_itself_is_one_clean_group(nextcloud, tmp_path):
    home = upload_live_photos(nextcloud, 3)
    samples.jpeg(home / "Photos/2024/11/IMG_0003.HEIC", exif=still_exif(), seed=9)  # someone else's: the pair becomes (2)
    worker, queue, reports = worker_on(nextcloud, tmp_path)
    worker.sweep("alice")
    for user, jobs in queue.due().items():
        worker.process(user, jobs)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV", "2024/11/IMG_0002.HEIC", "2024/11/IMG_0002.MOV",
                                             "2024/11/IMG_0003 (2).HEIC", "2024/11/IMG_0003 (2).MOV", "2024/11/IMG_0003.HEIC"]
    assert not list((home / "InstantUpload").iterdir())
    # the server moved each video with its still; the app's own MOVE of the video then found it there
    assert [status for src, dst, status in nextcloud.files.moves if src.endswith(".MOV")] == [412, 412, 412]
    [journal] = (tmp_path / "state/journals/alice").glob("*.jsonl")
    groups = [g.done for g in read_journal(journal).groups.values()]
    assert sorted(groups) == sorted([[(f"InstantUpload/IMG_000{n}.HEIC", f"Photos/2024/11/IMG_000{n}{s}.HEIC"),
                                      (f"InstantUpload/IMG_000{n}.MOV", f"Photos/2024/11/IMG_000{n}{s}.MOV")]
                                     for n, s in ((1, ""), (2, ""), (3, " (2)"))])
    worker.report_batches(quiet=0)
    [summary] = reports
    assert (summary.moved, summary.videos, summary.problems) == (6, 3, 0)
    assert summary.describe("Photos") == ("3 photos and 3 videos organised into Photos/2024/11", "Folders: 2024/11")
    # undo: moving a video back brings its still back too; neither is reported as lost, both stay put
    [run_name] = [line.split(":")[0].strip() for line in occ.status(worker, True, {}).splitlines() if line.startswith("  alice/")]
    out = occ.undo_run(worker, run_name)
    assert "6 file(s) put back" in out and "cannot" not in out
    assert sorted(tree(home / "InstantUpload")) == [f"IMG_000{n}.{ext}" for n in (1, 2, 3) for ext in ("HEIC", "MOV")]
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0003.HEIC"]
    assert worker.sweep("alice") == 0


def test_a_clash_is_still_a_clash(nextcloud, tmp_path):
    """A taken destination that is not the file itself is never taken for a server move."""
    home = upload_live_photos(nextcloud, 1, linked=False)
    store = NextcloudStore(AppAuth(nextcloud.url, "mobile_backups", "0.1.0", "s" * 64), "alice")
    samples.jpeg(home / "Photos/taken.MOV")
    store.entries("InstantUpload")
    with pytest.raises(FileExistsError):
        store.move("InstantUpload/IMG_0001.MOV", "Photos/taken.MOV")
    assert (home / "InstantUpload/IMG_0001.MOV").exists()


def test_a_late_video_follows_its_still_only_if_it_is_its_live_video(tmp_path):
    worker, queue, home = make_worker(tmp_path)
    samples.heic(home / "InstantUpload/IMG_0007.HEIC", exif=still_exif(content_id=ID))
    samples.heic(home / "InstantUpload/IMG_0008.HEIC", exif=still_exif())
    worker.sweep("alice")
    run_due(worker, queue)
    samples.video(home / "InstantUpload/IMG_0007.MOV", content_id=ID, apple_creationdate="2024-11-24T15:30:12+0100")
    samples.video(home / "InstantUpload/IMG_0008.MOV", apple_creationdate="2025-02-01T12:00:00+0100")  # same name, another day
    worker.sweep("alice")
    run_due(worker, queue)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0007.HEIC", "2024/11/IMG_0007.MOV", "2024/11/IMG_0008.HEIC", "2025/02/IMG_0008.MOV"]


def test_the_maker_note_reader_is_bounded_on_hostile_bytes():
    import struct
    import time as clock

    from mobile_backups.core.media import apple_content_id
    tiff = samples.exif_bytes(Exif(date_time_original="2024:11:24 15:30:12", content_id=ID))[6:]
    assert apple_content_id(tiff) == ID
    note = tiff.index(b"Apple iOS\x00")
    cases = [tiff[:n] for n in range(0, len(tiff), 7)]  # cut anywhere
    cases.append(tiff[: note + 14] + b"\xff\xff" + tiff[note + 16 :])  # 65,535 entries declared in the maker note
    cases.append(tiff[: note + 14 + 2 + 12 + 8] + struct.pack(">I", 0xFFFFFFF0) + tiff[note + 14 + 2 + 12 + 12 :])  # value far outside
    cases.append(tiff[: note + 14 + 2 + 12 + 4] + struct.pack(">I", 0xFFFFFFFF) + tiff[note + 14 + 2 + 12 + 8 :])  # 4 G characters
    cases.append(tiff[:4] + struct.pack("<I" if tiff[:2] == b"II" else ">I", 0xFFFFFFFF) + tiff[8:])  # IFD0 nowhere
    started = clock.perf_counter()
    found = [apple_content_id(case) for case in cases]
    assert clock.perf_counter() - started < 1.0
    assert set(found) <= {None, ID} and found[-4:] == [ID, None, None, None]  # the declared count is capped by the bytes there


def test_a_video_linked_to_a_still_organised_before_it_takes_a_detour_to_it(nextcloud, tmp_path):
    """iOS links the halves after both are uploaded; when the still was organised in between, only the video's
    link is set (the app's PROPPATCH on the still's old path fails) and Nextcloud refuses to move the video
    beside the still (the still's name is taken, by the still): moved via a detour name, both end together."""
    home = upload_live_photos(nextcloud, 1, linked=False)
    video = home / "InstantUpload/IMG_0001.MOV"
    held = video.rename(tmp_path / "IMG_0001.MOV")  # not uploaded yet
    worker, queue, reports = worker_on(nextcloud, tmp_path)
    worker.sweep("alice")
    for user, jobs in queue.due().items():
        worker.process(user, jobs)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.HEIC"]
    samples.video(held, apple_creationdate="2025-01-01T10:00:00+0100")  # its dates disagree: the link decides
    held.rename(video)
    nextcloud.files.link("alice", "Photos/2024/11/IMG_0001.HEIC", "InstantUpload/IMG_0001.MOV", video_only=True)
    worker.sweep("alice")
    for user, jobs in queue.due().items():
        worker.process(user, jobs)
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]
    assert [(dst, status) for src, dst, status in nextcloud.files.moves if src.endswith(".MOV")] == [
        ("Photos/2024/11/IMG_0001.MOV", 403), ("Photos/2024/11/IMG_0001.moving-live-photo.MOV", 201), ("Photos/2024/11/IMG_0001.MOV", 201)]
    [journal] = (tmp_path / "state/journals/alice").glob("*.jsonl")
    assert [g.done for g in read_journal(journal).groups.values()] == [
        [("InstantUpload/IMG_0001.HEIC", "Photos/2024/11/IMG_0001.HEIC")], [("InstantUpload/IMG_0001.MOV", "Photos/2024/11/IMG_0001.MOV")]]
    worker.report_batches(quiet=0)
    [summary] = reports
    assert (summary.moved, summary.videos, summary.problems) == (2, 1, 0)


def test_a_detour_interrupted_half_way_is_finished(nextcloud, tmp_path):
    home = upload_live_photos(nextcloud, 1, linked=False)
    (home / "Photos/2024/11").mkdir(parents=True)
    (home / "InstantUpload/IMG_0001.HEIC").rename(home / "Photos/2024/11/IMG_0001.moving-live-photo.HEIC")
    (home / "InstantUpload/IMG_0001.MOV").rename(home / "Photos/2024/11/IMG_0001.moving-live-photo.MOV")  # a crash after the first MOVE
    nextcloud.files.link("alice", "Photos/2024/11/IMG_0001.moving-live-photo.HEIC", "Photos/2024/11/IMG_0001.moving-live-photo.MOV")
    store = NextcloudStore(AppAuth(nextcloud.url, "mobile_backups", "0.1.0", "s" * 64), "alice")
    assert store.settle("InstantUpload/IMG_0001.MOV", "Photos/2024/11/IMG_0001.MOV")
    assert sorted(tree(home / "Photos")) == ["2024/11/IMG_0001.HEIC", "2024/11/IMG_0001.MOV"]
