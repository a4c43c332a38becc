"""The rule model: what a rule says, read from TOML (local mode) or the app's settings (Nextcloud),
and refused as a whole, with the rule and the problem named, before any file is read."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

KINDS = ("photo", "video", "screenshot", "messenger")
AGE_FROM = ("capture", "upload", "modified")
RETENTION_ACTIONS = ("trash", "archive", "tag")
QUALITY_ACTIONS = ("convert", "downscale", "reencode", "strip_location", "reencode_video")
CODECS = ("h264", "hevc")
ACTIONS = RETENTION_ACTIONS + QUALITY_ACTIONS
# Files a rule spares unless it says otherwise; every preview lists who was spared and why.
EXEMPTIONS = ("favorite", "keep", "shared", "mount", "edited")
FORMATS = ("jpeg", "heic", "avif", "png", "webp", "gif", "tiff", "dng", "mp4", "mov")
INPUT_FORMATS = {  # the formats (by content) each quality action can work on
    "convert": frozenset({"heic"}),
    "downscale": frozenset({"jpeg"}),
    "reencode": frozenset({"jpeg"}),
    "strip_location": frozenset({"jpeg", "heic", "mp4", "mov"}),
    "reencode_video": frozenset({"mp4", "mov"}),
}
KEEP_TAG = "keep"

_COMMON = {"name", "action", "kinds", "folders", "names", "min_size", "exemptions", "enabled"}
_KEYS = {
    "trash": {"older_than_days", "age_from", "duplicates", "converted", "archive_to"},  # archive_to: when the trash bin has no room
    "archive": {"older_than_days", "age_from", "duplicates", "converted", "archive_to"},
    "tag": {"older_than_days", "age_from", "duplicates", "converted", "tag"},
    "convert": {"formats", "to", "quality"},
    "downscale": {"formats", "larger_than_mp", "to_mp", "min_saving_percent"},
    "reencode": {"formats", "quality", "larger_than_mb", "min_saving_percent"},
    "strip_location": {"formats", "delete_previous_version"},
    "reencode_video": {"formats", "max_lines", "codec", "min_saving_percent", "minutes_per_day"},
}


class RulesError(ValueError):
    """One or more rules are wrong; `problems` names each rule and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    kinds: frozenset[str] = frozenset()  # empty: every photo and video
    folders: tuple[str, ...] = ()  # globs of folders below the root; empty: the library and the inboxes
    names: tuple[str, ...] = ()  # globs of file names
    min_size: int = 0  # bytes
    exemptions: frozenset[str] = frozenset(EXEMPTIONS)
    enabled: bool = True
    # retention
    older_than_days: int | None = None
    age_from: str = "capture"
    duplicates: bool = False  # only files of an inbox whose identical content is already in the library
    converted: bool = False  # only files a quality rule made a JPEG of, beside them (replacing a HEIC: an opt-in step)
    archive_to: str | None = None
    tag: str | None = None
    # quality
    formats: frozenset[str] = frozenset()
    to: str | None = None
    quality: int | None = None
    larger_than_mp: float | None = None
    to_mp: float | None = None
    larger_than_mb: float | None = None
    min_saving_percent: float = 25.0
    max_lines: int = 1080  # videos: re-encoded above this many lines on the short side, to it
    codec: str = "h264"
    minutes_per_day: float = 60.0  # videos: encoding time per day (they run after everything else, at low priority)
    delete_previous_version: bool = False  # strip location: then delete the version that still holds it (Nextcloud)
    extra: Mapping[str, object] = field(default_factory=dict, compare=False)

    @property
    def is_retention(self) -> bool:
        return self.action in RETENTION_ACTIONS


def _relative_folder(value: str) -> str | None:
    """A folder below the root, or None when it leaves it (absolute, `..`, empty)."""
    path = PurePosixPath(value.strip().strip("/")) if value.strip() else None
    if path is None or value.strip().startswith("/") or any(p in ("..", ".") for p in path.parts) or not path.parts:
        return None
    return str(path)


