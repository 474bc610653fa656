"""Window kernels of the evaluator (windows.py) against brute force on every window.

Sums must equal Python's left-to-right ``sum()`` bit for bit (the reference's order), and every
other statistic exactly; percentiles interpolate like the reference. Covered: empty windows,
single points, ties, windows of one width only (the table then starts at that width), windows
too wide for a table (the kernels decline), and the sorting network by the 0-1 principle.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.engine.windows import (
    MAX_NETWORK_WIDTH,
    Scratch,
    regular_window_bounds,
    sorting_network,
    window_percentile,
    window_percentile_table,
    window_stat,
)

T0 = 1_700_000_040.0


def _brute_bounds(times, first_tick, n_ticks, step, m):
    lo, hi = [], []
    for k in range(n_ticks):
        t = first_tick + k * step
        inside = [i for i, x in enumerate(times) if t - m * step < x <= t]
        lo.append(inside[0] if inside else sum(1 for x in times if x <= t - m * step))
        hi.append(inside[-1] + 1 if inside else lo[-1])
    return np.array(lo), np.array(hi)


def _ref(values, how, q=None):
    if not values:
        return math.nan
    if how == "sum":
        return sum(values)
    if how == "mean":
        return sum(values) / len(values)
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
    dense = draw(st.booleans())
    n_ticks = draw(st.integers(1, 30))
    m = draw(st.integers(1, 6))
    if dense:  # a point in every minute (jittered): every window holds m points or more
        times = [
            T0 - 60 * m + 60 * i + draw(st.sampled_from([1, 30, 59])) for i in range(n_ticks + m)
        ]
    else:
        raw = draw(st.lists(st.integers(0, (n_ticks + m) * 2), max_size=40, unique=True))
        times = [T0 - 60 * m + 30 * r for r in sorted(raw)]  # often exactly on window edges
    kind = draw(st.sampled_from(["ints", "ties", "floats"]))
    if kind == "ints":
        vals = [float(draw(st.integers(-20, 20))) for _ in times]
    elif kind == "ties":
        vals = [float(draw(st.sampled_from([1, 2]))) for _ in times]
    else:
        vals = [draw(st.floats(-1e3, 1e3, allow_nan=False, width=64)) for _ in times]
    return np.array(times, dtype=float), np.array(vals), n_ticks, m


@settings(max_examples=300, deadline=None)
@given(
    series(),
    st.sampled_from(
        ["sum", "mean", "count", "max", "min", "last", 0.0, 5.0, 50.0, 95.0, 99.0, 100.0]
    ),
)
def test_window_kernels_equal_brute_force(case, how):
    times, vals, n_ticks, m = case
    sc = Scratch()
    lo, hi = regular_window_bounds(times, T0, n_ticks, 60.0, m, sc)
    lo, hi = lo.copy(), hi.copy()
    blo, bhi = _brute_bounds(times.tolist(), T0, n_ticks, 60.0, m)
    assert lo.tolist() == blo.tolist() and hi.tolist() == bhi.tolist()
    out = np.full(n_ticks, -12345.0)
    if isinstance(how, str):
        got = window_stat(vals, lo, hi, how, out, sc)
    else:
        got = window_percentile_table(vals, lo, hi, how, out, sc)
    if got is None:  # declined: windows too wide for a table
        assert int((hi - lo).max()) > MAX_NETWORK_WIDTH
        return
    for k in range(n_ticks):
        window = vals[lo[k] : hi[k]].tolist()
        want = _ref(
            window,
            how if isinstance(how, str) else "pct",
            how if not isinstance(how, str) else None,
        )
        assert _same(got[k], want), (k, window, how, got[k], want)
    if not isinstance(how, str) and int((hi - lo).max(initial=0)) > 0:
        net = window_percentile(vals, lo, hi, how)
        assert all(_same(a, b) for a, b in zip(net.tolist(), got.tolist(), strict=True))


def test_kernels_decline_wide_windows():
    vals = np.arange(100.0)
    lo = np.array([0, 10])
    hi = np.array([MAX_NETWORK_WIDTH + 1, 12])
    assert window_stat(vals, lo, hi, "sum", np.empty(2)) is None
    assert window_percentile_table(vals, lo, hi, 50.0, np.empty(2)) is None
    # count and last need no table: they always answer
    assert window_stat(vals, lo, hi, "count", np.empty(2)).tolist() == [17.0, 2.0]
    assert window_stat(vals, lo, hi, "last", np.empty(2)).tolist() == [16.0, 11.0]


@pytest.mark.parametrize("n", range(1, MAX_NETWORK_WIDTH + 1))
def test_sorting_network_sorts_every_0_1_input(n):
    """0-1 principle: a comparator network sorts everything iff it sorts all 0/1 inputs."""
    net = sorting_network(n)
    assert all(0 <= a < b < n for a, b in net)
    cols = np.array(list(itertools.product([0.0, 1.0], repeat=n))).T.copy() if n <= 12 else None
    if cols is None:  # 2^n columns get large: random 0/1 inputs instead
        rng = np.random.default_rng(n)
        cols = rng.integers(0, 2, size=(n, 20000)).astype(float)
    for a, b in net:
        lo = np.minimum(cols[a], cols[b])
        cols[b] = np.maximum(cols[a], cols[b])
        cols[a] = lo
    assert np.all(np.diff(cols, axis=0) >= 0)
