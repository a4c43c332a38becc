"""The ExApp's HTTP routes besides AppAPI's own (/heartbeat, /init, /enabled).

Every route is behind AppAPI's signature (`AppAPIAuthMiddleware` in main.py), which gives the
user the request is for: "" for AppAPI itself (webhooks, occ commands), a user id for requests
the browser makes through AppAPI's proxy (pages, Files actions; only the routes in
appinfo/info.xml get through it).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from ..engine import within
from . import occ, pages
from .app import App
from .backlog import waiting_text
from .settings import PERSONAL_KEYS, PERSONAL_OF_ADMIN, UserConfig, check, example_destination, folder_problem
from .ui_entries import TOP_MENU

router = APIRouter()
STATE: dict[str, App] = {}


def app() -> App:
    return STATE["app"]


def nextcloud_itself(request: Request) -> None:
    """occ commands come from AppAPI with no user; never from a user through the proxy."""
    if request.scope.get("username"):
        raise HTTPException(403, "only AppAPI itself may call this")


def user_of(request: Request) -> str:
    user = request.scope.get("username") or ""
    if not user:
        raise HTTPException(401, "log in to Nextcloud first")
    return user


def same_site(request: Request) -> None:
    """The proxy needs no CSRF token, so a browser POST must come from Nextcloud's own pages."""
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise HTTPException(403, "cross-site request refused")


@router.post("/webhook")
async def webhook(request: Request) -> Response:
    """webhook_listeners calls this through AppAPI, as the event's user (not through the proxy, which
    has no route to it): store the paths and answer at once (a ready answer: no serialising per call)."""
    await app().on_event(await request.json())
    return Response(b"{}", media_type="application/json")


# --- occ commands ------------------------------------------------------------------------


def _occ(request: Request, body: dict) -> tuple[dict, dict]:
    """AppAPI's occ call: {"occ": {"arguments": {...}|null, "options": {...}|null}}."""
    nextcloud_itself(request)
    occ = body.get("occ") or {}
    return occ.get("arguments") or {}, occ.get("options") or {}


@router.post("/occ/organise")
def occ_organise(request: Request, body: dict) -> Response:
    _, options = _occ(request, body)
    if bool(options.get("user")) == bool(options.get("all")):
        return Response("Give either --user USER or --all.\n", media_type="text/plain")
    users = [options["user"]] if options.get("user") else app().users()
    return Response(occ.organise(app().organiser, users, bool(options.get("dry-run"))), media_type="text/plain")


@router.post("/occ/status")
def occ_status(request: Request, body: dict) -> Response:
    _occ(request, body)
    return Response(occ.status(app().organiser, app().enabled.is_set(), app().state.get("", "sweep"), app().progress("", everyone=True)),
                    media_type="text/plain")


@router.post("/occ/undo")
def occ_undo(request: Request, body: dict) -> Response:
    arguments, _ = _occ(request, body)
    run = str(arguments.get("run") or "")
    return Response(occ.undo_run(app().organiser, run, app().rules.undo_text), media_type="text/plain")


# --- the personal settings page (plain users cannot save the declarative form on Nextcloud 34) -----


def page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": pages.CSP})


def _settings_page(user: str, message: str = "", problems: dict | None = None, tried: dict | None = None,
                   fresh: bool = True) -> HTMLResponse:
    """`fresh`: read the settings again (the declarative form may have changed them); not after our own save.
    `tried`: the values of a refused save, shown in the fields to be corrected."""
    config = app().config_for(user, fresh=fresh)
    saved = tried if tried is not None else config.saved
    problems = {**config.problems, **(problems or {})}
    admin = app().admin()
    refused = bool(problems) and tried is not None
    html = pages.settings_page(user, config.values, saved, problems, example_destination(config.values),
                               may_change_layout=admin.values["users_may_change_layout"] not in ("0", "false"),
                               enabled=config.enabled, why_disabled=config.why_disabled, message=message,
                               defaults={key: admin.values[base] for key, base in PERSONAL_OF_ADMIN.items()}, refused=refused,
                               backlog=_backlog_section(user, config))
    return page(html, 422 if refused else 200)


def _backlog_section(user: str, config: UserConfig) -> str:
    count, videos, folders = app().backlogs.waiting(user)
    ask = config.enabled and app().admin().backlog == "ask" and count > 0
    everyone = app().is_admin(user)
    return pages.backlog_section(waiting_text(count, videos, folders) if ask else "", _progress(user, everyone), everyone)


def _progress(user: str, everyone: bool) -> list[dict]:
    now = time.time()
    return [{**p.record(now), "text": p.describe(now)} for p in app().progress(user, everyone)]


@router.get("/settings")
def settings_get(request: Request) -> HTMLResponse:
    return _settings_page(user_of(request))


