"""The engine's `Store` on Nextcloud: WebDAV as the ExApp acting for one user.

AppAPI authenticates an ExApp's request as any user with the header
`AUTHORIZATION-APP-API: base64(user:secret)` (what nc_py_api's sessions send); nc_py_api
has no public byte-range or no-overwrite MOVE API, so this adapter speaks WebDAV itself
through the same HTTP library nc_py_api uses (niquests), synchronously, from the worker thread.
"""

from __future__ import annotations

import hashlib
import itertools
import posixpath
import random
import threading
import time
import xml.etree.ElementTree as ET
from base64 import b64encode
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

import niquests

from ..store import Entry, Unavailable

DAV = "{DAV:}"
OC = "{http://owncloud.org/ns}"
NC = "{http://nextcloud.org/ns}"
PROPS = ("<d:prop><d:getcontentlength/><d:getlastmodified/><d:resourcetype/><d:getetag/><oc:fileid/>"
         "<nc:metadata-files-live-photo/></d:prop>")
NAMESPACES = 'xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"'
PROPFIND_BODY = f'<?xml version="1.0"?><d:propfind {NAMESPACES}>{PROPS}</d:propfind>'
CONNECT_SECONDS = 5.0  # a server that has not taken the connection by then is not answering now
READ_SECONDS = 15.0  # this long without a byte of the answer is a stall: given up, tried again later
TIMEOUT = (CONNECT_SECONDS, READ_SECONDS)
RETRY_PAUSES = (0.5, 1.5)  # a read that failed fast (not a stall) is tried again at once after these pauses (jittered)
T = TypeVar("T")
SEARCH_NS = "https://github.com/icewind1991/SearchDAV/ns"  # the namespace of SEARCH's <firstresult>
SEARCH_PAGE = 5000  # results per SEARCH request
SEARCH_ORDER = ("<d:order><d:prop><d:getlastmodified/></d:prop><d:ascending/></d:order>"
                "<d:order><d:prop><d:displayname/></d:prop><d:ascending/></d:order>"
                "<d:order><d:prop><oc:size/></d:prop><d:ascending/></d:order>")


class Gate:
    """At most `limit` requests to Nextcloud at once, from every user's store together (the admin's
    bound on the app's load). A free place goes to the waiting user with the fewest requests under way,
    then to the one served least recently (then, among one user's, to a move before a read; then to the
    first to ask): users are served in turn,
    so one user's backlog does not hold up another's fresh upload, and a user's moves are not held up
    by the reads that run ahead of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._cond = threading.Condition()
        self._running: Counter[str] = Counter()  # user -> requests under way
        self._waiting: dict[int, tuple[str, bool]] = {}  # ticket -> (user, urgent)
        self._served: dict[str, int] = {}  # user -> the ticket last let through
        self._tickets = itertools.count()

    def _first(self) -> int:
        def turn(ticket: int) -> tuple[int, int, bool, int]:
            user, urgent = self._waiting[ticket]
            return self._running[user], self._served.get(user, -1), not urgent, ticket

        return min(self._waiting, key=turn)

    @contextmanager
    def slot(self, user: str, urgent: bool = False) -> Iterator[None]:
        with self._cond:
            ticket = next(self._tickets)
            self._waiting[ticket] = (user, urgent)
            while sum(self._running.values()) >= self.limit or self._first() != ticket:
                self._cond.wait()
            del self._waiting[ticket]
            self._running[user] += 1
            self._served[user] = ticket
            self._cond.notify_all()  # the next in turn may fit too (the limit was raised)
        try:
            yield
        finally:
            with self._cond:
                self._running[user] -= 1
                if not self._running[user]:
                    del self._running[user]
                self._cond.notify_all()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()


UNBOUNDED = Gate(1 << 30)  # a store of its own (tests, the command line): no bound
REQUESTS_KEY = "requests_at_once"  # the admin's bound (the admin form, or `occ app_api:app:config:set mobile_backups requests_at_once --value=N`)
REQUESTS_AT_ONCE = 4  # by default: Debian's php-fpm runs 5 children at most; one stays free for the users' own clients
MAX_REQUESTS = 64


def requests_at_once(value: str | None) -> int | None:
    """The bound the admin set: None when it is not a whole number from 1 to MAX_REQUESTS (absent: the default)."""
    if value is None or not value.strip():
        return REQUESTS_AT_ONCE
    return int(value) if value.strip().isdigit() and 1 <= int(value) <= MAX_REQUESTS else None


def transient(status: int) -> bool:
    """An answer about the server, not about the file: busy, down, locked for now, rate-limited."""
    return status >= 500 or status in (408, 423, 425, 429)


@dataclass(frozen=True)
class AppAuth:
    """What AppAPI gave the ExApp: where Nextcloud is, and the app's id, version and secret."""

    nextcloud_url: str
    app_id: str
    app_version: str
    secret: str
    aa_version: str = "2.2.0"

    def headers(self, user: str) -> dict[str, str]:
        return {
            "EX-APP-ID": self.app_id,
            "EX-APP-VERSION": self.app_version,
            "AA-VERSION": self.aa_version,
            "AUTHORIZATION-APP-API": b64encode(f"{user}:{self.secret}".encode()).decode(),
            "OCS-APIRequest": "true",
        }


