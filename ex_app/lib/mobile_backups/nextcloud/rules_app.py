"""The ExApp side of the rules: which rules apply to a user (the admin's for everyone or for groups,
the presets of the admin and personal forms, the user's own from the app's page), their state
(preview first; acts only once its owner has seen a preview and switched it on), live previews,
runs on demand and on schedule with their caps, notices, and undo.

The engine (`rules/runner.py`) does the matching, journalling and acting through a Backend; the
Backend is made per user by a factory (`backend_factory`), which the Nextcloud backend plugs into."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..core.layout import within
from ..rules import runner
from ..rules.facts import FileFacts, kinds_of
from ..rules.match import Scope, Verdict, expected_change
from ..rules.model import Rule, RulesError
from ..rules.runner import Backend, Caps, Report, RunStopped
from ..store import Unavailable
from . import rules_settings as rs
from .rules_backend import NextcloudRulesBackend
from .rules_state import ADMIN, RulesState
from .rules_timing import Notice, due_date, notice_text, run_due, size_text, step

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("mobile_backups")
BackendFactory = Callable[[str], Backend]  # user -> the Backend over that user's files
CHECK_EVERY = 300.0  # how often the scheduler looks whether a user's daily run is due
SAMPLES = 20
SPARED_SAMPLES = 5  # of the 20 samples, up to this many files a rule spares or cannot judge
MAX_CHART_MONTHS = 60  # months without files are shown as empty up to this span
PREVIEW_PROBES = 300  # files a page's preview reads for the quality rules (two or three range requests each)
UPLOADS_PER_RUN = 500  # placed uploads one run at upload looks at (the rest wait for the next)
UPLOADS_LOOK_EVERY = 5.0  # seconds between looks for placed uploads whose batch is over (a query of the app's SQLite)


def backend_factory(app: App) -> BackendFactory:
    """The Backend for each user: WebDAV SEARCH over their library and inboxes, as they are configured now."""
    def for_user(user: str) -> Backend:
        config = app.config_for(user).to_act_on()  # no rule acts on folders the user may not have
        return NextcloudRulesBackend(app.store(user), config.library, config.inboxes, zone=config.zone,
                                     layout=config.layout.template, guard=app.rules.state.guard(user),
                                     work=app.storage / "quality-work" / user)

    return for_user


@dataclass(frozen=True)
class Applied:
    """One rule as it applies to one user."""

    rule: Rule
    table: dict
    key: str
    owner: str  # ADMIN or the user
    source: str  # "preset" (a settings form) or "page" (the rule editor)
    groups: tuple[str, ...] = ()
    seen: bool = False  # its owner has seen a preview of this content
    on_since: float | None = None  # when its owner switched this content on (None: off)
    opted_out: bool = False  # the user switched this admin rule off for themselves

    @property
    def on(self) -> bool:
        return self.on_since is not None

    @property
    def acts(self) -> bool:
        return self.on and not self.opted_out

    @property
    def state(self) -> str:
        if self.opted_out:
            return "switched off by you"
        return "on" if self.on else ("preview seen, not switched on" if self.seen else "preview: not seen yet")


@dataclass
class Outcome:
    """What a run on demand did, for the page and occ."""

    report: Report | None = None
    stopped: str | None = None
    confirmable: bool = True  # a stopped run that a confirmation lets go on
    run_id: str | None = None
    rules: list[Applied] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Announced:
    """A Backend that offers only the files a notice announced (a scheduled run takes nothing unannounced)."""

    def __init__(self, backend: Backend, files: set[int | str]) -> None:
        self._backend, self._files = backend, files

    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]:
        return (f for f in self._backend.files(scope, rules, now) if (f.file_id if f.file_id is not None else f.path) in self._files)

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)


class AfterOrganising:
    """A Backend for a run at upload: it offers only the files just placed (told to the Nextcloud backend too,
    so that it reads nothing of the others), and each action waits while files wait to be organised."""

    def __init__(self, backend: Backend, paths: frozenset[str], organising: Callable[[], bool], stop: threading.Event) -> None:
        self._backend, self._paths, self._organising, self._stop = backend, paths, organising, stop
        if hasattr(backend, "only"):
            backend.only = paths

    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]:
        return (f for f in self._backend.files(scope, rules, now) if f.path in self._paths)

    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]:
        while self._organising() and not self._stop.wait(1.0):
            pass
        if self._stop.is_set():
            return None, "the app is stopping: the next run takes it"
        return self._backend.recheck(verdict)

    def __getattr__(self, name: str) -> object:
        return getattr(self._backend, name)


def file_key(facts: FileFacts) -> int | str:
    return facts.file_id if facts.file_id is not None else facts.path


def month_and_kind(verdict: Verdict) -> tuple[str, str]:
    facts = verdict.facts
    when = {"capture": facts.capture, "upload": facts.upload, "modified": facts.mtime}[verdict.rule.age_from] or facts.mtime
    kinds = kinds_of(facts.path, facts.user_comment)
    kind = next((k for k in ("screenshot", "messenger", "video", "photo") if k in kinds), "other")
    return (datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m") if when else "unknown"), kind


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), so that the chart's axis has no holes."""
    (y, m), (ly, lm) = map(int, first.split("-")), map(int, last.split("-"))
    found = []
    while (y, m) <= (ly, lm) and len(found) < MAX_CHART_MONTHS:
        found.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return found


