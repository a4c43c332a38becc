#!/usr/bin/env python3
"""Mobile Backups on a real Nextcloud, each number against a baseline measured in the same run.

1. Latency, idle: photos uploaded one at a time; time from the end of the PUT to the file leaving
   the inbox (webhook_listeners' background job, then the worker), with one webhook worker.
2. Backlog: COUNT photos wait in a user's InstantUpload while the app is disabled; enabling it
   sweeps them. Its time is compared with COUNT bare WebDAV MOVEs at the concurrency the
   worker moves with (MOVES_AT_ONCE), as the user and with AppAPI's headers, and with AppAPI's
   headers one at a time; and with the app's own requests sent without the app (two range GETs
   and the MOVE per file, at the app's bound), which shows what the reads cost the server and
   what the app adds. The uploads' own background jobs run to the end before the timing.
   Also: requests per file, median bytes fetched per file.
3. Fairness: while another user's backlog (FAIRNESS photos) is being organised, the latency of
   (1) again, against (1).
4. Burst: 10,000 signed webhook calls straight to the ExApp; p99 answer time against /heartbeat
   sent the same way, in alternating rounds (bench/webhook_burst.py does this without Nextcloud, and the memory under 1,000,000).

When the app has the admin setting `backlog` (files there before the app was enabled are organised
only when asked), it is set to "yes" for the run and put back after.

Needs NEXTCLOUD_URL, NC_AUTH_USER, NC_AUTH_PASS and NC_OCC, like the e2e tests
(`python bench/nextcloud_backlog.py [--count 1000] [--fairness 5000]`).
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "ex_app" / "lib"), str(ROOT / "tests"), str(ROOT / "tests" / "e2e"), str(ROOT / "bench")]

from mobile_backups import samples  # noqa: E402
from mobile_backups.engine import HEAD_BYTES  # noqa: E402
from mobile_backups.nextcloud.settings import ADMIN_DEFAULTS  # noqa: E402
from mobile_backups.nextcloud.store import REQUESTS_AT_ONCE  # noqa: E402
from mobile_backups.nextcloud.worker import MOVES_AT_ONCE  # noqa: E402
from mobile_backups.samples import Exif  # noqa: E402
from nextcloud import Account, Accounts, ExApp, Nextcloud, missing_variables, nextcloud_from_environment  # noqa: E402
from test_exapp_http import signed  # noqa: E402
from webhook_burst import burst, pct  # noqa: E402


def make_photos(folder: Path, count: int) -> list[Path]:
    """Phone-sized JPEGs (1024x768) with EXIF dates spread over a year: 12 destination folders."""
    start = datetime(2024, 1, 1, 8)
    paths = []
    for i in range(count):
        taken = start + timedelta(hours=8.77 * i)
        paths.append(samples.jpeg(folder / f"IMG_{taken:%Y%m%d_%H%M%S}.jpg", size=(1024, 768), seed=i % 16,
                                  exif=Exif(date_time_original=f"{taken:%Y:%m:%d %H:%M:%S}", make="Google", model="Pixel 8")))
    return paths


def upload(account: Account, folder: str, files: list[Path], workers: int = 8) -> None:
    account.mkdirs(folder)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: account.put(f"{folder}/{p.name}", p.read_bytes(), p.stat().st_mtime), files))


UPLOAD_JOBS = ("OC\\FilesMetadata\\Job\\UpdateSingleMetadata", "OC\\Command\\CommandJob")  # metadata and version expiry per upload


def drain_upload_jobs(nextcloud: Nextcloud) -> None:
    """Run the background jobs the uploads queued (file metadata, version expiry) to the end before anything is timed:
    on a server where a backlog has waited they ran long ago, and run now they take the CPU the app and its
    baselines are timed on (cron.php ran 1,700 of them in the middle of an earlier run)."""
    started = time.perf_counter()
    result = nextcloud.occ("background-job:worker", *UPLOAD_JOBS, "--interval=0", "--stop_after=20m", check=False, timeout=1500)
    outcome = "" if result.returncode == 0 else f" (occ answered {result.returncode}: {result.stderr.strip()[:200]})"
    print(f"  the uploads' background jobs ran in {time.perf_counter() - started:.1f} s before the timing (not compared){outcome}", flush=True)


def bare_moves(account: Account, files: list[Path], source: str, as_exapp: ExApp | None = None, at_once: int = MOVES_AT_ONCE,
               reads: bool = False) -> float:
    """The baseline: one WebDAV MOVE per file, `at_once` at a time (the worker moves MOVES_AT_ONCE groups side by side),
    no reading, no checks; as the user with an app password, or (`as_exapp`) with AppAPI's headers, as the ExApp sends them.
    With `reads`, each MOVE comes after the two range GETs the app makes of such a file (its first HEAD_BYTES and its
    last bytes), and nothing else: the app's requests without the app."""
    target = f"{source}-moved"
    account.mkdirs(target)
    client, extra = account.http, {}
    if as_exapp is not None:
        client = httpx.Client(base_url=account.nextcloud.url, timeout=120)
        extra = {"EX-APP-ID": "mobile_backups", "EX-APP-VERSION": "0.1.0", "AA-VERSION": "34.0.0", "OCS-APIRequest": "true",
                 "AUTHORIZATION-APP-API": base64.b64encode(f"{account.user}:{as_exapp.secret}".encode()).decode()}
    locked = 0

    def move(path: Path) -> None:
        nonlocal locked
        name, size = path.name, path.stat().st_size
        for span in ((0, HEAD_BYTES - 1), (size - 16, size - 1)) if reads else ():
            got = client.get(account.path_url(f"{source}/{name}"), headers={"Range": f"bytes={span[0]}-{span[1]}", **extra})
            assert got.status_code == 206, got.status_code
        for _ in range(20):  # a file the server holds locked for a moment (423) is moved again, as the app does
            response = client.request("MOVE", account.path_url(f"{source}/{name}"),
                                      headers={"Destination": account.absolute_url(f"{target}/{name}"), "Overwrite": "F", **extra})
            if response.status_code != 423:
                break
            locked += 1
            time.sleep(0.2)
        assert response.status_code == 201, response.text

    started = time.perf_counter()
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(move, files))
    if locked:
        print(f"  ({locked} MOVE(s) of the baseline answered 423 Locked and were sent again; their waits are in its time)")
    return time.perf_counter() - started


