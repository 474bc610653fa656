"""Cloud Monitoring: the real API through ADC, or the sandbox's gRPC MetricService.

Also the one way ctscan_ops publishes its custom metrics (drift share, live accuracy, ...), so
every domain writes points with the same rules the real API enforces: one point per series per
request, at most 200 series per request, points of a series in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from google.cloud import monitoring_v3

MAX_SERIES_PER_REQUEST = 200


def make_metric_client(endpoint: str | None) -> monitoring_v3.MetricServiceClient:
    """A MetricServiceClient for the real API (ADC) or, with ``endpoint``, the local service."""
    from google.cloud import monitoring_v3

    if endpoint:
        import grpc
        from google.cloud.monitoring_v3.services.metric_service.transports import (
            MetricServiceGrpcTransport,
        )

        # the same unlimited message sizes the GAPIC transport sets for the real API: a page of
        # 100,000 distribution points is larger than gRPC's 4 MB default
        channel = grpc.insecure_channel(
            endpoint,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
    return monitoring_v3.MetricServiceClient()


class MonitoringResource(dg.ConfigurableResource):
    project: str
    endpoint: str | None = Field(
        default=None, description="host:port of the sandbox MetricService (sandbox only)"
    )

    @property
    def project_name(self) -> str:
        return f"projects/{self.project}"

    def client(self) -> monitoring_v3.MetricServiceClient:
        return make_metric_client(self.endpoint)


@dataclass(frozen=True)
class GaugePoint:
    """One value of a custom GAUGE metric on the ``global`` resource."""

    metric_type: str
    value: float | int
    end_time: datetime
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def series_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.metric_type, tuple(sorted(self.labels.items()))


def _to_time_series(point: GaugePoint, project: str) -> monitoring_v3.TimeSeries:
    from google.api import metric_pb2
    from google.cloud import monitoring_v3

    is_int = isinstance(point.value, int) and not isinstance(point.value, bool)
    value = {"int64_value": point.value} if is_int else {"double_value": float(point.value)}
    end = point.end_time if point.end_time.tzinfo else point.end_time.replace(tzinfo=UTC)
    return monitoring_v3.TimeSeries(
        metric={"type": point.metric_type, "labels": dict(point.labels)},
        resource={"type": "global", "labels": {"project_id": project}},
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
        value_type=(
            metric_pb2.MetricDescriptor.ValueType.INT64
            if is_int
            else metric_pb2.MetricDescriptor.ValueType.DOUBLE
        ),
        points=[monitoring_v3.Point(interval={"end_time": end}, value=value)],
    )


def plan_write_requests(points: Iterable[GaugePoint]) -> list[list[GaugePoint]]:
    """Group points into requests the API accepts.

    A request may hold at most one point per series and at most 200 series, and the points of a
    series must arrive in time order: so points are sorted by time and a new request starts
    whenever a series would repeat or the request is full.
    """
    requests: list[list[GaugePoint]] = []
    current: list[GaugePoint] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for point in sorted(points, key=lambda p: p.end_time):
        if point.series_key in seen or len(current) >= MAX_SERIES_PER_REQUEST:
            requests.append(current)
            current, seen = [], set()
        current.append(point)
        seen.add(point.series_key)
    if current:
        requests.append(current)
    return requests


def publish_gauges(
    client: monitoring_v3.MetricServiceClient, project: str, points: Sequence[GaugePoint]
) -> int:
    """Write ``points`` through the real client; returns the number of requests made."""
    batches = plan_write_requests(points)
    for batch in batches:
        client.create_time_series(
            name=f"projects/{project}",
            time_series=[_to_time_series(p, project) for p in batch],
        )
    return len(batches)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def already_written(
    client: monitoring_v3.MetricServiceClient,
    project: str,
    points: Sequence[GaugePoint],
    now: datetime | None = None,
) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Series of ``points`` that already hold a point at or after that point's end time.

    A GAUGE series takes points in time order only: Cloud Monitoring refuses a point at or
    before the series' latest one ("Points must be written in order"). A re-run of a day, or an
    older day backfilled behind the latest published one, must therefore skip those series
    rather than fail after its report is stored. One ListTimeSeries call per metric type over
    ``(earliest end - 1 s, now]`` (a handful of points per series).
    """
    from google.cloud import monitoring_v3

    if not points:
        return set()
    ends = {p.series_key: _aware(p.end_time) for p in points}
    earliest = min(ends.values()) - timedelta(seconds=1)
    latest = max([*ends.values(), _aware(now or datetime.now(UTC))]) + timedelta(seconds=1)
    found: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for metric_type in sorted({p.metric_type for p in points}):
        pages = client.list_time_series(
            request={
                "name": f"projects/{project}",
                "filter": f'metric.type = "{metric_type}"',
                "interval": {"start_time": earliest, "end_time": latest},
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
        )
        for ts in pages:
            key = (ts.metric.type, tuple(sorted(ts.metric.labels.items())))
            if key in ends and any(pt.interval.end_time >= ends[key] for pt in ts.points):
                found.add(key)
    return found
