"""A stand-in Nextcloud on a real HTTP port: the few OCS and WebDAV calls the ExApp makes for its
settings, occ commands and notifications, answered the way AppAPI 34 answers them; with `files`,
users' files too (see DavFiles). `faults` makes it answer like a struggling server (see Faults); `outage`,
`deleted` and `refuse_app` like one that is down, that lost a user, or that no longer knows the app."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

APP_API = "/ocs/v1.php/apps/app_api/api/v1"
DAV_FILES = "/remote.php/dav/files/"
WEBHOOKS = "/ocs/v1.php/apps/webhook_listeners/api/v1/webhooks"
DAV_VERSIONS = "/remote.php/dav/versions/"
MULTISTATUS = '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'


def mime_of(name: str) -> str:
    """Nextcloud's mime type by extension (what the server guesses; the content may say otherwise)."""
    ext = name.rsplit(".", 1)[-1].lower()
    return {"heic": "image/heic", "heif": "image/heif", "mov": "video/quicktime"}.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class DavFiles:
    """Users' files in a local folder (ROOT/user/...), served as Nextcloud's WebDAV serves them: file ids,
    `Overwrite: F`, byte ranges, and the `files-live-photo` link of apps/files' SyncLivePhotosListener:
    moving one half of a linked pair moves the other to the same folder under the same base name first,
    and the move is refused when either name is taken there. A file written with `upload` has an upload
    time (`nc:upload_time`, kept by moves, searchable); one written to the folder directly has none (0), like
    a file Nextcloud's scanner found.

    PUT honours `If-Match`, `If-None-Match: *` and `X-OC-Mtime`; DELETE moves a file into the trash bin
    (`trash`). Versions as files_versions keeps them (`versions`, unless `versioning` is off or
    `block_versions` says a workflow blocks them): an overwrite stores the old content under its mtime
    (`.v<mtime>`: a later write with the same mtime replaces it), and the listing shows the current content
    under its mtime too, over a stored version of the same name (the pitfall the ExApp avoids)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock: Callable[[], float] = time.time  # what upload times are taken from
        self.ids: dict[tuple[str, str], int] = {}  # (user, path) -> file id
        self.uploaded: dict[int, int] = {}  # file id -> upload time
        self.uploads_of: dict[str, set[int]] = {}  # user -> the ids of their files with an upload time
        self.rel_of: dict[int, str] = {}  # file id -> path
        self.links: dict[int, int] = {}  # file id -> the id its files-live-photo metadata names
        self.moves: list[tuple[str, str, int]] = []  # (source, destination, status) of every MOVE asked for
        self.mkcols: list[tuple[str, int]] = []  # (path, status) of every MKCOL
        self.mkcol_window = 0.0  # seconds between MKCOL's check that the folder is missing and its mkdir
        self.versioning = True  # files_versions enabled (its capability)
        self.block_versions = False  # enabled, but a workflow blocks new versions (BlockVersioningOperation)
        self.versions: dict[int, dict[str, list]] = {}  # file id -> {mtime: [content, label]}
        self.trash: list[tuple[str, str, int, bytes]] = []  # (user, original path, file id, content)
        self.shared: list[str] = []  # paths the user shared (the OCS shares listing)

    def file_id(self, user: str, rel: str) -> int:
        file_id = self.ids.setdefault((user, rel), 1000 + len(self.ids))
        self.rel_of[file_id] = rel
        return file_id

    def upload(self, user: str, rel: str, data: bytes, mtime: float | None = None) -> Path:
        """A PUT: the file, with its upload time (now, by `clock`) and the file time the phone sends (X-OC-Mtime)."""
        path = self.root / user / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        self.stamp(user, rel)
        return path

    def stamp(self, user: str, rel: str) -> None:
        """The file at `rel` was uploaded now (what a PUT records)."""
        file_id = self.file_id(user, rel)
        self.uploaded[file_id] = int(self.clock())
        self.uploads_of.setdefault(user, set()).add(file_id)

    def uploaded_after(self, user: str, since: int) -> list[str]:
        """SEARCH by `nc:upload_time`: the user's files uploaded after `since`."""
        found = (self.rel_of[i] for i in list(self.uploads_of.get(user, ())) if self.uploaded[i] > since)
        return sorted(rel for rel in found if (self.root / user / rel).is_file())

    def path_of(self, user: str, file_id: int) -> str | None:
        return next((rel for (u, rel), i in self.ids.items() if u == user and i == file_id and (self.root / u / rel).exists()), None)

    def link(self, user: str, still: str, video: str, *, video_only: bool = False) -> None:
        """What the iOS app does after uploading both halves: each names the other's file id (only the video
        when the still had been moved before the app's PROPPATCH on its old path)."""
        a, b = self.file_id(user, still), self.file_id(user, video)
        self.links[b] = a
        if not video_only:
            self.links[a] = b

    def propfind(self, user: str, rel: str, depth: str) -> tuple[int, bytes]:
        target = self.root / user / rel
        if not target.exists():
            return 404, b""
        nodes = [rel] + (sorted(f"{rel}/{c.name}".strip("/") for c in target.iterdir()) if target.is_dir() and depth == "1" else [])
        return 207, ('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">'
                     + "".join(self._response(user, node) for node in nodes) + "</d:multistatus>").encode()

    def _response(self, user: str, rel: str) -> str:
        path = self.root / user / rel
        st, file_id = path.stat(), self.file_id(user, rel)
        found = [f"<oc:fileid>{file_id}</oc:fileid>", f"<d:getlastmodified>{formatdate(st.st_mtime, usegmt=True)}</d:getlastmodified>",
                 f'<d:getetag>"{st.st_mtime_ns:x}{st.st_ctime_ns:x}"</d:getetag>', f"<nc:upload_time>{self.uploaded.get(file_id, 0)}</nc:upload_time>",
                 "<d:creationdate>1970-01-01T00:00:00+00:00</d:creationdate>"]
        found.append("<d:resourcetype><d:collection/></d:resourcetype>" if path.is_dir() else
                     f"<d:resourcetype/><d:getcontentlength>{st.st_size}</d:getcontentlength><d:getcontenttype>{mime_of(rel)}</d:getcontenttype>")
        missing = []
        (found if file_id in self.links else missing).append(
            f"<nc:metadata-files-live-photo>{self.links[file_id]}</nc:metadata-files-live-photo>" if file_id in self.links else "<nc:metadata-files-live-photo/>")
        href = quote(f"{DAV_FILES}{user}/{rel}" + ("/" if path.is_dir() else ""))
        stats = [("200 OK", found)] + [("404 Not Found", missing)] * bool(missing)
        return f"<d:response><d:href>{href}</d:href>" + "".join(
            f"<d:propstat><d:prop>{''.join(props)}</d:prop><d:status>HTTP/1.1 {status}</d:status></d:propstat>" for status, props in stats) + "</d:response>"

    def get(self, user: str, rel: str, byte_range: str | None) -> tuple[int, bytes]:
        path = self.root / user / rel
        if not path.is_file():
            return 404, b""
        data = path.read_bytes()
        if byte_range and byte_range.startswith("bytes="):
            start, _, end = byte_range[6:].partition("-")
            return 206, data[int(start) : int(end) + 1 if end else None]
        return 200, data

    def etag(self, path: Path) -> str:
        st = path.stat()
        return f'"{st.st_mtime_ns:x}{st.st_ctime_ns:x}"'

    def put(self, user: str, rel: str, data: bytes, headers: object) -> int:
        path = self.root / user / rel
        if not path.parent.is_dir():
            return 409
        if path.exists() and headers.get("If-None-Match") == "*":  # type: ignore[attr-defined]
            return 412
        wanted = headers.get("If-Match")  # type: ignore[attr-defined]
        if wanted and (not path.exists() or wanted != self.etag(path)):
            return 412
        existed = path.exists()
        if existed and self.versioning and not self.block_versions and path.stat().st_size:  # write_hook: Storage::store
            self.versions.setdefault(self.file_id(user, rel), {})[str(int(path.stat().st_mtime))] = [path.read_bytes(), ""]
        path.write_bytes(data)
        mtime = headers.get("X-OC-Mtime")  # type: ignore[attr-defined]
        if mtime:
            os.utime(path, (int(mtime), int(mtime)))
        self.file_id(user, rel)
        return 204 if existed else 201

    def delete(self, user: str, rel: str) -> int:
        path = self.root / user / rel
        if not path.is_file():
            return 404
        file_id = self.file_id(user, rel)
        self.trash.append((user, rel, file_id, path.read_bytes()))
        path.unlink()
        return 204

    def version_list(self, user: str, file_id: int) -> tuple[int, bytes]:
        rel = self.path_of(user, file_id)
        if rel is None:
            return 404, b""
        path = self.root / user / rel
        listed = {name: (len(content), label) for name, (content, label) in self.versions.get(file_id, {}).items()}
        current = str(int(path.stat().st_mtime))
        listed[current] = (path.stat().st_size, listed.get(current, (0, ""))[1])  # the current content, under its own mtime
        base = f"{DAV_VERSIONS}{user}/versions/{file_id}"
        return 207, (MULTISTATUS + f"<d:response><d:href>{base}/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype>"
                     "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                     + "".join(f"<d:response><d:href>{base}/{name}</d:href><d:propstat><d:prop><d:getcontentlength>{size}</d:getcontentlength>"
                               f"<nc:version-label>{label}</nc:version-label></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                               for name, (size, label) in sorted(listed.items())) + "</d:multistatus>").encode()

    def label(self, file_id: int, name: str, label: str) -> int:
        if name not in self.versions.get(file_id, {}):
            return 404
        self.versions[file_id][name][1] = label
        return 207

    def restore(self, user: str, file_id: int, name: str) -> int:
        """Storage::rollback: the current content becomes a version (if none has its mtime), the version's content
        is copied in, and the file gets the version's mtime."""
        rel = self.path_of(user, file_id)
        if rel is None or name not in self.versions.get(file_id, {}):
            return 404
        path = self.root / user / rel
        self.versions[file_id].setdefault(str(int(path.stat().st_mtime)), [path.read_bytes(), ""])
        path.write_bytes(self.versions[file_id][name][0])
        os.utime(path, (int(name), int(name)))
        return 204

    def search(self, user: str, body: bytes) -> list[str]:
        """SEARCH by file id (`d:eq` on oc:fileid: NextcloudStore.path_of, the live-photo peers), else every media file
        below the scopes: the rules' conditions are `match`'s to check."""
        if b"<oc:fileid/></d:prop><d:literal>" in body:
            ids = [int(i) for i in re.findall(rb"<oc:fileid/></d:prop><d:literal>(\d+)</d:literal>", body)]
            return [rel for i in ids if (rel := self.path_of(user, i)) is not None]
        if re.search(rb"<sd:firstresult[^>]*>([1-9]\d*)<", body):
            return []  # one page holds them all
        found: list[str] = []
        for scope in re.findall(rb"<d:href>/files/[^/<]+/?([^<]*)</d:href>", body):
            top = self.root / user / unquote(scope.decode())
            for path in sorted(top.rglob("*")) if top.is_dir() else []:
                rel = str(path.relative_to(self.root / user))
                if path.is_file() and mime_of(rel).startswith(("image/", "video/")) and rel not in found:
                    found.append(rel)
        return found

    def mkcol(self, user: str, rel: str) -> int:
        """As apps/dav answers it: 405 when the folder is there; when a MKCOL made it after this one's check
        (within `mkcol_window`), the mkdir fails and the answer is 403 ("Could not create directory")."""
        path = self.root / user / rel
        status = 405 if path.exists() else None
        if status is None:
            time.sleep(self.mkcol_window)
            try:
                path.mkdir()
                status = 201
            except FileExistsError:
                status = 403
        self.mkcols.append((rel, status))
        return status

    def move(self, user: str, src: str, dst: str, overwrite: bool) -> int:
        status = self._move(user, src, dst, overwrite)
        self.moves.append((src, dst, status))
        return status

    def _move(self, user: str, src: str, dst: str, overwrite: bool) -> int:
        source, target = self.root / user / src, self.root / user / dst
        if target.exists() and not overwrite:
            return 412  # Sabre checks the destination before the source
        if not source.exists():
            return 404
        file_id = self.file_id(user, src)
        peer = self.path_of(user, self.links[file_id]) if file_id in self.links else None
        if peer is not None:
            peer_target = target.parent / (target.name[: -len(source.suffix)] + Path(peer).suffix)
            if target.exists() or peer_target.exists() or not target.name.endswith(source.suffix):
                return 403  # AbortedEventException: "A file already exist at destination path of the Live Photo"
            self._rename(user, peer, str(peer_target.relative_to(self.root / user)))
        self._rename(user, src, dst)
        return 201

    def _rename(self, user: str, src: str, dst: str) -> None:
        (self.root / user / src).rename(self.root / user / dst)
        self.ids[(user, dst)] = self.ids.pop((user, src), None) or self.file_id(user, dst)
        self.rel_of[self.ids[(user, dst)]] = dst


@dataclass
class Faults:
    """A seeded schedule of faults: each request (method, path, range, destination, and how many times
    that very request was made before) draws its fate from a hash of the seed, so the schedule does not
    depend on the order in which threads make requests, and a repeated request draws again.
    `error`: answered 503; `stall`: nothing for `stall_seconds` (then answered, to a client that has
    given up); `cut`: the answer stops half way (no answer at all when it has no body); what a MOVE does
    happens before its answer is stalled or cut, as on a real server."""

    seed: int
    error: float = 0.10
    stall: float = 0.03
    cut: float = 0.02
    stall_seconds: float = 1.0
    seen: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def draw(self, key: str) -> str | None:
        with self.lock:
            self.seen[key] += 1
            digest = hashlib.sha256(f"{self.seed}|{key}|{self.seen[key]}".encode()).digest()
            chance = int.from_bytes(digest[:8], "big") / 2**64
            fate = "error" if chance < self.error else "stall" if chance < self.error + self.stall else \
                "cut" if chance < self.error + self.stall + self.cut else None
            if fate:
                self.injected[fate] += 1
            return fate


class FakeNextcloud:
    def __init__(self, files: Path | None = None) -> None:
        self.files = DavFiles(files) if files is not None else None
        self.faults: Faults | None = None
        self.outage: Callable[[str, str], bool] | None = None  # (method, path) -> answered 503
        self.stalled: Callable[[str, str], bool] | None = None  # (method, path) -> answered after a stall (Faults.stall_seconds, or 1 s)
        self.locked: Callable[[str, str], bool] | None = None  # (method, path) -> answered 423 Locked, nothing done
        self.deleted: set[str] = set()  # users that no longer exist: AppAPI answers 401 for them
        self.refuse_app = False  # the app is unregistered: every request answered 401 (a failed login to AppAPI)
        self.refused: list[tuple[str, str, str]] = []  # the requests answered 401 by the two above
        self.logs: list[tuple[int, str]] = []  # what was posted to the Nextcloud log
        self.calls: list[tuple[str, str, str]] = []  # (method, path, user) of every request, refused ones too
        self.admin: dict[str, str] = {}  # appconfig_ex
        self.preferences: dict[str, dict[str, str]] = {}  # preferences_ex, by user
        self.users: dict[str, dict] = {}  # uid -> {"groups": [...], "timezone": ..., "folders": {...}}
        self.notifications: list[tuple[str, dict]] = []
        self.webhooks: dict[int, dict] = {}  # webhook_listeners' webhooks, by id
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _user(self) -> str:
                raw = self.headers.get("AUTHORIZATION-APP-API", "")
                return base64.b64decode(raw).decode().split(":", 1)[0] if raw else ""

            def parse_request(self) -> bool:
                """Faults first: a request answered here (503, 401) goes no further."""
                if not super().parse_request():
                    return False
                self.fate = None
                path, user = unquote(urlsplit(self.path).path), self._user()
                fake.calls.append((self.command, path, user))
                if user in fake.deleted or fake.refuse_app:
                    fake.refused.append((self.command, path, user))
                    return self._refuse(401)
                if fake.outage is not None and fake.outage(self.command, path):
                    return self._refuse(503)
                if fake.locked is not None and fake.locked(self.command, path):
                    return self._refuse(423)
                if fake.stalled is not None and fake.stalled(self.command, path):
                    self.fate = "stall"
                elif fake.faults is not None:
                    key = "|".join((self.command, path, user, self.headers.get("Range", ""), self.headers.get("Destination", "")))
                    self.fate = fake.faults.draw(key)
                    if self.fate == "error":
                        return self._refuse(503)
                return True

            def _refuse(self, status: int) -> bool:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.close_connection = True
                self._answer(status, None)
                return False

            def _answer(self, status: int, data: object, content_type: str = "application/json") -> None:
                body = json.dumps({"ocs": {"meta": {"status": "ok"}, "data": data}}).encode() if content_type == "application/json" else data
                fate, self.fate = getattr(self, "fate", None), None
                if fate == "stall":
                    time.sleep(fake.faults.stall_seconds if fake.faults else 1.0)
                if fate == "cut" and not body:
                    self.close_connection = True  # "Remote end closed connection without response"
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))  # type: ignore[arg-type]
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2] if fate == "cut" else body)  # type: ignore[index, arg-type]
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a stall
                if fate == "cut":
                    self.close_connection = True

            def _body(self) -> dict:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}") if length else {}

            def _rel(self) -> str:
                return unquote(urlsplit(self.path).path).split(f"{DAV_FILES}{self._user()}/", 1)[-1].strip("/")

            def do_GET(self) -> None:
                path, user = urlsplit(self.path).path, self._user()
                fake.requests.append(("GET", path, user))
                if fake.files is not None and path.startswith(DAV_FILES):
                    return self._answer(*fake.files.get(user, self._rel(), self.headers.get("Range")), "application/octet-stream")
                if path == WEBHOOKS:
                    return self._answer(200, list(fake.webhooks.values()))
                if path == f"{APP_API}/users":
                    return self._answer(200, sorted(set(fake.users) - fake.deleted))
                if path == "/ocs/v2.php/apps/files_sharing/api/v1/shares" and fake.files is not None:
                    return self._answer(200, [{"path": f"/{p}"} for p in fake.files.shared])
                if path == "/ocs/v1.php/cloud/capabilities" and fake.files is not None:
                    files = {"bigfilechunking": True} | ({"versioning": True, "version_labeling": True, "version_deletion": True} if fake.files.versioning else {})
                    return self._answer(200, {"capabilities": {"files": files}})
                if path == "/ocs/v2.php/cloud/user" and user in fake.users:
                    info = fake.users[user]
                    return self._answer(200, {"id": user, "groups": info.get("groups", []), "timezone": info.get("timezone", ""),
                                              "quota": info.get("quota", {"quota": -3, "used": 0})})
                return self._answer(404, None)

            def do_POST(self) -> None:
                path, user, body = urlsplit(self.path).path, self._user(), self._body()
                fake.requests.append(("POST", path, user))
                if path.endswith("/get-values"):
                    store = fake.admin if "/ex-app/config/" in path else fake.preferences.get(user, {})
                    return self._answer(200, [{"configkey": k, "configvalue": store[k]} for k in body["configKeys"] if k in store])
                if path == f"{APP_API}/ex-app/preference":
                    fake.preferences.setdefault(user, {})[body["configKey"]] = body["configValue"]
                    return self._answer(200, None)
                if path == f"{APP_API}/log":
                    fake.logs.append((body["level"], body["message"]))
                    return self._answer(200, None)
                if path == f"{APP_API}/notification":
                    fake.notifications.append((user, body["params"]))
                    return self._answer(200, {"object_id": body["params"]["object_id"]})
                if path.startswith(WEBHOOKS):
                    webhook_id = int(path.rsplit("/", 1)[1]) if path != WEBHOOKS else 1 + max(fake.webhooks, default=0)
                    fake.webhooks[webhook_id] = {"id": webhook_id, "appId": "mobile_backups", **body}
                    return self._answer(200, fake.webhooks[webhook_id])
                if path.startswith(("/ocs/v1.php/apps/app_api/", "/ocs/v2.php/apps/app_api/")):
                    return self._answer(200, None)  # settings forms, Files actions, the top menu, occ commands: taken
                return self._answer(404, None)

            def do_PUT(self) -> None:
                assert fake.files is not None
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(fake.files.put(self._user(), self._rel(), data, self.headers), b"", "text/plain")

            def do_DELETE(self) -> None:
                path = urlsplit(self.path).path
                fake.requests.append(("DELETE", path, self._user()))
                if path.startswith(WEBHOOKS):
                    fake.webhooks.clear() if "/byappid/" in path else fake.webhooks.pop(int(path.rsplit("/", 1)[1]), None)
                    return self._answer(200, None)
                assert fake.files is not None
                version = re.match(rf"{DAV_VERSIONS}[^/]+/versions/(\d+)/(\d+)$", unquote(path))
                if version:  # VersionFile::delete: gone for good (versions have no trash bin)
                    found = fake.files.versions.get(int(version[1]), {}).pop(version[2], None)
                    return self._answer(204 if found is not None else 404, b"", "text/plain")
                self._answer(fake.files.delete(self._user(), self._rel()), b"", "text/plain")

            def do_PROPPATCH(self) -> None:
                assert fake.files is not None
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                found = re.match(rf"{DAV_VERSIONS}[^/]+/versions/(\d+)/(\d+)$", unquote(urlsplit(self.path).path))
                label = re.search(r"<nc:version-label>(.*?)</nc:version-label>", body)
                status = fake.files.label(int(found[1]), found[2], label[1] if label else "") if found else 403
                xml = MULTISTATUS + f"<d:response><d:href>{self.path}</d:href><d:propstat><d:prop><nc:version-label/></d:prop>" \
                    f"<d:status>HTTP/1.1 {'200 OK' if status == 207 else '404 Not Found'}</d:status></d:propstat></d:response></d:multistatus>"
                self._answer(207, xml.encode(), "application/xml")

            def do_MKCOL(self) -> None:
                assert fake.files is not None
                self._answer(fake.files.mkcol(self._user(), self._rel()), b"", "text/plain")

            def do_MOVE(self) -> None:
                assert fake.files is not None
                user = self._user()
                version = re.match(rf"{DAV_VERSIONS}[^/]+/versions/(\d+)/(\d+)$", unquote(urlsplit(self.path).path))
                if version:
                    restore = urlsplit(self.headers["Destination"]).path.endswith("/restore/target")
                    return self._answer(fake.files.restore(user, int(version[1]), version[2]) if restore else 403, b"", "text/plain")
                dst = unquote(urlsplit(self.headers["Destination"]).path).split(f"{DAV_FILES}{user}/", 1)[-1].strip("/")
                self._answer(fake.files.move(user, self._rel(), dst, self.headers.get("Overwrite", "T") != "F"), b"", "text/plain")

            def do_PROPFIND(self) -> None:
                path, user = unquote(urlsplit(self.path).path), self._user()
                fake.requests.append(("PROPFIND", path, user))
                if path.rstrip("/") == f"/remote.php/dav/trashbin/{user}/trash":
                    return self._trash(fake.users.get(user, {}).get("trash"))
                if fake.files is not None:
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    versions = re.match(rf"{DAV_VERSIONS}[^/]+/versions/(\d+)/?$", path)
                    if versions:
                        return self._answer(*fake.files.version_list(user, int(versions[1])), "application/xml")
                    return self._answer(*fake.files.propfind(user, self._rel(), self.headers.get("Depth", "1")), "application/xml")
                rel = path.split(f"/remote.php/dav/files/{user}/", 1)[-1].strip("/")
                if rel not in fake.users.get(user, {}).get("folders", ()):
                    return self._answer(404, b"", "application/xml")
                href = f"/remote.php/dav/files/{user}/{rel}/"
                xml = (f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:response><d:href>{href}</d:href>'
                       "<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><oc:fileid>9</oc:fileid></d:prop>"
                       "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>")
                return self._answer(207, xml.encode(), "application/xml")

            def _trash(self, sizes: list[int] | None) -> None:
                """The user's trash bin: one item per size (`trash` of the user); none (404) without the key,
                as when the Deleted files app is off."""
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if sizes is None:
                    return self._answer(404, b"", "application/xml")
                base = f"/remote.php/dav/trashbin/{self._user()}/trash/"
                items = "".join(f"<d:response><d:href>{base}f{n}.jpg.d{1700000000 + n}</d:href><d:propstat><d:prop><oc:fileid>{900 + n}</oc:fileid>"
                                f"<oc:size>{size}</oc:size></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
                                for n, size in enumerate(sizes))
                self._answer(207, ('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">'
                                   f"<d:response><d:href>{base}</d:href></d:response>{items}</d:multistatus>").encode(), "application/xml")

            def do_SEARCH(self) -> None:
                """What NextcloudStore.path_of and the rules ask (DavFiles.search: by file id, or the media files
                below the scopes) and the sweep's SEARCH for files uploaded after a time (a page of them:
                nresults from firstresult), in the user's files."""
                assert fake.files is not None
                user = self._user()
                fake.requests.append(("SEARCH", "", user))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                after = re.search(rb"<nc:upload_time/></d:prop><d:literal>(\d+)</d:literal>", body)
                if after:
                    first, count = (int(re.search(rb"<%s>(\d+)</" % tag, body)[1]) for tag in (rb"sd:firstresult xmlns:sd=\"[^\"]+\"", rb"d:nresults"))
                    rels = fake.files.uploaded_after(user, int(after[1]))[first : first + count]
                else:
                    rels = fake.files.search(user, body)
                xml = MULTISTATUS + "".join(fake.files._response(user, rel) for rel in rels) + "</d:multistatus>"
                self._answer(207, xml.encode(), "application/xml")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
