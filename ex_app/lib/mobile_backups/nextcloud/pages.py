"""The app's own pages, served through AppAPI's proxy: the personal settings (which plain users can
save, unlike the declarative form on Nextcloud 34) and the preview of an organisation.

Plain HTML forms that work without JavaScript; a few lines of script (js/settings.js) show the
live example. Relative URLs keep every request under /index.php/apps/app_api/proxy/mobile_backups/.
The proxy passes our headers on, so the pages bring their own Content-Security-Policy (Nextcloud's
default, `default-src 'none'`, would block even our stylesheet).

The look is Nextcloud's: its theming variables (apps/theming, Nextcloud 34's default and dark themes
as the fallback, following the system's colour scheme as Nextcloud's default theme does) and the
form controls of @nextcloud/vue, in plain CSS. Our pages live in a frame, where Nextcloud's
variables do not reach: the top-menu page (EMBEDDED_JS) copies the user's theme into the frame.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from html import escape

from ..core.capture import Taken
from ..core.layout import TOKENS
from ..engine import Decision

# Nextcloud 34's theming variables the pages use: (name, default theme, dark theme), as its theming app serves them
THEME = (
    ("--color-main-background", "#ffffff", "#171717"),
    ("--color-main-text", "#222222", "#EBEBEB"),
    ("--color-text-maxcontrast", "#6b6b6b", "#999999"),
    ("--color-background-hover", "#f5f5f5", "#212121"),
    ("--color-background-dark", "#ededed", "#292929"),
    ("--color-border", "#ededed", "#292929"),
    ("--color-border-dark", "#dbdbdb", "#3b3b3b"),
    ("--color-border-maxcontrast", "#7d7d7d", "#7d7d7d"),
    ("--color-primary-element", "#00679e", "#0091f2"),
    ("--color-primary-element-hover", "#00507a", "#17a2ff"),
    ("--color-primary-element-text", "#ffffff", "#000000"),
    ("--color-primary-element-light", "#e5eff5", "#14232c"),
    ("--color-primary-element-light-hover", "#d9e3e8", "#1f2e36"),
    ("--color-primary-element-light-text", "#00293f", "#99c2d8"),
    ("--color-element-error", "#c90000", "#FF5050"),
    ("--color-element-success", "#099f05", "#40A330"),
    ("--color-element-warning", "#BF7900", "#FFCC00"),
    ("--color-element-info", "#0077C7", "#0099E0"),
    ("--color-text-error", "#bf0000", "#ff6f6f"),
    ("--color-text-success", "#066e03", "#49bb37"),
    ("--color-error", "#FFE7E7", "#552121"),
    ("--color-success", "#D8F3DA", "#11321A"),
    ("--color-warning", "#FFEEC5", "#3D3010"),
    ("--color-info", "#D5F1FA", "#003553"),
    ("--font-face", "system-ui, -apple-system, 'Segoe UI', Roboto, Oxygen-Sans, Cantarell, Ubuntu, 'Helvetica Neue', 'Noto Sans', "
                    "'Liberation Sans', Arial, sans-serif, 'Apple Color Emoji', 'Segoe UI Emoji', 'Segoe UI Symbol', 'Noto Color Emoji'", None),
    ("--default-font-size", "15px", None),
    ("--font-size-small", "13px", None),
    ("--default-line-height", "1.5", None),
    ("--font-weight-element", "500", None),
    ("--border-width-input", "1px", None),
    ("--border-width-input-focused", "2px", None),
    ("--border-radius-small", "4px", None),
    ("--border-radius-element", "8px", None),
    ("--border-radius-container", "12px", None),
    ("--default-clickable-area", "34px", None),
    ("--default-grid-baseline", "4px", None),
)


def _variables(column: int) -> str:
    return " ".join(f"{row[0]}: {row[column]};" for row in THEME if row[column] is not None)


# Modelled on @nextcloud/vue 9 (NcSettingsSection, NcTextField, NcButton, NcCheckboxRadioSwitch, NcNoteCard)
STYLE = f"""
:root {{ color-scheme: light dark; {_variables(1)} }}
@media (prefers-color-scheme: dark) {{ :root {{ {_variables(2)} }} }}
*, *::before, *::after {{ box-sizing: border-box; }}
html {{ background: var(--color-main-background); color: var(--color-main-text); font-family: var(--font-face);
  font-size: var(--default-font-size); line-height: var(--default-line-height); -webkit-text-size-adjust: 100%; }}
