"""End to end against a real Nextcloud: upload as the phone apps do, watch the ExApp organise.

Run with `source /opt/nc/credentials.env && make test-e2e`; without NEXTCLOUD_URL, NC_AUTH_USER,
NC_AUTH_PASS and NC_OCC every test is skipped (conftest.py says which are missing). The fixtures start
the ExApp, register it through AppAPI's manual-install daemon and give each test a fresh user, so every
test asserts its user's whole tree exactly. Uploads go through WebDAV only, as the phone apps do.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from mobile_backups import samples

T = TypeVar("T")
ORGANISE_TIMEOUT = 30.0
DECISION_TIMEOUT = 30.0
LIVE_PHOTO_GAP = 5.0  # the iOS app uploads a live photo's video a few seconds after its still


def utc(*when: int) -> float:
    return datetime(*when, tzinfo=UTC).timestamp()


def poll(what: str, check: Callable[[], T | None | bool], timeout: float, describe: Callable[[], str]) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{describe()}", pytrace=False)
        time.sleep(0.5)


def describe_tree(account, exapp, expected: set[str]) -> Callable[[], str]:
    def describe() -> str:
        tree = set(account.tree())
        return (f"expected tree of {account.user}: {sorted(expected)}\nactual tree: {sorted(tree)}\n"
                f"missing: {sorted(expected - tree)}\nunexpected: {sorted(tree - expected)}\n{exapp.log_tail()}")
    return describe


def expect_tree(account, exapp, expected: set[str], timeout: float = ORGANISE_TIMEOUT) -> dict:
    """Wait until the user's files are exactly `expected` (paths relative to the user's root); return the tree."""
    def check():
        tree = account.tree()
        return tree if set(tree) == expected else None
    return poll(f"the final tree of {account.user}", check, timeout, describe_tree(account, exapp, expected))


def expect_journal(account, exapp, moves: set[tuple[str, str]], timeout: float = 10.0) -> None:
    """The user's journal holds exactly these moves, each group written before and marked done after."""
    def state():
        records = exapp.journal_records(account.user)
        begun = {(r["_file"], r["group"]): {tuple(m) for m in r["moves"]} for r in records if r.get("op") == "move"}
        done = {(r["_file"], r["group"]): {tuple(m) for m in r["moved"]} for r in records if r.get("op") == "done"}
        return records, begun, done

    def check():
        _, begun, done = state()
        moved = set().union(*done.values()) if done else set()
        return set(begun) == set(done) and all(begun[g] == done[g] for g in begun) and moved == moves

    def describe() -> str:
        records, _, _ = state()
        return f"expected moves: {sorted(moves)}\njournal records of {account.user}:\n" + "\n".join(map(str, records))

    poll(f"the journal of {account.user}", check, timeout, describe)


def expect_decision(account, exapp, path: str, timeout: float = DECISION_TIMEOUT) -> str:
    """Wait for the ExApp to say why `path` stays where it is; return the reason."""
    pattern = re.compile(rf"{re.escape(account.user)}: {re.escape(path)} stays in place: (.*)")

    def check():
        found = pattern.findall(exapp.log_text())
        return found[-1] if found else None

    return poll(f"the ExApp's decision on {path}", check, timeout, exapp.log_tail)


def phone_exif(stamp: str, offset: str, make: str = "Apple", model: str = "iPhone 15 Pro", subsec: str | None = None) -> samples.Exif:
    return samples.Exif(date_time_original=stamp, sub_sec_time_original=subsec, offset_time_original=offset, create_date=stamp,
                        offset_time_digitized=offset, offset_time=offset, modify_date=stamp, make=make, model=model)


def live_photo(folder: Path, stem: str, seed: int) -> tuple[Path, Path]:
    """A live photo as an iPhone takes it: IMG_x.HEIC and IMG_x.MOV, both dated 2024-11-24 15:30:12 +01:00."""
    taken = utc(2024, 11, 24, 14, 30, 12)
    still = samples.heic(folder / f"{stem}.HEIC", exif=phone_exif("2024:11:24 15:30:12", "+01:00"), seed=seed, size=(320, 240), mtime=taken)
    clip = samples.video(folder / f"{stem}.MOV", mvhd_utc=datetime(2024, 11, 24, 14, 30, 12), apple_creationdate="2024-11-24T15:30:12+0100",
                         make="Apple", model="iPhone 15 Pro", seconds=1.5, size=(320, 240), mtime=taken)
    return still, clip


