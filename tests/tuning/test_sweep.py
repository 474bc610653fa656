"""The exact sweep agrees with threshold-by-threshold brute force, at every breakpoint and
between breakpoints, for both comparisons, all missing-data modes, durations and auto_close."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.tuning import sweep as sw

T0 = 1_700_000_040  # a multiple of 60
MODES = ["inactive", "active", "no-op"]


def _sample_thresholds(values):
    u = sorted({float(v) for v in values if not math.isnan(v)})
    if not u:
        return [0.0]
    mids = [(a + b) / 2 for a, b in itertools.pairwise(u)]
    return [u[0] - 1.0, *u, *mids, u[-1] + 1.0]


def _close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def assert_same(curve_q, ref_q, ctx):
    for key, ref in ref_q.items():
        assert _close(curve_q[key], ref), f"{key}: sweep {curve_q[key]} != brute {ref} ({ctx})"


@st.composite
def cases(draw):
    n = draw(st.integers(1, 40))
    nan_p = draw(st.sampled_from([0.0, 0.15, 0.4]))
    vals = []
    for _ in range(n):
        if draw(st.floats(0, 1)) < nan_p:
            vals.append(math.nan)
        else:
            vals.append(float(draw(st.integers(0, 6))))
    windows = []
    for _ in range(draw(st.integers(0, 3))):
        start = T0 + draw(st.integers(-120, n * 60 + 60))
        length = draw(st.integers(0, 600))
        windows.append((float(start), float(start + length)))
    return {
        "values": vals,
        "windows": windows,
        "comparison": draw(st.sampled_from(["COMPARISON_GT", "COMPARISON_LT"])),
        "duration_s": draw(st.sampled_from([0, 60, 120, 180, 300])),
        "missing_data": draw(st.sampled_from(MODES)),
        "auto_close_s": draw(st.sampled_from([None, 60, 120, 300])),
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_sweep_matches_brute_force_at_every_breakpoint(case, brute):
    vals = case["values"]
    ticks = [T0 + 60 * i for i in range(len(vals))]
    curve = sw.sweep_duration(
        np.array(vals),
        np.array(ticks),
        case["windows"],
        case["comparison"],
        case["duration_s"],
        case["missing_data"],
        case["auto_close_s"],
    )
    for thr in _sample_thresholds(vals):
        _, ref_q = brute.evaluate(
            vals,
            ticks,
            case["windows"],
            case["comparison"],
            thr,
            case["duration_s"],
            sw.normalize_missing_data(case["missing_data"]),
            case["auto_close_s"],
        )
        i = curve.class_of(thr, case["comparison"])
        assert_same(curve.quality_at(i), ref_q, f"threshold {thr}")


@settings(max_examples=80, deadline=None)
@given(case=cases())
def test_representative_threshold_lies_in_its_class_and_reproduces_it(case, brute):
    vals = case["values"]
    ticks = [T0 + 60 * i for i in range(len(vals))]
    curve = sw.sweep_duration(
        np.array(vals),
        np.array(ticks),
        case["windows"],
        case["comparison"],
        case["duration_s"],
        case["missing_data"],
        case["auto_close_s"],
    )
    for i, thr in enumerate(curve.threshold):
        assert curve.class_of(float(thr), case["comparison"]) == i
        _, ref_q = brute.evaluate(
            vals,
            ticks,
            case["windows"],
            case["comparison"],
            float(thr),
            case["duration_s"],
            sw.normalize_missing_data(case["missing_data"]),
            case["auto_close_s"],
        )
        assert_same(curve.quality_at(i), ref_q, f"class {i} representative {thr}")


def test_classes_are_exactly_the_distinct_outcomes(brute):
    """Adjacent classes differ in at least the per-tick state, so no class is redundant."""
    rng = np.random.default_rng(7)
    vals = rng.integers(0, 20, 300).astype(float)
    vals[rng.random(300) < 0.1] = np.nan
    ticks = T0 + 60 * np.arange(300)
    for cmp_ in ("GT", "LT"):
        curve = sw.sweep_duration(vals, ticks, [], cmp_, 120, "active")
        states = [
            tuple(brute.met(list(vals), cmp_, float(t), 120, sw.MISSING_ACTIVE))
            for t in curve.threshold
        ]
        assert all(a != b for a, b in itertools.pairwise(states))


def test_hand_computed_case():
    """values 1 5 5 1 5 5 5 1, GT, duration 60 s (two ticks), label over ticks 4-6."""
    vals = np.array([1, 5, 5, 1, 5, 5, 5, 1], dtype=float)
    ticks = T0 + 60 * np.arange(8)
    windows = [(T0 + 240.0, T0 + 360.0)]
    curve = sw.sweep_duration(vals, ticks, windows, "COMPARISON_GT", 60, "inactive")
    # T = 3: met at ticks 2, 5, 6 -> incidents [2,3) (false) and [5,7) (true)
    q = curve.quality_at(curve.class_of(3.0, "GT"))
    assert q["incidents"] == 2 and q["true_incidents"] == 1
    assert q["false_discovery_rate"] == 0.5
    assert q["recall"] == 1.0
    assert q["median_detection_s"] == 60.0  # opens at tick 5, window starts at tick 4
    assert q["median_reset_s"] == 60.0  # closes at tick 7, window ends at tick 6
    # unlabelled ticks 0-3 and 7; met among them: tick 2
    assert q["fpr_per_tick"] == pytest.approx(1 / 5)
    # T = 5: nothing is above
    q5 = curve.quality_at(curve.class_of(5.0, "GT"))
    assert q5["incidents"] == 0 and q5["recall"] == 0.0 and q5["precision"] is None


def test_lt_classes_and_short_representatives():
    vals = np.array([0.91, 0.65, 0.62, 0.93, 0.61], dtype=float)
    ticks = T0 + 60 * np.arange(5)
    curve = sw.sweep_duration(vals, ticks, [], "LT", 0, "inactive")
    # classes (lo, hi]: (-inf, .61], (.61, .62], (.62, .65], (.65, .91], (.91, .93], (.93, inf)
    assert list(curve.threshold) == [0.0, 0.62, 0.63, 0.7, 0.92, 1.0]
    assert list(curve.incidents) == [0, 1, 2, 2, 2, 1]


@pytest.mark.parametrize(
    ("lo", "hi", "include_lo", "expected"),
    [
        (1987.3, 1990.1, True, 1990.0),
        (1987.3, 1987.31, True, 1987.3),
        (-math.inf, 5.0, True, 0.0),
        (-math.inf, -5.0, True, -6.0),
        (2.0, math.inf, True, 2.0),
        (0.0, 0.001, True, 0.0),
        (-0.5, 0.0, False, 0.0),
        (0.61, 0.62, False, 0.62),
        (0.5, 0.5000001, True, 0.5),
    ],
)
def test_shortest_decimal(lo, hi, include_lo, expected):
    assert sw._shortest_decimal_in(lo, hi, include_lo) == expected


def test_bad_input_is_named():
    ticks = T0 + 60 * np.arange(3)
    with pytest.raises(sw.SweepInputError, match="comparison"):
        sw.sweep_duration(np.zeros(3), ticks, [], "COMPARISON_GE", 0, "inactive")
    with pytest.raises(sw.SweepInputError, match="duration"):
        sw.sweep_duration(np.zeros(3), ticks, [], "GT", 90, "inactive")
    with pytest.raises(sw.SweepInputError, match="missing_data"):
        sw.sweep_duration(np.zeros(3), ticks, [], "GT", 60, "sometimes")
    with pytest.raises(sw.SweepInputError, match="index 2"):
        sw.sweep_duration(np.zeros(3), np.array([T0, T0 + 60, T0 + 150]), [], "GT", 0, "active")
    with pytest.raises(sw.SweepInputError, match="labels"):
        sw.sweep_duration(np.zeros(3), ticks, [(T0 + 60.0, T0 + 0.0)], "GT", 0, "active")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_sweep_matches_the_evaluator(case, brute):
    """The evaluator's own ``incidents_from_values`` is the authority the sweep must match."""
    from ctscan_ops.alerting.engine.evaluator import incidents_from_values
    from ctscan_ops.alerting.shadow import quality

    vals = np.array(case["values"])
    ticks = np.array([T0 + 60.0 * i for i in range(len(vals))])
    mode = sw.normalize_missing_data(case["missing_data"])
    curve = sw.sweep_duration(
        vals,
        ticks,
        case["windows"],
        case["comparison"],
        case["duration_s"],
        mode,
        case["auto_close_s"],
    )
    scores = sw.condition_scores(
        vals, case["comparison"], case["duration_s"], mode, case["auto_close_s"]
    )
    sign = 1.0 if case["comparison"].endswith("GT") else -1.0
    for thr in _sample_thresholds(case["values"]):
        met, incidents = incidents_from_values(
            vals, ticks, case["comparison"], thr, case["duration_s"], mode, case["auto_close_s"]
        )
        assert np.array_equal(met, scores > sign * thr)
        # scored by the alerting core's own scorer (quality.py), not the test's
        ref_q = quality.score(incidents, case["windows"], ticks, met=met).as_dict()
        assert_same(curve.quality_at(curve.class_of(thr, case["comparison"])), ref_q, thr)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), seed=st.integers(0, 2**16), groups=st.integers(2, 3))
