from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mobile_backups.engine import analyse
from mobile_backups.core.groups import Item
from mobile_backups.store import Entry, LocalStore

ROOT = Path(__file__).resolve().parents[1]
BERLIN = ZoneInfo("Europe/Berlin")


def analysed(path: Path, zone=BERLIN) -> Item:
    """The engine's view of one real file."""
    st = path.stat()
    return analyse(LocalStore(), Entry(str(path), st.st_size, st.st_mtime), zone)


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m mobile_backups ...` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mobile_backups", *args],
        cwd=ROOT, capture_output=True, text=True, check=check,
        env={"PYTHONPATH": str(ROOT / "ex_app" / "lib"), "PATH": "/usr/bin:/bin", "TZ": "Europe/Berlin"},
    )


def plan_json(*args: str) -> dict[str, dict]:
    """plan --json output keyed by source file name."""
    out = cli("plan", "--json", *args).stdout
    records = [json.loads(line) for line in out.splitlines()]
    return {Path(r["source"]).name: r for r in records}


@pytest.fixture
def berlin() -> ZoneInfo:
    return BERLIN


FUZZ_SUMMARY: list[str] = []  # tests/test_fuzz.py's case count, slowest file and peak memory


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the fuzzer's numbers in every run's output (not only with -s)."""
    for line in FUZZ_SUMMARY:
        terminalreporter.write_line(line)