class _Reader:
    """Reads one rule's table, collecting every problem instead of stopping at the first."""

    def __init__(self, table: Mapping[str, object], label: str) -> None:
        self.table, self.label, self.problems = table, label, []

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.label}: {text}")

    def get(self, key: str, kind: type | tuple[type, ...], default: object = None) -> object:
        value = self.table.get(key, default)
        if value is default:
            return default
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.problem(f"{key} must be {_kind_name(kind)}, not {value!r}")
            return default
        if not isinstance(value, kind):
            self.problem(f"{key} must be {_kind_name(kind)}, not {value!r}")
            return default
        return value

    def strings(self, key: str, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{key} must be a list of strings")
            return ()
        if allowed is not None:
            for v in value:
                if v not in allowed:
                    self.problem(f"unknown {key[:-1] if key.endswith('s') else key} {v!r} (known: {', '.join(allowed)})")
        return tuple(v for v in value if allowed is None or v in allowed)

    def number(self, key: str, minimum: float, integer: bool = False) -> float | None:
        value = self.get(key, int if integer else (int, float))
        if value is not None and value < minimum:
            self.problem(f"{key} must be at least {minimum:g}, not {value}")
            return None
        return value  # type: ignore[return-value]


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_rule(table: Mapping[str, object], position: int) -> tuple[Rule | None, list[str]]:
    name = table.get("name")
    label = f"rule {position}" + (f" ({name!r})" if isinstance(name, str) and name else "")
    r = _Reader(table, label)
    if not isinstance(name, str) or not name.strip():
        r.problem("needs a name")
    action = table.get("action", "trash")
    if action not in ACTIONS:
        r.problem(f"unknown action {action!r} (known: {', '.join(ACTIONS)}; there is no permanent delete)")
        return None, r.problems
    for key in sorted(set(table) - _COMMON - _KEYS[action]):
        known_elsewhere = any(key in keys for keys in _KEYS.values())
        r.problem(f"key {key!r} does not apply to action {action!r}" if known_elsewhere else f"unknown key {key!r}")
    folders = r.strings("folders")
    for glob in folders:
        if glob.startswith("/") or ".." in glob.split("/"):
            r.problem(f"folder {glob!r} is outside the library (folders are relative, without '..')")
    names = r.strings("names")
    rule = Rule(
        name=str(name or "").strip(), action=str(action), kinds=frozenset(r.strings("kinds", KINDS)), folders=folders,
        names=names, min_size=int(r.number("min_size", 0, integer=True) or 0),
        exemptions=frozenset(r.strings("exemptions", EXEMPTIONS)) if "exemptions" in table else frozenset(EXEMPTIONS),
        enabled=bool(r.get("enabled", bool, True)), formats=frozenset(r.strings("formats", FORMATS)),
        min_saving_percent=float(r.number("min_saving_percent", 0) if "min_saving_percent" in table else 25.0),
    )
    if action in RETENTION_ACTIONS:
        days = r.number("older_than_days", 0, integer=True)
        if "older_than_days" not in table:
            r.problem("needs older_than_days (a rule that cleans up must say how old a file must be)")
        age_from = r.get("age_from", str, "capture")
        if age_from not in AGE_FROM:
            r.problem(f"age_from must be one of {', '.join(AGE_FROM)}, not {age_from!r}")
        archive_to = r.get("archive_to", str)
        if action == "archive" or "archive_to" in table:
            archive_to = _relative_folder(archive_to) if isinstance(archive_to, str) else None
            if archive_to is None:
                r.problem("archive_to must name a folder inside the library (relative, without '..')")
        tag = r.get("tag", str)
        if action == "tag" and not (isinstance(tag, str) and tag.strip()):
            r.problem("needs the tag to assign (tag = \"…\")")
        rule = replace(rule, older_than_days=days, age_from=age_from, duplicates=bool(r.get("duplicates", bool, False)),
                        converted=bool(r.get("converted", bool, False)),
                        archive_to=archive_to, tag=tag.strip() if isinstance(tag, str) else None)
    else:
        quality = r.number("quality", 1, integer=True)
        if quality is not None and quality > 100:
            r.problem(f"quality must be between 1 and 100, not {quality}")
        to = r.get("to", str)
        if action == "convert" and to not in ("jpeg", None):
            r.problem(f"convert can only make jpeg, not {to!r}")
        to_mp, larger = r.number("to_mp", 0.1), r.number("larger_than_mp", 0.1)
        if action == "downscale" and to_mp is None:
            r.problem("needs to_mp (the megapixels to downscale to)")
        if to_mp is not None and larger is not None and to_mp > larger:
            r.problem(f"to_mp ({to_mp:g}) is above larger_than_mp ({larger:g}): that would upscale")
        rule = replace(rule, to=to or ("jpeg" if action == "convert" else None), quality=quality or (90 if action in ("convert", "reencode") else None),
                        to_mp=to_mp, larger_than_mp=larger if larger is not None else to_mp, larger_than_mb=r.number("larger_than_mb", 0))
        if action == "strip_location":
            rule = replace(rule, delete_previous_version=bool(r.get("delete_previous_version", bool, False)))
        if action == "reencode_video":
            codec = r.get("codec", str, "h264")
            if codec not in CODECS:
                r.problem(f"codec must be one of {', '.join(CODECS)}, not {codec!r}")
            minutes = r.number("minutes_per_day", 0.0001)
            rule = replace(rule, codec=str(codec), max_lines=int(r.number("max_lines", 144, integer=True) or 1080),
                           minutes_per_day=float(minutes if minutes is not None else 60.0))
    return (None if r.problems else rule), r.problems


def parse_rules(document: Mapping[str, object]) -> list[Rule]:
    """Every rule of a document `{"rules": [...]}`; any problem refuses the whole document."""
    problems: list[str] = []
    unknown = sorted(set(document) - {"rules"})
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(map(repr, unknown))} (rules go in [[rules]] tables)")
    tables = document.get("rules", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise RulesError(problems + ["'rules' must be a list of tables ([[rules]])"])
    rules: list[Rule] = []
    for position, table in enumerate(tables, 1):
        rule, found = parse_rule(table, position)
        problems += found
        if rule is not None:
            rules.append(rule)
    names = [rule.name for rule in rules]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two rules are named {name!r}: each rule needs its own name (the journal and previews use it)")
    if problems:
        raise RulesError(problems)
    return rules


def load_rules(text: str) -> list[Rule]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RulesError([f"not valid TOML: {err}"]) from None
    return parse_rules(document)


_GLOB_PART = re.compile(r"\*\*|\*|\?|[^*?]+")


def glob_regex(glob: str) -> re.Pattern[str]:
    """A folder glob as a regex over `/`-separated paths: `**` any number of folders (none included),
    `*` and `?` within one name."""
    parts: list[str] = []
    for segment in glob.strip("/").split("/"):
        if segment == "**":
            parts.append("(?:[^/]+(?:/[^/]+)*)?")
            continue
        parts.append("".join("[^/]*" if t == "*" else "[^/]" if t == "?" else re.escape(t) for t in _GLOB_PART.findall(segment)))
    pattern = "/".join(parts).replace("/(?:[^/]+(?:/[^/]+)*)?", "(?:/[^/]+)*").replace("(?:[^/]+(?:/[^/]+)*)?/", "(?:[^/]+/)*")
    return re.compile(f"^{pattern}$", re.I)