def test_multi_group_sweep_matches_brute_force_and_evaluator(case, seed, groups, brute):
    """group_by conditions: every group opens its own incidents (trigger count 1)."""
    from ctscan_ops.alerting.engine.evaluator import incidents_from_values
    from ctscan_ops.alerting.shadow import quality

    rng = np.random.default_rng(seed)
    base = np.array(case["values"])
    rows = [base] + [
        np.where(rng.random(base.size) < 0.2, np.nan, rng.integers(0, 7, base.size).astype(float))
        for _ in range(groups - 1)
    ]
    vals = np.vstack(rows)
    ticks = np.array([T0 + 60.0 * i for i in range(base.size)])
    mode = sw.normalize_missing_data(case["missing_data"])
    curve = sw.sweep_duration(
        vals,
        ticks,
        case["windows"],
        case["comparison"],
        case["duration_s"],
        mode,
        case["auto_close_s"],
    )
    for thr in _sample_thresholds(list(vals.ravel())):
        _, ref_q = brute.evaluate_groups(
            [list(r) for r in vals],
            list(ticks),
            case["windows"],
            case["comparison"],
            thr,
            case["duration_s"],
            mode,
            case["auto_close_s"],
        )
        q = curve.quality_at(curve.class_of(thr, case["comparison"]))
        assert_same(q, ref_q, f"threshold {thr}")
        met, incs = incidents_from_values(
            vals, ticks, case["comparison"], thr, case["duration_s"], mode, case["auto_close_s"]
        )
        ev_q = quality.score(incs, case["windows"], ticks, met=met.any(axis=0)).as_dict()
        assert_same(q, ev_q, f"evaluator, threshold {thr}")