def describe(report: Report, rules: list[Rule], folder: str = "") -> dict:
    """Per rule: files and bytes it would take, how many it spares, 20 samples with the reason, and
    what it takes by month and kind (for the chart)."""
    found: dict[str, dict] = {r.name: {"rule": r.name, "action": r.action, "files": 0, "bytes": 0, "exempt": 0, "skipped": 0,
                                       "change": 0, "change_unknown": 0, "taken": [], "spared": [], "chart": defaultdict(Counter)}
                              for r in rules}
    for verdict in report.verdicts:
        if folder and not within(verdict.facts.path, folder):
            continue
        entry = found[verdict.rule.name]
        if not verdict.acts:
            entry["exempt" if verdict.action == "exempt" else "skipped"] += 1
            if len(entry["spared"]) < SPARED_SAMPLES:
                entry["spared"].append(verdict.record())
        else:
            if len(entry["taken"]) < SAMPLES:
                entry["taken"].append(verdict.record())
            entry["files"] += 1
            entry["bytes"] += verdict.facts.size
            if not verdict.rule.is_retention:
                change = expected_change(verdict)
                entry["change" if change is not None else "change_unknown"] += change if change is not None else 1
            month, kind = month_and_kind(verdict)
            entry["chart"][month][kind] += 1
    for entry in found.values():
        taken, spared = entry.pop("taken"), entry.pop("spared")
        entry["samples"] = taken[: SAMPLES - len(spared)] + spared
        chart = entry["chart"]
        known = sorted(m for m in chart if m != "unknown")
        months = (months_between(known[0], known[-1]) if known else []) + (["unknown"] if "unknown" in chart else [])
        entry["chart"] = {month: dict(chart.get(month, {})) for month in (months if len(months) < MAX_CHART_MONTHS else sorted(chart))}
        entry["size"] = size_text(entry["bytes"])
    return {"rules": list(found.values())}


