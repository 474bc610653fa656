"""The alerting world's register carries the drift world's episode as data_drift ground truth."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from ctscan_ops.sandbox.worlds.alerting import drift_windows


def test_drift_episode_becomes_a_data_drift_window():
    ctx = SimpleNamespace(
        summaries={"drift": {"drift_episode": "2026-11-11", "config": {"drift_days": 4}}},
        settings=SimpleNamespace(environment="prod"),
    )
    (window,) = drift_windows(ctx)
    assert window.policies() == ("data_drift",)
    assert window.environment == "prod" and window.severity == "P1"
    start = datetime(2026, 11, 11, tzinfo=UTC).timestamp()
    # four drifted days, the last one's share stamped at the end of that day
    assert (window.start, window.end) == (start, start + 5 * 86400)


def test_no_drift_part_no_window():
    ctx = SimpleNamespace(summaries={}, settings=SimpleNamespace(environment="prod"))
    assert drift_windows(ctx) == []
