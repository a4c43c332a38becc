"""The rules' HTTP routes: the rule editor page and its forms, the live preview, runs, confirmation
and undo from the page, the Files action "Preview clean-up" and `occ mobile_backups:rules`.
Included into main.py's app beside routes.router; the same AppAPI signature guards every route."""

from __future__ import annotations

import time
from html import escape
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from ..rules.runner import summary
from . import rules_settings as rs
from .routes import _folder_of, _occ, app, page, same_site, user_of
from .rules_app import Outcome, RulesService
from .rules_page import RULES_JS, preview_html, rules_page
from .rules_state import ADMIN
from .rules_timing import size_text
from .settings import folder_problem, split_list
from .ui_entries import TOP_MENU

router = APIRouter()
LEFT_ALONE = 5  # files a run's answer names that the preview would have taken and the action left alone


def service() -> RulesService:
    return app().rules


def _owner(user: str, owner: str) -> str:
    return ADMIN if owner == "admin" else user


def _render(user: str, *, status: int = 200, message: str = "", ok: bool = True, editing: dict | None = None, editing_owner: str = "mine",
            editing_groups: str = "", replaces: str = "", problems: list[str] | None = None, preview: str = "",
            preset_problems: dict[str, str] | None = None) -> HTMLResponse:
    rules = service()
    caps = rules.caps()
    groups = rules.groups_of(user)
    is_admin = "admin" in groups
    values, saved, problems_in_force = rules.personal_values(user)
    _, _, stopped = rules.state.schedule(user)
    html = rules_page(
        user, applied=rules.rules_for(user, groups), admin_rules=rules.admin_rules() if is_admin else [], is_admin=is_admin,
        may_add=caps.users_may_add, may_switch_off=caps.users_may_switch_off,
        caps=f"A run stops before acting on more than {caps.max_files} files or {caps.max_percent:g} % of your library, and asks you to confirm. "
             f"Scheduled runs: daily at {caps.hour:02d}:00 your time; you are told {caps.notice_days} days ahead.",
        stopped=stopped, runs=rules.runs(user), presets=(values, saved, {**problems_in_force, **(preset_problems or {})}),
        editing=editing or {"older_than_days": 30}, editing_owner=editing_owner, editing_groups=editing_groups, replaces=replaces,
        problems=problems or [], preview=preview, message=message, message_ok=ok)
    return page(html, status)


async def _form(request: Request) -> rs.Form:
    same_site(request)
    return rs.Form(parse_qs((await request.body()).decode(), keep_blank_values=True))


def _refused(err: OSError) -> str:
    return f"Your files cannot be read right now: {err}"


@router.get("/rules")
def rules_get(request: Request, preview: str = "", owner: str = "mine", edit: str = "", fileId: int | None = None, folder: str = "") -> HTMLResponse:
    user = user_of(request)
    rules = service()
    if edit:
        stored = next((s for s in rules.state.rules(_owner(user, owner)) if s.name == edit), None)
        if stored is None:
            return _render(user, status=404, message=f"No rule {edit!r} to edit.", ok=False)
        return _render(user, editing=stored.table, editing_owner=owner, editing_groups=", ".join(stored.groups), replaces=edit)
    try:
        if fileId is not None:
            folder = app().organiser.store_for(user).path_of(fileId) or ""
            if folder_problem(folder, "folder"):
                return _render(user, status=404, message="No such folder in your files.", ok=False)
        if folder:
            result = rules.preview(user, folder=folder.strip("/"))
            return _render(user, preview=preview_html(result, folder.strip("/")))
        if preview:
            pool = rules.admin_rules() if owner == "admin" and rules.is_admin(user) else rules.rules_for(user)
            found = next((a for a in pool if a.rule.name == preview and a.owner == _owner(user, owner)), None)
            if found is None:
                return _render(user, status=404, message=f"No rule {preview!r}.", ok=False)
            result = rules.preview(user, [found.table], owner=found.owner)
            return _render(user, preview=preview_html(result))
    except OSError as err:
        return _render(user, status=503, message=_refused(err), ok=False)
    return _render(user)


def _table(form: rs.Form) -> tuple[dict, list[str]]:
    table, field_problems = rs.table_from_form(form)
    return table, list(field_problems.values()) or rs.problems_of(table)


