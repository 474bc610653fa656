"""A local gRPC ``google.monitoring.v3.MetricService`` for the sandbox.

Cloud Monitoring has no emulator, so this serves the recorded series of :mod:`metric_store`
over the real wire protocol: the unmodified ``google-cloud-monitoring`` client talks to it with
an insecure channel on 127.0.0.1. What it implements, with the API's rules:

- ``ListTimeSeries``: ``filter`` (metric.type, resource.type, metric/resource labels, AND,
  ``=``/``!=``; parsed by :mod:`ctscan_ops.alerting.filters`), ``interval`` (points whose end time
  is in ``(start, end]``; ``[end, end]`` when start is unset or equal), ``view`` FULL/HEADERS,
  ``page_size`` counted in points with ``next_page_token``; points newest first. Server-side
  ``aggregation`` is refused with UNIMPLEMENTED: ctscan_ops aligns client-side (the shadow
  evaluator must see raw points anyway).
- ``CreateTimeSeries``: at most 200 series, exactly one point each, no series twice, points
  newer than the series' newest, kinds consistent with the stored series; the request is
  validated as a whole and written in one transaction (the real API may partially write; the
  sandbox refuses the whole request instead and says why). Only custom/external/workload
  metric types may be written unless the server runs with ``--allow-system-metrics`` (the
  sandbox's live feeder appends Cloud Run series that way).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import signal
import sys
import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path

import grpc
from google.api import metric_pb2
from google.cloud.monitoring_v3.types import common as common_types
from google.cloud.monitoring_v3.types import metric as metric_types
from google.cloud.monitoring_v3.types import metric_service as ms
from google.protobuf import empty_pb2

from ctscan_ops.sandbox.metric_store import (
    MetricStore,
    PointOrderError,
    SeriesDescriptor,
    StoredSeries,
)

SERVICE_NAME = "google.monitoring.v3.MetricService"
DEFAULT_PAGE_SIZE = 100_000
WRITABLE_PREFIXES = (
    "custom.googleapis.com/",
    "external.googleapis.com/",
    "workload.googleapis.com/",
)


class RpcError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _us(ts) -> int:  # DatetimeWithNanoseconds or protobuf Timestamp
    if hasattr(ts, "seconds") and hasattr(ts, "nanos"):
        return ts.seconds * 1_000_000 + ts.nanos // 1000
    return round(ts.timestamp() * 1_000_000)


def _query_fingerprint(request: ms.ListTimeSeriesRequest) -> str:
    copy = ms.ListTimeSeriesRequest(request)
    copy.page_token = ""
    return hashlib.sha256(ms.ListTimeSeriesRequest.serialize(copy)).hexdigest()[:16]


def _encode_token(fingerprint: str, series_pos: int, point_pos: int) -> str:
    raw = json.dumps({"q": fingerprint, "s": series_pos, "p": point_pos}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, fingerprint: str) -> tuple[int, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["q"] != fingerprint:
            raise ValueError("token belongs to another query")
        return int(data["s"]), int(data["p"])
    except (ValueError, KeyError, TypeError) as exc:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid page_token: {exc}") from None


class MetricServiceImpl:
    """The request handlers; transport-free so they are easy to reason about."""

    def __init__(self, store: MetricStore, allow_system_metrics: bool = False) -> None:
        self.store = store
        self.allow_system_metrics = allow_system_metrics

    def _select(self, filter_text: str) -> list[StoredSeries]:
        """Stored series the filter selects; a pinned metric type uses the store's index."""
        from ctscan_ops.alerting.filters import FilterError, parse_filter

        try:
            parsed = parse_filter(filter_text)
        except FilterError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid filter: {exc}") from None
        candidates = self.store.all_series(parsed.metric_type)
        return [
            s
            for s in candidates
            if parsed.matches(
                s.descriptor.metric_type,
                s.descriptor.metric_labels,
                s.descriptor.resource_type,
                s.descriptor.resource_labels,
            )
        ]

    def list_time_series(self, request: ms.ListTimeSeriesRequest) -> ms.ListTimeSeriesResponse:
        if not request.name.startswith("projects/"):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "name must be projects/PROJECT_ID")
        if not request.filter:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "filter is required")
        if "interval" not in request or not request.interval.end_time:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "interval.end_time is required")
        agg = request.aggregation
        if agg and (agg.per_series_aligner or agg.cross_series_reducer):
            raise RpcError(
                grpc.StatusCode.UNIMPLEMENTED,
                "the sandbox MetricService serves raw points only; align client-side",
            )
        end_us = _us(request.interval.end_time)
        start_set = bool(request.interval.start_time)
        start_us = _us(request.interval.start_time) if start_set else end_us
        if start_us > end_us:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "interval start is after its end")
        include_start = start_us == end_us
        page_size = request.page_size if request.page_size > 0 else DEFAULT_PAGE_SIZE
        page_size = min(page_size, DEFAULT_PAGE_SIZE)
        headers_only = request.view == ms.ListTimeSeriesRequest.TimeSeriesView.HEADERS

        fingerprint = _query_fingerprint(request)
        series_pos, point_pos = (
            _decode_token(request.page_token, fingerprint) if request.page_token else (0, 0)
        )
        selected = self._select(request.filter)

        out: list[metric_types.TimeSeries] = []
        budget = page_size
        next_token = ""
        for index in range(series_pos, len(selected)):
            stored = selected[index]
            rows = self.store.points(stored.id, start_us, end_us, include_start)
            if not rows:
                continue
            if headers_only:
                if budget == 0:
                    next_token = _encode_token(fingerprint, index, 0)
                    break
                out.append(_time_series(stored, []))
                budget -= 1
                continue
            offset = point_pos if index == series_pos else 0
            remaining = rows[offset:]
            if budget == 0:
                next_token = _encode_token(fingerprint, index, offset)
                break
            chunk = remaining[:budget]
            out.append(_time_series(stored, chunk))
            budget -= len(chunk)
            if len(chunk) < len(remaining):
                next_token = _encode_token(fingerprint, index, offset + len(chunk))
                break
        return ms.ListTimeSeriesResponse(time_series=out, next_page_token=next_token)

    def create_time_series(self, request: ms.CreateTimeSeriesRequest) -> None:
        if not request.name.startswith("projects/"):
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "name must be projects/PROJECT_ID")
        if not request.time_series:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "time_series is empty")
        if len(request.time_series) > 200:
            raise RpcError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"at most 200 time series per request, got {len(request.time_series)}",
            )
        rows = []
        seen: set[str] = set()
        for i, ts in enumerate(request.time_series):
            where = f"timeSeries[{i}] ({ts.metric.type})"
            if not self.allow_system_metrics and not ts.metric.type.startswith(WRITABLE_PREFIXES):
                raise RpcError(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"{where}: only custom, external and workload metrics can be written",
                )
            if len(ts.points) != 1:
                raise RpcError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{where}: exactly one point is required, got {len(ts.points)}",
                )
            kind = int(ts.metric_kind) or metric_pb2.MetricDescriptor.MetricKind.GAUGE
            value = ts.points[0].value
            which = common_types.TypedValue.pb(value).WhichOneof("value")
            if which is None:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: point has no value")
            value_type = (
                int(ts.value_type)
                or {
                    "bool_value": metric_pb2.MetricDescriptor.ValueType.BOOL,
                    "int64_value": metric_pb2.MetricDescriptor.ValueType.INT64,
                    "double_value": metric_pb2.MetricDescriptor.ValueType.DOUBLE,
                    "string_value": metric_pb2.MetricDescriptor.ValueType.STRING,
                    "distribution_value": metric_pb2.MetricDescriptor.ValueType.DISTRIBUTION,
                }[which]
            )
            desc = SeriesDescriptor(
                metric_type=ts.metric.type,
                metric_labels=dict(ts.metric.labels),
                resource_type=ts.resource.type or "global",
                resource_labels=dict(ts.resource.labels),
                metric_kind=kind,
                value_type=value_type,
                unit=ts.unit,
            )
            if desc.key in seen:
                raise RpcError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{where}: the same time series appears more than once in the request",
                )
            seen.add(desc.key)
            interval = ts.points[0].interval
            if not interval.end_time:
                raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"{where}: end_time is required")
            end_us = _us(interval.end_time)
            start_us = _us(interval.start_time) if interval.start_time else None
            if kind == metric_pb2.MetricDescriptor.MetricKind.GAUGE and start_us not in (
                None,
                end_us,
            ):
                raise RpcError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"{where}: a GAUGE point's start time must equal its end time",
                )
            rows.append((desc, end_us, start_us, common_types.TypedValue.serialize(value)))
        try:
            self.store.write_points(rows, enforce_order=True)
        except PointOrderError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except ValueError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None


