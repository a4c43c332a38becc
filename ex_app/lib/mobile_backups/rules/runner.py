"""A rules run: find the verdicts, stop at the caps, journal each action before it happens, act
through a backend, and undo a run from its journal. The same code serves the local `rules`
command and the ExApp; a backend (local folder, Nextcloud) only gathers facts and acts.

A run is safe to kill at any moment: an action is journalled (`act`) before it happens and
marked (`acted`) with what undoing it needs after; `settle` decides, after a kill, whether an
unmarked action happened.

What a backend may add through the facts (`FileFacts.extra`), all optional:
- `extra["problem"]`: the file could not be read (damaged, not a known format): every rule that would
  take it skips it with that reason (a file that cannot be understood stays where it is);
- `extra["journal"]` (set by `recheck`): a JSON-able dict written into the `act` record as `backend`
  before the action, so that `settle` and `undo` find what they need (final names, a live video).
A backend may also have `trash_room(verdicts) -> RunStopped | None`: why trashing these files would make
the server purge trash to stay within its budget (Nextcloud's trash bin), if it would; then the rules
that name an archive folder archive instead, and the run stops before trashing the rest.
What `act` returns may list under `files` every file the action took (dicts with `hash`, `size`,
`path`): the guard remembers each; without it, the guard remembers the file's own hash. Its
`destination`, if any, is where the file went (a name with a counter, the trash), for the report;
its `note`, something the user should know (a live video that could not follow). A quality action
returns its new file under `made` (`path`, `hash`, `size`) and, for a rewrite, the original under
`original`; `change`, the sizes before and after, joins the verdict's reason. A backend that
decides at action time not to act (a transform's check refused the result) raises `LeftAlone`.
Quality facts may carry `extra["refusals"]`: per action, why the gates refuse the file (a motion
photo, a gain map, …), so that the preview already says so."""

from __future__ import annotations

import json
import logging
import posixpath
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from ..core.layout import within
from ..engine import Decision
from ..journal import Journal
from .facts import FileFacts
from .match import Scope, Verdict, destination, verdicts
from .model import QUALITY_ACTIONS, Rule

log = logging.getLogger("mobile_backups")
MAX_FILES = 500  # a run that would act on more stops and asks for confirmation
MAX_PERCENT = 10.0  # … or on more than this share of the library
SHRUNK = 0.5  # a library that holds less than half of what it held last time is not read as "everything is old"


class Backend(Protocol):
    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]: ...  # the candidates (ages to `now`)
    def library_count(self) -> int: ...  # media files the library holds now (caps; a missing mount)
    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]: ...  # facts now, or why not
    def act(self, verdict: Verdict) -> dict[str, object]: ...  # do it; what undoing it needs
    def settle(self, record: dict[str, object]) -> dict[str, object] | None: ...  # after a kill: did it happen?
    def undo(self, record: dict[str, object]) -> str: ...  # put it back, verified; a note for the report


class Guard(Protocol):
    """What content a rule took, so that the same content coming back from a phone is not taken again."""

    def returned(self, content_hash: str) -> str | None: ...  # when it was taken before, if it was
    def remember(self, content_hash: str, path: str, rule: str, size: int | None = None) -> None: ...
    def forget(self, content_hash: str) -> None: ...  # an undo put it back: it did not come from a phone
    def made(self, content_hash: str, size: int | None, source_hash: str, source_size: int | None, path: str, rule: str) -> None: ...
    def unmade(self, content_hash: str) -> None: ...  # an undo removed it
    def transformed(self, content_hash: str, rule: str) -> str | None: ...  # why a quality rule leaves it alone


class LeftAlone(Exception):
    """The backend did not act, for a reason found only then (a transform refused its own result)."""


class RunStopped(Exception):
    """The run did not act: a cap needs confirmation, or the library cannot be trusted. `report`:
    the preview it stopped at."""

    def __init__(self, problem: str, report: Report | None = None, confirmable: bool = True) -> None:
        super().__init__(problem)
        self.report = report
        self.confirmable = confirmable  # False: a library that shrank; no confirmation goes past that


@dataclass
class Caps:
    max_files: int = MAX_FILES
    max_percent: float = MAX_PERCENT


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)  # the preview
    done: list[Verdict] = field(default_factory=list)
    outcome: list[Verdict] = field(default_factory=list)  # after a run: each verdict as it ended (left alone: skip)
    notes: list[str] = field(default_factory=list)  # what the user should know beyond the verdicts
    journal: Path | None = None
    library_files: int | None = None  # what the library held when the run started
    taken_out: int = 0  # files the run took out of the library (trashed, or archived outside it)
    trash_stop: RunStopped | None = None  # the trash bin has no room for what the preview would trash

    @property
    def library_left(self) -> int | None:
        """What the next run's check compares to: the count before acting, less what this run itself took
        out (a confirmed run that trashed half the library does not make the next one look like a missing mount)."""
        return None if self.library_files is None else self.library_files - self.taken_out

    def acting(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.acts]


CAME_BACK = "came back after clean-up ({}): the phone may still hold it; kept"


