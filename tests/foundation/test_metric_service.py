"""The sandbox MetricService, exercised only through the real google-cloud-monitoring client."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.api import distribution_pb2, metric_pb2
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3

from ctscan_ops.resources.monitoring import make_metric_client
from ctscan_ops.sandbox.metric_service import build_server
from ctscan_ops.sandbox.metric_store import MetricStore, SeriesDescriptor

PROJECT = "projects/ctscan-test"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _series(
    metric_type: str, value: float, at: datetime, **labels: str
) -> monitoring_v3.TimeSeries:
    return monitoring_v3.TimeSeries(
        metric={"type": metric_type, "labels": labels},
        resource={"type": "global", "labels": {"project_id": "ctscan-test"}},
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
        value_type=metric_pb2.MetricDescriptor.ValueType.DOUBLE,
        points=[monitoring_v3.Point(interval={"end_time": at}, value={"double_value": value})],
    )


def _list(client, filter_text: str, start: datetime, end: datetime, page_size: int = 0, view=None):
    request = {
        "name": PROJECT,
        "filter": filter_text,
        "interval": {"start_time": start, "end_time": end},
        "page_size": page_size,
    }
    if view is not None:
        request["view"] = view
    return client.list_time_series(request=request, retry=None)


def _unique_type() -> str:
    return f"custom.googleapis.com/test/{uuid.uuid4().hex[:8]}"


def test_create_then_list_round_trip(monitoring_client):
    mtype = _unique_type()
    for minute in range(5):
        monitoring_client.create_time_series(
            name=PROJECT,
            time_series=[
                _series(mtype, minute * 1.5, T0 + timedelta(minutes=minute), env="prod"),
                _series(mtype, -minute, T0 + timedelta(minutes=minute), env="dev"),
            ],
        )
    pages = list(
        _list(
            monitoring_client,
            f'metric.type="{mtype}"',
            T0 - timedelta(hours=1),
            T0 + timedelta(hours=1),
        )
    )
    by_env = {ts.metric.labels["env"]: ts for ts in pages}
    assert set(by_env) == {"prod", "dev"}
    prod_values = [p.value.double_value for p in by_env["prod"].points]
    assert prod_values == [6.0, 4.5, 3.0, 1.5, 0.0]  # newest first, as the API returns them
    assert by_env["prod"].resource.labels["project_id"] == "ctscan-test"


def test_filters_on_metric_and_resource_labels(monitoring_client):
    mtype = _unique_type()
    for env in ("prod", "dev", "staging"):
        monitoring_client.create_time_series(
            name=PROJECT, time_series=[_series(mtype, 1.0, T0, env=env, cls="5xx")]
        )
    window = (T0 - timedelta(minutes=1), T0 + timedelta(minutes=1))
    only_prod = list(
        _list(monitoring_client, f'metric.type="{mtype}" AND metric.labels.env="prod"', *window)
    )
    assert [ts.metric.labels["env"] for ts in only_prod] == ["prod"]
    not_prod = list(
        _list(monitoring_client, f'metric.type="{mtype}" AND metric.label.env!="prod"', *window)
    )
    assert sorted(ts.metric.labels["env"] for ts in not_prod) == ["dev", "staging"]
    by_resource = list(
        _list(
            monitoring_client,
            f'metric.type="{mtype}" AND resource.type="global"'
            ' AND resource.labels.project_id="nope"',
            *window,
        )
    )
    assert by_resource == []


def test_interval_is_open_at_start_closed_at_end(monitoring_client):
    mtype = _unique_type()
    for minute in range(4):
        monitoring_client.create_time_series(
            name=PROJECT,
            time_series=[_series(mtype, float(minute), T0 + timedelta(minutes=minute))],
        )
    got = list(
        _list(
            monitoring_client,
            f'metric.type="{mtype}"',
            T0 + timedelta(minutes=1),
            T0 + timedelta(minutes=3),
        )
    )
    assert [p.value.double_value for p in got[0].points] == [3.0, 2.0]


def test_pagination_returns_every_point_exactly_once(monitoring_client):
    mtype = _unique_type()
    for minute in range(23):
        monitoring_client.create_time_series(
            name=PROJECT,
            time_series=[
                _series(mtype, float(minute), T0 + timedelta(minutes=minute), k=str(i))
                for i in range(3)
            ],
        )
    pager = _list(
        monitoring_client,
        f'metric.type="{mtype}"',
        T0 - timedelta(minutes=1),
        T0 + timedelta(hours=1),
        page_size=10,
    )
    pages = list(pager.pages)
    assert len(pages) == 7  # 69 points / 10 per page
    assert all(sum(len(ts.points) for ts in page.time_series) <= 10 for page in pages)
    seen = [
        (ts.metric.labels["k"], p.value.double_value)
        for page in pages
        for ts in page.time_series
        for p in ts.points
    ]
    assert sorted(seen) == sorted((str(i), float(m)) for i in range(3) for m in range(23))


def test_headers_view_returns_series_without_points(monitoring_client):
    mtype = _unique_type()
    monitoring_client.create_time_series(name=PROJECT, time_series=[_series(mtype, 1.0, T0)])
    got = list(
        _list(
            monitoring_client,
            f'metric.type="{mtype}"',
            T0 - timedelta(minutes=1),
            T0,
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS,
        )
    )
    assert len(got) == 1 and len(got[0].points) == 0


def test_api_rules_are_enforced(monitoring_client):
    mtype = _unique_type()
    monitoring_client.create_time_series(name=PROJECT, time_series=[_series(mtype, 1.0, T0)])
    with pytest.raises(gexc.InvalidArgument, match="in order"):
        monitoring_client.create_time_series(
            name=PROJECT, time_series=[_series(mtype, 2.0, T0 - timedelta(minutes=1))], retry=None
        )
    two_points = _series(mtype, 1.0, T0 + timedelta(minutes=5))
    two_points.points.append(two_points.points[0])
    with pytest.raises(gexc.InvalidArgument, match="exactly one point"):
        monitoring_client.create_time_series(name=PROJECT, time_series=[two_points], retry=None)
    with pytest.raises(gexc.InvalidArgument, match="more than once"):
        monitoring_client.create_time_series(
            name=PROJECT,
            time_series=[
                _series(mtype, 1.0, T0 + timedelta(minutes=7)),
                _series(mtype, 1.0, T0 + timedelta(minutes=8)),
            ],
            retry=None,
        )
    with pytest.raises(gexc.InvalidArgument, match="filter"):
        _list(monitoring_client, "", T0, T0)
    with pytest.raises(gexc.InvalidArgument, match="invalid filter"):
        _list(monitoring_client, 'metric.type="x" OR ((', T0, T0)
    with pytest.raises(gexc.MethodNotImplemented, match="align client-side"):
        monitoring_client.list_time_series(
            request={
                "name": PROJECT,
                "filter": f'metric.type="{mtype}"',
                "interval": {"start_time": T0 - timedelta(hours=1), "end_time": T0},
                "aggregation": {
                    "alignment_period": {"seconds": 60},
                    "per_series_aligner": monitoring_v3.Aggregation.Aligner.ALIGN_MEAN,
                },
            },
            retry=None,
        )
    # a rejected request wrote nothing
    got = list(
        _list(
            monitoring_client,
            f'metric.type="{mtype}"',
            T0 - timedelta(hours=1),
            T0 + timedelta(hours=1),
        )
    )
    assert [p.value.double_value for p in got[0].points] == [1.0]


def test_system_metrics_are_read_only_by_default(tmp_path):
    store = MetricStore(tmp_path / "m.sqlite3")
    server, port = build_server(store, allow_system_metrics=False)
    server.start()
    try:
        client = make_metric_client(f"127.0.0.1:{port}")
        with pytest.raises(gexc.PermissionDenied, match="only custom"):
            client.create_time_series(
                name=PROJECT,
                time_series=[_series("run.googleapis.com/request_count", 1.0, T0)],
                retry=None,
            )
    finally:
        server.stop(None)
        store.close()


def test_bulk_loaded_distribution_round_trips(tmp_path):
    """A Cloud Run latency distribution loaded by the world generator reaches the client intact."""
    store = MetricStore(tmp_path / "m.sqlite3")
    desc = SeriesDescriptor(
        metric_type="run.googleapis.com/request_latencies",
        metric_labels={"response_code_class": "2xx"},
        resource_type="cloud_run_revision",
        resource_labels={"service_name": "ct-scan-api", "revision_name": "r1"},
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.DELTA,
        value_type=metric_pb2.MetricDescriptor.ValueType.DISTRIBUTION,
        unit="ms",
    )
    dist = distribution_pb2.Distribution(
        count=10,
        mean=120.0,
        bucket_options=distribution_pb2.Distribution.BucketOptions(
            explicit_buckets=distribution_pb2.Distribution.BucketOptions.Explicit(
                bounds=[100, 200, 400]
            )
        ),
        bucket_counts=[2, 5, 3, 0],
    )
    from google.cloud.monitoring_v3.types import common

    value = common.TypedValue.pb()(distribution_value=dist).SerializeToString()
    end = int(T0.timestamp() * 1e6)
    store.bulk_load(desc, [end], [value], start_us=[end - 60_000_000])
    server, port = build_server(store)
    server.start()
    try:
        client = make_metric_client(f"127.0.0.1:{port}")
        got = list(
            _list(
                client,
                'metric.type="run.googleapis.com/request_latencies"',
                T0 - timedelta(minutes=5),
                T0,
            )
        )
        point = got[0].points[0]
        assert list(point.value.distribution_value.bucket_counts) == [2, 5, 3, 0]
        assert list(point.value.distribution_value.bucket_options.explicit_buckets.bounds) == [
            100,
            200,
            400,
        ]
        assert point.interval.start_time == T0 - timedelta(minutes=1)
        assert got[0].metric_kind == metric_pb2.MetricDescriptor.MetricKind.DELTA
        assert got[0].unit == "ms"
    finally:
        server.stop(None)
        store.close()
