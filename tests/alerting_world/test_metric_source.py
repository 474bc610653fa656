"""Round trip world -> store -> real client (list_time_series) -> TimeSeries, and the
failure modes of the metric source."""

from __future__ import annotations

import socket
import time
import uuid

import numpy as np
import pytest
from google.api import distribution_pb2
from google.cloud import monitoring_v3

from ctscan_ops.alerting.engine.metric_source import (
    MetricSourceError,
    fetch_condition_series,
    fetch_time_series,
    series_from_pb,
)
from ctscan_ops.sandbox.metric_store import MetricStore
from ctscan_ops.sandbox.worlds import alerting as alert_world
from ctscan_ops.sandbox.worlds import metric_world as mw

from .conftest import DAY, WORLD_END


@pytest.fixture(scope="module")
def loaded_world(sandbox_tmp, metric_service):
    """A two-day world under a unique project id, loaded into the session MetricService."""
    project = f"rt-{uuid.uuid4().hex[:8]}"
    services = alert_world.services_for(project)
    world = mw.build_world(99, WORLD_END - 2 * DAY, WORLD_END, services)
    store = MetricStore(sandbox_tmp / "monitoring-session.sqlite3")
    try:
        alert_world.load_series(store, world.series)
    finally:
        store.close()
    return project, world


def _key(ts):
    return (
        ts.metric_type,
        tuple(sorted(ts.metric_labels.items())),
        ts.resource_type,
        tuple(sorted(ts.resource_labels.items())),
    )


def _assert_equal(got, expected):
    assert got.metric_kind == expected.metric_kind
    assert got.value_type == expected.value_type
    np.testing.assert_array_equal(got.times, expected.times)
    if expected.start_times is None:
        assert got.start_times is None
    else:
        np.testing.assert_array_equal(got.start_times, expected.start_times)
    if expected.value_type == "DISTRIBUTION":
        np.testing.assert_array_equal(got.bucket_bounds, expected.bucket_bounds)
        np.testing.assert_array_equal(got.bucket_counts, expected.bucket_counts)
        np.testing.assert_allclose(got.dist_sums, expected.dist_sums, rtol=1e-12)
    else:
        np.testing.assert_array_equal(got.values, expected.values)


@pytest.mark.parametrize(
    "metric_type",
    sorted(
        {
            mw.REQUEST_COUNT,
            mw.REQUEST_LATENCIES,
            mw.CPU_UTILIZATIONS,
            mw.MEMORY_UTILIZATIONS,
            mw.INSTANCE_COUNT,
            mw.CONTAINER_CRASHES,
            mw.CONFIDENCE,
            mw.LIVE_ACCURACY,
            mw.STORAGE_BYTES,
        }
    ),
)
def test_round_trip_equals_generated_arrays(loaded_world, monitoring_client, metric_type):
    project, world = loaded_world
    flt = f'metric.type="{metric_type}" AND resource.labels.project_id="{project}"'
    got = {
        _key(t): t
        for t in fetch_time_series(monitoring_client, project, flt, world.start, world.end)
    }
    expected = {
        _key(t): t
        for t in (s.to_time_series() for s in world.series)
        if t.metric_type == metric_type
    }
    assert expected and set(got) == set(expected)
    for k, exp in expected.items():
        _assert_equal(got[k], exp)


def test_pages_are_merged_per_series(loaded_world, monitoring_client):
    project, world = loaded_world
    flt = f'metric.type="{mw.REQUEST_LATENCIES}" AND resource.labels.project_id="{project}"'
    big = fetch_time_series(monitoring_client, project, flt, world.start, world.end)
    small = fetch_time_series(
        monitoring_client, project, flt, world.start, world.end, page_size=997
    )
    assert sum(len(t) for t in big) > 5 * 997  # really paginated, series split over pages
    assert {_key(t) for t in small} == {_key(t) for t in big}
    by_key = {_key(t): t for t in big}
    for t in small:
        _assert_equal(t, by_key[_key(t)])


def test_interval_is_start_exclusive_end_inclusive(loaded_world, monitoring_client):
    project, world = loaded_world
    flt = (
        f'metric.type="{mw.INSTANCE_COUNT}" AND resource.labels.project_id="{project}"'
        ' AND resource.labels.service_name="ct-scan-api" AND metric.labels.state="active"'
    )
    t0 = world.start + 3600
    series = fetch_time_series(monitoring_client, project, flt, t0, t0 + 600)
    times = np.concatenate([s.times for s in series])
    assert times.min() == t0 + 60 and times.max() == t0 + 600 and times.size == 10


