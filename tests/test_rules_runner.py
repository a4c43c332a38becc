"""The runner with stand-in backends: what it hands a backend (the run's `now`) and journals (a tag's name)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mobile_backups.rules.match import Scope
from mobile_backups.rules.model import parse_rules
from mobile_backups.rules.runner import Caps, read_run, run
from rules_fake_backend import JsonBackend, write_files

DAY = 86400
NOW = time.time()
ANY_SHARE = Caps(max_files=500, max_percent=100.0)


def shot(n: int, size: int = 100_000) -> dict:
    return {"path": f"Photos/2025/01/Screenshot_20250101-1010{n:02d}.png", "size": size, "mtime": NOW - 90 * DAY,
            "capture": NOW - 90 * DAY, "file_id": 100 + n}


def rules(**more: object) -> list:
    return parse_rules({"rules": [{"name": "Old screenshots", "kinds": ["screenshot"], "older_than_days": 30, **more}]})


@pytest.fixture
def files(tmp_path: Path) -> Path:
    path = tmp_path / "files.json"
    write_files(path, {"u": [shot(n) for n in range(5)] + [{**shot(50), "path": "Photos/2025/01/IMG_0001.jpg", "file_id": 50}]})
    return path


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
