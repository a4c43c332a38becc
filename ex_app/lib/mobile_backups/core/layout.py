"""Layout templates: one validated template, one pure function from metadata to a path.

`{year}/{month}` (the default) names folders and keeps the original file name; a
template whose last part uses `{filename}` or `{stem}` names the file too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

DEFAULT_LAYOUT = "{year}/{month}"
MAX_NAME_BYTES = 250  # Nextcloud refuses longer names (oc_filecache; FilenameValidator)
UNNAMED = "unnamed"  # the visible name of a file whose name sanitises to nothing or to a dot file
TOKENS = (
    "year", "yy", "month", "month_name", "month_short", "day", "hour", "minute", "second",
    "week", "kind", "camera", "filename", "stem", "ext",
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December")
_TOKEN = re.compile(r"\{([^{}]*)\}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


class LayoutError(ValueError):
    """A template that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class Layout:
    template: str
    names_file: bool  # the last part of the template is the file name


def parse_layout(template: str) -> Layout:
    """Validate a template; raise LayoutError naming the problem."""
    if not template or not template.strip():
        raise LayoutError("the layout template is empty")
    if template.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", template):
        raise LayoutError(f"the layout template {template!r} must be relative to the library, not an absolute path")
    if "\\" in template:
        raise LayoutError(f"the layout template {template!r} contains '\\': separate folders with '/'")
    if re.search(r"[\x00-\x1f\x7f]", template):
        raise LayoutError("the layout template contains a control character")
    unknown = [t for t in _TOKEN.findall(template) if t not in TOKENS]
    if unknown:
        raise LayoutError(f"unknown token {{{unknown[0]}}} in the layout template; known tokens: " + " ".join(f"{{{t}}}" for t in TOKENS))
    if "{" in _TOKEN.sub("", template) or "}" in _TOKEN.sub("", template):
        raise LayoutError(f"unbalanced brace in the layout template {template!r}")
    parts = template.rstrip("/").split("/")
    for part in parts:
        if not part.strip():
            raise LayoutError(f"the layout template {template!r} has an empty folder name")
        if part.strip() in (".", ".."):
            raise LayoutError(f"the layout template {template!r} uses {part.strip()!r}, which could leave the library")
    last = parts[-1]
    return Layout("/".join(parts), names_file="{filename}" in last or "{stem}" in last)


def safe_name(value: str, limit: int = MAX_NAME_BYTES) -> str:
    """A file or folder name Nextcloud accepts: no separators or control characters,
    no trailing dots or spaces, at most `limit` UTF-8 bytes (the extension kept)."""
    name = _clean(value)
    return _fit(name or "_", limit)


def file_name(value: str, limit: int = MAX_NAME_BYTES) -> str:
    """`safe_name` for a file, and visible: a name that sanitises to nothing or to a dot file
    (` .jpg` would become the hidden `.jpg`) is `unnamed` with its extension (`unnamed.jpg`)."""
    name = _clean(value)
    if not name or name.startswith("."):
        rest = name.lstrip(". ")
        name = f"{UNNAMED}.{rest}" if rest else UNNAMED
    return _fit(name, limit)


def _clean(value: str) -> str:
    return _UNSAFE.sub("_", value).strip(" ").rstrip(". ")


def _fit(name: str, limit: int) -> str:
    if len(name.encode()) > limit:
        path = PurePosixPath(name)
        suffix = path.suffix if len(path.suffix.encode()) < 16 else ""
        stem = name[: len(name) - len(suffix)] if suffix else name
        stem = stem.encode()[: limit - len(suffix.encode())].decode(errors="ignore").rstrip(". ")
        name = stem + suffix
    return name


def with_counter(name: str, counter: int) -> str:
    """`IMG_1234.jpg` -> `IMG_1234 (2).jpg`, still within the name length limit."""
    path = PurePosixPath(name)
    mark = f" ({counter})"
    stem = path.stem.encode()[: MAX_NAME_BYTES - len(mark.encode()) - len(path.suffix.encode())].decode(errors="ignore")
    return f"{stem}{mark}{path.suffix}"


def token_values(taken: datetime, *, kind: str, camera: str | None, filename: str) -> dict[str, str]:
    path = PurePosixPath(filename)
    return {
        "year": f"{taken.year:04d}",
        "yy": f"{taken.year % 100:02d}",
        "month": f"{taken.month:02d}",
        "month_name": _MONTHS[taken.month - 1],
        "month_short": _MONTHS[taken.month - 1][:3],
        "day": f"{taken.day:02d}",
        "hour": f"{taken.hour:02d}",
        "minute": f"{taken.minute:02d}",
        "second": f"{taken.second:02d}",
        "week": f"{taken.isocalendar()[1]:02d}",
        "kind": kind,
        "camera": camera or "Unknown camera",
        "filename": filename,
        "stem": path.stem,
        "ext": path.suffix[1:],
    }


def render(layout: Layout, taken: datetime, *, kind: str, camera: str | None, filename: str) -> str:
    """The destination path, relative to the library root, of one file."""
    values = {k: _UNSAFE.sub("_", v) for k, v in token_values(taken, kind=kind, camera=camera, filename=filename).items()}
    rendered = [_TOKEN.sub(lambda m: values[m.group(1)], part) for part in layout.template.split("/")]
    if not layout.names_file:
        rendered.append(filename)
    elif not re.search(r"\{(filename|ext)\}", layout.template.rsplit("/", 1)[-1]):
        rendered[-1] = _clean(rendered[-1]) + PurePosixPath(filename).suffix
    return "/".join([safe_name(part) for part in rendered[:-1]] + [file_name(rendered[-1])])


def within(path: str, folder: str) -> bool:
    """The path is the folder or below it (`/`-separated paths)."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")
