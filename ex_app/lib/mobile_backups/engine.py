"""The organiser: scan inboxes, learn each file's date, place each group, move it.

Everything that touches files goes through a `Store`, so the CLI (local folders),
the ExApp (Nextcloud) and the tests share this code.
"""

from __future__ import annotations

import logging
import posixpath
import hashlib
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from .content_index import ContentIndex, Known
from .core.capture import capture_time
from .core.groups import Group, Item, group_items
from .core.kinds import is_media, kind_of
from .core.layout import Layout, with_counter
from .core.media import read_media_info
from .core.source import BlockReader, ByteSource
from .journal import Journal, Move, read_journal
from .store import Changed, Entry, Store, Unavailable, within

log = logging.getLogger("mobile_backups")
STATE_DIR = ".mobile_backups"
HEAD_BYTES = 32 * 1024  # the first block the metadata readers always fetch
READ_SECONDS = 5.0  # what reading one file's metadata may take: a crafted file costs its owner this, then stays
READ_BYTES = 16 * 1024 * 1024  # what it may fetch (real files need the head, a few boxes: well under 1 MiB)


@dataclass(frozen=True)
class Settings:
    layout: Layout
    zone: tzinfo | None  # for UTC-only dates; None: this machine's zone
    library: str | None  # store path of the library root
    index: ContentIndex | None = field(default=None, compare=False)  # what the library holds, by content


@dataclass
class Decision:
    item: Item
    action: str  # move, skip, duplicate, companion
    destination: str | None = None  # relative to the library
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.item.damage:
            self.reason = "; ".join(filter(None, [f"damaged file ({self.item.damage})", self.reason]))

    def record(self) -> dict[str, object]:
        taken = self.item.capture.taken
        return {
            "source": self.item.path,
            "taken": taken.iso() if taken else None,
            "date_source": self.item.capture.source,
            "kind": self.item.kind,
            "destination": self.destination,
            "action": self.action,
            "reason": self.reason,
            "damage": self.item.damage,
            "bytes_read": self.item.bytes_read,
        }


RETRY = "retry"  # the action of a file the store could not answer about now (`Unavailable`): no verdict, looked at again
VANISHED = "vanished (moved or deleted by someone else while it was being organised)"
CHANGED = "changed while being organised: will be looked at again"


def _why_not(err: OSError) -> str:
    return VANISHED if isinstance(err, FileNotFoundError) else f"unreadable: {err.strerror or err}"


