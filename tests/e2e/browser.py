"""Headless Chromium driven over the DevTools protocol (the system's `chromium`, websockets from the venv): enough
to open Nextcloud's pages as a user, run script in them, take screenshots and collect what the console said."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import websockets

from .nextcloud import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FRAME = "document.querySelector('iframe').contentDocument"  # the app's page inside Nextcloud's top-menu page


class Browser:
    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws, self.calls, self.waiting = ws, 0, {}
        self.console: list[str] = []  # console messages, exceptions and log entries (CSP violations among them), in order
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("id") in self.waiting:
                self.waiting.pop(msg["id"]).set_result(msg)
            elif msg.get("method") == "Runtime.consoleAPICalled":
                args = msg["params"]["args"]
                self.console.append(f"console.{msg['params']['type']}: " + " ".join(str(a.get("value", a.get("description", ""))) for a in args))
            elif msg.get("method") == "Runtime.exceptionThrown":
                details = msg["params"]["exceptionDetails"]
                self.console.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))} ({details.get('url', '')})")
            elif msg.get("method") == "Log.entryAdded":
                entry = msg["params"]["entry"]
                self.console.append(f"log {entry['source']}/{entry['level']}: {entry['text']} {entry.get('url', '')}")

    async def send(self, method: str, **params: object) -> dict:
        self.calls += 1
        future = asyncio.get_running_loop().create_future()
        self.waiting[self.calls] = future
        await self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        msg = await asyncio.wait_for(future, 60)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]

    async def js(self, expression: str) -> object:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:100]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def until(self, expression: str, timeout: float = 30) -> object:
        deadline = time.monotonic() + timeout
        while not (value := await self.js(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression} stayed false for {timeout} s")
            await asyncio.sleep(0.2)
        return value

    async def open(self, url: str) -> None:
        self.console.append(f"--- open {url}")
        await self.send("Page.navigate", url=url)
        await asyncio.sleep(0.3)
        await self.until("document.readyState === 'complete'")

    async def frame_ready(self) -> None:
        """The app's page has loaded in the top-menu page's frame and taken the theme (the frame is shown then)."""
        await self.until("(() => { const f = document.querySelector('iframe'); return !!f && f.style.visibility === 'visible'"
                         " && !!f.contentDocument && f.contentDocument.readyState === 'complete'; })()")
        await asyncio.sleep(0.3)

    async def size(self, width: int, height: int, mobile: bool = False) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)

    async def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode((await self.send("Page.captureScreenshot", format="png"))["data"]))

    async def press_tab(self) -> None:
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, key="Tab", code="Tab", windowsVirtualKeyCode=9)


@asynccontextmanager
async def chromium(basic_auth: tuple[str, str] | None = None) -> AsyncIterator[Browser]:
    """A fresh headless Chromium with one page; with `basic_auth`, every request carries it (Nextcloud then logs
    the browser in with the app password, as it does for the desktop and phone clients)."""
    assert CHROMIUM, "no chromium on this machine (apt install chromium)"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="mobile-backups-chromium-")
    process = subprocess.Popen([CHROMIUM, "--headless=new", f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--no-sandbox",
                                "--no-first-run", "--hide-scrollbars", "--window-size=1280,900", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = None
        for _ in range(150):
            try:
                page = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=1).json() if t["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration):
                await asyncio.sleep(0.2)
        assert page, "chromium did not open its DevTools port"
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as ws:
            browser = Browser(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                await browser.send(f"{domain}.enable")
            if basic_auth:
                token = base64.b64encode(":".join(basic_auth).encode()).decode()
                await browser.send("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {token}"})
            await browser.size(1280, 900)
            try:
                yield browser
            finally:
                browser.reader.cancel()
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
