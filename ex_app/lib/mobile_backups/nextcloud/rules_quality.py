"""Quality actions on Nextcloud: the file is downloaded into the app's storage (a work folder that
survives a restart), checked against the recheck's hash, transformed there by `pool.Worker` (time and
memory bounded, its result checked), and written back over WebDAV:

- `convert`: the JPEG is PUT beside the HEIC under a free name with `If-None-Match: *` (never over a
  file) and the HEIC's mtime (`X-OC-Mtime`); both are kept. Undo trashes the JPEG (DELETE) after
  checking its file id and hash.
- `downscale`, `reencode`, `strip_location`: PUT over the file with `If-Match: <etag>` (refused if it
  changed), so that files_versions keeps the original as a version. What the server does (checked in
  its code, 34, and on a real server): on a write, FileEventsListener::write_hook copies the current
  content to `files_versions/<path>.v<mtime>`; post_write_hook adds a version entity only when the new
  mtime differs from the old one, else it updates the old entity with the new size, so an overwrite
  with the same mtime hides the original, and the next write overwrites its `.v<mtime>` file. So the
  new file gets the old mtime + 1 s; the original's version (named by its mtime) is then found
  (PROPFIND versions/USER/versions/FILEID), labelled "Original, before Mobile Backups" (a labelled
  version is never expired: Storage::expire skips it) and checked by size before the step counts.
  Where files_versions is off (no `files.versioning` capability) or no version appeared, the
  downloaded original is uploaded into `<library>/Originals/`, mirroring its path, never over a file.
  Undo checks that the file is what the run made (hash), restores the version (MOVE to
  versions/USER/restore/target: the made content becomes a version itself) or trashes the made file
  and moves the Originals copy back, then verifies the hash.

A kill at any moment: the work copy of the original stays until the step is journalled as acted;
`settle` asks the server whether the PUT happened (hash of the file now) and finishes the label or
the Originals copy, or forgets the step.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from ..core.source import BlockReader
from ..rules.facts import FileFacts
from ..rules.local import format_of, gated
from ..rules.local_quality import Transforms
from ..rules.match import Scope, Verdict, below_library
from ..rules.quality import gates
from ..rules.runner import LeftAlone
from ..store import LocalStore
from .store import DAV, NC, DavError

if TYPE_CHECKING:
    import niquests

    from .rules_backend import NextcloudRulesBackend

ORIGINALS = "Originals"  # <library>/Originals/…: originals of rewrites where no version keeps them
LABEL = "Original, before Mobile Backups"
# What a quality rule may take, by the server's mime type (a first filter: the format is read from the content)
MIMES = {"photo": ("image/heic", "image/heif", "image/jpeg"), "video": ("video/quicktime", "video/mp4")}
MIME_FORMATS = {"image/heic": "heic", "image/heif": "heic", "image/jpeg": "jpeg", "video/quicktime": "mov", "video/mp4": "mp4"}
VERSION_PROPS = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:nc="http://nextcloud.org/ns"><d:prop>'
                 "<d:getcontentlength/><nc:version-label/></d:prop></d:propfind>")
MAX_COUNTER = 100
WORK_ROOM = 3  # a work copy, the result (at most as large, or a JPEG beside a HEIC), and room to spare
MIN_FREE = 512 * 1024 * 1024  # the app's storage also holds its queue and journals


def mimes_for(kinds: frozenset[str]) -> tuple[str, ...]:
    wanted = {"video"} if kinds == {"video"} else {"photo"} if kinds and "video" not in kinds else {"photo", "video"}
    return tuple(m for kind in sorted(wanted) for m in MIMES[kind])


def sha256(path: Path) -> str:
    """A work copy's content hash, as the local store reads it."""
    return LocalStore().digest(str(path))[0]


