"""Raw metric points from Cloud Monitoring (or the sandbox MetricService) as ``TimeSeries``.

One call is one bounded read: ``list_time_series`` with a filter and an interval
``(start, end]`` (the API's: start exclusive, end inclusive), ``view=FULL``, no server-side
aggregation (the shadow evaluator must see raw points), paginated, with a per-call timeout and a
retry deadline, and a cap on the number of points so a mistaken filter cannot exhaust memory.
A service that is down gives a :class:`MetricSourceError` that says where and what to do.

Conversion to :class:`ctscan_ops.alerting.series.TimeSeries`:

* a series split across pages is merged (by metric/resource type and labels); points are
  returned oldest first (the API sends newest first);
* times are interval end times in epoch seconds; DELTA and CUMULATIVE points keep their start
  times (``start_times``), GAUGE points have none;
* INT64/DOUBLE/BOOL become floats; DISTRIBUTION becomes ``bucket_bounds`` (from the linear,
  exponential or explicit bucket options), ``bucket_counts`` padded to the full bucket count
  (the API may leave out trailing zero buckets) and ``dist_sums = count * mean``. A point whose
  bucket counts are missing although its count is not zero becomes a NaN row (no data, counted
  by :func:`~ctscan_ops.alerting.series.prepare`) rather than being guessed. A series whose points
  use different bucket layouts is refused with an error naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctscan_ops.alerting.series import TimeSeries, exponential_bounds, linear_bounds

__all__ = [
    "DEFAULT_MAX_POINTS",
    "MetricSourceError",
    "fetch_condition_series",
    "fetch_time_series",
    "series_from_pb",
]

DEFAULT_PAGE_SIZE = 100_000
DEFAULT_MAX_POINTS = 20_000_000
_KIND_NAMES = {0: "GAUGE", 1: "GAUGE", 2: "DELTA", 3: "CUMULATIVE"}
_VALUE_NAMES = {1: "BOOL", 2: "INT64", 3: "DOUBLE", 4: "STRING", 5: "DISTRIBUTION", 6: "MONEY"}


class MetricSourceError(RuntimeError):
    """Metric points could not be read (service down, bad filter, too many points...)."""


def _bounds_of(options: Any, where: str) -> np.ndarray:
    which = options.WhichOneof("options")
    if which == "exponential_buckets":
        e = options.exponential_buckets
        return exponential_bounds(e.num_finite_buckets, e.growth_factor, e.scale)
    if which == "linear_buckets":
        lin = options.linear_buckets
        return linear_bounds(lin.num_finite_buckets, lin.width, lin.offset)
    if which == "explicit_buckets":
        return np.asarray(list(options.explicit_buckets.bounds), dtype=float)
    raise MetricSourceError(f"{where}: distribution point without bucket options")


def _ts_seconds(ts: Any) -> float:
    return ts.seconds + ts.nanos / 1e9


@dataclass
class _Acc:
    """Points of one series gathered across pages (raw protobuf messages)."""

    header: Any
    points: list[Any] = field(default_factory=list)


def _series_key(pb: Any) -> tuple:
    return (
        pb.metric.type,
        tuple(sorted(pb.metric.labels.items())),
        pb.resource.type,
        tuple(sorted(pb.resource.labels.items())),
    )


def _name(pb: Any) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(pb.metric.labels.items()))
    res = ",".join(f"{k}={v}" for k, v in sorted(pb.resource.labels.items()))
    return f"{pb.metric.type}{{{labels}}}@{pb.resource.type}{{{res}}}"


def _end_seconds(points: Sequence[Any]) -> np.ndarray:
    """Interval end times as epoch seconds, ``seconds + nanos / 1e9`` (vectorised, same floats)."""
    ends = [p.interval.end_time for p in points]
    secs = np.fromiter((e.seconds for e in ends), dtype=np.int64, count=len(ends))
    nanos = np.fromiter((e.nanos for e in ends), dtype=np.int64, count=len(ends))
    return secs + nanos / 1e9


def series_from_pb(header: Any, points: Sequence[Any]) -> TimeSeries:
    """One ``TimeSeries`` from a raw protobuf header and its points (any order).

    Vectorised where it matters (a daily evaluation decodes ~10^5 distribution points): times
    are converted in one pass and points ordered by a stable argsort (the same order as a
    stable sort by end time); a bucket layout is computed once per distinct serialized
    ``bucket_options`` and compared only when it changes.
    """
    where = _name(header)
    kind = _KIND_NAMES.get(int(header.metric_kind))
    if kind is None:
        raise MetricSourceError(f"{where}: unknown metric kind {header.metric_kind}")
    vt = int(header.value_type)
    if vt == 0 and points:  # unspecified in the header: take it from the first point
        vt = {"bool_value": 1, "int64_value": 2, "double_value": 3, "distribution_value": 5}.get(
            points[0].value.WhichOneof("value") or "", 0
        )
    value_type = _VALUE_NAMES.get(vt)
    if value_type not in ("BOOL", "INT64", "DOUBLE", "DISTRIBUTION"):
        raise MetricSourceError(
            f"{where}: value type {value_type or vt} cannot be evaluated against a threshold"
        )
    raw_times = _end_seconds(points)
    order = np.argsort(raw_times, kind="stable")
    times = raw_times[order]
    pts = [points[i] for i in order.tolist()]
    starts = None
    if kind != "GAUGE":
        starts = np.array(
            [
                _ts_seconds(p.interval.start_time) if p.interval.HasField("start_time") else np.nan
                for p in pts
            ],
            dtype=float,
        )
    common: dict[str, Any] = {
        "metric_type": header.metric.type,
        "times": times,
        "metric_labels": dict(header.metric.labels),
        "resource_type": header.resource.type,
        "resource_labels": dict(header.resource.labels),
        "metric_kind": kind,
        "value_type": value_type,
        "start_times": starts,
    }
    if value_type != "DISTRIBUTION":
        field_name = {"BOOL": "bool_value", "INT64": "int64_value", "DOUBLE": "double_value"}[
            value_type
        ]
        values = np.array([getattr(p.value, field_name) for p in pts], dtype=float)
        return TimeSeries(**common, values=values)
    bounds: np.ndarray | None = None
    bounds_key: bytes | None = None
    counts_arr = np.empty((0, 0))
    n_counts = np.empty(len(pts))
    means = np.empty(len(pts))
    for i, p in enumerate(pts):
        d = p.value.distribution_value
        key = d.bucket_options.SerializeToString(deterministic=True)
        if key != bounds_key:
            b = _bounds_of(d.bucket_options, f"{where} point {i}")
            if bounds is None:
                bounds = b
                counts_arr = np.zeros((len(pts), bounds.size + 1))
            elif b.shape != bounds.shape or not np.array_equal(b, bounds):
                raise MetricSourceError(
                    f"{where}: points use different bucket layouts (point {i}); "
                    "the evaluator needs one layout per series"
                )
            bounds_key = key
        raw = list(d.bucket_counts)
        width = counts_arr.shape[1]
        if len(raw) > width:
            raise MetricSourceError(
                f"{where} point {i}: {len(raw)} bucket counts for {width} buckets"
            )
        if not raw and d.count:
            counts_arr[i] = np.nan  # histogram missing: no data, never guessed
        elif raw:
            counts_arr[i, : len(raw)] = raw
        n_counts[i] = d.count
        means[i] = d.mean
    if bounds is None:  # a series without points
        bounds = np.array([0.0])
        counts_arr = np.zeros((0, bounds.size + 1))
    return TimeSeries(
        **common, bucket_bounds=bounds, bucket_counts=counts_arr, dist_sums=n_counts * means
    )


def _interval(start: float, end: float) -> dict[str, Any]:
    from google.protobuf import timestamp_pb2

    def ts(x: float) -> timestamp_pb2.Timestamp:
        us = round(x * 1_000_000)
        return timestamp_pb2.Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)

    return {"start_time": ts(start), "end_time": ts(end)}


def _unavailable(exc: BaseException) -> bool:
    from google.api_core import exceptions as gexc

    return isinstance(
        exc, gexc.ServiceUnavailable | gexc.DeadlineExceeded | gexc.RetryError
    ) or type(exc).__name__ in ("_InactiveRpcError",)


def fetch_time_series(
    client: Any,
    project: str,
    filter_text: str,
    start: float,
    end: float,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    timeout: float = 30.0,
    retry_deadline: float = 10.0,
    max_points: int = DEFAULT_MAX_POINTS,
    max_pages: int = 10_000,
    endpoint_hint: str = "",
) -> list[TimeSeries]:
    """Raw points of every series matching ``filter_text`` with end time in ``(start, end]``.

    ``project`` is a project id or ``projects/ID``. ``timeout`` bounds each page request;
    ``retry_deadline`` bounds the retries of a failing request (UNAVAILABLE), so a service that
    is down fails in seconds, not minutes.
    """
    from google.api_core import exceptions as gexc
    from google.api_core import retry as gretry
    from google.cloud import monitoring_v3

    if not end > start:
        raise MetricSourceError(f"interval: end {end} must be after start {start}")
    name = project if project.startswith("projects/") else f"projects/{project}"
    request = monitoring_v3.ListTimeSeriesRequest(
        name=name,
        filter=filter_text,
        interval=_interval(start, end),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        page_size=page_size,
    )
    retry = gretry.Retry(
        predicate=gretry.if_exception_type(gexc.ServiceUnavailable),
        initial=0.1,
        maximum=1.0,
        multiplier=2.0,
        timeout=retry_deadline,
    )
    where = endpoint_hint or "Cloud Monitoring"
    acc: dict[tuple, _Acc] = {}
    n_points = 0
    try:
        pager = client.list_time_series(request=request, retry=retry, timeout=timeout)
        for n_pages, page in enumerate(pager.pages, start=1):
            if n_pages > max_pages:
                raise MetricSourceError(
                    f"{where}: more than {max_pages} pages for filter {filter_text!r}; "
                    "raise page_size or narrow the interval"
                )
            raw = monitoring_v3.ListTimeSeriesResponse.pb(page)
            for ts in raw.time_series:
                key = _series_key(ts)
                slot = acc.get(key)
                if slot is None:
                    slot = acc[key] = _Acc(ts)
                slot.points.extend(ts.points)
                n_points += len(ts.points)
            if n_points > max_points:
                raise MetricSourceError(
                    f"{where}: more than {max_points} points for filter {filter_text!r} in "
                    f"({start}, {end}]; narrow the filter or the interval"
                )
    except MetricSourceError:
        raise
    except gexc.InvalidArgument as exc:
        raise MetricSourceError(f"{where}: request rejected: {exc.message}") from None
    except Exception as exc:
        if _unavailable(exc):
            raise MetricSourceError(
                f"{where} is unreachable ({type(exc).__name__}: {exc}); in sandbox mode start "
                "it with `ctscan-ops sandbox up` and check CTSCAN_MONITORING_ENDPOINT"
            ) from None
        raise
    return [series_from_pb(a.header, a.points) for a in acc.values()]


def fetch_condition_series(
    client: Any,
    project: str,
    filters: Iterable[str],
    start: float,
    end: float,
    **kwargs: Any,
) -> list[TimeSeries]:
    """Series for several filters (numerator and denominator of a ratio), without duplicates."""
    seen: set[tuple] = set()
    out: list[TimeSeries] = []
    for f in filters:
        for ts in fetch_time_series(client, project, f, start, end, **kwargs):
            key = (
                ts.metric_type,
                tuple(sorted(ts.metric_labels.items())),
                ts.resource_type,
                tuple(sorted(ts.resource_labels.items())),
            )
            if key not in seen:
                seen.add(key)
                out.append(ts)
    return out
