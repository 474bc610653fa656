"""A local gRPC ``google.monitoring.v3.MetricService`` for the sandbox.

Cloud Monitoring has no emulator, so this serves the recorded series of :mod:`metric_store`
over the real wire protocol: the unmodified ``google-cloud-monitoring`` client talks to it with
an insecure channel on 127.0.0.1. What it implements, with the API's rules:

- ``ListTimeSeries``: ``filter`` (metric.type, resource.type, metric/resource labels, AND,
  ``=``/``!=``; parsed by :mod:`ctscan_ops.alerting.engine.filters`), ``interval`` (points whose end
  time is in ``(start, end]``; ``[end, end]`` when start is unset or equal), ``view`` FULL/HEADERS,
  ``page_size`` counted in points with ``next_page_token``; points newest first. Server-side
  ``aggregation`` is refused with UNIMPLEMENTED: ctscan_ops aligns client-side (the shadow
  evaluator must see raw points anyway).
- ``CreateTimeSeries``: at most 200 series, exactly one point each, no series twice, points
  newer than the series' newest, kinds consistent with the stored series; the request is
  validated as a whole and written in one transaction (the real API may partially write; the
  sandbox refuses the whole request instead and says why). Only custom/external/workload
  metric types may be written unless the server runs with ``--allow-system-metrics`` (the
  sandbox's live feeder appends Cloud Run series that way).

Cost of a ``ListTimeSeries`` (issue 14): the filter is translated to SQL (:func:`filter_sql`)
and ONE indexed query returns the page's points (keyset paging, ``LIMIT page_size + 1``); the
series' first/last point times keep series without points near the interval out of it, so a
call over a recent interval costs the same on a 1-day and a 30-day store. The response is
written directly in the protobuf wire format from the stored ``TypedValue`` bytes and cached
per-series header bytes (no per-point message objects); tests hold it equal, as parsed
messages, to the previous implementation, which stays available as
:meth:`MetricServiceImpl.list_time_series_legacy` (``build_server(..., legacy_list=True)``)
for those tests and the benchmark.
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
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ctscan_ops.alerting.engine.filters import Filter

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


def _encode_keyset_token(fingerprint: str, series_id: int, end_us: int | None) -> str:
    data: dict[str, object] = {"q": fingerprint, "sid": series_id}
    if end_us is not None:
        data["e"] = end_us
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _decode_keyset_token(token: str, fingerprint: str) -> tuple[int, int | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["q"] != fingerprint:
            raise ValueError("token belongs to another query")
        end = data.get("e")
        return int(data["sid"]), (None if end is None else int(end))
    except (ValueError, KeyError, TypeError) as exc:
        raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid page_token: {exc}") from None


# --------------------------------------------------------------------------- filter -> SQL


def _field_sql(field: str) -> tuple[str, list[object]]:
    """SQL expression (and its parameters) for a filter field of the series row ``s``."""
    if field == "metric.type":
        return "s.metric_type", []
    if field == "resource.type":
        return "s.resource_type", []
    column, key = (
        ("s.metric_labels", field[len("metric.labels.") :])
        if field.startswith("metric.labels.")
        else ("s.resource_labels", field[len("resource.labels.") :])
    )
    # a quoted JSON path label: keys may hold dots; the filter grammar allows no quotes
    return f"json_extract({column}, ?)", ['$."' + key + '"']


def filter_sql(parsed: Filter) -> tuple[str, list[object]]:
    """An SQL condition on the series row ``s`` equal to ``parsed.matches`` (same semantics).

    A missing label is SQL NULL: it compares as ``""`` for ``!=`` and matches nothing else;
    a negated term is made two-valued with ``COALESCE(..., 0)`` before ``NOT`` so that ``NOT``
    of a missing label is true, as in :class:`~ctscan_ops.alerting.engine.filters.Term`.
    """
    parts: list[str] = []
    params: list[object] = []
    for term in parsed.terms:
        col, cparams = _field_sql(term.field)
        v = term.values
        if term.op == "=":
            expr, eparams = f"{col} = ?", [*cparams, v[0]]
        elif term.op == "!=":
            expr, eparams = f"COALESCE({col}, '') != ?", [*cparams, v[0]]
        elif term.op == ":":
            expr, eparams = f"instr({col}, ?) > 0", [*cparams, v[0]]
        elif term.op == "starts_with":
            expr, eparams = f"substr({col}, 1, length(?)) = ?", [*cparams, v[0], v[0]]
        elif term.op == "ends_with":
            expr = (
                f"(length({col}) >= length(?) AND substr({col}, length({col}) - length(?) + 1) = ?)"
            )
            eparams = [*cparams, v[0], *cparams, *cparams, v[0], v[0]]
        elif term.op == "one_of":
            expr = f"{col} IN ({', '.join('?' for _ in v)})"
            eparams = [*cparams, *v]
        else:  # pragma: no cover - the parser produces no other operator
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"unsupported operator {term.op}")
        # in a WHERE conjunction a NULL term excludes the row, as a False one does: only a
        # negated term needs NULL made False first (plain terms stay sargable for the index)
        parts.append(f"NOT COALESCE(({expr}), 0)" if term.negate else f"({expr})")
        params += eparams
    return (" AND ".join(parts) or "1"), params


# --------------------------------------------------------------------------- wire format


def _varint(n: int) -> bytes:
    """Protobuf base-128 varint (negative int64 as its 64-bit two's complement)."""
    n &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(tag: bytes, body: bytes) -> bytes:
    """A length-delimited field: tag byte(s), varint length, body."""
    return tag + _varint(len(body)) + body


def _timestamp_body(us: int) -> bytes:
    """``google.protobuf.Timestamp`` (seconds = 1, nanos = 2; zero fields omitted, as proto3)."""
    sec, rem = divmod(us, 1_000_000)
    out = b"\x08" + _varint(sec) if sec else b""
    if rem:
        out += b"\x10" + _varint(rem * 1000)
    return out


def _interval_prefix(start_us: int | None, end_us: int) -> bytes:
    """A ``Point``'s interval field (TimeInterval: start_time = 1, end_time = 2), tagged."""
    body = b"" if start_us is None else _len_field(b"\x0a", _timestamp_body(start_us))
    body += _len_field(b"\x12", _timestamp_body(end_us))
    return _len_field(b"\x0a", body)  # Point.interval = 1


class MetricServiceImpl:
    """The request handlers; transport-free so they are easy to reason about."""

    def __init__(self, store: MetricStore, allow_system_metrics: bool = False) -> None:
        self.store = store
        self.allow_system_metrics = allow_system_metrics
        self._headers: dict[int, bytes] = {}

    def _select(self, filter_text: str) -> list[StoredSeries]:
        """Stored series the filter selects; a pinned metric type uses the store's index."""
        from ctscan_ops.alerting.engine.filters import FilterError, parse_filter

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

    def _list_params(self, request: ms.ListTimeSeriesRequest) -> tuple[int, int, bool, int, bool]:
        """Validated ``(start_us, end_us, include_start, page_size, headers_only)``."""
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
        return start_us, end_us, include_start, page_size, headers_only

    def _header(self, ids: list[int]) -> dict[int, bytes]:
        """Serialized ``TimeSeries`` without points per series id (cached: rows never change)."""
        missing = [i for i in ids if i not in self._headers]
        if missing:
            for sid, desc in self.store.series_by_id(missing).items():
                header = _time_series(StoredSeries(sid, desc), [])
                self._headers[sid] = metric_types.TimeSeries.serialize(header)
        return {i: self._headers[i] for i in ids}

    def list_time_series_raw(self, request: ms.ListTimeSeriesRequest) -> bytes:
        """``ListTimeSeriesResponse`` wire bytes: one SQL query, no per-point messages."""
        from ctscan_ops.alerting.engine.filters import FilterError, parse_filter

        start_us, end_us, include_start, page_size, headers_only = self._list_params(request)
        try:
            parsed = parse_filter(request.filter)
        except FilterError as exc:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid filter: {exc}") from None
        where, params = filter_sql(parsed)
        fingerprint = _query_fingerprint(request)
        after = (
            _decode_keyset_token(request.page_token, fingerprint) if request.page_token else None
        )
        out: list[bytes] = []
        token = ""
        if headers_only:
            ids = self.store.select_series_ids(
                where,
                params,
                start_us,
                end_us,
                include_start,
                after=None if after is None else after[0],
                limit=page_size + 1,
            )
            if len(ids) > page_size:
                token = _encode_keyset_token(fingerprint, ids[page_size], None)
                ids = ids[:page_size]
            headers = self._header(ids)
            out = [_len_field(b"\x0a", headers[i]) for i in ids]
        else:
            resume = None
            if after is not None:
                if after[1] is None:
                    raise RpcError(
                        grpc.StatusCode.INVALID_ARGUMENT, "invalid page_token: no point position"
                    )
                resume = (after[0], after[1])
            rows = self.store.select_points(
                where, params, start_us, end_us, include_start, after=resume, limit=page_size + 1
            )
            if len(rows) > page_size:
                token = _encode_keyset_token(fingerprint, rows[page_size][0], rows[page_size][1])
                rows = rows[:page_size]
            headers = self._header(sorted({r[0] for r in rows}))
            intervals: dict[tuple[int | None, int], bytes] = {}
            current, parts = None, []
            for sid, p_end, p_start, value in rows:
                if sid != current:
                    if current is not None:
                        out.append(_len_field(b"\x0a", b"".join(parts)))
                    current, parts = sid, [headers[sid]]
                key = (p_start, p_end)
                iv = intervals.get(key)
                if iv is None:
                    iv = intervals[key] = _interval_prefix(p_start, p_end)
                point = iv + b"\x12" + _varint(len(value)) + value  # Point.value = 2
                parts.append(b"\x2a" + _varint(len(point)) + point)  # TimeSeries.points = 5
            if current is not None:
                out.append(_len_field(b"\x0a", b"".join(parts)))
        if token:
            out.append(_len_field(b"\x12", token.encode()))  # next_page_token = 2
        return b"".join(out)

    def list_time_series(self, request: ms.ListTimeSeriesRequest) -> ms.ListTimeSeriesResponse:
        """The response as a message (in-process callers); the server sends the raw bytes."""
        return ms.ListTimeSeriesResponse.deserialize(self.list_time_series_raw(request))

    def list_time_series_legacy(
        self, request: ms.ListTimeSeriesRequest
    ) -> ms.ListTimeSeriesResponse:
        """The previous implementation (one query per candidate series, decode/re-encode
        every point): kept as the reference the raw path is tested and benchmarked against."""
        start_us, end_us, include_start, page_size, headers_only = self._list_params(request)
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
    store: MetricStore,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_system_metrics: bool = False,
    legacy_list: bool = False,
) -> tuple[grpc.Server, int]:
    """A started-ready (not yet started) gRPC server bound to ``host:port``; returns its port.

    ``legacy_list`` serves ListTimeSeries with the previous per-series implementation (for
    the equivalence tests and the benchmark only).
    """
    impl = MetricServiceImpl(store, allow_system_metrics=allow_system_metrics)
    if legacy_list:
        list_handler = grpc.unary_unary_rpc_method_handler(
            _wrap(impl.list_time_series_legacy, "ListTimeSeries"),
            request_deserializer=ms.ListTimeSeriesRequest.deserialize,
            response_serializer=ms.ListTimeSeriesResponse.serialize,
        )
    else:  # the handler returns the response's wire bytes already
        list_handler = grpc.unary_unary_rpc_method_handler(
            _wrap(impl.list_time_series_raw, "ListTimeSeries"),
            request_deserializer=ms.ListTimeSeriesRequest.deserialize,
            response_serializer=bytes,
        )

    def create(request: ms.CreateTimeSeriesRequest):
        impl.create_time_series(request)
        return empty_pb2.Empty()

    handlers = {
        "ListTimeSeries": list_handler,
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
