"""Offline evaluator of Cloud Monitoring metric-threshold conditions (numpy + numba kernels).

GCP has no dry run or backtest for alert policies; this module recomputes, from raw points,
what a ``MetricThreshold`` condition would have done at every evaluation tick.
:mod:`ctscan_ops.alerting.engine.reference` is a deliberately naive per-tick loop with the same
semantics; property tests hold the two equal.

Exact semantics
===============
Ticks
    Evaluation happens on a regular grid of ticks, every 60 s, at epoch multiples of 60 s
    (:func:`make_ticks`). Any ascending grid works for :func:`aligned_condition_values`;
    :func:`incidents_from_values` needs the regular 60 s grid (durations are counted in ticks).

Alignment window (rolling, per tick)
    The aligned value at tick ``t`` uses the points whose end time lies in ``(t - P, t]``
    (``P`` = alignment period): start open, end closed, like the API's ``TimeInterval``. The
    window slides by one tick per evaluation (GCP docs: 12:55-13:00 at 13:00, 12:56-13:01 at
    13:01); it is not a tumbling bucket. A window without points gives *no data* (NaN) for
    every aligner, including ALIGN_COUNT.

Aligners (scalar series; DELTA points are attributed whole to their end time, not prorated)
    MEAN, MAX, MIN, SUM, COUNT over the window's points; NEXT_OLDER = the latest point in the
    window; DELTA = sum of the deltas; RATE = DELTA / P (per second); PERCENTILE_q = linear
    interpolation between order statistics: rank ``q/100 * (n-1)`` of the sorted values.
    GAUGE accepts every aligner except DELTA/RATE; DELTA accepts all; CUMULATIVE (converted to
    deltas by :func:`~ctscan_ops.alerting.engine.series.prepare`) accepts only DELTA/RATE,
    as the API.

Distributions (value type DISTRIBUTION, e.g. Cloud Run ``request_latencies``)
    DELTA/SUM merge the bucket counts of the window's points (the result stays a distribution);
    MEAN = merged sample sum / merged count; PERCENTILE_q interpolates inside the bucket that
    holds rank ``r = q/100 * N`` (N = total count): ``lower + width * (r - below) / count``.
    A rank in the underflow bucket returns its upper bound, in the overflow bucket its lower
    bound. A distribution with N = 0 is no data.

Cross-series reducers and group-by
    Series are grouped by the values of ``group_by_fields`` (a missing label groups as ``""``);
    REDUCE_NONE keeps every series as its own group. Per tick, series without data are left
    out: SUM, MEAN, MIN, MAX, COUNT (number of series with data), STDDEV (population),
    PERCENTILE_q (same interpolation as the aligner, over the series' values). On distributions
    SUM merges, MEAN and PERCENTILE_q use the merged distribution. A group with no series with
    data at a tick has no data. Later ``aggregations`` entries reduce again (they cannot align).

Ratio conditions
    Numerator and denominator are aggregated separately; each numerator group is divided by the
    denominator group whose labels are a subset of its labels (so an ungrouped denominator
    divides every numerator group, as the API does for the original project's mistaken
    error-rate policy). Missing numerator or denominator, or a zero denominator: no data.

Condition state per group (``duration`` D, ``k = D / 60 + 1`` ticks)
    A tick with data violates iff ``value > threshold`` (GT) or ``< threshold`` (LT). The
    condition is met at tick ``t`` iff the ``k`` ticks ending at ``t`` (the window
    ``[t - D, t]``) all violate; fewer than ``k`` ticks of history -> not met (no data before
    the first tick is assumed). Ticks without data:

    * INACTIVE: do not violate (break the retest window);
    * ACTIVE: violate;
    * NO_OP (also UNSPECIFIED): are not evaluated: inside a retest window they neither break
      nor fill it, and on such a tick the group keeps the state of its last tick with data
      (not met before the first one).

Trigger
    ``count: N``: the condition is met at a tick iff at least N groups meet it; ``percent: P``:
    iff at least P % of the condition's groups (every output series of the condition, with or
    without data at that tick) meet it. While the trigger holds, every group that meets the
    condition has an open incident (one per group, as Cloud Monitoring opens one per series).

Incidents
    An incident opens at the first tick of a run of ticks on which its group is in the open
    state, and closes at the first tick after the run (``close_reason="cleared"``). auto_close:
    from the tick at which the group has had no data for ``auto_close`` seconds until data
    returns, the group is held closed (``close_reason="auto_close"``); it can only reopen
    after data returns. An incident still open at the last tick has ``close = None``.
    ``peak`` is the most extreme value during the incident (max for GT, min for LT; None if
    it never had data).

Messy input (see :mod:`ctscan_ops.alerting.engine.series`): out-of-order points are sorted,
duplicates keep the last written point, NaN/inf points are no data; all are counted in
``EvaluationResult.issues``.

Floating point: scalar windows of at most 16 points (:mod:`ctscan_ops.alerting.engine.windows`)
sum left to right in time order, bit-identical to the reference's ``sum()``; wider windows keep
a running sum recomputed directly every window length of updates: exact for integer and dyadic
values, otherwise within about ``3 n eps max|partial sum|`` of the direct sum. Distribution
windows take differences of prefix sums of bucket counts (exact for counts).

Performance (issue 14; ``benchmarks/bench_evaluator.py`` measures it against one numpy pass):
scalar alignment and the duration/missing-data/auto_close state machine are numba kernels, one
compiled pass per series or group (:mod:`~ctscan_ops.alerting.engine.windows`,
:mod:`~ctscan_ops.alerting.engine.state`); REDUCE_NONE values are written straight into the
rows of one matrix; incidents are built without the dataclass constructor. A process pays
numba's import and JIT start once (:func:`warm_kernels` fills the on-disk cache).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import (
    Aggregation,
    Condition,
    Policy,
    Trigger,
    normalize_comparison,
    normalize_missing_data,
)
from ctscan_ops.alerting.engine.filters import parse_filter
from ctscan_ops.alerting.engine.series import (
    PreparedSeries,
    SeriesIssues,
    TimeSeries,
    cumulative_unchecked,
    prepare,
    unchecked,
)
from ctscan_ops.alerting.engine.state import condition_state, met_runs
from ctscan_ops.alerting.engine.windows import WindowScratch, align_series, window_bounds

__all__ = [
    "TICK_S",
    "ConditionResult",
    "EvaluationError",
    "EvaluationResult",
    "GroupValues",
    "Incident",
    "aligned_condition_values",
    "bucket_percentile",
    "condition_met",
    "evaluate",
    "incidents_from_values",
    "make_ticks",
    "select_series",
    "stack_values",
]

TICK_S = 60

_PERCENTILE = {
    "ALIGN_PERCENTILE_99": 99.0,
    "ALIGN_PERCENTILE_95": 95.0,
    "ALIGN_PERCENTILE_50": 50.0,
    "ALIGN_PERCENTILE_05": 5.0,
    "REDUCE_PERCENTILE_99": 99.0,
    "REDUCE_PERCENTILE_95": 95.0,
    "REDUCE_PERCENTILE_50": 50.0,
    "REDUCE_PERCENTILE_05": 5.0,
}
#: aligner -> statistic of :func:`~ctscan_ops.alerting.engine.windows.align_scalar`
_SCALAR_STAT = {
    "ALIGN_SUM": "sum",
    "ALIGN_DELTA": "sum",
    "ALIGN_RATE": "rate",  # the window's sum / the period, divided in the kernel
    "ALIGN_MEAN": "mean",
    "ALIGN_COUNT": "count",
    "ALIGN_MAX": "max",
    "ALIGN_MIN": "min",
    "ALIGN_NEXT_OLDER": "last",
    **{a: "percentile" for a in _PERCENTILE if a.startswith("ALIGN_")},
}
_DIST_ALIGNERS = {
    "ALIGN_DELTA",
    "ALIGN_SUM",
    "ALIGN_MEAN",
    "ALIGN_PERCENTILE_99",
    "ALIGN_PERCENTILE_95",
    "ALIGN_PERCENTILE_50",
    "ALIGN_PERCENTILE_05",
}


class EvaluationError(ValueError):
    """A condition that cannot be evaluated on the given series (names both)."""


# --------------------------------------------------------------------------- ticks


def make_ticks(start: float, end: float, step: int = TICK_S) -> np.ndarray:
    """Evaluation ticks: epoch multiples of ``step`` in ``[start, end]`` (float seconds)."""
    first = math.ceil(start / step) * step
    last = math.floor(end / step) * step
    if last < first:
        return np.empty(0, dtype=float)
    return np.arange(first, last + step, step, dtype=float)[: int((last - first) // step) + 1]


# --------------------------------------------------------------------------- aligned values


@dataclass
class _Aligned:
    """Aligned (or reduced) values of one series/group on the tick grid."""

    labels: dict[str, str]
    values: np.ndarray | None = None  # (T,) scalar, NaN = no data
    counts: np.ndarray | None = None  # (T, B) distribution
    sums: np.ndarray | None = None  # (T,) distribution sample sums
    has: np.ndarray | None = None  # (T,) distribution: window had points
    bounds: np.ndarray | None = None

    @property
    def is_distribution(self) -> bool:
        return self.counts is not None


@dataclass(frozen=True)
class GroupValues:
    """Per-tick values of one output series of a condition (NaN = no data)."""

    labels: dict[str, str]
    values: np.ndarray


def _prefix(x: np.ndarray) -> np.ndarray:
    out = np.empty((x.shape[0] + 1, *x.shape[1:]), dtype=float)
    out[0] = 0.0
    np.cumsum(x, axis=0, out=out[1:])
    return out


def _interp_sorted(sorted_vals: np.ndarray, n: np.ndarray, q: float) -> np.ndarray:
    """Percentile by linear interpolation on rows sorted ascending with ``n`` valid entries."""
    out = np.full(n.shape, np.nan)
    ok = n > 0
    if not ok.any():
        return out
    rows = np.flatnonzero(ok)
    rank = q / 100.0 * (n[ok] - 1)
    f = np.floor(rank).astype(np.int64)
    c = np.minimum(f + 1, n[ok] - 1)
    lo_v = sorted_vals[rows, f]
    hi_v = sorted_vals[rows, c]
    out[ok] = lo_v + (hi_v - lo_v) * (rank - f)
    return out


def bucket_percentile(counts: np.ndarray, bounds: np.ndarray, q: float) -> np.ndarray:
    """Percentile ``q`` of distributions given as bucket counts (rows), interpolating within
    the bucket as Cloud Monitoring does (see module docstring); NaN where the count is 0."""
    counts = np.atleast_2d(counts)
    total = counts.sum(axis=1)
    out = np.full(total.shape, np.nan)
    ok = total > 0
    if not ok.any():
        return out
    c = counts[ok]
    cum = np.cumsum(c, axis=1)
    r = q / 100.0 * total[ok]
    i = (cum < r[:, None]).sum(axis=1)
    i = np.minimum(i, c.shape[1] - 1)
    rows = np.arange(c.shape[0])
    below = np.where(i > 0, cum[rows, np.maximum(i - 1, 0)], 0.0)
    cnt = c[rows, i]
    nb = c.shape[1]
    lower = np.concatenate([[-np.inf], bounds])[i]
    upper = np.concatenate([bounds, [np.inf]])[i]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(cnt > 0, (r - below) / cnt, 0.0)
        val = lower + (upper - lower) * frac
    val = np.where(i == 0, bounds[0], val)
    val = np.where(i == nb - 1, bounds[-1], val)
    out[ok] = val
    return out


def _series_labels(ts: TimeSeries) -> dict[str, str]:
    labels = {f"metric.labels.{k}": str(v) for k, v in ts.metric_labels.items()}
    labels.update({f"resource.labels.{k}": str(v) for k, v in ts.resource_labels.items()})
    return labels


def _align(
    ps: PreparedSeries,
    agg: Aggregation,
    ticks: np.ndarray,
    sc: WindowScratch | None = None,
    out: np.ndarray | None = None,
) -> _Aligned | None:
    """Per-series alignment of one prepared series onto the tick grid (scalar values are
    written into ``out`` when given); None if ``ps`` was unchecked and is not clean."""
    src = ps.source
    aligner = agg.per_series_aligner
    period = float(agg.alignment_period_s or TICK_S)
    labels = _series_labels(src)
    kind = src.metric_kind
    if ps.is_distribution:
        if aligner not in _DIST_ALIGNERS or (aligner == "ALIGN_DELTA" and kind == "GAUGE"):
            raise EvaluationError(
                f"{src.name}: aligner {aligner} is not valid for {kind} DISTRIBUTION series "
                f"(valid: {', '.join(sorted(_DIST_ALIGNERS))}; ALIGN_DELTA needs DELTA/CUMULATIVE)"
            )
        if kind == "CUMULATIVE" and aligner != "ALIGN_DELTA":
            raise EvaluationError(f"{src.name}: CUMULATIVE series need ALIGN_DELTA or ALIGN_RATE")
        lo, hi = window_bounds(ps.times, ticks, period)
        assert ps.counts is not None and ps.sums is not None
        pc = _prefix(ps.counts)
        wc = pc[hi] - pc[lo]
        ps_ = _prefix(ps.sums)
        ws = ps_[hi] - ps_[lo]
        has = hi > lo
        bounds = src.bucket_bounds
        assert bounds is not None
        if aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
            return _Aligned(labels, counts=wc, sums=ws, has=has, bounds=bounds)
        total = wc.sum(axis=1)
        if aligner == "ALIGN_MEAN":
            with np.errstate(invalid="ignore", divide="ignore"):
                vals = np.where(total > 0, ws / total, np.nan)
            return _Aligned(labels, values=vals)
        return _Aligned(labels, values=bucket_percentile(wc, bounds, _PERCENTILE[aligner]))
    # scalar series
    assert ps.values is not None
    if kind == "GAUGE" and aligner in ("ALIGN_DELTA", "ALIGN_RATE"):
        raise EvaluationError(
            f"{src.name}: {aligner} is not valid for GAUGE series (use DELTA or CUMULATIVE data, "
            "or a GAUGE aligner such as ALIGN_MEAN)"
        )
    if kind == "CUMULATIVE" and aligner not in ("ALIGN_DELTA", "ALIGN_RATE"):
        raise EvaluationError(f"{src.name}: CUMULATIVE series need ALIGN_DELTA or ALIGN_RATE")
    how = _SCALAR_STAT.get(aligner)
    if how is None:
        raise EvaluationError(f"{src.name}: aligner {aligner} is not supported")
    row = np.empty(ticks.size) if out is None else out
    q = period if how == "rate" else _PERCENTILE.get(aligner, 0.0)
    if not align_series(ps.times, ps.values, ticks, period, how, row, q, sc):
        if ps.verified:  # (prepare's output is clean: cannot happen)
            raise EvaluationError(f"{src.name}: prepared points are not clean")
        return None
    ps.verified = True
    return _Aligned(labels, values=row)


def _reduce_scalar(stack: np.ndarray, reducer: str) -> np.ndarray:
    valid = ~np.isnan(stack)
    cnt = valid.sum(axis=0)
    none = cnt == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        if reducer == "REDUCE_SUM":
            out = np.where(valid, stack, 0.0).sum(axis=0)
        elif reducer == "REDUCE_MEAN":
            out = np.where(valid, stack, 0.0).sum(axis=0) / cnt
        elif reducer == "REDUCE_MAX":
            out = np.where(valid, stack, -np.inf).max(axis=0)
        elif reducer == "REDUCE_MIN":
            out = np.where(valid, stack, np.inf).min(axis=0)
        elif reducer == "REDUCE_COUNT":
            out = cnt.astype(float)
        elif reducer == "REDUCE_STDDEV":
            mean = np.where(valid, stack, 0.0).sum(axis=0) / cnt
            dev = np.where(valid, stack - mean, 0.0)
            out = np.sqrt((dev * dev).sum(axis=0) / cnt)
        elif reducer in _PERCENTILE:
            srt = np.sort(np.where(valid, stack, np.inf), axis=0).T
            out = _interp_sorted(srt, cnt, _PERCENTILE[reducer])
        else:
            raise EvaluationError(f"reducer {reducer} is not supported")
    out = np.asarray(out, dtype=float)
    out[none] = np.nan
    return out


def _reduce(members: list[_Aligned], reducer: str, labels: dict[str, str], where: str) -> _Aligned:
    if members[0].is_distribution:
        bounds = members[0].bounds
        assert bounds is not None
        for m in members[1:]:
            if m.bounds is None or not np.array_equal(m.bounds, bounds):
                raise EvaluationError(
                    f"{where}: cannot merge distributions with different bucket bounds"
                )
        counts = np.sum([m.counts for m in members], axis=0)
        sums = np.sum([m.sums for m in members], axis=0)
        has_stack = np.array([m.has for m in members])
        has = has_stack.any(axis=0)
        if reducer == "REDUCE_SUM":
            return _Aligned(labels, counts=counts, sums=sums, has=has, bounds=bounds)
        total = counts.sum(axis=1)
        if reducer == "REDUCE_MEAN":
            with np.errstate(invalid="ignore", divide="ignore"):
                return _Aligned(labels, values=np.where(total > 0, sums / total, np.nan))
        if reducer in _PERCENTILE:
            return _Aligned(labels, values=bucket_percentile(counts, bounds, _PERCENTILE[reducer]))
        if reducer == "REDUCE_COUNT":
            c = has_stack.sum(axis=0).astype(float)
            return _Aligned(labels, values=np.where(c > 0, c, np.nan))
        raise EvaluationError(
            f"{where}: reducer {reducer} is not valid for DISTRIBUTION values "
            "(valid: REDUCE_SUM, REDUCE_MEAN, REDUCE_COUNT, REDUCE_PERCENTILE_*)"
        )
    if any(m.is_distribution for m in members):
        raise EvaluationError(f"{where}: mixes DISTRIBUTION and scalar series in one group")
    if reducer in ("REDUCE_MAX", "REDUCE_MIN"):
        # fmax/fmin skip NaN (no data) and give NaN only where every member has none: one
        # pass over the members' rows, no (members x ticks) temporaries
        op = np.fmax if reducer == "REDUCE_MAX" else np.fmin
        out = np.array(members[0].values, dtype=float)
        for m in members[1:]:
            op(out, m.values, out=out)
        return _Aligned(labels, values=out)
    stack = np.array([m.values for m in members], dtype=float)
    return _Aligned(labels, values=_reduce_scalar(stack, reducer))


def _group_key(labels: Mapping[str, str], fields: Sequence[str]) -> tuple[str, ...]:
    return tuple(labels.get(f, "") for f in fields)


def _apply_reducer(items: list[_Aligned], agg: Aggregation, where: str) -> list[_Aligned]:
    if agg.cross_series_reducer == "REDUCE_NONE":
        return items
    groups: dict[tuple[str, ...], list[_Aligned]] = {}
    for it in items:
        groups.setdefault(_group_key(it.labels, agg.group_by_fields), []).append(it)
    out = []
    for key in sorted(groups):
        labels = dict(zip(agg.group_by_fields, key, strict=True))
        out.append(_reduce(groups[key], agg.cross_series_reducer, labels, where))
    return out


def select_series(filter_text: str, series: Iterable[TimeSeries]) -> list[TimeSeries]:
    """The series a Monitoring filter selects."""
    flt = parse_filter(filter_text)
    return [
        s
        for s in series
        if flt.matches(s.metric_type, s.metric_labels, s.resource_type, s.resource_labels)
    ]


class _PrepareCache:
    """Prepared series and scratch buffers shared by the conditions of one evaluation."""

    def __init__(self) -> None:
        self._cache: dict[int, PreparedSeries] = {}
        # issues of CUMULATIVE series converted into the reused buffer (not cached: see get)
        self._converted: dict[int, PreparedSeries] = {}
        self.scratch = WindowScratch()

    def get(self, ts: TimeSeries | PreparedSeries) -> PreparedSeries:
        """The prepared series; scalar GAUGE/DELTA series come unchecked (the alignment
        kernels check them while reading them, and :meth:`checked` prepares them if needed).

        A scalar CUMULATIVE series is converted to deltas in one reused buffer on every call
        (a fresh array per series paid ~5 passes of page faults for ~1 of conversion): the
        result is valid only until the next call, so it is aligned at once and not cached."""
        if isinstance(ts, PreparedSeries):
            return ts
        key = id(ts)
        if key in self._cache:
            return self._cache[key]
        ps = unchecked(ts)
        if ps is None and ts.values is not None and ts.values.size > 1:
            buf = self.scratch.get("cumulative_deltas", ts.values.size - 1)
            converted = cumulative_unchecked(ts, buf)
            if converted is not None:
                self._converted[key] = converted
                return converted
        self._cache[key] = ps or prepare(ts)
        return self._cache[key]

    def checked(self, ps: PreparedSeries) -> PreparedSeries:
        """``ps`` cleaned by :func:`prepare` (its source was not clean)."""
        out = prepare(ps.source)
        self._cache[id(ps.source)] = out
        self._converted.pop(id(ps.source), None)
        return out

    def issues(self) -> dict[str, dict[str, int]]:
        """What preparing the evaluation's series corrected or removed, per series name."""
        out: dict[str, dict[str, int]] = {}
        for ps in [*self._cache.values(), *self._converted.values()]:
            if ps.issues:
                out[ps.source.name] = ps.issues.as_dict()
        return out