body {{ margin: 0; padding: calc(var(--default-grid-baseline) * 5) calc(var(--default-grid-baseline) * 7); }}
main {{ max-width: 900px; }}
h1 {{ font-size: 24px; font-weight: bold; margin: 0 0 calc(var(--default-grid-baseline) * 2); }}
h2 {{ font-size: 20px; font-weight: bold; margin: 0 0 calc(var(--default-grid-baseline) * 3); }}
p {{ margin: calc(var(--default-grid-baseline) * 2) 0; }}
a {{ color: var(--color-primary-element); }}
a:hover {{ text-decoration: none; }}
nav ul {{ display: flex; flex-wrap: wrap; gap: var(--default-grid-baseline); list-style: none; margin: 0 0 calc(var(--default-grid-baseline) * 4); padding: 0; }}
nav a {{ display: inline-flex; align-items: center; min-height: var(--default-clickable-area); padding: 0 14px; border-radius: var(--border-radius-element);
  color: var(--color-main-text); text-decoration: none; font-weight: var(--font-weight-element); }}
nav a:hover {{ background: var(--color-background-hover); }}
nav a[aria-current] {{ background: var(--color-primary-element-light); color: var(--color-primary-element-light-text); }}
section {{ padding: calc(var(--default-grid-baseline) * 6) 0; border-bottom: 1px solid var(--color-border); }}
section:last-child {{ border-bottom: 0; }}
.hint {{ color: var(--color-text-maxcontrast); margin: var(--default-grid-baseline) 0 0; }}
.field {{ margin: calc(var(--default-grid-baseline) * 5) 0; max-width: 600px; }}
.field > label {{ display: block; margin-bottom: var(--default-grid-baseline); font-weight: var(--font-weight-element); }}
input[type=text] {{ width: 100%; height: calc(var(--default-clickable-area) + 2px); margin: 0; padding: 0 12px; font: inherit;
  color: var(--color-main-text); background: var(--color-main-background); border: var(--border-width-input) solid var(--color-border-maxcontrast);
  border-radius: var(--border-radius-element); outline: none; }}
input[type=text]:hover:not(:disabled) {{ border-color: var(--color-main-text); }}
input[type=text]:focus {{ border-color: var(--color-main-text);
  box-shadow: 0 0 0 calc(var(--border-width-input-focused) - var(--border-width-input)) var(--color-main-text); }}
input[type=text][aria-invalid=true] {{ border-color: var(--color-element-error); }}
input[type=text][aria-invalid=true]:focus {{ box-shadow: 0 0 0 calc(var(--border-width-input-focused) - var(--border-width-input)) var(--color-element-error); }}
input[type=text]:disabled {{ color: var(--color-text-maxcontrast); background: var(--color-background-dark); border-color: var(--color-border-dark); cursor: default; }}
input::placeholder {{ color: var(--color-text-maxcontrast); opacity: 1; }}
.checkbox {{ display: inline-flex; align-items: center; gap: calc(var(--default-grid-baseline) * 2); min-height: var(--default-clickable-area); cursor: pointer; }}
input[type=checkbox] {{ width: 20px; height: 20px; margin: 0; accent-color: var(--color-primary-element); cursor: pointer; }}
button {{ display: inline-flex; align-items: center; min-height: var(--default-clickable-area); margin: 0; padding: 0 16px; font: inherit;
  font-weight: bold; color: var(--color-primary-element-light-text); background: var(--color-primary-element-light); border: 0;
  border-radius: var(--border-radius-element); cursor: pointer; }}
button:hover {{ background: var(--color-primary-element-light-hover); }}
button.primary {{ color: var(--color-primary-element-text); background: var(--color-primary-element); }}
button.primary:hover {{ background: var(--color-primary-element-hover); }}
:focus-visible {{ outline: 2px solid var(--color-main-text); outline-offset: 2px; }}
input[type=text]:focus-visible {{ outline: none; }}
.problem {{ color: var(--color-text-error); margin: var(--default-grid-baseline) 0 0; }}
.note {{ margin: calc(var(--default-grid-baseline) * 3) 0; padding: calc(var(--default-grid-baseline) * 2) calc(var(--default-grid-baseline) * 4);
  border-inline-start: 4px solid var(--color-element-info); border-radius: var(--border-radius-element); background: var(--color-info); }}
