"""The rules' backend over a local library folder (`python -m mobile_backups rules`).

The library is the root rules are written against: a file's path is relative to it; a file of an
inbox outside it is named by its absolute path. The app's state (LIBRARY/.mobile_backups/, the
rules journals in its `rules/`) and hidden folders (a `.Trash-1000` on a mounted disk) are never
looked at.

Facts are the organiser's own: capture time by `engine.analyse` (bounded as it is), the format by
content, iOS's "Screenshot" UserComment, live photos as `core.groups` pairs them, duplicates of an
inbox by the library's content index and whole-file hashes. Nextcloud's favourites, tags, shares,
mounts and "edited after upload" have no local meaning: never set.

Quality actions (local_quality.py) write their new files beside the originals or keep the
original of a rewrite in Originals/; the gates' refusals and the megapixels are read for the
preview (a bounded probe of the container, no decode).

Actions: `archive` moves into the rule's folder, `trash` into the desktop trash (freedesktop.org
trash specification, by send2trash: $XDG_DATA_HOME/Trash, or $topdir/.Trash/$uid or
$topdir/.Trash-$uid on another filesystem) or into a folder given with `--trash`, which mirrors the
library's paths. Nothing overwrites (a taken name gets a counter, as the organiser does); a live
photo's still takes its video along and both come back together; an undo checks size and hash."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from ..content_index import ContentIndex
from ..core.groups import LIVE_STILLS, LIVE_VIDEOS, Item, live_pair
from ..core.kinds import extension, kind_of
from ..core.layout import with_counter, within
from ..core.media import container_of
from ..engine import STATE_DIR, analyse
from ..store import Entry, LocalStore
from .desktop_trash import desktop_trash, find_trashed, remove_orphan_info
from .facts import FileFacts, kinds_of
from .guard import ContentGuard
from .local_quality import ORIGINALS, LocalQuality
from .match import Scope, Verdict, below_library, converted_copy
from .model import INPUT_FORMATS, QUALITY_ACTIONS, Rule
from .quality import gates

RULES_JOURNALS = "rules"  # LIBRARY/.mobile_backups/rules/: the rules runs' journals
GUARD = "rules.sqlite"
MAX_COUNTER = 10_000  # names tried for a free one (x (2).jpg, x (3).jpg, ...)
_FORMATS = {"jpeg": "jpeg", "png": "png", "webp": "webp", "gif": "gif", "tiff": "tiff"}


def format_of(head: bytes) -> str | None:
    """The rule model's format of a file, from its first bytes (never its name)."""
    container = container_of(head)
    if container == "heif":
        return "avif" if head[8:12] in (b"avif", b"avis") else "heic"
    if container == "quicktime":
        return "mov" if head[4:12] in (b"ftypqt  ",) or head[4:8] != b"ftyp" else "mp4"
    return _FORMATS.get(container or "")


def epoch(item: Item, zone: tzinfo | None) -> float | None:
    """The capture time as seconds since the epoch: by its offset when known, else in `zone`."""
    taken = item.capture.taken
    if taken is None:
        return None
    if taken.offset is not None:
        return (taken.local - taken.offset).replace(tzinfo=timezone.utc).timestamp()
    return taken.local.replace(tzinfo=zone).timestamp() if zone else taken.local.timestamp()