def test_condition_series_dedupes_numerator_and_denominator(loaded_world, monitoring_client):
    project, world = loaded_world
    base = f'metric.type="{mw.REQUEST_COUNT}" AND resource.labels.project_id="{project}"'
    num = fetch_time_series(
        monitoring_client,
        project,
        base + ' AND metric.labels.response_code_class="5xx"',
        world.start,
        world.end,
    )
    both = fetch_condition_series(
        monitoring_client,
        project,
        [base + ' AND metric.labels.response_code_class="5xx"', base],
        world.start,
        world.end,
    )
    den = fetch_time_series(monitoring_client, project, base, world.start, world.end)
    assert num and len(both) == len(den) > len(num)


def test_too_many_points_is_refused(loaded_world, monitoring_client):
    project, world = loaded_world
    flt = f'metric.type="{mw.INSTANCE_COUNT}" AND resource.labels.project_id="{project}"'
    with pytest.raises(MetricSourceError, match="more than 100 points"):
        fetch_time_series(
            monitoring_client,
            project,
            flt,
            world.start,
            world.end,
            max_points=100,
            page_size=50,
        )


def test_too_many_pages_is_refused(loaded_world, monitoring_client):
    project, world = loaded_world
    flt = f'metric.type="{mw.INSTANCE_COUNT}" AND resource.labels.project_id="{project}"'
    with pytest.raises(MetricSourceError, match="more than 3 pages"):
        fetch_time_series(
            monitoring_client, project, flt, world.start, world.end, page_size=10, max_pages=3
        )


def test_bad_filter_and_bad_interval_are_clear(monitoring_client):
    with pytest.raises(MetricSourceError, match="request rejected"):
        fetch_time_series(monitoring_client, "p", 'metric.type=="x"', 0, 60)
    with pytest.raises(MetricSourceError, match="must be after start"):
        fetch_time_series(monitoring_client, "p", 'metric.type="x"', 60, 60)


def test_service_down_fails_fast_with_a_clear_error():
    from ctscan_ops.resources.monitoring import make_metric_client

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = make_metric_client(f"127.0.0.1:{port}")
    begun = time.monotonic()
    with pytest.raises(MetricSourceError, match=r"unreachable.*sandbox up"):
        fetch_time_series(client, "p", 'metric.type="x"', 0, 60, timeout=2.0, retry_deadline=1.0)
    assert time.monotonic() - begun < 20  # bounded by the deadlines, not a 90 s default


def _dist_header():
    ts = monitoring_v3.TimeSeries.pb()()
    ts.metric.type = mw.REQUEST_LATENCIES
    ts.resource.type = "cloud_run_revision"
    ts.metric_kind = 2  # DELTA
    ts.value_type = 5  # DISTRIBUTION
    return ts


def _point(end, counts, count, mean, options):
    p = monitoring_v3.Point.pb()()
    p.interval.end_time.seconds = end
    p.interval.start_time.seconds = end - 60
    d = p.value.distribution_value
    d.count = count
    d.mean = mean
    d.bucket_counts.extend(counts)
    d.bucket_options.CopyFrom(options)
    return p


def test_distribution_conversion_pads_and_marks_missing_histograms():
    opts = distribution_pb2.Distribution.BucketOptions(
        explicit_buckets={"bounds": [10.0, 20.0, 40.0]}
    )
    pts = [
        _point(180, [0, 2], 2, 15.0, opts),  # trailing buckets left out
        _point(120, [], 3, 12.0, opts),  # count without histogram -> no data
        _point(60, [1, 0, 0, 4], 5, 30.0, opts),
    ]
    ts = series_from_pb(_dist_header(), pts)
    np.testing.assert_array_equal(ts.times, [60, 120, 180])  # oldest first
    np.testing.assert_array_equal(ts.start_times, [0, 60, 120])
    np.testing.assert_array_equal(ts.bucket_bounds, [10, 20, 40])
    np.testing.assert_array_equal(ts.bucket_counts[0], [1, 0, 0, 4])
    assert np.isnan(ts.bucket_counts[1]).all()
    np.testing.assert_array_equal(ts.bucket_counts[2], [0, 2, 0, 0])
    np.testing.assert_allclose(ts.dist_sums, [150.0, 36.0, 30.0])


def test_distribution_with_changing_layout_is_refused():
    a = distribution_pb2.Distribution.BucketOptions(explicit_buckets={"bounds": [1.0, 2.0]})
    b = distribution_pb2.Distribution.BucketOptions(explicit_buckets={"bounds": [1.0, 3.0]})
    with pytest.raises(MetricSourceError, match="different bucket layouts"):
        series_from_pb(_dist_header(), [_point(60, [1], 1, 0.5, a), _point(120, [1], 1, 0.5, b)])