.note.error {{ border-color: var(--color-element-error); background: var(--color-error); }}
.note.success {{ border-color: var(--color-element-success); background: var(--color-success); }}
.note.warning {{ border-color: var(--color-element-warning); background: var(--color-warning); }}
.note a {{ color: inherit; }}
code {{ font-family: ui-monospace, 'SFMono-Regular', Menlo, Consolas, 'Liberation Mono', monospace; font-size: .93em;
  background: var(--color-background-dark); padding: .1em .35em; border-radius: var(--border-radius-small); overflow-wrap: anywhere; }}
.tokens {{ display: flex; flex-wrap: wrap; gap: var(--default-grid-baseline); margin: var(--default-grid-baseline) 0 0; padding: 0; list-style: none; }}
.example {{ padding: calc(var(--default-grid-baseline) * 3) calc(var(--default-grid-baseline) * 4); border-radius: var(--border-radius-container);
  background: var(--color-background-hover); max-width: 600px; }}
.actions {{ display: flex; flex-wrap: wrap; gap: calc(var(--default-grid-baseline) * 2); margin-top: calc(var(--default-grid-baseline) * 5); }}
.scroll {{ overflow-x: auto; }}
table {{ border-collapse: collapse; width: 100%; }}
th {{ color: var(--color-text-maxcontrast); font-weight: normal; text-align: start; }}
th, td {{ padding: calc(var(--default-grid-baseline) * 2); border-bottom: 1px solid var(--color-border); vertical-align: top; text-align: start; }}
td.path {{ overflow-wrap: anywhere; }}
td.action {{ white-space: nowrap; }}
tbody tr:hover {{ background: var(--color-background-hover); }}
.stays {{ color: var(--color-text-maxcontrast); }}
.progress {{ margin: calc(var(--default-grid-baseline) * 3) 0; max-width: 600px; }}
progress {{ display: block; width: 100%; height: 12px; margin: var(--default-grid-baseline) 0; accent-color: var(--color-primary-element); }}
form.inline {{ display: inline; }}
@media (max-width: 600px) {{
  body {{ padding: calc(var(--default-grid-baseline) * 3); }}
  .field, .example {{ max-width: none; }}
  table.cards thead {{ display: none; }}
  table.cards tr {{ display: block; padding: calc(var(--default-grid-baseline) * 2) 0; border-bottom: 1px solid var(--color-border); }}
  table.cards td {{ display: block; padding: 2px 0; border: 0; }}
  table.cards td[data-label]::before {{ content: attr(data-label) ": "; color: var(--color-text-maxcontrast); }}
}}
@media (prefers-reduced-motion: no-preference) {{ input[type=text], button, nav a {{ transition: border-color 100ms, background-color 100ms; }} }}
"""
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'self'; base-uri 'none'")
SETTINGS_JS = """
const form = document.getElementById('settings');
const sentence = document.getElementById('example-sentence');
const lead = document.getElementById('example-lead');
const example = document.getElementById('example');
const checked = ['layout', 'library_folder'];  // what the example depends on
let asked = 0;
function mark(key, problem) {
  const slot = document.getElementById(key + '-problem');
  slot.textContent = problem || '';
  slot.hidden = !problem;
  if (problem) form.elements[key].setAttribute('aria-invalid', 'true'); else form.elements[key].removeAttribute('aria-invalid');
}
function typed(key) {  // an empty field means the admin's default, shown as its placeholder
  return form.elements[key].value.trim() || form.elements[key].placeholder;
}
async function update() {
  const mine = ++asked;
  const answer = await fetch('example?' + new URLSearchParams({layout: typed('layout'), library: typed('library_folder')}));
  const body = await answer.json();
  if (mine !== asked) return;  // a later keystroke asked again
  checked.forEach(key => mark(key, (body.problems || {})[key]));
  lead.textContent = body.example ? sentence.dataset.typed : sentence.dataset.typedBad;
  example.textContent = body.example || body.in_force;
}
checked.forEach(key => form.elements[key].addEventListener('input', update));
const progress = document.getElementById('progress');  // a backlog being organised: its figures, every 2 s until done
function row(record) {
  const p = document.createElement('div');
  p.className = 'progress';
  const label = document.createElement('span');
  label.textContent = (progress.dataset.everyone ? record.user + ': ' : '') + record.text;
  const bar = document.createElement('progress');
  bar.max = Math.max(record.total, 1);
  bar.value = record.done;
  bar.setAttribute('aria-label', label.textContent);
  p.append(bar, label);
  return p;
}
async function poll() {
  const answer = await fetch('progress');
  const records = (await answer.json()).progress;
  progress.replaceChildren(...records.map(row));
  if (records.some(r => !r.finished)) setTimeout(poll, 2000);
}
if (progress && progress.dataset.running) setTimeout(poll, 2000);
"""
ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M4 5h4l2-2h4l2 2h4v14H4z" fill="none" '
        'stroke="currentColor" stroke-width="2"/><circle cx="12" cy="12" r="3.5" fill="none" stroke="currentColor" stroke-width="2"/></svg>')
# The top-menu page (AppAPI's embedded template holds only <div id="content">): show our pages in a frame,
# in the user's theme: the frame is same-origin, so its document takes the values Nextcloud's theme gives here.
EMBEDDED_JS = """
(function () {
  const base = window.OC && OC.generateUrl ? OC.generateUrl('/apps/app_api/proxy/mobile_backups/') : '/index.php/apps/app_api/proxy/mobile_backups/';
  const ids = new URLSearchParams(window.location.search).get('fileIds');
  const path = window.location.pathname;
  const page = path.endsWith('/preview') && ids ? 'preview?fileIds=' + encodeURIComponent(ids)
    : path.endsWith('/cleanup') && ids ? 'rules?fileId=' + encodeURIComponent(ids.split(',')[0]) : 'settings';
  const names = %s;
  const frame = document.createElement('iframe');
  frame.title = 'Mobile Backups';
  frame.style.cssText = 'display:block;width:100%%;height:100%%;min-height:calc(100vh - 70px);border:0;visibility:hidden';
  function theme() {
    const from = getComputedStyle(document.body);
    const root = frame.contentDocument && frame.contentDocument.documentElement;
    if (root) {
      names.forEach(function (name) { const value = from.getPropertyValue(name).trim(); if (value) root.style.setProperty(name, value); });
      frame.style.backgroundColor = from.getPropertyValue('--color-main-background').trim();
      const rgb = (getComputedStyle(frame).backgroundColor.match(/[0-9.]+/g) || [255, 255, 255]).map(Number);
      root.style.colorScheme = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] < 128 ? 'dark' : 'light';
      frame.contentWindow.addEventListener('pagehide', function () { frame.style.visibility = 'hidden'; });
    }
    frame.style.visibility = 'visible';
  }
  frame.addEventListener('load', theme);
  frame.src = base + page;
  (document.getElementById('content') || document.body).appendChild(frame);
})();
""" % json.dumps([row[0] for row in THEME])
NAV = (("settings", "Settings"), ("preview", "Preview"), ("rules", "Clean-up rules"))  # the app's pages: (relative URL, name)


def _page(title: str, body: str, script: str = "", *, current: str = "") -> str:
    """The frame of every page: Nextcloud's look, a phone's width, the app's navigation (`current`: its URL there)."""
    here = " aria-current='page'"
    nav = "".join(f"<li><a href='{url}'{here if url == current else ''}>{escape(name)}</a></li>" for url, name in NAV)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)} - Mobile Backups</title><style>{STYLE}</style></head><body>"
            f"<nav aria-label='Mobile Backups'><ul>{nav}</ul></nav><main><h1>{escape(title)}</h1>{body}</main>"
            + (f"<script src='{script}'></script>" if script else "") + "</body></html>")