def bytes_in(account: Account, folder: str) -> int:
    """What the folder holds, in bytes, by one Depth-0 PROPFIND of its size (a listing of a big inbox
    every half second would load the server the app is being timed on)."""
    body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:size/></d:prop></d:propfind>'
    response = account.send("PROPFIND", account.path_url(folder), headers={"Depth": "0", "Content-Type": "application/xml"}, content=body)
    return int(ET.fromstring(response.content).findtext(".//{http://owncloud.org/ns}size") or 0) if response.status_code == 207 else 0


def wait_empty(account: Account, folder: str, timeout: float, exapp: ExApp, mark: int) -> float:
    """Seconds until `folder` is empty; a file the app leaves there (its log says why) ends the benchmark at once."""
    started = time.perf_counter()
    while bytes_in(account, folder) or account.tree(folder):  # the listing only once the size says empty
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out: {len(account.tree(folder))} file(s) still in {folder}")
        if left := [line for line in exapp.log_text()[mark:].splitlines() if "stays in place" in line]:
            raise SystemExit(f"the app left {len(left)} file(s) in {folder}, the first: {left[0]}")
        time.sleep(0.5)
    return time.perf_counter() - started


def backlog(exapp: ExApp, account: Account, files: list[Path]) -> None:
    exapp.set_config("backlog", "yes")  # the files that were there before are organised without asking
    exapp.disable()  # no webhooks: the uploads pile up as a backlog
    upload(account, "InstantUpload", files)
    upload(account, "Baseline", files)
    upload(account, "BaselineExApp", files)
    upload(account, "BaselineSerial", files)
    upload(account, "BaselineReads", files)
    drain_upload_jobs(account.nextcloud)
    mark = len(exapp.log_text())
    exapp.enable()  # registers the webhooks and sweeps
    app_seconds = wait_empty(account, "InstantUpload", 3600, exapp, mark)
    log = exapp.log_text()[mark:]
    for _ in range(100):  # the batch's summary line (its request count) comes just after its last move
        if "request(s)" in log:
            break
        time.sleep(0.1)
        log = exapp.log_text()[mark:]
    read = [int(b) for b in re.findall(r"-> \S.* \((\d+) bytes read\)", log)]
    requests = sum(int(r) for r in re.findall(r"with (\d+) request\(s\)", log))
    base_seconds = bare_moves(account, files, "Baseline")
    exapp_seconds = bare_moves(account, files, "BaselineExApp", as_exapp=exapp)
    serial_seconds = bare_moves(account, files, "BaselineSerial", as_exapp=exapp, at_once=1)
    reads_seconds = bare_moves(account, files, "BaselineReads", as_exapp=exapp, at_once=REQUESTS_AT_ONCE, reads=True)
    size = statistics.median(p.stat().st_size for p in files)
    print(f"backlog: {len(files)} photos organised in {app_seconds:.1f} s; {len(files)} bare MOVEs, {MOVES_AT_ONCE} at a time "
          f"(as the worker moves), took {base_seconds:.1f} s -> {app_seconds / base_seconds:.2f}x the bare MOVEs (target <= 1.5x)")
    print(f"  the same bare MOVEs with AppAPI's headers, as the ExApp sends them: {exapp_seconds:.1f} s "
          f"-> {app_seconds / exapp_seconds:.2f}x those (target <= 1.1x); AppAPI's authentication alone: {exapp_seconds / base_seconds:.2f}x")
    print(f"  the same MOVEs with AppAPI's headers one at a time: {serial_seconds:.1f} s -> {app_seconds / serial_seconds:.2f}x those")
    print(f"  the app's own requests without the app (per file: the two range GETs, then the MOVE; AppAPI's headers; "
          f"{REQUESTS_AT_ONCE} files at a time, the app's default bound): {reads_seconds:.1f} s -> the app took {app_seconds / reads_seconds:.2f}x "
          f"those; those took {reads_seconds / exapp_seconds:.2f}x the MOVEs alone (what the two reads cost the server)")
    print(f"  requests per file: {requests / len(files):.2f} (the baseline: 1.00); organised files logged: {len(read)}")
    print(f"  median bytes fetched per file: {statistics.median(read) / 1024:.1f} KiB of {size / 1024:.0f} KiB (target <= 256 KiB)", flush=True)