@dataclass(frozen=True)
class Node:
    path: str  # relative to the user's files root, no leading slash
    size: int
    mtime: float | None
    is_folder: bool
    etag: str
    file_id: int | None
    live_peer: int | None = None  # the file id the phone app linked it with as a live photo (metadata files-live-photo)


class DavError(OSError):
    """A WebDAV answer the adapter cannot use; `status` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(DavError, Unavailable):
    """No usable answer now (connection refused or cut, a stall, 5xx, 423, 429): never a verdict on a file.
    `stalled`: no answer within the timeout (not worth an immediate retry)."""

    def __init__(self, status: int, message: str, stalled: bool = False) -> None:
        super().__init__(status, message)
        self.stalled = stalled


def again(call: Callable[[], T], only: tuple[int, ...] | None = None) -> T:
    """`call` (a read, or a MKCOL: safe to repeat), tried again at once after a fast transient failure:
    one 503 or cut answer in ten should not cost the whole folder a back-off. `only`: just after these
    statuses, for a change that is not safe to repeat unless the answer says nothing happened (423 Locked)."""
    for pause in (*RETRY_PAUSES, None):
        try:
            return call()
        except ServerUnavailable as err:
            if pause is None or err.stalled or (only is not None and err.status not in only):
                raise
            time.sleep(pause * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")


def responses(response: niquests.Response, what: str) -> list[ET.Element]:
    """The `d:response` elements of a multistatus answer; one cut mid-way is a ServerUnavailable."""
    try:
        return list(ET.fromstring(response.content).iter(f"{DAV}response"))
    except ET.ParseError as err:
        raise ServerUnavailable(response.status_code, f"{what}: incomplete answer ({err})") from err


def _stall(err: Exception) -> bool:
    return isinstance(err, niquests.Timeout) or "timed out" in str(err)


class NextcloudStore:
    """One user's files. Paths are relative to the user's root (`InstantUpload/IMG_1.jpg`).
    Every request gives up after `timeout` (connect, read) seconds of silence."""

    def __init__(self, auth: AppAuth, user: str, session: niquests.Session | None = None,
                 timeout: tuple[float, float] = TIMEOUT, gate: Gate = UNBOUNDED) -> None:
        self.auth = auth
        self.user = user
        self.timeout = timeout
        self.gate = gate
        self.http = session or niquests.Session()
        self.http.headers.update(auth.headers(user))
        self.root = f"{auth.nextcloud_url.rstrip('/')}/remote.php/dav/files/{quote(user)}/"
        self.requests = 0
        self._folders: set[str] = set()  # folders known to exist: no PROPFIND or MKCOL before a MOVE
        self._making = threading.Lock()  # folders are made one at a time: moves run side by side
        self._ids: dict[str, int] = {}  # path -> file id, as last listed
        self._paths: dict[int, str] = {}  # file id -> path, as last listed
        self._links: dict[str, int] = {}  # path -> the file id of its live-photo peer

    def ocs(self, method: str, path: str, payload: dict | None = None) -> object:
        """An OCS call (AppAPI config, webhooks, users) as this store's user ('' for the app itself);
        reads are tried again at once after a fast failure."""

        def call() -> object:
            response = self.send(method, self.auth.nextcloud_url.rstrip("/") + path, path, params={"format": "json"}, json=payload)
            if response.status_code >= 400:
                raise DavError(response.status_code, f"{method} {path}: HTTP {response.status_code}")
            try:
                return response.json()["ocs"]["data"]
            except (ValueError, KeyError, TypeError) as err:  # a cut or garbled answer
                raise ServerUnavailable(response.status_code, f"{method} {path}: not an OCS answer") from err

        return again(call) if method == "GET" or path.endswith("/get-values") else call()

    def url(self, path: str) -> str:
        return self.root + quote(path.strip("/"))

    def request(self, method: str, path: str, **kw: object) -> niquests.Response:
        return self.send(method, self.url(path), path, **kw)

    def send(self, method: str, url: str, what: str, **kw: object) -> niquests.Response:
        """One request; no answer in time, a cut one or a transient status is a ServerUnavailable."""
        self.requests += 1
        try:
            with self.gate.slot(self.user, urgent=method != "GET"):  # the answer's head is in: the server's work is done
                response = self.http.request(method, url, timeout=self.timeout, **kw)  # type: ignore[arg-type]
        except niquests.RequestException as err:
            raise ServerUnavailable(0, f"{method} {what}: {type(err).__name__}: {err}", stalled=_stall(err)) from err
        if transient(response.status_code):
            response.close()
            raise ServerUnavailable(response.status_code, f"{method} {what}: HTTP {response.status_code}")
        return response

    def chunks(self, response: niquests.Response, what: str, chunk: int = 65536) -> Iterator[bytes]:
        """The body of a streamed answer; one cut short (fewer bytes than it announced, or a broken
        connection or stall while reading) is a ServerUnavailable, never taken for the file's content."""
        total = 0
        try:
            for data in response.iter_content(chunk):
                total += len(data)
                yield data
        except niquests.RequestException as err:
            raise ServerUnavailable(0, f"{what}: answer cut after {total} bytes: {type(err).__name__}", stalled=_stall(err)) from err
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and total < int(announced):
            raise ServerUnavailable(0, f"{what}: answer cut after {total} of {announced} bytes")

    def multistatus(self, response: niquests.Response, what: str) -> list[Node]:
        return [self._node(r) for r in responses(response, what)]

    # --- reading -------------------------------------------------------------------

    def propfind(self, path: str, depth: int) -> list[Node]:
        return again(lambda: self._propfind(path, depth))

    def _propfind(self, path: str, depth: int) -> list[Node]:
        response = self.request("PROPFIND", path, headers={"Depth": str(depth), "Content-Type": "application/xml"}, data=PROPFIND_BODY)
        if response.status_code == 404:
            self._folders.discard(path.strip("/"))
            return []
        if response.status_code != 207:
            raise DavError(response.status_code, f"PROPFIND {path}: HTTP {response.status_code}")
        nodes = self.multistatus(response, f"PROPFIND {path}")
        for node in nodes:
            if node.is_folder:  # seen: no MKCOL for it before a MOVE into it
                self._folders.add(node.path)
            if node.file_id is not None:
                self._ids[node.path], self._paths[node.file_id] = node.file_id, node.path
            if node.live_peer is not None:
                self._links[node.path] = node.live_peer
            else:
                self._links.pop(node.path, None)
        return nodes

    def _node(self, element: ET.Element) -> Node:
        href = unquote(urlsplit(element.findtext(f"{DAV}href", "")).path)
        rel = href.split(f"/remote.php/dav/files/{self.user}/", 1)[-1].strip("/")
        prop = f"{DAV}propstat/{DAV}prop/"  # in every propstat: an unset property (the live-photo link) comes under 404
        modified = element.findtext(f"{prop}{DAV}getlastmodified")
        file_id = element.findtext(f"{prop}{OC}fileid")
        peer = (element.findtext(f"{prop}{NC}metadata-files-live-photo") or "").strip()
        return Node(
            path=rel,
            size=int(element.findtext(f"{prop}{DAV}getcontentlength") or 0),
            mtime=parsedate_to_datetime(modified).timestamp() if modified else None,
            is_folder=element.find(f"{prop}{DAV}resourcetype/{DAV}collection") is not None,
            etag=(element.findtext(f"{prop}{DAV}getetag") or "").strip('"'),
            file_id=int(file_id) if file_id else None,
            live_peer=int(peer) if peer.isdigit() else None,
        )

    def path_of(self, file_id: int) -> str | None:
        """The path of one of the user's files or folders by its id (WebDAV SEARCH), or None."""
        body = (
            f'<?xml version="1.0"?><d:searchrequest {NAMESPACES}><d:basicsearch><d:select>{PROPS}</d:select>'

            f"<d:from><d:scope><d:href>/files/{escape(self.user)}</d:href><d:depth>infinity</d:depth></d:scope></d:from>"
            f"<d:where><d:eq><d:prop><oc:fileid/></d:prop><d:literal>{int(file_id)}</d:literal></d:eq></d:where>"
            "</d:basicsearch></d:searchrequest>"
        )
        response = self.dav("SEARCH", "", data=body, headers={"Content-Type": "text/xml"})
        if response.status_code != 207:
            raise DavError(response.status_code, f"SEARCH fileid {file_id}: HTTP {response.status_code}")
        nodes = self.multistatus(response, f"SEARCH fileid {file_id}")
        return nodes[0].path if nodes else None

    # --- any DAV endpoint (SEARCH, trash bin, system tags) ----------------------------

    def dav(self, method: str, path: str, **kw: object) -> niquests.Response:
        """A request to `remote.php/dav/<path>` (`trashbin/USER/trash`, `systemtags`, ...), as this user."""
        return self.send(method, f"{self.auth.nextcloud_url.rstrip('/')}/remote.php/dav/{quote(path.strip('/'))}", f"{method} {path}", **kw)

    def dav_multistatus(self, method: str, path: str, body: str, depth: int | None = None, missing_ok: bool = True) -> list[ET.Element]:
        """The `d:response` elements of a PROPFIND or SEARCH on any DAV endpoint; [] for a missing path."""
        headers = {"Content-Type": "application/xml"} | ({"Depth": str(depth)} if depth is not None else {})
        response = self.dav(method, path, headers=headers, data=body.encode())
        if response.status_code == 404 and missing_ok:
            return []
        if response.status_code != 207:
            raise DavError(response.status_code, f"{method} {path}: HTTP {response.status_code} {(response.text or '')[:200]}")
        return responses(response, f"{method} {path}")

    def search(self, scopes: list[str], where: str, select: str, order: str = SEARCH_ORDER, page: int = SEARCH_PAGE) -> Iterator[ET.Element]:
        """Every `d:response` of a WebDAV SEARCH for files below the folders `scopes` (the whole subtree: Nextcloud
        ignores the scope's depth) matching the `d:where` XML `where`, page after page. The server answers 100
        results when asked for no limit, answers 404 for all when one scope is missing, and cannot order by file id, so pages go by offset over `order`: a file
        that moves between pages may be missed in one run (never taken twice: the caller keeps file ids)."""
        froms = "".join(f"<d:scope><d:href>{escape(posixpath.join(f'/files/{self.user}', s.strip('/')).rstrip('/'))}</d:href>"
                        "<d:depth>infinity</d:depth></d:scope>" for s in scopes)
        for offset in range(0, 10**9, page):
            body = (f'<?xml version="1.0"?><d:searchrequest {NAMESPACES}><d:basicsearch><d:select><d:prop>{select}</d:prop></d:select>'
                    f"<d:from>{froms}</d:from><d:where>{where}</d:where><d:orderby>{order}</d:orderby>"
                    f'<d:limit><d:nresults>{page}</d:nresults><sd:firstresult xmlns:sd="{SEARCH_NS}">{offset}</sd:firstresult></d:limit>'
                    "</d:basicsearch></d:searchrequest>")
            found = self.dav_multistatus("SEARCH", "", body, missing_ok=False)
            yield from found
            if len(found) < page:
                return

    def rel(self, element: ET.Element) -> str:
        """The path of a `d:response` below this user's files, relative to the user's root."""
        href = unquote(urlsplit(element.findtext(f"{DAV}href", "")).path)
        return href.split(f"/remote.php/dav/files/{self.user}/", 1)[-1].strip("/")

    def live_peer(self, path: str) -> str | None:
        """The path of the file the phone app linked with this one as a live photo, if it was listed."""
        peer = self._links.get(path)
        return self._paths.get(peer) if peer is not None else None

    def stat(self, path: str) -> Node | None:
        nodes = self.propfind(path, 0)
        return nodes[0] if nodes else None

    def entries(self, folder: str) -> list[Entry]:
        """The files directly in a folder."""
        return [Entry(n.path, n.size, n.mtime) for n in self.propfind(folder, 1)[1:] if not n.is_folder]

    def walk(self, folder: str) -> Iterator[Entry]:
        nodes = self.propfind(folder, 1)
        for node in sorted(nodes[1:], key=lambda n: n.path):
            if node.is_folder:
                yield from self.walk(node.path)
            else:
                yield Entry(node.path, node.size, node.mtime)

    def open(self, path: str, size: int | None = None) -> RangeSource:
        """Range reads of a file; with its size known from a listing, no PROPFIND first."""
        if size is None:
            node = self.stat(path)
            if node is None:
                raise FileNotFoundError(path)
            size = node.size
        return RangeSource(self, path, size)

    def head(self, path: str, length: int) -> bytes:
        """The first bytes of a file: one range request, no PROPFIND."""
        return again(lambda: self._head(path, length))

    def _head(self, path: str, length: int) -> bytes:
        with self.request("GET", path, headers={"Range": f"bytes=0-{length - 1}"}, stream=True) as response:
            if response.status_code not in (200, 206):
                raise DavError(response.status_code, f"GET {path} bytes 0-{length - 1}: HTTP {response.status_code}")
            data = b""
            for chunk in self.chunks(response, f"GET {path}"):
                data += chunk
                if len(data) >= length:
                    break
            return data[:length]

    def listdir(self, folder: str) -> dict[str, int]:
        nodes = self.propfind(folder, 1)
        return {posixpath.basename(n.path): n.size for n in nodes[1:] if not n.is_folder}

    def digest(self, path: str) -> tuple[str, int]:
        return again(lambda: self._digest(path))

    def _digest(self, path: str) -> tuple[str, int]:
        sha, total = hashlib.sha256(), 0
        with self.request("GET", path, stream=True) as response:
            if response.status_code != 200:
                raise DavError(response.status_code, f"GET {path}: HTTP {response.status_code}")
            for chunk in self.chunks(response, f"GET {path}", 1 << 20):
                sha.update(chunk)
                total += len(chunk)
        return sha.hexdigest(), total

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    # --- writing -------------------------------------------------------------------

    def make_folders(self, folder: str) -> None:
        """MKCOL each missing level. Two MKCOLs of one new folder race on the server: both pass its
        check that the folder is missing, one mkdir fails, and that one is answered 403 ("Could not
        create directory"), not 405. So they are sent one at a time, and any other answer than 201 or
        405 is believed only once a PROPFIND says the folder is not there."""
        parts = [p for p in folder.strip("/").split("/") if p]
        with self._making:
            for depth in range(1, len(parts) + 1):
                sub = "/".join(parts[:depth])
                if sub in self._folders:
                    continue
                status = again(lambda: self.request("MKCOL", sub).status_code)
                if status not in (201, 405) and not ((node := self.stat(sub)) is not None and node.is_folder):  # 405: it exists
                    raise DavError(status, f"MKCOL {sub}: HTTP {status}")
                self._folders.add(sub)

    def move(self, src: str, dst: str, expect: tuple[int, float | None] | None = None) -> None:
        """MOVE with `Overwrite: F`: a taken destination is a FileExistsError, never overwritten;
        a source gone since the listing is a FileNotFoundError. `expect` is not checked over WebDAV.

        Nextcloud moves a linked live photo's other half itself, to the same folder under the same
        base name: when that half's own MOVE then finds its destination taken (412) or its source gone
        (404), the move happened if the destination is the very file (same file id) and the source is gone.
        And it refuses (403) to move a half next to the other when that one is already there (a still
        organised before the phone app linked its video to it): that move takes a detour (`_detour`).
        """
        parent = posixpath.dirname(dst).strip("/")
        if parent and parent not in self._folders:
            self.make_folders(parent)
        response = self.request("MOVE", src, headers={"Destination": self.url(dst), "Overwrite": "F"})
        if response.status_code in (201, 204) or (response.status_code in (404, 412) and self.moved_with_peer(src, dst)):
            self._moved(src, dst)
            return
        if response.status_code == 403 and self._peer_waits_at(src, dst):
            self._detour(src, dst)
            return
        if response.status_code == 412:
            raise FileExistsError(f"{dst} exists")
        if response.status_code == 404:
            raise FileNotFoundError(f"{src} is gone")
        raise DavError(response.status_code, f"MOVE {src} -> {dst}: HTTP {response.status_code} {response.text[:200]}")

    def _peer_waits_at(self, src: str, dst: str) -> bool:
        """Whether the file `src` is linked with, as last listed, has `dst`'s folder and base name."""
        peer = self._paths.get(self._links.get(src, -1))
        return peer is not None and posixpath.splitext(peer)[0] == posixpath.splitext(dst)[0]

    def _detour(self, src: str, dst: str) -> None:
        """src -> `detour(dst)` (the server takes the waiting half along to the detour's base name), then
        -> dst (it takes it back): two MOVEs that leave both halves under their own names. A crash
        between them is finished by `settle`."""
        for a, b in ((src, detour(dst)), (detour(dst), dst)):
            response = self.request("MOVE", a, headers={"Destination": self.url(b), "Overwrite": "F"})
            if response.status_code not in (201, 204):
                raise DavError(response.status_code, f"MOVE {a} -> {b} (beside its live photo): HTTP {response.status_code} {response.text[:200]}")
            self._moved(a, b)

    def moved_with_peer(self, src: str, dst: str) -> bool:
        """Whether the file last listed at `src` is now at `dst` and no longer at `src`."""
        file_id = self._ids.get(src)
        if file_id is None:
            return False
        node = self.stat(dst)
        return node is not None and node.file_id == file_id and not self.exists(src)

    def _moved(self, src: str, dst: str) -> None:
        if (file_id := self._ids.pop(src, None)) is not None:
            self._ids[dst], self._paths[file_id] = file_id, dst
        if (peer := self._links.pop(src, None)) is not None:
            self._links[dst] = peer

    def settle(self, src: str, dst: str) -> bool:
        """A WebDAV MOVE is atomic: it happened iff the source is gone and the destination is there;
        a detour (see `move`) interrupted half way is finished."""
        if not self.exists(src) and not self.exists(dst) and self.exists(detour(dst)):
            self.move(detour(dst), dst)
        return self.exists(dst) and not self.exists(src)


