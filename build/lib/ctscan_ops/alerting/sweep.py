"""Exact threshold sweep for one metric-threshold condition (no Dagster).

Given the per-tick aligned values of a condition (60 s evaluation ticks, NaN = no data), compute
the incident counts and quality figures for *every* threshold that changes the outcome, for each
candidate retest duration, without evaluating the thresholds one by one. Semantics are those of
:mod:`ctscan_ops.alerting.evaluator` and :mod:`ctscan_ops.alerting.quality`; the tests hold the
sweep equal to them (and to a brute-force loop) at every breakpoint and between breakpoints.

The algorithm
-------------
Work in "score space": for ``COMPARISON_GT`` a tick violates ``value > T``; for ``COMPARISON_LT``
the values and the threshold are negated (``v < T`` iff ``-v > -T``), so only ``>`` is left.

1. Condition score. For a duration ``D`` the condition is met at tick ``t`` iff every tick of
   the retest window (the ``k = D/60 + 1`` ticks ending at ``t``; fewer ticks of history: not
   met) violates. A tick with data violates iff its value exceeds ``T``; a tick without data
   violates for every ``T`` (ACTIVE: value ``+inf``), for none (INACTIVE: ``-inf``), or neither
   breaks nor fills the window (NO_OP: ``+inf`` inside the window, and the tick itself keeps the
   state of the last tick with data). Hence *met(t, T) iff S[t] > T*, where ``S`` is the rolling
   minimum of those per-tick values (carried forward over NO_OP gaps): one array serves all
   thresholds. auto_close holds incidents closed from the tick at which data has been absent
   for ``auto_close_s`` until data returns; that does not depend on ``T``, so ``S = -inf`` there.

2. Incidents are the maximal runs of ``S > T``. Tick ``t`` *starts* a run iff
   ``S[t] > T >= S[t-1]`` (``S[-1] = -inf``): each tick contributes the half-open threshold
   interval ``[S[t-1], S[t])``, and the number of incidents at ``T`` is the number of these
   intervals containing ``T``: with both ends sorted, two binary searches per threshold.

3. True/false incidents. Mark the ticks whose span ``[t, t + 60 s)`` overlaps a labelled window
   (an incident ``[open, close)`` overlaps a window iff one of its ticks does). With ``lam(t)``
   the first marked tick at or after ``t`` and ``mu[t] = min(S[t..lam(t)])`` (``-inf`` if
   none), the run starting at ``t`` reaches a marked tick iff ``mu[t] > T``: true incidents
   start in the interval ``[S[t-1], mu[t])``, counted as in step 2. ``mu`` is a segmented
   reverse cumulative minimum, one vectorised pass (:func:`_segmented_reverse_cummin`).

4. Per-tick FPR: ``#{t outside every window: S[t] > T}`` from the sorted scores.

5. Per labelled window ``w`` over ticks ``[a, b]``: detected iff ``max(S[a..b]) > T`` (recall).
   Its detection tick is the start of the run holding the window's first met tick: the first
   index where the prefix maximum of ``S[a..b]`` exceeds ``T``, or, if that is ``a`` itself,
   earlier by the length of the backward run found from the running minimum of ``S[..a]``
   read backwards. The reset tick (close of the run holding the last met tick) mirrors this
   with the suffix maximum and the forward running minimum of ``S[b..]``. All four arrays are
   monotone, so each window's times for all thresholds are binary searches; medians and means
   are then taken across windows per threshold.

Groups (``group_by``, trigger count 1): every group opens its own incidents, so the interval
counts of steps 2-3 simply add up over groups; the per-tick state is "any group met" (maximum
score); a window's detection is the earliest over groups, its reset the latest close.

Thresholds: with ``u_0 < ... < u_{m-1}`` the distinct finite scores, the outcome is constant for
``T`` in ``[u_i, u_{i+1})`` and changes at every ``u_i``; plus the class below ``u_0`` (fires on
every tick with a finite score). Each class is reported with its exact bounds and a
representative threshold (a short decimal inside the class, so recommendations read like
``2000`` rather than ``1987.342``). Cost per duration: ``O(n log n + (n + W) m)``-ish in numpy
for ``n`` ticks, ``m <= n + 1`` classes and ``W`` labelled windows (sorting plus binary
searches; the ``W x m`` window-time matrix is the only quadratic-looking term).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

TICK_S = 60
SECONDS_PER_DAY = 86_400.0

MISSING_INACTIVE = "EVALUATION_MISSING_DATA_INACTIVE"
MISSING_ACTIVE = "EVALUATION_MISSING_DATA_ACTIVE"
MISSING_NO_OP = "EVALUATION_MISSING_DATA_NO_OP"

_MISSING_ALIASES = {
    "inactive": MISSING_INACTIVE,
    "active": MISSING_ACTIVE,
    "no-op": MISSING_NO_OP,
    "no_op": MISSING_NO_OP,
    "noop": MISSING_NO_OP,
    "unspecified": MISSING_NO_OP,
    "evaluation_missing_data_unspecified": MISSING_NO_OP,
}


class SweepInputError(ValueError):
    """Bad input to the sweep (names the argument and what is wrong)."""


def normalize_comparison(comparison: str) -> str:
    """Return ``"GT"`` or ``"LT"``; Cloud Monitoring supports only these two for thresholds."""
    c = str(comparison).upper().removeprefix("COMPARISON_")
    if c not in ("GT", "LT"):
        raise SweepInputError(f"comparison: {comparison!r} is not supported (only GT or LT)")
    return c


def normalize_missing_data(mode: str | None) -> str:
    """Map CLI spellings (inactive/active/no-op) and API names to the API enum name."""
    if mode is None:
        return MISSING_NO_OP
    m = str(mode)
    if m.upper() in (MISSING_INACTIVE, MISSING_ACTIVE, MISSING_NO_OP):
        return m.upper()
    alias = _MISSING_ALIASES.get(m.lower())
    if alias is None:
        raise SweepInputError(f"missing_data: {mode!r} is not one of inactive, active, no-op")
    return alias


def window_ticks(duration_s: int, tick_s: int = TICK_S) -> int:
    """Number of evaluation ticks in the retest window of ``duration_s``.

    Convention (must match the evaluator): the window is ``[t - D, t]`` inclusive, so a 0 s
    duration looks at the current tick only and 300 s needs 6 consecutive violating ticks.
    """
    if duration_s < 0 or duration_s % tick_s:
        raise SweepInputError(
            f"duration: {duration_s} s is not a non-negative multiple of {tick_s}"
        )
    return duration_s // tick_s + 1


def _rolling_min(x: np.ndarray, k: int) -> np.ndarray:
    """Minimum over the ``k`` values ending at each index; shorter windows at the start are
    padded with ``-inf`` (the retest window has not elapsed yet, so the condition is not met)."""
    if k == 1:
        return x.copy()
    padded = np.concatenate([np.full(k - 1, -np.inf), x])
    return np.lib.stride_tricks.sliding_window_view(padded, k).min(axis=1)


def _auto_close_mask(has_data: np.ndarray, auto_close_s: int | None, tick_s: int) -> np.ndarray:
    """Ticks on which auto_close holds incidents closed: from the tick at which data has been
    absent for ``auto_close_s`` until data returns. Independent of the threshold."""
    n = has_data.size
    if not auto_close_s or auto_close_s <= 0 or n == 0:
        return np.zeros(n, dtype=bool)
    idx = np.arange(n)
    last_data = np.maximum.accumulate(np.where(has_data, idx, -1))
    # Before the first point, nothing was ever open: no auto_close needed.
    gap_ticks = np.where(last_data >= 0, idx - last_data, 0)
    return (~has_data) & (gap_ticks * tick_s >= auto_close_s)


def condition_scores(
    values: np.ndarray,
    comparison: str,
    duration_s: int,
    missing_data: str | None,
    auto_close_s: int | None = None,
    tick_s: int = TICK_S,
) -> np.ndarray:
    """Score ``S`` such that the condition is met at tick ``t`` for threshold ``T`` iff
    ``S[t] > sign * T`` (sign +1 for GT, -1 for LT). See the module docstring."""
    cmp_ = normalize_comparison(comparison)
    mode = normalize_missing_data(missing_data)
    v = np.asarray(values, dtype=float)
    sign = 1.0 if cmp_ == "GT" else -1.0
    has_data = ~np.isnan(v)
    z = sign * v
    k = window_ticks(duration_s, tick_s)
    if mode == MISSING_NO_OP:
        # Ticks without data are not evaluated: they neither break nor fill the retest window
        # (+inf in the minimum) and the condition keeps its previous state on them.
        per_tick = np.where(has_data, z, np.inf)
        s = _rolling_min(per_tick, k)
        s = _carry_forward(s, has_data)
    else:
        fill = np.inf if mode == MISSING_ACTIVE else -np.inf
        per_tick = np.where(has_data, z, fill)
        s = _rolling_min(per_tick, k)
    closed = _auto_close_mask(has_data, auto_close_s, tick_s)
    s[closed] = -np.inf
    return s


def _carry_forward(s: np.ndarray, evaluated: np.ndarray) -> np.ndarray:
    """Value of the last evaluated tick (``-inf`` before the first one)."""
    idx = np.arange(s.size)
    src = np.maximum.accumulate(np.where(evaluated, idx, -1))
    out = np.full(s.size, -np.inf)
    ok = src >= 0
    out[ok] = s[src[ok]]
    return out


def _segmented_reverse_cummin(s: np.ndarray, marked: np.ndarray) -> np.ndarray:
    """``mu[t] = min(s[t..lam(t)])`` with ``lam(t)`` the first marked index >= t, ``-inf`` if none.

    Vectorised: rank the values, then subtract a per-segment offset that grows along the reversed
    array, so a plain cumulative minimum restarts at every segment (all values of a later
    segment are smaller than any of an earlier one).
    """
    n = s.size
    if n == 0:
        return s.copy()
    order = np.argsort(s, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    # segment id: number of marked ticks at index >= t (a marked tick closes its segment)
    seg = np.cumsum(marked[::-1])[::-1]
    key = rank[::-1] - seg[::-1].astype(np.int64) * n
    cm = np.minimum.accumulate(key)
    seg_r = seg[::-1]
    mu_rank = cm + seg_r.astype(np.int64) * n
    mu = s[order[mu_rank]][::-1]
    mu[seg == 0] = -np.inf
    return mu


def _count_containing(lo: np.ndarray, hi: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """For each tau, the number of half-open intervals ``[lo_i, hi_i)`` that contain it."""
    keep = lo < hi
    lo_s = np.sort(lo[keep])
    hi_s = np.sort(hi[keep])
    return np.searchsorted(lo_s, taus, side="right") - np.searchsorted(hi_s, taus, side="right")


def _count_above(x: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """For each tau, ``#{x > tau}``."""
    xs = np.sort(x)
    return xs.size - np.searchsorted(xs, taus, side="right")


