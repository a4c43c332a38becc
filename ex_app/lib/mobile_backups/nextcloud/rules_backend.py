"""The rules' backend on Nextcloud: finds candidates with WebDAV SEARCH, acts through the user's
trash bin, MOVE and system tags, and undoes by file id. `NextcloudRulesBackend(store, library, inboxes)`.

What the server does for us, checked in its code (34.0.1) and on a real server:
- SEARCH (apps/dav FileSearchBackend) filters on mime type, size, mtime, upload time, favourite and
  name; a scope is always searched to its whole depth; no limit means 100 results, and it cannot
  order by file id, so pages go by offset (`NextcloudStore.search`). Paths cannot be filtered: a
  rule's folders become scopes (the fixed part of each glob), and `match` checks the globs.
- Every PROPFIND property can be selected (share types, mount type, system tags, the live-photo link).
- `oc:share-types` covers the node only: a file is also shared when a folder above it is, which one
  OCS request (every share of the user's files, reshares included) answers for all folders.
- A live photo: deleting the still deletes its video (apps/files SyncLivePhotosListener; deleting the
  video alone is refused), and restoring the still restores the video (apps/files_trashbin's listener).
- Restoring an item whose folder is gone puts it in the user's root (Trashbin::restore): undo then
  moves it back into a recreated folder.

Quality actions (convert, downscale, reencode, strip_location) are rules_quality.py's: their candidates
are probed over ranged GETs for the preview, downloaded and transformed in the app's storage, and written
back beside the file or over it with its original kept as a version (or in Originals/, never looked at).
"""

from __future__ import annotations

import calendar
import posixpath
import re
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

from ..core.filenames import date_from_name
from ..core.layout import DEFAULT_LAYOUT, within
from ..engine import analyse
from ..rules.facts import MESSENGER_FOLDER, SCREENSHOT_FOLDER, FileFacts
from ..rules.match import DAY, Scope, Verdict, converted_copy, exemption
from ..rules.model import KEEP_TAG, QUALITY_ACTIONS, Rule
from ..rules.runner import RunStopped
from ..store import Entry
from .rules_quality import ORIGINALS, NextcloudQuality, mimes_for
from .rules_state import UserGuard
from .rules_timing import size_text
from .store import DAV, NC, OC, DavError, NextcloudStore, again

# What SEARCH returns of each file. Not the system tags and share types: the server reads those one file at
# a time for search results (their plugins preload only a folder's children); the keep tag's files come from
# one REPORT and the shared paths from one OCS listing instead.
SELECT = ("<oc:fileid/><d:getcontentlength/><d:getlastmodified/><nc:upload_time/><oc:favorite/>"
          "<nc:mount-type/><d:getcontenttype/><nc:metadata-files-live-photo/>")
# What a recheck reads of the one file it is about to act on: everything, fresh
PROPFIND_FACTS = (f'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="{OC[1:-1]}" xmlns:nc="{NC[1:-1]}"><d:prop>{SELECT}'
                  "<oc:share-types/><nc:system-tags/></d:prop></d:propfind>")
SELECT_FOLDERS = SELECT + "<d:resourcetype/>"
OPERATORS = 90  # per SEARCH: Nextcloud refuses more than 100 (FileSearchBackend::OPERATOR_LIMIT)
TRASH_PROPS = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:prop>'
               "<oc:fileid/><oc:size/><nc:trashbin-filename/><nc:trashbin-original-location/><nc:trashbin-deletion-time/></d:prop></d:propfind>")
MOUNTS = {"group": "a group folder", "external": "external storage", "external-session": "external storage",
          "shared": "a folder shared with you"}
EDIT_SLACK = 120.0  # seconds: an upload without X-OC-Mtime gets its mtime a moment before its upload time is set
HASH_BYTES = 2 << 30  # files up to this size are hashed for the journal and the undo check; larger: size and file id only
METADATA_READS = 200  # files per listing whose capture time needs their metadata read (no date in name or path)
IDS_PER_SEARCH = 90  # file ids per SEARCH (`d:or` of `d:eq`; the server allows 100 operators)
SHARES_FRESH = 60.0  # seconds the list of shared folders is trusted
# Folder names the phone apps upload screenshots and messenger media into (SCREENSHOT_FOLDER, MESSENGER_FOLDER)
KIND_FOLDERS = {"screenshot": ("screenshot%", "screen shot%", "bildschirmfoto%", "capture%cran%", "capturas de pantalla"),
                "messenger": ("whatsapp%", "telegram%", "signal", "viber", "messenger", "wechat", "threema")}
# Names SCREENSHOT and MESSENGER_NAME take (SQL LIKE, case-insensitive on Nextcloud); iOS screenshots are PNGs named IMG_…
KIND_NAMES = {"screenshot": ("screenshot%", "screen shot%", "screen_shot%", "bildschirmfoto%", "capture d%cran%",
                             "schermafbeelding%", "captura de %", "istantanea schermo%", "sk_rm%", "skjermbilde%",
                             "zrzut ekranu%", "снимок экрана%", "スクリーンショット%"),
              "messenger": ("img-%-wa%", "vid-%-wa%", "aud-%-wa%", "stk-%-wa%", "ptt-%-wa%", "signal-____-__-__-%",
                            "photo_%", "video_%")}
KIND_MIMES = {"screenshot": ("image/png",)}
KIND_REGEX = {"screenshot": SCREENSHOT_FOLDER, "messenger": MESSENGER_FOLDER}


class RulesBackendError(OSError):
    """The server's answer cannot be trusted for a rules run (the library is missing, SEARCH failed)."""


