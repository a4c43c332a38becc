"""The app's pages in headless Chromium as a plain user on a real Nextcloud: the top-menu page shows them in its
frame in the user's theme, the live example and the preview behave, and nothing is blocked by a Content-Security-Policy.
Skipped without a `chromium` on the machine. With E2E_SCREENSHOTS=DIR it also saves a screenshot of each page there
(settings, the organise preview, the clean-up rules with a rule's preview), for a reviewer's eyes."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest
from mobile_backups import samples
from mobile_backups.nextcloud.pages import NAV

from .browser import CHROMIUM, FRAME, chromium
from .test_nextcloud import phone_exif, upload

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt install chromium)")
EMBEDDED = "/index.php/apps/app_api/embedded/mobile_backups/mobile_backups"
PROXY = "/index.php/apps/app_api/proxy/mobile_backups"
CSP_WORDS = re.compile(r"Content[- ]Security[- ]Policy", re.I)


def folder_id(account, folder: str) -> int:
    found = account.send("PROPFIND", account.path_url(folder), headers={"Depth": "0"},
                         content='<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/></d:prop></d:propfind>').text
    return int(re.search(r"<oc:fileid>(\d+)</oc:fileid>", found)[1])


def test_the_pages_in_a_browser_as_a_plain_user(account, exapp, nextcloud, tmp_path):
    assert account.http.post(f"{PROXY}/settings", data={"organise": "0"}).status_code == 200
    upload(account, "Old phone", samples.jpeg(tmp_path / "IMG_7001.jpg", exif=phone_exif("2024:11:24 14:03:00", "+01:00"), size=(320, 240)),
           samples.jpeg(tmp_path / "IMG_20230405_101112.jpg", seed=2, size=(320, 240)))
    old_phone = folder_id(account, "Old phone")
    # the dark theme, as chosen in the user's appearance settings: our fallback (the default theme, light here) must not show
    exapp.nextcloud.occ("user:setting", account.user, "theming", "enabled-themes", '["dark"]', retries=3)
    shots = Path(os.environ["E2E_SCREENSHOTS"]) if os.environ.get("E2E_SCREENSHOTS") else None
    if shots:
        upload(account, "Photos/Screenshots", samples.png(tmp_path / "Screenshot_20240101-101010.png", size=(320, 240)))
        rule = {"name": "Old screenshots", "action": "trash", "kinds": "screenshot", "older_than_days": "30", "owner": "mine"}
        assert account.http.post(f"{PROXY}/rules/save", data=rule).status_code == 200

    async def shot(b, name: str) -> None:
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            await b.screenshot(shots / f"{name}.png")

    async def browse() -> tuple[dict, list[str]]:
        seen: dict = {}
        async with chromium((account.user, account.app_password)) as b:
            await b.open(nextcloud.url + EMBEDDED)
            await b.frame_ready()
            await shot(b, "settings")
            # the theme: Nextcloud's own values, copied from the top-menu page into the frame
            seen["theme"] = await b.js(f"""(() => {{ const mine = getComputedStyle(document.body), frame = getComputedStyle({FRAME}.documentElement);
                return ['--color-primary-element', '--color-main-background', '--font-face'].map(n => [mine.getPropertyValue(n).trim(),
                frame.getPropertyValue(n).trim()]); }})()""")
            seen["scheme"] = await b.js(f"[{FRAME}.documentElement.style.colorScheme, getComputedStyle({FRAME}.documentElement).backgroundColor]")
            seen["labels"] = await b.js(f"[...{FRAME}.querySelectorAll('input[type=text]')].map(i => i.labels.length)")
            # a bad layout typed: the problem at the field, the example of what stays in force, apart
            await b.js(f"(() => {{ const i = {FRAME}.getElementById('layout'); i.value = '{{year}}/{{nonsense}}'; i.dispatchEvent(new Event('input')); }})()")
            await b.until(f"!{FRAME}.getElementById('layout-problem').hidden")
            seen["problem"] = await b.js(f"{FRAME}.getElementById('layout-problem').textContent")
            seen["sentence"] = await b.js(f"{FRAME}.getElementById('example-sentence').textContent")
            seen["invalid"] = await b.js(f"{FRAME}.getElementById('layout').getAttribute('aria-invalid')")
            # the keyboard: from the first link of the navigation, Tab passes the others, reaches the checkbox, then the first field
            await b.js(f"{FRAME}.querySelector('nav a').focus()")
            for _ in range(len(NAV) + 1):
                await b.press_tab()
            seen["focused"] = await b.js(f"{FRAME}.activeElement.id")
            # the preview, as the Files action opens it
            await b.open(f"{nextcloud.url}{EMBEDDED}/preview?fileIds={old_phone}")
            await b.frame_ready()
            seen["summary"] = await b.js(f"{FRAME}.querySelector('main p').textContent")
            seen["why"] = await b.js(f"[...{FRAME}.querySelectorAll('tbody tr')].map(r => r.lastElementChild.textContent)")
            await shot(b, "organise-preview")
            if shots:
                await b.open(f"{nextcloud.url}{PROXY}/rules?preview=Old%20screenshots&owner=mine#preview")  # the page itself
                await asyncio.sleep(2)
                await shot(b, "rules-preview")
            await b.size(390, 844, mobile=True)
            await b.open(f"{nextcloud.url}{EMBEDDED}/preview?fileIds={old_phone}")
            await b.frame_ready()
            seen["phone widths"] = await b.js(f"[{FRAME}.documentElement.scrollWidth, {FRAME}.documentElement.clientWidth]")
            clean = list(b.console)
            # the check itself: a script our policy forbids is reported
            await b.js(f"(() => {{ const s = {FRAME}.createElement('script'); s.textContent = '1'; {FRAME}.body.appendChild(s); }})()")
            await asyncio.sleep(1)
            seen["canary"] = [line for line in b.console[len(clean):] if CSP_WORDS.search(line)]
        return seen, clean

    seen, console = asyncio.run(browse())
    assert all(mine and mine == frame for mine, frame in seen["theme"]), seen["theme"]
    assert seen["theme"][0] == ["#0091f2", "#0091f2"] and seen["scheme"] == ["dark", "rgb(23, 23, 23)"], seen  # Nextcloud 34's dark theme
    assert seen["labels"] == [1, 1, 1]
    assert seen["problem"] == "unknown token {nonsense} in the layout template" and seen["invalid"] == "true"
    assert "unknown token" not in seen["sentence"] and "with the settings in force" in seen["sentence"], seen["sentence"]
    assert "Photos/2024/11/IMG_1234.jpg" in seen["sentence"]
    assert seen["focused"] == "inbox_folders"
    assert "would move 2 of 2 file(s)" in seen["summary"], seen["summary"]
    assert sorted(seen["why"]) == ["taken 2023-04-05 10:11 (date in the file name)", "taken 2024-11-24 14:03 +01:00 (EXIF)"], seen["why"]
    assert seen["phone widths"][0] <= seen["phone widths"][1]  # nothing wider than a phone's screen
    assert seen["canary"], "a CSP violation was not reported: the check below would see none"
    blocked = [line for line in console if CSP_WORDS.search(line)]
    assert not blocked, json.dumps(blocked, indent=1)
