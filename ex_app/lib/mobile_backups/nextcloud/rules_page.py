"""The rule editor on the app's own page (plain users reach it through AppAPI's proxy): the rules
that apply, each with its state and switch, the owner's own rules in a form of the model's fields,
the quick presets, runs with undo, and the preview: files and bytes per rule, 20 samples with the
reason each was taken or spared, and what a rule takes by month and kind as an inline SVG chart.

Plain forms that work without JavaScript; js/rules.js only fetches the live preview of the rule
being edited, which the server renders here too (one renderer). Inside pages._page's frame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from html import escape

from ..rules.model import ACTIONS, AGE_FROM, CODECS, EXEMPTIONS, FORMATS, KINDS, RETENTION_ACTIONS
from . import pages
from .rules_app import Applied
from .rules_settings import PERSONAL_RULES_DEFAULTS
from .rules_timing import size_text

STYLE = """
.rules-card { border: 1px solid #ddd; border-radius: 8px; padding: .6em .9em; margin: .6em 0; }
.rules-card h3 { margin: .1em 0 .3em; font-size: 1.05em; }
.rules-card form { display: inline; }
.rules-card button, .rules-row button { margin: .3em .3em 0 0; }
.state { font-size: .85em; padding: .05em .5em; border-radius: 1em; background: #eee; }
.state.on { background: #d7f0d7; } .state.off { background: #fbe3cf; }
.stopped { border: 2px solid #b00020; border-radius: 8px; padding: .6em .9em; }
fieldset { border: 1px solid #ddd; border-radius: 8px; margin: 1em 0; }
fieldset label { display: inline-block; font-weight: normal; margin: .3em 1em .3em 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(14em, 1fr)); gap: 0 1em; }
.scroll { overflow-x: auto; }
.chart { width: 100%; max-width: 40em; height: auto; }
.legend span { display: inline-block; margin-right: 1em; }
.swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
select, input[type=number] { padding: .4em; }
:focus-visible { outline: 3px solid #0082c9; outline-offset: 2px; }
@media (max-width: 30em) { body { padding: .8em; } td, th { font-size: .85em; } }
"""
COLOURS = {"screenshot": "#0082c9", "messenger": "#49b382", "photo": "#e9a846", "video": "#c45ac7", "other": "#999"}
ACTION_WORDS = {"trash": "to the trash", "archive": "archive", "tag": "tag", "convert": "convert to JPEG (beside it)",
                "downscale": "downscale", "reencode": "re-encode", "strip_location": "strip location", "reencode_video": "re-encode video"}
SPARED = {"favorite": "favourites", "keep": "files tagged “keep”", "shared": "shared files",
          "mount": "group folders and external storage", "edited": "files edited after upload"}


def _when(seconds: object) -> str:
    return datetime.fromtimestamp(float(seconds), timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if seconds else ""  # type: ignore[arg-type]


def _button(action: str, label: str, fields: Mapping[str, str], disabled: str = "") -> str:
    hidden = "".join(f"<input type='hidden' name='{escape(k)}' value='{escape(v, quote=True)}'>" for k, v in fields.items())
    attrs = f" disabled aria-disabled='true' title='{escape(disabled, quote=True)}'" if disabled else ""
    return f"<form method='post' action='{action}'>{hidden}<button type='submit'{attrs}>{escape(label)}</button></form>"


def summary(a: Applied) -> str:
    rule = a.rule
    what = ", ".join(sorted(rule.kinds)) or "photos and videos"
    where = ", ".join(rule.folders) if rule.folders else "the library and the inboxes"
    where = "duplicates left in an inbox (the same content is in the library)" if rule.duplicates else f"in {where}"
    spared = ", ".join(SPARED[e] for e in EXEMPTIONS if e in rule.exemptions) or "nothing"
    if not rule.is_retention:
        where = ", ".join(rule.folders) if rule.folders else "the library"
        formats = ", ".join(sorted(rule.formats)) or "every format it applies to"
        return f"{what} in {where} ({formats}): {ACTION_WORDS[rule.action]}. Spared: {spared}." + (f" Groups: {', '.join(a.groups)}." if a.groups else "")
    goes = {"trash": "to the trash", "archive": f"archived to {rule.archive_to}", "tag": f"tagged “{rule.tag}”"}[rule.action]
    return (f"{what} {where}, {rule.older_than_days} days after {rule.age_from}, {goes}. Spared: {spared}."
            + (f" Groups: {', '.join(a.groups)}." if a.groups else ""))


def rule_card(a: Applied, user: str, *, is_admin: bool, may_switch_off: bool) -> str:
    owner = "admin" if a.owner == "" else "mine"
    ident = {"name": a.rule.name, "owner": owner}
    css = "on" if a.acts else "off"
    owns = a.owner == user or (a.owner == "" and is_admin)
    state = a.state if owns or a.opted_out or a.on else "not switched on by the admin yet"
    buttons = [f"<a href='rules?preview={escape(a.rule.name, quote=True)}&amp;owner={owner}#preview'>Preview</a> "]
    if owns:
        if a.on:
            buttons.append(_button("rules/switch", "Switch off", {**ident, "on": "0"}))
        else:
            buttons.append(_button("rules/switch", "Switch on", {**ident, "on": "1"}, "" if a.seen else "See its preview first"))
            if not a.seen:
                buttons.append("<span class='hint'>It can be switched on once you have seen its preview.</span> ")
        if a.source == "page":
            buttons.append(f"<a href='rules?edit={escape(a.rule.name, quote=True)}&amp;owner={owner}#editor'>Edit</a> ")
            buttons.append(_button("rules/delete", "Delete", ident))
        else:
            buttons.append("<span class='hint'>(a preset of the " + ("admin" if a.owner == "" else "personal") + " settings)</span>")
    elif a.owner == "" and may_switch_off:
        buttons.append(_button("rules/optout", "Switch on for me" if a.opted_out else "Switch off for me",
                               {"name": a.rule.name, "out": "0" if a.opted_out else "1"}))
    return (f"<div class='rules-card' id='rule-{a.key}'><h3>{escape(a.rule.name)} "
            f"<span class='state {css}'>{escape(state)}</span></h3>"
            f"<p class='hint'>{'Admin rule' if a.owner == '' else 'Your rule'}: {escape(summary(a))}</p>{''.join(buttons)}</div>")


def chart(months: Mapping[str, Mapping[str, int]]) -> str:
    """Stacked bars by month and kind, as inline SVG (no external assets), with a text alternative."""
    if not months:
        return ""
    width, height, gap = 600, 160, 4
    bar = min(48, max(4, (width - gap * len(months)) // max(1, len(months))))
    labelled = bar >= 40  # room for each month's name under its bar
    top = max(sum(k.values()) for k in months.values()) or 1
    parts, described = [], []
    for i, (month, kinds) in enumerate(months.items()):
        x, y = i * (bar + gap), height
        for kind, count in sorted(kinds.items()):
            h = max(1, round(count * (height - 20) / top))
            y -= h
            parts.append(f"<rect x='{x}' y='{y}' width='{bar}' height='{h}' fill='{COLOURS.get(kind, '#999')}'>"
                         f"<title>{escape(month)}: {count} {escape(kind)}</title></rect>")
        described.append(f"{month}: " + (", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"))
        if labelled:
            parts.append(f"<text x='{x + bar / 2}' y='{height + 14}' font-size='11' text-anchor='middle'>{escape(month)}</text>")
    first, last = next(iter(months)), list(months)[-1]
    ends = "" if labelled else (f"<text x='0' y='{height + 14}' font-size='12'>{escape(first)}</text>"
                                f"<text x='{x + bar}' y='{height + 14}' font-size='12' text-anchor='end'>{escape(last)}</text>")
    label = "; ".join(described)
    kinds_seen = sorted({k for kinds in months.values() for k in kinds})
    legend = "".join(f"<span><span class='swatch' style='background:{COLOURS.get(k, '#999')}'></span>{escape(k)}</span>" for k in kinds_seen)
    return (f"<svg class='chart' viewBox='0 0 {width} {height + 16}' role='img' aria-label='{escape(label, quote=True)}'>"
            + "".join(parts) + ends + "</svg>"
            f"<p class='legend hint'>{legend}</p>")


def expected_html(entry: Mapping[str, object]) -> str:
    """A quality rule's expected bytes: added (a JPEG beside each HEIC) or saved; those only trying tells, counted."""
    if entry["action"] in RETENTION_ACTIONS or not entry["files"]:
        return ""
    change, unknown = int(entry["change"]), int(entry["change_unknown"])  # type: ignore[call-overload]
    known = int(entry["files"]) - unknown  # type: ignore[call-overload]
    text = (f"about {size_text(change)} more" if change > 0 else f"about {size_text(-change)} saved" if change < 0 else "no change in size")
    said = f"Expected for {known} of them: {text}" if known else ""
    rest = f"{unknown} only trying tells (it acts only where it saves enough)" if unknown else ""
    return f"<p class='hint'>{escape('; '.join(p for p in (said, rest) if p))}.</p>"


def preview_html(result: Mapping[str, object], folder: str = "") -> str:
    """The preview of some rules: per rule the totals, the chart and up to 20 samples with the reason."""
    out = []
    where = f" in <b>{escape(folder)}</b>" if folder else ""
    for entry in result.get("rules", []):  # type: ignore[union-attr]
        rows = "".join(
            f"<tr><td>{escape(str(s['source']))}</td><td>{escape(str(s['action']))}</td>"
            f"<td>{escape(str(s['reason']))}</td><td>{escape(str(s.get('destination') or ''))}</td></tr>" for s in entry["samples"])
        out.append(
            f"<section class='rules-card' aria-label='Preview of {escape(entry['rule'], quote=True)}'><h3>{escape(entry['rule'])}</h3>"
            f"<p>Would take <b>{entry['files']}</b> file(s) ({escape(entry['size'])}){where}: "
            f"{escape(ACTION_WORDS.get(entry['action'], entry['action']))}; spares {entry['exempt']}"
            + (f"; cannot judge {entry['skipped']}" if entry["skipped"] else "") + ". Nothing has been done.</p>"
            + expected_html(entry)
            + chart(entry["chart"])
            + ("<div class='scroll'><table><caption class='hint'>Up to 20 files it concerns</caption>"
               "<tr><th>File</th><th>Action</th><th>Why</th><th>Destination</th></tr>" + rows + "</table></div>" if rows else
               "<p class='hint'>It concerns no file now.</p>")
            + "</section>")
    trash = result.get("trash")
    room = "".join(f"<p class='hint' role='status'>{escape(str(note))}</p>" for note in result.get("notes") or [])  # type: ignore[union-attr]
    if isinstance(trash, Mapping):
        room += (f"<p class='problem' role='alert'>A run would stop before trashing: {escape(str(trash['problem']))}"
                 + (". The run's confirmation goes past it." if trash["confirmable"] else "") + "</p>")
    return room + ("".join(out) or "<p class='hint'>No rule to preview.</p>")


def _checks(name: str, options: Sequence[str], chosen: Sequence[str], words: Mapping[str, str] = {}) -> str:
    return "".join(f"<label><input type='checkbox' name='{name}' value='{o}'{' checked' if o in chosen else ''}> {escape(words.get(o, o))}</label>"
                   for o in options)


def _select(name: str, options: Sequence[str], chosen: str) -> str:
    return (f"<select id='{name}' name='{name}'>"
            + "".join(f"<option value='{o}'{' selected' if o == chosen else ''}>{escape(o)}</option>" for o in options) + "</select>")


def _input(name: str, title: str, value: object, kind: str = "text", hint: str = "") -> str:
    return (f"<div><label for='{name}'>{escape(title)}</label><input type='{kind}' id='{name}' name='{name}' "
            f"value='{escape(str(value if value is not None else ''), quote=True)}'{' min=0' if kind == 'number' else ''}>"
            + (f"<p class='hint'>{escape(hint)}</p>" if hint else "") + "</div>")


TRIGGERS = {"now": "on demand", "scheduled": "daily run", "upload": "at upload"}  # how a run started, as the page says it


def editor(table: Mapping[str, object], *, is_admin: bool, owner: str, groups: str, replaces: str, problems: Sequence[str]) -> str:
    """The form of one rule (the model's clean-up fields), with the live preview below it."""
    problem = "".join(f"<p class='problem' role='alert'>{escape(p)}</p>" for p in problems)
    exemptions = table.get("exemptions", list(EXEMPTIONS))
    size = table.get("min_size")
    owner_field = (f"<div><label for='owner'>For</label>{_select('owner', ('mine', 'admin'), owner)}"
                   "<p class='hint'>admin: a rule for everyone, or for the groups below</p></div>"
                   + _input("groups", "Groups (admin rules; empty: everyone)", groups) if is_admin else "<input type='hidden' name='owner' value='mine'>")
    return (
        f"<form method='post' action='rules/save' id='editor-form'>{problem}"
        f"<input type='hidden' name='replaces' value='{escape(replaces, quote=True)}'><div class='grid'>"
        + _input("name", "Name", table.get("name", ""))
        + f"<div><label for='action'>Action</label>{_select('action', ACTIONS, str(table.get('action', 'trash')))}"
        "<p class='hint'>trash: the trash bin (restorable); archive: move to a folder; tag: a system tag. Never a permanent delete. "
        "Quality: convert (a JPEG beside the HEIC), downscale, reencode, strip_location, reencode_video (the original is kept as a "
        "version). Switched on, a quality rule also acts on new uploads once they are organised.</p></div>"
        + _input("older_than_days", "Older than (days)", table.get("older_than_days", 30), "number")
        + f"<div><label for='age_from'>Age from</label>{_select('age_from', AGE_FROM, str(table.get('age_from', 'capture')))}</div>"
        + _input("folders", "Folders (globs, comma-separated)", ", ".join(table.get("folders", [])), hint="empty: the library and the inboxes; e.g. Photos/**")  # type: ignore[arg-type]
        + _input("names", "Names (globs)", ", ".join(table.get("names", [])), hint="e.g. *.png")  # type: ignore[arg-type]
        + _input("min_size_mb", "Minimum size (MB)", f"{int(size) / 1e6:g}" if isinstance(size, int) and size else "", "text")
        + _input("archive_to", "Archive to", table.get("archive_to", "Archive"),
                 hint="archive: the folder; trash: where files go instead when the trash bin has no room (empty: the run stops)")
        + _input("tag", "Tag (tag)", table.get("tag", ""))
        + _input("quality", "Quality (convert, reencode; 1-100)", table.get("quality", ""))
        + _input("larger_than_mp", "Above megapixels (downscale)", table.get("larger_than_mp", ""))
        + _input("to_mp", "To megapixels (downscale)", table.get("to_mp", ""))
        + _input("larger_than_mb", "Above MB (reencode)", table.get("larger_than_mb", ""))
        + _input("min_saving_percent", "Minimum saving % (downscale, reencode, videos)", table.get("min_saving_percent", ""))
        + _input("max_lines", "Videos above lines, to them (reencode_video)", table.get("max_lines", ""), hint="e.g. 1080")
        + f"<div><label for='codec'>Video codec (reencode_video)</label>{_select('codec', CODECS, str(table.get('codec', 'h264')))}</div>"
        + _input("minutes_per_day", "Encoding minutes a day (reencode_video)", table.get("minutes_per_day", ""))
        + owner_field + "</div>"
        f"<label><input type='checkbox' name='delete_previous_version' value='1'{' checked' if table.get('delete_previous_version') else ''}> "
        "strip_location: then delete the version that still holds the location (for good; only where the server allows it)</label>"
        f"<fieldset><legend>Kinds (none ticked: every photo and video)</legend>{_checks('kinds', KINDS, table.get('kinds', []))}"  # type: ignore[arg-type]
        f"<label><input type='checkbox' name='duplicates' value='1'{' checked' if table.get('duplicates') else ''}> only duplicates left in an inbox</label>"
        f"<label><input type='checkbox' name='converted' value='1'{' checked' if table.get('converted') else ''}> only files the app made "
        "a JPEG of (a HEIC whose JPEG is beside it, unchanged)</label></fieldset>"
        f"<fieldset><legend>Formats, by content (quality rules; none ticked: every format the action takes)</legend>{_checks('formats', FORMATS, table.get('formats', []))}</fieldset>"  # type: ignore[arg-type]
        f"<fieldset><legend>Spare (exemptions)</legend><input type='hidden' name='exemptions_shown' value='1'>{_checks('exemptions', EXEMPTIONS, exemptions, SPARED)}</fieldset>"  # type: ignore[arg-type]
        "<button type='submit'>Save rule</button> <button type='submit' formaction='rules/preview'>Preview</button>"
        "<p class='hint'>A new or changed rule starts as a preview: it acts only once you have seen its preview and switched it on.</p>"
        "</form><h3>Live preview</h3><div id='live' aria-live='polite'><p class='hint'>Change a field to see what the rule would catch.</p></div>"
    )


def presets_form(values: Mapping[str, str], saved: Mapping[str, str], problems: Mapping[str, str]) -> str:
    def field(key: str, title: str) -> str:
        problem = f"<p class='problem'>{escape(problems[key])}</p>" if key in problems else ""
        return (f"<div><label for='{key}'>{escape(title)}</label>{problem}<input type='text' inputmode='{'numeric' if key.endswith('days') else 'text'}' "
                f"id='{key}' name='{key}' value='{escape(saved.get(key, ''), quote=True)}' placeholder='{escape(PERSONAL_RULES_DEFAULTS[key], quote=True)}'></div>")

    return ("<form method='post' action='rules/presets'><div class='grid'>"
            + field("my_screenshots_days", "Screenshots older than N days → trash (0 = never)")
            + field("my_messenger_days", "Messenger images older than N days → archive (0 = never)")
            + field("my_messenger_archive", "… archive to folder")
            + field("my_duplicates_days", "Duplicates left in the inbox → trash after N days (0 = never)")
            + "</div><p class='hint'>Each quick rule is a preview until you switch it on above.</p><button type='submit'>Save quick rules</button></form>")


def rules_page(user: str, *, applied: list[Applied], admin_rules: list[Applied], is_admin: bool, may_add: bool, may_switch_off: bool,
               caps: str, stopped: Mapping[str, object] | None, runs: list[dict], presets: tuple[Mapping[str, str], Mapping[str, str], Mapping[str, str]],
               editing: Mapping[str, object], editing_owner: str, editing_groups: str, replaces: str, problems: Sequence[str],
               preview: str = "", message: str = "", message_ok: bool = True) -> str:
    parts = [f"<style>{STYLE}</style>"]
    if message:
        parts.append(f"<p class='{'saved' if message_ok else 'problem'}' role='status'>{escape(message)}</p>")
    parts.append(f"<p>Clean-up rules of <b>{escape(user)}</b>. Nothing is ever deleted for good: trashed files stay in the trash bin, "
                 "and every run can be undone below. <a href='settings'>Settings</a></p>")
    if stopped:
        parts.append(f"<div class='stopped' id='run' role='alert'><p><b>The last run stopped before acting</b> ({escape(_when(stopped.get('time')))}): "
                     f"{escape(str(stopped.get('reason')))}.</p>"
                     + ("" if stopped.get("confirmable") is False else
                        _button("rules/run", "Confirm and run", {"confirm": "1", "kind": str(stopped.get("kind", "now"))})) + "</div>")
    parts.append("<h2>Rules that apply to you</h2>")
    parts.append("".join(rule_card(a, user, is_admin=is_admin, may_switch_off=may_switch_off) for a in applied)
                 or "<p class='hint'>No rule applies to you yet.</p>")
    if is_admin:
        others = [a for a in admin_rules if a.key not in {b.key for b in applied}]
        if others:
            parts.append("<h2>Admin rules for other groups</h2>"
                         + "".join(rule_card(a, user, is_admin=True, may_switch_off=False) for a in others))
    parts.append(f"<h2 id='run-now'>Run now</h2><p class='hint'>Runs every switched-on rule at once. {escape(caps)}</p>"
                 + _button("rules/run", "Run the rules now", {"confirm": "0"}))
    if preview:
        parts.append(f"<h2 id='preview'>Preview</h2>{preview}")
    if may_add or is_admin:
        parts.append("<h2>Quick rules</h2>" + presets_form(*presets))
        parts.append(f"<h2 id='editor'>{'Edit rule' if replaces else 'Add a rule'}</h2>"
                     + editor(editing, is_admin=is_admin, owner=editing_owner, groups=editing_groups, replaces=replaces, problems=problems))
    else:
        parts.append("<p class='hint'>The admin does not let users add their own clean-up rules.</p>")
    if runs:
        rows = "".join(f"<tr><td>{escape(r['id'])}</td><td>{escape(_when(r['time']))}</td><td>{escape(TRIGGERS.get(str(r['trigger']), str(r['trigger'] or '')))}</td>"
                       f"<td>{r['done']}" + (f" ({r['undone']} put back)" if r["undone"] else "") + "</td><td>"
                       + (_button("rules/undo", "Undo", {"run": r["id"]}) if r["done"] > r["undone"] else "") + "</td></tr>" for r in runs)
        parts.append("<h2>Runs</h2><div class='scroll'><table><tr><th>Run</th><th>When</th><th>How</th><th>Files</th><th></th></tr>"
                     + rows + "</table></div>")
    return pages._page("Clean-up rules", "".join(parts), "js/rules.js", current="rules")


RULES_JS = """
const form = document.getElementById('editor-form');
const live = document.getElementById('live');
let timer = null;
async function update() {
  const answer = await fetch('rules/preview', {method: 'POST', body: new URLSearchParams(new FormData(form)),
                                               headers: {'Accept': 'application/json'}});
  const body = await answer.json();
  live.innerHTML = body.html;
}
if (form) {
  form.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(update, 400); });
  form.addEventListener('change', () => { clearTimeout(timer); timer = setTimeout(update, 100); });
}
"""