def _guarded(verdict: Verdict, facts: FileFacts, guard: Guard | None) -> str | None:
    """Why the guard says no (known when the file's hash is): its content came back after a rule took it,
    or, for a quality rule, the app made it or this rule already transformed it."""
    if guard is None or not facts.hash:
        return None
    if verdict.action in QUALITY_ACTIONS:
        return guard.transformed(facts.hash, verdict.rule.name)
    when = guard.returned(facts.hash)
    return CAME_BACK.format(when) if when else None


def _spared(verdict: Verdict, guard: Guard | None) -> Verdict:
    """A verdict that acts, or a skip: the backend could not read the file, the gates refuse it for this
    action, or the guard says no."""
    if not verdict.acts:
        return verdict
    facts = verdict.facts
    refusals = facts.extra.get("refusals") or {}
    why = facts.extra.get("problem") or refusals.get(verdict.action) or _guarded(verdict, facts, guard)  # type: ignore[union-attr]
    return verdict if why is None else Verdict(facts, verdict.rule, "skip", str(why))


def preview(backend: Backend, rules: list[Rule], scope: Scope, now: float, guard: Guard | None = None) -> Report:
    report = Report([_spared(v, guard) for v in verdicts(rules, backend.files(scope, rules, now), now, scope)])
    _room_for_trash(backend, report, scope)
    return report


def _trashing(report: Report) -> list[Verdict]:
    return [v for v in report.verdicts if v.action == "trash"]


def _room_for_trash(backend: Backend, report: Report, scope: Scope) -> None:
    """When the trash bin has no room for what the rules would trash, the rules that name an archive
    folder archive instead (a note says so), and what still does not fit is the report's `trash_stop`."""
    room = getattr(backend, "trash_room", None)  # a trash without a budget (the desktop's) has none
    if room is None or not _trashing(report) or (stop := room(_trashing(report))) is None:
        return
    moved = 0
    for n, v in enumerate(report.verdicts):
        if v.action == "trash" and v.rule.archive_to:
            report.verdicts[n] = Verdict(v.facts, v.rule, "archive", f"{v.reason}; archived: the trash bin has no room",
                                         destination(replace(v.rule, action="archive"), v.facts, scope))
            moved += 1
    if moved:
        report.notes.append(f"{moved} file(s) archived instead of trashed: {stop}")
        stop = room(_trashing(report)) if _trashing(report) else None
    report.trash_stop = stop


def cap_problem(acting: int, library: int, last_library: int | None, caps: Caps) -> RunStopped | None:
    """Why a run must stop before acting, if it must (confirmable or not)."""
    if last_library and library < last_library * SHRUNK:
        return RunStopped(f"the library looks much smaller than last time ({library} files, {last_library} before): "
                          "a folder or storage may be missing; nothing was done", confirmable=False)
    if acting > caps.max_files:
        return RunStopped(f"it would act on {acting} files, more than the limit of {caps.max_files}: confirm to go on")
    if library and acting * 100 > caps.max_percent * library:
        return RunStopped(f"it would act on {acting} of {library} files ({acting * 100 / library:.0f} %), more than "
                          f"{caps.max_percent:g} % of the library: confirm to go on")
    return None


def stop_of(report: Report, library: int, last_library: int | None, caps: Caps) -> RunStopped | None:
    """Why a run of this preview must stop before acting: the library check and the caps, and the trash
    bin's room. One that no confirmation goes past comes first; the others together (one confirmation)."""
    found = [s for s in (cap_problem(len(report.acting()), library, last_library, caps), report.trash_stop) if s]
    hard = [s for s in found if not s.confirmable]
    if hard:
        return hard[0]
    if len(found) > 1:
        return RunStopped("; ".join(map(str, found)))
    return found[0] if found else None


def run(backend: Backend, rules: list[Rule], scope: Scope, now: float, journals: Path, *, confirm: bool = False,
        caps: Caps = Caps(), last_library: int | None = None, guard: Guard | None = None,
        report: Callable[[Verdict], None] = lambda v: None, **meta: object) -> Report:
    """Preview, check the caps, then act on every verdict, journalled. Raises RunStopped when a cap
    stops it (nothing done)."""
    result = preview(backend, rules, scope, now, guard)
    library = result.library_files = backend.library_count()
    stop = stop_of(result, library, last_library, caps)
    if stop and (not confirm or not stop.confirmable):
        stop.report = result
        raise stop
    if not result.acting():
        result.outcome = list(result.verdicts)
        for verdict in result.outcome:
            report(verdict)
        return result
    journal = Journal.new_run(journals, kind="rules", rules=[r.name for r in rules], library_files=library, **meta)
    result.journal = journal.path
    step = 0
    try:
        for verdict in sorted(result.verdicts, key=lambda v: v.action == "reencode_video"):  # videos last: the slowest
            if verdict.acts:
                step += 1
                done = len(result.done)
                verdict = _act(backend, journal, step, verdict, guard, result)
                result.taken_out += len(result.done) > done and _leaves(verdict, scope)
            result.outcome.append(verdict)
            report(verdict)
    finally:
        journal.close()
    return result


