"""kill -9 between any two steps of a run: nothing lost, the next run finishes the work."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from mobile_backups import samples
from mobile_backups.samples import Exif
from conftest import ROOT, cli
from test_organise import tree

# Runs `organise` with every link, unlink and journal write counted; SIGKILL before step N.
DRIVER = """
import sys
import kill_at_step
from mobile_backups import cli
kill_at_step.install(int(sys.argv[1]))
sys.exit(cli.main(sys.argv[2:]))
"""


ENV = {"PYTHONPATH": f"{ROOT / 'ex_app' / 'lib'}:{ROOT / 'tests'}", "PATH": "/usr/bin:/bin", "TZ": "Europe/Berlin"}


def organise_args(inbox: Path, library: Path) -> list[str]:
    return ["organise", "--library", str(library), str(inbox)]


def killed_runs(prepare: Callable[[int], tuple[Path, Path]], steps: int = 200,
                command: Callable[[Path, Path], list[str]] = organise_args, env: dict[str, str] | None = None) -> Iterator[tuple[int, Path, Path]]:
    """`command` (default: `organise`) of the (inbox, library) that `prepare(step)` makes, killed before
    step 1, 2, ...: yields each killed run; ends when a run gets through all its steps."""
    for step in range(1, steps):
        inbox, library = prepare(step)
        run = subprocess.run([sys.executable, "-c", DRIVER, str(step), *command(inbox, library)],
                             env={**ENV, **(env or {})}, capture_output=True, text=True)
        if run.returncode == 0:
            return
        assert run.returncode == -signal.SIGKILL, run.stderr
        yield step, inbox, library


def make_inbox(folder: Path, library: Path) -> None:
    nov = Exif(date_time_original="2024:11:24 15:30:12")
    samples.heic(folder / "IMG_0001.HEIC", exif=nov)
    samples.video(folder / "IMG_0001.MOV", apple_creationdate="2024-11-24T15:30:12+0100")
    (folder / "IMG_0001.AAE").write_text("<plist/>")
    samples.jpeg(folder / "IMG_20240101_101010.jpg")
    samples.jpeg(folder / "clash.jpg", exif=nov, seed=3)
    samples.jpeg(library / "2024/11/clash.jpg", exif=nov, seed=4)


def test_a_kill_at_any_step_loses_nothing_and_the_next_run_completes(tmp_path):
    pristine_inbox, pristine_library = tmp_path / "in0", tmp_path / "lib0"
    make_inbox(pristine_inbox, pristine_library)
    reference_in, reference_lib = tmp_path / "ref-in", tmp_path / "ref-lib"
    shutil.copytree(pristine_inbox, reference_in)
    shutil.copytree(pristine_library, reference_lib)
    cli("organise", "--library", str(reference_lib), str(reference_in))
    wanted_library, wanted_inbox = tree(reference_lib), tree(reference_in)
    original = tree(pristine_inbox)

    def prepare(step: int) -> tuple[Path, Path]:
        inbox, library = tmp_path / f"in{step}", tmp_path / f"lib{step}"
        shutil.copytree(pristine_inbox, inbox)
        shutil.copytree(pristine_library, library)
        return inbox, library

    killed_at = []
    for step, inbox, library in killed_runs(prepare):
        killed_at.append(step)
        # Right after the kill: every file is in the inbox or in the library, none lost.
        contents = set(tree(inbox).values()) | set(tree(library).values())
        assert set(original.values()) <= contents, f"lost a file at step {step}"
        cli("organise", "--library", str(library), str(inbox))
        assert tree(library) == wanted_library, f"step {step}"
        assert tree(inbox) == wanted_inbox, f"step {step}"
        # Undoing every journal, newest first, gives the inbox back exactly.
        for journal in sorted((library / ".mobile_backups" / "journals").glob("*.jsonl"), reverse=True):
            cli("undo", str(journal))
        assert tree(inbox) == original, f"undo after a kill at step {step}"
        shutil.rmtree(inbox), shutil.rmtree(library)
    assert len(killed_at) >= 8  # the run really was interrupted at every step it has
