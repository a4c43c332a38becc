"""An append-only journal of moves: written and synced before each group of moves,
marked done after, so a crash at any moment can be finished and a run undone."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Move = tuple[str, str]


@dataclass
class Group:
    moves: list[Move]
    done: list[Move] | None = None  # what really moved
    undo_started: bool = False
    undone: bool = False


@dataclass
class JournalState:
    path: Path
    groups: dict[int, Group] = field(default_factory=dict)

    def unfinished(self) -> list[tuple[int, Group]]:
        return [(gid, g) for gid, g in self.groups.items() if g.done is None or (g.undo_started and not g.undone)]


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")
        self._next = max(read_journal(path).groups, default=0) + 1
        self._lock = threading.RLock()  # groups of a folder are moved side by side: their records never interleave

    @classmethod
    def new_run(cls, folder: Path, **meta: Any) -> Journal:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"run-{stamp}-{os.getpid()}.jsonl"
        journal = cls(path)
        journal.write(op="run", time=time.time(), **meta)
        return journal

    def write(self, sync: bool = True, **record: Any) -> None:
        """Append a record; flushed (a crash of the process keeps it), and with `sync` on disk before this returns."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())

    def begin(self, moves: list[Move]) -> int:
        return self.begin_many([moves])[0]

    def begin_many(self, groups: list[list[Move]]) -> list[int]:
        """Several groups' moves, on disk with one sync: each may then be made (and marked done) in turn.
        Any a crash leaves unmade is made by `finish_interrupted`, like one interrupted half way."""
        with self._lock:
            gids = list(range(self._next, self._next + len(groups)))
            self._next += len(groups)
            for n, (gid, moves) in enumerate(zip(gids, groups)):
                self.write(sync=n == len(groups) - 1, op="move", group=gid, moves=[list(m) for m in moves])
        return gids

    def done(self, gid: int, moved: list[Move]) -> None:
        """Not synced on its own: the next record's sync (or `close`) takes it to disk. Lost with the
        machine before that, the group reads as unfinished, and finishing it finds its moves done."""
        self.write(sync=False, op="done", group=gid, moved=[list(m) for m in moved])

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_journal(path: Path) -> JournalState:
    """The journal's groups; a torn last line (a crash mid-write) is ignored."""
    state = JournalState(path)
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            op, gid = record.get("op"), record.get("group")
            if op == "move":
                state.groups[gid] = Group([tuple(m) for m in record["moves"]])
            elif gid in state.groups:
                group = state.groups[gid]
                if op == "done":
                    group.done = [tuple(m) for m in record["moved"]]
                elif op == "undo":
                    group.undo_started = True
                elif op == "undone":
                    group.undone = True
    return state
