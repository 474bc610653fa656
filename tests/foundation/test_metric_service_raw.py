"""ListTimeSeries written as wire bytes from one SQL query equals the previous implementation.

The previous implementation (``list_time_series_legacy``: one query per candidate series, every
point decoded into a message and re-encoded) is the reference: for filters, intervals, views and
page sizes the new path must return the same pages, compared as parsed ``TimeSeries``
messages, in-process and through the real google-cloud-monitoring client over gRPC.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from google.api import distribution_pb2, metric_pb2
from google.api_core import exceptions as gexc
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.types import common as common_types
from google.cloud.monitoring_v3.types import metric as metric_types
from google.cloud.monitoring_v3.types import metric_service as ms
from hypothesis import given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.engine.filters import parse_filter
from ctscan_ops.resources.monitoring import make_metric_client
from ctscan_ops.sandbox.metric_service import (
    MetricServiceImpl,
    _interval_prefix,
    _timestamp_body,
    _varint,
    build_server,
    filter_sql,
)
from ctscan_ops.sandbox.metric_store import MetricStore, SeriesDescriptor, encode_value

PROJECT = "projects/ctscan-test"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
MIN_US = 60_000_000
GAUGE = metric_pb2.MetricDescriptor.MetricKind.GAUGE
DELTA = metric_pb2.MetricDescriptor.MetricKind.DELTA
DOUBLE = metric_pb2.MetricDescriptor.ValueType.DOUBLE
INT64 = metric_pb2.MetricDescriptor.ValueType.INT64
DIST = metric_pb2.MetricDescriptor.ValueType.DISTRIBUTION

REQ = "run.googleapis.com/request_count"
LAT = "run.googleapis.com/request_latencies"
CPU = "custom.googleapis.com/cpu"


def _dist_bytes(i: int) -> bytes:
    dist = distribution_pb2.Distribution(
        count=3 + i % 4,
        mean=100.0 + i,
        bucket_options=distribution_pb2.Distribution.BucketOptions(
            explicit_buckets=distribution_pb2.Distribution.BucketOptions.Explicit(
                bounds=[100, 200, 400]
            )
        ),
        bucket_counts=[1, 1 + i % 4, 1, 0],
    )
    return common_types.TypedValue.pb()(distribution_value=dist).SerializeToString()


def _descriptors() -> list[tuple[SeriesDescriptor, int, int, int]]:
    """(descriptor, first minute, last minute, minute step): revisions that ended, live ones,
    a missing label, a label key with a dot, INT64, DOUBLE and DISTRIBUTION values."""
    out = []
    for rev, (a, b) in enumerate([(0, 40), (35, 120), (100, 180)]):
        for code in ("2xx", "5xx"):
            out.append(
                (
                    SeriesDescriptor(
                        REQ,
                        {"response_code_class": code},
                        "cloud_run_revision",
                        {"service_name": "ct-scan-api", "revision_name": f"api-{rev:05d}"},
                        DELTA,
                        INT64,
                        "1",
                    ),
                    a,
                    b,
                    1,
                )
            )
    out.append(
        (
            SeriesDescriptor(
                REQ,
                {"response_code_class": "2xx"},
                "cloud_run_revision",
                {"service_name": "ct-scan-worker", "revision_name": "worker-00001"},
                DELTA,
                INT64,
                "1",
            ),
            0,
            180,
            2,
        )
    )
    out.append(
        (
            SeriesDescriptor(
                LAT,
                {"response_code_class": "2xx"},
                "cloud_run_revision",
                {"service_name": "ct-scan-api", "revision_name": "api-00002"},
                DELTA,
                DIST,
                "ms",
            ),
            50,
            180,
            1,
        )
    )
    out.append((SeriesDescriptor(CPU, {"env": "prod", "a.b": "x"}, "global", {}), 0, 180, 3))
    out.append((SeriesDescriptor(CPU, {}, "global", {"project_id": "p"}), 10, 60, 1))
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> MetricStore:
    st_ = MetricStore(tmp_path_factory.mktemp("raw") / "m.sqlite3")
    batches = []
    for k, (desc, a, b, step) in enumerate(_descriptors()):
        minutes = list(range(a, b + 1, step))
        ends = [T0_US + m * MIN_US + (7_500 if k % 3 == 0 else 0) for m in minutes]
        if desc.value_type == DIST:
            values = [_dist_bytes(m) for m in minutes]
        elif desc.value_type == INT64:
            values = [encode_value(int(m * 7 % 13)) for m in minutes]
        else:
            values = [encode_value(0.25 * m - 3.0) for m in minutes]
        starts = [e - MIN_US for e in ends] if desc.metric_kind == DELTA else None
        batches.append((desc, ends, starts, values))
    st_.load_history(batches)
    yield st_
    st_.close()


FILTERS = [
    f'metric.type="{REQ}"',
    f'metric.type="{REQ}" AND resource.type="cloud_run_revision"'
    ' AND resource.labels.service_name="ct-scan-api"',
    f'metric.type="{REQ}" AND metric.labels.response_code_class!="2xx"',
    f'metric.type="{REQ}" AND resource.labels.revision_name=starts_with("api-0000")',
    f'metric.type="{REQ}" AND resource.label.revision_name=ends_with("1")',
    f'metric.type="{REQ}" AND NOT resource.labels.revision_name=one_of("api-00000", "x")',
    f'metric.type="{REQ}" AND resource.labels.service_name:"work"',
    f'metric.type="{LAT}"',
    f'metric.type="{CPU}" AND metric.labels.env!="dev"',
    f'metric.type="{CPU}" AND metric.labels.a.b="x"',
    f'metric.type="{CPU}" AND NOT metric.labels.env="prod"',
    'resource.type="global"',
    'metric.type=starts_with("run.googleapis.com/")',
    'metric.type="nothing/here"',
]
INTERVALS = [  # (start minute or None, end minute)
    (None, 120),
    (119, 120),
    (-10, 300),
    (30, 45),
    (170, 175),
    (45, 45),
    (200, 300),
]


def _request(flt: str, start: int | None, end: int, page_size: int, headers: bool, token: str = ""):
    interval = {"end_time": T0 + timedelta(minutes=end)}
    if start is not None:
        interval["start_time"] = T0 + timedelta(minutes=start)
    view = (
        ms.ListTimeSeriesRequest.TimeSeriesView.HEADERS
        if headers
        else ms.ListTimeSeriesRequest.TimeSeriesView.FULL
    )
    return ms.ListTimeSeriesRequest(
        name=PROJECT,
        filter=flt,
        interval=interval,
        page_size=page_size,
        view=view,
        page_token=token,
    )


def _pages(call, flt, start, end, page_size, headers) -> list[list[metric_types.TimeSeries]]:
    pages, token = [], ""
    for _ in range(1000):
        resp = call(_request(flt, start, end, page_size, headers, token))
        pages.append(list(resp.time_series))
        token = resp.next_page_token
        if not token:
            return pages
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("flt", FILTERS)
def test_raw_pages_equal_legacy_in_process(store, flt):
    impl = MetricServiceImpl(store)
    compared = 0
    for start, end in INTERVALS:
        for page_size in (0, 1, 7, 50):
            for headers in (False, True):
                new = _pages(impl.list_time_series, flt, start, end, page_size, headers)
                old = _pages(impl.list_time_series_legacy, flt, start, end, page_size, headers)
                assert new == old, (flt, start, end, page_size, headers)
                compared += sum(len(ts.points) for page in new for ts in page)
    if "nothing" not in flt:
        assert compared > 0  # the grid does reach points for every real filter


def test_raw_bytes_parse_like_the_library_message(store):
    """The wire bytes parse to the same message the library serialises for the legacy answer."""
    impl = MetricServiceImpl(store)
    req = _request(FILTERS[0], -10, 300, 0, False)
    raw = impl.list_time_series_raw(req)
    legacy = impl.list_time_series_legacy(req)
    assert ms.ListTimeSeriesResponse.deserialize(raw) == legacy
    assert ms.ListTimeSeriesResponse.deserialize(
        ms.ListTimeSeriesResponse.serialize(legacy)
    ) == ms.ListTimeSeriesResponse.deserialize(raw)
    dist = impl.list_time_series(_request(f'metric.type="{LAT}"', 49, 52, 0, False))
    point = dist.time_series[0].points[0]
    assert list(point.value.distribution_value.bucket_counts) == [1, 1 + 52 % 4, 1, 0]
    assert point.interval.start_time == T0 + timedelta(minutes=51)


def test_raw_server_equals_legacy_server_through_the_client(store):
    servers = []
    try:
        clients = []
        for legacy in (False, True):
            server, port = build_server(store, legacy_list=legacy)
            server.start()
            servers.append(server)
            clients.append(make_metric_client(f"127.0.0.1:{port}"))
        for flt in FILTERS[:3] + FILTERS[7:9]:
            for page_size in (0, 9):
                got = []
                for client in clients:
                    pager = client.list_time_series(
                        request={
                            "name": PROJECT,
                            "filter": flt,
                            "interval": {
                                "start_time": T0 - timedelta(minutes=5),
                                "end_time": T0 + timedelta(hours=4),
                            },
                            "page_size": page_size,
                        },
                        retry=None,
                    )
                    got.append([list(page.time_series) for page in pager.pages])
                assert got[0] == got[1]
                assert sum(len(ts.points) for page in got[0] for ts in page) > 0
    finally:
        for server in servers:
            server.stop(None)


def test_page_token_of_another_query_is_rejected(store):
    impl = MetricServiceImpl(store)
    first = impl.list_time_series(_request(FILTERS[0], -10, 300, 5, False))
    assert first.next_page_token
    from ctscan_ops.sandbox.metric_service import RpcError

    with pytest.raises(RpcError, match="another query"):
        impl.list_time_series_raw(_request(FILTERS[2], -10, 300, 5, False, first.next_page_token))


def test_one_sql_query_per_request(store):
    """With the series headers cached, a request runs exactly one SQL statement."""
    impl = MetricServiceImpl(store)
    req = _request(FILTERS[1], -10, 300, 0, False)
    impl.list_time_series_raw(req)  # fills the header cache
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    try:
        impl.list_time_series_raw(req)
    finally:
        store._conn.set_trace_callback(None)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")
    plan = " ".join(str(r) for r in store._conn.execute("EXPLAIN QUERY PLAN " + statements[0]))
    assert "series_by_type_last" in plan


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from(
                [
                    "metric.type",
                    "resource.type",
                    "metric.labels.response_code_class",
                    "metric.labels.env",
                    "metric.labels.a.b",
                    "resource.labels.revision_name",
                    "resource.labels.service_name",
                    "resource.labels.project_id",
                ]
            ),
            st.sampled_from(["=", "!=", ":", "starts_with", "ends_with", "one_of"]),
            st.lists(
                st.sampled_from(
                    ["", "2xx", "5xx", "x", "api-", "api-00001", "1", "prod", "p", "global", REQ]
                ),
                min_size=1,
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_filter_sql_selects_what_the_parser_matches(store, terms):
    parts = []
    for negate, field, op, values in terms:
        quoted = [f'"{v}"' for v in values]
        if op in ("=", "!=", ":"):
            text = f"{field}{op}{quoted[0]}"
        elif op == "one_of":
            text = f"{field}=one_of({', '.join(quoted)})"
        else:
            text = f"{field}={op}({quoted[0]})"
        parts.append(("NOT " if negate else "") + text)
    parsed = parse_filter(" AND ".join(parts))
    where, params = filter_sql(parsed)
    got = {r[0] for r in store._conn.execute(f"SELECT s.id FROM series AS s WHERE {where}", params)}
    want = {
        s.id
        for s in store.all_series()
        if parsed.matches(
            s.descriptor.metric_type,
            s.descriptor.metric_labels,
            s.descriptor.resource_type,
            s.descriptor.resource_labels,
        )
    }
    assert got == want


@pytest.mark.parametrize(
    "us", [0, 1, 999_999, 1_000_000, T0_US, T0_US + 7_500, -1, -1_500_000, 2**62]
)
def test_wire_helpers_round_trip(us):
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    ts.ParseFromString(_timestamp_body(us))
    assert ts.seconds * 1_000_000 + ts.nanos // 1000 == us
    value = encode_value(1.5)
    point = metric_types.Point.deserialize(
        _interval_prefix(us - 5, us) + b"\x12" + _varint(len(value)) + value
    )
    pb = metric_types.Point.pb(point)
    assert pb.interval.end_time.seconds * 1_000_000 + pb.interval.end_time.nanos // 1000 == us
    start = pb.interval.start_time
    assert start.seconds * 1_000_000 + start.nanos // 1000 == us - 5
    assert pb.value.double_value == 1.5
    no_start = metric_types.Point.pb(metric_types.Point.deserialize(_interval_prefix(None, us)))
    assert not no_start.interval.HasField("start_time")
    for n in (0, 1, 127, 128, 300, 2**35, 2**63 - 1):
        pb = timestamp_pb2.Timestamp()
        pb.ParseFromString(b"\x08" + _varint(n))
        assert pb.seconds == n


def test_first_and_last_point_times_follow_every_write(tmp_path):
    st_ = MetricStore(tmp_path / "m.sqlite3")
    try:
        desc = SeriesDescriptor(CPU, {"k": "1"}, "global", {})
        st_.load_history([(desc, [T0_US, T0_US + MIN_US], None, [encode_value(1.0)] * 2)])
        st_.write_points([(desc, T0_US + 5 * MIN_US, None, encode_value(2.0))])

        def span():
            return st_._conn.execute("SELECT first_us, last_us FROM series").fetchone()

        assert span() == (T0_US, T0_US + 5 * MIN_US)
        # regenerating replaces the history: the span follows the new points only
        st_.load_history(
            [(desc, [T0_US + 60 * MIN_US], None, [encode_value(3.0)])], replace=lambda d: True
        )
        assert span() == (T0_US + 60 * MIN_US, T0_US + 60 * MIN_US)
        # a rejected write leaves it untouched
        with pytest.raises(ValueError):
            st_.write_points([(desc, T0_US, None, encode_value(9.0))])
        assert span() == (T0_US + 60 * MIN_US, T0_US + 60 * MIN_US)
    finally:
        st_.close()


def test_store_written_before_the_span_columns_is_migrated(tmp_path):
    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript(
        """
        CREATE TABLE series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,
            metric_type TEXT NOT NULL, metric_labels TEXT NOT NULL, resource_type TEXT NOT NULL,
            resource_labels TEXT NOT NULL, metric_kind INTEGER NOT NULL,
            value_type INTEGER NOT NULL, unit TEXT NOT NULL DEFAULT '');
        CREATE TABLE points (series_id INTEGER NOT NULL, end_us INTEGER NOT NULL,
            start_us INTEGER, value BLOB NOT NULL, PRIMARY KEY (series_id, end_us)) WITHOUT ROWID;
        """
    )
    desc = SeriesDescriptor(CPU, {"k": "1"}, "global", {})
    conn.execute(
        "INSERT INTO series VALUES (1, ?, ?, '{\"k\": \"1\"}', 'global', '{}', ?, ?, '')",
        (desc.key, CPU, GAUGE, DOUBLE),
    )
    for m in range(3):
        conn.execute(
            "INSERT INTO points VALUES (1, ?, NULL, ?)", (T0_US + m * MIN_US, encode_value(m))
        )
    conn.commit()
    conn.close()
    st_ = MetricStore(db)
    try:
        row = st_._conn.execute("SELECT first_us, last_us FROM series").fetchone()
        assert row == (T0_US, T0_US + 2 * MIN_US)
        got = MetricServiceImpl(st_).list_time_series(
            _request(f'metric.type="{CPU}"', -1, 10, 0, False)
        )
        assert [p.value.int64_value for p in got.time_series[0].points] == [2, 1, 0]
    finally:
        st_.close()


def test_api_write_rules_still_hold_with_the_raw_list(tmp_path):
    st_ = MetricStore(tmp_path / "m.sqlite3")
    server, port = build_server(st_)
    server.start()
    try:
        client = make_metric_client(f"127.0.0.1:{port}")

        def series(value: float, at: datetime) -> monitoring_v3.TimeSeries:
            return monitoring_v3.TimeSeries(
                metric={"type": CPU, "labels": {"env": "prod"}},
                resource={"type": "global", "labels": {}},
                metric_kind=GAUGE,
                value_type=DOUBLE,
                points=[
                    monitoring_v3.Point(interval={"end_time": at}, value={"double_value": value})
                ],
            )

        client.create_time_series(name=PROJECT, time_series=[series(1.0, T0)])
        with pytest.raises(gexc.InvalidArgument, match="in order"):
            client.create_time_series(
                name=PROJECT, time_series=[series(2.0, T0 - timedelta(minutes=1))], retry=None
            )
        with pytest.raises(gexc.PermissionDenied):
            bad = series(1.0, T0 + timedelta(minutes=1))
            bad.metric.type = REQ
            client.create_time_series(name=PROJECT, time_series=[bad], retry=None)
        client.create_time_series(
            name=PROJECT, time_series=[series(3.0, T0 + timedelta(minutes=2))]
        )
        got = list(
            client.list_time_series(
                request={
                    "name": PROJECT,
                    "filter": f'metric.type="{CPU}"',
                    "interval": {
                        "start_time": T0 - timedelta(minutes=1),
                        "end_time": T0 + timedelta(minutes=5),
                    },
                },
                retry=None,
            )
        )
        assert [p.value.double_value for p in got[0].points] == [3.0, 1.0]
    finally:
        server.stop(None)
        st_.close()