# --- small XML helpers -------------------------------------------------------------------------


def _literal(value: object) -> str:
    return f"<d:literal>{escape(str(value))}</d:literal>"


def _cmp(op: str, prop: str, value: object) -> str:
    return f"<d:{op}><d:prop>{prop}</d:prop>{_literal(value)}</d:{op}>"


def _any(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"<d:or>{''.join(parts)}</d:or>"


def _all(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"<d:and>{''.join(parts)}</d:and>"


def like_of(glob: str) -> str:
    """A name glob as a SQL LIKE pattern (`*` → `%`, `?` → `_`); `%` and `_` in the glob match more than they
    should, which `match` sorts out."""
    return glob.replace("*", "%").replace("?", "_")


def _props(element: ET.Element) -> dict[str, ET.Element]:
    """The properties the server found (status 200) of one `d:response`, by Clark name."""
    found: dict[str, ET.Element] = {}
    for propstat in element.findall(f"{DAV}propstat"):
        if " 200 " in (propstat.findtext(f"{DAV}status") or ""):
            for prop in propstat.find(f"{DAV}prop") or ():
                found[prop.tag] = prop
    return found


def _text(props: dict[str, ET.Element], name: str) -> str:
    element = props.get(name)
    return (element.text or "").strip() if element is not None else ""


def _int(text: str) -> int | None:
    return int(text) if text.lstrip("-").isdigit() else None


# --- what a rule asks the server ---------------------------------------------------------------


def mime_filter(kinds: Iterable[str]) -> str:
    wanted = set(kinds) or {"photo", "video"}
    prefixes = sorted({"video/%"} if wanted == {"video"} else {"image/%", "video/%"} if wanted & {"video", "messenger"} else {"image/%"})
    return _any([_cmp("like", "<d:getcontenttype/>", p) for p in prefixes])


def rule_where(rule: Rule, now: float, by_name: bool) -> str:
    """The SEARCH condition of a rule: media of its kinds, its size, names and (upload or modification) age.
    `by_name`: only files whose names say they are screenshots or messenger media (the rule's kinds are
    all of that sort; files in such folders are searched for separately, without it)."""
    parts = [mime_filter(rule.kinds) if rule.is_retention else _any([_cmp("eq", "<d:getcontenttype/>", m) for m in mimes_for(rule.kinds)])]
    if rule.min_size:
        parts.append(_cmp("gte", "<oc:size/>", rule.min_size))
    if rule.is_retention and rule.older_than_days is not None and rule.age_from in ("upload", "modified"):
        prop = "<nc:upload_time/>" if rule.age_from == "upload" else "<d:getlastmodified/>"
        parts.append(_cmp("lt", prop, int(now - rule.older_than_days * DAY) + 1))
    if rule.names:
        parts.append(_any([_cmp("like", "<d:displayname/>", like_of(g)) for g in rule.names]))
    if by_name:
        names = [_cmp("like", "<d:displayname/>", p) for kind in sorted(rule.kinds) for p in KIND_NAMES[kind]]
        mimes = [_cmp("eq", "<d:getcontenttype/>", m) for kind in sorted(rule.kinds) for m in KIND_MIMES.get(kind, ())]
        parts.append(_any(names + mimes))
    return _all(parts)


def named_kinds_only(rule: Rule) -> bool:
    """Whether every kind the rule takes is told by name or folder (screenshot, messenger)."""
    return bool(rule.kinds) and rule.kinds <= set(KIND_NAMES)


def glob_scope(glob: str) -> str:
    """The folder a glob cannot leave: its parts before the first wildcard (`Photos/*/WhatsApp` → `Photos`)."""
    fixed = []
    for part in glob.strip("/").split("/"):
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed)


def outermost(folders: Iterable[str]) -> list[str]:
    """The folders without those inside another (a SEARCH scope covers its whole subtree)."""
    result: list[str] = []
    for folder in sorted(set(folders), key=lambda f: (f.count("/"), f)):
        if not any(within(folder, kept) for kept in result):
            result.append(folder)
    return result


# --- capture time from what the app knows --------------------------------------------------------


def _period_end(year: int, month: int | None, day: int | None) -> datetime:
    if day is not None and month is not None:
        return datetime(year, month, day) + timedelta(days=1)
    if month is not None:
        return datetime(year, month, calendar.monthrange(year, month)[1]) + timedelta(days=1)
    return datetime(year + 1, 1, 1)


_TOKEN_PATTERN = {"year": r"(?P<year>\d{4})", "month": r"(?P<month>\d{2})", "day": r"(?P<day>\d{2})"}


def layout_regex(template: str) -> re.Pattern[str] | None:
    """The organiser's folders below the library as a regex with year/month/day groups, or None when the
    layout's folders hold no year (then a path says nothing about the date)."""
    parts = template.strip("/").split("/")
    folders = parts[:-1] if re.search(r"\{(filename|stem|ext)\}", parts[-1]) else parts
    seen: set[str] = set()
    out = []
    for part in folders:
        pieces = []
        for token_or_text in re.split(r"(\{[^{}]*\})", part):
            token = token_or_text[1:-1] if token_or_text.startswith("{") else None
            if token in _TOKEN_PATTERN and token not in seen:
                seen.add(token)
                pieces.append(_TOKEN_PATTERN[token])
            elif token is not None:
                pieces.append(r"[^/]*?")
            else:
                pieces.append(re.escape(token_or_text))
        out.append("".join(pieces))
    return re.compile("^" + "/".join(out) + "/") if "year" in seen else None


@dataclass
class CaptureFinder:
    """A file's capture time, cheapest source first: the date in its name, the date of the library folder
    the organiser put it in (its layout: the end of that month or day, so an age is never overstated),
    and only then its metadata, read through range requests for at most `reads` files."""

    store: NextcloudStore
    library: str
    zone: tzinfo | None
    layout: str = DEFAULT_LAYOUT
    reads: int = METADATA_READS
    _pattern: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._pattern = layout_regex(self.layout)

    def _stamp(self, moment: datetime, utc: bool = False) -> float:
        zone = timezone.utc if utc or self.zone is None else self.zone
        return moment.replace(tzinfo=moment.tzinfo or zone).timestamp()

    def __call__(self, path: str, size: int, mtime: float | None) -> tuple[float | None, str]:
        found = date_from_name(posixpath.basename(path))
        if found:
            moment, is_utc, date_only = found
            return self._stamp(moment + timedelta(days=1) if date_only else moment, is_utc), "name"
        if self._pattern and self.library and within(path, self.library):
            match = self._pattern.match(path[len(self.library) + 1:])
            if match:
                groups = match.groupdict()
                try:
                    end = _period_end(int(groups["year"]), _int(groups.get("month") or ""), _int(groups.get("day") or ""))
                    return self._stamp(end), "folder"
                except (ValueError, OverflowError):
                    pass
        if self.reads <= 0:
            return None, "not read (too many files without a date in their name or folder)"
        self.reads -= 1
        item = analyse(self.store, Entry(path, size, mtime), self.zone)
        taken = item.capture.taken
        if taken is None:
            return None, item.problem or "no capture date"
        moment = taken.local - taken.offset if taken.offset is not None else taken.local
        return self._stamp(moment, utc=taken.offset is not None), item.capture.source or "metadata"


# --- trash headroom ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headroom:
    """How much the user's trash bin may still take before Nextcloud purges trash to make room. Checked in
    files_trashbin (34.0.1): every trashing queues an Expire job (Trashbin::move2trash, run by the next cron);
    Trashbin::expire then deletes the oldest trash (by deletion time) while the budget (calculateFreeSpace) is
    at or below 0, whatever its age with `trashbin_retention_obligation` auto, the default (Expiration::isExpired:
    canPurgeToSaveSpace). The budget: half of the quota left (quota minus the user's files: HomeCache counts only
    `files`) minus the trash; or a configured trashbin_size minus the trash (and a file of that size or more is
    not trashed at all but deleted); without a quota, the disk's free space, neither halved nor less the trash:
    not seen over DAV, so taken as room."""

    free: int | None  # bytes of quota left (below 0: over quota); None: unlimited (quota-available-bytes -3, SPACE_UNLIMITED) or unknown
    used: int
    trash: int  # bytes in the trash bin now
    configured: int | None = None  # the admin's trashbin_size, when the caller knows it

    def after(self, nbytes: int) -> float:
        """The budget once `nbytes` more are trashed: they leave the files (the quota left grows by them) and
        join the trash. At or below 0, Nextcloud purges (infinite without a quota)."""
        if self.configured is not None:
            return self.configured - self.trash - nbytes
        if self.free is None:
            return float("inf")
        free = self.free + nbytes
        return (free * 0.5 if free > 0 else free) - self.trash - nbytes

    def pushes_out(self, nbytes: int) -> bool:
        """Whether trashing `nbytes` more makes Nextcloud purge trash that is there now."""
        return self.trash > 0 and self.after(nbytes) <= 0

    def loses(self, nbytes: int) -> bool:
        """Whether the purge would go on past all older trash into these very files (or, with a configured
        size, they would not even go to the trash): some of them would be deleted for good."""
        return self.after(nbytes) + self.trash <= 0

    def stop(self, nbytes: int, files: int) -> RunStopped | None:
        """Why a run must not trash these files as it is, if it must not."""
        what = f"{files} file(s), {size_text(nbytes)}"
        if self.loses(nbytes):
            return RunStopped(f"the trash bin has no room for {what}: even after purging all older trash, Nextcloud would "
                              "delete some of them for good (name an archive folder for the rule, or free some space)",
                              confirmable=False)
        if self.pushes_out(nbytes):
            older = int(min(self.trash, -self.after(nbytes)))
            return RunStopped(f"trashing {what} would make Nextcloud purge about {size_text(older)} of older trash for room "
                              f"(the trash bin may take {size_text(int(max(0.0, self.after(0))))} more): confirm to go on, "
                              "or name an archive folder for the rule")
        return None


def trash_headroom(store: NextcloudStore, configured: int | None = None) -> Headroom:
    """The user's quota and trash size: two requests. The quota comes from OCS `cloud/user` (the user's quota
    setting and the files' size now), not from WebDAV's quota properties: Nextcloud caches those for 5
    minutes (OC_Helper::getStorageInfo), so a change or a big trashing would go unseen."""
    data = store.ocs("GET", "/ocs/v2.php/cloud/user")
    quota_info = data.get("quota", {}) if isinstance(data, dict) else {}
    quota, used = quota_info.get("quota"), int(quota_info.get("used") or 0)
    if not isinstance(quota, (int, float)):
        raise RulesBackendError(f"the quota of {store.user} cannot be read")
    trash = sum(_int(_text(_props(e), f"{OC}size")) or 0
                for e in store.dav_multistatus("PROPFIND", f"trashbin/{store.user}/trash", TRASH_PROPS, depth=1, missing_ok=False)[1:])
    return Headroom(int(quota) - used if quota >= 0 else None, used, trash, configured)


# --- the backend ---------------------------------------------------------------------------------


class NextcloudRulesBackend:
    """The `rules.runner.Backend` for one Nextcloud user.

    `store`: the user's NextcloudStore; `library`, `inboxes`: folders relative to the user's root (the app's
    settings); `zone`: the user's time zone (dates in names and metadata without an offset); `layout`: the
    organiser's layout template (the date of a library folder); `metadata_reads`: how many files per
    listing may have their metadata read for a capture time; `trash_budget`: the admin's trashbin_size
    in bytes when known (Nextcloud does not tell apps); `guard`: the user's re-upload guard (files of the sizes it
    knows are hashed for quality rules); `work`: the quality actions' work folder in the app's storage."""

    def __init__(self, store: NextcloudStore, library: str, inboxes: Iterable[str] = (), *, zone: tzinfo | None = None,
                 layout: str = DEFAULT_LAYOUT, metadata_reads: int = METADATA_READS, trash_budget: int | None = None,
                 guard: UserGuard | None = None, work: Path | None = None) -> None:
        self.store = store
        self.library = library.strip("/")
        self.inboxes = tuple(i.strip("/") for i in inboxes)
        self.zone, self.layout, self.metadata_reads, self.trash_budget = zone, layout, metadata_reads, trash_budget
        self._shared: set[str] | None = None
        self._shared_at = 0.0
        self._tags: dict[str, str] = {}  # name (lower case) -> id
        self._digests: dict[str, str] = {}  # path -> sha256, read once per run
        self._keep: set[int] | None = None  # ids of the files tagged "keep", read once per listing
        self._trash: dict[int, tuple[str, str]] | None = None  # file id -> (trash item name, original location)
        self.guard = guard
        self.quality = NextcloudQuality(self, work or Path(tempfile.gettempdir()) / "mobile-backups-quality" / store.user)
        self.only: frozenset[str] | None = None  # when set, the only paths a listing offers (a run at upload: the new files)
        self.preview_probes: int | None = None  # when set, how many files one listing reads for the quality rules (a page's preview)

    def close(self) -> None:
        self.quality.close()  # the transforms' worker processes, if any were started

    # --- candidates ------------------------------------------------------------------------

    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]:
        """The files any of the rules may take: one SEARCH per set of folders, the rules' conditions joined
        with `or` (it also finds the screenshot and messenger folders below, when a rule takes those kinds),
        and one more for the files in such folders, whatever their names. Ages in the SEARCH count to `now`,
        the run's (a notice's preview looks ahead to its due date)."""
        active = [r for r in rules if r.enabled]
        found: dict[int, tuple[str, dict[str, ET.Element]]] = {}
        self._keep = None
        self.quality.new_listing()
        for element in self._candidates(active, scope, now):
            props = _props(element)
            file_id = _int(_text(props, f"{OC}fileid"))
            if file_id is not None and file_id not in found:
                found[file_id] = (self.store.rel(element), props)
        peers = self._peer_paths(found)
        copies = self._library_copies(found, scope) if any(r.duplicates and r.is_retention for r in active) else {}
        capture = CaptureFinder(self.store, scope.library or self.library, self.zone, self.layout, self.metadata_reads) \
            if any(r.is_retention and r.age_from == "capture" for r in active) else None
        transforms = {r.action for r in active if r.action in QUALITY_ACTIONS}
        converting = any(r.converted for r in active)
        originals = posixpath.join(self.library, ORIGINALS)
        sizes = self.guard.sizes() if transforms and self.guard is not None else set()
        for file_id, (path, props) in sorted(found.items(), key=lambda item: item[1][0]):
            if within(path, originals) or (self.only is not None and path not in self.only):
                continue  # the originals of rewrites: never looked at
            facts = self._facts(path, props, peers)
            if transforms and facts.extra.get("mimetype") in mimes_for(frozenset()):
                facts = self.quality.gated(facts, transforms)
                if facts.size in sizes and facts.size <= HASH_BYTES:  # of a size the guard knows: hashed to be recognised
                    facts = replace(facts, hash=self._digest(path))
            if file_id in copies:
                facts = replace(facts, duplicate_of=copies[file_id][0], hash=copies[file_id][1])
            made = converting and self.guard is not None and converted_copy(path, self.guard.conversions(facts.size))
            if made and self.store.exists(made[0]):  # its JPEG is there (its content is checked before acting)
                facts = replace(facts, converted_to=made[0], extra={**facts.extra, "conversion": {"jpeg": made[1], "source": made[2]}})
            if capture is not None:
                when, source = capture(path, facts.size, facts.mtime)
                facts = replace(facts, capture=when, extra={**facts.extra, "capture_from": source})
            yield facts

    def _candidates(self, rules: list[Rule], scope: Scope, now: float) -> Iterator[ET.Element]:
        groups: dict[tuple[str, ...], list[Rule]] = {}
        for rule in rules:
            wanted = [glob_scope(g) for g in rule.folders] if rule.folders else list(scope.inboxes) if rule.duplicates else \
                [scope.library] if not rule.is_retention else [scope.library, *scope.inboxes]
            groups.setdefault(tuple(outermost(wanted)), []).append(rule)
        for scopes, group in groups.items():
            named = [r for r in group if named_kinds_only(r)]
            kinds = sorted({k for r in named for k in r.kinds})
            folder_like = [_all(["<d:is-collection/>", _any([_cmp("like", "<d:displayname/>", p) for k in kinds for p in KIND_FOLDERS[k]])])] if kinds else []
            try:
                folders: list[str] = []
                for element in self._search_any(list(scopes), [rule_where(r, now, named_kinds_only(r)) for r in group] + folder_like):
                    if element.find(f".//{DAV}resourcetype/{DAV}collection") is not None:
                        path = self.store.rel(element)
                        if any(KIND_REGEX[k].search(posixpath.basename(path)) for k in kinds):
                            folders.append(path)
                    else:
                        yield element
                if folders:
                    yield from self._search_any(outermost(folders), [rule_where(r, now, False) for r in named])
            except DavError as err:
                names = ", ".join(repr(r.name) for r in group)
                raise RulesBackendError(f"rules {names}: the search in {', '.join(scopes) or 'your files'} failed: {err}") from err

    def _search_any(self, scopes: list[str], wheres: list[str]) -> Iterator[ET.Element]:
        """Files matching any of the conditions, as few SEARCHes as the server's operator limit allows. A
        missing scope makes the server answer 404 for all: then only the scopes that exist are searched."""
        batch: list[str] = []
        for where in wheres + [""]:
            if batch and (not where or sum(w.count("<d:prop>") + w.count("<d:is-collection/>") for w in batch + [where]) > OPERATORS):
                try:
                    yield from self.store.search(scopes, _any(batch), SELECT_FOLDERS)
                except DavError as err:
                    present = [s for s in scopes if self._folder_exists(s)]
                    if err.status != 404 or present == scopes:
                        raise
                    scopes = present  # a missing inbox holds nothing
                    if scopes:
                        yield from self.store.search(scopes, _any(batch), SELECT_FOLDERS)
                batch = []
            if where:
                batch.append(where)

    def _folder_exists(self, folder: str) -> bool:
        node = self.store.stat(folder)
        return node is not None and node.is_folder

    def _library_copies(self, found: dict[int, tuple[str, dict[str, ET.Element]]], scope: Scope) -> dict[int, tuple[str, str]]:
        """For files in an inbox: a library file with the identical content (sha256), and that hash. Library files
        of the same size come from SEARCH (sizes or-ed); contents are compared for at most `metadata_reads` files."""
        def waiting(path: str) -> bool:  # in an inbox, not organised (the iOS case: the library's top folder is the inbox)
            in_library = bool(scope.library) and within(path, scope.library) and posixpath.dirname(path) != scope.library
            return any(within(path, i) for i in scope.inboxes if i) and not in_library

        inbox = {fid: (path, _int(_text(props, f"{DAV}getcontentlength")) or 0) for fid, (path, props) in found.items() if waiting(path)}
        sizes = sorted({size for _, size in inbox.values() if 0 < size <= HASH_BYTES})
        same_size: dict[int, list[str]] = {}
        per_search = (OPERATORS - 2) // 2
        for start in range(0, len(sizes), per_search):
            # not `eq`: the server's optimiser turns eq's or-ed on one field into IN, which it refuses for size (HTTP 500)
            exactly = [_all([_cmp("gte", "<oc:size/>", n), _cmp("lte", "<oc:size/>", n)]) for n in sizes[start:start + per_search]]
            where = _all([mime_filter(()), _any(exactly)])
            for element in self.store.search([scope.library], where, "<d:getcontentlength/>"):
                path = self.store.rel(element)
                if not waiting(path):
                    same_size.setdefault(_int(_text(_props(element), f"{DAV}getcontentlength")) or 0, []).append(path)
        copies: dict[int, tuple[str, str]] = {}
        reads = self.metadata_reads
        for file_id, (path, size) in sorted(inbox.items(), key=lambda item: item[1][0]):
            if size not in same_size or reads <= 0:
                continue
            reads -= 1
            digest = self._digest(path)
            for other in same_size[size]:
                if self._digest(other) == digest:
                    copies[file_id] = (other, digest)
                    break
        return copies

    def _digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = self.store.digest(path)[0]
        return self._digests[path]

    def _peer_paths(self, found: dict[int, tuple[str, dict[str, ET.Element]]]) -> dict[int, tuple[str, int]]:
        """Paths and sizes of the live-photo halves linked to the files found: from the same listing, else by id."""
        def size(props: dict[str, ET.Element]) -> int:
            return _int(_text(props, f"{DAV}getcontentlength")) or 0

        peers = {file_id: (path, size(props)) for file_id, (path, props) in found.items()}
        wanted = sorted({peer for _, props in found.values() if (peer := _int(_text(props, f"{NC}metadata-files-live-photo")))
                         and peer not in peers})
        for start in range(0, len(wanted), IDS_PER_SEARCH):
            where = _any([_cmp("eq", "<oc:fileid/>", i) for i in wanted[start:start + IDS_PER_SEARCH]])
            for element in self.store.search([""], where, "<oc:fileid/><d:getcontentlength/>"):
                props = _props(element)
                file_id = _int(_text(props, f"{OC}fileid"))
                if file_id is not None:
                    peers[file_id] = (self.store.rel(element), size(props))
        return peers

    def _facts(self, path: str, props: dict[str, ET.Element], peers: dict[int, tuple[str, int]]) -> FileFacts:
        modified = _text(props, f"{DAV}getlastmodified")
        mtime = parsedate_to_datetime(modified).timestamp() if modified else None
        upload = _int(_text(props, f"{NC}upload_time")) or None  # 0: not known (files added by occ files:scan)
        tags = props.get(f"{NC}system-tags")
        share_types = props.get(f"{OC}share-types")
        peer = _int(_text(props, f"{NC}metadata-files-live-photo"))
        mime = _text(props, f"{DAV}getcontenttype")
        file_id = _int(_text(props, f"{OC}fileid"))
        return FileFacts(
            path=path, size=_int(_text(props, f"{DAV}getcontentlength")) or 0, mtime=mtime, upload=upload,
            file_id=file_id, favorite=_text(props, f"{OC}favorite") == "1",
            tags=frozenset((t.text or "").strip() for t in tags) if tags is not None else self._keep_tagged(file_id),
            shared_by=path if share_types is not None and len(share_types) else self.shared_by(path),
            mount=MOUNTS.get(_text(props, f"{NC}mount-type")),
            in_inbox=any(within(path, inbox) for inbox in self.inboxes if inbox),
            live_peer=peers[peer][0] if peer in peers else None,
            # the server refuses to delete or restore a linked QuickTime half alone: its still carries it
            live_video=peer is not None and mime == "video/quicktime",
            edited_after_upload=upload is not None and mtime is not None and mtime > upload + EDIT_SLACK,
            extra={"peer_id": peer, "mimetype": mime} | ({"peer_size": peers[peer][1]} if peer in peers else {}),
        )

    # --- shares ------------------------------------------------------------------------------

    def shared_by(self, path: str) -> str | None:
        """The file itself or the folder above it that is shared (by the user, or reshared by someone they
        shared it with): every share of the user's files, from one OCS request."""
        if self._shared is None or time.monotonic() - self._shared_at > SHARES_FRESH:
            shares = self.store.ocs("GET", "/ocs/v2.php/apps/files_sharing/api/v1/shares?reshares=true") or []
            self._shared = {str(s.get("path", "")).strip("/") for s in shares if isinstance(s, dict)}  # type: ignore[union-attr]
            self._shared_above: dict[str, str | None] = {}
            self._shared_at = time.monotonic()
        if path in self._shared:
            return path
        folder = posixpath.dirname(path)
        if folder not in self._shared_above:  # once per folder
            self._shared_above[folder] = folder if folder in self._shared else self.shared_by(folder) if folder else None
        return self._shared_above[folder]

    def _keep_tagged(self, file_id: int | None) -> frozenset[str]:
        """{KEEP_TAG} for a file tagged "keep": the tag's files from one REPORT per listing (none without the tag)."""
        if self._keep is None:
            tag_id = self._known_tags().get(KEEP_TAG)
            body = ('<?xml version="1.0"?><oc:filter-files xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/></d:prop>'
                    f"<oc:filter-rules><oc:systemtag>{tag_id}</oc:systemtag></oc:filter-rules></oc:filter-files>")
            found = self.store.dav_multistatus("REPORT", f"files/{self.store.user}", body) if tag_id else []
            self._keep = {i for e in found if (i := _int(_text(_props(e), f"{OC}fileid"))) is not None}
        return frozenset({KEEP_TAG}) if file_id in self._keep else frozenset()

    # --- the library ----------------------------------------------------------------------------

    def trash_room(self, trashing: list[Verdict]) -> RunStopped | None:
        """Whether the trash bin has room for these files (live videos go along): two requests. No trash
        bin (files_trashbin off for the user) stops the run: a DELETE would then be for good."""
        nbytes = sum(v.facts.size + int(v.facts.extra.get("peer_size") or 0) for v in trashing)  # type: ignore[call-overload]
        try:
            room = trash_headroom(self.store, self.trash_budget)
        except DavError as err:
            if err.status != 404:
                raise
            return RunStopped("there is no trash bin for your files (the Deleted files app is off?): a trashed file would be "
                              "deleted for good", confirmable=False)
        return room.stop(nbytes, len(trashing))

    def library_count(self) -> int:
        """Media files in the library now: one SEARCH (pages of 5,000) returning only file ids. A library
        folder that is missing raises: a missing mount must not look like an empty library."""
        if self.store.stat(self.library) is None:
            raise RulesBackendError(f"the library folder {self.library or '(root)'} cannot be read")
        return sum(1 for _ in self.store.search([self.library], mime_filter(()), "<oc:fileid/>"))

    # --- acting ---------------------------------------------------------------------------------

    def facts_now(self, path: str) -> FileFacts | None:
        found = self.store.dav_multistatus("PROPFIND", f"files/{self.store.user}/{path}", PROPFIND_FACTS, depth=0)
        if not found:
            return None
        props = _props(found[0])
        peer = _int(_text(props, f"{NC}metadata-files-live-photo"))
        peers = {peer: (p, 0) for p in [self.store.path_of(peer)] if p} if peer is not None else {}
        return self._facts(path, props, peers)

    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]:
        """The file as it is now, with its content hash; None and why, when it must be left alone: gone,
        replaced or changed since the listing, or exempt now (favourited, tagged keep, shared in between)."""
        before = verdict.facts
        self._shared = None  # a share made since the listing counts
        now = self.facts_now(before.path)
        if now is None:
            return None, "gone since the listing"
        if now.file_id != before.file_id:
            return None, "replaced by another file since the listing"
        if (now.size, now.mtime) != (before.size, before.mtime):
            return None, "changed since the listing"
        now = replace(now, capture=before.capture, extra={**before.extra, **now.extra})
        spared = exemption(verdict.rule, now)
        if spared:
            return None, f"now {spared}"
        if now.live_video:
            return None, "the video of a live photo: it goes and comes back with its still"
        if verdict.action in QUALITY_ACTIONS:
            return self.quality.plan(verdict, now)
        if now.size <= HASH_BYTES:
            digest, total = self.store.digest(now.path)
            if total != now.size:
                return None, "changed while it was read"
            now = replace(now, hash=digest)
        if verdict.rule.converted and (why := self._jpeg_gone(before, now)):
            return None, why
        if verdict.rule.duplicates:  # identity again, at action time: the library copy must still hold this content
            copy = before.duplicate_of
            if not copy or now.hash is None or self.store.digest(copy)[0] != now.hash:
                return None, f"no longer identical to {copy}" if copy else "no identical library copy"
            now = replace(now, duplicate_of=copy)
        if verdict.action == "tag" and verdict.rule.tag:  # journalled: an undo after a kill leaves a tag the file had before
            now = replace(now, extra={**now.extra, "journal": {"had_tag": verdict.rule.tag.lower() in {t.lower() for t in now.tags}}})
        return now, None

    def _jpeg_gone(self, before: FileFacts, now: FileFacts) -> str | None:
        """Why a file whose JPEG the app made must stay after all: the JPEG is gone or changed, or the file is not
        the one it was made from (checked by hash, at action time)."""
        conversion, jpeg = before.extra.get("conversion") or {}, before.converted_to
        assert isinstance(conversion, dict)
        if now.hash is None or now.hash != conversion.get("source"):
            return "not the content its JPEG was made from (changed, or too large to hash): it stays"
        if jpeg is None or not self.store.exists(jpeg) or self.store.digest(jpeg)[0] != conversion.get("jpeg"):
            return f"its JPEG {jpeg} is gone or changed since it was made: it stays"
        return None

    def act(self, verdict: Verdict) -> dict[str, object]:
        if verdict.action in QUALITY_ACTIONS:
            return self.quality.act(verdict)
        facts = verdict.facts
        info: dict[str, object] = {"file_id": facts.file_id, "path": facts.path, "size": facts.size, "hash": facts.hash,
                                   "peer_id": facts.extra.get("peer_id"), "peer": facts.live_peer}
        if verdict.action == "trash":
            # a file just uploaded or organised can be locked for a moment (seen on NC 34): nothing happened then
            response = again(lambda: self.store.request("DELETE", facts.path), only=(423,))
            if response.status_code not in (200, 204):
                raise DavError(response.status_code, f"DELETE {facts.path}: HTTP {response.status_code} {response.text[:200]}")
            self._trash = None
            return info | {"to": "trash"}
        if verdict.action == "archive":
            assert verdict.destination is not None
            return info | {"to": self._move_free(facts.path, verdict.destination)}
        if verdict.action == "tag":
            assert verdict.rule.tag is not None and facts.file_id is not None
            tag_id = self.ensure_tag(verdict.rule.tag)
            return info | {"tag_id": tag_id, "tagged": self._assign(facts.file_id, tag_id)}
        raise OSError(f"action {verdict.action!r} is not done by the retention backend")

    def _move_free(self, src: str, dst: str) -> str:
        """MOVE to `dst`, never over another file: a taken name gets ` (2)`, ` (3)`, … before its extension."""
        stem, ext = posixpath.splitext(dst)
        for n in range(1, 100):
            target = dst if n == 1 else f"{stem} ({n}){ext}"
            try:
                self.store.move(src, target)
                return target
            except FileExistsError:
                continue
        raise FileExistsError(f"{dst}: 99 names taken")

    def settle(self, record: dict[str, object]) -> dict[str, object] | None:
        """After a kill between journalling and marking: whether the DELETE, MOVE or tag happened."""
        if record.get("action") in QUALITY_ACTIONS:
            return self.quality.settle(record)
        path, file_id = str(record["path"]), record.get("file_id")
        info = {"file_id": file_id, "path": path, "size": record.get("size"), "hash": record.get("hash"),
                "peer_id": None, "peer": record.get("live_peer")}
        here = self.store.stat(path)
        action = record["action"]
        if action == "tag":  # the runner journals the tag's name, recheck whether the file had it
            tag_id = self._known_tags().get(str(record.get("tag", "")).strip().lower())
            had = bool((record.get("backend") or {}).get("had_tag"))  # type: ignore[union-attr]
            return info | {"tag_id": tag_id, "tagged": not had} if tag_id and tag_id in self._tag_ids(path) else None
        if here is not None and here.file_id == file_id:
            return None  # still where it was: the DELETE or MOVE did not happen
        if action == "trash":
            return info | {"to": "trash"} if isinstance(file_id, int) and file_id in self._trash_items() else None
        if action == "archive":
            dst = str(record["destination"])
            moved = self.store.stat(dst)
            return info | {"to": dst} if moved is not None and moved.file_id == file_id else None
        return None

    # --- tags -----------------------------------------------------------------------------------

    def ensure_tag(self, name: str) -> str:
        """The id of the user-visible, user-assignable system tag `name`, created if missing (a user may create
        tags unless the admin restricted it: then the error says so)."""
        key = name.strip().lower()
        if key in self._tags or key in self._known_tags():
            return self._tags[key]
        if key not in self._tags:
            response = self.store.dav("POST", "systemtags", json={"name": name.strip(), "userVisible": True, "userAssignable": True})
            if response.status_code == 409:  # made by someone else meanwhile (or invisible to this user)
                self._tags.clear()
                return self.ensure_tag(name) if key in self._tags else self._refuse(name, response)
            if response.status_code != 201:
                self._refuse(name, response)
            self._tags[key] = response.headers.get("Content-Location", "").rstrip("/").rsplit("/", 1)[-1]
        return self._tags[key]

    def _known_tags(self) -> dict[str, str]:
        """The system tags this user sees, name (lower case) -> id; read once."""
        if not self._tags:
            body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>'
                    "<oc:id/><oc:display-name/></d:prop></d:propfind>")
            for element in self.store.dav_multistatus("PROPFIND", "systemtags", body, depth=1):
                props = _props(element)
                if _text(props, f"{OC}display-name"):
                    self._tags[_text(props, f"{OC}display-name").lower()] = _text(props, f"{OC}id")
        return self._tags

    @staticmethod
    def _refuse(name: str, response: object) -> str:
        status = getattr(response, "status_code", 0)
        raise DavError(status, f"the system tag {name!r} cannot be created (HTTP {status}): an admin may have to create it")

    def ensure_keep_tag(self) -> str:
        """The app's user-assignable "keep" tag (rules.model.KEEP_TAG): files a user tags with it are spared."""
        return self.ensure_tag(KEEP_TAG)

    def _assign(self, file_id: int, tag_id: str) -> bool:
        """True when this call assigned it; False when the file had it already (undo then leaves it)."""
        response = self.store.dav("PUT", f"systemtags-relations/files/{file_id}/{tag_id}")
        if response.status_code == 409:
            return False
        if response.status_code not in (200, 201, 204):
            raise DavError(response.status_code, f"tagging file {file_id}: HTTP {response.status_code}")
        return True

    def _tag_ids(self, path: str) -> set[str]:
        body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:nc="http://nextcloud.org/ns"><d:prop><nc:system-tags/></d:prop></d:propfind>'
        found = self.store.dav_multistatus("PROPFIND", f"files/{self.store.user}/{path}", body, depth=0)
        tags = _props(found[0]).get(f"{NC}system-tags") if found else None
        return {t.get(f"{OC}id", "") for t in tags} if tags is not None else set()

    # --- undo -----------------------------------------------------------------------------------

    def _trash_items(self) -> dict[int, tuple[str, str]]:
        if self._trash is None:
            self._trash = {}
            for element in self.store.dav_multistatus("PROPFIND", f"trashbin/{self.store.user}/trash", TRASH_PROPS, depth=1)[1:]:
                props = _props(element)
                file_id = _int(_text(props, f"{OC}fileid"))
                name = posixpath.basename(element.findtext(f"{DAV}href", "").rstrip("/"))
                if file_id is not None:
                    self._trash[file_id] = (name, _text(props, f"{NC}trashbin-original-location"))
        return self._trash

    def undo(self, record: dict[str, object]) -> str:
        if record.get("action") in QUALITY_ACTIONS:
            return self.quality.undo(record)
        undo = record["undo"]
        assert isinstance(undo, dict)
        path, file_id = str(record["path"]), undo.get("file_id")
        if "tag_id" in undo:
            if undo.get("tagged") and isinstance(file_id, int):
                response = self.store.dav("DELETE", f"systemtags-relations/files/{file_id}/{undo['tag_id']}")
                if response.status_code not in (204, 404):
                    raise DavError(response.status_code, f"{path}: removing the tag: HTTP {response.status_code}")
                return f"{path}: tag removed"
            return f"{path}: had the tag before; left"
        if undo.get("to") == "trash":
            now = self._restore(file_id, path)
        else:
            now = self._move_free(str(undo["to"]), path)
        note = f"{path}: back" + ("" if now == path else f" as {now} (its name was taken)") + f", {self._verify(now, undo)}"
        peer_id = undo.get("peer_id")
        if isinstance(peer_id, int):
            peer = self.store.path_of(peer_id)
            if peer is None and undo.get("to") == "trash":  # the server restores it with its still; else by itself
                try:
                    peer = self._restore(peer_id, str(undo.get("peer") or ""))
                except OSError as err:
                    return f"{note}; its live-photo video could not be put back: {err}"
            note += f"; its live-photo video is back at {peer}" if peer else "; its live-photo video is missing"
        return note

    def _restore(self, file_id: object, path: str) -> str:
        """Out of the trash bin by file id; back to its own path even when its folder was gone meanwhile
        (Nextcloud restores into the user's root then)."""
        items = self._trash_items()
        if not isinstance(file_id, int) or file_id not in items:
            raise FileNotFoundError(f"{path}: not in the trash bin any more (purged, restored or deleted by hand)")
        name = items[file_id][0]
        response = self.store.dav("MOVE", f"trashbin/{self.store.user}/trash/{name}",
                                  headers={"Destination": f"{self.store.auth.nextcloud_url.rstrip('/')}/remote.php/dav/trashbin/{quote(self.store.user)}/restore/{quote(name)}"})
        self._trash = None
        if response.status_code not in (201, 204):
            raise DavError(response.status_code, f"{path}: restore from the trash bin: HTTP {response.status_code} {response.text[:200]}")
        restored = self.store.path_of(file_id)
        if restored is None:
            raise FileNotFoundError(f"{path}: restored, but file {file_id} cannot be found")
        if restored != path and path and not self.store.exists(path):
            return self._move_free(restored, path)
        return restored

    def _verify(self, path: str, undo: dict[str, object]) -> str:
        node = self.store.stat(path)
        if node is None or node.file_id != undo.get("file_id"):
            raise FileNotFoundError(f"{path}: not the file that was taken (file id {undo.get('file_id')})")
        if node.size != undo.get("size"):
            raise OSError(f"{path}: {node.size} bytes, {undo.get('size')} when it was taken")
        if undo.get("hash") and node.size <= HASH_BYTES:
            digest, _ = self.store.digest(path)
            if digest != undo["hash"]:
                raise OSError(f"{path}: its content differs from what was taken (sha256)")
            return "verified by size and sha256"
        return "verified by size and file id"
