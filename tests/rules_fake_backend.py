"""A rules Backend (rules/runner.py) over users' files described in a JSON file, so that a test and
the ExApp it started in another process see the same files: trash, archive and tag change the
JSON, undo puts them back. Until the Nextcloud backend is merged, the ExApp tests run on this.

Started as the ExApp's main (`python rules_fake_backend.py` in ex_app/lib, RULES_FAKE_FILES=path),
it plugs itself in as the app's backend factory and runs main.py."""

from __future__ import annotations

import json
import os
import runpy
from collections.abc import Iterator
from pathlib import Path

from mobile_backups.nextcloud.rules_backend import Headroom
from mobile_backups.rules.facts import FileFacts
from mobile_backups.rules.match import Scope, Verdict
from mobile_backups.rules.model import Rule
from mobile_backups.rules.runner import RunStopped


def write_files(path: Path, users: dict[str, list[dict]]) -> None:
    path.write_text(json.dumps({"users": {u: {"files": files, "trash": []} for u, files in users.items()}}))


def read_files(path: Path, user: str) -> dict:
    return json.loads(path.read_text())["users"].setdefault(user, {"files": [], "trash": []})


def facts(d: dict) -> FileFacts:
    return FileFacts(**{**d, "tags": frozenset(d.get("tags", ()))})


class JsonBackend:
    def __init__(self, path: Path, user: str) -> None:
        self.path, self.user = path, user

    def _load(self) -> tuple[dict, dict]:
        everything = json.loads(self.path.read_text())
        return everything, everything["users"].setdefault(self.user, {"files": [], "trash": []})

    def _save(self, everything: dict) -> None:
        self.path.write_text(json.dumps(everything))

    def files(self, scope: Scope, rules: list[Rule], now: float) -> Iterator[FileFacts]:
        _, mine = self._load()
        return iter([facts({k: v for k, v in d.items() if k != "hash"}) for d in mine["files"]])  # hashed only by recheck

    def trash_room(self, trashing: list[Verdict]) -> RunStopped | None:
        """Nextcloud's trash budget (rules_backend.Headroom) over the user's `headroom` {"free", "trash"}, if any."""
        _, mine = self._load()
        room = mine.get("headroom")
        return Headroom(room["free"], 0, room["trash"]).stop(sum(v.facts.size for v in trashing), len(trashing)) if room else None

    def library_count(self) -> int:
        _, mine = self._load()
        return mine.get("library_count", len(mine["files"]))

    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]:
        _, mine = self._load()
        found = next((d for d in mine["files"] if d["file_id"] == verdict.facts.file_id), None)
        return (facts(found), None) if found else (None, "it is gone")  # with its `hash`, if it has one, as Nextcloud's recheck

    def act(self, verdict: Verdict) -> dict[str, object]:
        everything, mine = self._load()
        found = next(d for d in mine["files"] if d["file_id"] == verdict.facts.file_id)
        if verdict.action == "trash":
            mine["files"].remove(found)
            mine["trash"].append(found)
        elif verdict.action == "archive":
            found["path"] = verdict.destination
        elif verdict.action == "tag":
            found["tags"] = sorted({*found.get("tags", ()), verdict.rule.tag})
        self._save(everything)
        return {"file_id": found["file_id"], "from": verdict.facts.path}

    def settle(self, record: dict[str, object]) -> dict[str, object] | None:
        return None

    def undo(self, record: dict[str, object]) -> str:
        everything, mine = self._load()
        file_id = record["file_id"]
        if record["action"] == "trash":
            found = next(d for d in mine["trash"] if d["file_id"] == file_id)
            mine["trash"].remove(found)
            mine["files"].append(found)
        else:
            found = next(d for d in mine["files"] if d["file_id"] == file_id)
            found["path"] = record["path"]
        self._save(everything)
        return f"{record['path']}: put back"


if __name__ == "__main__":
    from mobile_backups.nextcloud import rules_app

    files = Path(os.environ["RULES_FAKE_FILES"])
    rules_app.backend_factory = lambda app: (lambda user: JsonBackend(files, user))
    runpy.run_path("main.py", run_name="__main__")