def _note(kind: str, html: str) -> str:
    """A message box like NcNoteCard: error and warning are announced at once, the others politely."""
    role = "alert" if kind in ("error", "warning") else "status"
    return f"<div class='note {kind}' role='{role}'>{html}</div>"


_KNOWN_TOKENS = "; known tokens: " + " ".join(f"{{{t}}}" for t in TOKENS)


def field_problem(problem: str) -> str:
    """A problem as shown at its field, where the list of tokens is already given (LayoutError names them all)."""
    return problem.replace(_KNOWN_TOKENS, "")


EXAMPLE = "a photo IMG_1234.jpg taken on 24 Nov 2024 at 15:30"
EXAMPLE_LEADS = {
    "in force": f"With your settings, {EXAMPLE} goes to",
    "refused": f"Not saved, so the settings still in force apply: {EXAMPLE} goes to",
    "saved bad": f"What you saved in the field marked above cannot be used, so the settings in force apply: {EXAMPLE} goes to",
    "typed": f"With the values above (once saved), {EXAMPLE} would go to",
    "typed bad": f"The values above cannot be used as they are (see the field marked); with the settings in force, {EXAMPLE} goes to",
}
LABELS = {"inbox_folders": "Inbox folders", "library_folder": "Library folder", "layout": "Layout", "organise": "Organise my uploads"}
FIELDS = ("inbox_folders", "library_folder", "layout")  # the text fields, each with its problem shown at it


