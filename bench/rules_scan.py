#!/usr/bin/env python3
"""Finding the candidates of retention rules on a real Nextcloud: NextcloudRulesBackend's WebDAV SEARCH
against a full depth-1 PROPFIND walk of the same tree (the same properties, the same verdicts), in the
same run, each timed best of `--rounds`, with requests per 1,000 files.

A user gets COUNT files (default 10,000) written straight into its data folder as www-data and indexed
with `occ files:scan` (a PUT per file would take longer than the whole benchmark): the organiser's
layout Photos/YYYY/MM with camera photos, screenshots, WhatsApp images and videos over two years, plus
InstantUpload/WhatsApp Images. The files are small (their content is not read: every capture date
comes from the name). Both methods speak to the server as the user, with an app password, through the
same NextcloudStore. The user is deleted at the end.

Needs NEXTCLOUD_URL, NC_AUTH_USER, NC_AUTH_PASS and NC_OCC, root (to write into the data folder), and the
shared server's lock: `source /opt/nc/credentials.env && flock /tmp/nc-e2e.lock python bench/rules_scan.py`.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "ex_app" / "lib"), str(ROOT / "tests" / "e2e")]

from mobile_backups.nextcloud.rules_backend import SELECT, CaptureFinder, NextcloudRulesBackend, _props  # noqa: E402
from mobile_backups.nextcloud.store import DAV, NAMESPACES, AppAuth, NextcloudStore  # noqa: E402
from mobile_backups.rules.match import DAY, Scope, verdicts  # noqa: E402
from mobile_backups.rules.model import load_rules  # noqa: E402
from nextcloud import missing_variables, nextcloud_from_environment  # noqa: E402

RULES = load_rules("""
[[rules]]
name = "Old screenshots"
kinds = ["screenshot"]
older_than_days = 30
age_from = "capture"

[[rules]]
name = "Messenger media"
kinds = ["messenger"]
older_than_days = 90
age_from = "modified"
action = "archive"
archive_to = "Archive"

