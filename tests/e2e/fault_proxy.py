"""A fault-injecting HTTP proxy between the ExApp and Nextcloud, on 127.0.0.1, for the e2e fault tests.

Each request is forwarded to Nextcloud, unless the seeded schedule says otherwise: `error` answers 503
without forwarding; `stall` forwards (the server acts) and then sends nothing for `stall_seconds`;
`cut` forwards and then sends half of the answer (none when it has no body) and closes the connection.
`outage(method, path)` answers 503 to whatever it matches, as a server under maintenance does.
The proxy shuts itself down after `lifetime` seconds whatever happens.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}


class FaultProxy:
    def __init__(self, upstream: str, seed: int, lifetime: float = 1800.0) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self.error = self.stall = self.cut = 0.0
        self.stall_seconds = 20.0
        self.outage: Callable[[str, str], bool] | None = None
        self.counts: Counter[str] = Counter()  # forwarded, error, stall, cut, outage
        self.answers: list[tuple[str, str, int]] = []  # (method, path, status) of what Nextcloud answered
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def handle_one_request(self) -> None:
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    self.close_connection = True  # the ExApp gave up on a stalled answer

            def __getattr__(self, name: str):
                if name.startswith("do_"):
                    return self.relay
                raise AttributeError(name)

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fate = proxy.fate(self.command, urlsplit(self.path).path)
                if fate in ("error", "outage"):
                    return self.answer(503, {"Content-Type": "text/plain"}, b"Service Unavailable (fault proxy)")
                status, headers, data = proxy.forward(self.command, self.path, self.headers, body)
                if fate == "stall":
                    time.sleep(proxy.stall_seconds)
                if fate == "cut" and not data:
                    self.close_connection = True  # "Remote end closed connection without response"
                    return
                self.answer(status, headers, data, cut=fate == "cut")

            def answer(self, status: int, headers: dict[str, str], data: bytes, cut: bool = False) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if cut else data)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="fault-proxy").start()
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()

    def faults(self, error: float = 0.0, stall: float = 0.0, cut: float = 0.0) -> None:
        with self._lock:
            self.error, self.stall, self.cut = error, stall, cut

    def fate(self, method: str, path: str) -> str | None:
        with self._lock:
            if self.outage is not None and self.outage(method, path):
                fate: str | None = "outage"
            else:
                chance = self._random.random()
                fate = ("error" if chance < self.error else "stall" if chance < self.error + self.stall
                        else "cut" if chance < self.error + self.stall + self.cut else None)
            self.counts[fate or "forwarded"] += 1
            return fate

    def forward(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict[str, str], bytes]:
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        if "Destination" in out:  # the ExApp names the proxy in a MOVE's destination: Nextcloud must see itself
            out["Destination"] = self.upstream_origin + urlsplit(out["Destination"]).path
        out["Host"] = f"{self.upstream_host}:{self.upstream_port}"
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            connection.request(method, path, body=body or None, headers=out)
            response = connection.getresponse()
            data = response.read()
            self.answers.append((method, urlsplit(path).path, response.status))
            kept = {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}
            return response.status, kept, data
        finally:
            connection.close()

    def close(self) -> None:
        self._timer.cancel()
        self.server.shutdown()
        self.server.server_close()