def _leaves(verdict: Verdict, scope: Scope) -> bool:
    """Whether a done action took its file out of the library (as the backend's library_count counts it)."""
    def inside(path: str | None) -> bool:
        return path is not None and (within(path, scope.library) if scope.library else not posixpath.isabs(path))
    return inside(verdict.facts.path) and (verdict.action == "trash" or verdict.action == "archive" and not inside(verdict.destination))


def _act(backend: Backend, journal: Journal, step: int, verdict: Verdict, guard: Guard | None, result: Report) -> Verdict:
    """One action, journalled before and after; the verdict as it ended (a skip with the reason when left alone)."""
    try:
        facts, why_not = backend.recheck(verdict)
    except OSError as err:
        facts, why_not = None, f"could not be read again: {err.strerror or err}"
    if facts is not None and (guarded := _guarded(verdict, facts, guard)):
        facts, why_not = None, guarded
    if facts is None:
        return Verdict(verdict.facts, verdict.rule, "skip", str(why_not))
    verdict = Verdict(facts, verdict.rule, verdict.action, verdict.reason, verdict.destination)
    journal.write(op="act", step=step, rule=verdict.rule.name, action=verdict.action, path=facts.path, file_id=facts.file_id,
                  size=facts.size, hash=facts.hash, destination=verdict.destination, live_peer=facts.live_peer,
                  duplicate_of=facts.duplicate_of, tag=verdict.rule.tag if verdict.action == "tag" else None,
                  backend=facts.extra.get("journal"), time=time.time())
    try:
        undo_info = backend.act(verdict)
    except (OSError, LeftAlone) as err:
        journal.write(op="failed", step=step, error=str(err))
        return Verdict(facts, verdict.rule, "skip", str(err) if isinstance(err, LeftAlone) else f"not done: {err}")
    journal.write(op="acted", step=step, undo=undo_info)
    if undo_info.get("note"):
        result.notes.append(f"{facts.path}: {undo_info['note']}")
    _remember(guard, {"path": facts.path, "rule": verdict.rule.name, "action": verdict.action, "size": facts.size,
                      "hash": facts.hash, "duplicate_of": facts.duplicate_of}, undo_info)
    result.done.append(verdict)
    reason = verdict.reason + (f"; {undo_info['change']}" if undo_info.get("change") else "")
    where = undo_info.get("destination") or verdict.destination
    return Verdict(facts, verdict.rule, verdict.action, reason, str(where) if where else None)


def _taken(record: dict[str, object], undo_info: dict[str, object]) -> list[dict[str, object]]:
    """Every file an action took (the backend's `files`, else the file itself)."""
    files = undo_info.get("files")
    return list(files) if isinstance(files, list) else [{"hash": record.get("hash"), "size": record.get("size"), "path": record.get("path")}]


def _remember(guard: Guard | None, record: dict[str, object], undo_info: dict[str, object]) -> None:
    """The guard learns what a rule took, but not a duplicate: its content is still in the library;
    and what a quality rule made, and from what."""
    made = undo_info.get("made")
    if guard is not None and isinstance(made, dict) and record.get("hash"):
        guard.made(str(made["hash"]), made.get("size"), str(record["hash"]), record.get("size"), str(made["path"]), str(record["rule"]))  # type: ignore[arg-type]
    if guard is None or record.get("action") not in ("trash", "archive") or record.get("duplicate_of"):
        return
    for taken in _taken(record, undo_info):
        if taken.get("hash"):
            guard.remember(str(taken["hash"]), str(taken.get("path") or record["path"]), str(record["rule"]), taken.get("size"))  # type: ignore[arg-type]


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


def unfinished(path: Path) -> bool:
    """A journal with an action a kill left unmarked (neither acted nor failed)."""
    return any(step.undo is None and not step.failed for step in read_run(path)[1])


def finish(backend: Backend, path: Path, guard: Guard | None = None) -> list[str]:
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
                _remember(guard, step.record, undo_info)
                notes.append(f"{step.record['path']}: an interrupted {step.record['action']} had happened; journalled")
    if journal:
        journal.close()
    return notes


def undo(backend: Backend, path: Path, guard: Guard | None = None) -> list[str]:
    """Put back everything a rules run did, newest first; each file verified by the backend."""
    notes = finish(backend, path, guard)
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
            made = step.undo.get("made")
            if guard is not None and isinstance(made, dict):
                guard.unmade(str(made["hash"]))
            elif guard is not None:
                for taken in _taken(step.record, step.undo):
                    if taken.get("hash"):
                        guard.forget(str(taken["hash"]))
            journal.write(op="undone", step=step.record["step"])
    finally:
        journal.close()
    return notes


def summary(outcomes: Iterable[Verdict | Decision]) -> str:
    """How many of each action, e.g. "3 move, 1 skip" (a rules run's verdicts, or the organiser's decisions)."""
    counts = Counter(outcome.action for outcome in outcomes)
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing to do"