class LocalBackend:
    """The runner's `Backend` over LIBRARY (and inboxes), trashing into the desktop trash or `trash`."""

    def __init__(self, library: Path, inboxes: Sequence[Path] = (), trash: Path | None = None,
                 zone: tzinfo | None = None, guard: ContentGuard | None = None) -> None:
        self.library = Path(library).resolve()
        self.inboxes = [Path(i).resolve() for i in inboxes]
        self.trash = Path(trash).resolve() if trash else None
        self.zone = zone
        self.guard = guard
        self.store = LocalStore(str(self.library))
        self.state = self.library / STATE_DIR
        self.quality = LocalQuality(self)

    def close(self) -> None:
        self.quality.close()  # the transforms' worker process, if one was started

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- paths --------------------------------------------------------------------------

    def rel(self, path: Path | str) -> str:
        """A file's path for the rules: below the library, or absolute outside it."""
        text = str(path)
        return text[len(str(self.library)) + 1:] if within(text, str(self.library)) and text != str(self.library) else text

    def abs(self, path: str) -> Path:
        return Path(path) if posixpath.isabs(path) else self.library / path

    def scope(self, rules: list[Rule]) -> Scope:
        state = [STATE_DIR, ORIGINALS] + ([self.rel(self.trash)] if self.trash and within(str(self.trash), str(self.library)) else [])
        return Scope.of("", [self.rel(i) for i in self.inboxes], rules, state)

    # --- facts --------------------------------------------------------------------------

    def _entries(self, scope: Scope) -> Iterator[tuple[Entry, bool]]:
        """(entry, in an inbox) of every media file rules may look at, each once."""
        seen: set[str] = set()
        inboxes = [str(i) for i in self.inboxes]
        for top in [str(self.library)] + [i for i in inboxes if not within(i, str(self.library))]:
            for entry in self.store.walk(top):
                rel = self.rel(entry.path)
                if entry.path in seen or entry.problem or not kinds_of(rel):
                    continue
                if any(part.startswith(".") for part in Path(entry.path).relative_to(top).parts):
                    continue  # the state folder, a .Trash-1000, hidden files
                if any(folder and within(rel, folder) for folder in scope.excluded):
                    continue  # an archive: not read at all
                seen.add(entry.path)
                yield entry, any(within(entry.path, i) for i in inboxes)

    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]:
        read = [(entry, inbox, analyse(self.store, entry, self.zone)) for entry, inbox in self._entries(scope)]
        peers = _live_peers([item for _, _, item in read])
        duplicates = DuplicateFinder(self) if any(r.duplicates for r in rules if r.enabled) else None
        converting = self.guard is not None and any(r.converted for r in rules if r.enabled)
        sizes = self.guard.sizes() if self.guard else set()
        transforms = {r.action for r in rules if r.enabled and r.action in QUALITY_ACTIONS}
        workable = {f for action in transforms for f in INPUT_FORMATS[action]}  # formats a transform here can take
        for entry, inbox, item in read:
            peer = peers.get(item.path)
            facts = FileFacts(
                self.rel(entry.path), entry.size, entry.mtime, capture=epoch(item, self.zone),
                format=self._format(entry.path) if item.problem is None else None, user_comment=item.user_comment,
                in_inbox=inbox, live_peer=self.rel(peer[0]) if peer else None, live_video=bool(peer and peer[1]),
                extra={"problem": item.problem} if item.problem else {})
            if inbox and duplicates and item.problem is None:
                facts = duplicates.check(facts)
            made = converting and converted_copy(facts.path, [(self.rel(p), h, s) for p, h, s in self.guard.conversions(entry.size)])
            if made and _file(self.abs(made[0])) is not None:  # its JPEG is there (its content is checked before acting)
                facts = replace(facts, converted_to=made[0], extra={**facts.extra, "conversion": {"jpeg": made[1], "source": made[2]}})
            if transforms and item.problem is None and (facts.format is None or facts.format in workable):  # no probe of a PNG
                facts = gated(facts, gates.probe_path(Path(entry.path)), transforms)
            if facts.hash is None and entry.size in sizes:  # of a size the guard knows: hashed to be recognised
                try:
                    facts = replace(facts, hash=self._digest(entry.path))
                except OSError:
                    pass  # gone since: the action's recheck says so
            yield facts

    def _format(self, path: str) -> str | None:
        try:
            return format_of(self.store.head(path, 32))
        except OSError:
            return None

    def _digest(self, path: str | Path) -> str:
        return self.store.digest(str(path))[0]

    def library_count(self) -> int:
        """Media files in the library (archives included: archiving does not shrink it)."""
        count = 0
        for root, dirs, files in os.walk(self.library):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            count += sum(1 for name in files if not name.startswith(".") and kind_of(name) != "other")
        return count

    # --- acting -------------------------------------------------------------------------

    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]:
        """The file as it is now (unchanged since the preview: size, time), hashed; a duplicate's library
        copy still identical; the names it will take, journalled before it moves."""
        facts = verdict.facts
        if verdict.action == "tag":
            return None, "tags are Nextcloud's: there are none locally"
        now = _file(self.abs(facts.path))
        if now is None:
            return None, "vanished since it was looked at"
        if (now["size"], now["mtime"]) != (facts.size, facts.mtime):
            return None, "changed since it was looked at: will be looked at again"
        now["hash"], now["path"] = self._digest(now["from"]), facts.path
        if verdict.action in QUALITY_ACTIONS:
            plan, why = self.quality.plan(verdict, now)
            return (None, why) if plan is None else (replace(facts, hash=str(now["hash"]), extra={**facts.extra, "journal": plan}), None)
        if facts.duplicate_of is not None:
            copy = self.library / facts.duplicate_of
            if _file(copy) is None or self._digest(copy) != now["hash"]:
                return None, f"its copy in the library ({facts.duplicate_of}) is gone or differs now"
        if verdict.rule.converted:
            conversion, jpeg = facts.extra.get("conversion") or {}, self.abs(str(facts.converted_to))
            assert isinstance(conversion, dict)
            if now["hash"] != conversion.get("source"):
                return None, "not the content its JPEG was made from (changed since): it stays"
            if _file(jpeg) is None or self._digest(jpeg) != conversion.get("jpeg"):
                return None, f"its JPEG {facts.converted_to} is gone or changed since it was made: it stays"
        peer = _file(self.abs(facts.live_peer)) if facts.live_peer else None
        if peer is not None:
            peer["hash"], peer["path"] = self._digest(peer["from"]), facts.live_peer
        group = [now] + ([peer] if peer else [])
        targets = self._targets(verdict, [Path(f["from"]) for f in group])
        for entry, target in zip(group, targets):
            entry["to"] = str(target) if target else None
        return replace(facts, hash=now["hash"], live_peer=facts.live_peer if peer else None,
                       extra={**facts.extra, "journal": {"files": group}}), None

    def _targets(self, verdict: Verdict, sources: list[Path]) -> list[Path | None]:
        """Where each file goes: the archive or the --trash folder, mirroring its path, under the first
        counter free for all (a live pair keeps one base name); None: the desktop trash."""
        if verdict.action == "archive":
            assert verdict.rule.archive_to is not None
            folder = self.library / verdict.rule.archive_to
        elif self.trash is not None:
            folder = self.trash
        else:
            return [None] * len(sources)
        scope = Scope("", tuple(self.rel(i) for i in self.inboxes))
        wanted = [folder / below_library(self.rel(source), scope) for source in sources]
        stem = wanted[0].stem
        for counter in range(1, MAX_COUNTER):
            names = [w if counter == 1 else w.with_name(_renamed(w.name, len(stem), counter)) for w in wanted]
            if not any(os.path.lexists(n) for n in names):
                return names
        raise OSError(errno.EEXIST, f"no free name for {wanted[0]} after {MAX_COUNTER} tries")

    def act(self, verdict: Verdict) -> dict[str, object]:
        """Move the file (and its live video) away; if the video cannot follow, the still comes back."""
        if verdict.action in QUALITY_ACTIONS:
            return self.quality.act(verdict)
        group = verdict.facts.extra["journal"]["files"]  # type: ignore[index]
        done: list[dict[str, object]] = []
        for entry in group:
            try:
                done.append(self._take(entry))
            except OSError as err:
                if not done:
                    raise
                try:
                    for moved in reversed(done):
                        self._put_back(moved)
                except OSError:
                    return {"files": done, "note": f"{entry['from']} could not follow: {err}"}
                raise OSError(err.errno, f"its live video {entry['from']} could not go with it: {err.strerror or err}") from err
        return {"files": done, "destination": self.rel(str(done[0]["to"]))}

    def _take(self, entry: dict[str, object]) -> dict[str, object]:
        source = str(entry["from"])
        if entry.get("to"):
            self.store.move(source, str(entry["to"]), expect=(int(entry["size"]), entry["mtime"]))  # type: ignore[arg-type]
            return dict(entry)
        desktop_trash(source)
        found = find_trashed(source, int(entry["size"]), str(entry["hash"]), self._digest)  # type: ignore[arg-type]
        if found is None:
            raise OSError(errno.ENOENT, f"{source} was sent to the trash but is not found there")
        return dict(entry, to=found[0], info=found[1])

    def settle(self, record: dict[str, object]) -> dict[str, object] | None:
        """After a kill: did the action happen? The first file decides; a video left behind follows now."""
        if record.get("action") in QUALITY_ACTIONS:
            return self.quality.settle(record)
        group = (record.get("backend") or {}).get("files") or []  # type: ignore[union-attr]
        done: list[dict[str, object]] = []
        for n, entry in enumerate(group):
            where = self._settled(entry)
            if where is None and n > 0 and _file(Path(str(entry["from"]))) is not None:
                try:
                    where = self._take(entry)  # the still went, its video follows
                except OSError:
                    continue  # it stays; the still's undo is journalled
            if where is None:
                if n == 0:
                    return None
                continue
            done.append(where)
        return {"files": done}

    def _settled(self, entry: dict[str, object]) -> dict[str, object] | None:
        source = str(entry["from"])
        if entry.get("to"):
            target = str(entry["to"])
            if self.store.settle(source, target) and self._digest(target) == entry["hash"]:
                return dict(entry)
            return None
        found = find_trashed(source, int(entry["size"]), str(entry["hash"]), self._digest)  # type: ignore[arg-type]
        if found is None:
            remove_orphan_info(source)  # written before a kill, the file never went
            return None
        if os.path.lexists(source) and self._digest(source) == entry["hash"]:
            os.unlink(source)  # a copy into the trash across filesystems had finished
        return dict(entry, to=found[0], info=found[1])

    def undo(self, record: dict[str, object]) -> str:
        """Put each file back where it was, after checking its size and hash; never over another file."""
        if record.get("action") in QUALITY_ACTIONS:
            return self.quality.undo(record)
        files = list((record.get("undo") or {}).get("files") or [])  # type: ignore[union-attr]
        notes, problems = [], []
        for entry in reversed(files):
            try:
                notes.append(self._put_back(entry))
            except OSError as err:
                problems.append(f"{entry['from']}: {err.strerror or err}")
        if problems:
            raise OSError(errno.EEXIST, "; ".join(problems))
        return "; ".join(notes)

    def _put_back(self, entry: dict[str, object]) -> str:
        source, where, info = str(entry["from"]), str(entry["to"]), entry.get("info")
        if os.path.lexists(source):
            if not os.path.lexists(where):
                if self._digest(source) != entry["hash"]:
                    raise OSError(errno.EEXIST, f"gone from {where}, and another file is in its place")
                _drop_info(info)
                return f"already back: {source}"
            if not (os.path.samefile(source, where) or self._digest(source) == self._digest(where) == entry["hash"]):
                raise OSError(errno.EEXIST, f"its place is taken by another file: left at {where}")
            os.unlink(where)  # a put-back a kill interrupted: both names hold it
        else:
            now = _file(Path(where))
            if now is None:
                raise OSError(errno.ENOENT, f"gone from {where} (the trash emptied?)")
            if now["size"] != entry["size"] or self._digest(where) != entry["hash"]:
                raise OSError(errno.EINVAL, f"{where} is not the file that was taken (size or hash differ): left there")
            self.store.move(where, source)
        _drop_info(info)
        return f"put back {source}"


