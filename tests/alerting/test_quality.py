"""Quality scores against label windows, worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ctscan_ops.alerting.engine.evaluator import incidents_from_values, make_ticks
from ctscan_ops.alerting.shadow.quality import LabelWindow, score

T0 = 1_767_225_600
TICKS = make_ticks(T0, T0 + 60 * 99)  # 100 ticks = 6000 s = 1/14.4 day
DAYS = 6000 / 86400


@dataclass
class Inc:
    id: str
    open: float
    close: float | None


WINDOWS = [
    LabelWindow(T0 + 600, T0 + 1200, id="w1"),  # ticks 10..20 inside
    LabelWindow(T0 + 3000, T0 + 3300, id="w2"),  # ticks 50..55
    LabelWindow(T0 + 5000, T0 + 5100, id="w3"),  # ticks 84..85; never detected
]
INCIDENTS = [
    Inc("A", T0 + 660, T0 + 1500),  # overlaps w1: detection 60 s, reset 300 s
    Inc("B", T0 + 1980, T0 + 2100),  # false
    Inc("C", T0 + 2880, T0 + 3420),  # overlaps w2 from before: detection 0 s, reset 120 s
    Inc("D", T0 + 5400, None),  # false, still open
]


def _met() -> np.ndarray:
    met = np.zeros(TICKS.size, dtype=bool)
    for i in INCIDENTS:
        met |= (i.open <= TICKS) & ((i.close or np.inf) > TICKS)
    return met


def test_scores_by_hand() -> None:
    q = score(INCIDENTS, WINDOWS, TICKS, met=_met())
    assert (q.incidents, q.true_incidents, q.false_incidents) == (4, 2, 2)
    assert q.precision == 0.5 and q.false_discovery_rate == 0.5
    assert q.recall == pytest.approx(2 / 3)
    assert q.false_alerts_per_day == pytest.approx(2 / DAYS)
    assert q.window_detection_s == [60.0, 0.0, None]
    assert q.window_reset_s == [300.0, 120.0, None]
    assert (q.median_detection_s, q.mean_detection_s, q.median_reset_s) == (30.0, 30.0, 210.0)
    assert [w.id for w in q.missed_windows] == ["w3"]
    # 19 ticks lie inside windows, 81 outside; incidents are open on 4 + 2 + 3 + 10 of those
    assert q.fpr_per_tick == pytest.approx(19 / 81)
    d = q.as_dict()
    assert d["labelled_incidents"] == 3 and d["missed_incidents"] == 1
    assert d["days"] == pytest.approx(DAYS)


def test_operator_verdicts_override_window_matching() -> None:
    q = score(INCIDENTS, WINDOWS, TICKS, verdicts={"B": True, "A": False})
    assert (q.true_incidents, q.false_incidents) == (2, 2)  # B now true, A now false
    assert q.incident_verdicts == {"A": False, "B": True, "C": True, "D": False}
    # A was the only incident overlapping w1, and it is a false alarm: w1 counts as missed
    assert q.recall == pytest.approx(1 / 3)
    assert q.fpr_per_tick is None  # no per-tick state given


def test_empty_cases_are_none_not_zero_division() -> None:
    q = score([], [], TICKS)
    assert (q.precision, q.recall, q.median_detection_s) == (None, None, None)
    assert q.false_alerts_per_day == 0.0
    # a window entirely outside the evaluated period is ignored, not counted as missed
    q2 = score([], [LabelWindow(T0 - 9000, T0 - 8000)], TICKS)
    assert q2.labelled_incidents == 0 and q2.recall is None


def test_reset_undefined_while_still_open() -> None:
    q = score([Inc("X", T0 + 600, None)], [(T0 + 600, T0 + 900)], TICKS)
    assert q.window_detection_s == [0.0] and q.window_reset_s == [None]
    assert q.median_reset_s is None and q.recall == 1.0


def test_agrees_with_the_threshold_sweep() -> None:
    """quality.score on evaluator incidents == the tuner's all-threshold sweep at one threshold."""
    sweep = pytest.importorskip("ctscan_ops.alerting.tuning.sweep")
    rng = np.random.default_rng(11)
    vals = rng.normal(1.0, 0.4, TICKS.size)
    vals[rng.random(TICKS.size) < 0.1] = np.nan
    vals[30:40] += 2.0
    vals[70:73] += 2.0
    windows = [(T0 + 1800, T0 + 2340), (T0 + 4200, T0 + 4300), (T0 + 5500, T0 + 5600)]
    for duration in (0, 120):
        for mode in ("inactive", "active", "no-op"):
            curve = sweep.sweep_duration(vals, TICKS, windows, "GT", duration, mode, 300)
            for thr in (1.2, 1.9, 2.6):
                met, incs = incidents_from_values(vals, TICKS, "GT", thr, duration, mode, 300)
                q = score(incs, windows, TICKS, met=met).as_dict()
                ref = curve.quality_at(curve.class_of(thr, "GT"))
                for key in ("incidents", "true_incidents", "recall", "fpr_per_tick"):
                    assert q[key] == pytest.approx(ref[key]), (duration, mode, thr, key)
                for key in ("median_detection_s", "median_reset_s", "false_alerts_per_day"):
                    assert q[key] == pytest.approx(ref[key], nan_ok=True), (
                        duration,
                        mode,
                        thr,
                        key,
                    )
