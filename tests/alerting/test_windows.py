"""Window kernels of the evaluator (windows.py) against brute force on every window.

Bounds must select exactly the points with ``t - P < time <= t`` (both the segment path of
regular integral grids and the pointer walk); sums over windows of at most ``DIRECT_POINTS``
points must equal Python's left-to-right ``sum()`` bit for bit (the reference's order), every
other statistic exactly; percentiles interpolate like the reference. Covered: empty windows,
single points, points exactly on window edges, ties, runs of the common window size and other
sizes, windows wider than ``DIRECT_POINTS`` (running sum, deque, sorted window), grids the
segment path declines, and the clean-up check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.engine.windows import (
    DIRECT_POINTS,
    WindowScratch,
    align_scalar,
    align_series,
    is_clean,
    window_bounds,
)

T0 = 1_700_000_040.0


def _brute_bounds(times, ticks, period):
    lo, hi = [], []
    for t in ticks:
        lo.append(sum(1 for x in times if x <= t - period))
        hi.append(sum(1 for x in times if x <= t))
    return lo, hi


def _ref(values, how, q=None):
    if not values:
        return math.nan
    if how == "sum":
        return sum(values)
    if how == "mean":
        return sum(values) / len(values)
    if how == "rate":  # ALIGN_RATE: the window's sum over the period q
        return sum(values) / q
    if how == "count":
        return float(len(values))
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "last":
        return values[-1]
    s = sorted(values)
    rank = q / 100.0 * (len(s) - 1)
    f = math.floor(rank)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (rank - f)


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@st.composite
def series(draw):
    n_ticks = draw(st.integers(1, 40))
    m = draw(st.sampled_from([1, 2, 3, 5, 6, 17, 20]))  # 17, 20: wider than DIRECT_POINTS
    layout = draw(st.sampled_from(["dense", "double", "edges"]))
    if layout == "dense":  # a point in every minute (jittered): windows of m points
        times = [
            T0 - 60 * m + 60 * i + draw(st.sampled_from([1, 30, 59])) for i in range(n_ticks + m)
        ]
    elif layout == "double":  # two points per minute, some minutes empty
        times = sorted(
            {
                T0 - 60 * m + 60 * i + j
                for i in range(n_ticks + m)
                for j in draw(st.sampled_from([(), (10,), (0, 40), (20, 50)]))
            }
        )
    else:  # often exactly on window edges (multiples of 30 s)
        raw = draw(st.lists(st.integers(0, (n_ticks + m) * 2), max_size=60, unique=True))
        times = [T0 - 60 * m + 30 * r for r in sorted(raw)]
    kind = draw(st.sampled_from(["ints", "ties", "floats"]))
    if kind == "ints":
        vals = [float(draw(st.integers(-20, 20))) for _ in times]
    elif kind == "ties":
        vals = [float(draw(st.sampled_from([1, 2]))) for _ in times]
    else:
        vals = [draw(st.floats(-1e3, 1e3, allow_nan=False, width=64)) for _ in times]
    ticks = T0 + 60.0 * np.arange(n_ticks)
    return np.array(times, dtype=float), np.array(vals), ticks, 60.0 * m


HOWS = ["sum", "mean", "rate", "count", "max", "min", "last", 0.0, 5.0, 50.0, 95.0, 99.0, 100.0]


@settings(max_examples=400, deadline=None)
@given(series(), st.sampled_from(HOWS), st.booleans())
def test_window_kernels_equal_brute_force(case, how, pointer_walk):
    times, vals, ticks, period = case
    sc = WindowScratch()
    lo, hi = window_bounds(times, ticks, period, sc, step=0.0 if pointer_walk else None)
    blo, bhi = _brute_bounds(times.tolist(), ticks.tolist(), period)
    assert lo.tolist() == blo and hi.tolist() == bhi
    out = np.full(ticks.size, -12345.0)
    name = how if isinstance(how, str) else "percentile"
    q = period if how == "rate" else 0.0 if isinstance(how, str) else how
    align_scalar(vals, lo, hi, name, out, q, sc)
    wide = int((hi - lo).max(initial=0)) > DIRECT_POINTS
    for k in range(ticks.size):
        window = vals[lo[k] : hi[k]].tolist()
        want = _ref(window, name, q)
        if wide and name in ("sum", "mean", "rate") and len(window) > DIRECT_POINTS:
            # running sum: exact for integers, within rounding of the direct sum otherwise
            bound = 4 * len(window) * 2.0**-52 * max(1.0, sum(abs(x) for x in window))
            assert abs(out[k] - want) <= bound, (k, window, out[k], want)
        else:
            assert _same(out[k], want), (k, window, name, out[k], want)


@pytest.mark.parametrize(
    "how", ["sum", "mean", "rate", "max", "min", "count", "last", "percentile"]
)
def test_edge_cases(how):
    """Empty series, a single point, a point exactly on a tick and one exactly on a window
    start, and a gap of empty windows (NaN, not 0)."""
    ticks = T0 + 60.0 * np.arange(6)
    sc = WindowScratch()
    empty = np.empty(0)
    lo, hi = window_bounds(empty, ticks, 120.0, sc)
    out = align_scalar(empty, lo, hi, how, np.empty(6), 50.0, sc)
    assert np.isnan(out).all()
    # one point on tick 1 (inside windows of ticks 1 and 2; tick 3's window (t3-120, t3]
    # starts exactly at it and excludes it), then nothing until tick 5
    times = np.array([T0 + 60.0, T0 + 300.0])
    vals = np.array([3.5, -2.0])
    lo, hi = window_bounds(times, ticks, 120.0, sc)
    out = align_scalar(vals, lo, hi, how, np.empty(6), 50.0, sc)
    one = {"count": 1.0, "rate": 3.5 / 50.0}.get(how, 3.5)  # (q = 50: the rate's period)
    last = {"count": 1.0, "rate": -2.0 / 50.0}.get(how, -2.0)
    assert all(
        _same(a, b)
        for a, b in zip(out, [math.nan, one, one, math.nan, math.nan, last], strict=True)
    )


def test_grids_the_segment_path_declines_give_the_same_bounds():
    """Irregular ticks, non-integral ticks and a period not a multiple of the step walk
    pointers; they must select the same points as brute force."""
    rng = np.random.default_rng(3)
    times = np.sort(T0 - 600 + rng.choice(np.arange(0, 3000, 7.5), 200, replace=False))
    for ticks, period in (
        (T0 + np.array([0.0, 60.0, 61.0, 300.0, 900.0]), 120.0),
        (T0 + 0.5 + 60.0 * np.arange(20), 120.0),
        (T0 + 60.0 * np.arange(20), 90.0),
        (60.0 * np.arange(20), 120.0),  # near epoch 0: x - (t0 - P) is not always exact
    ):
        lo, hi = window_bounds(times, ticks, period)
        blo, bhi = _brute_bounds(times.tolist(), ticks.tolist(), period)
        assert lo.tolist() == blo and hi.tolist() == bhi


def test_descending_ticks_are_refused():
    with pytest.raises(ValueError, match="ascending"):
        window_bounds(np.array([T0]), np.array([T0 + 0.5, T0]), 60.0)


def test_wide_running_sum_stays_close_after_a_huge_value_leaves():
    """A spike of 1e12 entering and leaving a wide window must not leave its rounding behind
    for long: the running sum is recomputed directly (all values here are small integers
    once the spike has left, so the direct sum is exact)."""
    n = 400
    times = T0 - 3600 + 60.0 * np.arange(n) + 1
    vals = np.ones(n)
    vals[5] = 1e12 + 0.5
    ticks = T0 + 60.0 * np.arange(n - 60)
    lo, hi = window_bounds(times, ticks, 1800.0)  # 30 points per window
    out = align_scalar(vals, lo, hi, "sum", np.empty(ticks.size))
    want = np.array([sum(vals[a:b].tolist()) for a, b in zip(lo, hi, strict=True)])
    later = lo > 5 + 60  # two window lengths after the spike left
    assert np.array_equal(out[later], want[later])


@pytest.mark.parametrize(
    ("times", "values", "clean"),
    [
        ([1.0, 2.0, 3.0], [0.0, -1.0, 2.0], True),
        ([], [], True),
        ([1.0, 1.0], [0.0, 0.0], False),  # duplicate time
        ([2.0, 1.0], [0.0, 0.0], False),  # out of order
        ([1.0, 2.0], [0.0, math.nan], False),
        ([1.0, math.inf], [0.0, 0.0], False),
        ([1.0, 2.0], [-math.inf, 0.0], False),
    ],
)
def test_is_clean(times, values, clean):
    assert is_clean(np.array(times, dtype=float), np.array(values, dtype=float)) is clean


def test_kernels_compile_without_a_cache_location(monkeypatch):
    """Where numba has no writable cache location it refuses ``cache=True`` at import; the
    kernels are then compiled without a cache, with a warning naming NUMBA_CACHE_DIR."""
    import numba

    from ctscan_ops.alerting.engine import jit

    real = numba.njit

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x'")
        return real(*args, **kwargs)

    monkeypatch.setattr(jit.numba, "njit", njit)
    monkeypatch.setattr(jit, "_warned", False)

    def add_one(x):
        return x + 1.0

    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        f = jit.kernel(add_one)
    assert f(2.0) == 3.0


@pytest.mark.parametrize(
    ("times", "values"),
    [
        ([T0 + 1, T0 + 61, T0 + 30], [1.0, 2.0, 3.0]),  # out of order
        ([T0 + 1, T0 + 61, T0 + 61], [1.0, 2.0, 3.0]),  # duplicate time
        ([T0 + 1, math.nan, T0 + 121], [1.0, 2.0, 3.0]),
        ([T0 + 1, T0 + 61, math.inf], [1.0, 2.0, 3.0]),
        ([T0 + 1, T0 + 61, T0 + 121], [1.0, math.nan, 3.0]),
        ([T0 + 1, T0 + 61, T0 + 121], [1.0, 2.0, -math.inf]),
    ],
)
@pytest.mark.parametrize("how", ["mean", "max", "count", "last", "percentile"])
@pytest.mark.parametrize("pointer_walk", [False, True])
def test_unclean_points_are_detected_on_the_way(times, values, how, pointer_walk):
    """align_series checks what prepare would clean while it reads the points: it answers
    False for every kind of unclean input (and the public kernels refuse it)."""
    t = np.array(times)
    v = np.array(values)
    ticks = T0 + 60.0 * np.arange(4) + (0.5 if pointer_walk else 0.0)
    assert align_series(t, v, ticks, 120.0, how, np.empty(4), 50.0) is False
    clean_times = bool(np.all(np.isfinite(t)) and np.all(np.diff(t) > 0))
    if not clean_times:
        with pytest.raises(ValueError, match="strictly increasing"):
            window_bounds(t, ticks, 120.0)
    else:
        lo, hi = window_bounds(t, ticks, 120.0)
        with pytest.raises(ValueError, match="finite"):
            align_scalar(v, lo, hi, how, np.empty(4), 50.0)


def test_evaluator_prepares_unclean_series_and_reports_their_issues():
    """The evaluator hands series to the kernels unchecked; an unclean one is then prepared
    (sorted, last write wins, NaN dropped) and its issues reported, with the reference's
    values."""
    from ctscan_ops.alerting.catalog import Aggregation, Condition
    from ctscan_ops.alerting.engine.evaluator import aligned_condition_values, evaluate
    from ctscan_ops.alerting.engine.reference import reference_values
    from ctscan_ops.alerting.engine.series import TimeSeries

    ticks = T0 + 60.0 * np.arange(6)
    dirty = TimeSeries(
        "m",
        np.array([T0 + 61, T0 + 1, T0 + 121, T0 + 121, T0 + 181, T0 + 241]),
        np.array([2.0, 1.0, 5.0, 3.0, math.nan, 4.0]),
        metric_labels={"s": "dirty"},
    )
    clean = TimeSeries("m", T0 + 60.0 * np.arange(6) - 5, np.arange(6.0), metric_labels={"s": "c"})
    cond = Condition(
        filter='metric.type="m"',
        aggregations=(Aggregation(120, "ALIGN_MEAN", "REDUCE_NONE", ()),),
        comparison="COMPARISON_GT",
        threshold_value=2.9,
        duration_s=0,
    )
    got = aligned_condition_values(cond, [dirty, clean], ticks)
    want = reference_values(cond, [dirty, clean], ticks)
    assert [g.labels for g in got] == [lab for lab, _ in want]
    for g, (_, w) in zip(got, want, strict=True):
        expect = [math.nan if x is None else x for x in w]
        assert all(_same(a, b) for a, b in zip(g.values.tolist(), expect, strict=True))
    res = evaluate(cond, [dirty, clean], float(ticks[0]), float(ticks[-1]), warmup=False)
    assert res.issues == {
        dirty.name: {
            "out_of_order": 1,
            "duplicates": 1,
            "non_finite": 1,
            "counter_resets": 0,
            "baseline_points": 0,
        }
    }