def webhook_burst(exapp: ExApp, events: int = 10_000, workers: int = 16) -> None:
    """p99 answer time of POST /webhook under a burst, against GET /heartbeat sent the same way."""
    print(burst(f"http://127.0.0.1:{exapp.port}", events, workers, headers=signed("", exapp.secret)), flush=True)


def latency(account: Account, files: list[Path], gap: float = 1.0, poll: float = 0.25) -> list[float]:
    """Upload one photo every `gap` seconds; seconds until each has left the inbox (polled every `poll` s)."""
    uploaded: dict[str, float] = {}
    gone: dict[str, float] = {}
    account.mkdirs("InstantUpload")

    def look() -> None:
        present = {Path(p).name for p in account.tree("InstantUpload")}
        now = time.perf_counter()
        gone.update({n: now for n in uploaded if n not in present and n not in gone})
        time.sleep(poll)

    for path in files:
        account.put(f"InstantUpload/{path.name}", path.read_bytes(), path.stat().st_mtime)
        uploaded[path.name] = time.perf_counter()
        deadline = time.perf_counter() + gap
        while time.perf_counter() < deadline:
            look()
    started = time.perf_counter()
    while len(gone) < len(uploaded) and time.perf_counter() - started < 120:
        look()
    return sorted(gone[n] - uploaded[n] for n in gone) + [float("inf")] * (len(uploaded) - len(gone))


def describe(waits: list[float]) -> str:
    done = [w for w in waits if w != float("inf")]
    return f"{len(done)}/{len(waits)} organised, p50 {statistics.median(waits):.2f} s, p95 {pct(waits, 0.95):.2f} s"


def fairness(exapp: ExApp, busy: Account, fresh: Account, backlog_files: list[Path], fresh_files: list[Path], idle: list[float]) -> None:
    """Fresh uploads of one user while another user's backlog is being organised, against `idle`."""
    exapp.disable()
    upload(busy, "InstantUpload", backlog_files)
    drain_upload_jobs(busy.nextcloud)
    total = bytes_in(busy, "InstantUpload")
    exapp.enable()
    started = time.perf_counter()
    while bytes_in(busy, "InstantUpload") >= total:  # until the backlog is under way
        if time.perf_counter() - started > 600:
            raise SystemExit("timed out: the backlog did not start")
        time.sleep(0.5)
    under = latency(fresh, fresh_files)
    left = len(busy.tree("InstantUpload"))
    print(f"fairness: fresh uploads while another user's backlog of {len(backlog_files)} photos was organised: {describe(under)} "
          f"(target p95 <= 5 s); idle, same run: {describe(idle)}; the backlog still had {left} file(s) to go at the end "
          "(0: it ended before the last upload)", flush=True)


def backlog_setting(exapp: ExApp) -> None:
    """Files there before the app was enabled are organised only when asked, if the app has that setting: here, yes for everyone."""
    if "backlog" in ADMIN_DEFAULTS:
        exapp.set_config("backlog", "yes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="photos of the timed backlog")
    parser.add_argument("--fairness", type=int, default=5000, help="photos of the backlog that runs while fresh uploads are timed (0: skip)")
    parser.add_argument("--latency-files", type=int, default=40)
    args = parser.parse_args()
    if missing := missing_variables():
        print(f"skipped: set {', '.join(missing)} (a real Nextcloud with AppAPI and webhook_listeners)")
        return 0
    nextcloud: Nextcloud = nextcloud_from_environment()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        files = make_photos(work / "photos", max(args.count, args.fairness) + 2 * args.latency_files)
        print(f"generated {len(files)} photos in {time.perf_counter() - started:.1f} s (not compared)", flush=True)
        fresh_idle, fresh_busy = files[-2 * args.latency_files : -args.latency_files], files[-args.latency_files :]
        exapp = ExApp(nextcloud, work)
        accounts = Accounts(nextcloud)
        try:
            exapp.unregister()
            exapp.start()
            exapp.register()
            backlog_setting(exapp)
            fresh = accounts.new("fresh")
            idle = latency(fresh, fresh_idle)
            print(f"latency, idle: upload-to-organised {describe(idle)} (target p95 <= 5 s; one webhook worker)", flush=True)
            if args.count:
                backlog(exapp, accounts.new("backlog"), files[: args.count])
            if args.fairness:
                fairness(exapp, accounts.new("busy"), fresh, files[: args.fairness], fresh_busy, idle)
            webhook_burst(exapp)
        finally:
            exapp.restore_config()
            accounts.delete_all()
            exapp.unregister()
            exapp.restore_config()
            exapp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
