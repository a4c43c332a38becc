"""Quality rules at upload, over real HTTP: the ExApp as a process against the stand-in Nextcloud with real
files. A user switches a quality rule on from the app's page; a HEIC the phone uploads afterwards is first
organised, and once that batch is over it gets its JPEG beside it in the library (a JPEG upload is left as
it is), journalled as a run "at upload" that the page's undo takes back. While files wait to be organised,
a run at upload waits for them."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx

from mobile_backups import samples
from mobile_backups.nextcloud.rules_app import AfterOrganising
from mobile_backups.rules.facts import FileFacts
from mobile_backups.rules.match import Verdict
from mobile_backups.rules.model import load_rules
from mobile_backups.samples import Exif
from fake_nextcloud import FakeNextcloud
from test_backlog import enable, until
from test_exapp_http import event, running_exapp, signed

MARCH = Exif(date_time_original="2024:03:02 10:00:00", offset_time_original="+01:00", make="Apple", model="iPhone 15 Pro")
HEIC, JPEG = "InstantUpload/IMG_1000.HEIC", "InstantUpload/IMG_1001.jpg"
ORGANISED = "Photos/2024/03/IMG_1000.HEIC"
MADE = "Photos/2024/03/IMG_1000.jpg"
RULE = {"name": "HEIC as JPEG too", "action": "convert", "formats": "heic", "quality": "90", "exemptions_shown": "1",
        "exemptions": ["favorite", "keep", "shared", "mount", "edited"], "owner": "mine"}


def files(fake: FakeNextcloud) -> set[str]:
    home = fake.files.root / "ann"
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}


def post(base: str, path: str, data: dict) -> httpx.Response:
    return httpx.post(base + path, data=data, headers=signed("ann"), timeout=60)


def test_a_switched_on_quality_rule_acts_on_new_uploads_after_they_are_organised_and_is_undone(tmp_path: Path) -> None:
    fake = FakeNextcloud(files=tmp_path / "files")
    fake.users = {"ann": {"groups": ["family"], "timezone": "Europe/Berlin"}}
    try:
        with running_exapp(fake.url, tmp_path / "storage", env={"TZ": "Europe/Berlin"}, output=subprocess.DEVNULL) as base:
            enable(base)
            assert post(base, "/rules/save", RULE).status_code == 200
            httpx.get(base + "/rules", params={"preview": RULE["name"], "owner": "mine"}, headers=signed("ann"), timeout=60)
            assert post(base, "/rules/switch", {"name": RULE["name"], "owner": "mine", "on": "1"}).status_code == 200

            for n, (path, kind) in enumerate(((HEIC, "heic"), (JPEG, "jpeg"))):
                made = samples.phone_photo(tmp_path / "phone" / path, kind, exif=MARCH, size=(320, 240), seed=n)
                fake.files.upload("ann", path, made.read_bytes())
                assert httpx.post(base + "/webhook", json=event(f"/ann/files/{path}"), headers=signed("")).status_code == 200
            until("both organised", lambda: {ORGANISED, "Photos/2024/03/IMG_1001.jpg"} <= files(fake), timeout=20)
            assert MADE not in files(fake), "organising comes first; the rule waits for the batch to be over"

            until("the JPEG beside the organised HEIC", lambda: MADE in files(fake), timeout=60)

            home = fake.files.root / "ann"
            assert (home / MADE).read_bytes()[:3] == b"\xff\xd8\xff" and (home / ORGANISED).is_file(), "both are kept"
            assert files(fake) == {ORGANISED, MADE, "Photos/2024/03/IMG_1001.jpg"}, "the JPEG upload is not a HEIC: left alone"
            [journal] = (tmp_path / "storage" / "rules-journals" / "ann").glob("run-*.jsonl")
            assert json.loads(journal.read_text().splitlines()[0])["trigger"] == "upload"

            page = httpx.get(base + "/rules", headers=signed("ann"), timeout=60).text
            assert f"<td>ann/{journal.stem}</td>" in page and "<td>at upload</td>" in page, "the page lists the run, with its undo"

            undone = post(base, "/rules/undo", {"run": f"ann/{journal.stem}"})

            assert undone.status_code == 200 and MADE not in files(fake), undone.text
            assert [rel for _, rel, _, _ in fake.files.trash] == [MADE], "what the run made is in the trash bin"
    finally:
        fake.close()


class Recorded:
    """A backend that notes when an action was rechecked."""

    def __init__(self) -> None:
        self.only: frozenset[str] | None = None
        self.rechecked: list[float] = []

    def recheck(self, verdict: Verdict) -> tuple[FileFacts | None, str | None]:
        self.rechecked.append(time.monotonic())
        return verdict.facts, None


def test_an_action_at_upload_waits_while_files_wait_to_be_organised() -> None:
    inner, stop, busy_until = Recorded(), threading.Event(), time.monotonic() + 1.5
    backend = AfterOrganising(inner, frozenset({"Photos/a.heic"}), lambda: time.monotonic() < busy_until, stop)  # type: ignore[arg-type]
    [rule] = load_rules('[[rules]]\nname = "HEIC"\naction = "convert"\n')
    verdict = Verdict(FileFacts("Photos/a.heic", 10, 0.0), rule, "convert", "")

    assert backend.recheck(verdict) == (verdict.facts, None)
    assert inner.rechecked[0] >= busy_until, "it acted while the organiser had files due"
    assert inner.only == frozenset({"Photos/a.heic"}), "the backend reads nothing of the other files"

    stop.set()
    busy_until = time.monotonic() + 60
    assert backend.recheck(verdict)[0] is None, "a stopping app acts no more"
