#!/usr/bin/env python3
"""Mobile Backups on a real Nextcloud, each number against a baseline measured in the same run.

1. Backlog: COUNT photos wait in a user's InstantUpload while the app is disabled; enabling it
   sweeps them. Its time is compared with COUNT bare WebDAV MOVEs at the concurrency the
   worker moves with (one at a time). Also: requests per file, median bytes fetched per file.
2. Burst: 10,000 signed webhook calls straight to the ExApp; p99 answer time against /heartbeat
   under the same burst.
3. Latency: photos uploaded one at a time; time from the end of the PUT to the file leaving
   the inbox (webhook_listeners' background job, then the worker), with one webhook worker.

Needs NEXTCLOUD_URL, NC_AUTH_USER, NC_AUTH_PASS and NC_OCC, like the e2e tests
(`python bench/nextcloud_backlog.py [--count 1000]`).
"""

from __future__ import annotations

import argparse
import base64
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "ex_app" / "lib"), str(ROOT / "tests" / "e2e")]

from mobile_backups import samples  # noqa: E402
from mobile_backups.samples import Exif  # noqa: E402
from nextcloud import Account, Accounts, ExApp, Nextcloud, missing_variables, nextcloud_from_environment  # noqa: E402


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


def bare_moves(account: Account, names: list[str], source: str, as_exapp: ExApp | None = None) -> float:
    """The baseline: one WebDAV MOVE per file, one at a time, no reading, no checks; as the user with
    an app password, or (`as_exapp`) with AppAPI's headers, as the ExApp sends them."""
    target = f"{source}-moved"
    account.mkdirs(target)
    client, extra = account.http, {}
    if as_exapp is not None:
        client = httpx.Client(base_url=account.nextcloud.url, timeout=120)
        extra = {"EX-APP-ID": "mobile_backups", "EX-APP-VERSION": "0.1.0", "AA-VERSION": "34.0.0", "OCS-APIRequest": "true",
                 "AUTHORIZATION-APP-API": base64.b64encode(f"{account.user}:{as_exapp.secret}".encode()).decode()}
    started = time.perf_counter()
    for name in names:
        response = client.request("MOVE", account.path_url(f"{source}/{name}"),
                                  headers={"Destination": account.absolute_url(f"{target}/{name}"), "Overwrite": "F", **extra})
        assert response.status_code == 201, response.text
    return time.perf_counter() - started


def wait_empty(account: Account, folder: str, timeout: float) -> float:
    started = time.perf_counter()
    while account.tree(folder):
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out: {len(account.tree(folder))} file(s) still in {folder}")
        time.sleep(0.5)
    return time.perf_counter() - started


def backlog(exapp: ExApp, account: Account, files: list[Path]) -> None:
    exapp.set_config("backlog", "yes")  # the files that were there before are organised without asking
    exapp.disable()  # no webhooks: the uploads pile up as a backlog
    upload(account, "InstantUpload", files)
    upload(account, "Baseline", files)
    upload(account, "BaselineExApp", files)
    mark = len(exapp.log_text())
    exapp.enable()  # registers the webhooks and sweeps
    app_seconds = wait_empty(account, "InstantUpload", 1800)
    log = exapp.log_text()[mark:]
    for _ in range(100):  # the batch's summary line (its request count) comes just after its last move
        if "request(s)" in log:
            break
        time.sleep(0.1)
        log = exapp.log_text()[mark:]
    read = [int(b) for b in re.findall(r"-> \S.* \((\d+) bytes read\)", log)]
    requests = sum(int(r) for r in re.findall(r"with (\d+) request\(s\)", log))
    base_seconds = bare_moves(account, [p.name for p in files], "Baseline")
    exapp_seconds = bare_moves(account, [p.name for p in files], "BaselineExApp", as_exapp=exapp)
    size = statistics.median(p.stat().st_size for p in files)
    print(f"backlog: {len(files)} photos organised in {app_seconds:.1f} s; {len(files)} bare MOVEs took {base_seconds:.1f} s "
          f"-> {app_seconds / base_seconds:.2f}x the bare MOVEs (target <= 1.5x)")
    print(f"  the same bare MOVEs with AppAPI's headers, as the ExApp sends them: {exapp_seconds:.1f} s "
          f"-> {app_seconds / exapp_seconds:.2f}x those; AppAPI's authentication alone: {exapp_seconds / base_seconds:.2f}x")
    print(f"  requests per file: {requests / len(files):.2f} (the baseline: 1.00); organised files logged: {len(read)}")
    print(f"  median bytes fetched per file: {statistics.median(read) / 1024:.1f} KiB of {size / 1024:.0f} KiB (target <= 256 KiB)")