def _utf8(name: str) -> bool:
    """Local names that are not UTF-8 arrive with surrogate escapes; no layout or Nextcloud can hold them."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Watched:
    """A file's bytes as the metadata readers get them: a read the store could not answer (which the
    readers would take for a broken file) is kept, and so is the time spent waiting for the store."""

    def __init__(self, source: ByteSource) -> None:
        self.source, self.size = source, source.size
        self.failure: Unavailable | None = None
        self.waited = 0.0

    def read_at(self, offset: int, length: int) -> bytes:
        started = time.monotonic()
        try:
            return self.source.read_at(offset, length)
        except Unavailable as err:
            self.failure = err
            raise
        finally:
            self.waited += time.monotonic() - started


def analyse(store: Store, entry: Entry, zone: tzinfo | None, seconds: float = READ_SECONDS, slow_is_unavailable: bool = False) -> Item:
    """Kind, capture time and camera of one file; `problem` says why it must stay, `damage` what is
    wrong with one that is organised anyway. Reading is bounded by `seconds` and READ_BYTES.
    A store that could not answer raises `Unavailable` (no verdict); so does, with `slow_is_unavailable`,
    a file whose reading ran out of time while mostly waiting for the store (a slow server, not a crafted file)."""
    name = posixpath.basename(entry.path)
    item = Item(entry.path, entry.size, entry.mtime, kind_of(name), problem=entry.problem)
    if item.problem:
        return item
    if name.startswith("."):
        item.problem = "hidden file (the name starts with a dot): left alone"
    elif not _utf8(name):
        item.problem = "the file name is not valid UTF-8 (an old camera card or archive?): left alone; rename it to organise it"
    elif item.kind == "other":
        return item
    elif entry.size == 0:
        item.problem = "empty file (0 bytes): the upload may not have finished; left alone"
    else:
        try:
            with store.open(entry.path, entry.size) as source:
                watched = _Watched(source)
                started = time.monotonic()
                reader = BlockReader(watched, seconds=seconds, max_bytes=READ_BYTES)
                item.head = hashlib.sha256(reader.pread(0, HEAD_BYTES)).hexdigest()  # the block metadata reading starts with
                info = read_media_info(reader)
                item.bytes_read = reader.bytes_read
            if watched.failure is not None:
                raise watched.failure
            if slow_is_unavailable and info.problem and time.monotonic() - started >= seconds and watched.waited >= seconds / 2:
                raise Unavailable(f"the server took {watched.waited:.0f} s to send the metadata")
        except Unavailable:
            raise
        except OSError as err:
            item.problem = _why_not(err)
            return item
        item.camera, item.content_id, item.damage, item.user_comment = info.camera, info.content_id, info.damage, info.user_comment
        if info.problem:
            item.problem = f"{info.problem}; left alone"
            return item
        item.capture = capture_time(info, is_video=item.kind == "video", name=name, mtime=entry.mtime, zone=zone)
        if item.capture.taken is None:
            item.problem = "no usable capture date (no metadata date, no date in the name, no file time)"
    return item


def scan(store: Store, inboxes: list[str], settings: Settings) -> Iterator[Item]:
    """Every file under the inboxes, analysed; files already in the library are not read."""
    library = settings.library
    seen: set[str] = set()  # an inbox given twice, or inside another: each file once
    for inbox in inboxes:
        for entry in store.walk(inbox):
            if entry.path in seen or library and within(entry.path, posixpath.join(library, STATE_DIR)):
                continue
            seen.add(entry.path)
            if library and within(entry.path, library) and _already_organised(entry.path, inbox, library):
                yield Item(entry.path, entry.size, entry.mtime, kind_of(entry.path), problem="already in the library")
            else:
                yield analyse(store, entry, settings.zone)


def _already_organised(path: str, inbox: str, library: str) -> bool:
    """The library inside (or equal to) an inbox: its subfolders hold organised files."""
    if not within(library, inbox):
        return False
    parent = posixpath.dirname(path)
    return parent != library.rstrip("/") if library.rstrip("/") == inbox.rstrip("/") else True


class Placer:
    """Chooses final names: never a clash, identical content recognised as a duplicate, in the
    destination folder (listed) and anywhere else in the library (through the content index)."""

    def __init__(self, store: Store, library: str | None, index: ContentIndex | None = None) -> None:
        self.store = store
        self.library = library
        self.index = index if library else None
        self._moving: set[str] = set()  # store paths the plans with it place: never a copy "already in the library"
        self._folders: dict[str, dict[str, tuple[str, int, str | None]]] = {}
        self._digests: dict[str, str] = {}
        self._heads: dict[str, str] = {}
        self._from_index: set[str] = set()  # heads taken from the index, not read in this run

    def _abs(self, rel: str) -> str:
        assert self.library is not None
        return posixpath.join(self.library, rel)

    def _rel(self, path: str) -> str | None:
        """A store path's place in the library, if it is in it (and not a file this plan places)."""
        if not self.library or not within(path, self.library) or path in self._moving:
            return None
        return path[len(self.library.rstrip("/")) + 1 :]

    def folder(self, rel: str) -> dict[str, tuple[str, int, str | None]]:
        """lower-case name -> (name, size, store path to compare content with)."""
        if rel not in self._folders:
            listing: dict[str, tuple[str, int, str | None]] = {}
            if self.library:
                absolute = posixpath.join(self.library, rel)
                sizes = self.store.listdir(absolute)
                for name, size in sizes.items():
                    listing[name.lower()] = (name, size, posixpath.join(absolute, name))
                if self.index:
                    self.index.learn_folder(rel, sizes)
            self._folders[rel] = listing
        return self._folders[rel]

    def head(self, path: str, item: Item | None = None, size: int | None = None) -> str:
        """A hash of the first HEAD_BYTES: photos of the same size (a burst, one scene) almost always
        differ there (their metadata does), so whole files are read only when the heads match.
        `item`: the file at `path`, when it is one being placed (read with its metadata; any further
        read counts in its bytes_read). `size`: a library file's listed size: what the index knows of
        the file at that size is taken, and `same_content` reads it again before a match counts."""
        if path not in self._heads:
            known = self._known(path, size) if item is None else None
            if item is not None and item.head is not None:
                self._heads[path] = item.head
            elif known is not None and known.head is not None:
                self._heads[path] = known.head
                self._from_index.add(path)
            else:
                self._read_head(path, item, size)
        return self._heads[path]

    def _known(self, path: str, size: int | None) -> Known | None:
        rel = self._rel(path)
        known = self.index.known(rel) if self.index is not None and rel is not None else None
        return known if known is not None and known.size == size else None

    def _read_head(self, path: str, item: Item | None, size: int | None) -> None:
        data = self.store.head(path, HEAD_BYTES)
        self._heads[path] = hashlib.sha256(data).hexdigest()
        self._from_index.discard(path)
        if item is not None:
            item.bytes_read += len(data)
        elif self.index is not None and (rel := self._rel(path)) is not None and size is not None:
            self.index.learn(rel, size, head=self._heads[path])

    def digest(self, path: str, item: Item | None = None, size: int | None = None) -> str:
        """The whole file's hash (`item`, `size`: as for `head`); a library file's from the index
        once its head was read again in this run."""
        if path not in self._digests:
            known = self._known(path, size) if item is None and path not in self._from_index else None
            if known is not None and known.digest is not None:
                self._digests[path] = known.digest
            else:
                value, read = self.store.digest(path)
                self._digests[path] = value
                if item is not None:
                    item.bytes_read += read
                elif self.index is not None and (rel := self._rel(path)) is not None and size is not None:
                    self.index.learn(rel, size, head=self._heads.get(path), digest=value)
        return self._digests[path]

    def same_content(self, item: Item, path: str, size: int) -> bool:
        """Heads, then whole hashes; a library file's head from the index is read again before a match
        counts. A file that cannot be read (gone since it was listed) is not the same."""
        try:
            if self.head(path, size=size) != self.head(item.path, item):
                return False
            if path in self._from_index:
                self._read_head(path, None, size)
                if self._heads[path] != self.head(item.path, item):
                    return False
            return self.digest(path, size=size) == self.digest(item.path, item)
        except OSError as err:
            if isinstance(err, Unavailable) or isinstance(err, Unreadable) and err.path == item.path:
                raise  # the new file itself is gone: it stays (plan), the library copy is fine; or no answer: ask again later
            self._unreadable(item, path, err)
            return False

    def _library_head(self, item: Item, path: str) -> str | None:
        """The head of a library file of the item's size, read now; None if it cannot be read."""
        try:
            return self.head(path, size=item.size)
        except Unavailable:
            raise
        except OSError as err:
            self._unreadable(item, path, err)
            return None

    def _unreadable(self, item: Item, path: str, err: OSError) -> None:
        """A library file gone (or unreadable) since it was listed: not a copy, and out of the index."""
        log.info("%s: could not compare with %s: %s", item.path, path, err.strerror or err)
        if self.index is not None and (rel := self._rel(path)) is not None:
            self.index.forget(rel)

    def identical(self, item: Item, rel_folder: str, library_only: bool = False) -> str | None:
        """Name of a file in the folder with the same content as `item`, if any (`library_only`: not
        one this plan is placing there).

        Sidecars are small and often alike (an empty .aae): only one under the same name counts.
        """
        listing = self.folder(rel_folder)
        candidates = listing.values() if is_media(item.kind) else [listing[item.name.lower()]] if item.name.lower() in listing else []
        for name, size, path in candidates:
            if library_only and path != posixpath.join(self._abs(rel_folder), name):
                continue
            if size == item.size and path and path != item.path and self.same_content(item, path, size):
                return name
        return None

    def indexed(self, item: Item, rel_folder: str) -> str | None:
        """Library path of a file elsewhere in the library with the same content, from the index.
        Only files of the same size are looked at, by their head first (known, or one small read);
        when heads agree, a match is believed once a listing of its folder shows it with that size,
        its head read again agrees and so does its whole hash. Entries found gone are dropped."""
        if self.index is None or not is_media(item.kind):
            return None
        for known in self.index.candidates(item.size):
            folder, name = posixpath.split(known.path)
            path = self._abs(known.path)
            if folder == rel_folder or path in self._moving:
                continue  # the destination folder was looked at already; a file of this batch is not a copy
            head = known.head if known.head is not None else self._library_head(item, path)
            if head != self.head(item.path, item):
                continue
            listed = self.folder(folder).get(name.lower())  # this listing drops the entry if it is gone
            if listed == (name, item.size, path) and self.same_content(item, path, item.size):
                return known.path
        return None

    def library_copy(self, item: Item, rel_folder: str, library_only: bool = False) -> str | None:
        """Library path of a file with the same content: in the destination folder, else anywhere."""
        if (same := self.identical(item, rel_folder, library_only)) is not None:
            return posixpath.join(rel_folder, same)
        return self.indexed(item, rel_folder)

    def also_moving(self, paths: Iterable[str]) -> None:
        """Files a further plan with this placer places (see `plan`'s `placer`)."""
        self._moving.update(paths)

    def moved(self, src: str, dst: str) -> None:
        """A file placed by this placer is now at `dst` (a store path in the library): later plans with
        it compare with the file there, as a placer of their own would find it."""
        for known in (self._heads, self._digests):
            if src in known:
                known[dst] = known.pop(src)
        rel = self._rel(dst)
        if rel is not None and (listing := self._folders.get(posixpath.dirname(rel))) is not None:
            name = posixpath.basename(rel)
            if (entry := listing.get(name.lower())) is not None and entry[2] == src:
                listing[name.lower()] = (name, entry[1], dst)

    def free(self, rel_folder: str, names: list[str]) -> bool:
        listing = self.folder(rel_folder)
        return all(n.lower() not in listing for n in names)

    def claim(self, rel_folder: str, name: str, item: Item) -> None:
        if item.head is not None:
            self._heads.setdefault(item.path, item.head)
        self.folder(rel_folder)[name.lower()] = (name, item.size, item.path)
        if self.index and is_media(item.kind):
            self.index.placed(posixpath.join(rel_folder, name), item.size, item.mtime, item.head, self._digests.get(item.path))

    def batch_duplicates(self, items: list[Item]) -> dict[str, Item]:
        """path -> the file of the batch with identical content that is placed instead
        (the shortest name: `IMG_1.jpg` rather than `IMG_1 (copy).jpg`)."""
        by_size: dict[int, list[Item]] = defaultdict(list)
        for item in items:
            if is_media(item.kind):
                by_size[item.size].append(item)
        first: dict[tuple[int, str], Item] = {}
        duplicates: dict[str, Item] = {}
        for size, same in by_size.items():
            if len(same) < 2:
                continue
            heads = Counter(self.head(item.path, item) for item in same)
            for item in sorted(same, key=lambda i: (len(i.name), i.path)):
                if heads[self.head(item.path)] < 2:
                    continue  # no other file of the batch starts the same: not a duplicate
                key = (size, self.digest(item.path, item))
                if key in first:
                    duplicates[item.path] = first[key]
                else:
                    first[key] = item
        return duplicates

    def duplicate(self, item: Item, folder: str, batch_dups: dict[str, Item]) -> tuple[str, str | None] | None:
        """(reason, library path of the copy there) for a file that is not placed because its content is."""
        copy = self.library_copy(item, folder, library_only=item.path in batch_dups)
        if copy is not None:
            return f"identical to {copy} already in the library", copy
        if item.path in batch_dups:
            return f"identical to {batch_dups[item.path].path}, organised instead", None
        return None

    def place(self, group: Group, batch_dups: dict[str, Item]) -> list[Decision]:
        lead, folder = group.lead, group.folder
        decisions: dict[str, Decision] = {}
        lead_name = posixpath.basename(group.destination)
        base_stem = posixpath.splitext(lead_name)[0]
        if (dup := self.duplicate(lead, folder, batch_dups)) is not None:
            decisions[lead.path] = Decision(lead, "duplicate", None, dup[0])
            if dup[1] is not None:  # its companions join the copy already in the library, under its name
                folder, base_stem = posixpath.dirname(dup[1]), posixpath.splitext(posixpath.basename(dup[1]))[0]
        for member in group.members:
            if (dup := self.duplicate(member.item, folder, batch_dups)) is not None:
                decisions[member.item.path] = Decision(member.item, "duplicate", None, dup[0])
        tracked = [(lead, lead_name, "move", group.note)] + [
            (m.item, base_stem + m.item.name[len(lead.stem) :], "companion", f"{m.role} of {lead.name}")
            for m in group.members
            if m.renames_with_lead
        ]
        self._name_together(folder, [t for t in tracked if t[0].path not in decisions], decisions)
        for member in group.members:
            if not member.renames_with_lead and member.item.path not in decisions:
                self._name_together(folder, [(member.item, member.item.name, "companion", f"{member.role} of {lead.name}")], decisions)
        ordered = [lead] + [m.item for m in group.members]
        return [decisions[i.path] for i in ordered]

    def _name_together(self, folder: str, wanted: list[tuple[Item, str, str, str | None]], decisions: dict[str, Decision]) -> None:
        """The first counter (none, (2), (3), ...) under which every name is free."""
        if not wanted:
            return
        counter = 1
        names = [name for _, name, _, _ in wanted]
        while not self.free(folder, names):
            counter += 1
            names = [with_counter(name, counter) for _, name, _, _ in wanted]
        for (item, wished, action, reason), name in zip(wanted, names):
            if counter > 1:
                clash = f"{wished} is taken by a different file: named {name}"
                reason = f"{reason}; {clash}" if reason else clash
            self.claim(folder, name, item)
            decisions[item.path] = Decision(item, action, posixpath.join(folder, name), reason)