class NextcloudQuality:
    """The quality half of `NextcloudRulesBackend`: facts for the preview, plan (at recheck), act, settle, undo."""

    def __init__(self, backend: NextcloudRulesBackend, work: Path) -> None:
        self.backend, self.store, self.work = backend, backend.store, work
        self._files: dict | None = None
        self._probes = 0
        self.transforms = Transforms(backend.guard, nice=5)  # below organising: transforming never delays it

    def close(self) -> None:
        self.transforms.close()

    # --- the preview ----------------------------------------------------------------------

    def gated(self, facts: FileFacts, actions: set[str]) -> FileFacts:
        """The facts with the format by content, the megapixels and the gates' refusals, from a bounded probe over
        ranged GETs; for rewrites, where the original will be kept. Past the backend's `preview_probes` files in one
        listing (a big library's preview must stay quick), the format is the server's mime type and the
        file is read when acted on."""
        limit = self.backend.preview_probes
        if limit is not None and self._probes >= limit:
            facts = replace(facts, format=MIME_FORMATS.get(str(facts.extra.get("mimetype"))),
                            extra={**facts.extra, "preview_note": f"not read in the preview (it reads {limit:,} files at most): "
                                                                  "its content is checked before anything is done"})
        else:
            self._probes += 1
            with self.store.open(facts.path, facts.size) as source:
                reader = BlockReader(source, seconds=gates.PROBE_SECONDS, max_bytes=gates.PROBE_BYTES)
                probe = gates.probe(reader)
                kind = format_of(reader.pread(0, 32)) if probe.problem is None else None
            facts = gated(replace(facts, format=kind), probe, actions)
        if actions - {"convert"}:
            keeps = "as a labelled version" if self.versions_on() else f"in {self.originals(facts.path)}"
            facts = replace(facts, extra={**facts.extra, "keeps_original": keeps})
        if "strip_location" in actions:
            facts = replace(facts, extra={**facts.extra, "version_deletion": self.versions_deletable()})
        return facts

    def _files_capabilities(self) -> dict:
        """The server's `files` capabilities (files_versions' among them), asked once per run."""
        if self._files is None:
            data = self.store.ocs("GET", "/ocs/v1.php/cloud/capabilities")
            self._files = (data.get("capabilities") or {}).get("files") or {} if isinstance(data, dict) else {}
        return self._files

    def new_listing(self) -> None:
        self._probes = 0

    def versions_on(self) -> bool:
        """Whether files_versions is enabled (its `files.versioning` capability)."""
        return bool(self._files_capabilities().get("versioning"))

    def versions_deletable(self) -> bool:
        """Whether a version may be deleted (`files.version_deletion`): strip location may then delete the one it made."""
        return self.versions_on() and bool(self._files_capabilities().get("version_deletion"))

    def originals(self, path: str) -> str:
        library = self.backend.library
        return posixpath.join(library, ORIGINALS, below_library(path, Scope(library, self.backend.inboxes)))

    # --- plan, at recheck -----------------------------------------------------------------

    def plan(self, verdict: Verdict, now: FileFacts) -> tuple[FileFacts | None, str | None]:
        """Download the file into the work folder (its hash is the recheck's), gate it again, and name what the
        step will write: the JPEG's free name, or where the original is kept."""
        node = self.store.stat(now.path)
        if node is None or (node.size, node.file_id) != (now.size, now.file_id):
            return None, "changed since the listing"
        self.work.mkdir(parents=True, exist_ok=True)
        room = shutil.disk_usage(self.work).free
        if room < WORK_ROOM * now.size + MIN_FREE:
            return None, (f"the app's storage has {room / 1e6:,.0f} MB free, too little for a work copy of this "
                          f"{now.size / 1e6:,.0f} MB file and its result: left as it is")
        local = self.work / f"{now.file_id}.original"
        digest, total = self._download(now.path, local)
        if total != now.size:
            local.unlink(missing_ok=True)
            return None, "changed while it was read"
        guard = self.backend.guard
        refusal = gates.refusal(gates.probe_path(local), verdict.action) or (guard.transformed(digest, verdict.rule.name) if guard else None)
        if refusal:
            local.unlink(missing_ok=True)
            return None, refusal
        plan: dict[str, object] = {"file_id": now.file_id, "path": now.path, "size": now.size, "mtime": now.mtime, "etag": node.etag,
                                   "hash": digest, "work": str(local), "new": str(self.work / f"{now.file_id}.new")}
        if verdict.action == "convert":
            plan["output"] = self._free(posixpath.splitext(now.path)[0] + ".jpg")
        else:
            plan["keep"] = "version" if self.versions_on() else "originals"
            plan["delete_version"] = verdict.rule.delete_previous_version and self.versions_deletable()
            plan["originals"] = self._free(self.originals(now.path))
        return replace(now, hash=digest, extra={**now.extra, "journal": plan}), None

    def _download(self, path: str, local: Path) -> tuple[str, int]:
        digest, total = hashlib.sha256(), 0
        with self.store.request("GET", path, stream=True) as response, open(local, "wb") as out:
            if response.status_code != 200:
                raise DavError(response.status_code, f"GET {path}: HTTP {response.status_code}")
            for chunk in self.store.chunks(response, f"GET {path}", 1 << 20):
                out.write(chunk)
                digest.update(chunk)
                total += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        return digest.hexdigest(), total

    def _free(self, wanted: str) -> str:
        stem, ext = posixpath.splitext(wanted)
        for n in range(1, MAX_COUNTER):
            name = wanted if n == 1 else f"{stem} ({n}){ext}"
            if not self.store.exists(name):
                return name
        raise FileExistsError(f"{wanted}: {MAX_COUNTER} names taken")

    # --- act ------------------------------------------------------------------------------

    def act(self, verdict: Verdict) -> dict[str, object]:
        plan = verdict.facts.extra["journal"]
        assert isinstance(plan, dict)
        try:
            change = self._written(verdict, plan)
        except LeftAlone:
            self._not_written(plan)
            raise
        except OSError:
            if not self._landed(verdict, plan):  # an answer lost after the server wrote the file is not a failure
                self._not_written(plan)
                raise
            change = "written (the server's answer was lost)"
        if verdict.action == "convert":
            done = {"made": self._made(str(plan["output"]), Path(str(plan["new"]))), "destination": plan["output"], "change": change}
            self._clean(plan)
            return done
        # from here on the file on the server is the new one: the work copy stays until the original is shown to be kept
        done = {"made": self._made(str(plan["path"]), Path(str(plan["new"]))), "original": self._original(plan), "change": change}
        done["destination"] = done["original"].get("originals") or f"{plan['path']} (original kept as a version)"  # type: ignore[union-attr]
        self._clean(plan)
        return done

    def _written(self, verdict: Verdict, plan: dict[str, object]) -> str:
        """Transform the work copy and PUT the result (a rewrite: after its original is in Originals/, if it goes there);
        the sizes before and after. Raises LeftAlone, or OSError, while the server's file is still the original."""
        local, new = Path(str(plan["work"])), Path(str(plan["new"]))
        if not local.is_file() or sha256(local) != plan["hash"]:
            raise LeftAlone("its downloaded copy is gone or differs from what was checked: not transformed")
        result = self.transforms(verdict, local, new)
        if result.skipped:
            raise LeftAlone(result.skipped)
        if verdict.action == "convert":
            if not self._put(new, str(plan["output"]), {"If-None-Match": "*"}, plan["mtime"]):
                raise LeftAlone(f"{plan['output']} was taken meanwhile: not written (the next run takes a free name)")
        else:
            if plan["keep"] == "originals":
                self._keep_in_originals(plan)
            mtime = plan["mtime"] if plan["keep"] == "originals" else int(plan["mtime"]) + 1  # type: ignore[call-overload]
            if not self._put(new, str(plan["path"]), {"If-Match": f'"{plan["etag"]}"'}, mtime):
                raise LeftAlone("changed since it was checked (the server refused the overwrite): left as it is")
        return f"{result.bytes_before:,} → {result.bytes_after:,} bytes"

    def _landed(self, verdict: Verdict, plan: dict[str, object]) -> bool:
        """Whether the new file is on the server (asked after a PUT whose answer failed)."""
        new = Path(str(plan["new"]))
        target = str(plan["output"] if verdict.action == "convert" else plan["path"])
        return new.is_file() and self.store.exists(target) and self.store.digest(target)[0] == sha256(new)

    def _put(self, local: Path, path: str, condition: dict[str, str], mtime: object) -> bool:
        """PUT under a condition; False when the server refused it (412: the name is taken, or the file changed)."""
        with open(local, "rb") as body:
            response = self.store.request("PUT", path, data=body, headers={**condition, "X-OC-Mtime": str(int(mtime))})  # type: ignore[call-overload]
        if response.status_code == 412:
            return False
        if response.status_code == 413:
            raise LeftAlone(f"the server refused {local.stat().st_size / 1e6:,.0f} MB in one upload (HTTP 413: its upload limit, "
                            "e.g. nginx client_max_body_size): left as it is")
        if response.status_code not in (200, 201, 204):
            raise DavError(response.status_code, f"PUT {path}: HTTP {response.status_code} {response.text[:200]}")
        return True

    def _made(self, path: str, local: Path | None) -> dict[str, object]:
        """What the run made, as the server has it now (its hash: the local file's, checked by size, or read back)."""
        node = self.store.stat(path)
        if node is None:
            raise FileNotFoundError(f"{path}: not there after it was written")
        if local is not None and local.is_file() and local.stat().st_size == node.size:
            digest = sha256(local)
        else:
            digest = self.store.digest(path)[0]
        return {"path": path, "file_id": node.file_id, "size": node.size, "hash": digest}

    def _original(self, plan: dict[str, object]) -> dict[str, object]:
        """Where the original is kept now: its labelled version, or a copy in Originals/ (uploaded now when no
        version appeared); raises when neither can be shown to hold it."""
        kept = {"path": plan["path"], "hash": plan["hash"], "size": plan["size"], "mtime": plan["mtime"]}
        if plan["keep"] == "version":
            version = self._version(plan)
            if version is not None and plan.get("delete_version"):  # the rule asks the location to go with it
                self._deleted(self.store.dav("DELETE", f"versions/{self.store.user}/versions/{plan['file_id']}/{version}"),
                              f"deleting the version {version} of {plan['path']}")
                return kept | {"version": version, "deleted": True}
            if version is not None:
                return kept | {"version": version}
            self._keep_in_originals(plan)
        node = self.store.stat(str(plan["originals"]))
        if node is None or node.size != plan["size"]:
            raise OSError(f"the original of {plan['path']} is not in {plan['originals']}: its copy stays at {plan['work']}")
        return kept | {"originals": plan["originals"], "originals_id": node.file_id}

    def _version(self, plan: dict[str, object]) -> str | None:
        """The original's version (named by its mtime, of its size), labelled; None when there is none."""
        name = str(int(plan["mtime"]))  # type: ignore[call-overload]
        versions = self._versions_of(plan["file_id"])
        if versions.get(name, (None, ""))[0] != plan["size"]:
            return None
        if versions[name][1] != LABEL:
            body = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:nc="http://nextcloud.org/ns"><d:set><d:prop>'
                    f"<nc:version-label>{escape(LABEL)}</nc:version-label></d:prop></d:set></d:propertyupdate>")
            response = self.store.dav("PROPPATCH", f"versions/{self.store.user}/versions/{plan['file_id']}/{name}",
                                      headers={"Content-Type": "application/xml"}, data=body.encode())
            if response.status_code != 207 or " 200 " not in response.text:
                raise DavError(response.status_code, f"labelling the version {name} of {plan['path']}: HTTP {response.status_code}")
        return name

    def _versions_of(self, file_id: object) -> dict[str, tuple[int | None, str]]:
        """A file's versions: name (its mtime) -> (size, label); the current content is one of them."""
        found = self.store.dav_multistatus("PROPFIND", f"versions/{self.store.user}/versions/{file_id}", VERSION_PROPS, depth=1)
        versions = {}
        for element in found[1:]:
            name = posixpath.basename(unquote(urlsplit(element.findtext(f"{DAV}href", "")).path).rstrip("/"))
            size = element.findtext(f".//{DAV}getcontentlength")
            versions[name] = (int(size) if size and size.isdigit() else None, (element.findtext(f".//{NC}version-label") or "").strip())
        return versions

    def _keep_in_originals(self, plan: dict[str, object]) -> None:
        """Upload the downloaded original into Originals/ (never over a file; one already there with its hash is ours)."""
        target = str(plan["originals"])
        if self.store.exists(target) and self.store.digest(target)[0] == plan["hash"]:
            return  # uploaded before a kill
        self.store.make_folders(posixpath.dirname(target))
        if not self._put(Path(str(plan["work"])), target, {"If-None-Match": "*"}, plan["mtime"]):
            if self.store.digest(target)[0] != plan["hash"]:
                raise FileExistsError(f"{target} was taken meanwhile: {plan['path']} left as it is")

    def _not_written(self, plan: dict[str, object]) -> None:
        """The file on the server was not rewritten: the work copy is not needed, nor a copy this step put into
        Originals/ while the original is still in its place (it goes to the trash bin; the next run makes its own)."""
        kept = plan.get("originals")
        if plan.get("keep") == "originals" and kept and self.store.exists(str(kept)):
            try:
                if self.store.digest(str(kept))[0] == plan["hash"] == self.store.digest(str(plan["path"]))[0]:
                    self._delete(str(kept))
            except OSError:
                pass  # a copy too many in Originals/ loses nothing
        self._clean(plan)

    def _clean(self, plan: dict[str, object]) -> None:
        for key in ("work", "new"):
            Path(str(plan[key])).unlink(missing_ok=True)

    # --- settle after a kill ----------------------------------------------------------------

    def settle(self, record: dict[str, object]) -> dict[str, object] | None:
        """Whether the PUT happened (the server's file now, by hash); then the label or the Originals copy is
        finished, or the step forgotten. The work copy goes once the answer is known."""
        plan = record.get("backend") or {}
        assert isinstance(plan, dict)
        new = Path(str(plan["new"]))
        if record["action"] == "convert":
            output = str(plan["output"])
            node = self.store.stat(output)
            ours = new.is_file() and sha256(new) == self.store.digest(output)[0] if node is not None and new.is_file() else \
                node is not None and node.mtime == int(plan["mtime"])  # type: ignore[call-overload]  # the work files go only after the PUT
            if not ours:
                self._clean(plan)
                return None  # not written, or the name was taken by another file
            done = {"made": self._made(output, None), "destination": output}
            self._clean(plan)
            return done
        node = self.store.stat(str(plan["path"]))
        if node is None or node.file_id != plan["file_id"]:
            self._clean(plan)
            return None
        now = self.store.digest(str(plan["path"]))[0]
        if now == plan["hash"] or (new.is_file() and sha256(new) != now):
            self._clean(plan)
            return None  # the PUT did not happen (or someone else's did: the original is in its version then)
        done = {"made": self._made(str(plan["path"]), None), "original": self._original(plan)}
        self._clean(plan)
        return done

    # --- undo ---------------------------------------------------------------------------------

    def undo(self, record: dict[str, object]) -> str:
        done = record.get("undo") or {}
        assert isinstance(done, dict)
        made = done["made"]
        path = str(made["path"])
        if record["action"] == "convert":
            node = self.store.stat(path)
            if node is None:
                return f"{path}: already gone"
            if node.file_id != made["file_id"] or self.store.digest(path)[0] != made["hash"]:
                raise OSError(f"{path} changed since the run made it: left as it is")
            self._delete(path)
            return f"{path}: made by the run, moved to the trash bin (the HEIC is where it was)"
        original = done["original"]
        if original.get("deleted"):
            return f"{path}: its original was deleted after the strip, as the rule asked (delete_previous_version): nothing to put back"
        node = self.store.stat(path)
        now = self.store.digest(path)[0] if node is not None else None
        if now == original["hash"]:
            return f"{path}: already back"
        if node is not None and now != made["hash"]:
            raise OSError(f"{path} changed since the run: left as it is; its original is "
                          + (f"the version labelled “{LABEL}”" if "version" in original else f"at {original.get('originals')}"))
        if "version" in original:
            self._restore_version(made["file_id"], str(original["version"]), path)
            how = "its labelled version restored"
        else:
            kept = str(original["originals"])
            copy = self.store.stat(kept)
            if copy is None or copy.file_id != original.get("originals_id") or self.store.digest(kept)[0] != original["hash"]:
                raise OSError(f"the original of {path} is gone from {kept} or differs: nothing changed")
            if node is not None:
                self._delete(path)  # what the run made goes to the trash bin
            self.store.move(kept, path)
            how = f"its original moved back from {kept} (the rewritten file is in the trash bin)"
        if self.store.digest(path)[0] != original["hash"]:
            raise OSError(f"{path}: not the original after the undo (sha256 differs)")
        return f"{path}: {how}, verified by sha256"

    def _delete(self, path: str) -> None:
        self._deleted(self.store.request("DELETE", path), f"DELETE {path}")

    @staticmethod
    def _deleted(response: niquests.Response, what: str) -> None:
        """A DELETE's answer: 200 or 204, else the error."""
        if response.status_code not in (200, 204):
            raise DavError(response.status_code, f"{what}: HTTP {response.status_code} {(response.text or '')[:200]}")

    def _restore_version(self, file_id: object, name: str, path: str) -> None:
        base = f"{self.store.auth.nextcloud_url.rstrip('/')}/remote.php/dav/versions/{quote(self.store.user)}"
        response = self.store.dav("MOVE", f"versions/{self.store.user}/versions/{file_id}/{name}",
                                  headers={"Destination": f"{base}/restore/target"})
        if response.status_code not in (201, 204):
            raise DavError(response.status_code, f"{path}: restoring the version {name}: HTTP {response.status_code} {response.text[:200]}")

