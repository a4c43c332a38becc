"""`python -m mobile_backups`: plan, organise, apply rules and undo on local folders."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .content_index import ContentIndex
from .core.layout import DEFAULT_LAYOUT, LayoutError, parse_layout
from .engine import STATE_DIR, Decision, Settings, finish_interrupted, organise, undo
from .journal import Journal
from .lock import Busy, run_lock
from .rules import runner
from .rules.guard import ContentGuard
from .rules.local import GUARD, RULES_JOURNALS, LocalBackend, now_of
from .rules.match import Verdict
from .rules.model import Rule, RulesError, load_rules
from .store import LocalStore

BUSY = 75  # EX_TEMPFAIL: another run holds the library or an inbox; try again later
REFUSED = 2  # a bad rules file (or option): nothing was read
STOPPED = 3  # a cap or a library that looks much smaller stopped the rules before they acted


def machine_zone() -> tzinfo | None:
    """The machine's IANA zone (TZ, /etc/timezone, /etc/localtime), else None: the C library's local time."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(Path("/etc/timezone").read_text().strip())
    except OSError:
        pass
    link = Path("/etc/localtime")
    if link.is_symlink():
        candidates.append(str(link.resolve()).partition("zoneinfo/")[2])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return None


def _zone(name: str | None) -> tzinfo | None:
    if name is None:
        return machine_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"error: unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mobile_backups", description="Organise phone uploads into a date-based library.")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--layout", default=DEFAULT_LAYOUT, help=f"layout template (default {DEFAULT_LAYOUT})")
    common.add_argument("--timezone", help="IANA zone for UTC-only dates (default: this machine's)")
    p = commands.add_parser("plan", parents=[common], help="print where every file would go, touching nothing")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--library", help="library folder, to check name clashes and duplicates against it")
    p.add_argument("paths", nargs="+")
    o = commands.add_parser("organise", aliases=["organize"], parents=[common], help="move files into the library, journalled")
    o.add_argument("--library", required=True)
    o.add_argument("--dry-run", action="store_true", help="print the plan, move nothing")
    o.add_argument("--json", action="store_true")
    o.add_argument("inboxes", nargs="+")
    r = commands.add_parser("rules", help="apply retention and quality rules to a library, journalled (preview with --dry-run)")
    r.add_argument("--rules", required=True, metavar="RULES.toml")
    r.add_argument("--library", required=True)
    r.add_argument("--inbox", action="append", default=[], metavar="DIR", help="an inbox (for duplicates left in it); repeatable")
    r.add_argument("--dry-run", action="store_true", help="print what the rules would do, touch nothing")
    r.add_argument("--json", action="store_true", help="one JSON object per file acted on or spared")
    r.add_argument("--now", metavar="YYYY-MM-DD", help="judge ages as on this day (default: today)")
    r.add_argument("--trash", metavar="DIR", help="trash into this folder, mirroring the library (default: the desktop trash)")
    r.add_argument("--confirm", action="store_true", help=f"go past the caps ({runner.MAX_FILES} files, {runner.MAX_PERCENT:g} %% of the library)")
    r.add_argument("--timezone", help="IANA zone for capture dates without an offset and for --now (default: this machine's)")
    u = commands.add_parser("undo", help="put back every file a journalled run (organise or rules) moved")
    u.add_argument("journal")
    for command in (o, r, u):
        command.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                             help="if another run is active on the library or an inbox, wait for it this long (default: stop at once)")
    return parser


def _printer(as_json: bool, line: Callable[[Any], str]) -> Callable[[Any], None]:
    """Prints each decision or verdict as it comes: its JSON record, or `line` of it."""

    def report(outcome: Any) -> None:
        print(json.dumps(outcome.record(), ensure_ascii=False) if as_json else line(outcome), flush=True)

    return report


def _decision_line(decision: Decision) -> str:
    why = f"  [{decision.reason}]" if decision.reason else ""
    return f"{decision.action:9} {decision.item.path} -> {decision.destination or '(stays)'}{why}"


def _verdict_line(verdict: Verdict) -> str:
    where = f" -> {verdict.destination}" if verdict.destination else ""
    return f"{verdict.action:9} {verdict.facts.path}{where}  [{verdict.rule.name}: {verdict.reason}]"