def detour(path: str) -> str:
    """`IMG_1.MOV` -> `IMG_1.moving-live-photo.MOV`: the extension stays (Nextcloud keeps a live photo's extensions)."""
    stem, ext = posixpath.splitext(path)
    return f"{stem}.moving-live-photo{ext}"


class RangeSource:
    """A `ByteSource` over HTTP range requests."""

    def __init__(self, store: NextcloudStore, path: str, size: int) -> None:
        self.store, self.path, self.size = store, path, size

    def read_at(self, offset: int, length: int) -> bytes:
        if length <= 0 or offset >= self.size:
            return b""
        return again(lambda: self._read_at(offset, min(offset + length, self.size) - 1))

    def _read_at(self, offset: int, end: int) -> bytes:
        with self.store.request("GET", self.path, headers={"Range": f"bytes={offset}-{end}"}, stream=True) as response:
            what = f"GET {self.path} bytes {offset}-{end}"
            if response.status_code == 206:
                data = b"".join(self.store.chunks(response, what))
                if len(data) != end - offset + 1:
                    raise ServerUnavailable(206, f"{what}: {len(data)} bytes in the answer")
                return data
            if response.status_code == 200:  # the server ignored the range: take what we asked for
                data = b""
                for chunk in self.store.chunks(response, what):
                    data += chunk
                    if len(data) >= end + 1:
                        break
                return data[offset : end + 1]
            raise DavError(response.status_code, f"{what}: HTTP {response.status_code}")

    def __enter__(self) -> RangeSource:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