[[rules]]
name = "Old videos"
kinds = ["video"]
older_than_days = 365
age_from = "modified"
action = "tag"
tag = "review"
""")
LIBRARY, INBOXES = "Photos", ("InstantUpload",)
WALK_BODY = f'<?xml version="1.0"?><d:propfind {NAMESPACES}><d:prop>{SELECT}<oc:share-types/><nc:system-tags/><d:resourcetype/></d:prop></d:propfind>'


def populate(data: Path, user: str, count: int, now: float) -> dict[str, int]:
    """COUNT files over the two years before `now`, mtimes set; returns how many of each kind."""
    rng = random.Random(11)
    kinds: dict[str, int] = {}
    root = data / user / "files"
    for i in range(count):
        when = now - 730 * DAY + i * 730 * DAY / count
        day = datetime.fromtimestamp(when, UTC)
        roll = rng.random()
        folder = f"{LIBRARY}/{day:%Y/%m}"
        if roll < 0.10:
            kind, name = "screenshot", f"Screenshot_{day:%Y%m%d-%H%M%S}.png"
        elif roll < 0.17:
            kind, name = "messenger", f"IMG-{day:%Y%m%d}-WA{i % 10000:04d}.jpg"
            folder = "InstantUpload/WhatsApp Images" if roll < 0.12 else folder
        elif roll < 0.20:
            kind, name = "video", f"VID_{day:%Y%m%d_%H%M%S}.mp4"
        else:
            kind, name = "photo", f"IMG_{day:%Y%m%d_%H%M%S}_{i}.jpg"
        kinds[kind] = kinds.get(kind, 0) + 1
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(512 + rng.randrange(1024)))
        os.utime(path, (when, when))
    shutil.chown(data / user, "www-data", "www-data")
    subprocess.run(["chown", "-R", "www-data:www-data", str(data / user)], check=True)
    return kinds


def walk(store: NextcloudStore, backend: NextcloudRulesBackend, scope: Scope, now: float) -> list[tuple[str, str, str]]:
    """The baseline: every folder of the library and inboxes listed with a depth-1 PROPFIND (the same
    properties SEARCH selects), every file judged by the same rules."""
    facts, queue = [], [f for f in (scope.library, *scope.inboxes) if store.stat(f)]
    capture = CaptureFinder(store, scope.library, None)
    while queue:
        folder = queue.pop()
        for element in store.dav_multistatus("PROPFIND", f"files/{store.user}/{folder}", WALK_BODY, depth=1)[1:]:
            path = store.rel(element)
            if element.find(f".//{DAV}resourcetype/{DAV}collection") is not None:
                queue.append(path)
                continue
            one = backend._facts(path, _props(element), {})
            when, _ = capture(path, one.size, one.mtime)
            facts.append(replace(one, capture=when))
    return sorted((v.facts.path, v.rule.name, v.action) for v in verdicts(RULES, facts, now, scope))


def search(backend: NextcloudRulesBackend, scope: Scope, now: float) -> list[tuple[str, str, str]]:
    return sorted((v.facts.path, v.rule.name, v.action) for v in verdicts(RULES, backend.files(scope, RULES, now), now, scope))


def timed(store: NextcloudStore, job) -> tuple[float, int, list]:  # type: ignore[no-untyped-def]
    before, start = store.requests, time.perf_counter()
    result = job()
    return time.perf_counter() - start, store.requests - before, result


def compare(label: str, store: NextcloudStore, scope: Scope, now: float, rounds: int, files: int) -> list[tuple[str, str, str]]:
    walks, searches = [], []
    for _ in range(rounds):  # interleaved, so that neither profits alone from a warm server
        walks.append(timed(store, lambda: walk(store, NextcloudRulesBackend(store, LIBRARY, INBOXES), scope, now)))
        searches.append(timed(store, lambda: search(NextcloudRulesBackend(store, LIBRARY, INBOXES), scope, now)))
    assert all(w[2] == walks[0][2] for w in walks) and all(s[2] == walks[0][2] for s in searches), "the methods disagree"
    found = walks[0][2]
    per_rule = {rule.name: sum(1 for _, name, action in found if name == rule.name and action != "exempt") for rule in RULES}
    walk_s, walk_n, _ = min(walks)
    search_s, search_n, _ = min(searches)
    print(f"{label}: {files} files, {len(found)} verdicts ({', '.join(f'{name}: {n}' for name, n in per_rule.items())}), the same from both methods")
    print(f"  PROPFIND walk: {walk_s:.2f} s, {walk_n} requests ({walk_n * 1000 / files:.1f} per 1,000 files)")
    print(f"  SEARCH:        {search_s:.2f} s, {search_n} requests ({search_n * 1000 / files:.1f} per 1,000 files)")
    print(f"  ratio: SEARCH is {walk_s / search_s:.1f}x faster, with {walk_n / max(1, search_n):.1f}x fewer requests "
          f"(best of {rounds}; all rounds: walk {', '.join(f'{w[0]:.2f}' for w in walks)} s, "
          f"search {', '.join(f'{s[0]:.2f}' for s in searches)} s)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if missing_variables():
        print(f"needs {', '.join(missing_variables())} (source /opt/nc/credentials.env)", file=sys.stderr)
        return 2
    nc = nextcloud_from_environment()
    data = Path(nc.occ("config:system:get", "datadirectory").stdout.strip())
    user, password = f"mbe2e-ncbackend-bench-{secrets.token_hex(3)}", f"Mb-bench-{secrets.token_urlsafe(18)}"
    nc.occ("user:add", "--password-from-env", user, env={"OC_PASS": password}, retries=3)
    try:
        store = NextcloudStore(AppAuth(nc.url, "bench", "0", "-"), user)
        store.http.headers.clear()  # as the user with a password, not as an ExApp: the same WebDAV work
        store.http.headers["OCS-APIRequest"] = "true"
        store.http.auth = (user, password)
        store.stat("")  # the first login sets up the user's folders
        now = time.time()
        start = time.perf_counter()
        kinds = populate(data, user, args.count, now)
        nc.occ("files:scan", f"--path=/{user}/files", "--quiet", timeout=1800)
        print(f"{args.count} files ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}) written and scanned "
              f"in {time.perf_counter() - start:.1f} s")
        scope = Scope.of(LIBRARY, INBOXES, RULES)
        found = compare("first run", store, scope, now, args.rounds, args.count)
        for path, _, action in found:  # what the first run would have trashed or archived is gone the next day
            if action in ("trash", "archive"):
                (data / user / "files" / path).unlink()
        nc.occ("files:scan", f"--path=/{user}/files", "--quiet", timeout=1800)
        compare("next day", store, scope, now + DAY, args.rounds, args.count - sum(a in ("trash", "archive") for _, _, a in found))
        library = NextcloudRulesBackend(store, LIBRARY, INBOXES)
        count_s, count_n, count = timed(store, library.library_count)
        print(f"library_count: {count} media files in {count_s:.2f} s, {count_n} requests")
    finally:
        nc.occ("user:delete", user, check=False, retries=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
