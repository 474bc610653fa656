"""SeriesCache: fewer ListTimeSeries calls, exactly the same series and points."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from google.api import metric_pb2
from google.cloud import monitoring_v3

from ctscan_ops.alerting.catalog import parse_catalog
from ctscan_ops.alerting.engine.metric_source import fetch_time_series
from ctscan_ops.alerting.engine.runtime import SeriesCache, narrows

T0 = datetime(2026, 11, 3, tzinfo=UTC)


class CountingClient:
    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def list_time_series(self, *args, **kwargs):
        self.calls += 1
        return self.inner.list_time_series(*args, **kwargs)


def _write(client, mtype: str, minutes: int) -> None:
    for m in range(minutes):
        series = []
        for cls, value in (("2xx", 100 + m), ("5xx", m % 3), ("4xx", 1)):
            series.append(
                monitoring_v3.TimeSeries(
                    metric={"type": mtype, "labels": {"response_code_class": cls}},
                    resource={"type": "global", "labels": {"project_id": "ctscan-cache"}},
                    metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
                    value_type=metric_pb2.MetricDescriptor.ValueType.DOUBLE,
                    points=[
                        monitoring_v3.Point(
                            interval={"end_time": T0 + timedelta(minutes=m)},
                            value={"double_value": float(value)},
                        )
                    ],
                )
            )
        client.create_time_series(name="projects/ctscan-cache", time_series=series)


def _policy(mtype: str):
    base = f'metric.type="{mtype}" AND resource.type="global"'
    agg = [
        {
            "alignment_period": "60s",
            "per_series_aligner": "ALIGN_MEAN",
            "cross_series_reducer": "REDUCE_SUM",
            "group_by_fields": [],
        }
    ]
    doc = {
        "catalog_version": 1,
        "policies": {
            "ratio": {
                "display_name": "ratio",
                "severity": "P2",
                "condition": {
                    "filter": base + ' AND metric.labels.response_code_class="5xx"',
                    "aggregations": agg,
                    "denominator_filter": base,
                    "denominator_aggregations": agg,
                    "comparison": "COMPARISON_GT",
                    "threshold_value": 0.01,
                    "duration": "60s",
                },
                "auto_close": "600s",
            }
        },
    }
    return parse_catalog(doc).resolve("ratio", "prod")


def _points(series):
    return {ts.name: (ts.times.tolist(), np.asarray(ts.values).tolist()) for ts in series}


def test_ratio_numerator_is_derived_from_the_denominator_fetch(monitoring_client):
    mtype = f"custom.googleapis.com/test/cache_{uuid.uuid4().hex[:6]}"
    _write(monitoring_client, mtype, 30)
    policy = _policy(mtype)
    num, den = policy.condition.filter, policy.condition.denominator_filter
    assert narrows(num, den) and not narrows(den, num)
    start, end = T0.timestamp() - 60, (T0 + timedelta(minutes=40)).timestamp()
    counting = CountingClient(monitoring_client)
    got = SeriesCache(counting, "ctscan-cache", start, end).for_policy(policy)
    assert counting.calls == 1  # one fetch serves both sides of the ratio
    # identical to two separate fetches, each series once (the denominator includes the 5xx)
    separate = {
        **_points(fetch_time_series(monitoring_client, "ctscan-cache", den, start, end)),
        **_points(fetch_time_series(monitoring_client, "ctscan-cache", num, start, end)),
    }
    assert _points(got) == separate and len(got) == 3


def test_since_reads_less_and_reuses_a_covering_fetch(monitoring_client):
    mtype = f"custom.googleapis.com/test/cache_{uuid.uuid4().hex[:6]}"
    _write(monitoring_client, mtype, 30)
    policy = _policy(mtype)
    start, end = T0.timestamp() - 60, (T0 + timedelta(minutes=40)).timestamp()
    since = (T0 + timedelta(minutes=20)).timestamp()
    counting = CountingClient(monitoring_client)
    cache = SeriesCache(counting, "ctscan-cache", start, end)
    late = cache.for_policy(policy, since=since)
    assert all(ts.times.min() > since for ts in late)  # (since, end] only
    assert counting.calls == 1
    full = cache.for_policy(policy)  # needs earlier points: one more fetch
    assert counting.calls == 2 and min(ts.times.min() for ts in full) == T0.timestamp()
    again = cache.for_policy(policy, since=since)  # covered by the full fetch: no call
    assert counting.calls == 2 and _points(again) == _points(full)