def backlog_section(waiting: str, progress: Sequence[Mapping], everyone: bool) -> str:
    """Files that were there before organising was switched on: what waits (`waiting`, empty if nothing waits
    for the user's say), with the button that starts it; the figures of a backlog being organised (`progress`:
    Progress.record()s with their `text`; `everyone`: an admin's page, with every user's), updated live by the script."""
    if not waiting and not progress:
        return ""
    body = ""
    if waiting:
        body += (f"<p>{escape(waiting)} were there before organising was switched on for you. They stay where they are "
                 "until you say so; new uploads are organised as they come.</p>"
                 "<div class='actions'><a href='preview'>Preview where they would go</a>"
                 "<form class='inline' method='post' action='backlog'><button type='submit' class='primary'>Organise them</button></form></div>")
    running = any(not r["finished"] for r in progress)
    rows = "".join(f"<div class='progress'><progress max='{max(int(r['total']), 1)}' value='{int(r['done'])}' "
                   f"aria-label='{escape(str(r['text']), quote=True)}'></progress>"
                   f"<span>{escape((str(r['user']) + ': ') if everyone else '')}{escape(str(r['text']))}</span></div>" for r in progress)
    body += (f"<div id='progress' aria-live='polite'{' data-running=1' if running else ''}{' data-everyone=1' if everyone else ''}>{rows}</div>")
    return f"<section id='backlog' aria-labelledby='backlog-title'><h2 id='backlog-title'>Files that were there before</h2>{body}</section>"


def settings_page(user: str, values: Mapping[str, str], saved: Mapping[str, str], problems: Mapping[str, str], example: str,
                  *, may_change_layout: bool, enabled: bool, why_disabled: str, message: str = "",
                  defaults: Mapping[str, str], refused: bool = False, backlog: str = "") -> str:
    """`values`: in force; `saved`: what the user saved or tried (empty: the admin's default); `defaults`: the admin's
    defaults, shown as the placeholders; `refused`: a save was refused. `example` is always of the settings in force.
    `backlog`: the section on files that were there before (`backlog_section`)."""

    def field(key: str, hint: str, extra: str = "", disabled: bool = False) -> str:
        problem = field_problem(problems.get(key, ""))
        described = f"{key}-hint {key}-problem"
        return (f"<div class='field'><label for='{key}'>{escape(LABELS[key])}</label>"
                f"<input type='text' id='{key}' name='{key}' value='{escape(saved.get(key, ''), quote=True)}' "
                f"placeholder='{escape(defaults.get(key, ''), quote=True)}' aria-describedby='{described}'"
                + (" aria-invalid='true'" if problem else "") + (" disabled" if disabled else "") + ">"
                f"<p class='problem' id='{key}-problem'{'' if problem else ' hidden'}>{escape(problem)}</p>"
                f"<p class='hint' id='{key}-hint'>{escape(hint)}</p>{extra}</div>")

    off = values.get("organise") in ("0", "false")
    notes = []
    if message:
        text = escape(message)
        if problems:  # each field shows its own; the note links to them and names only those without a field
            marked = ", ".join(f"<a href='#{k}'>{escape(LABELS[k])}</a>" for k in problems if k in FIELDS)
            text += (f": see {marked} below." if marked else ".") + "".join(
                f" {escape(LABELS.get(k, k))}: {escape(v)}." for k, v in problems.items() if k not in FIELDS)
        notes.append(_note("error" if problems else "success", text))
    if not enabled and not off:
        notes.append(_note("warning", f"Not organising your uploads: {escape(why_disabled)}."))
    tokens = "<ul class='tokens' aria-label='Tokens'>" + "".join(f"<li><code>{{{t}}}</code></li>" for t in TOKENS) + "</ul>"
    checked = "" if off else " checked"
    lead = EXAMPLE_LEADS["refused" if refused else "saved bad" if any(k in FIELDS for k in problems) else "in force"]
    body = (
        "".join(notes)
        + f"<p class='hint'>Settings of <b>{escape(user)}</b>. An empty field uses the admin's default, shown greyed in it.</p>"
        + "<form id='settings' method='post' action='settings'><section aria-labelledby='organising'><h2 id='organising'>Organising</h2>"
        + "<input type='hidden' name='organise' value='0'>"
        + f"<label class='checkbox'><input type='checkbox' name='organise' value='1'{checked}> {escape(LABELS['organise'])}</label>"
        + field("inbox_folders", "Folders your phone uploads into, separated by commas (they must exist).")
        + field("library_folder", "Where organised photos and videos go.")
        + field("layout", "The folders below the library, made of these tokens:"
                + ("" if may_change_layout else " (the admin chose the layout for everyone)"), tokens, disabled=not may_change_layout)
        + f"<p class='example' id='example-sentence' aria-live='polite' data-typed='{escape(EXAMPLE_LEADS['typed'])}' "
          f"data-typed-bad='{escape(EXAMPLE_LEADS['typed bad'])}'><span id='example-lead'>{escape(lead)}</span> "
          f"<code id='example'>{escape(example)}</code></p>"
        + "<div class='actions'><button type='submit' class='primary'>Save</button></div></section></form>"
        + backlog
        + "<section aria-labelledby='try'><h2 id='try'>Try it</h2><p>See where the files waiting in your inbox folders would go, "
          "without moving anything: <a href='preview'>preview the organisation</a>. In Files, a folder's menu has "
          "“Preview organisation” and “Organise into date folders”.</p></section>"
    )
    return _page("Mobile Backups", body, "js/settings.js", current="settings")