class RulesService:
    def __init__(self, app: App, backends: BackendFactory | None = None) -> None:
        self.app = app
        self.backend_for = backends or backend_factory(app)
        self.state = RulesState(app.storage / "rules.sqlite")
        self.journals = app.storage / "rules-journals"
        self._runs = threading.Lock()  # one run at a time: a page click and the schedule do not race
        self._settled: set[str] = set()  # users whose runs a kill interrupted were finished by this process

    # --- settings ------------------------------------------------------------------------

    def admin_values(self) -> Mapping[str, str]:
        """The admin's rules settings in force (settings.py reads, checks and reports them with the others)."""
        return self.app.admin().values

    def caps(self) -> rs.Choices:
        return rs.admin_choices(self.admin_values())

    def personal_values(self, user: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """(in force, saved, problems) of the user's presets; a new problem is told to the user once."""
        try:
            saved = self.app._values(user, "ex-app/preference", tuple(rs.PERSONAL_RULES_DEFAULTS))
        except OSError as err:
            log.warning("could not read the rules settings of %s (%s)", user, err)
            saved = {}
        scope = f"rules:{user}"
        values, problems = rs.in_force(saved, rs.PERSONAL_RULES_DEFAULTS, self.app.state.get(scope, "valid"))
        self.app.state.put(scope, "valid", values)
        for key, problem in self.app.state.new_problems(scope, problems, saved).items():
            self.app.notify(user, f"Mobile Backups: your clean-up setting “{key}” was not applied",
                            f"{problem}. Still using “{values[key]}”.", self.page_url())
        return values, saved, problems

    def save_presets(self, user: str, values: dict[str, str]) -> dict[str, str]:
        """The personal presets from the app's page (plain users cannot save the declarative form on
        Nextcloud 34): all or nothing; key -> problem."""
        values = {k: v.strip() for k, v in values.items() if k in rs.PERSONAL_RULES_DEFAULTS}
        problems = {k: p for k, v in values.items() if v and (p := rs.check_value(k, v))}
        if not problems and not self.caps().users_may_add and any(v not in ("", "0") for k, v in values.items() if k.endswith("_days")):
            problems["my_screenshots_days"] = "the admin does not let users add their own clean-up rules"
        if problems:
            return problems
        self.app.store_preferences(user, values)
        return {}

    def groups_of(self, user: str) -> tuple[str, ...]:
        groups, _ = self.app.user_info(user)
        return groups or ()

    def is_admin(self, user: str) -> bool:
        return "admin" in self.groups_of(user)

    def page_url(self, anchor: str = "", preview: Applied | None = None) -> str:
        """The rules page (through AppAPI's proxy), or the preview of one rule on it."""
        query = f"?preview={quote(preview.rule.name)}&owner={'admin' if preview.owner == ADMIN else 'mine'}" if preview else ""
        return self.app.page_url.rsplit("/", 1)[0] + "/rules" + query + (f"#{anchor}" if anchor else "")

    # --- which rules apply ------------------------------------------------------------------

    def _applied(self, table: dict, owner: str, source: str, groups: tuple[str, ...] = ()) -> Applied | None:
        """The rule of a table with its owner's state; None (logged) when the model refuses it."""
        try:
            rule = rs.parse_table(table)
        except RulesError as err:
            log.warning("rule %r of %s left out: %s", table.get("name"), owner or "the admin", err)
            return None
        key = rs.rule_key(table)
        return Applied(rule, table, key, owner, source, groups, self.state.has_seen(owner, key), self.state.on_since(owner, key))

    def admin_rules(self) -> list[Applied]:
        """Every admin rule (presets first), whoever it applies to."""
        found = [self._applied(t, ADMIN, "preset") for t in rs.preset_tables(self.admin_values(), "rules_", "Admin")]
        found += [self._applied(s.table, ADMIN, "page", s.groups) for s in self.state.rules(ADMIN)]
        return [a for a in found if a]

    def rules_for(self, user: str, groups: tuple[str, ...] | None = None) -> list[Applied]:
        """The rules that apply to the user, in order: the admin's (for everyone or the user's groups),
        then the user's own when the admin allows them (an admin's own always)."""
        groups = self.groups_of(user) if groups is None else groups
        if not self.app.admin().may_use(groups):
            return []  # the admin did not let this user use the app
        opted = self.state.opted_out(user) if self.caps().users_may_switch_off else set()
        found = [replace(a, opted_out=a.rule.name in opted) for a in self.admin_rules() if not a.groups or set(a.groups) & set(groups)]
        if self.caps().users_may_add or "admin" in groups:
            taken = {a.rule.name for a in found}
            values, _, _ = self.personal_values(user)
            own = [self._applied(t, user, "preset") for t in rs.preset_tables(values, "my_", "Mine")]
            own += [self._applied(s.table, user, "page") for s in self.state.rules(user)]
            found += [a for a in own if a and a.rule.name not in taken]
        return found

    def scope_for(self, user: str, rules: list[Rule]) -> Scope:
        config = self.app.config_for(user).to_act_on()
        return Scope.of(config.library, config.inboxes, rules)

    # --- previews ---------------------------------------------------------------------------

    def preview(self, user: str, tables: list[dict] | None = None, folder: str = "", now: float | None = None,
                owner: str | None = None) -> dict:
        """What the given rule tables (default: every rule that applies) would do to the user's files now.
        The preview counts as seen by the rules' owner (the user, or the admin for admin rules)."""
        if tables is None:
            applied = self.rules_for(user)
        else:
            applied = [a for t in tables if (a := self._applied(t, owner if owner is not None else user, "page"))]
        rules = [replace(a.rule, enabled=True) for a in applied]
        backend = self.backend_for(user)
        if hasattr(backend, "preview_probes"):
            backend.preview_probes = PREVIEW_PROBES  # a big library's preview stays quick; a run reads every file it acts on
        report = runner.preview(backend, rules, self.scope_for(user, rules), time.time() if now is None else now)
        for a in applied:
            if a.owner == user or (a.owner == ADMIN and self.is_admin(user)):
                self.state.saw(a.owner, a.key)
        result = describe(report, rules, folder)
        stop = report.trash_stop
        result["trash"] = {"problem": str(stop), "confirmable": stop.confirmable} if stop else None
        result["notes"] = report.notes
        for entry, a in zip(result["rules"], applied):
            entry.update(key=a.key, owner="admin" if a.owner == ADMIN else a.owner, state=a.state)
        return result

    def switch(self, user: str, owner: str, name: str, on: bool) -> str | None:
        """The owner switches one of their rules on (only after its preview) or off; why not, if not."""
        found = next((a for a in (self.admin_rules() if owner == ADMIN else self.rules_for(user)) if a.rule.name == name and a.owner == owner), None)
        if found is None:
            return f"no rule {name!r}"
        if owner == ADMIN and not self.is_admin(user):
            return "only an admin switches the admin's rules"
        if on and not found.seen:
            return f"see the preview of “{name}” first: a rule acts only after its owner has seen what it would do"
        self.state.switch(owner, found.key, on)
        log.info("rule %r of %s switched %s by %s", name, owner or "the admin", "on" if on else "off", user)
        return None

    def opt_out(self, user: str, name: str, out: bool) -> str | None:
        if not self.caps().users_may_switch_off:
            return "the admin does not let users switch the admin's rules off"
        if not any(a.rule.name == name for a in self.admin_rules()):
            return f"no admin rule {name!r}"
        self.state.opt_out(user, name, out)
        return None

    def save_rule(self, user: str, owner: str, table: dict, groups: tuple[str, ...] = (), replaces: str | None = None) -> list[str]:
        """Add or change a rule written on the page; problems, if it is refused."""
        problems = rs.problems_of(table)
        if owner == ADMIN and not self.is_admin(user):
            problems.append("only an admin writes rules for everyone")
        if owner != ADMIN and not (self.caps().users_may_add or self.is_admin(user)):
            problems.append("the admin does not let users add their own clean-up rules")
        others = {a.rule.name for a in (self.admin_rules() + (self.rules_for(user) if owner != ADMIN else [])) if a.rule.name != replaces}
        if table.get("name") in others:
            problems.append(f"there is already a rule named {table.get('name')!r}")
        if not problems:
            self.state.save(owner, table, groups, replaces)
        return problems

    def delete_rule(self, user: str, owner: str, name: str) -> str | None:
        if owner == ADMIN and not self.is_admin(user):
            return "only an admin deletes rules for everyone"
        return None if self.state.delete(owner, name) else f"no rule {name!r}"

    # --- runs -------------------------------------------------------------------------------

    def _settle(self, user: str, backend: Backend) -> None:
        """Once per process and user, under the run lock: finish the runs a kill interrupted (what happened is
        journalled, what did not is forgotten), then drop the quality work copies that nothing refers to any more."""
        if user in self._settled:
            return
        for path in sorted((self.journals / user).glob("run-*.jsonl")):
            if runner.unfinished(path):
                for note in runner.finish(backend, path, self.state.guard(user)):
                    log.warning("%s: %s", user, note)
        work = getattr(getattr(backend, "quality", None), "work", None)
        if isinstance(work, Path) and work.is_dir():
            for leftover in work.iterdir():
                leftover.unlink(missing_ok=True)
        self._settled.add(user)

    def _run(self, user: str, applied: list[Applied], backend: Backend, confirm: bool, kind: str, now: float) -> Outcome:
        caps = self.caps()
        _, last_library, _ = self.state.schedule(user)
        rules = [a.rule for a in applied]
        outcome = Outcome(rules=applied)
        with self._runs:
            self._settle(user, backend)
            try:
                report = runner.run(backend, rules, self.scope_for(user, rules), now, self.journals / user, confirm=confirm,
                                    caps=Caps(caps.max_files, caps.max_percent), last_library=last_library,
                                    guard=self.state.guard(user), user=user, trigger=kind)
            except RunStopped as stop:
                outcome.stopped, outcome.confirmable = str(stop), stop.confirmable
                if kind != "upload":  # the page shows a stopped run over the library, not one over new uploads
                    self.state.put_schedule(user, stopped={"reason": str(stop), "confirmable": stop.confirmable, "time": now, "kind": kind})
                log.warning("rules of %s stopped before acting: %s", user, stop)
                return outcome
            finally:
                close = getattr(backend, "close", None)
                if callable(close):
                    close()  # the transforms' worker processes
            if kind == "upload":
                self.state.put_schedule(user, library=report.library_left)
            else:
                self.state.put_schedule(user, library=report.library_left, stopped=None)
        outcome.report = report
        outcome.notes = report.notes
        if report.journal:
            outcome.run_id = f"{user}/{report.journal.stem}"
            log.info("rules of %s: %s (undo: occ mobile_backups:undo %s)", user, runner.summary(report.done), outcome.run_id)
        return outcome

    def run_now(self, user: str, confirm: bool = False, now: float | None = None) -> Outcome:
        """On demand (the page's button, occ): every switched-on rule, on what it catches now."""
        applied = [a for a in self.rules_for(user) if a.acts]
        if not applied:
            return Outcome(notes=["no rule is switched on"])
        return self._run(user, applied, self.backend_for(user), confirm, "now", time.time() if now is None else now)

    def scheduled(self, user: str, now: float, confirm: bool = False) -> Outcome:
        """The daily run: announce each switched-on rule's next batch, and take the batches whose day has come."""
        switched_on = [a for a in self.rules_for(user) if a.acts]
        if not switched_on:
            return Outcome(notes=["no rule is switched on"])
        caps = self.caps()
        zone = self.app.config_for(user).zone
        backend = self.backend_for(user)
        acting: list[Applied] = []
        announced: set[int | str] = set()
        for a in switched_on:
            notice = self.state.notice(user, a.rule.name)
            todo = step(a.key, notice, now, a.on_since or 0.0)
            if todo == "notify":
                notice = self._announce(user, a, backend, now, zone, caps)
                todo = "act" if notice and notice.due <= now else "wait"
            if todo == "act" and notice:
                acting.append(a)
                announced |= set(notice.files)
        if not acting:
            return Outcome(notes=["nothing due today"])
        _, _, stopped_before = self.state.schedule(user)
        outcome = self._run(user, acting, Announced(backend, announced), confirm, "scheduled", now)
        if outcome.stopped:
            if (stopped_before or {}).get("reason") != outcome.stopped:  # told once, not every day
                self.app.notify(user, "Mobile Backups: clean-up waits for your confirmation", outcome.stopped, self.page_url("run"))
        else:
            for a in acting:
                self.state.put_notice(user, a.rule.name, None)  # the next batch gets its own notice
        return outcome

    def uploaded(self, user: str, paths: list[str]) -> None:
        """The organiser placed these media files in the library: the quality rules look at them once the batch is over."""
        self.state.add_uploads(user, paths)

    def at_upload(self, user: str, now: float) -> Outcome | None:
        """Quality rules at upload: every switched-on quality rule on the media placed since the last look (those
        its folders and formats take), without a notice or the caps: its owner switched it on, after its preview,
        for what comes. The library is the on-demand run's and the schedule's. None when nothing waited."""
        paths = self.state.uploads(user, UPLOADS_PER_RUN)
        if not paths:
            return None
        applied = [a for a in self.rules_for(user) if a.acts and not a.rule.is_retention]
        if not applied:
            self.state.drop_uploads(user)
            return None
        backend = AfterOrganising(self.backend_for(user), frozenset(paths), self._organising, self.app.organiser.stop)
        try:
            outcome = self._run(user, applied, backend, True, "upload", now)
        except Unavailable:
            raise  # no answer: they wait for the next look
        except Exception:
            self.state.drop_uploads(user, paths)  # a failure is logged once: the on-demand run and the schedule still see them
            raise
        self.state.drop_uploads(user, paths)
        return outcome

    def _organising(self) -> bool:
        return self.app.queue.next_due_in() == 0.0

    def at_upload_forever(self) -> None:
        """Every UPLOADS_LOOK_EVERY s: the users whose batch is over (nothing left to organise, notified) and whose
        placed uploads wait, one after the other."""
        stop = self.app.organiser.stop
        while not stop.wait(UPLOADS_LOOK_EVERY):
            if not self.app.enabled.is_set():
                continue
            for user in self.state.users_with_uploads():
                if stop.is_set() or self.app.queue.pending(user) or self.app.queue.batch(user) is not None:
                    continue  # organising first: its batch is not over
                try:
                    self.at_upload(user, time.time())
                except Unavailable as err:
                    log.info("quality rules at upload for %s wait: %s", user, err, extra={"nextcloud": False})
                except Exception as err:  # one user's failure does not stop the others
                    log.warning("quality rules at upload for %s failed: %s", user, err)

    def _announce(self, user: str, a: Applied, backend: Backend, now: float, zone: object, caps: rs.Choices) -> Notice | None:
        """One notification for the rule's next batch: what it will take on the due date."""
        due = due_date(now, zone, caps.hour, caps.notice_days)  # type: ignore[arg-type]
        rules = [a.rule]
        report = runner.preview(backend, rules, self.scope_for(user, rules), max(due, now))
        taking = report.acting()
        if not taking:
            self.state.put_notice(user, a.rule.name, None)
            return None
        notice = Notice(a.key, now, due, tuple(file_key(v.facts) for v in taking))
        self.state.put_notice(user, a.rule.name, notice)
        action = "archive" if all(v.action == "archive" for v in taking) else a.rule.action  # the trash bin has no room: archived
        text = notice_text(len(taking), sum(v.facts.size for v in taking), a.rule.kinds, action, due, zone,  # type: ignore[arg-type]
                           a.rule.archive_to, a.rule.tag)
        problems = report.notes + ([str(report.trash_stop)] if report.trash_stop else [])
        room = "".join(f" As it is now, {problem}." for problem in problems)
        if caps.notice_days:
            self.app.notify(user, text, f"Rule “{a.rule.name}”. Favourite a file or tag it “keep” to spare it; "
                            f"the preview shows every file.{room}", self.page_url("preview", a))
        return notice

    # --- undo and the runs ------------------------------------------------------------------

    def journal_of(self, run_id: str) -> tuple[str, Path] | None:
        user, _, stem = run_id.strip().partition("/")
        path = self.journals / user / f"{stem}.jsonl"
        if not user or not stem.startswith("run-") or "/" in stem or ".." in run_id or not path.is_file():
            return None
        return user, path

    def undo(self, run_id: str) -> list[str] | None:
        """Put back what a rules run did; None when there is no such run."""
        found = self.journal_of(run_id)
        if found is None:
            return None
        user, path = found
        with self._runs:
            notes = runner.undo(self.backend_for(user), path, self.state.guard(user))
        log.info("rules run %s undone: %d note(s)", run_id, len(notes))
        return notes

    def undo_text(self, run_id: str) -> str | None:
        """`occ mobile_backups:undo RUN` for a rules run (USER/run-…); None for any other run."""
        notes = self.undo(run_id) if self.journal_of(run_id) else None
        return None if notes is None else "\n".join(notes + [f"{run_id}: clean-up run undone"]) + "\n"

    def runs(self, user: str) -> list[dict]:
        """Every rules run of the user, newest first: id, when, what was done and put back."""
        found = []
        for path in sorted((self.journals / user).glob("run-*.jsonl"), reverse=True):
            header, steps = runner.read_run(path)
            done = [s for s in steps if s.undo is not None]
            found.append({"id": f"{user}/{path.stem}", "time": header.get("time"), "trigger": header.get("trigger"),
                          "done": len(done), "undone": sum(s.undone for s in done)})
        return found

    # --- the schedule -----------------------------------------------------------------------

    def due_users(self, users: list[str], now: float) -> list[str]:
        hour = self.caps().hour
        due = []
        for user in users:
            last, _, _ = self.state.schedule(user)
            if last is None:
                self.state.put_schedule(user, last=now)  # the first run waits for the hour
            elif run_due(now, self.app.config_for(user).zone, hour, last):
                due.append(user)
        return due

    def tick(self, now: float) -> None:
        for user in self.due_users(self.app.users(), now):
            try:
                self.scheduled(user, now)
            except Exception as err:  # one user's failure (a server error, a bad rule) does not stop the others
                log.warning("scheduled rules of %s failed: %s", user, err)
            self.state.put_schedule(user, last=now)

    def schedule_forever(self) -> None:
        stop = self.app.organiser.stop
        while not stop.is_set():
            self.app.enabled.wait()
            if stop.wait(CHECK_EVERY) or not self.app.enabled.is_set():
                continue
            try:
                self.tick(time.time())
            except OSError as err:
                log.warning("rules schedule: %s", err)

