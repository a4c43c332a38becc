"""End to end: files that were in a user's inbox before organising was switched on for them, on a real Nextcloud.

With the admin's default ("ask") they stay; one notification says so; the button on the app's page (through
AppAPI's proxy) starts them, and the page's JSON route and `occ mobile_backups:status` give the figures. Also
measured: what the sweep's SEARCH by upload time costs the server against a PROPFIND of the inbox.
"""

from __future__ import annotations

import statistics
import time

from .test_nextcloud import backlog_notices, expect_tree, poll, upload
from .test_settings_ui import PROXY, occ, photo, save_on_the_apps_page

COUNT = 20


def timed(account, method: str, url: str, **kw) -> float:
    """The median of 5 answers' times, in ms."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        answer = account.http.request(method, url, **kw)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 207, f"{method} {url}: HTTP {answer.status_code} {answer.text[:300]}"
    return statistics.median(times)


def search_cost(account) -> tuple[float, float]:
    """(SEARCH by upload time over the user's files, PROPFIND of the inbox), ms: what a sweep's look at the user costs."""
    search = (f'<?xml version="1.0"?><d:searchrequest xmlns:d="DAV:" xmlns:nc="http://nextcloud.org/ns"><d:basicsearch>'
              "<d:select><d:prop><d:getcontentlength/><d:getlastmodified/><d:resourcetype/><nc:upload_time/></d:prop></d:select>"
              f"<d:from><d:scope><d:href>/files/{account.user}</d:href><d:depth>infinity</d:depth></d:scope></d:from>"
              f"<d:where><d:and><d:gt><d:prop><nc:upload_time/></d:prop><d:literal>{int(time.time())}</d:literal></d:gt>"
              "<d:not><d:is-collection/></d:not></d:and></d:where><d:orderby/><d:limit><d:nresults>5000</d:nresults></d:limit>"
              "</d:basicsearch></d:searchrequest>")
    return (timed(account, "SEARCH", "/remote.php/dav/", content=search, headers={"Content-Type": "text/xml"}),
            timed(account, "PROPFIND", account.path_url("InstantUpload"), headers={"Depth": "1"}))


def test_files_there_before_a_user_switched_on_wait_for_the_button_with_live_figures(account, exapp, tmp_path):
    assert save_on_the_apps_page(account, organise="0").status_code == 200
    older = [photo(tmp_path, f"IMG_{7000 + n}.jpg", 700 + n) for n in range(COUNT)]
    upload(account, "InstantUpload", *older)
    time.sleep(4)  # their events arrive; organising is off for this user
    inbox = {f"InstantUpload/{p.name}" for p in older}
    assert set(account.tree()) == inbox

    assert save_on_the_apps_page(account, organise="1").status_code == 200  # switched on: they were there before
    notices = poll("the notification", lambda: backlog_notices(account) or None, 30, exapp.log_tail)
    assert notices == [f"{COUNT} older photos in InstantUpload can be organised: preview"], notices
    fresh = photo(tmp_path, "IMG_7100.jpg", 799)
    upload(account, "InstantUpload", fresh)  # a new upload is organised as always
    expect_tree(account, exapp, inbox | {f"Photos/2024/11/{fresh.name}"})
    search_ms, propfind_ms = search_cost(account)
    print(f"\nthe sweep's look at a user with {COUNT} files in the inbox: SEARCH by upload time {search_ms:.0f} ms, "
          f"PROPFIND of the inbox {propfind_ms:.0f} ms (medians of 5)")

    page = account.http.get(f"{PROXY}/settings")
    assert f"{COUNT} older photos in InstantUpload were there before" in page.text and "action='backlog'" in page.text
    started = account.http.post(f"{PROXY}/backlog")
    assert started.status_code == 200 and f"Organising {COUNT} older file(s)" in started.text, started.text[-2000:]
    figures = []

    def finished():
        figures.append(account.http.get(f"{PROXY}/progress").json()["progress"])
        return bool(figures[-1]) and figures[-1][0]["finished"]

    poll("the figures to say done", finished, 120, exapp.log_tail)
    assert figures[-1] == [{"user": account.user, "total": COUNT, "done": COUNT, "left": 0, "seconds_left": 0.0, "finished": True,
                            "text": f"{COUNT} older file(s) organised"}], figures[-1]
    assert all(f[0]["done"] + f[0]["left"] == COUNT for f in figures if f), figures
    expect_tree(account, exapp, {f"Photos/2024/11/{p.name}" for p in [*older, fresh]})
    status = occ(exapp, "mobile_backups:status")
    assert f"  {account.user}: {COUNT} older file(s) organised" in status, status
    assert len(backlog_notices(account)) == 1
