"""The app's own pages, served through AppAPI's proxy: the personal settings (which plain users can
save, unlike the declarative form on Nextcloud 34) and the preview of an organisation.

Plain HTML forms that work without JavaScript; a few lines of script (js/settings.js) show the
live example. Relative URLs keep every request under /index.php/apps/app_api/proxy/mobile_backups/.
The proxy passes our headers on, so the pages bring their own Content-Security-Policy (Nextcloud's
default, `default-src 'none'`, would block even our stylesheet).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from ..core.layout import TOKENS
from ..engine import Decision

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; padding: 1.5em; max-width: 52em; color: #222; background: #fff; }
label { display: block; margin-top: 1em; font-weight: 600; }
input[type=text] { width: 100%; padding: .4em; box-sizing: border-box; }
.hint { color: #666; font-size: .9em; margin: .2em 0; }
.problem { color: #b00020; font-weight: 600; }
.saved { color: #1b7a1b; font-weight: 600; }
code, .example { background: #f3f3f3; padding: .1em .3em; }
table { border-collapse: collapse; width: 100%; font-size: .9em; }
td, th { border-bottom: 1px solid #ddd; padding: .3em; text-align: left; vertical-align: top; }
button { margin-top: 1.2em; padding: .5em 1.2em; }
"""
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
SETTINGS_JS = """
const form = document.querySelector('form');
const example = document.getElementById('example');
async function update() {
  const data = new URLSearchParams({layout: form.layout.value, library: form.library_folder.value});
  const answer = await fetch('example?' + data);
  const body = await answer.json();
  example.textContent = body.example || body.problem;
  example.className = body.example ? 'example' : 'problem';
}
form.layout.addEventListener('input', update);
form.library_folder.addEventListener('input', update);
"""
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 5h4l2-2h4l2 2h4v14H4z" fill="none" '
        'stroke="currentColor" stroke-width="2"/><circle cx="12" cy="12" r="3.5" fill="none" stroke="currentColor" stroke-width="2"/></svg>')
# The top-menu page (AppAPI's embedded template holds only <div id="content">): show our pages in a frame.
EMBEDDED_JS = """
(function () {
  const base = window.OC && OC.generateUrl ? OC.generateUrl('/apps/app_api/proxy/mobile_backups/') : '/index.php/apps/app_api/proxy/mobile_backups/';
  const ids = new URLSearchParams(window.location.search).get('fileIds');
  const id = ids ? encodeURIComponent(ids.split(',')[0]) : null;
  const page = window.location.pathname.endsWith('/preview') && id ? 'preview?fileId=' + id
    : window.location.pathname.endsWith('/cleanup') && id ? 'rules?fileId=' + id : 'settings';
  const frame = document.createElement('iframe');
  frame.src = base + page;
  frame.style.cssText = 'width:100%;height:calc(100vh - 60px);border:0';
  (document.getElementById('content') || document.body).appendChild(frame);
})();
"""


def _page(title: str, body: str, script: str = "") -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}"
            + (f"<script src='{script}'></script>" if script else "") + "</body></html>")


def settings_page(user: str, values: Mapping[str, str], saved: Mapping[str, str], problems: Mapping[str, str], example: str,
                  *, may_change_layout: bool, enabled: bool, why_disabled: str, message: str = "") -> str:
    """`values`: in force; `saved`: what the user saved (empty: the admin's default)."""

    def field(key: str, title: str, hint: str, disabled: bool = False) -> str:
        problem = f"<p class='problem'>{escape(problems[key])}</p>" if key in problems else ""
        default = values.get(key, "")
        return (f"<label for='{key}'>{escape(title)}</label>{problem}"
                f"<input type='text' id='{key}' name='{key}' value='{escape(saved.get(key, ''), quote=True)}' "
                f"placeholder='{escape(default, quote=True)}'{' disabled' if disabled else ''}>"
                f"<p class='hint'>{escape(hint)}</p>")

    status = "" if enabled or values.get("organise") in ("0", "false") else f"<p class='problem'>Not organising your uploads: {escape(why_disabled)}.</p>"
    checked = " checked" if values.get("organise", "1") not in ("0", "false") else ""
    body = (
        (f"<p class='{'problem' if problems else 'saved'}'>{escape(message)}</p>" if message else "") + status
        + f"<p>Settings of <b>{escape(user)}</b>. Empty fields use the admin's default, shown greyed.</p>"
        + "<form method='post' action='settings'>"
        + "<input type='hidden' name='organise' value='0'>"
        + f"<label><input type='checkbox' name='organise' value='1'{checked}> Organise my uploads</label>"
        + field("inbox_folders", "Inbox folders", "Folders your phone uploads into, separated by commas (they must exist).")
        + field("library_folder", "Library folder", "Where organised photos and videos go.")
        + field("layout", "Layout", "Tokens: " + " ".join(f"{{{t}}}" for t in TOKENS)
                + ("" if may_change_layout else " (the admin chose the layout for everyone)"), disabled=not may_change_layout)
        + f"<p>Example: a photo IMG_1234.jpg taken on 24 Nov 2024 goes to <span id='example' class='example'>{escape(example)}</span></p>"
        + "<button type='submit'>Save</button></form>"
    )
    return _page("Mobile Backups", body, "js/settings.js")


def preview_page(folder: str, decisions: list[Decision], library: str, problem: str = "") -> str:
    if problem:
        return _page("Preview organisation", f"<p class='problem'>{escape(problem)}</p>")
    rows = []
    for d in decisions:
        where = f"{library}/{d.destination}" if d.destination else "stays"
        rows.append(f"<tr><td>{escape(d.item.path)}</td><td>{escape(d.action)}</td><td>{escape(where)}</td>"
                    f"<td>{escape(d.reason or '')}</td></tr>")
    moving = sum(d.destination is not None for d in decisions)
    body = (f"<p>Organising <b>{escape(folder)}</b> would move {moving} of {len(decisions)} file(s). Nothing has been moved.</p>"
            "<table><tr><th>File</th><th>Action</th><th>Destination</th><th>Why</th></tr>" + "".join(rows) + "</table>")
    return _page("Preview organisation", body)