def _content_index(library: str | None, moves: bool) -> ContentIndex | None:
    """The library's content index in its state folder; a plan of a library without one keeps it in memory."""
    if library is None:
        return None
    state = Path(library) / STATE_DIR
    return ContentIndex(state / "content.sqlite" if moves or state.is_dir() else None, records_placements=moves)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a local name that is not UTF-8 is printed as its own bytes
        stream.reconfigure(errors="surrogateescape")  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except Busy as busy:
        print(f"error: {busy}: nothing was changed; try again when it has finished, or wait for it with --wait SECONDS",
              file=sys.stderr)
        return BUSY


def _library_of(journal: Path) -> str | None:
    """The library a run journal moved files into: its first record names it, or, when a kill
    tore that record, the folder it is in (LIBRARY/.mobile_backups/journals/)."""
    with open(journal, encoding="utf-8") as handle:
        try:
            first = json.loads(handle.readline())
        except json.JSONDecodeError:
            first = None
    library = first.get("library") if isinstance(first, dict) else None
    if isinstance(library, str):
        return library
    return str(journal.parent.parent.parent) if journal.parent.parent.name == STATE_DIR else None


def _rules_header(journal: Path) -> dict[str, object] | None:
    """A rules journal's header (kind "rules"); one torn by a kill: what its place says
    (LIBRARY/.mobile_backups/rules/). None for an organise journal."""
    header, _ = runner.read_run(journal)
    if header.get("kind") == "rules":
        return header
    if not header and journal.parent.name == RULES_JOURNALS and journal.parent.parent.name == STATE_DIR:
        return {"library": str(journal.parent.parent.parent)}
    return None


def _refuse(problems: list[str]) -> int:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print("the rules file was refused as a whole: nothing was read or changed", file=sys.stderr)
    return REFUSED


def _rules(args: argparse.Namespace) -> int:
    """`rules`: the rules file is refused as a whole before any file is read."""
    try:
        rules = load_rules(Path(args.rules).read_text(encoding="utf-8"))
    except OSError as err:
        return _refuse([f"cannot read {args.rules}: {err.strerror or err}"])
    except RulesError as err:
        return _refuse(err.problems)
    tags = [f"rule {n} ({r.name!r}): action 'tag' assigns a Nextcloud system tag; there are no tags locally (use trash or archive)"
            for n, r in enumerate(rules, 1) if r.action == "tag" and r.enabled]
    if tags:
        return _refuse(tags)
    zone = _zone(args.timezone)
    try:
        now = now_of(args.now, zone) if args.now else None
    except ValueError:
        return _refuse([f"--now must be a day as YYYY-MM-DD, not {args.now!r}"])
    library = Path(args.library).resolve()
    for folder in [library, *map(Path, args.inbox)]:
        if not folder.is_dir():
            raise SystemExit(f"error: {folder} is not a folder: nothing was done")
    state = library / STATE_DIR
    inboxes = [Path(i).resolve() for i in args.inbox]
    with run_lock(state, [str(i) for i in inboxes], "rules", args.wait):
        guard = ContentGuard(state / GUARD)
        journals = state / RULES_JOURNALS
        with LocalBackend(library, inboxes, Path(args.trash) if args.trash else None, zone, guard) as backend:
            for path in sorted(journals.glob("*.jsonl")) if journals.is_dir() else []:
                if runner.unfinished(path):
                    for note in runner.finish(backend, path, guard):
                        logging.info(note)
            return _apply(args, rules, backend, guard, journals, now)


def _apply(args: argparse.Namespace, rules: list[Rule], backend: LocalBackend, guard: ContentGuard, journals: Path, now: float | None) -> int:
    """Preview (--dry-run) or run, one line per file acted on or spared, then the summary."""
    when = now if now is not None else time.time()
    scope = backend.scope(rules)
    report = _printer(args.json, _verdict_line)
    if args.dry_run:
        preview = runner.preview(backend, rules, scope, when, guard)
        for verdict in preview.verdicts:
            report(verdict)
        stop = runner.stop_of(preview, backend.library_count(), guard.library_files(), runner.Caps())
        if stop:
            print(f"a run would stop here: {stop}", file=sys.stderr)
        print(f"dry run: {runner.summary(preview.verdicts)}", file=sys.stderr)
        return 0
    try:
        result = runner.run(backend, rules, scope, when, journals, confirm=args.confirm, last_library=guard.library_files(),
                            guard=guard, report=report, library=str(backend.library), inboxes=[str(i) for i in backend.inboxes],
                            trash=str(backend.trash) if backend.trash else None)
    except runner.RunStopped as stop:
        for verdict in stop.report.verdicts if stop.report else []:
            report(verdict)
        print(f"stopped: {stop}", file=sys.stderr)
        return STOPPED
    guard.set_library_files(result.library_left or 0)
    for note in result.notes:
        logging.info(note)
    if result.journal is not None:
        print(f"journal: {result.journal}  (undo with: python -m mobile_backups undo {result.journal})", file=sys.stderr)
    print(runner.summary(result.outcome), file=sys.stderr)
    return 0


