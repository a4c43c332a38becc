"""Quality actions on a local library (`python -m mobile_backups rules`).

The transform runs in a worker process, bounded in time and memory (rules/quality/pool.py), and
checks its own result before anything else is touched. Then:
- `convert`: the JPEG joins the HEIC under a free name beside it, with the HEIC's modification
  time; both are kept;
- `downscale`, `reencode`, `strip_location` rewrite in place: the new file is written under a
  hidden name beside the original, the original moves to Originals/ under the library root
  (mirroring its path, a free name there), then the new file takes the original's name and time.

A kill at any step leaves the original at its place or in Originals/ and the new file at most
once; `settle` finds out how far it got and finishes or forgets the step. Undo works by hash: a
new file changed since the run is left alone (and said so); one that is what the run made is
removed (it can be made again from the original, which comes back to its place).
"""

from __future__ import annotations

import errno
import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..core.layout import with_counter
from .match import Scope, Verdict, below_library
from .quality import gates, pool, video
from .quality.transforms import Result
from .runner import LeftAlone

if TYPE_CHECKING:
    from .local import LocalBackend

ORIGINALS = "Originals"  # LIBRARY/Originals/…: the originals of rewrites, mirroring the library
NEW = ".mobile-backups-new"  # a rewrite's new file, hidden beside the original until the original is away
STASH = ".mobile-backups-undone"  # an undo's new file, hidden while its original comes back
MAX_COUNTER = 10_000
MB = 1_000_000


def options(verdict: Verdict) -> dict[str, object]:
    """The transform's keyword arguments from the rule."""
    rule = verdict.rule
    if rule.action == "convert":
        return {"quality": rule.quality}
    if rule.action == "downscale":
        return {"above_mp": rule.larger_than_mp, "to_mp": rule.to_mp, "min_saving_percent": rule.min_saving_percent}
    if rule.action == "reencode":
        return {"quality": rule.quality, "larger_than_bytes": int((rule.larger_than_mb or 0) * MB),
                "min_saving_percent": rule.min_saving_percent}
    if rule.action == "reencode_video":
        return {"max_lines": rule.max_lines, "codec": rule.codec, "min_saving_percent": rule.min_saving_percent}
    return {}


def free(wanted: Path) -> Path:
    """`wanted`, or the first `name (N).ext` beside it that is free."""
    for counter in range(1, MAX_COUNTER):
        name = wanted if counter == 1 else wanted.with_name(with_counter(wanted.name, counter))
        if not os.path.lexists(name):
            return name
    raise OSError(errno.EEXIST, f"no free name for {wanted} after {MAX_COUNTER} tries")


class EncodingTime(Protocol):
    """Where the videos' daily encoding time is kept (the guard, per user)."""

    def video_seconds(self, day: str) -> float: ...
    def spend_video_seconds(self, day: str, seconds: float) -> None: ...


class Transforms:
    """A verdict's transform in a worker process (time and memory bounded): photos in one worker, videos in
    their own at low priority, within the rule's daily encoding time (kept by the guard). Both backends use it."""

    def __init__(self, guard: EncodingTime | None, nice: int = 0) -> None:
        self.guard = guard
        self.photos = pool.Worker(nice=nice)
        self.videos = pool.Worker(seconds=video.SECONDS + 60, nice=10)

    def __call__(self, verdict: Verdict, source: Path, output: Path) -> Result:
        job = partial(pool.ACTIONS[verdict.action], source, output, **options(verdict))
        if verdict.action != "reencode_video":
            return self.photos(job)
        guard, day = self.guard, time.strftime("%Y-%m-%d")
        budget = verdict.rule.minutes_per_day * 60
        if guard is not None and guard.video_seconds(day) >= budget:
            raise LeftAlone(f"today's encoding time for videos ({verdict.rule.minutes_per_day:g} min) is used up: a later run goes on")
        started = time.monotonic()
        try:
            return self.videos(job)
        finally:
            if guard is not None:
                guard.spend_video_seconds(day, time.monotonic() - started)

    def close(self) -> None:
        self.photos.close()
        self.videos.close()