def _short_decimals(lo: np.ndarray, hi: np.ndarray, include_lo: bool) -> np.ndarray:
    """Per class, a short decimal ``x`` with ``lo <= x < hi`` (include_lo) or ``lo < x <= hi``.

    Thresholds in the same class give identical results on the data, so prefer the one an
    operator would type: 0 if it fits, else the first multiple of the largest power of ten (not
    above the bounds' magnitude) that fits, next to the finite bound; the exact bound otherwise.
    Vectorised over classes: one pass per power of ten.
    """
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)

    def inside(x: np.ndarray, lo_: np.ndarray, hi_: np.ndarray) -> np.ndarray:
        if include_lo:
            return (x >= lo_) & (x < hi_)
        return (x > lo_) & (x <= hi_)

    out = np.where(include_lo, lo, hi).astype(float)
    pending = ~inside(np.zeros_like(lo), lo, hi)
    out[~pending] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.fmax(
            np.where(np.isfinite(lo) & (lo != 0), np.abs(lo), np.nan),
            np.where(np.isfinite(hi) & (hi != 0), np.abs(hi), np.nan),
        )
        start = np.floor(np.log10(mag))
    pending &= np.isfinite(start)
    if not pending.any():
        return out
    top = int(np.nanmax(start[pending]))
    for e in range(top, -13, -1):
        idx = np.flatnonzero(pending & (start >= e))
        if idx.size == 0:
            continue
        step = 10.0**e
        lo_s, hi_s = lo[idx], hi[idx]
        with np.errstate(invalid="ignore"):
            up = np.ceil(lo_s / step) * step
            if not include_lo:
                up = np.where(up <= lo_s, up + step, up)
            down = np.floor(hi_s / step) * step
            if include_lo:
                down = np.where(down >= hi_s, down - step, down)
        x = np.where(np.isfinite(lo_s), up, down)
        x = np.round(x, max(0, -e)) + 0.0
        ok = inside(x, lo_s, hi_s)
        out[idx[ok]] = x[ok]
        pending[idx[ok]] = False
    return out


