"""Which files a rule takes, which it spares and why: one verdict per file and rule. Pure: no I/O.

A file is taken by the first retention rule that matches it (it is gone after that); quality rules
each see every file that no retention rule took."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..core.layout import within
from .facts import FileFacts, kinds_of
from .model import INPUT_FORMATS, KEEP_TAG, Rule, glob_regex

NEW_PIXELS = frozenset({"convert", "downscale", "reencode", "reencode_video"})  # quality actions that decode and encode (strip_location does not)
REWRITES = frozenset({"downscale", "reencode", "strip_location", "reencode_video"})  # quality actions that rewrite the file in place

DAY = 86400.0


@dataclass(frozen=True)
class Scope:
    """Where rules look by default, and what they never touch (archives, the app's own state)."""

    library: str  # relative to the root ("" locally, where the library is the root)
    inboxes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()  # the app's state, and every rule's archive (archived files are not taken again)

    @classmethod
    def of(cls, library: str, inboxes: Iterable[str], rules: Iterable[Rule], state: Iterable[str] = ()) -> Scope:
        archives = tuple(rule.archive_to for rule in rules if rule.archive_to)
        return cls(library, tuple(inboxes), tuple(state) + archives)


@dataclass(frozen=True)
class Verdict:
    facts: FileFacts
    rule: Rule
    action: str  # the rule's action, or "exempt" (a file the rule would take, spared), or "skip" (cannot be judged)
    reason: str
    destination: str | None = None  # archive: the new path, relative to the root

    @property
    def acts(self) -> bool:
        """The rule's own action, not a file spared or skipped."""
        return self.action not in ("exempt", "skip")

    def record(self) -> dict[str, object]:
        change = expected_change(self) if self.acts and not self.rule.is_retention else None
        return {"source": self.facts.path, "rule": self.rule.name, "action": self.action,
                "destination": self.destination, "reason": self.reason, "size": self.facts.size} \
            | ({"expected_bytes": change} if change is not None else {})


JPEG_PER_HEIC = 1.5  # a JPEG at quality 90 is 1.3-1.7 times the HEIC's size (measured on real iPhone HEICs)


@lru_cache(maxsize=256)
def _glob(glob: str):  # type: ignore[no-untyped-def]
    return glob_regex(glob)


def in_folders(rule: Rule, facts: FileFacts, scope: Scope) -> bool:
    if any(within(facts.path, folder) for folder in scope.excluded if folder):
        return False
    if rule.folders:
        return any(_glob(glob).match(facts.folder) for glob in rule.folders)
    if not rule.is_retention:  # quality rules work on the library: what is still in an inbox is organised first
        return not waiting(facts.path, scope) and (scope.library == "" or within(facts.path, scope.library))
    return any(folder == "" or within(facts.path, folder) for folder in (scope.library, *scope.inboxes))


def _age_basis(rule: Rule, facts: FileFacts) -> tuple[float | None, str]:
    return {"capture": (facts.capture, "taken"), "upload": (facts.upload, "uploaded"),
            "modified": (facts.mtime, "modified")}[rule.age_from]


def _days(seconds: float) -> str:
    days = int(seconds // DAY)
    return f"{days} day" + ("" if days == 1 else "s")


def waiting(path: str, scope: Scope) -> bool:
    """In an inbox, not organised yet. The library may be an inbox itself (iOS uploads into its top folder, Nextcloud's
    default): what the organiser put in a folder below it is organised."""
    organised = bool(scope.library) and within(path, scope.library) and posixpath.dirname(path) != scope.library
    return not organised and any(within(path, inbox) for inbox in scope.inboxes)


def exemption(rule: Rule, facts: FileFacts) -> str | None:
    """Why the rule must spare this file, if it must."""
    on = rule.exemptions
    if "favorite" in on and facts.favorite:
        return "a favourite"
    if "keep" in on and KEEP_TAG in {t.lower() for t in facts.tags}:
        return f"tagged “{KEEP_TAG}”"
    if "shared" in on and facts.shared_by is not None:
        return "shared" if facts.shared_by == facts.path else f"in a shared folder ({facts.shared_by})"
    if "mount" in on and facts.mount:
        return f"on {facts.mount}, not in your own storage"
    if "edited" in on and facts.edited_after_upload:
        return "edited after it was uploaded"
    return None


def evaluate(rule: Rule, facts: FileFacts, now: float, scope: Scope) -> Verdict | None:
    """The rule's verdict on the file, or None when the rule does not concern it at all."""
    kinds = kinds_of(facts.path, facts.user_comment)
    if not kinds or (rule.kinds and not rule.kinds & kinds):
        return None
    if not in_folders(rule, facts, scope):
        return None
    if rule.names and not any(fnmatch.fnmatchcase(facts.name.lower(), glob.lower()) for glob in rule.names):
        return None
    if facts.size < rule.min_size:
        return None
    if rule.formats and facts.format not in rule.formats:
        return None
    if facts.format is not None and facts.format not in INPUT_FORMATS.get(rule.action, {facts.format}):
        return None  # a format the action cannot work on (known by content; an unknown one is checked when acting)
    if rule.duplicates and facts.duplicate_of is None:
        return None
    if rule.converted and facts.converted_to is None:
        return None
    if rule.larger_than_mp is not None and facts.megapixels is not None and facts.megapixels <= rule.larger_than_mp:
        return None
    if rule.action == "reencode_video" and facts.lines is not None and facts.lines <= rule.max_lines:
        return None
    why: list[str] = []
    if rule.duplicates:
        why.append(f"identical to {facts.duplicate_of}")
    if rule.converted:
        why.append(f"its JPEG {posixpath.basename(str(facts.converted_to))} is beside it (made by Mobile Backups)")
    if rule.is_retention:
        when, verb = _age_basis(rule, facts)
        if when is None:
            return Verdict(facts, rule, "skip", f"no {rule.age_from} time known: its age cannot be told")
        age = now - when
        assert rule.older_than_days is not None
        if age < rule.older_than_days * DAY:
            return None
        why.append(f"{verb} {_days(age)} ago")
    if facts.live_video:
        return Verdict(facts, rule, "skip", f"the video of a live photo ({facts.live_peer}): it goes and comes back with its still")
    if facts.live_peer and rule.action in NEW_PIXELS:
        return Verdict(facts, rule, "skip", f"the still of a live photo ({facts.live_peer}): a new or rewritten still would break the pair")
    spared = exemption(rule, facts)
    if spared:
        return Verdict(facts, rule, "exempt", spared)
    matched = sorted(kinds & rule.kinds) if rule.kinds else sorted(kinds)
    reason = "; ".join([" and ".join(matched)] + why + quality_note(rule, facts))
    return Verdict(facts, rule, rule.action, reason, destination(rule, facts, scope))


def quality_note(rule: Rule, facts: FileFacts) -> list[str]:
    """What a quality verdict should tell before it runs: what it makes, and what it costs or saves; for a rewrite,
    where the original will be kept, when the backend said so (`extra["keeps_original"]`)."""
    kept = facts.extra.get("keeps_original")
    if rule.delete_previous_version and facts.extra.get("version_deletion"):
        kept = None  # said by the note: it does not stay
    later = facts.extra.get("preview_note")  # the backend did not read this file for the preview
    return _quality_note(rule, facts) + ([f"the original is kept {kept}"] if kept and rule.action in REWRITES else []) + ([str(later)] if later else [])


def _quality_note(rule: Rule, facts: FileFacts) -> list[str]:
    if rule.action == "convert":
        return [f"{facts.format or 'HEIC'} to JPEG at quality {rule.quality}, beside it (both kept): for compatibility, "
                "not space (a JPEG is typically 1.3-1.7 times the HEIC's size)"]
    if rule.action == "downscale" and facts.megapixels:
        assert rule.to_mp is not None
        return [f"{facts.megapixels:.1f} MP to {rule.to_mp:g} MP, only if it saves at least {rule.min_saving_percent:g} %"]
    if rule.action == "reencode":
        return [f"again at quality {rule.quality}, only if it saves at least {rule.min_saving_percent:g} %"]
    if rule.action == "reencode_video":
        above = f"{facts.lines}p" if facts.lines else "above " + f"{rule.max_lines}p"
        return [f"{above} to {rule.max_lines}p in {rule.codec.upper()}, only if it saves at least {rule.min_saving_percent:g} %; "
                f"videos run last, at low priority, {rule.minutes_per_day:g} min of encoding a day"]
    if rule.action == "strip_location":
        done = "GPS and place names removed, pixels untouched"
        deletable = facts.extra.get("version_deletion")  # the backend says whether the server lets the app delete a version
        if rule.delete_previous_version:
            return [f"{done}; then the version that holds the location is deleted for good (cannot be undone); "
                    "older versions and the trash still hold it" if deletable else
                    f"{done}; the original keeps the location: "
                    + ("this server does not let apps delete versions" if deletable is False else "local mode keeps it in Originals/")]
        return [f"{done}; earlier versions and the trash still hold the location"
                + ("; delete_previous_version = true deletes the version this run makes" if deletable else "")]
    return []


def destination(rule: Rule, facts: FileFacts, scope: Scope) -> str | None:
    """Where an archived file goes: the archive folder, keeping the file's path below the library
    (Photos/2023/05/x → Archive/2023/05/x), or below the root for a file outside it; where a converted
    file's JPEG goes: beside it (the backend adds a counter when the name is taken)."""
    if rule.action == "convert":
        return posixpath.splitext(facts.path)[0] + ".jpg"
    if rule.action != "archive":
        return None
    assert rule.archive_to is not None
    return posixpath.join(rule.archive_to, below_library(facts.path, scope))


def below_library(path: str, scope: Scope) -> str:
    """A file's path below the library, or below the root for one outside it. Locally an inbox outside
    the library has absolute paths: its files keep the inbox's name (/home/u/Phone/x → Phone/x)."""
    if scope.library and within(path, scope.library):
        return path[len(scope.library) + 1:]
    if posixpath.isabs(path):
        inbox = next((i for i in scope.inboxes if within(path, i)), posixpath.dirname(path))
        return posixpath.join(posixpath.basename(inbox.rstrip("/")), path[len(inbox.rstrip("/")) + 1:])
    return path


def verdicts(rules: Iterable[Rule], files: Iterable[FileFacts], now: float, scope: Scope) -> list[Verdict]:
    """Every verdict of every rule, in rule order per file."""
    active = [rule for rule in rules if rule.enabled]
    found: list[Verdict] = []
    for facts in files:
        for rule in active:
            verdict = evaluate(rule, facts, now, scope)
            if verdict is None:
                continue
            found.append(verdict)
            if rule.is_retention and verdict.action == rule.action:
                break  # taken: later rules see it no more
    return found


def converted_copy(path: str, made: Iterable[tuple[str, str, str]]) -> tuple[str, str, str] | None:
    """Of what quality rules made from files of this size ((made path, its hash, the source's hash), paths as `path`'s),
    the JPEG beside `path`: same folder, its name the file's stem (with a counter, as a taken name gets)."""
    folder, stem = posixpath.dirname(path), posixpath.splitext(posixpath.basename(path))[0].lower()
    for found in made:
        name = posixpath.basename(found[0]).lower()
        if posixpath.dirname(found[0]) == folder and name.endswith(".jpg") and (name[:-4] == stem or name.startswith(stem + " (")):
            return found
    return None


def expected_change(verdict: Verdict) -> int | None:
    """Bytes a quality action is expected to add (+) or save (-), for a preview's totals; None when only trying tells.
    A JPEG beside a HEIC: JPEG_PER_HEIC times its size; a downscale or a video at fewer lines: the bytes in proportion
    to the pixels (bench/quality.py prints the estimate against what its files really did); a strip: nothing."""
    rule, facts = verdict.rule, verdict.facts
    if rule.action == "convert":
        return round(facts.size * JPEG_PER_HEIC)
    if rule.action == "strip_location":
        return 0
    if rule.action == "downscale" and facts.megapixels and rule.to_mp:
        return -round(facts.size * (1 - min(1.0, rule.to_mp / facts.megapixels)))
    if rule.action == "reencode_video" and facts.lines:
        return -round(facts.size * (1 - min(1.0, (rule.max_lines / facts.lines) ** 2)))
    return None