def _aggregate(
    filter_text: str,
    aggs: Sequence[Aggregation],
    series: Sequence[TimeSeries | PreparedSeries],
    ticks: np.ndarray,
    cache: _PrepareCache,
    where: str,
) -> list[_Aligned]:
    flt = parse_filter(filter_text)
    matched = []
    for s in series:
        src = s.source if isinstance(s, PreparedSeries) else s
        if flt.matches(src.metric_type, src.metric_labels, src.resource_type, src.resource_labels):
            matched.append(s)
    # scalar values are written straight into the rows of one matrix (no stacking copy later)
    rows = (
        np.empty((len(matched), ticks.size))
        if not any(s.is_distribution for s in matched)
        else None
    )
    items = []
    for i, s in enumerate(matched):
        p = cache.get(s)  # aligned at once: a converted counter lives in a reused buffer
        row = None if rows is None else rows[i]
        item = _align(p, aggs[0], ticks, cache.scratch, out=row)
        if item is None:  # an unchecked series that is not clean: prepare it, align again
            item = _align(cache.checked(p), aggs[0], ticks, cache.scratch, out=row)
        assert item is not None
        items.append(item)
    for i, agg in enumerate(aggs):
        items = _apply_reducer(items, agg, f"{where}.aggregations[{i}]")
    return items


