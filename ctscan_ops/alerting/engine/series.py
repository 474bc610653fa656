"""Raw metric series as the evaluator sees them, and their clean-up before alignment.

A :class:`TimeSeries` mirrors one Cloud Monitoring ``TimeSeries``: identifiers (metric type and
labels, resource type and labels), ``metric_kind`` (GAUGE | DELTA | CUMULATIVE), ``value_type``
(INT64 | DOUBLE | DISTRIBUTION | BOOL) and points. A point's timestamp is its interval *end
time* (epoch seconds, float); DELTA/CUMULATIVE points may carry their interval start.

:func:`prepare` turns that into sorted, de-duplicated, finite points, with defined behaviour
for messy input (every case is counted in :class:`SeriesIssues`, nothing is dropped silently):

* out-of-order points are sorted by end time (stable);
* duplicate end times: the **last written** point wins (the input order is the write order),
  as an overwrite would in a store keyed by (series, time);
* NaN / +-inf values (or negative / non-finite bucket counts) mark the point as *no data*: it is
  removed and counted, never treated as zero;
* CUMULATIVE series become per-point deltas: ``v[i] - v[i-1]``, or ``v[i]`` on a counter reset
  (value decrease, any bucket count decrease, or a changed start time). The first point is the
  baseline and yields no delta (its counter history is unknown).

Distributions are stored as explicit bucket bounds (``bucket_bounds``, finite, strictly
increasing, ``B-1`` values for ``B`` buckets: underflow ``(-inf, b0)``, ``[b_{i-1}, b_i)``,
overflow ``[b_{B-2}, inf)``) and per-point ``bucket_counts`` (n, B); linear and exponential
bucket options convert with :func:`linear_bounds` / :func:`exponential_bounds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ctscan_ops.alerting.engine.jit import kernel
from ctscan_ops.alerting.engine.windows import is_clean

__all__ = [
    "METRIC_KINDS",
    "VALUE_TYPES",
    "PreparedSeries",
    "SeriesError",
    "SeriesIssues",
    "TimeSeries",
    "exponential_bounds",
    "linear_bounds",
    "prepare",
    "unchecked",
]

METRIC_KINDS = ("GAUGE", "DELTA", "CUMULATIVE")
VALUE_TYPES = ("INT64", "DOUBLE", "DISTRIBUTION", "BOOL")


class SeriesError(ValueError):
    """A series that cannot be evaluated (names the series and the problem)."""


def linear_bounds(num_finite_buckets: int, width: float, offset: float) -> np.ndarray:
    """Bounds of ``LinearBuckets``: ``offset + width * i`` for i in 0..N."""
    return offset + width * np.arange(num_finite_buckets + 1, dtype=float)


def exponential_bounds(num_finite_buckets: int, growth_factor: float, scale: float) -> np.ndarray:
    """Bounds of ``ExponentialBuckets``: ``scale * growth_factor ** i`` for i in 0..N."""
    return scale * growth_factor ** np.arange(num_finite_buckets + 1, dtype=float)


@dataclass
class TimeSeries:
    """One metric series (see module docstring)."""

    metric_type: str
    times: np.ndarray
    values: np.ndarray | None = None
    metric_labels: Mapping[str, str] = field(default_factory=dict)
    resource_type: str = "global"
    resource_labels: Mapping[str, str] = field(default_factory=dict)
    metric_kind: str = "GAUGE"
    value_type: str = "DOUBLE"
    start_times: np.ndarray | None = None
    bucket_bounds: np.ndarray | None = None
    bucket_counts: np.ndarray | None = None
    dist_sums: np.ndarray | None = None  # sum of samples per point (count * mean), optional

    def __post_init__(self) -> None:
        self.times = np.asarray(self.times, dtype=float).reshape(-1)
        if self.metric_kind not in METRIC_KINDS:
            raise SeriesError(f"{self.name}: unknown metric_kind {self.metric_kind!r}")
        if self.value_type not in VALUE_TYPES:
            raise SeriesError(f"{self.name}: unknown value_type {self.value_type!r}")
        n = self.times.size
        if self.value_type == "DISTRIBUTION":
            if self.bucket_bounds is None or self.bucket_counts is None:
                raise SeriesError(
                    f"{self.name}: DISTRIBUTION needs bucket_bounds and bucket_counts"
                )
            self.bucket_bounds = np.asarray(self.bucket_bounds, dtype=float).reshape(-1)
            self.bucket_counts = np.asarray(self.bucket_counts, dtype=float)
            b = self.bucket_bounds
            if not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
                raise SeriesError(f"{self.name}: bucket_bounds must be finite and increasing")
            if self.bucket_counts.shape != (n, b.size + 1):
                raise SeriesError(
                    f"{self.name}: bucket_counts shape {self.bucket_counts.shape} != "
                    f"({n}, {b.size + 1}) for {b.size} bounds"
                )
            if self.dist_sums is not None:
                self.dist_sums = np.asarray(self.dist_sums, dtype=float).reshape(-1)
                if self.dist_sums.size != n:
                    raise SeriesError(f"{self.name}: dist_sums has {self.dist_sums.size} != {n}")
        else:
            if self.values is None:
                raise SeriesError(f"{self.name}: values are required for {self.value_type}")
            self.values = np.asarray(self.values, dtype=float).reshape(-1)
            if self.values.size != n:
                raise SeriesError(f"{self.name}: {self.values.size} values for {n} times")
        if self.start_times is not None:
            self.start_times = np.asarray(self.start_times, dtype=float).reshape(-1)
            if self.start_times.size != n:
                raise SeriesError(f"{self.name}: {self.start_times.size} start_times for {n}")

    @property
    def name(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.metric_labels.items()))
        res = ",".join(f"{k}={v}" for k, v in sorted(self.resource_labels.items()))
        return f"{self.metric_type}{{{labels}}}@{self.resource_type}{{{res}}}"

    @property
    def is_distribution(self) -> bool:
        return self.value_type == "DISTRIBUTION"

    def __len__(self) -> int:
        return int(self.times.size)


@dataclass
class SeriesIssues:
    """What :func:`prepare` corrected or removed (for data-quality reporting)."""

    out_of_order: int = 0
    duplicates: int = 0
    non_finite: int = 0
    counter_resets: int = 0
    baseline_points: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "out_of_order": self.out_of_order,
            "duplicates": self.duplicates,
            "non_finite": self.non_finite,
            "counter_resets": self.counter_resets,
            "baseline_points": self.baseline_points,
        }

    def __bool__(self) -> bool:
        return any(self.as_dict().values())


@dataclass
class PreparedSeries:
    """Sorted, unique, finite points; ``kind`` is GAUGE or DELTA (CUMULATIVE converted)."""

    source: TimeSeries
    times: np.ndarray
    kind: str
    values: np.ndarray | None = None  # scalar series
    counts: np.ndarray | None = None  # (n, B) distribution series
    sums: np.ndarray | None = None  # (n,) distribution sample sums
    issues: SeriesIssues = field(default_factory=SeriesIssues)
    #: False: the source's arrays as given, not yet checked to be clean (see
    #: :func:`unchecked`); the evaluator's kernels check while they read them
    verified: bool = True

    @property
    def is_distribution(self) -> bool:
        return self.counts is not None

    @property
    def bounds(self) -> np.ndarray | None:
        return self.source.bucket_bounds


def _midpoint_sums(bounds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sample sums estimated from bucket midpoints (used only when the source gave no mean)."""
    b = bounds
    if b.size == 1:
        mids = np.array([b[0], b[0]])
    else:
        inner = (b[:-1] + b[1:]) / 2.0
        mids = np.concatenate([[b[0]], inner, [b[-1]]])
    return counts @ mids