SOURCES = {"exif": "EXIF", "xmp": "XMP", "quicktime": "QuickTime", "avi": "AVI", "matroska": "Matroska", "asf": "ASF",
           "video": "video metadata", "filename": "date in the file name", "mtime": "the file's modification time: no date inside"}
ACTIONS = {"move": "move", "companion": "move along", "duplicate": "leave: a duplicate", "skip": "leave"}


def _when(taken: Taken) -> str:
    if taken.date_only:
        return f"{taken.local:%Y-%m-%d}"
    if taken.offset is None:
        return f"{taken.local:%Y-%m-%d %H:%M}"
    minutes = int(taken.offset / timedelta(minutes=1))
    return f"{taken.local:%Y-%m-%d %H:%M} {'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def why(decision: Decision) -> str:
    """Why a file goes where it goes (its capture date and where that came from) or stays."""
    capture = decision.item.capture
    dated = f"taken {_when(capture.taken)} ({SOURCES.get(capture.source or '', f'{capture.source} metadata')})" if capture.taken else ""
    return "; ".join(filter(None, [dated if decision.destination else "", decision.reason]))


def preview_page(folder: str, decisions: Sequence[Decision], library: str, problem: str = "", *, inboxes: Sequence[str] = ()) -> str:
    """What organising `folder` (or, with `inboxes`, the user's inbox folders) would do."""
    if problem:
        return _page("Preview organisation", _note("error", escape(problem)), current="preview")
    rows, stays = [], " stays"
    for d in decisions:
        where = f"{library}/{d.destination}" if d.destination else "stays"
        rows.append(f"<tr><td class='path' data-label='File'>{escape(d.item.path)}</td>"
                    f"<td class='action' data-label='Action'>{escape(ACTIONS.get(d.action, d.action))}</td>"
                    f"<td class='path{'' if d.destination else stays}' data-label='Destination'>{escape(where)}</td>"
                    f"<td data-label='Why'>{escape(why(d))}</td></tr>")
    moving = sum(d.destination is not None for d in decisions)
    what = f"your inbox folders ({', '.join(inboxes)})" if inboxes else folder
    body = (f"<p>Organising <b>{escape(what)}</b> would move {moving} of {len(decisions)} file(s). Nothing has been moved.</p>"
            + ("<div class='scroll'><table class='cards'><thead><tr><th scope='col'>File</th><th scope='col'>Action</th>"
               "<th scope='col'>Destination</th><th scope='col'>Why</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
               if rows else "<p class='hint'>No files there.</p>"))
    return _page("Preview organisation", body, current="preview")