def upload(account, folder: str, *paths: Path) -> None:
    account.mkdirs(folder)
    for path in paths:
        account.put(f"{folder}/{path.name}", path.read_bytes(), path.stat().st_mtime)


@dataclass
class Outage:
    account: object
    files: dict[str, str]  # inbox path -> library path
    restarted_at: float  # time.monotonic()


@pytest.fixture(scope="session", autouse=True)
def outage(exapp, accounts, preinstalled, tmp_path_factory) -> Outage:
    """The ExApp crashes (SIGKILL) while the phone keeps uploading, then comes back with the same storage and port.

    The events of those uploads are lost, so only the periodic sweep (`sweep_interval`, 30 s at least) can find
    the files. Done first so that the other tests run while the sweep is awaited; checked by
    test_files_uploaded_while_the_exapp_was_down_are_swept_after_restart.
    """
    folder = tmp_path_factory.mktemp("outage")
    account = accounts.new("outage")
    exapp.set_config("sweep_interval", "30")  # the minimum; the sweeper reads it when it starts waiting
    first = samples.jpeg(folder / "IMG_20240410_080000.jpg", exif=phone_exif("2024:04:10 08:00:00", "+02:00", "Google", "Pixel 7a"),
                         seed=81, size=(320, 240), mtime=utc(2024, 4, 10, 6))
    upload(account, "InstantUpload", first)  # the app works for this user
    expect_tree(account, exapp, {f"Photos/2024/04/{first.name}"})
    # not while the app may still be looking at the preinstalled user's files (that test reports a failure itself)
    with contextlib.suppress(pytest.fail.Exception):
        poll("the preinstalled user's notice", lambda: backlog_notices(preinstalled.account) or None, 15, lambda: exapp.log_tail())

    exapp.kill()
    try:
        later = [samples.jpeg(folder / f"IMG_2024051{n}_080000.jpg", exif=phone_exif(f"2024:05:1{n} 08:00:00", "+02:00", "Google", "Pixel 7a"),
                              seed=82 + n, size=(320, 240), mtime=utc(2024, 5, 10 + n, 6)) for n in (1, 2)]
        upload(account, "InstantUpload", *later)
        time.sleep(2)  # webhook_listeners tries (and fails) to deliver the events
        assert set(account.tree()) == {f"Photos/2024/04/{first.name}"} | {f"InstantUpload/{p.name}" for p in later}
    finally:
        exapp.start()
    files = {f"InstantUpload/{p.name}": f"Photos/{p.name[4:8]}/{p.name[8:10]}/{p.name}" for p in [first, *later]}
    return Outage(account, files, time.monotonic())


# --- uploads that must be organised -----------------------------------------------------------


@pytest.mark.parametrize("inbox", ["InstantUpload", "InstantUpload/Camera"])
def test_plain_upload_is_organised_and_keeps_its_mtime(account, exapp, tmp_path, inbox):
    """Android: a plain PUT with X-OC-Mtime into the instant-upload folder (or its Camera subfolder)."""
    taken = utc(2023, 7, 14, 10, 5, 9)
    name = "PXL_20230714_100509123.jpg"
    photo = samples.jpeg(tmp_path / name, exif=phone_exif("2023:07:14 12:05:09", "+02:00", "Google", "Pixel 8", "123"),
                         seed=11, size=(640, 480), mtime=taken)
    upload(account, inbox, photo)

    tree = expect_tree(account, exapp, {f"Photos/2023/07/{name}"})
    final = tree[f"Photos/2023/07/{name}"]
    assert final.size == photo.stat().st_size
    assert final.mtime == taken, f"mtime not kept: {datetime.fromtimestamp(final.mtime, UTC)}"
    assert account.get(f"Photos/2023/07/{name}") == photo.read_bytes()
    expect_journal(account, exapp, {(f"{inbox}/{name}", f"Photos/2023/07/{name}")})


@pytest.fixture(scope="session")
def big_video(tmp_path_factory) -> Path:
    """A real 720p H.264 MP4 of more than 12 MB (the samples generator's grainy test pattern, as in its benchmark set)."""
    path = tmp_path_factory.mktemp("video") / "VID_20240315_113000.mp4"
    samples._mux(path, samples._testsrc(8, (1280, 720), grain=20), (*samples._encoder(), "-b:v", "16000k"),
                 datetime(2024, 3, 15, 10, 30, 0), {}, False)
    samples.set_mtime(path, utc(2024, 3, 15, 10, 30, 0))
    assert path.stat().st_size >= 12 * 1024 * 1024, f"the sample video is only {path.stat().st_size} bytes"
    return path


