"""The desktop trash of the freedesktop.org trash specification, for the local rules.

Files go there by send2trash's own implementation of the specification (its `plat_other`, not the
gio one it prefers when PyGObject is installed, whose names this module could not find again):
the home trash ($XDG_DATA_HOME/Trash) for a file on the home's filesystem, else that filesystem's
$topdir/.Trash/$uid (an admin-made, sticky .Trash) or $topdir/.Trash-$uid. send2trash does not say
where a file went, so it is found again by what it wrote: an info file `NAME.trashinfo` (or
`NAME N.ext.trashinfo` on a clash) whose Path is the file's old path (absolute, or relative to
$topdir), beside `files/NAME` of the same size and hash."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

from send2trash import plat_other

def desktop_trash(path: str) -> None:
    """Send a file to the user's trash (the module's docstring says where)."""
    plat_other.send2trash(path)


def _trash_dirs(path: str) -> list[tuple[Path, Path]]:
    """(trash folder, the folder its info paths are relative to) where a file of `path` may have gone:
    the home trash, then its filesystem's $topdir/.Trash/$uid and $topdir/.Trash-$uid."""
    home = Path(os.fsdecode(plat_other.HOMETRASH_B))
    found = [(home, Path(os.fsdecode(plat_other.XDG_DATA_HOME)))]
    topdir = Path(os.fsdecode(plat_other.find_mount_point(os.fsencode(os.path.dirname(path) or "."))))
    uid = str(os.getuid())
    found += [(topdir / ".Trash" / uid, topdir), (topdir / f".Trash-{uid}", topdir)]
    return [(folder, top) for folder, top in found if (folder / "info").is_dir()]


def _info_path(info: Path, topdir: Path) -> str | None:
    try:
        text = info.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Path="):
            value = unquote(line[5:], errors="surrogateescape")
            return value if value.startswith("/") else str(topdir / value)
    return None


def _trash_entries(source: str) -> Iterator[tuple[Path, Path]]:
    """(info file, trashed file) of every trash entry that came from `source`: only the info files
    of the names send2trash gives it are read, however full the trash is."""
    base, ext = os.path.splitext(os.path.basename(source))
    named = re.compile(re.escape(base) + r"( \d+)?" + re.escape(ext) + r"\.trashinfo")
    for folder, topdir in _trash_dirs(source):
        with os.scandir(folder / "info") as listing:
            names = sorted(entry.name for entry in listing if named.fullmatch(entry.name))
        for name in names:
            if _info_path(folder / "info" / name, topdir) == source:
                yield folder / "info" / name, folder / "files" / name[: -len(".trashinfo")]


def find_trashed(source: str, size: int, content_hash: str, digest: Callable[[Path], str]) -> tuple[str, str] | None:
    """(trashed file, its info file) of the newest trash entry of `source` with this size and hash."""
    newest: tuple[float, str, str] | None = None
    for info, trashed in _trash_entries(source):
        try:
            st = os.lstat(trashed)
        except OSError:
            continue
        if st.st_size == size and digest(trashed) == content_hash:
            when = info.stat().st_mtime
            if newest is None or when >= newest[0]:
                newest = (when, str(trashed), str(info))
    return None if newest is None else (newest[1], newest[2])


def remove_orphan_info(source: str) -> None:
    """An info file of `source` whose file never reached the trash (a kill between the two writes)."""
    for info, trashed in _trash_entries(source):
        if not os.path.lexists(trashed) and os.path.lexists(source):
            os.unlink(info)