def _time_series(
    stored: StoredSeries, rows: list[tuple[int, int | None, bytes]]
) -> metric_types.TimeSeries:
    d = stored.descriptor
    points = []
    for end_us, start_us, value in rows:
        interval = {"end_time": _pb_ts(end_us)}
        if start_us is not None:
            interval["start_time"] = _pb_ts(start_us)
        points.append(
            metric_types.Point(interval=interval, value=common_types.TypedValue.deserialize(value))
        )
    return metric_types.TimeSeries(
        metric={"type": d.metric_type, "labels": d.metric_labels},
        resource={"type": d.resource_type, "labels": d.resource_labels},
        metric_kind=d.metric_kind,
        value_type=d.value_type,
        unit=d.unit,
        points=points,
    )


def _pb_ts(us: int):
    from google.protobuf import timestamp_pb2

    return timestamp_pb2.Timestamp(seconds=us // 1_000_000, nanos=(us % 1_000_000) * 1000)


def _wrap(handler: Callable, context_name: str):
    def call(request, context: grpc.ServicerContext):
        try:
            return handler(request)
        except RpcError as exc:
            context.abort(exc.code, exc.message)
        except Exception as exc:  # a bug must reach the client as INTERNAL, not hang it
            context.abort(grpc.StatusCode.INTERNAL, f"{context_name}: {exc!r}")

    return call


def build_server(
    store: MetricStore, host: str = "127.0.0.1", port: int = 0, allow_system_metrics: bool = False
) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server bound to ``host:port``; returns its port."""
    impl = MetricServiceImpl(store, allow_system_metrics=allow_system_metrics)

    def create(request: ms.CreateTimeSeriesRequest):
        impl.create_time_series(request)
        return empty_pb2.Empty()

    handlers = {
        "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
            _wrap(impl.list_time_series, "ListTimeSeries"),
            request_deserializer=ms.ListTimeSeriesRequest.deserialize,
            response_serializer=ms.ListTimeSeriesResponse.serialize,
        ),
        "CreateTimeSeries": grpc.unary_unary_rpc_method_handler(
            _wrap(create, "CreateTimeSeries"),
            request_deserializer=ms.CreateTimeSeriesRequest.deserialize,
            response_serializer=empty_pb2.Empty.SerializeToString,
        ),
    }
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_send_message_length", 64 * 1024 * 1024)],
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind the MetricService to {host}:{port}")
    return server, bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sandbox Cloud Monitoring MetricService")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--allow-system-metrics", action="store_true")
    args = parser.parse_args(argv)
    store = MetricStore(args.db)
    server, port = build_server(store, args.host, args.port, args.allow_system_metrics)
    server.start()
    print(f"MetricService listening on {args.host}:{port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=1).wait()
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