@router.post("/rules/preview")
async def rules_preview(request: Request) -> Response:
    """The live preview of the rule being edited (JSON for js/rules.js; the page without JavaScript)."""
    user, form = user_of(request), await _form(request)
    table, problems = _table(form)
    wants_json = "application/json" in request.headers.get("accept", "")
    owner = _owner(user, form.one("owner"))
    html = "".join(f"<p class='problem'>{escape(p)}</p>" for p in problems)
    if not problems:
        try:
            html = preview_html(await run_in_threadpool(service().preview, user, [table], "", None, owner))
        except OSError as err:
            html = f"<p class='problem'>{_refused(err)}</p>"
    if wants_json:
        return JSONResponse({"html": html, "problems": problems})
    return await run_in_threadpool(lambda: _render(user, editing=table, editing_owner=form.one("owner") or "mine",
                                                   editing_groups=form.one("groups"), replaces=form.one("replaces"),
                                                   problems=problems, preview=html if not problems else ""))


@router.post("/rules/save")
async def rules_save(request: Request) -> HTMLResponse:
    user, form = user_of(request), await _form(request)
    table, problems = _table(form)
    owner = _owner(user, form.one("owner"))
    if not problems:
        problems = await run_in_threadpool(service().save_rule, user, owner, table, split_list(form.one("groups")), form.one("replaces") or None)
    if problems:
        return await run_in_threadpool(lambda: _render(user, status=422, message="Not saved: " + "; ".join(problems), ok=False, editing=table,
                                                       editing_owner=form.one("owner") or "mine", editing_groups=form.one("groups"),
                                                       replaces=form.one("replaces"), problems=problems))
    return await run_in_threadpool(lambda: _render(user, message=f"Saved “{table['name']}”. It is a preview until you switch it on."))


async def _simple(request: Request, act) -> HTMLResponse:  # type: ignore[no-untyped-def]
    """A small form post: `act(user, form)` gives a problem or None."""
    user, form = user_of(request), await _form(request)
    problem = await run_in_threadpool(act, user, form)
    if problem:
        return await run_in_threadpool(lambda: _render(user, status=422, message=problem, ok=False))
    return await run_in_threadpool(lambda: _render(user, message="Done."))


@router.post("/rules/switch")
async def rules_switch(request: Request) -> HTMLResponse:
    return await _simple(request, lambda user, f: service().switch(user, _owner(user, f.one("owner")), f.one("name"), f.one("on") == "1"))


@router.post("/rules/optout")
async def rules_optout(request: Request) -> HTMLResponse:
    return await _simple(request, lambda user, f: service().opt_out(user, f.one("name"), f.one("out") == "1"))


@router.post("/rules/delete")
async def rules_delete(request: Request) -> HTMLResponse:
    return await _simple(request, lambda user, f: service().delete_rule(user, _owner(user, f.one("owner")), f.one("name")))


@router.post("/rules/presets")
async def rules_presets(request: Request) -> HTMLResponse:
    user, form = user_of(request), await _form(request)
    values = {k: form.one(k) for k in rs.PERSONAL_RULES_DEFAULTS if k in form.values}
    problems = await run_in_threadpool(service().save_presets, user, values)
    if problems:
        return await run_in_threadpool(lambda: _render(user, status=422, message="Not saved: " + "; ".join(problems.values()), ok=False,
                                                       preset_problems=problems))
    return await run_in_threadpool(lambda: _render(user, message="Quick rules saved. Each is a preview until you switch it on."))


def outcome_text(outcome: Outcome) -> str:
    if outcome.stopped:
        return f"Stopped before acting: {outcome.stopped}"
    if outcome.report is None:
        return "; ".join(outcome.notes) or "Nothing to do."
    report = outcome.report
    done = report.done
    text = f"{len(done)} file(s) done ({size_text(sum(v.facts.size for v in done))}): {summary(done)}"
    # what the preview would have taken but the action left alone, and why (changed, exempt now, came back after clean-up)
    left = [o for v, o in zip(report.verdicts, report.outcome) if v.acts and not o.acts]
    text += "".join(f"; left alone: {o.facts.path} ({o.reason})" for o in left[:LEFT_ALONE])
    text += f"; {len(left) - LEFT_ALONE} more left alone" if len(left) > LEFT_ALONE else ""
    return text + (f"; undo: {outcome.run_id}" if outcome.run_id else "") + "".join(f"; {n}" for n in outcome.notes)