def burst(exapp: ExApp, events: int = 10_000, workers: int = 16) -> None:
    """p99 answer time of POST /webhook under a burst, against GET /heartbeat under the same burst."""
    base = f"http://127.0.0.1:{exapp.port}"
    headers = {"EX-APP-ID": "mobile_backups", "EX-APP-VERSION": "0.1.0", "AA-VERSION": "34.0.0",
               "AUTHORIZATION-APP-API": base64.b64encode(f":{exapp.secret}".encode()).decode()}
    client = httpx.Client(base_url=base, headers=headers, limits=httpx.Limits(max_connections=workers))

    def hook(i: int) -> float:
        payload = {"event": {"class": "OCP\\Files\\Events\\Node\\NodeCreatedEvent",
                             "node": {"id": i, "path": f"/burst-user/files/Elsewhere/IMG_{i:05d}.jpg"}}, "user": None}
        started = time.perf_counter()
        assert client.post("/webhook", json=payload).status_code == 200
        return time.perf_counter() - started

    def heartbeat(_: int) -> float:
        started = time.perf_counter()
        assert client.get("/heartbeat").status_code == 200
        return time.perf_counter() - started

    results = {}
    for name, call in (("heartbeat", heartbeat), ("webhook", hook)):
        with ThreadPoolExecutor(workers) as pool:
            started = time.perf_counter()
            times = sorted(pool.map(call, range(events)))
            results[name] = (times[len(times) // 2], times[int(len(times) * 0.99)], time.perf_counter() - started)
    (h50, h99, _), (w50, w99, wall) = results["heartbeat"], results["webhook"]
    print(f"burst: {events} webhook calls, {workers} at a time, in {wall:.1f} s: p50 {w50 * 1000:.1f} ms, p99 {w99 * 1000:.1f} ms "
          f"(target <= 50 ms); /heartbeat under the same burst p50 {h50 * 1000:.1f} ms, p99 {h99 * 1000:.1f} ms "
          f"-> webhook p99 = {w99 / h99:.2f}x heartbeat p99")


def latency(account: Account, files: list[Path], gap: float = 1.0) -> None:
    """Upload one photo every `gap` seconds; time until each has left the inbox."""
    uploaded: dict[str, float] = {}
    gone: dict[str, float] = {}
    account.mkdirs("InstantUpload")
    for path in files:
        account.put(f"InstantUpload/{path.name}", path.read_bytes(), path.stat().st_mtime)
        uploaded[path.name] = time.perf_counter()
        deadline = time.perf_counter() + gap
        while time.perf_counter() < deadline:
            present = {Path(p).name for p in account.tree("InstantUpload")}
            now = time.perf_counter()
            gone.update({n: now for n in uploaded if n not in present and n not in gone})
            time.sleep(0.1)
    started = time.perf_counter()
    while len(gone) < len(uploaded) and time.perf_counter() - started < 120:
        present = {Path(p).name for p in account.tree("InstantUpload")}
        now = time.perf_counter()
        gone.update({n: now for n in uploaded if n not in present and n not in gone})
        time.sleep(0.1)
    waits = sorted(gone[n] - uploaded[n] for n in gone)
    p95 = waits[min(len(waits) - 1, int(len(waits) * 0.95))]
    print(f"latency: {len(waits)}/{len(uploaded)} uploads organised; upload-to-organised p50 {statistics.median(waits):.2f} s, "
          f"p95 {p95:.2f} s (target <= 5 s; one webhook worker; poll interval 0.1 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--latency-files", type=int, default=40)
    args = parser.parse_args()
    if missing := missing_variables():
        print(f"skipped: set {', '.join(missing)} (a real Nextcloud with AppAPI and webhook_listeners)")
        return 0
    nextcloud: Nextcloud = nextcloud_from_environment()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        files = make_photos(work / "photos", args.count + args.latency_files)
        print(f"generated {len(files)} photos in {time.perf_counter() - started:.1f} s (not compared)")
        exapp = ExApp(nextcloud, work)
        accounts = Accounts(nextcloud)
        try:
            exapp.unregister()
            exapp.start()
            exapp.register()
            backlog(exapp, accounts.new("backlog"), files[: args.count])
            burst(exapp)
            latency(accounts.new("latency"), files[args.count :])
        finally:
            exapp.restore_config()
            accounts.delete_all()
            exapp.unregister()
            exapp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
