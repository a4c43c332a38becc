"""A rules run: find the verdicts, stop at the caps, journal each action before it happens, act
through a backend, and undo a run from its journal. The same code serves the local `rules`
command and the ExApp; a backend (local folder, Nextcloud) only gathers facts and acts.

A run is safe to kill at any moment: an action is journalled (`act`) before it happens and
marked (`acted`) with what undoing it needs after; `settle` decides, after a kill, whether an
unmarked action happened."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..journal import Journal
from .facts import FileFacts
from .match import Scope, Verdict, verdicts
from .model import Rule

log = logging.getLogger("mobile_backups")
MAX_FILES = 500  # a run that would act on more stops and asks for confirmation
MAX_PERCENT = 10.0  # … or on more than this share of the library
SHRUNK = 0.5  # a library that holds less than half of what it held last time is not read as "everything is old"


class Backend(Protocol):
    def files(self, scope: Scope, rules: list[Rule]) -> Iterator[FileFacts]: ...  # the candidates
    def library_count(self) -> int: ...  # media files the library holds now (caps; a missing mount)
    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]: ...  # facts now, or why not
    def act(self, verdict: Verdict) -> dict[str, object]: ...  # do it; what undoing it needs
    def settle(self, record: dict[str, object]) -> dict[str, object] | None: ...  # after a kill: did it happen?
    def undo(self, record: dict[str, object]) -> str: ...  # put it back, verified; a note for the report


class Guard(Protocol):
    """What content a rule took, so that the same content coming back from a phone is not taken again."""

    def returned(self, content_hash: str) -> str | None: ...  # when it was taken before, if it was
    def remember(self, content_hash: str, path: str, rule: str) -> None: ...


class RunStopped(Exception):
    """The run did not act: a cap needs confirmation, or the library cannot be trusted."""


@dataclass
class Caps:
    max_files: int = MAX_FILES
    max_percent: float = MAX_PERCENT


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    done: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    journal: Path | None = None
    stopped: str | None = None

    def acting(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.action not in ("exempt", "skip")]


def preview(backend: Backend, rules: list[Rule], scope: Scope, now: float) -> Report:
    return Report(verdicts(rules, backend.files(scope, rules), now, scope))


def cap_problem(acting: int, library: int, last_library: int | None, caps: Caps) -> str | None:
    """Why a run must stop before acting, if it must."""
    if last_library and library < last_library * SHRUNK:
        return (f"the library looks much smaller than last time ({library} files, {last_library} before): "
                "a folder or storage may be missing; nothing was done")
    if acting > caps.max_files:
        return f"it would act on {acting} files, more than the limit of {caps.max_files}: confirm to go on"
    if library and acting * 100 > caps.max_percent * library:
        return (f"it would act on {acting} of {library} files ({acting * 100 / library:.0f} %), more than "
                f"{caps.max_percent:g} % of the library: confirm to go on")
    return None


def run(backend: Backend, rules: list[Rule], scope: Scope, now: float, journals: Path, *, confirm: bool = False,
        caps: Caps = Caps(), last_library: int | None = None, guard: Guard | None = None,
        report: Callable[[Verdict], None] = lambda v: None, **meta: object) -> Report:
    """Preview, check the caps, then act on every verdict, journalled. Raises RunStopped when a cap
    stops it (nothing done)."""
    result = preview(backend, rules, scope, now)
    library = backend.library_count()
    problem = cap_problem(len(result.acting()), library, last_library, caps)
    if problem and (not confirm or problem.startswith("the library looks")):
        raise RunStopped(problem)
    if not result.acting():
        return result
    journal = Journal.new_run(journals, kind="rules", rules=[r.name for r in rules], library_files=library, **meta)
    result.journal = journal.path
    try:
        for step, verdict in enumerate(result.acting(), 1):
            facts, why_not = backend.recheck(verdict)
            if facts is None:
                result.notes.append(f"{verdict.facts.path}: left alone: {why_not}")
                continue
            if guard and facts.hash and (when := guard.returned(facts.hash)):
                result.notes.append(f"{facts.path}: came back after clean-up ({when}): the phone may still hold it; kept")
                continue
            verdict = Verdict(facts, verdict.rule, verdict.action, verdict.reason, verdict.destination)
            record = {"op": "act", "step": step, "rule": verdict.rule.name, "action": verdict.action, "path": facts.path,
                      "file_id": facts.file_id, "size": facts.size, "hash": facts.hash, "destination": verdict.destination,
                      "live_peer": facts.live_peer, "time": time.time()}
            journal.write(**record)
            try:
                undo_info = backend.act(verdict)
            except OSError as err:
                result.notes.append(f"{facts.path}: not done: {err}")
                journal.write(op="failed", step=step, error=str(err))
                continue
            journal.write(op="acted", step=step, undo=undo_info)
            if guard and facts.hash and verdict.action in ("trash", "archive"):
                guard.remember(facts.hash, facts.path, verdict.rule.name)
            result.done.append(verdict)
            report(verdict)
    finally:
        journal.close()
    return result


@dataclass
class Step:
    record: dict[str, object]
    undo: dict[str, object] | None = None  # None: not known to have happened
    failed: bool = False
    undone: bool = False


def read_run(path: Path) -> tuple[dict[str, object], list[Step]]:
    """A rules journal's header and steps; a torn last line (a kill mid-write) is ignored."""
    header: dict[str, object] = {}
    steps: dict[int, Step] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            op, step = record.get("op"), record.get("step")
            if op == "run":
                header = record
            elif op == "act":
                steps[step] = Step(record)
            elif step in steps:
                if op == "acted":
                    steps[step].undo = record.get("undo") or {}
                elif op == "failed":
                    steps[step].failed = True
                elif op == "undone":
                    steps[step].undone = True
    return header, list(steps.values())


def finish(backend: Backend, path: Path) -> list[str]:
    """After a kill: mark every journalled action that did happen (the backend finds out), so that
    undo knows what to put back."""
    notes: list[str] = []
    _, steps = read_run(path)
    journal = None
    for step in steps:
        if step.undo is None and not step.failed:
            undo_info = backend.settle(step.record)
            journal = journal or Journal(path)
            if undo_info is None:
                journal.write(op="failed", step=step.record["step"], error="interrupted before it happened")
            else:
                journal.write(op="acted", step=step.record["step"], undo=undo_info)
                notes.append(f"{step.record['path']}: an interrupted {step.record['action']} had happened; journalled")
    if journal:
        journal.close()
    return notes


def undo(backend: Backend, path: Path) -> list[str]:
    """Put back everything a rules run did, newest first; each file verified by the backend."""
    notes = finish(backend, path)
    _, steps = read_run(path)
    journal = Journal(path)
    try:
        for step in reversed(steps):
            if step.undo is None or step.undone:
                continue
            record = dict(step.record, undo=step.undo)
            try:
                notes.append(backend.undo(record))
            except OSError as err:
                notes.append(f"{step.record['path']}: could not be put back: {err}")
                continue
            journal.write(op="undone", step=step.record["step"])
    finally:
        journal.close()
    return notes


def summary(verdicts_: Iterable[Verdict]) -> str:
    counts: dict[str, int] = {}
    for verdict in verdicts_:
        counts[verdict.action] = counts.get(verdict.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing to do"