def stack_values(groups: Sequence[GroupValues], n_ticks: int) -> np.ndarray:
    """``(groups, ticks)`` matrix of the groups' values; no copy when they already are the rows,
    in order, of one matrix (as :func:`aligned_condition_values` writes REDUCE_NONE values)."""
    if not groups:
        return np.empty((0, n_ticks))
    base = groups[0].values.base
    if (
        isinstance(base, np.ndarray)
        and base.dtype == np.float64
        and base.shape == (len(groups), n_ticks)
        and base.flags.c_contiguous
    ):
        start = base.__array_interface__["data"][0]
        stride = base.strides[0]
        if all(
            g.values.base is base
            and g.values.__array_interface__["data"][0] == start + i * stride
            and g.values.shape == (n_ticks,)
            for i, g in enumerate(groups)
        ):
            return base
    return np.array([g.values for g in groups], dtype=float).reshape(len(groups), n_ticks)


def _scalar(items: list[_Aligned], where: str, aggs: Sequence[Aggregation]) -> list[GroupValues]:
    out = []
    for it in items:
        if it.is_distribution:
            last = aggs[-1]
            raise EvaluationError(
                f"{where}: yields DISTRIBUTION values ({aggs[0].per_series_aligner}, "
                f"{last.cross_series_reducer}); a threshold needs numbers: use a percentile or "
                "mean aligner/reducer"
            )
        assert it.values is not None
        out.append(GroupValues(labels=it.labels, values=it.values))
    return out


