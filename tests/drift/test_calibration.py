"""Calibration of the drift check, on hand-made day results with counts worked out by hand."""

from __future__ import annotations

import math

import pytest

from ctscan_ops.drift.calibration import (
    DayResult,
    column_false_alarm_rates,
    coverage,
    day_results_from,
    fires,
    markdown_table,
    score_thresholds,
    wilson_interval,
)

DAYS = [
    DayResult("2026-03-01", "stable", 0.10, ("noise_sigma",)),
    DayResult("2026-03-02", "stable", 0.35, ("noise_sigma", "mean")),
    DayResult("2026-03-03", "stable", 0.00),
    DayResult("2026-03-04", "empty", None),
    DayResult("2026-03-05", "drift", 0.20, ("noise_sigma",)),
    DayResult("2026-03-06", "drift", 0.80),
    DayResult("2026-03-07", "drift", 0.90),
    DayResult("2026-03-08", None, 0.50),
]


def test_scores_per_threshold_by_hand():
    rows = {r.threshold: r for r in score_thresholds(DAYS, [0.05, 0.30, 0.35, 0.85])}
    r = rows[0.30]
    assert (r.stable_days, r.false_alarms, r.drift_days, r.detected) == (3, 1, 3, 2)
    assert r.false_alarm_rate == pytest.approx(1 / 3) and r.recall == pytest.approx(2 / 3)
    assert r.detection_delay_days == 1  # the first drift day (0.20) is missed
    # GT: a share equal to the threshold does not fire
    assert rows[0.35].false_alarms == 0
    assert rows[0.05].false_alarms == 2 and rows[0.05].detection_delay_days == 0
    assert rows[0.85].detected == 1 and rows[0.85].detection_delay_days == 2
    lt = {r.threshold: r for r in score_thresholds(DAYS, [0.30], "COMPARISON_LT")}
    assert lt[0.30].false_alarms == 2


def test_wilson_interval_reference_values():
    # k=0, n=30: upper bound z^2/(n+z^2) = 3.8415/33.8415
    lo, hi = wilson_interval(0, 30)
    assert lo == 0.0 and hi == pytest.approx(3.841458820694124 / 33.841458820694124)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_columns_coverage_and_join():
    assert column_false_alarm_rates(DAYS) == {
        "noise_sigma": pytest.approx(2 / 3),
        "mean": pytest.approx(1 / 3),
    }
    assert coverage(DAYS) == {"scored": 6, "skipped": 1, "unlabelled": 1}
    joined = day_results_from(
        {
            "2026-03-01": {"drift_share": 0.4, "drifted_columns": ["a"]},
            "2026-03-02": {"skipped": True},
        },
        {"2026-03-01": "drift", "2026-03-02": "empty", "2026-03-03": "stable"},
    )
    assert joined == [
        DayResult("2026-03-01", "drift", 0.4, ("a",)),
        DayResult("2026-03-02", "empty", None),
        DayResult("2026-03-03", "stable", None),
    ]


def test_markdown_marks_the_policy_threshold():
    md = markdown_table(score_thresholds(DAYS, [0.25, 0.30]), current=0.30)
    assert "| 0.30 **(policy)** | 1/3 = 33%" in md
    assert "| 0.25 | 1/3" in md
    empty = score_thresholds([], [0.3])[0]
    assert empty.false_alarm_rate is None and "n/a" in markdown_table([empty])
    with pytest.raises(ValueError, match="COMPARISON_GE"):
        fires(0.1, 0.2, "COMPARISON_GE")
    assert not math.isnan(score_thresholds(DAYS, [0.3])[0].recall)