class Unreadable(OSError):
    """A file the Placer had to read is gone or unreadable (changed since the scan)."""

    def __init__(self, path: str, err: OSError) -> None:
        super().__init__(err.errno, _why_not(err))
        self.path, self.reason = path, _why_not(err)


class _Reading:
    """The store as the Placer reads it: a content read that fails names its file."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def head(self, path: str, length: int) -> bytes:
        try:
            return self.store.head(path, length)
        except Unavailable:
            raise
        except OSError as err:
            raise Unreadable(path, err) from err

    def digest(self, path: str) -> tuple[str, int]:
        try:
            return self.store.digest(path)
        except Unavailable:
            raise
        except OSError as err:
            raise Unreadable(path, err) from err


def placer_for(store: Store, settings: Settings) -> Placer:
    """A placer for `plan`, to share between plans of parts of one batch (see there)."""
    return Placer(_Reading(store), settings.library, settings.index)  # type: ignore[arg-type]


def plan(
    store: Store, items: list[Item], settings: Settings, placed: Mapping[str, tuple[str, str]] | None = None,
    placer: Placer | None = None,
) -> list[tuple[list[Decision], list[Move]]]:
    """Decisions for every item, grouped as they must move, with the store moves of each group.
    A file that vanishes while its content is compared stays out (with its companions); a group the
    store could not answer about is a RETRY. With a content index (`settings.index`), it is brought up to date with a listing first.

    `placer` (from `placer_for`): a batch planned in parts (each with all the files that could belong
    together, moved before the next part is planned) shares one: the library's folders are listed once,
    and the names and contents placed by the earlier parts count (tell it what moved: `Placer.moved`)."""
    if settings.index is not None and settings.library is not None:
        settings.index.refresh(store, settings.library)
    by_path = {item.path: item for item in items}
    shared = placer
    while True:
        groups, stays = group_items(items, settings.layout, placed)
        batch = [i for g in groups for i in [g.lead] + [m.item for m in g.members]]
        placer = shared or placer_for(store, settings)
        placer.also_moving(i.path for i in batch)
        try:
            batch_dups = placer.batch_duplicates(batch)
            break
        except Unreadable as err:
            by_path[err.path].problem = err.reason  # only the batch's own files are read here
    planned: list[tuple[list[Decision], list[Move]]] = [([Decision(item, "skip", None, reason)], []) for item, reason in stays]
    for group in groups:
        try:
            decisions = placer.place(group, batch_dups)
        except Unreadable as err:
            planned.append(([_stays(item, group.lead, err) for item in [group.lead] + [m.item for m in group.members]], []))
            continue
        except Unavailable as err:
            planned.append(([Decision(item, RETRY, None, str(err)) for item in [group.lead] + [m.item for m in group.members]], []))
            continue
        moves = [
            (d.item.path, posixpath.join(settings.library, d.destination))
            for d in decisions
            if d.destination is not None and settings.library is not None
        ]
        planned.append((decisions, moves))
    return planned


def _stays(item: Item, lead: Item, err: Unreadable) -> Decision:
    if item.path == err.path:
        return Decision(item, "skip", None, err.reason)
    why = f"{err.path} could not be read to compare ({err.reason}); will be looked at again"
    return Decision(item, "skip", None, why if item is lead else f"stays with {lead.name}: {why}")


def execute(store: Store, journal: Journal, decisions: list[Decision], moves: list[Move], gid: int | None = None) -> None:
    """Move one group, journalled (`gid`: its moves are in the journal already, see `Journal.begin_many`).
    A file that changed or vanished since it was analysed is not moved; when the lead does not move, the
    rest of its group stays with it. A move the store could not answer about happened if `settle` says so,
    else it is a RETRY (its group's rest too); when even that cannot be told now, the group stays unfinished
    in the journal and all of it is a RETRY, for `finish_interrupted` to complete (and report)."""
    if not moves:
        return
    gid = journal.begin(moves) if gid is None else gid
    moved: list[Move] = []
    untold = False
    by_source = {d.item.path: d for d in decisions}
    lead = decisions[0]
    for src, dst in moves:
        decision = by_source[src]
        if lead.action in ("skip", RETRY):
            decision.action = lead.action
            decision.reason = lead.reason if lead.action == RETRY else f"stays with {lead.item.name}, which could not be moved"
        else:
            try:
                store.move(src, dst, expect=(decision.item.size, decision.item.mtime))
                moved.append((src, dst))
                continue
            except Unavailable as err:
                try:
                    if store.settle(src, dst):
                        moved.append((src, dst))
                        continue
                except Unavailable:
                    untold = True
                decision.action, decision.reason = RETRY, str(err)
            except OSError as err:
                decision.reason = _move_failure(store, src, dst, err)
                log.error("%s: %s", src, decision.reason)
                decision.action = "skip"
        decision.destination = None
    if not untold:
        journal.done(gid, moved)
        return
    for src, _ in moves:  # the whole group is `finish_interrupted`'s to complete and tell about
        decision = by_source[src]
        decision.action, decision.destination = RETRY, None
        decision.reason = decision.reason if src not in dict(moved) else "moved; the rest of its group is finished later"


def _move_failure(store: Store, src: str, dst: str, err: OSError) -> str:
    if isinstance(err, Changed):
        return CHANGED
    if isinstance(err, FileNotFoundError) and not store.exists(src):
        return VANISHED
    return f"could not move to {dst}: {err.strerror or err}; left in place"


def organise(
    store: Store,
    inboxes: list[str],
    settings: Settings,
    journal: Journal | None,
    report: Callable[[Decision], None],
) -> list[Decision]:
    """Plan, and unless `journal` is None (a dry run), move. Returns every decision."""
    items = list(scan(store, inboxes, settings))
    order = {item.path: n for n, item in enumerate(items)}
    everything: list[Decision] = []
    for decisions, moves in plan(store, items, settings):
        if journal is not None:
            execute(store, journal, decisions, moves)
        everything.extend(decisions)
    everything.sort(key=lambda d: order[d.item.path])
    for decision in everything:
        report(decision)
    return everything


def finish_interrupted(store: Store, journal_dir: Path, finished: list[Move] | None = None) -> list[str]:
    """Complete every group of moves (or undo) a crash interrupted (appending each move that is now
    done to `finished`). Returns what it did. A store that cannot answer (`Unavailable`) leaves the
    rest unfinished, for the next call."""
    notes: list[str] = []
    for path in sorted(journal_dir.glob("*.jsonl")) if journal_dir.is_dir() else []:
        state = read_journal(path)
        unfinished = state.unfinished()
        if not unfinished:
            continue
        journal = Journal(path)
        try:
            for gid, group in unfinished:
                if group.done is None:
                    moved = [m for m in group.moves if _roll_forward(store, *m, notes)]
                    journal.done(gid, moved)
                    if finished is not None:
                        finished.extend(moved)
                else:
                    for src, dst in reversed(group.done):
                        _roll_forward(store, dst, src, notes)
                    journal.write(op="undone", group=gid)
        finally:
            journal.close()
    return notes


def _roll_forward(store: Store, src: str, dst: str, notes: list[str]) -> bool:
    if store.settle(src, dst):
        notes.append(f"finished interrupted move {src} -> {dst}")
        return True
    if store.exists(src) and not store.exists(dst):
        try:
            store.move(src, dst)
        except Unavailable:
            raise  # no answer: the group stays unfinished, for the next look
        except OSError as err:
            notes.append(f"could not redo interrupted move {src} -> {dst}: {err.strerror or err}")
            return False
        notes.append(f"redid interrupted move {src} -> {dst}")
        return True
    notes.append(f"could not finish interrupted move {src} -> {dst}: source missing or destination taken")
    return False


def undo(store: Store, journal_path: Path, restored: list[str] | None = None) -> list[str]:
    """Put every file a run moved back where it was (appending each to `restored`); report what could not be."""
    state = read_journal(journal_path)
    journal = Journal(journal_path)
    notes: list[str] = []
    for gid, group in sorted(state.groups.items(), reverse=True):
        if group.done is None or group.undone:
            continue
        journal.write(op="undo", group=gid)
        for src, dst in reversed(group.done):
            if store.exists(dst) and not store.exists(src):
                try:
                    store.move(dst, src)
                except OSError as err:
                    notes.append(f"cannot put back {dst} -> {src}: {err.strerror or err}")
                    continue
                notes.append(f"put back {dst} -> {src}")
                if restored is not None:
                    restored.append(src)
            elif store.exists(src) and not store.exists(dst):
                notes.append(f"already back: {src}")  # e.g. a live photo's half, which Nextcloud moved back with the other
                if restored is not None:
                    restored.append(src)
            else:
                notes.append(f"cannot put back {dst} -> {src}: " + ("the original place is taken" if store.exists(src) else "the file is gone from the library"))
        journal.write(op="undone", group=gid)
    journal.close()
    return notes