def aligned_condition_values(
    condition: Condition,
    series: Sequence[TimeSeries | PreparedSeries],
    ticks: np.ndarray,
    *,
    _cache: _PrepareCache | None = None,
) -> list[GroupValues]:
    """Stage 1: per-tick values of every output series of ``condition`` (ratio included).

    ``series`` may hold any metrics; the condition's filters select from them. Output order is
    deterministic (sorted by group labels).
    """
    ticks = np.asarray(ticks, dtype=float)
    cache = _cache or _PrepareCache()
    where = f"condition {condition.display_name or condition.filter[:60]!r}"
    num = _scalar(
        _aggregate(condition.filter, condition.aggregations, series, ticks, cache, where),
        where,
        condition.aggregations,
    )
    if not condition.is_ratio:
        return num
    assert condition.denominator_filter is not None
    den = _scalar(
        _aggregate(
            condition.denominator_filter,
            condition.denominator_aggregations,
            series,
            ticks,
            cache,
            where + " denominator",
        ),
        where + " denominator",
        condition.denominator_aggregations,
    )
    out = []
    for g in num:
        matches = [d for d in den if all(g.labels.get(k) == v for k, v in d.labels.items())]
        if len(matches) > 1:
            raise EvaluationError(
                f"{where}: numerator series {g.labels} matches {len(matches)} denominator series"
            )
        if not matches:
            out.append(GroupValues(g.labels, np.full(ticks.size, np.nan)))
            continue
        d = matches[0].values
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where((d != 0) & ~np.isnan(d), g.values / d, np.nan)
        out.append(GroupValues(g.labels, r))
    return out