def test_chunked_upload_of_a_large_video_is_organised(account, exapp, big_video):
    """Android/iOS for big files: chunked upload v2 (MKCOL uploads/…, PUT 00001…, MOVE .file)."""
    account.mkdirs("InstantUpload")
    data = big_video.read_bytes()
    chunks = account.chunked_upload(f"InstantUpload/{big_video.name}", data, big_video.stat().st_mtime)
    assert chunks >= 3

    final_path = f"Photos/2024/03/{big_video.name}"
    tree = expect_tree(account, exapp, {final_path})
    assert tree[final_path].size == len(data)
    assert tree[final_path].mtime == utc(2024, 3, 15, 10, 30, 0)
    expect_journal(account, exapp, {(f"InstantUpload/{big_video.name}", final_path)})


@pytest.mark.parametrize("inbox", ["InstantUpload", "Photos"])
def test_live_photo_halves_end_together(account, exapp, tmp_path, inbox):
    """iOS: the still first, its video ~5 s later (after the still was organised); Photos is the iOS app's default folder."""
    still, clip = live_photo(tmp_path, "IMG_7001", seed=21)
    upload(account, inbox, still)
    time.sleep(LIVE_PHOTO_GAP)
    upload(account, inbox, clip)

    expect_tree(account, exapp, {"Photos/2024/11/IMG_7001.HEIC", "Photos/2024/11/IMG_7001.MOV"})
    expect_journal(account, exapp, {(f"{inbox}/IMG_7001.HEIC", "Photos/2024/11/IMG_7001.HEIC"),
                                    (f"{inbox}/IMG_7001.MOV", "Photos/2024/11/IMG_7001.MOV")})


def test_live_photo_video_follows_its_renamed_still(account, exapp, tmp_path):
    """The still's name is taken in the library (iPhone counters restart), so it becomes `IMG_x (2).HEIC`;
    its video, arriving later, must take the same base name and not pair with the other IMG_x."""
    other = samples.heic(tmp_path / "older" / "IMG_7002.HEIC", exif=phone_exif("2024:11:02 10:00:00", "+01:00"), seed=30, size=(320, 240))
    account.mkdirs("Photos/2024/11")
    account.put("Photos/2024/11/IMG_7002.HEIC", other.read_bytes(), utc(2024, 11, 2, 9))
    still, clip = live_photo(tmp_path, "IMG_7002", seed=31)
    upload(account, "InstantUpload", still)
    expect_tree(account, exapp, {"Photos/2024/11/IMG_7002.HEIC", "Photos/2024/11/IMG_7002 (2).HEIC"})
    time.sleep(LIVE_PHOTO_GAP - 2)
    upload(account, "InstantUpload", clip)

    expect_tree(account, exapp, {"Photos/2024/11/IMG_7002.HEIC", "Photos/2024/11/IMG_7002 (2).HEIC", "Photos/2024/11/IMG_7002 (2).MOV"})


def aae(path: Path) -> Path:
    """An iOS edit sidecar (a property list)."""
    path.write_bytes(plistlib.dumps({"adjustmentBaseVersion": 0, "adjustmentData": os.urandom(24),
                                     "adjustmentEditorBundleID": "com.apple.mobileslideshow",
                                     "adjustmentFormatIdentifier": "com.apple.photo", "adjustmentFormatVersion": "1.5"}))
    return path


@pytest.mark.parametrize("kind", ["aae", "xmp"])
def test_sidecar_follows_its_photo(account, exapp, tmp_path, kind):
    """IMG_x.AAE (iOS edits) or IMG_x.jpg.xmp (editors) uploaded with its photo goes with it."""
    if kind == "aae":
        photo = samples.heic(tmp_path / "IMG_7101.HEIC", exif=phone_exif("2024:08:03 19:45:00", "+02:00"), seed=41, size=(320, 240),
                             mtime=utc(2024, 8, 3, 17, 45))
        sidecar = aae(tmp_path / "IMG_7101.AAE")
    else:
        photo = samples.jpeg(tmp_path / "IMG_7102.jpg", exif=phone_exif("2024:08:03 19:46:00", "+02:00", "OnePlus", "CPH2581"), seed=42,
                             size=(320, 240), mtime=utc(2024, 8, 3, 17, 46))
        sidecar = tmp_path / "IMG_7102.jpg.xmp"
        sidecar.write_bytes(samples.xmp_packet(**{"xmp:Rating": "4", "exif:DateTimeOriginal": "2024-08-03T19:46:00+02:00"}))
    upload(account, "InstantUpload", photo, sidecar)

    expect_tree(account, exapp, {f"Photos/2024/08/{photo.name}", f"Photos/2024/08/{sidecar.name}"})
    expect_journal(account, exapp, {(f"InstantUpload/{p.name}", f"Photos/2024/08/{p.name}") for p in (photo, sidecar)})
    assert account.get(f"Photos/2024/08/{sidecar.name}") == sidecar.read_bytes()