def _shortest_decimal_in(lo: float, hi: float, include_lo: bool) -> float:
    """Scalar :func:`_short_decimals`."""
    return float(_short_decimals(np.array([lo]), np.array([hi]), include_lo)[0])


@dataclass
class DurationCurve:
    """Quality figures per threshold class for one duration (arrays aligned by class)."""

    duration_s: int
    threshold: np.ndarray  # representative threshold (user space)
    threshold_lo: np.ndarray  # class bounds in user space (GT: [lo, hi); LT: (lo, hi])
    threshold_hi: np.ndarray
    incidents: np.ndarray
    true_incidents: np.ndarray
    met_ticks_unlabelled: np.ndarray
    detected_windows: np.ndarray
    median_detection_s: np.ndarray  # NaN where no window is detected
    mean_detection_s: np.ndarray
    median_reset_s: np.ndarray  # NaN where no detected window has a closed incident
    n_windows: int
    unlabelled_ticks: int
    observed_days: float

    @property
    def false_incidents(self) -> np.ndarray:
        return self.incidents - self.true_incidents

    @property
    def precision(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.incidents > 0, self.true_incidents / self.incidents, np.nan)

    @property
    def false_discovery_rate(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.incidents > 0, self.false_incidents / self.incidents, np.nan)

    @property
    def fpr_per_tick(self) -> np.ndarray:
        if self.unlabelled_ticks == 0:
            return np.full(self.incidents.shape, np.nan)
        return self.met_ticks_unlabelled / self.unlabelled_ticks

    @property
    def recall(self) -> np.ndarray:
        if self.n_windows == 0:
            return np.full(self.incidents.shape, np.nan)
        return self.detected_windows / self.n_windows

    @property
    def false_alerts_per_day(self) -> np.ndarray:
        if self.observed_days <= 0:
            return np.full(self.incidents.shape, np.nan)
        return self.false_incidents / self.observed_days

    def quality_at(self, i: int) -> dict[str, float | int | None]:
        """Quality figures of class ``i`` with the keys of backtest's ``quality``
        (:meth:`ctscan_ops.alerting.quality.Quality.as_dict`). Operator verdicts on individual
        incidents are not part of the sweep: it scores by label windows only."""
        return {
            "incidents": int(self.incidents[i]),
            "true_incidents": int(self.true_incidents[i]),
            "false_incidents": int(self.false_incidents[i]),
            "precision": _num(self.precision[i]),
            "false_discovery_rate": _num(self.false_discovery_rate[i]),
            "fpr_per_tick": _num(self.fpr_per_tick[i]),
            "recall": _num(self.recall[i]),
            "false_alerts_per_day": _num(self.false_alerts_per_day[i]),
            "median_detection_s": _num(self.median_detection_s[i]),
            "mean_detection_s": _num(self.mean_detection_s[i]),
            "median_reset_s": _num(self.median_reset_s[i]),
            "labelled_incidents": self.n_windows,
            "detected_incidents": int(self.detected_windows[i]),
            "missed_incidents": self.n_windows - int(self.detected_windows[i]),
            "days": self.observed_days,
        }

    def class_of(self, threshold: float, comparison: str) -> int:
        """Index of the class holding ``threshold`` (user space)."""
        if normalize_comparison(comparison) == "GT":
            return int(np.searchsorted(self.threshold_lo, threshold, side="right") - 1)
        # LT classes are (lo, hi], ascending
        return int(np.searchsorted(self.threshold_hi, threshold, side="left"))


