"""AppAPI's signature on every request but /heartbeat, checked as nc_py_api checks it, but cheaply.

nc_py_api's `AppAPIAuthMiddleware` builds a whole `AsyncNextcloudApp` (its HTTP sessions) for every
request only to compare two headers with the app's id and secret from the environment: about a
millisecond each, most of what a webhook call costs the ExApp under a burst. The check here is the
same function, given one app built once.
"""

from __future__ import annotations

from nc_py_api import AsyncNextcloudApp
from nc_py_api.ex_app.integration_fastapi import HTTPConnection, HTTPException, _request_sign_check
from starlette.types import ASGIApp, Receive, Scope, Send


def checked_once(middleware: type) -> type:
    """`middleware` (nc_py_api's AppAPIAuthMiddleware, which main.py wires in) with one checker for all requests."""

    class Signed(middleware):  # type: ignore[misc, valid-type]
        def __init__(self, app: ASGIApp) -> None:
            super().__init__(app)
            self.checker = AsyncNextcloudApp()

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] not in ("http", "websocket") or scope["path"].lstrip("/") == "heartbeat":
                await self.app(scope, receive, send)
                return
            try:
                scope["username"] = _request_sign_check(HTTPConnection(scope), self.checker)
            except HTTPException as exc:
                await self._on_error(exc.status_code, exc.detail)(scope, receive, send)
                return
            await self.app(scope, receive, send)

    return Signed