# --- uploads that must stay -------------------------------------------------------------------


@pytest.mark.parametrize("again_as", ["another name", "the same name"])
def test_duplicate_of_an_organised_file_stays_in_the_inbox(account, exapp, tmp_path, again_as):
    name = "IMG_20240607_101010.jpg"
    photo = samples.jpeg(tmp_path / name, exif=phone_exif("2024:06:07 10:10:10", "+02:00", "samsung", "SM-S921B"), seed=51,
                         size=(480, 360), mtime=utc(2024, 6, 7, 8, 10, 10))
    upload(account, "InstantUpload", photo)
    expect_tree(account, exapp, {f"Photos/2024/06/{name}"})

    second = "IMG_20240607_101010(1).jpg" if again_as == "another name" else name
    account.put(f"InstantUpload/{second}", photo.read_bytes(), photo.stat().st_mtime)
    if second == name:
        account.reuploaded.add(f"InstantUpload/{name}")
    reason = expect_decision(account, exapp, f"InstantUpload/{second}")
    assert "identical" in reason, reason
    expect_tree(account, exapp, {f"Photos/2024/06/{name}", f"InstantUpload/{second}"})
    expect_journal(account, exapp, {(f"InstantUpload/{name}", f"Photos/2024/06/{name}")})


@pytest.mark.parametrize("keep", ["100 bytes", "300 bytes", "half"])
def test_a_cut_photo_is_organised_as_damaged_when_its_date_can_be_read(account, exapp, tmp_path, keep):
    """A JPEG cut inside its EXIF cannot be understood: it stays. One cut after it (300 bytes keep the
    whole EXIF here; half keeps part of the image) is the user's photo: organised by its date, reported damaged.
    Nextcloud never shows an upload in progress under its name (a .part file, or chunks assembled at the end)."""
    whole = samples.jpeg(tmp_path / "whole.jpg", exif=phone_exif("2024:09:09 09:09:09", "+02:00", "Google", "Pixel 8"), seed=61,
                         size=(640, 480), mtime=utc(2025, 1, 1, 12, 0, 0))  # the file time says another month
    keep_bytes = {"100 bytes": 100, "300 bytes": 300}.get(keep, whole.stat().st_size // 2)
    broken = samples.corrupt_copy(whole, tmp_path / "IMG_1234.jpg", keep_bytes=keep_bytes)
    upload(account, "InstantUpload", broken)

    if keep == "100 bytes":
        reason = expect_decision(account, exapp, f"InstantUpload/{broken.name}")
        assert "truncated" in reason, reason
        expect_tree(account, exapp, {f"InstantUpload/{broken.name}"})
        time.sleep(1)
        assert set(account.tree()) == {f"InstantUpload/{broken.name}"}
        expect_journal(account, exapp, set())
    else:
        expect_tree(account, exapp, {f"Photos/2024/09/{broken.name}"})
        expect_journal(account, exapp, {(f"InstantUpload/{broken.name}", f"Photos/2024/09/{broken.name}")})
        assert re.search(rf"{re.escape(account.user)}: InstantUpload/{broken.name} -> Photos/2024/09/{broken.name}: damaged file \(truncated JPEG",
                         exapp.log_tail(400)), "the damaged file is logged as such"


# --- files the app did not see arrive ---------------------------------------------------------


def backlog_notices(account) -> list[str]:
    """The subjects of the app's notifications to the user about files that were there before."""
    answer = account.http.get("/ocs/v2.php/apps/notifications/api/v2/notifications", params={"format": "json"}, headers={"OCS-APIRequest": "true"})
    assert answer.status_code == 200, f"notifications: HTTP {answer.status_code}"
    return [n["subject"] for n in answer.json()["ocs"]["data"] if n.get("object_type") == "app_api" and "older" in n.get("subject", "")]


def test_files_present_before_the_app_was_installed_stay_and_the_user_is_told_once(exapp, preinstalled):
    """The user uploaded before the app existed (no event ever named them): the sweep at enable finds the files and,
    with the admin's default ("ask"), leaves them where they are; one notification says they can be organised."""
    account = preinstalled.account
    notices = poll("the notification", lambda: backlog_notices(account) or None, 30, lambda: exapp.log_tail())
    assert notices == ["2 older photos in InstantUpload can be organised: preview"], notices
    time.sleep(2)
    assert set(account.tree()) == set(preinstalled.files), "files that were there before must stay"
    assert exapp.journal_records(account.user) == []


def test_files_uploaded_while_disabled_are_organised_at_reenable(account, exapp, tmp_path):
    first = samples.jpeg(tmp_path / "IMG_20240101_120000.jpg", exif=phone_exif("2024:01:01 12:00:00", "+01:00", "Xiaomi", "2201117TG"),
                         seed=71, size=(320, 240), mtime=utc(2024, 1, 1, 11))
    upload(account, "InstantUpload", first)
    expect_tree(account, exapp, {f"Photos/2024/01/{first.name}"})

    exapp.disable()
    try:
        assert exapp.webhooks() == [], "disabling the app must remove its webhooks"
        later = [samples.jpeg(tmp_path / f"IMG_2024020{n}_120000.jpg", exif=phone_exif(f"2024:02:0{n} 12:00:00", "+01:00", "Xiaomi", "2201117TG"),
                              seed=72 + n, size=(320, 240), mtime=utc(2024, 2, n, 11)) for n in (1, 2)]
        upload(account, "InstantUpload", *later)
        time.sleep(3)
        assert set(account.tree()) == {f"Photos/2024/01/{first.name}"} | {f"InstantUpload/{p.name}" for p in later}, \
            "a disabled app must not move files"
    finally:
        exapp.enable()
    assert len(exapp.webhooks()) == 3

    expected = {f"Photos/2024/01/{first.name}"} | {f"Photos/2024/02/{p.name}" for p in later}
    expect_tree(account, exapp, expected)
    expect_journal(account, exapp, {(f"InstantUpload/{p.name}", f"Photos/{p.name[4:8]}/{p.name[8:10]}/{p.name}") for p in [first, *later]})


def test_files_uploaded_while_the_exapp_was_down_are_swept_after_restart(outage, exapp):
    """See `outage`: the two files uploaded while the ExApp was dead end organised, found by the periodic sweep."""
    remaining = outage.restarted_at + 30 + ORGANISE_TIMEOUT - time.monotonic()
    expect_tree(outage.account, exapp, set(outage.files.values()), timeout=max(remaining, 5.0))
    expect_journal(outage.account, exapp, set(outage.files.items()))


# --- the ExApp and AppAPI -----------------------------------------------------------------------


def test_exapp_started_before_registration_costs_no_failed_logins(exapp):
    """An ExApp must not call Nextcloud before it is enabled: AppAPI throttles the address of a caller it does not know."""
    assert exapp.failed_logins_at_start == 0, f"{exapp.failed_logins_at_start} brute-force attempt(s) counted while the app started"


# --- the journals -----------------------------------------------------------------------------


def test_journals_match_the_final_trees(exapp, accounts):
    """Every journalled group is done, moved all it planned, and its moves are what the trees show."""
    checked = 0
    for account in accounts.created:
        tree = account.tree()
        records = exapp.journal_records(account.user)
        assert all(r.get("op") in ("move", "done") for r in records), records
        begun = {(r["_file"], r["group"]): [tuple(m) for m in r["moves"]] for r in records if r["op"] == "move"}
        done = {(r["_file"], r["group"]): [tuple(m) for m in r["moved"]] for r in records if r["op"] == "done"}
        assert set(begun) == set(done), f"{account.user}: groups begun but never done: {sorted(set(begun) - set(done))}"
        destinations = set()
        for group, moves in begun.items():
            assert done[group] == moves, f"{account.user}: group {group} planned {moves}, moved {done[group]}"
            for src, dst in moves:
                assert dst in tree, f"{account.user}: journal says {src} -> {dst}, but {dst} is not there"
                assert src not in tree or src in account.reuploaded, f"{account.user}: journal says {src} moved, but it is still there"
                destinations.add(dst)
                checked += 1
        organised = {p for p in tree if re.match(r"^Photos/\d{4}/\d{2}/", p)}
        placed_by_test = {p for p in organised if p not in destinations}
        # only the library file a test put there itself (the renamed-still test) has no journal entry
        assert placed_by_test <= {"Photos/2024/11/IMG_7002.HEIC"}, f"{account.user}: files in the library without a journal entry: {placed_by_test}"
    assert checked > 0 or not accounts.created, "no journalled moves at all"
