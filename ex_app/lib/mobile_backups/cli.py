"""`python -m mobile_backups`: plan, organise and undo on local folders."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .content_index import ContentIndex
from .core.layout import DEFAULT_LAYOUT, LayoutError, parse_layout
from .engine import STATE_DIR, Decision, Settings, finish_interrupted, organise, undo
from .journal import Journal
from .lock import Busy, run_lock
from .store import LocalStore

BUSY = 75  # EX_TEMPFAIL: another run holds the library or an inbox; try again later


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
    u = commands.add_parser("undo", help="put back every file a journalled run moved")
    u.add_argument("journal")
    for command in (o, u):
        command.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                             help="if another run is active on the library or an inbox, wait for it this long (default: stop at once)")
    return parser


def _printer(as_json: bool):
    def report(decision: Decision) -> None:
        if as_json:
            print(json.dumps(decision.record(), ensure_ascii=False), flush=True)
            return
        where = decision.destination or "(stays)"
        why = f"  [{decision.reason}]" if decision.reason else ""
        print(f"{decision.action:9} {decision.item.path} -> {where}{why}", flush=True)

    return report


def _summary(decisions: list[Decision]) -> str:
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.action] = counts.get(d.action, 0) + 1
    return ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing to do"


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


def _run(args: argparse.Namespace) -> int:
    if args.command == "undo":
        path = Path(args.journal).resolve()
        if not path.is_file():
            raise SystemExit(f"error: no journal at {path}")
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
    report = _printer(args.json)
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
                print(f"journal: {journal.path}  (undo with: python -m mobile_backups undo {journal.path})", file=sys.stderr)
    print(_summary(decisions), file=sys.stderr)
    return 0