def gated(facts: FileFacts, probe: gates.Probe, actions: set[str]) -> FileFacts:
    """The facts with the megapixels and, per quality action, why the gates make it leave the file alone.
    The local and the Nextcloud backend both use it."""
    refusals = {action: why for action in sorted(actions) if (why := gates.refusal(probe, action))}
    if probe.format == "quicktime":  # a video: its short side as it shows
        return replace(facts, lines=min(probe.width, probe.height) or None, extra={**facts.extra, "refusals": refusals})
    megapixels = probe.width * probe.height / 1e6 if probe.width else None
    return replace(facts, megapixels=megapixels, extra={**facts.extra, "refusals": refusals})


def _renamed(name: str, stem: int, counter: int) -> str:
    """`IMG_1.MOV` -> `IMG_1 (2).MOV`: the counter after the group's base name (its first `stem`
    characters; a pair's halves share it), the rest of the name kept."""
    return with_counter(name[:stem] + ".x", counter)[:-2] + name[stem:]


def _file(path: Path) -> dict[str, object] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return {"from": str(path), "size": st.st_size, "mtime": st.st_mtime} if stat.S_ISREG(st.st_mode) else None


def _drop_info(info: object) -> None:
    if info:
        try:
            os.unlink(str(info))
        except FileNotFoundError:
            pass


