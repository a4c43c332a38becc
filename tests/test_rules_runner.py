"""The runner with stand-in backends, and Nextcloud's trash budget (files_trashbin 34.0.1): what the runner
hands a backend (the run's `now`) and journals (a tag's name); the count the next run's library check
compares to; the budget's arithmetic as Trashbin::calculateFreeSpace and ::deleteFiles do it, the Nextcloud
backend reading the quota and the trash over real HTTP from the stand-in Nextcloud, and the runner stopping
before trashing (confirmable), archiving instead when the rule names an archive folder, or refusing outright
when even the trashed files would be purged."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fake_nextcloud import FakeNextcloud
from mobile_backups.nextcloud.rules_backend import Headroom, NextcloudRulesBackend
from mobile_backups.nextcloud import store as store_module
from mobile_backups.nextcloud.store import AppAuth, NextcloudStore
from mobile_backups.rules.match import Scope, Verdict
from mobile_backups.rules.model import parse_rules
from mobile_backups.rules.runner import Caps, RunStopped, preview, read_run, run
from rules_fake_backend import JsonBackend, facts, read_files, write_files

DAY = 86400
NOW = time.time()
ANY_SHARE = Caps(max_files=500, max_percent=100.0)


def shot(n: int, size: int = 100_000) -> dict:
    return {"path": f"Photos/2025/01/Screenshot_20250101-1010{n:02d}.png", "size": size, "mtime": NOW - 90 * DAY,
            "capture": NOW - 90 * DAY, "file_id": 100 + n}


def rules(**more: object) -> list:
    return parse_rules({"rules": [{"name": "Old screenshots", "kinds": ["screenshot"], "older_than_days": 30, **more}]})


def test_the_budget_is_half_the_quota_left_less_the_trash_and_purges_at_zero():
    # quota 1 MiB, 400 kB of files, 200 kB in the trash: 648,576 bytes left, so the trash may hold 324,288
    room = Headroom(free=1_048_576 - 400_000, used=400_000, trash=200_000)
    assert room.after(0) == 324_288 - 200_000
    assert not room.pushes_out(200_000)  # the trashed bytes leave the files: (848,576 / 2) - 400,000 > 0
    assert room.pushes_out(400_000) and not room.loses(400_000)  # older trash goes, these stay
    assert room.loses(648_576)  # more than the quota left: once all older trash is gone, the purge takes these too
    edge = Headroom(free=400, used=0, trash=100)  # after(n) = 100 - n/2: Trashbin::deleteFiles purges at <= 0
    assert edge.pushes_out(200) and not edge.pushes_out(199)
    assert not Headroom(free=400, used=0, trash=0).pushes_out(200)  # nothing older to push out …
    assert Headroom(free=400, used=0, trash=0).loses(400)  # … but these would not stay
    over = Headroom(free=-100, used=1100, trash=50)  # over quota: the budget is what is left (negative) less the trash
    assert over.loses(60)
    assert not Headroom(free=None, used=0, trash=10**9).pushes_out(10**12)  # no quota: the disk's free space, unseen
    configured = Headroom(free=10**9, used=0, trash=300, configured=1000)  # trashbin_size: that less the trash
    assert configured.pushes_out(700) and not configured.pushes_out(699)
    assert configured.loses(1000) and not configured.loses(999)  # a file of 1000 bytes or more is not even trashed


def test_the_nextcloud_backend_reads_the_quota_and_the_trash_bin_over_http():
    fake = FakeNextcloud()
    fake.users = {"ann": {"quota": {"quota": 1_000_000, "used": 600_000}, "trash": [100_000, 50_000]},
                  "ben": {"quota": {"quota": -3, "used": 5_000_000}, "trash": [10**9]},
                  "cyd": {"quota": {"quota": 1_000_000, "used": 0}}}  # no trash bin: the Deleted files app is off
    auth = AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64)
    try:
        def room(user: str, *files: dict) -> RunStopped | None:
            backend = NextcloudRulesBackend(NextcloudStore(auth, user), "Photos")
            [rule] = rules()
            return backend.trash_room([Verdict(facts(f), rule, "trash", "old") for f in files])

        # 400 kB left: the trash may hold 200 kB, holds 150 kB; 150 kB more (a live photo's video counted) push 25 kB out
        stop = room("ann", shot(1), {**shot(2, 20_000), "extra": {"peer_size": 30_000}})
        assert stop is not None and stop.confirmable, stop
        assert str(stop).startswith("trashing 2 file(s), 150 kB would make Nextcloud purge about 25 kB of older trash for room")
        assert room("ann", shot(1, 50_000)) is None
        hard = room("ann", shot(1, 400_000))
        assert hard is not None and not hard.confirmable and "delete some of them for good" in str(hard)
        assert room("ben", shot(1, 10**10)) is None  # no quota
        none = room("cyd", shot(1))
        assert none is not None and not none.confirmable and "there is no trash bin" in str(none)
        assert sum(1 for r in fake.requests if r[0] == "PROPFIND" and "/trashbin/" in r[1]) == 5  # one listing per look
    finally:
        fake.close()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    path = tmp_path / "files.json"
    write_files(path, {"u": [shot(n) for n in range(5)] + [{**shot(50), "path": "Photos/2025/01/IMG_0001.jpg", "file_id": 50}]})
    return path


def headroom(files: Path, free: int, trash: int) -> None:
    everything = json.loads(files.read_text())
    everything["users"]["u"]["headroom"] = {"free": free, "trash": trash}
    files.write_text(json.dumps(everything))


def test_a_run_that_would_push_older_trash_out_stops_before_trashing_and_goes_on_once_confirmed(files: Path, tmp_path: Path):
    headroom(files, free=1_000_000, trash=400_000)  # room for 100 kB; 500 kB would push older trash out
    backend, scope = JsonBackend(files, "u"), Scope("Photos")
    with pytest.raises(RunStopped) as stopped:
        run(backend, rules(), scope, NOW, tmp_path / "j", caps=ANY_SHARE)
    assert stopped.value.confirmable and "would make Nextcloud purge about 150 kB of older trash" in str(stopped.value)
    assert stopped.value.report is not None and stopped.value.report.trash_stop is not None
    assert not read_files(files, "u")["trash"] and not (tmp_path / "j").exists()
    # the caps and the trash together: one message, one confirmation
    with pytest.raises(RunStopped, match=r"more than the limit of 2: confirm to go on; trashing 5 file\(s\)"):
        run(backend, rules(), scope, NOW, tmp_path / "j", caps=Caps(max_files=2, max_percent=100.0))
    done = run(backend, rules(), scope, NOW, tmp_path / "j", caps=ANY_SHARE, confirm=True)
    assert len(done.done) == 5 and len(read_files(files, "u")["trash"]) == 5


def test_a_trash_that_would_purge_the_trashed_files_too_is_not_confirmable(files: Path, tmp_path: Path):
    headroom(files, free=300_000, trash=0)  # 500 kB more than the quota left: some would be purged for good
    with pytest.raises(RunStopped) as stopped:
        run(JsonBackend(files, "u"), rules(), Scope("Photos"), NOW, tmp_path / "j", caps=ANY_SHARE, confirm=True)
    assert not stopped.value.confirmable and "delete some of them for good" in str(stopped.value)
    assert not read_files(files, "u")["trash"]


def test_a_rule_that_names_an_archive_folder_archives_instead(files: Path, tmp_path: Path):
    headroom(files, free=300_000, trash=0)
    backend, archiving = JsonBackend(files, "u"), rules(archive_to="Archive")
    scope = Scope.of("Photos", (), archiving)
    seen = preview(backend, archiving, scope, NOW)
    assert all(v.action == "archive" and v.destination == "Archive/" + v.facts.path.removeprefix("Photos/") for v in seen.verdicts)
    assert all(v.reason.endswith("; archived: the trash bin has no room") for v in seen.verdicts)
    assert seen.trash_stop is None and seen.notes[0].startswith("5 file(s) archived instead of trashed: the trash bin has no room")
    done = run(backend, archiving, scope, NOW, tmp_path / "j", caps=ANY_SHARE)
    assert len(done.done) == 5 and not read_files(files, "u")["trash"]
    assert {d["path"] for d in read_files(files, "u")["files"]} >= {f"Archive/2025/01/Screenshot_20250101-1010{n:02d}.png" for n in range(5)}
    assert done.taken_out == 5 and done.library_left == 1  # archived out of the library: the next run's check counts 1


def test_the_runner_hands_the_backend_its_now_and_journals_a_tags_name(files: Path, tmp_path: Path):
    seen: list[float] = []

    class Recording(JsonBackend):
        def files(self, scope, rules, now):
            seen.append(now)
            return super().files(scope, rules, now)

    tagging = parse_rules({"rules": [{"name": "Review", "kinds": ["screenshot"], "older_than_days": 30, "action": "tag", "tag": "to review"}]})
    report = run(Recording(files, "u"), tagging, Scope("Photos"), NOW + 7 * DAY, tmp_path / "j", caps=ANY_SHARE)
    assert seen == [NOW + 7 * DAY]
    _, steps = read_run(report.journal)
    assert len(steps) == 5 and {s.record["tag"] for s in steps} == {"to review"}
    trashed = run(JsonBackend(files, "u"), rules(), Scope("Photos"), NOW, tmp_path / "j", caps=ANY_SHARE)
    assert {s.record["tag"] for s in read_run(trashed.journal)[1]} == {None}


def test_a_file_locked_for_a_moment_is_trashed_and_one_that_stays_locked_is_left_where_it_was(tmp_path: Path, monkeypatch):
    """Nextcloud answers 423 to a DELETE of a file locked just after its upload (seen on NC 34): nothing
    happened, so the DELETE is sent again a moment later; locked for longer, the file stays, with the reason."""
    monkeypatch.setattr(store_module, "RETRY_PAUSES", (0.05, 0.1))
    fake = FakeNextcloud(files=tmp_path / "files")
    try:
        for n in (1, 2):
            (fake.files.root / "u" / "Photos").mkdir(parents=True, exist_ok=True)
            (fake.files.root / "u" / "Photos" / f"Screenshot_{n}.png").write_bytes(b"png %d" % n)
        refusals = {1: 2, 2: 10}  # 423s before the DELETE goes through
        def locked(method: str, path: str) -> bool:
            n = next((k for k in refusals if path.endswith(f"Screenshot_{k}.png")), None)
            if method != "DELETE" or n is None or refusals[n] == 0:
                return False
            refusals[n] -= 1
            return True
        fake.locked = locked
        backend = NextcloudRulesBackend(NextcloudStore(AppAuth(fake.url, "mobile_backups", "0.1.0", "s" * 64), "u"), "Photos")
        [rule] = rules()
        assert backend.act(Verdict(facts({**shot(1), "path": "Photos/Screenshot_1.png"}), rule, "trash", "old"))["to"] == "trash"
        assert [rel for _, rel, _, _ in fake.files.trash] == ["Photos/Screenshot_1.png"]
        with pytest.raises(OSError, match="HTTP 423"):
            backend.act(Verdict(facts({**shot(2), "path": "Photos/Screenshot_2.png"}), rule, "trash", "old"))
        assert (fake.files.root / "u" / "Photos" / "Screenshot_2.png").is_file() and len(fake.files.trash) == 1
    finally:
        fake.close()