class LocalQuality:
    """The quality half of `LocalBackend`: plan (at recheck), act, settle and undo one verdict."""

    def __init__(self, backend: LocalBackend) -> None:
        self.backend = backend
        self.transforms = Transforms(backend.guard)

    def close(self) -> None:
        self.transforms.close()

    def _digest(self, path: str | Path) -> str:
        return self.backend._digest(path)

    def plan(self, verdict: Verdict, now: dict[str, object]) -> tuple[dict[str, object] | None, str | None]:
        """What the journal needs before the step: the file, the new file's name and (rewrites) the original's."""
        source = Path(str(now["from"]))
        refusal = gates.refusal(gates.probe_path(source), verdict.action)
        if refusal:
            return None, refusal
        if verdict.action == "convert":
            return {"files": [now], "output": str(free(source.with_suffix(".jpg")))}, None
        temp = source.with_name(f".{source.name}{NEW}")
        if os.path.lexists(temp):
            os.unlink(temp)  # our own leftover (a transform killed before its step was journalled)
        scope = Scope("", tuple(self.backend.rel(i) for i in self.backend.inboxes))
        original = free(self.backend.library / ORIGINALS / below_library(self.backend.rel(source), scope))
        return {"files": [now], "output": str(temp), "original_to": str(original)}, None

    def act(self, verdict: Verdict) -> dict[str, object]:
        plan = verdict.facts.extra["journal"]
        entry = plan["files"][0]  # type: ignore[index]
        source, output = Path(entry["from"]), Path(plan["output"])  # type: ignore[index]
        output.parent.mkdir(parents=True, exist_ok=True)
        result = self.transforms(verdict, source, output)
        if result.skipped:
            raise LeftAlone(result.skipped)
        os.utime(output, (entry["mtime"], entry["mtime"]))  # type: ignore[index]
        change = f"{result.bytes_before:,} → {result.bytes_after:,} bytes"
        if verdict.action == "convert":
            return {"made": self._made(output), "destination": self.backend.rel(output), "change": change}
        original = Path(str(plan["original_to"]))
        original.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.backend.store.move(str(source), str(original), expect=(int(entry["size"]), entry["mtime"]))  # type: ignore[index]
        except OSError:
            os.unlink(output)  # the original stays where it is; so does nothing else
            raise
        os.link(output, source)  # the name is free now: never an overwrite
        os.unlink(output)
        return {"made": self._made(source), "original": self._original(entry, original),
                "destination": self.backend.rel(original), "change": change}

    def _made(self, path: Path) -> dict[str, object]:
        return {"path": str(path), "hash": self._digest(path), "size": path.stat().st_size}

    @staticmethod
    def _original(entry: dict[str, object], where: Path) -> dict[str, object]:
        return {"from": entry["from"], "to": str(where), "hash": entry["hash"], "size": entry["size"]}

    def settle(self, record: dict[str, object]) -> dict[str, object] | None:
        """After a kill: how far the step got. A convert happened if its JPEG exists (the transform links
        only a checked file); a rewrite happened once the original is in Originals/, and is finished now."""
        plan = record.get("backend") or {}
        entry = plan["files"][0]  # type: ignore[index]
        source, output = Path(entry["from"]), Path(plan["output"])  # type: ignore[index]
        if record["action"] == "convert":
            return {"made": self._made(output), "destination": self.backend.rel(output)} if output.exists() else None
        original = Path(str(plan["original_to"]))  # type: ignore[index]
        if not os.path.lexists(original):
            if os.path.lexists(output):
                os.unlink(output)  # the original never left: the new file is not used
            return None
        self.backend.store.settle(str(source), str(original))  # a move cut between its link and its unlink is finished
        if not os.path.lexists(source):
            if not os.path.lexists(output):
                self.backend.store.move(str(original), str(source))  # nothing to take its place: the original goes back
                return None
            os.link(output, source)
        if os.path.lexists(output):
            os.unlink(output)
        return {"made": self._made(source), "original": self._original(entry, original), "destination": self.backend.rel(original)}

    def undo(self, record: dict[str, object]) -> str:
        done = record.get("undo") or {}
        made = done["made"]  # type: ignore[index]
        where = Path(made["path"])
        if record["action"] == "convert":
            if not where.exists():
                return f"already gone: {where}"
            if self._digest(where) != made["hash"]:
                raise OSError(errno.EEXIST, f"{where} changed since the run made it: left as it is")
            os.unlink(where)
            return f"removed {where} (made by the run; the original is where it was)"
        original = done["original"]  # type: ignore[index]
        source, kept = Path(original["from"]), Path(original["to"])
        stash = source.with_name(f".{source.name}{STASH}")
        if os.path.lexists(stash):
            self.backend.store.settle(str(source), str(stash))  # an undo cut between the set-aside's link and unlink
        if os.path.lexists(source):
            now = self._digest(source)
            if now == original["hash"]:
                if os.path.lexists(kept):
                    self.backend.store.settle(str(kept), str(source))  # a put-back cut between its link and unlink
                self._drop(stash, made["hash"])
                return f"already back: {source}"
            if now != made["hash"]:
                raise OSError(errno.EEXIST, f"{source} changed since the run: left as it is; its original is at {kept}")
        if not kept.exists() or self._digest(kept) != original["hash"]:
            raise OSError(errno.ENOENT, f"the original of {source} is gone from {kept} or differs: nothing changed")
        if os.path.lexists(source):
            self.backend.store.move(str(source), str(stash))
        self.backend.store.move(str(kept), str(source))
        self._drop(stash, made["hash"])
        return f"put back the original of {source}"

    def _drop(self, path: Path, made_hash: object) -> None:
        """Remove a new file an undo set aside, if it is the one the run made."""
        if path.exists() and self._digest(path) == made_hash:
            os.unlink(path)