def _live_peers(items: list[Item]) -> dict[str, tuple[str, bool]]:
    """path -> (the other half's path, this is the video) for every live photo (core.groups' pairing)."""
    by_stem: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        by_stem.setdefault((item.folder, item.stem.lower()), []).append(item)
    peers: dict[str, tuple[str, bool]] = {}
    for same in by_stem.values():
        stills = [i for i in same if extension(i.name) in LIVE_STILLS]
        videos = [i for i in same if extension(i.name) in LIVE_VIDEOS and i.kind == "video"]
        for video in videos:
            still = next((s for s in stills if s.path not in peers and live_pair(s, video)), None)
            if still is not None:
                peers[still.path], peers[video.path] = (video.path, False), (still.path, True)
    return peers


class DuplicateFinder:
    """Inbox files whose whole content is already in the library, by the library's content index
    (sizes first, hashes only of files of the same size)."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.index = ContentIndex(backend.state / "content.sqlite")
        self.index.refresh(backend.store, str(backend.library))

    def check(self, facts: FileFacts) -> FileFacts:
        own: str | None = None
        for known in self.index.candidates(facts.size):
            path = self.backend.library / known.path
            if any(within(str(path), str(inbox)) for inbox in self.backend.inboxes):
                continue  # a file of an inbox is no library copy (two alike in an inbox both stay)
            try:
                digest = known.digest or self.backend._digest(path)
                own = own or self.backend._digest(self.backend.abs(facts.path))
            except OSError:
                continue
            if known.digest is None:
                self.index.learn(known.path, known.size, digest=digest)
            if digest == own:
                return replace(facts, duplicate_of=known.path, hash=own)
        return facts if own is None else replace(facts, hash=own)


def now_of(day: str, zone: tzinfo | None) -> float:
    """`--now YYYY-MM-DD`: that day's start in the zone."""
    date = datetime.strptime(day, "%Y-%m-%d")
    return date.replace(tzinfo=zone).timestamp() if zone else date.timestamp()
