"""The organiser: scan inboxes, learn each file's date, place each group, move it.

Everything that touches files goes through a `Store`, so the CLI (local folders),
the ExApp (Nextcloud) and the tests share this code.
"""

from __future__ import annotations

import logging
import posixpath
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from .core.capture import capture_time
from .journal import Journal, Move, read_journal
from .core.kinds import is_media, kind_of
from .core.layout import Layout, with_counter
from .core.media import read_media_info
from .core.groups import Group, Item, group_items
from .core.source import BlockReader
from .store import Entry, Store

log = logging.getLogger("mobile_backups")
STATE_DIR = ".mobile_backups"
HEAD_BYTES = 32 * 1024  # the first block the metadata readers always fetch


@dataclass(frozen=True)
class Settings:
    layout: Layout
    zone: tzinfo | None  # for UTC-only dates; None: this machine's zone
    library: str | None  # store path of the library root


@dataclass
class Decision:
    item: Item
    action: str  # move, skip, duplicate, companion
    destination: str | None = None  # relative to the library
    reason: str | None = None

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
            "bytes_read": self.item.bytes_read,
        }


def within(path: str, folder: str) -> bool:
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def analyse(store: Store, entry: Entry, zone: tzinfo | None) -> Item:
    """Kind, capture time and camera of one file; `problem` says why it must stay."""
    name = posixpath.basename(entry.path)
    item = Item(entry.path, entry.size, entry.mtime, kind_of(name), problem=entry.problem)
    if item.problem:
        return item
    if name.startswith("."):
        item.problem = "hidden file (the name starts with a dot): left alone"
    elif item.kind == "other":
        return item
    elif entry.size == 0:
        item.problem = "empty file (0 bytes): the upload may not have finished; left alone"
    else:
        try:
            with store.open(entry.path, entry.size) as source:
                reader = BlockReader(source)
                info = read_media_info(reader)
                item.head = hashlib.sha256(reader.pread(0, HEAD_BYTES)).hexdigest()
                item.bytes_read = reader.bytes_read
        except OSError as err:
            item.problem = f"unreadable: {err.strerror or err}"
            return item
        item.camera, item.content_id = info.camera, info.content_id
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
    for inbox in inboxes:
        for entry in store.walk(inbox):
            if library and within(entry.path, posixpath.join(library, STATE_DIR)):
                continue
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
    """Chooses final names: never a clash, identical content recognised as a duplicate."""

    def __init__(self, store: Store, library: str | None) -> None:
        self.store = store
        self.library = library
        self._folders: dict[str, dict[str, tuple[str, int, str | None]]] = {}
        self._digests: dict[str, str] = {}
        self._heads: dict[str, str] = {}

    def folder(self, rel: str) -> dict[str, tuple[str, int, str | None]]:
        """lower-case name -> (name, size, store path to compare content with)."""
        if rel not in self._folders:
            listing: dict[str, tuple[str, int, str | None]] = {}
            if self.library:
                absolute = posixpath.join(self.library, rel)
                for name, size in self.store.listdir(absolute).items():
                    listing[name.lower()] = (name, size, posixpath.join(absolute, name))
            self._folders[rel] = listing
        return self._folders[rel]

    def head(self, path: str, item: Item | None = None) -> str:
        """A hash of the first HEAD_BYTES: photos of the same size (a burst, one scene) almost always
        differ there (their metadata does), so whole files are read only when the heads match.
        An analysed item's head was read with its metadata; a library file's costs one small read."""
        if path not in self._heads:
            if item is not None and item.head is not None:
                self._heads[path] = item.head
            else:
                data = self.store.head(path, HEAD_BYTES)
                self._heads[path] = hashlib.sha256(data).hexdigest()
                if item is not None:
                    item.bytes_read += len(data)
        return self._heads[path]

    def same_content(self, item: Item, path: str) -> bool:
        return self.head(path) == self.head(item.path, item) and self.digest(path) == self.digest(item.path, item)

    def digest(self, path: str, item: Item | None = None) -> str:
        if path not in self._digests:
            value, read = self.store.digest(path)
            self._digests[path] = value
            if item is not None:
                item.bytes_read += read
        return self._digests[path]

    def identical(self, item: Item, rel_folder: str) -> str | None:
        """Name of a file in the folder with the same content as `item`, if any.

        Sidecars are small and often alike (an empty .aae): only one under the same name counts.
        """
        listing = self.folder(rel_folder)
        candidates = listing.values() if is_media(item.kind) else [listing[item.name.lower()]] if item.name.lower() in listing else []
        for name, size, path in candidates:
            if size == item.size and path and self.same_content(item, path):
                return name
        return None

    def free(self, rel_folder: str, names: list[str]) -> bool:
        listing = self.folder(rel_folder)
        return all(n.lower() not in listing for n in names)

    def claim(self, rel_folder: str, name: str, item: Item) -> None:
        if item.head is not None:
            self._heads.setdefault(item.path, item.head)
        self.folder(rel_folder)[name.lower()] = (name, item.size, item.path)

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

    def place(self, group: Group, batch_dups: dict[str, Item]) -> list[Decision]:
        lead, folder = group.lead, group.folder
        decisions: dict[str, Decision] = {}
        lead_name = posixpath.basename(group.destination)
        base_stem = posixpath.splitext(lead_name)[0]
        if lead.path in batch_dups:
            decisions[lead.path] = Decision(lead, "duplicate", None, f"identical to {batch_dups[lead.path].path}, organised instead")
        elif (same := self.identical(lead, folder)) is not None:
            decisions[lead.path] = Decision(lead, "duplicate", None, f"identical to {posixpath.join(folder, same)} already in the library")
            base_stem = posixpath.splitext(same)[0]
        for member in group.members:
            if member.item.path in batch_dups:
                decisions[member.item.path] = Decision(member.item, "duplicate", None, f"identical to {batch_dups[member.item.path].path}, organised instead")
            elif (same := self.identical(member.item, folder)) is not None:
                decisions[member.item.path] = Decision(member.item, "duplicate", None, f"identical to {posixpath.join(folder, same)} already in the library")
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


