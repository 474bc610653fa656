"""The floor chooser of the minimum-traffic guard on hand-computed series."""

from __future__ import annotations

import numpy as np
import pytest

from ctscan_ops.alerting.engine.evaluator import make_ticks
from ctscan_ops.alerting.tuning.guard import choose_floor, guard_markdown, nice_floor

T0 = 1_767_225_600


def _case():
    """60 ticks; the ratio is open on ticks 5-6 (traffic 0.1), 20-21 (traffic 0.3) and
    40-44 (traffic 2.0); only the last run is labelled."""
    ticks = make_ticks(T0, T0 + 59 * 60)
    open_ = np.zeros(60, dtype=bool)
    traffic = np.full(60, 1.0)
    for a, b, v in ((5, 7, 0.1), (20, 22, 0.3), (40, 45, 2.0)):
        open_[a:b] = True
        traffic[a:b] = v
    windows = [(T0 + 40 * 60, T0 + 45 * 60)]
    return open_, traffic, ticks, windows


def test_lowest_floor_removing_every_false_incident() -> None:
    open_, traffic, ticks, windows = _case()
    c = choose_floor(open_, traffic, ticks, windows)
    # floor 0.1 (traffic > 0.1) removes the first run, 0.3 the second; 2.0 would lose the label
    assert (c.false_before, c.false_after, c.incidents_after) == (2, 0, 1)
    assert c.exact_floor == 0.3 and c.floor == 0.3 and c.complete
    assert c.detected_before == c.detected_after == 1
    # the catalog value is the shortest decimal in [0.3, 2.0): 0.3; share of ticks above it
    assert c.traffic_above_floor == pytest.approx(56 / 60)  # ticks 5-6 and 20-21 are not
    assert [r["false"] for r in c.table] == [1, 0]


def test_no_floor_when_a_false_incident_sits_above_the_labelled_traffic() -> None:
    open_, traffic, ticks, windows = _case()
    traffic[20:22] = 5.0  # a false run at higher traffic than the labelled one
    c = choose_floor(open_, traffic, ticks, windows)
    assert c.floor is None and not c.complete
    assert c.partial_floor == 0.1 and c.false_after == 1
    assert c.lowest_missing_floor == 2.0
    assert "none set" in c.reason


def test_nothing_to_remove() -> None:
    open_, traffic, ticks, _ = _case()
    c = choose_floor(open_, traffic, ticks, [(T0, T0 + 3600)])
    assert c.floor is None and c.complete and c.false_before == 0


def test_nan_traffic_never_meets_an_inactive_guard() -> None:
    open_, traffic, ticks, windows = _case()
    traffic[5:7] = np.nan
    c = choose_floor(open_, traffic, ticks, windows)
    assert c.floor == 0.3  # the no-data run is gone at any floor; the 0.3 run still decides


@pytest.mark.parametrize(
    ("lo", "hi", "want"),
    [(0.3633, 0.4, 0.37), (0.3633, 0.3634, 0.3633), (0.3, 2.0, 0.3), (12.3, None, 20.0), (0, 1, 0)],
)
def test_nice_floor(lo, hi, want) -> None:
    got = nice_floor(lo, hi)
    assert got == pytest.approx(want) and got >= lo and (hi is None or got < hi)


def test_guard_markdown_lists_guarded_policies_only() -> None:
    open_, traffic, ticks, windows = _case()
    c = choose_floor(open_, traffic, ticks, windows)
    docs = {"p": {"guard": {"floor_in_force": 0.3, **c.as_dict()}}, "q": {}}
    md = guard_markdown("staging", docs)
    assert "`p`" in md and "`q`" not in md and "2 -> 0" in md and "1/1" in md
    assert guard_markdown("staging", {"q": {}}) == ""
