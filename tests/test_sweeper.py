"""The sweep's bounds, by bench/sweep_load.py's simulation on a small scale: the real App, worker and sweeper
against the stand-in Nextcloud (real HTTP, real files), on a simulated clock."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT
from mobile_backups.nextcloud.sweeper import CATCH_UP_RATE, STEADY_RATE

sys.path.insert(0, str(ROOT / "bench"))
from sweep_load import simulate  # noqa: E402


def test_a_large_server_is_swept_at_the_steady_pace_and_an_outage_is_caught_up_within_an_interval(tmp_path):
    """More users than the interval allows at STEADY_RATE: the cycle stretches, the load does not."""
    r = simulate(tmp_path, users=40, uploaders=8, per_uploader=2, backlog_users=5, day=3600.0, down=(1200.0, 1800.0), interval=30)
    assert r.steady_requests / r.steady_seconds <= STEADY_RATE * 1.05, r
    assert r.first_enable_seconds <= r.first_enable_requests / CATCH_UP_RATE + 1, r
    assert r.outage_uploads > 0 and r.outage_organised_after is not None and r.outage_organised_after <= r.interval, r
    assert r.left_in_inboxes == 0, r  # every fresh upload organised, by its webhook or by the sweep
    assert r.backlog_untouched and r.notified == 5, r  # "ask": the files that were there before stay; each of those users told once


@pytest.mark.parametrize("users", [3, 8])
def test_a_small_server_has_every_user_looked_at_once_per_interval(tmp_path, users):
    r = simulate(tmp_path, users=users, uploaders=0, backlog_users=0, day=3600.0, down=(1800.0, 1800.0), interval=60)
    assert r.steady_requests / r.steady_seconds == pytest.approx((users + 1) / 60, rel=0.15), r  # their SEARCHes and the list of users