def _num(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


@dataclass
class SweepResult:
    """Curves for every duration plus the context needed to read them."""

    comparison: str
    missing_data: str
    auto_close_s: int | None
    curves: dict[int, DurationCurve] = field(default_factory=dict)


@dataclass(frozen=True)
class LabelGeometry:
    """Threshold-independent label facts for a tick grid."""

    overlap_marked: np.ndarray  # tick span [t, t+tick) overlaps some window
    in_window: np.ndarray  # tick time inside some window (per-tick truth)
    regions: np.ndarray  # (W, 2) first/last tick index overlapping each window
    starts: np.ndarray  # (W,) window start, epoch s
    ends: np.ndarray  # (W,) window end, epoch s


def label_geometry(
    ticks: np.ndarray, windows: Sequence[tuple[float, float]], tick_s: int = TICK_S
) -> LabelGeometry:
    """Map labelled windows ``[start, end]`` (epoch s) to tick indices.

    Windows that overlap no tick span are outside the evaluated period and are dropped (they
    cannot be detected or missed by this data)."""
    t = np.asarray(ticks, dtype=float)
    n = t.size
    marked = np.zeros(n, dtype=bool)
    inside = np.zeros(n, dtype=bool)
    regions, starts, ends = [], [], []
    for s, e in windows:
        if e < s:
            raise SweepInputError(f"labels: window end {e} is before its start {s}")
        a = int(np.searchsorted(t, s - tick_s, side="right"))
        b = int(np.searchsorted(t, e, side="right")) - 1
        if a > b or a >= n or b < 0:
            continue
        marked[a : b + 1] = True
        i0 = int(np.searchsorted(t, s, side="left"))
        if i0 <= b:
            inside[i0 : b + 1] = True
        regions.append((a, b))
        starts.append(float(s))
        ends.append(float(e))
    return LabelGeometry(
        overlap_marked=marked,
        in_window=inside,
        regions=np.asarray(regions, dtype=np.int64).reshape(-1, 2),
        starts=np.asarray(starts, dtype=float),
        ends=np.asarray(ends, dtype=float),
    )


def _window_times(
    s: np.ndarray,
    ticks: np.ndarray,
    geo: LabelGeometry,
    taus: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window and threshold: detected flag, detection time, reset time (NaN if not
    detected, +inf if the last incident touching the window is still open at the end)."""
    n = s.size
    w_count = geo.regions.shape[0]
    det = np.zeros((w_count, taus.size), dtype=bool)
    det_s = np.full((w_count, taus.size), np.nan)
    rst_s = np.full((w_count, taus.size), np.nan)
    for w, (a, b) in enumerate(geo.regions):
        seg = s[a : b + 1]
        pmax = np.maximum.accumulate(seg)
        idx = np.searchsorted(pmax, taus, side="right")  # first j with pmax_j > tau
        hit = idx < seg.size
        det[w] = hit
        # detection: start of the run holding the first met tick of the window
        back = np.minimum.accumulate(s[a::-1])  # back[j] = min(s[a-j..a])
        c_back = np.searchsorted(-back, -taus, side="left")  # #{j: back_j > tau}
        open_idx = np.where(idx > 0, a + idx, a - (c_back - 1))
        open_idx = np.clip(open_idx, 0, n - 1)
        det_s[w] = np.where(hit, np.maximum(0.0, ticks[open_idx] - geo.starts[w]), np.nan)
        # reset: close of the run holding the last met tick of the window
        smax = np.maximum.accumulate(seg[::-1])
        idx2 = np.searchsorted(smax, taus, side="right")
        fwd = np.minimum.accumulate(s[b:])  # fwd[j] = min(s[b..b+j])
        c_fwd = np.searchsorted(-fwd, -taus, side="left")
        close_idx = np.where(idx2 > 0, b - idx2 + 1, b + c_fwd)
        safe = np.clip(close_idx, 0, n - 1)
        rst = np.where(close_idx < n, np.maximum(0.0, ticks[safe] - geo.ends[w]), np.inf)
        rst_s[w] = np.where(hit, rst, np.nan)
    return det, det_s, rst_s


def _change_points(x: np.ndarray) -> np.ndarray:
    """The distinct values of a monotone array (its first element and every change)."""
    if x.size == 0:
        return x
    keep = np.concatenate([[True], x[1:] != x[:-1]])
    return x[keep]


def _window_breakpoints(scores: np.ndarray, geo: LabelGeometry) -> np.ndarray:
    """Sorted thresholds at which some window's detection or reset time can change, led by
    ``-inf``: the values of the window's scores and of the backward / forward running minima
    (see :func:`_window_times`, whose binary searches only compare tau with those values)."""
    parts = [np.array([-np.inf])]
    for s in scores:
        for a, b in geo.regions:
            parts.append(s[a : b + 1])
            parts.append(_change_points(np.minimum.accumulate(s[a::-1])))
            parts.append(_change_points(np.minimum.accumulate(s[b:])))
    return np.unique(np.concatenate(parts))


def _distinct_columns(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of columns that differ from their left neighbour, and for every column the
    position of its representative among them: window times change only at a window's own
    breakpoints, so most adjacent threshold classes share the same column."""
    if m.shape[1] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b = m[:, 1:], m[:, :-1]
    same = np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=0)
    new = np.concatenate([[True], ~same])
    return np.flatnonzero(new), np.cumsum(new) - 1


def _nanmedian_columns(m: np.ndarray) -> np.ndarray:
    """Median over rows per column ignoring NaN; NaN for all-NaN columns (no warning)."""
    if m.shape[0] == 0:
        return np.full(m.shape[1], np.nan)
    idx, pos = _distinct_columns(m)
    sub = m[:, idx]
    ok = ~np.isnan(sub).all(axis=0)
    vals = np.full(sub.shape[1], np.nan)
    if ok.any():
        vals[ok] = np.nanmedian(sub[:, ok], axis=0)
    return vals[pos]


def _nanmean_columns(m: np.ndarray) -> np.ndarray:
    """Mean over rows per column ignoring NaN; NaN for all-NaN columns."""
    ok = ~np.isnan(m)
    n = ok.sum(axis=0)
    total = np.where(ok, m, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _classes(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation points, lower and upper bounds (score space) of every threshold class."""
    u = np.unique(s[np.isfinite(s)])
    taus = np.concatenate([[-np.inf], u])
    his = np.concatenate([u, [np.inf]])
    return taus, taus.copy(), his


def validate_inputs(values: np.ndarray, ticks: np.ndarray, tick_s: int = TICK_S) -> None:
    """Reject arrays the sweep cannot reason about (the sweep assumes a regular tick grid)."""
    if values.ndim != 1 or ticks.ndim != 1 or values.size != ticks.size:
        raise SweepInputError(
            f"values/ticks: need two 1-D arrays of equal length, got {values.shape} "
            f"and {ticks.shape}"
        )
    if ticks.size > 1:
        d = np.diff(ticks)
        bad = np.flatnonzero(d != tick_s)
        if bad.size:
            i = int(bad[0])
            raise SweepInputError(
                f"ticks: not a regular {tick_s} s grid at index {i + 1} "
                f"({ticks[i]} -> {ticks[i + 1]})"
            )
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise SweepInputError(f"values: infinite value at index {i}")


def sweep_duration(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    comparison: str,
    duration_s: int,
    missing_data: str | None,
    auto_close_s: int | None = None,
    tick_s: int = TICK_S,
    geometry: LabelGeometry | None = None,
    context_ticks: int = 0,
) -> DurationCurve:
    """Quality figures for every threshold class at one duration (see module docstring).

    The first ``context_ticks`` ticks only feed the retest window and carried state (used to
    score a later part of a series, e.g. the walk-forward holdout); they are not scored.
    """
    v2 = np.atleast_2d(np.asarray(values, dtype=float))
    t = np.asarray(ticks, dtype=float)
    if v2.ndim != 2 or v2.shape[0] == 0:
        raise SweepInputError(f"values: need one series or groups x ticks, got {v2.shape}")
    for row in v2:
        validate_inputs(row, t, tick_s)
    n_ticks = t.size
    if not 0 <= context_ticks < max(n_ticks, 1):
        raise SweepInputError(f"context_ticks: {context_ticks} outside 0..{n_ticks - 1}")
    cmp_ = normalize_comparison(comparison)
    scores = np.vstack(
        [condition_scores(row, cmp_, duration_s, missing_data, auto_close_s, tick_s) for row in v2]
    )
    if context_ticks:
        t, scores = t[context_ticks:], scores[:, context_ticks:]
        n_ticks = t.size
        geometry = None
    geo = geometry if geometry is not None else label_geometry(t, windows, tick_s)
    taus, lo, hi = _classes(scores.ravel())

    # groups (trigger count 1) are independent: incident intervals add up across groups
    prev = np.concatenate([np.full((scores.shape[0], 1), -np.inf), scores[:, :-1]], axis=1)
    mu = np.vstack([_segmented_reverse_cummin(s, geo.overlap_marked) for s in scores])
    incidents = _count_containing(prev.ravel(), scores.ravel(), taus)
    true_inc = _count_containing(prev.ravel(), mu.ravel(), taus)
    # per tick, the policy alerts if any group does
    any_score = scores.max(axis=0)
    met_unl = _count_above(any_score[~geo.in_window], taus)
    # window times change only where tau crosses one of their breakpoints: evaluate there,
    # then look every class up (one binary search per class instead of several per window)
    eval_taus = _window_breakpoints(scores, geo)
    det, det_s, rst_s = _window_times(scores[0], t, geo, eval_taus)
    for s in scores[1:]:  # first incident / last close across groups
        d_g, ds_g, rs_g = _window_times(s, t, geo, eval_taus)
        det |= d_g
        det_s = np.fmin(det_s, ds_g)
        rst_s = np.fmax(rst_s, rs_g)
    rst_s[np.isinf(rst_s)] = np.nan  # still open at the end: no reset time
    pos = np.searchsorted(eval_taus, taus, side="right") - 1

    per_class = {
        "incidents": incidents.astype(np.int64),
        "true_incidents": true_inc.astype(np.int64),
        "met_ticks_unlabelled": met_unl.astype(np.int64),
        "detected_windows": det.sum(axis=0).astype(np.int64)[pos],
        "median_detection_s": _nanmedian_columns(det_s)[pos],
        "mean_detection_s": _nanmean_columns(det_s)[pos],
        "median_reset_s": _nanmedian_columns(rst_s)[pos],
    }
    # user-space bounds and representative thresholds, ascending in the user's threshold
    if cmp_ == "GT":
        t_lo, t_hi = lo, hi
        rep = _short_decimals(lo, hi, True)
    else:
        t_lo, t_hi = (-hi)[::-1], (-lo)[::-1]  # tau in [lo, hi)  <=>  T in (-hi, -lo]
        rep = _short_decimals(t_lo, t_hi, False)
        per_class = {k: a[::-1].copy() for k, a in per_class.items()}
    return DurationCurve(
        duration_s=int(duration_s),
        threshold=rep,
        threshold_lo=t_lo,
        threshold_hi=t_hi,
        **per_class,
        n_windows=int(geo.regions.shape[0]),
        unlabelled_ticks=int((~geo.in_window).sum()),
        observed_days=n_ticks * tick_s / SECONDS_PER_DAY,
    )


def candidate_durations(
    max_duration_s: int, count: int | None = None, tick_s: int = TICK_S
) -> list[int]:
    """Durations 0, 60, ... up to ``max_duration_s`` (every multiple of the tick, or ``count``
    evenly spread multiples when given)."""
    if max_duration_s < 0 or max_duration_s % tick_s:
        raise SweepInputError(
            f"max_duration: {max_duration_s} s is not a non-negative multiple of {tick_s}"
        )
    all_d = list(range(0, max_duration_s + 1, tick_s))
    if count is None or count >= len(all_d):
        return all_d
    idx = np.unique(np.round(np.linspace(0, len(all_d) - 1, count)).astype(int))
    return [all_d[i] for i in idx]


def sweep(
    values: np.ndarray,
    ticks: np.ndarray,
    windows: Sequence[tuple[float, float]],
    comparison: str,
    durations_s: Sequence[int],
    missing_data: str | None,
    auto_close_s: int | None = None,
    tick_s: int = TICK_S,
) -> SweepResult:
    """Sweep every threshold class for each duration in ``durations_s``."""
    t = np.asarray(ticks, dtype=float)
    geo = label_geometry(t, windows, tick_s)
    res = SweepResult(
        comparison=normalize_comparison(comparison),
        missing_data=normalize_missing_data(missing_data),
        auto_close_s=auto_close_s,
    )
    for d in durations_s:
        res.curves[int(d)] = sweep_duration(
            values, t, windows, comparison, int(d), missing_data, auto_close_s, tick_s, geo
        )
    return res