def prepare(series: TimeSeries) -> PreparedSeries:
    """Clean one series for alignment (see module docstring for every rule)."""
    issues = SeriesIssues()
    t = series.times
    n = t.size
    if series.is_distribution:
        counts = series.bucket_counts
        assert counts is not None and series.bucket_bounds is not None
        sums = (
            series.dist_sums
            if series.dist_sums is not None
            else _midpoint_sums(series.bucket_bounds, counts)
        )
        ok = np.isfinite(t) & np.all(np.isfinite(counts), axis=1) & np.all(counts >= 0, axis=1)
        ok &= np.isfinite(sums)
    else:
        assert series.values is not None
        if is_clean(t, series.values):
            # fast path: already clean (the common case for exported or generated series)
            return _prepared_clean(series, issues)
        ok = np.isfinite(t) & np.isfinite(series.values)
    issues.non_finite = int(n - ok.sum())
    if issues.non_finite == 0 and (n < 2 or bool(np.all(t[1:] > t[:-1]))):
        return _prepared_clean(series, issues)
    idx = np.flatnonzero(ok)
    tt = t[idx]
    if tt.size > 1:
        issues.out_of_order = int(np.count_nonzero(np.diff(tt) < 0))
        order = np.argsort(tt, kind="stable")
        idx = idx[order]
        tt = tt[order]
        # duplicates: keep the last written (stable sort keeps write order within equal times)
        keep = np.ones(tt.size, dtype=bool)
        keep[:-1] = tt[1:] != tt[:-1]
        issues.duplicates = int(tt.size - keep.sum())
        idx = idx[keep]
        tt = tt[keep]
    starts = None if series.start_times is None else series.start_times[idx]
    kind = series.metric_kind
    if series.is_distribution:
        assert series.bucket_counts is not None
        c = series.bucket_counts[idx]
        s = sums[idx]
        if kind == "CUMULATIVE":
            c, s, tt, issues = _cumulative_to_delta_dist(c, s, tt, starts, issues)
            kind = "DELTA"
        return PreparedSeries(series, tt, kind, counts=c, sums=s, issues=issues)
    assert series.values is not None
    v = series.values[idx]
    if kind == "CUMULATIVE":
        return _cumulative_scalar(series, tt, v, starts, issues)
    return PreparedSeries(series, tt, kind, values=v, issues=issues)