@router.post("/settings")
async def settings_post(request: Request) -> HTMLResponse:
    """A form post (or JSON): check everything, save all or nothing."""
    user = user_of(request)
    same_site(request)
    if request.headers.get("content-type", "").startswith("application/json"):
        values = {k: str(v) for k, v in (await request.json()).items()}
    else:
        values = {k: v[-1] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}  # last: the checkbox
    values = {k: v for k, v in values.items() if k in PERSONAL_KEYS}
    problems = await run_in_threadpool(app().save_personal, user, values)
    if problems:
        return await run_in_threadpool(_settings_page, user, "Not saved", problems, values, False)
    return await run_in_threadpool(_settings_page, user, "Saved.", None, None, False)


@router.post("/backlog")
def backlog_post(request: Request) -> HTMLResponse:
    """The button "Organise them": the user's files that were there before are organised now."""
    user = user_of(request)
    same_site(request)
    config = app().config_for(user)
    if not config.enabled:
        return _settings_page(user, f"Not organising your files: {config.why_disabled}", fresh=False)
    queued = app().start_backlog(user)
    return _settings_page(user, f"Organising {queued:,} older file(s): the figures below show how far it is." if queued
                          else "Nothing older is waiting in your inbox folders.", fresh=False)


@router.get("/progress")
def progress(request: Request) -> JSONResponse:
    """The figures of a backlog being organised, for the page's live progress bar (an admin gets every user's)."""
    user = user_of(request)
    return JSONResponse({"progress": _progress(user, app().is_admin(user))})


@router.get("/example")
def example(request: Request, layout: str = "", library: str = "") -> JSONResponse:
    """The live example on the settings page; for values that cannot be used, the problem of each field and the
    example of the settings still in force (the page shows them apart)."""
    config = app().config_for(user_of(request))
    values = {**config.values, **{k: v for k, v in (("layout", layout), ("library_folder", library)) if v.strip()}}
    problems = {key: pages.field_problem(problem) for key, problem in check({"layout": values["layout"], "library_folder": values["library_folder"]}).items()}
    if problems:
        return JSONResponse({"problem": "; ".join(problems.values()), "problems": problems, "in_force": example_destination(config.values)})
    return JSONResponse({"example": example_destination(values)})


# --- Files actions and the preview page ------------------------------------------------------


def _folder_of(body: dict) -> str:
    files = body.get("files") or []
    if len(files) != 1 or files[0].get("fileType") != "dir":
        raise HTTPException(400, "choose one folder")
    path = f"{str(files[0].get('directory') or '').strip('/')}/{files[0].get('name') or ''}".strip("/")
    if folder_problem(path, "folder"):
        raise HTTPException(400, "not a folder in your files")
    return path


def _in_library(config: UserConfig, folder: str) -> bool:
    """Already organised: the library or a folder in it (unless it is an inbox too, as on iOS)."""
    return within(folder, config.library) and folder not in config.inboxes


@router.post("/files/organise")
def files_organise(request: Request, body: dict) -> dict:
    user, folder = user_of(request), _folder_of(body)
    same_site(request)
    config = app().config_for(user)
    if _in_library(config, folder):
        app().notify(user, f"{folder} is already in your library", "Mobile Backups organises folders outside the library.",
                     app().files_url(folder))
        return {}
    if not config.enabled:
        app().notify(user, "Mobile Backups is off for you", config.why_disabled)
        return {}
    found = app().organiser.sweep(user, folder)
    app().organiser.queue.wake.set()
    return {"queued": found}


@router.post("/files/preview")
def files_preview(request: Request, body: dict) -> dict:
    user_of(request)
    _folder_of(body)
    return {"redirect_handler": f"{TOP_MENU}/preview"}


def _file_id(text: str) -> int | None:
    """The first id of `fileId` or `fileIds` (what the embedded page receives: one or several, comma-separated)."""
    first = text.split(",")[0].strip()
    return int(first) if first.isdigit() else None


@router.get("/preview")
def preview(request: Request, fileId: str = "", fileIds: str = "", folder: str = "") -> HTMLResponse:
    """What organising a folder (by id or path) would do; with neither, the user's inbox folders."""
    user = user_of(request)
    store = app().organiser.store_for(user)
    config = app().config_for(user)
    ids = fileId or fileIds
    if not ids and not folder:
        return page(pages.preview_page("", app().organiser.preview(user), config.library, inboxes=config.inboxes))
    if ids:
        file_id = _file_id(ids)
        folder = (store.path_of(file_id) if file_id is not None else None) or ""
    folder = folder.strip("/")
    node = None if folder_problem(folder, "folder") else store.stat(folder)
    if node is None or not node.is_folder:
        return page(pages.preview_page(folder, [], config.library, "No such folder in your files."), 404)
    if _in_library(config, folder):
        return page(pages.preview_page(folder, [], config.library, f"{folder} is already in your library."))
    return page(pages.preview_page(folder, app().organiser.preview(user, folder), config.library))


@router.get("/js/embedded.js")
def embedded_js() -> Response:
    return Response(pages.EMBEDDED_JS, media_type="application/javascript")


@router.get("/js/settings.js")
def settings_js() -> Response:
    return Response(pages.SETTINGS_JS, media_type="application/javascript")


@router.get("/img/app.svg")
def icon() -> Response:
    return Response(pages.ICON, media_type="image/svg+xml")
