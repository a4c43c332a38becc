"""A stand-in Nextcloud on a real HTTP port: the few OCS and WebDAV calls the ExApp makes for its
settings, occ commands and notifications, answered the way AppAPI 34 answers them."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

APP_API = "/ocs/v1.php/apps/app_api/api/v1"


class FakeNextcloud:
    def __init__(self) -> None:
        self.admin: dict[str, str] = {}  # appconfig_ex
        self.preferences: dict[str, dict[str, str]] = {}  # preferences_ex, by user
        self.users: dict[str, dict] = {}  # uid -> {"groups": [...], "timezone": ..., "folders": {...}}
        self.notifications: list[tuple[str, dict]] = []
        self.requests: list[tuple[str, str, str]] = []  # (method, path, user)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _user(self) -> str:
                raw = self.headers.get("AUTHORIZATION-APP-API", "")
                return base64.b64decode(raw).decode().split(":", 1)[0] if raw else ""

            def _answer(self, status: int, data: object, content_type: str = "application/json") -> None:
                body = json.dumps({"ocs": {"meta": {"status": "ok"}, "data": data}}).encode() if content_type == "application/json" else data
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))  # type: ignore[arg-type]
                self.end_headers()
                self.wfile.write(body)  # type: ignore[arg-type]

            def _body(self) -> dict:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}") if length else {}

            def do_GET(self) -> None:
                path, user = urlsplit(self.path).path, self._user()
                fake.requests.append(("GET", path, user))
                if path == f"{APP_API}/users":
                    return self._answer(200, sorted(fake.users))
                if path == "/ocs/v2.php/cloud/user" and user in fake.users:
                    info = fake.users[user]
                    return self._answer(200, {"id": user, "groups": info.get("groups", []), "timezone": info.get("timezone", "")})
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
                if path == f"{APP_API}/notification":
                    fake.notifications.append((user, body["params"]))
                    return self._answer(200, {"object_id": body["params"]["object_id"]})
                return self._answer(404, None)

            def do_PROPFIND(self) -> None:
                path, user = unquote(urlsplit(self.path).path), self._user()
                fake.requests.append(("PROPFIND", path, user))
                rel = path.split(f"/remote.php/dav/files/{user}/", 1)[-1].strip("/")
                if rel not in fake.users.get(user, {}).get("folders", ()):
                    return self._answer(404, b"", "application/xml")
                href = f"/remote.php/dav/files/{user}/{rel}/"
                xml = (f'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:response><d:href>{href}</d:href>'
                       "<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><oc:fileid>9</oc:fileid></d:prop>"
                       "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>")
                return self._answer(207, xml.encode(), "application/xml")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