def unchecked(series: TimeSeries) -> PreparedSeries | None:
    """The scalar GAUGE/DELTA ``series`` as a :class:`PreparedSeries` of its own arrays,
    ``verified=False``: what :func:`prepare` returns for it if it is clean, without the check
    (a caller that checks while reading the points anyway calls :func:`prepare` when they are
    not). None for series that always need converting (CUMULATIVE, distributions)."""
    if series.is_distribution or series.metric_kind == "CUMULATIVE" or series.values is None:
        return None
    return PreparedSeries(
        series, series.times, series.metric_kind, values=series.values, verified=False
    )


def cumulative_unchecked(series: TimeSeries, out: np.ndarray) -> PreparedSeries | None:
    """A scalar CUMULATIVE ``series`` as deltas written into ``out`` (``len - 1`` items, a
    buffer the caller reuses), ``verified=False``: what :func:`prepare` returns for it if it is
    clean, without the separate clean-up pass and without a fresh array per series (whose page
    faults cost more than the conversion). The alignment kernels check the deltas' times and
    values while reading them; the baseline point, which no delta carries, is checked here.
    None for other series. The result is only valid until ``out`` is reused."""
    if series.is_distribution or series.metric_kind != "CUMULATIVE" or series.values is None:
        return None
    t, v = series.times, series.values
    n = v.size
    if n < 2:
        return None  # nothing to reuse: prepare() is as cheap
    if not (math.isfinite(t[0]) and math.isfinite(v[0]) and t[0] < t[1]):
        return None  # the baseline point is not clean: prepare() sorts and drops
    starts = series.start_times
    st = np.ascontiguousarray(starts, dtype=np.float64) if starts is not None else v[:0]
    issues = SeriesIssues(baseline_points=1)
    issues.counter_resets = int(
        _counter_deltas(np.ascontiguousarray(v, dtype=np.float64), st, starts is not None, out)
    )
    return PreparedSeries(series, t[1:], "DELTA", values=out, issues=issues, verified=False)


def _prepared_clean(series: TimeSeries, issues: SeriesIssues) -> PreparedSeries:
    """Sorted, unique, finite input: only CUMULATIVE needs converting (arrays are not copied)."""
    tt = series.times
    starts = series.start_times
    if series.is_distribution:
        assert series.bucket_counts is not None and series.bucket_bounds is not None
        c = series.bucket_counts
        s = (
            series.dist_sums
            if series.dist_sums is not None
            else _midpoint_sums(series.bucket_bounds, c)
        )
        if series.metric_kind == "CUMULATIVE":
            c, s, tt, issues = _cumulative_to_delta_dist(c, s, tt, starts, issues)
            return PreparedSeries(series, tt, "DELTA", counts=c, sums=s, issues=issues)
        return PreparedSeries(series, tt, series.metric_kind, counts=c, sums=s, issues=issues)
    assert series.values is not None
    v = series.values
    if series.metric_kind == "CUMULATIVE":
        return _cumulative_scalar(series, tt, v, starts, issues)
    return PreparedSeries(series, tt, series.metric_kind, values=v, issues=issues)


@kernel
def _counter_deltas(
    v: np.ndarray, starts: np.ndarray, has_starts: bool, out: np.ndarray
) -> int:  # pragma: no cover - compiled (tested through prepare against the reference)
    # out[i - 1] = v[i] - v[i - 1], or v[i] on a reset (decrease or changed start time);
    # returns the number of resets
    resets = 0
    for i in range(1, v.size):
        reset = (v[i] < v[i - 1]) | (has_starts and starts[i] != starts[i - 1])
        out[i - 1] = v[i] if reset else v[i] - v[i - 1]
        resets += reset
    return resets


def _cumulative_scalar(
    series: TimeSeries,
    tt: np.ndarray,
    v: np.ndarray,
    starts: np.ndarray | None,
    issues: SeriesIssues,
) -> PreparedSeries:
    if v.size:
        d = np.empty(v.size - 1)
        st = np.ascontiguousarray(starts, dtype=np.float64) if starts is not None else v[:0]
        issues.counter_resets = int(
            _counter_deltas(np.ascontiguousarray(v, dtype=np.float64), st, starts is not None, d)
        )
        issues.baseline_points = 1
        v, tt = d, tt[1:]
    return PreparedSeries(series, tt, "DELTA", values=v, issues=issues)


def _cumulative_to_delta_dist(
    c: np.ndarray,
    s: np.ndarray,
    tt: np.ndarray,
    starts: np.ndarray | None,
    issues: SeriesIssues,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, SeriesIssues]:
    if c.shape[0] == 0:
        return c, s, tt, issues
    reset = np.zeros(c.shape[0], dtype=bool)
    reset[1:] = np.any(c[1:] < c[:-1], axis=1)
    if starts is not None:
        reset[1:] |= starts[1:] != starts[:-1]
    dc = np.where(reset[1:, None], c[1:], c[1:] - c[:-1])
    ds = np.where(reset[1:], s[1:], s[1:] - s[:-1])
    issues.counter_resets = int(reset[1:].sum())
    issues.baseline_points = 1
    return dc, ds, tt[1:], issues