@router.post("/rules/run")
async def rules_run(request: Request) -> HTMLResponse:
    """Run now, or confirm a run the caps stopped (scheduled or not)."""
    user, form = user_of(request), await _form(request)
    confirm = form.one("confirm") == "1"
    rules = service()

    def go() -> HTMLResponse:
        try:
            outcome = rules.scheduled(user, time.time(), confirm) if confirm and form.one("kind") == "scheduled" else rules.run_now(user, confirm)
        except OSError as err:
            return _render(user, status=503, message=_refused(err), ok=False)
        return _render(user, status=409 if outcome.stopped else 200, message=outcome_text(outcome), ok=not outcome.stopped)

    return await run_in_threadpool(go)


@router.post("/rules/undo")
async def rules_undo(request: Request) -> HTMLResponse:
    user, form = user_of(request), await _form(request)
    run = form.one("run")
    if not run.startswith(user + "/"):
        return await run_in_threadpool(lambda: _render(user, status=403, message="Only your own runs can be undone here.", ok=False))
    try:
        notes = await run_in_threadpool(service().undo, run)
    except OSError as err:
        return await run_in_threadpool(lambda: _render(user, status=503, message=_refused(err), ok=False))
    if notes is None:
        return await run_in_threadpool(lambda: _render(user, status=404, message=f"No run {run!r}.", ok=False))
    return await run_in_threadpool(lambda: _render(user, message=f"Run {run} undone: " + ("; ".join(notes) or "nothing to put back")))


@router.post("/files/cleanup")
def files_cleanup(request: Request, body: dict) -> dict:
    """Files action "Preview clean-up" on a folder: the embedded page shows the rules' preview of it."""
    user_of(request)
    _folder_of(body)
    return {"redirect_handler": f"{TOP_MENU}/cleanup"}


@router.get("/js/rules.js")
def rules_js() -> Response:
    return Response(RULES_JS, media_type="application/javascript")


# --- occ mobile_backups:rules ------------------------------------------------------------------------


def occ_lines(rules: RulesService, user: str, dry_run: bool, confirm: bool) -> list[str]:
    applied = rules.rules_for(user)
    if not applied:
        return [f"{user}: no rule applies"]
    lines = [f"{user}: {a.rule.name}: {a.state}" for a in applied]
    try:
        return lines + _occ_run(rules, user, dry_run, confirm)
    except OSError as err:
        return lines + [f"{user}: {_refused(err)}"]


def _occ_run(rules: RulesService, user: str, dry_run: bool, confirm: bool) -> list[str]:
    lines: list[str] = []
    if dry_run:
        result = rules.preview(user)
        for entry in result["rules"]:
            lines.append(f"{user}: {entry['rule']}: would take {entry['files']} file(s) ({entry['size']}), spare {entry['exempt']}")
            lines.extend(f"{user}:   {s['action']} {s['source']}" + (f" -> {s['destination']}" if s.get("destination") else "") + f"  [{s['reason']}]"
                         for s in entry["samples"])
        lines.extend(f"{user}: {note}" for note in result["notes"])
        if result["trash"]:
            lines.append(f"{user}: a run would stop here: {result['trash']['problem']}")
        lines.append(f"{user}: dry run: nothing done")
        return lines
    outcome = rules.run_now(user, confirm)
    lines.append(f"{user}: " + outcome_text(outcome) + (" (run again with --confirm)" if outcome.stopped and outcome.confirmable else ""))
    if outcome.run_id:
        lines.append(f"{user}: undo with: occ mobile_backups:undo {outcome.run_id}")
    return lines


@router.post("/occ/rules")
def occ_rules(request: Request, body: dict) -> Response:
    _, options = _occ(request, body)
    if bool(options.get("user")) == bool(options.get("all")):
        return Response("Give either --user USER or --all.\n", media_type="text/plain")
    users = [options["user"]] if options.get("user") else app().users()
    lines: list[str] = []
    for user in users:
        try:
            lines += occ_lines(service(), user, bool(options.get("dry-run")), bool(options.get("confirm")))
        except OSError as err:
            lines.append(f"{user}: {_refused(err)}")
    return Response("\n".join(lines) + "\n", media_type="text/plain")

