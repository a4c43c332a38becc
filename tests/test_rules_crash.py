"""kill -9 at every step of a rules run and of its undo (the organiser's loop, `test_crash.killed_runs`):
nothing is lost, the next run finishes the work, and undo gives the library, the inbox and the desktop
trash back exactly. The run archives (link, unlink), trashes into the freedesktop.org trash (an info
file, a rename), takes a live photo's video with its still and a duplicate left in the inbox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT
from test_crash import ENV, killed_runs
from test_organise import tree
from test_rules_local import RETENTION, make_library, trash_entries

RULES = RETENTION + '''
[[rules]]
name = "Old iPhone photos"
names = ["IMG_0001.*"]
older_than_days = 30

[[rules]]
name = "Leftovers"
duplicates = true
older_than_days = 7
age_from = "modified"
'''


def contents(*folders: Path) -> set[str]:
    return {digest for folder in folders for digest in tree(folder).values()}


def test_a_kill_at_any_step_of_a_rules_run_or_its_undo_loses_nothing(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    make_library(pristine / "library")
    (pristine / "inbox").mkdir()
    shutil.copy2(pristine / "library/2024/02/IMG_0007.jpg", pristine / "inbox/IMG_0007.jpg")
    os.utime(pristine / "inbox/IMG_0007.jpg", (1_700_000_000, 1_700_000_000))
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text(RULES)
    xdg = tmp_path / "xdg"
    env = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(xdg)}
    (tmp_path / "home").mkdir()
    trash = xdg / "Trash"

    def args(inbox: Path, library: Path) -> list[str]:
        return ["rules", "--rules", str(rules_file), "--library", str(library), "--inbox", str(inbox), "--now", "2024-06-01", "--confirm"]

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "mobile_backups", *argv], cwd=ROOT, env={**ENV, **env}, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def prepare(step: int, name: str = "run") -> tuple[Path, Path]:
        shutil.rmtree(xdg, ignore_errors=True)
        shutil.copytree(pristine, tmp_path / f"{name}{step}")
        return tmp_path / f"{name}{step}" / "inbox", tmp_path / f"{name}{step}" / "library"

    def journals(library: Path) -> list[Path]:
        return sorted((library / ".mobile_backups" / "rules").glob("*.jsonl"), reverse=True)

    def state(inbox: Path, library: Path) -> tuple[dict[str, str], ...]:
        relative = {name: path.replace(str(library), "LIBRARY").replace(str(inbox), "INBOX") for name, path in trash_entries(trash).items()}
        return tree(library), tree(inbox), tree(trash / "files") if trash.exists() else {}, relative  # type: ignore[return-value]

    original = contents(pristine)
    reference_inbox, reference_library = prepare(0)
    cli(*args(reference_inbox, reference_library))
    wanted = state(reference_inbox, reference_library)
    assert len(wanted[2]) == 5 and len(tree(reference_library / "Archive")) == 2, "trashed: 2 screenshots, a live pair, a duplicate"
    pristine_state = state(pristine / "inbox", pristine / "library")

    run_kills = []
    for step, inbox, library in killed_runs(prepare, command=args, env=env):
        run_kills.append(step)
        assert original <= contents(inbox, library, *([trash] if trash.exists() else [])), f"lost a file at step {step}"
        cli(*args(inbox, library))
        assert state(inbox, library)[:3] == wanted[:3], f"run killed at step {step}"
        assert set(state(inbox, library)[3].values()) == set(wanted[3].values()), f"trash info after a kill at step {step}"
        for journal in journals(library):
            cli("undo", str(journal))
        assert state(inbox, library)[:2] == pristine_state[:2] and not tree(trash), f"undo after a run killed at step {step}"
        shutil.rmtree(library.parent)
    assert len(run_kills) >= 20  # 6 actions of 1-4 steps each, every one interrupted

    def prepare_undo(step: int) -> tuple[Path, Path]:
        inbox, library = prepare(step, "undo")
        cli(*args(inbox, library))
        return inbox, library

    undo_kills = []
    for step, inbox, library in killed_runs(prepare_undo, command=lambda inbox, library: ["undo", str(journals(library)[0])], env=env):
        undo_kills.append(step)
        assert original <= contents(inbox, library, trash), f"lost a file when undo was killed at step {step}"
        cli("undo", str(journals(library)[0]))
        assert state(inbox, library)[:2] == pristine_state[:2] and not tree(trash), f"undo killed at step {step}"
        shutil.rmtree(library.parent)
    assert len(undo_kills) >= 20