# --------------------------------------------------------------------------- condition state


@dataclass(frozen=True)
class Incident:
    """A would-have-fired incident of one condition and group."""

    id: str
    policy: str
    condition: int
    labels: dict[str, str]
    open: float
    close: float | None
    peak: float | None
    close_reason: str | None  # "cleared" | "auto_close" | None (still open)
    group: int = 0
    open_index: int = 0
    close_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict with ISO 8601 UTC times."""
        return {
            "id": self.id,
            "policy": self.policy,
            "condition": self.condition,
            "labels": dict(self.labels),
            "open": iso(self.open),
            "close": None if self.close is None else iso(self.close),
            "peak": self.peak,
            "close_reason": self.close_reason,
        }


def _new_incident(values: dict[str, Any]) -> Incident:
    """An :class:`Incident` from a dict of ALL its fields, without the frozen dataclass
    ``__init__`` (one ``object.__setattr__`` per field: most of the cost of building 10^5
    incidents). The object is the same, field for field (a test compares it with the
    constructor's)."""
    obj = object.__new__(Incident)
    object.__setattr__(obj, "__dict__", values)
    return obj


def iso(ts: float) -> str:
    """Epoch seconds -> ISO 8601 UTC with a ``Z`` suffix."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    text = dt.isoformat(timespec="milliseconds" if ts % 1 else "seconds")
    return text.replace("+00:00", "Z")


def incident_id(policy: str, condition: int, labels: Mapping[str, str], open_ts: float) -> str:
    """Deterministic id: the same policy, group and open time always give the same id."""
    raw = json.dumps([policy, condition, sorted(labels.items()), open_ts], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _id_hasher(policy: str, condition: int, labels: Mapping[str, str]) -> Any:
    """sha256 state fed with everything of :func:`incident_id`'s input but the open time."""
    head = json.dumps([policy, condition, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256((head[:-1] + ",").encode())


def _fast_incident_id(hasher: Any, open_ts: float) -> str:
    h = hasher.copy()
    # json.dumps of a finite float is its repr (the json module formats floats with float.__repr__)
    h.update(f"{float(open_ts)!r}]".encode())
    return h.hexdigest()[:16]


def _check_grid(ticks: np.ndarray, tick_s: int) -> None:
    if ticks.size > 1:
        d = np.diff(ticks)
        bad = np.flatnonzero(d != tick_s)
        if bad.size:
            i = int(bad[0])
            raise EvaluationError(
                f"ticks: not a regular {tick_s} s grid at index {i + 1} "
                f"({ticks[i]} -> {ticks[i + 1]})"
            )


def condition_met(
    values: np.ndarray,
    comparison: str,
    threshold: float,
    duration_s: int,
    missing_data: str | None = "EVALUATION_MISSING_DATA_INACTIVE",
    auto_close_s: int | None = None,
    tick_s: int = TICK_S,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-group condition state on a regular grid (``values`` 1-D or groups x ticks).

    Returns ``(met, closed)``: ``met`` already excludes ``closed``, the auto_close hold.
    With INACTIVE missing data, auto_close never changes ``met`` (a tick without data is not
    met anyway) and ``closed`` is None; :func:`_auto_closed_at` answers for single ticks.
    """
    v = np.asarray(values, dtype=float)
    one_d = v.ndim == 1
    v2 = np.atleast_2d(v)
    cmp_ = normalize_comparison(comparison)
    mode = normalize_missing_data(missing_data)
    if duration_s < 0 or duration_s % tick_s:
        raise EvaluationError(
            f"duration: {duration_s} s is not a non-negative multiple of {tick_s}"
        )
    k = duration_s // tick_s + 1
    hold = math.ceil(auto_close_s / tick_s) if auto_close_s and auto_close_s > 0 else 0
    met, closed = condition_state(v2, threshold, cmp_ == "COMPARISON_GT", k, mode, hold)
    if one_d:
        return met[0], (None if closed is None else closed[0])
    return met, closed


def _auto_closed_at(v2: np.ndarray, g: int, e: int, auto_close_s: int | None, tick_s: int) -> bool:
    """Whether group ``g`` is in the auto_close hold at tick ``e`` (same rule as the mask)."""
    if not auto_close_s or auto_close_s <= 0:
        return False
    m = math.ceil(auto_close_s / tick_s)
    if e < m:
        return False
    row = v2[g]
    if not np.isnan(row[e - m + 1 : e + 1]).all():
        return False
    j = e - m  # the hold needs some data at or before t - m (usually right there)
    return (not math.isnan(row[j])) or bool((~np.isnan(row[:j])).any())


def _trigger_mask(met: np.ndarray, trigger: Trigger | None) -> np.ndarray:
    n_groups = met.shape[0]
    n_met = met.sum(axis=0)
    if trigger is None or trigger.percent is None:
        need = 1 if trigger is None or trigger.count is None else trigger.count
        return n_met >= need
    if n_groups == 0:
        return np.zeros(met.shape[1], dtype=bool)
    return n_met * 100.0 >= trigger.percent * n_groups


def _run_peaks(
    v2: np.ndarray, g: np.ndarray, t_open: np.ndarray, t_close: np.ndarray, is_gt: bool
) -> np.ndarray:
    """Most extreme value of each run (NaN ignored; NaN if the run had no data)."""
    if g.size == 0:
        return np.empty(0)
    n_t = v2.shape[1]
    op = np.fmax if is_gt else np.fmin
    if g.size <= 256:  # few runs: reduce just their ticks (reduceat would read every tick)
        return np.array(
            [
                op.reduce(v2[r, a:e])
                for r, a, e in zip(g.tolist(), t_open.tolist(), t_close.tolist(), strict=True)
            ],
            dtype=float,
        )
    flat = np.ascontiguousarray(v2).reshape(-1)
    bounds = np.empty(2 * g.size, dtype=np.intp)
    bounds[0::2] = g * n_t + t_open
    bounds[1::2] = g * n_t + t_close
    if bounds[-1] == flat.size:  # the last run reaches the end: reduce to the end instead
        bounds = bounds[:-1]
    return op.reduceat(flat, bounds)[0::2]


def _held_at_close(
    v2: np.ndarray,
    closed: np.ndarray | None,
    g: np.ndarray,
    t_close: np.ndarray,
    auto_close_s: int | None,
    tick_s: int,
) -> np.ndarray:
    """Whether each run ends because of the auto_close hold (False for runs still open)."""
    n_t = v2.shape[1]
    held = np.zeros(g.size, dtype=bool)
    inside = t_close < n_t
    if not inside.any() or not auto_close_s or auto_close_s <= 0:
        return held
    gi, ei = g[inside], t_close[inside]
    if closed is not None:
        held[inside] = closed[gi, ei]
        return held
    # the hold needs no data at the close tick itself: check the few such closes one by one
    cand = np.flatnonzero(inside)[np.isnan(v2[gi, ei])]
    for i in cand.tolist():
        held[i] = _auto_closed_at(v2, int(g[i]), int(t_close[i]), auto_close_s, tick_s)
    return held


def incidents_from_values(
    values: np.ndarray,
    ticks: np.ndarray,
    comparison: str,
    threshold: float,
    duration_s: int,
    missing_data: str | None = "EVALUATION_MISSING_DATA_INACTIVE",
    auto_close_s: int | None = None,
    *,
    trigger: Trigger | None = None,
    labels: Sequence[Mapping[str, str]] | None = None,
    policy: str = "",
    condition: int = 0,
    tick_s: int = TICK_S,
) -> tuple[np.ndarray, list[Incident]]:
    """Stage 2: condition state and incidents from per-tick values (1-D or groups x ticks).

    Returns ``(met, incidents)`` where ``met`` (same shape as ``values``) is True on ticks where
    the group has an open incident (condition met, trigger satisfied, not auto-closed).
    Incidents are sorted by open time, then group.
    """
    v = np.asarray(values, dtype=float)
    t = np.asarray(ticks, dtype=float)
    one_d = v.ndim == 1
    v2 = np.atleast_2d(v)
    if v2.shape[1] != t.size:
        raise EvaluationError(f"values have {v2.shape[1]} ticks, ticks has {t.size}")
    _check_grid(t, tick_s)
    met, closed = condition_met(
        v2, comparison, threshold, duration_s, missing_data, auto_close_s, tick_s
    )
    if trigger is not None and (trigger.percent is not None or (trigger.count or 1) > 1):
        met &= _trigger_mask(met, trigger)[None, :]
    is_gt = normalize_comparison(comparison) == "COMPARISON_GT"
    lab = list(labels) if labels is not None else [{} for _ in range(v2.shape[0])]
    g_open, t_open, t_close = met_runs(met)
    peaks = _run_peaks(v2, g_open, t_open, t_close, is_gt)
    n_t = v2.shape[1]
    held = _held_at_close(v2, closed, g_open, t_close, auto_close_s, tick_s)
    # in (open time, group) order, so no sort of the Python objects is needed
    order = np.lexsort((g_open, t_open))
    t_list = t.tolist()
    hashers = {int(g): _id_hasher(policy, condition, lab[g]) for g in np.unique(g_open).tolist()}
    incidents = [
        _new_incident(
            {
                "id": _fast_incident_id(hashers[g], t_list[a]),
                "policy": policy,
                "condition": condition,
                "labels": dict(lab[g]),
                "open": t_list[a],
                "close": t_list[e] if e < n_t else None,
                "peak": None if pk != pk else pk,
                "close_reason": (("auto_close" if hd else "cleared") if e < n_t else None),
                "group": g,
                "open_index": a,
                "close_index": e if e < n_t else None,
            }
        )
        for g, a, e, pk, hd in zip(
            g_open[order].tolist(),
            t_open[order].tolist(),
            t_close[order].tolist(),
            peaks[order].tolist(),
            held[order].tolist(),
            strict=True,
        )
    ]
    return (met[0] if one_d else met), incidents


# --------------------------------------------------------------------------- top level


@dataclass
class ConditionResult:
    """Per-tick state of one condition."""

    index: int
    condition: Condition
    groups: list[dict[str, str]]
    values: np.ndarray  # (G, T)
    met: np.ndarray  # (G, T) open-incident state
    incidents: list[Incident]

    @property
    def any_met(self) -> np.ndarray:
        if self.met.shape[0] == 0:
            return np.zeros(self.met.shape[1], dtype=bool)
        return self.met.any(axis=0)


@dataclass
class EvaluationResult:
    """What a policy (or a single condition) would have done over ``ticks``."""

    policy: str
    environment: str | None
    ticks: np.ndarray
    conditions: list[ConditionResult]
    incidents: list[Incident]
    issues: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def met(self) -> np.ndarray:
        """Per tick: some condition has an open incident (combiner OR)."""
        out = np.zeros(self.ticks.size, dtype=bool)
        for c in self.conditions:
            out |= c.any_met
        return out


def evaluate(
    target: Policy | Condition,
    series: Sequence[TimeSeries | PreparedSeries],
    start: float,
    end: float,
    *,
    auto_close_s: int | None = None,
    policy_name: str | None = None,
    warmup: bool = True,
    tick_s: int = TICK_S,
) -> EvaluationResult:
    """Evaluate a policy (all conditions, combiner OR) or one condition over ``[start, end]``.

    With ``warmup`` the ticks start ``duration`` earlier, so the state at ``start`` already
    reflects the retest window (points before ``start`` must be in ``series`` for that); the
    returned arrays cover only ticks in ``[start, end]``, and incidents that overlap it are kept
    (an incident may have opened during the warm-up).
    """
    if isinstance(target, Policy) and target.combiner != "OR" and len(target.conditions) > 1:
        # AND / AND_WITH_MATCHING_RESOURCE: per-condition states combined one layer above
        from ctscan_ops.alerting.engine.combine import evaluate_policy

        kw = {"auto_close_s": auto_close_s, "policy_name": policy_name, "warmup": warmup}
        return evaluate_policy(target, series, start, end, tick_s=tick_s, **kw)
    if isinstance(target, Policy):
        conditions = list(target.conditions)
        auto_close = target.auto_close_s if auto_close_s is None else auto_close_s
        name = policy_name or target.name
        env = target.environment
    else:
        conditions = [target]
        auto_close = auto_close_s
        name = policy_name or target.display_name or "condition"
        env = None
    cache = _PrepareCache()
    out_ticks = make_ticks(start, end, tick_s)
    results: list[ConditionResult] = []
    all_incidents: list[Incident] = []
    for ci, cond in enumerate(conditions):
        lead = cond.duration_s if warmup else 0
        ticks = make_ticks(start - lead, end, tick_s)
        groups = aligned_condition_values(cond, series, ticks, _cache=cache)
        labels = [g.labels for g in groups]
        vals = stack_values(groups, ticks.size)
        met, incidents = incidents_from_values(
            vals,
            ticks,
            cond.comparison,
            cond.threshold_value,
            cond.duration_s,
            cond.evaluation_missing_data,
            auto_close,
            trigger=cond.trigger,
            labels=labels,
            policy=name,
            condition=ci,
            tick_s=tick_s,
        )
        cut = ticks.size - out_ticks.size
        keep = [i for i in incidents if (i.close is None or i.close > start) and i.open <= end]
        results.append(ConditionResult(ci, cond, labels, vals[:, cut:], met[:, cut:], keep))
        all_incidents.extend(keep)
    all_incidents.sort(key=lambda i: (i.open, i.condition, i.group))
    return EvaluationResult(name, env, out_ticks, results, all_incidents, cache.issues())


def merge_issues(items: Iterable[SeriesIssues]) -> SeriesIssues:
    """Sum of issue counts (for summaries)."""
    total = SeriesIssues()
    for it in items:
        for k, v in it.as_dict().items():
            setattr(total, k, getattr(total, k) + v)
    return total


def warm_kernels() -> float:
    """Compile (or load from numba's cache) every compiled kernel of the evaluator by
    evaluating a tiny condition per aligner family and missing-data mode; returns seconds.

    An image build runs it once so its processes load machine code instead of compiling it
    (see :mod:`ctscan_ops.alerting.engine.windows`, "Compilation")."""
    import time

    t0 = time.perf_counter()
    ticks = make_ticks(1_700_000_040, 1_700_000_040 + 600)
    ts = TimeSeries("m", ticks - 7.0, np.arange(ticks.size, dtype=float))
    for aligner in (
        "ALIGN_MEAN",
        "ALIGN_MAX",
        "ALIGN_COUNT",
        "ALIGN_NEXT_OLDER",
        "ALIGN_PERCENTILE_99",
    ):
        for mode in ("EVALUATION_MISSING_DATA_INACTIVE", "EVALUATION_MISSING_DATA_NO_OP"):
            cond = Condition(
                filter='metric.type="m"',
                aggregations=(Aggregation(120, aligner, "REDUCE_NONE", ()),),
                comparison="COMPARISON_GT",
                threshold_value=1.0,
                duration_s=60,
                evaluation_missing_data=mode,
            )
            evaluate(cond, [ts], float(ticks[0]), float(ticks[-1]), auto_close_s=120)
    # the pointer walk (grids the segment path declines) and a trigger over groups
    window_bounds(ts.times, ticks + 0.5, 120.0)
    met_runs(np.zeros((1, 2), dtype=bool))
    return time.perf_counter() - t0