def plan(
    store: Store, items: list[Item], settings: Settings, placed: Mapping[str, tuple[str, str]] | None = None
) -> list[tuple[list[Decision], list[Move]]]:
    """Decisions for every item, grouped as they must move, with the store moves of each group."""
    groups, stays = group_items(items, settings.layout, placed)
    placer = Placer(store, settings.library)
    batch_dups = placer.batch_duplicates([i for g in groups for i in [g.lead] + [m.item for m in g.members]])
    planned: list[tuple[list[Decision], list[Move]]] = [([Decision(item, "skip", None, reason)], []) for item, reason in stays]
    for group in groups:
        decisions = placer.place(group, batch_dups)
        moves = [
            (d.item.path, posixpath.join(settings.library, d.destination))
            for d in decisions
            if d.destination is not None and settings.library is not None
        ]
        planned.append((decisions, moves))
    return planned


def execute(store: Store, journal: Journal, decisions: list[Decision], moves: list[Move]) -> None:
    """Move one group, journalled; a failure leaves the rest of the group in the inbox."""
    if not moves:
        return
    gid = journal.begin(moves)
    moved: list[Move] = []
    by_source = {d.item.path: d for d in decisions}
    for src, dst in moves:
        try:
            store.move(src, dst)
            moved.append((src, dst))
        except OSError as err:
            failed = by_source[src]
            failed.action, failed.destination = "skip", None
            failed.reason = f"could not move to {dst}: {err.strerror or err}; left in place"
            log.error("%s: %s", src, failed.reason)
            break
    journal.done(gid, moved)


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


def finish_interrupted(store: Store, journal_dir: Path) -> list[str]:
    """Complete every group of moves (or undo) a crash interrupted. Returns what it did."""
    notes: list[str] = []
    for path in sorted(journal_dir.glob("*.jsonl")) if journal_dir.is_dir() else []:
        state = read_journal(path)
        unfinished = state.unfinished()
        if not unfinished:
            continue
        journal = Journal(path)
        for gid, group in unfinished:
            if group.done is None:
                moved = [m for m in group.moves if _roll_forward(store, *m, notes)]
                journal.done(gid, moved)
            else:
                for src, dst in reversed(group.done):
                    _roll_forward(store, dst, src, notes)
                journal.write(op="undone", group=gid)
        journal.close()
    return notes


def _roll_forward(store: Store, src: str, dst: str, notes: list[str]) -> bool:
    if store.settle(src, dst):
        notes.append(f"finished interrupted move {src} -> {dst}")
        return True
    if store.exists(src) and not store.exists(dst):
        store.move(src, dst)
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
                store.move(dst, src)
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

