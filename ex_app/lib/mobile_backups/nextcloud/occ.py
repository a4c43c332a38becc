"""The occ commands (`occ mobile_backups:…`), as text for AppAPI to print.

AppAPI prints an ExApp command's answer only once it is complete (Nextcloud's HTTP client
buffers it), so `organise` prints its progress lines with their times, and writes them to
the Nextcloud log as it goes, where `occ log:tail` shows them live.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from ..engine import undo
from ..journal import read_journal
from .backlog import Progress
from .worker import Organiser

log = logging.getLogger("mobile_backups")
PROGRESS_EVERY = 10.0
WAIT_AT_MOST = 3600.0
SHOWN = 20  # files listed per kind of waiting; the rest are counted
_RUN = re.compile(r"^([^/]+)/([0-9]{4}-[0-9]{2}-[0-9]{2})$")


def organise(organiser: Organiser, users: list[str], dry_run: bool, wait_at_most: float = WAIT_AT_MOST) -> str:
    """Queue every user's backlog (or print its plan) and wait until the queue has done it."""
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(f"{datetime.now():%H:%M:%S} {line}")
        log.info("occ organise: %s", line)

    queued = {}
    for user in users:
        config = organiser.config_for(user)
        if config.unread:
            say(f"{user}: skipped: their settings could not be read ({config.unread})")
            continue
        if not config.enabled:
            say(f"{user}: organising is off, {config.why_disabled}" + ("; this is what it would do:" if dry_run else ": skipped"))
            if not dry_run:
                continue
        if dry_run:
            decisions = organiser.preview(user)
            for d in decisions:
                where = f"{config.library}/{d.destination}" if d.destination else "(stays)"
                lines.append(f"{user}: {d.item.path} -> {where}" + (f"  [{d.reason}]" if d.reason else ""))
            say(f"{user}: {sum(d.destination is not None for d in decisions)} of {len(decisions)} file(s) would move (dry run: nothing moved)")
            continue
        queued[user] = organiser.sweep(user)
        say(f"{user}: {queued[user]} file(s) queued from {', '.join(config.inboxes)}")
    started = last = time.monotonic()
    while queued and any(organiser.queue.pending(u) for u in queued):
        if time.monotonic() - started > wait_at_most:
            say("still working; the queue goes on in the background (occ mobile_backups:status)")
            break
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            say("left: " + ", ".join(f"{u} {organiser.queue.pending(u)}/{n}" for u, n in queued.items()))
        time.sleep(0.5)
    else:
        for user, count in queued.items():
            if count:
                say(f"{user}: done; {organiser.queue.settled_count(user)} file(s) stay in the inboxes (duplicates or problems: see the log)")
    return "\n".join(lines) + "\n"


def runs(journals: Path) -> list[tuple[str, int, int]]:
    """(RUN, files moved, files put back) of every journal, newest last."""
    found = []
    for path in sorted(journals.glob("*/*.jsonl")):
        state = read_journal(path)
        moved = sum(len(g.done or []) for g in state.groups.values() if not g.undone)
        undone = sum(len(g.done or []) for g in state.groups.values() if g.undone)
        found.append((f"{path.parent.name}/{path.stem}", moved, undone))
    return found


def status(organiser: Organiser, enabled: bool, last_sweep: dict, backlogs: Sequence[Progress] = ()) -> str:
    queue = organiser.queue
    out = [f"Mobile Backups: {'enabled' if enabled else 'disabled'}"]
    pending = queue.pending_by_user()
    out.append(f"queue: {sum(pending.values())} file(s) waiting" + (" (" + ", ".join(f"{u} {n}" for u, n in sorted(pending.items())) + ")" if pending else ""))
    retrying = queue.retrying()
    out.append(f"waiting after a failure (tried again with back-off): {len(retrying)}")
    out.extend(f"  {user}: {path}: attempt {attempts}, next in {wait:.0f} s: {error}" for user, path, attempts, error, wait in retrying[:SHOWN])
    out.extend([f"  … and {len(retrying) - SHOWN} more"] if len(retrying) > SHOWN else [])
    parked = queue.parked()
    out.append(f"parked after repeated failures: {len(parked)}" + (" (tried again at every sweep, and all of them once one works again)" if parked else ""))
    out.extend(f"  {user}: {path}: {error}" for user, path, error in parked[:SHOWN])
    out.extend([f"  … and {len(parked) - SHOWN} more"] if len(parked) > SHOWN else [])
    if last_sweep:
        when = datetime.fromtimestamp(last_sweep["time"], timezone.utc)
        out.append(f"last sweep: {when:%Y-%m-%d %H:%M:%S} UTC ({time.time() - last_sweep['time']:.0f} s ago), {last_sweep.get('users', 0)} user(s)")
    else:
        out.append("last sweep: none yet")
    now = time.time()
    out.append("files that were there before, being organised:" if backlogs else "files that were there before, being organised: none")
    out.extend(f"  {p.user}: {p.describe(now)}" for p in backlogs)
    all_runs = runs(organiser.storage / "journals")
    settled = queue.settled_by_user()
    users = sorted({r.split("/")[0] for r, _, _ in all_runs} | set(settled) | set(pending))
    out.append("users:" if users else "users: none has used the app yet")
    for user in users:
        mine = [r for r in all_runs if r[0].startswith(user + "/")]
        out.append(f"  {user}: {sum(m for _, m, _ in mine)} file(s) organised in {len(mine)} run(s), "
                   f"{settled.get(user, 0)} staying in the inboxes, {pending.get(user, 0)} waiting")
    if all_runs:
        out.append("runs (undo one with: occ mobile_backups:undo RUN):")
        out.extend(f"  {run}: {moved} moved" + (f", {undone} put back" if undone else "") for run, moved, undone in all_runs)
    return "\n".join(out) + "\n"


def undo_run(organiser: Organiser, run: str, rules_undo: Callable[[str], str | None] = lambda run: None) -> str:
    """`rules_undo`: the answer for a rules run (USER/run-…), None when `run` is not one."""
    if (text := rules_undo(run)) is not None:
        return text
    match = _RUN.match(run.strip())
    path = organiser.storage / "journals" / f"{run.strip()}.jsonl"
    if not match or not path.is_file():
        known = ", ".join(r for r, _, _ in runs(organiser.storage / "journals")) or "none"
        return f"No run {run!r}. Runs are USER/DATE (clean-up rules: USER/run-…); known: {known}\n"
    user = match[1]
    put_back: list[str] = []
    notes = undo(organiser.store_for(user), path, put_back)
    organiser.hold(user, put_back, f"put back by occ mobile_backups:undo {run}")
    log.info("occ undo %s: %d file(s) put back", run, len(put_back))
    back = len(put_back)
    return "\n".join(notes + [f"{run}: {back} file(s) put back"]) + "\n"