def _undo_rules(path: Path, header: dict[str, object], wait: float) -> int:
    library = Path(str(header["library"]))
    trash = header.get("trash")
    with run_lock(library / STATE_DIR, [], "undo", wait):
        guard = ContentGuard(library / STATE_DIR / GUARD)
        with LocalBackend(library, [Path(str(i)) for i in header.get("inboxes") or []], Path(str(trash)) if trash else None, guard=guard) as backend:
            notes = runner.undo(backend, path, guard)
    for note in notes:
        print(note)
    return 1 if any("could not be put back" in note for note in notes) else 0


def _came_back(library: str, decisions: list[Decision]) -> None:
    """The organiser's side of the re-upload guard: a file a rule took, back from the phone, said once."""
    path = Path(library) / STATE_DIR / GUARD
    if not path.exists():
        return
    guard = ContentGuard(path)
    try:
        sizes = guard.sizes()
        for decision in decisions:
            if decision.destination and decision.action in ("move", "companion") and decision.item.size in sizes:
                where = Path(library) / decision.destination
                when = guard.report_once(LocalStore().digest(str(where))[0]) if where.is_file() else None
                if when:
                    print(f"{decision.item.path}: came back after clean-up ({when}): the phone may still hold it", file=sys.stderr)
    finally:
        guard.close()


def _run(args: argparse.Namespace) -> int:
    if args.command == "rules":
        return _rules(args)
    if args.command == "undo":
        path = Path(args.journal).resolve()
        if not path.is_file():
            raise SystemExit(f"error: no journal at {path}")
        if (header := _rules_header(path)) is not None:
            return _undo_rules(path, header, args.wait)
        library = _library_of(path)
        if library is None:
            raise SystemExit(f"error: {path} does not name its library: not a journal of `organise`")
        store = LocalStore(library)
        with run_lock(Path(library) / STATE_DIR, [], "undo", args.wait):
            for note in finish_interrupted(store, path.parent) + undo(store, path):
                print(note)
        return 0
    try:
        layout = parse_layout(args.layout)
    except LayoutError as err:
        raise SystemExit(f"error: {err}") from None
    for folder in args.paths if args.command == "plan" else args.inboxes:
        if not Path(folder).exists():
            raise SystemExit(f"error: {folder} does not exist")
    library = str(Path(args.library).resolve()) if args.library else None
    settings = Settings(layout, _zone(args.timezone), library, _content_index(library, moves=args.command != "plan" and not args.dry_run))
    store = LocalStore(library)
    report = _printer(args.json, _decision_line)
    if args.command == "plan":
        paths = [str(Path(p).resolve()) for p in args.paths]
        decisions = organise(store, paths, settings, None, report)
    else:
        assert library is not None
        inboxes = [str(Path(p).resolve()) for p in args.inboxes]
        journals = Path(library) / STATE_DIR / "journals"
        with run_lock(journals.parent, [i for i in inboxes if Path(i).is_dir()], "organise", args.wait):
            for note in finish_interrupted(store, journals):
                logging.info(note)
            journal = None if args.dry_run else Journal.new_run(journals, library=library, inboxes=inboxes, layout=layout.template)
            decisions = organise(store, inboxes, settings, journal, report)
            if journal is not None:
                journal.close()
                _came_back(library, decisions)
                print(f"journal: {journal.path}  (undo with: python -m mobile_backups undo {journal.path})", file=sys.stderr)
    print(runner.summary(decisions), file=sys.stderr)
    return 0
