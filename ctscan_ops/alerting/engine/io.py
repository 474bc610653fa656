"""Readers for users' own data: series CSV, Cloud Monitoring TimeSeries JSON, label windows.

Every reader either returns complete data or raises :class:`InputError` naming the file and
the line (CSV, JSON syntax) or the JSON path (JSON structure) of the first problem: a backtest
on half-read data would report wrong rates without anyone noticing.

CSV series (``timestamp,value[,label columns...]``)
    ``timestamp``: ISO 8601 (naive = UTC) or epoch seconds. ``value``: a number; an empty
    cell, ``nan`` or ``null`` is an explicit gap (a point without data, counted by the
    evaluator), anything else non-numeric is an error. Optional ``metric_type`` and
    ``resource_type`` columns name the metric; columns named ``resource.labels.X`` (or
    ``resource.X``) are resource labels; every other column is a metric label (a
    ``metric.labels.`` prefix is stripped). One series per distinct (type, labels) tuple.

TimeSeries JSON
    A list of ``TimeSeries`` objects, an object with ``timeSeries`` (a ``ListTimeSeries``
    response) or a list of such responses (pages). camelCase (REST) and snake_case
    (``MessageToDict(preserving_proto_field_name=True)``) field names are both accepted;
    ``int64Value`` may be a string as in REST. Distribution values need ``bucketOptions``
    (linear, exponential or explicit) and ``bucketCounts`` (trailing zeros may be omitted).

Labels JSON
    A list of ``{"start": ts, "end": ts}`` windows (extra keys ``severity``, ``source``, ``id``
    are kept); ``ts`` is ISO 8601 or epoch seconds. Optionally ``{"windows": [...],
    "verdicts": {"<incident id>": true|false}}``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ctscan_ops.alerting.engine.series import (
    SeriesError,
    TimeSeries,
    exponential_bounds,
    linear_bounds,
)
from ctscan_ops.alerting.shadow.quality import LabelWindow
from ctscan_ops.cli_contract import (
    MAX_TIMESTAMP_S,
    MIN_TIMESTAMP_S,
    json_depth_exceeds,
    nesting_message,
)
from ctscan_ops.common.timeparse import parse_time

__all__ = [
    "InputError",
    "api_policy_to_catalog",
    "is_api_policy",
    "parse_time",
    "read_labels",
    "read_series",
    "read_series_csv",
    "read_timeseries_json",
    "timeseries_from_json",
]

_GAP = {"", "nan", "NaN", "NAN", "null", "NULL", "None"}


class InputError(ValueError):
    """A bad input file; the message names the file and line (or JSON path)."""


# --------------------------------------------------------------------------- CSV


def read_series_csv(
    path: str | os.PathLike[str],
    *,
    metric_type: str = "custom.googleapis.com/backtest/value",
    resource_type: str = "global",
    metric_kind: str = "GAUGE",
    value_type: str = "DOUBLE",
) -> list[TimeSeries]:
    """Read a series CSV (see module docstring); one TimeSeries per label combination."""
    p = Path(path)
    try:
        fh = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    groups: dict[tuple, dict[str, Any]] = {}
    with fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{p}: line 1: empty file (need a header timestamp,value)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{p}: line 1: {exc}") from None
        header = [h.strip() for h in header]
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        for need in ("timestamp", "value"):
            if need not in header:
                raise InputError(f"{p}: line 1: missing column {need!r} (header: {header})")
        if len(set(header)) != len(header):
            raise InputError(f"{p}: line 1: duplicate column names in {header}")
        i_ts, i_val = header.index("timestamp"), header.index("value")
        i_mt = header.index("metric_type") if "metric_type" in header else None
        i_rt = header.index("resource_type") if "resource_type" in header else None
        label_cols = [(i, h) for i, h in enumerate(header) if i not in (i_ts, i_val, i_mt, i_rt)]
        line = 1
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise InputError(
                        f"{p}: line {line}: {len(row)} fields, header has {len(header)}"
                    )
                try:
                    ts = parse_time(row[i_ts])
                except ValueError as exc:
                    raise InputError(f"{p}: line {line}: timestamp: {exc}") from None
                raw = row[i_val].strip()
                if raw in _GAP:
                    val = math.nan
                else:
                    try:
                        val = float(raw)
                    except ValueError:
                        raise InputError(
                            f"{p}: line {line}: value: {raw!r} is not a number"
                        ) from None
                    if value_type == "INT64" and math.isfinite(val) and val != int(val):
                        raise InputError(f"{p}: line {line}: value: {raw!r} is not an INT64")
                mlabels: dict[str, str] = {}
                rlabels: dict[str, str] = {}
                for i, h in label_cols:
                    if h.startswith("resource.labels."):
                        rlabels[h[len("resource.labels.") :]] = row[i]
                    elif h.startswith("resource."):
                        rlabels[h[len("resource.") :]] = row[i]
                    else:
                        mlabels[h.removeprefix("metric.labels.")] = row[i]
                mt = row[i_mt].strip() if i_mt is not None else metric_type
                rt = row[i_rt].strip() if i_rt is not None else resource_type
                key = (mt, rt, tuple(sorted(mlabels.items())), tuple(sorted(rlabels.items())))
                g = groups.setdefault(
                    key, {"m": mlabels, "r": rlabels, "mt": mt, "rt": rt, "t": [], "v": []}
                )
                g["t"].append(ts)
                g["v"].append(val)
        except csv.Error as exc:
            raise InputError(f"{p}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{p}: after line {line}: not UTF-8 text ({exc.reason})") from None
    if not groups:
        raise InputError(f"{p}: no data rows")
    out = []
    for g in groups.values():
        try:
            out.append(
                TimeSeries(
                    g["mt"],
                    np.array(g["t"], dtype=float),
                    np.array(g["v"], dtype=float),
                    metric_labels=g["m"],
                    resource_type=g["rt"],
                    resource_labels=g["r"],
                    metric_kind=metric_kind,
                    value_type=value_type,
                )
            )
        except SeriesError as exc:
            raise InputError(f"{p}: {exc}") from None
    return out


# --------------------------------------------------------------------------- TimeSeries JSON


def _get(obj: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    if camel in obj:
        return obj[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj.get(snake, default)


def _bounds(opts: Any, where: str) -> np.ndarray:
    if not isinstance(opts, Mapping):
        raise InputError(f"{where}: bucketOptions must be an object")
    lin = _get(opts, "linearBuckets")
    exp = _get(opts, "exponentialBuckets")
    expl = _get(opts, "explicitBuckets")
    try:
        if lin is not None:
            return linear_bounds(
                int(_get(lin, "numFiniteBuckets")),
                float(_get(lin, "width")),
                float(_get(lin, "offset", 0.0)),
            )
        if exp is not None:
            return exponential_bounds(
                int(_get(exp, "numFiniteBuckets")),
                float(_get(exp, "growthFactor")),
                float(_get(exp, "scale")),
            )
        if expl is not None:
            return np.array([float(b) for b in _get(expl, "bounds")], dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: bad bucketOptions: {exc}") from None
    raise InputError(
        f"{where}: bucketOptions needs linearBuckets, exponentialBuckets or explicitBuckets"
    )


def _scalar(value: Mapping[str, Any], where: str) -> float:
    for key in ("doubleValue", "int64Value", "boolValue"):
        v = _get(value, key)
        if v is not None:
            if key == "boolValue":
                return 1.0 if v in (True, "true") else 0.0
            try:
                return float(v)
            except (TypeError, ValueError):
                raise InputError(f"{where}.{key}: {v!r} is not a number") from None
    raise InputError(f"{where}: no doubleValue/int64Value/boolValue")


def timeseries_from_json(obj: Any, where: str = "timeSeries[0]") -> TimeSeries:
    """One Cloud Monitoring TimeSeries object (REST or proto-dict spelling) -> TimeSeries."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{where}: must be an object")
    metric = _get(obj, "metric") or {}
    resource = _get(obj, "resource") or {}
    mtype = _get(metric, "type")
    if not mtype:
        raise InputError(f"{where}.metric.type: missing")
    kind = str(_get(obj, "metricKind") or "GAUGE")
    vtype = str(_get(obj, "valueType") or "")
    points = _get(obj, "points") or []
    if not isinstance(points, list):
        raise InputError(f"{where}.points: must be a list")
    times, starts, vals, counts, sums = [], [], [], [], []
    bounds: np.ndarray | None = None
    for j, pt in enumerate(points):
        pw = f"{where}.points[{j}]"
        if not isinstance(pt, Mapping):
            raise InputError(f"{pw}: must be an object")
        interval = _get(pt, "interval") or {}
        try:
            end = parse_time(_get(interval, "endTime"))
        except ValueError as exc:
            raise InputError(f"{pw}.interval.endTime: {exc}") from None
        st = _get(interval, "startTime")
        try:
            starts.append(end if st is None else parse_time(st))
        except ValueError as exc:
            raise InputError(f"{pw}.interval.startTime: {exc}") from None
        times.append(end)
        value = _get(pt, "value")
        if not isinstance(value, Mapping):
            raise InputError(f"{pw}.value: missing")
        dist = _get(value, "distributionValue")
        if dist is not None:
            vtype = "DISTRIBUTION"
            b = _bounds(_get(dist, "bucketOptions"), f"{pw}.value.distributionValue")
            if bounds is None:
                bounds = b
            elif not np.array_equal(bounds, b):
                raise InputError(f"{pw}: bucketOptions differ from earlier points")
            raw_counts = _get(dist, "bucketCounts") or []
            try:
                c = [float(x) for x in raw_counts]
            except (TypeError, ValueError):
                raise InputError(
                    f"{pw}.value.distributionValue.bucketCounts: not numbers"
                ) from None
            if len(c) > b.size + 1:
                raise InputError(
                    f"{pw}.value.distributionValue.bucketCounts: {len(c)} counts for "
                    f"{b.size + 1} buckets"
                )
            c += [0.0] * (b.size + 1 - len(c))
            counts.append(c)
            try:
                total = float(_get(dist, "count", sum(c)))
                mean = float(_get(dist, "mean", 0.0))
            except (TypeError, ValueError):
                raise InputError(f"{pw}.value.distributionValue: bad count/mean") from None
            sums.append(total * mean)
        else:
            if vtype == "DISTRIBUTION":
                raise InputError(f"{pw}.value: expected distributionValue")
            vals.append(_scalar(value, f"{pw}.value"))
            if not vtype:
                vtype = "INT64" if _get(value, "int64Value") is not None else "DOUBLE"
    try:
        if vtype == "DISTRIBUTION":
            if bounds is None:
                bounds = np.array([0.0])
            return TimeSeries(
                str(mtype),
                np.array(times, dtype=float),
                metric_labels=dict(_get(metric, "labels") or {}),
                resource_type=str(_get(resource, "type") or "global"),
                resource_labels=dict(_get(resource, "labels") or {}),
                metric_kind=kind,
                value_type="DISTRIBUTION",
                start_times=np.array(starts, dtype=float),
                bucket_bounds=bounds,
                bucket_counts=np.array(counts, dtype=float).reshape(len(times), bounds.size + 1),
                dist_sums=np.array(sums, dtype=float),
            )
        return TimeSeries(
            str(mtype),
            np.array(times, dtype=float),
            np.array(vals, dtype=float),
            metric_labels=dict(_get(metric, "labels") or {}),
            resource_type=str(_get(resource, "type") or "global"),
            resource_labels=dict(_get(resource, "labels") or {}),
            metric_kind=kind,
            value_type=vtype or "DOUBLE",
            start_times=np.array(starts, dtype=float),
        )
    except SeriesError as exc:
        raise InputError(f"{where}: {exc}") from None


def _load_json(p: Path) -> Any:
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{p}: line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputError(nesting_message(str(p))) from None
    if json_depth_exceeds(doc):
        raise InputError(nesting_message(str(p)))
    return doc


def read_timeseries_json(path: str | os.PathLike[str]) -> list[TimeSeries]:
    """Read Cloud Monitoring TimeSeries JSON (see module docstring)."""
    p = Path(path)
    doc = _load_json(p)
    items: list[tuple[str, Any]] = []
    if isinstance(doc, Mapping) and ("timeSeries" in doc or "time_series" in doc):
        ts = _get(doc, "timeSeries") or []
        items = [(f"timeSeries[{i}]", t) for i, t in enumerate(ts)]
    elif (
        isinstance(doc, list)
        and doc
        and all(isinstance(d, Mapping) and ("timeSeries" in d or "time_series" in d) for d in doc)
    ):
        for pi, page in enumerate(doc):
            for i, t in enumerate(_get(page, "timeSeries") or []):
                items.append((f"[{pi}].timeSeries[{i}]", t))
    elif isinstance(doc, list):
        items = [(f"[{i}]", t) for i, t in enumerate(doc)]
    elif isinstance(doc, Mapping) and "metric" in doc:
        items = [("$", doc)]
    else:
        raise InputError(f"{p}: expected a TimeSeries list or a ListTimeSeries response")
    out = []
    for where, t in items:
        try:
            out.append(timeseries_from_json(t, where))
        except InputError as exc:
            raise InputError(f"{p}: {exc}") from None
    if not out:
        raise InputError(f"{p}: no time series")
    return out


def read_series(
    path: str | os.PathLike[str], fmt: str = "auto", **csv_kwargs: Any
) -> list[TimeSeries]:
    """CSV or TimeSeries JSON by ``fmt`` (``auto``: by extension, else by first character)."""
    p = Path(path)
    if fmt == "auto":
        ext = p.suffix.lower()
        if ext == ".json":
            fmt = "json"
        elif ext in (".csv", ".txt"):
            fmt = "csv"
        else:
            try:
                with p.open("rb") as fh:
                    head = fh.read(64).lstrip()
            except OSError as exc:
                raise InputError(f"{p}: cannot read: {exc.strerror or exc}") from None
            fmt = "json" if head[:1] in (b"[", b"{") else "csv"
    if fmt == "json":
        return read_timeseries_json(p)
    if fmt == "csv":
        return read_series_csv(p, **csv_kwargs)
    raise InputError(f"unknown series format {fmt!r} (csv, json or auto)")


# --------------------------------------------------------------------------- labels


def _label_time(value: Any) -> float:
    """A label timestamp within 1970..2100 (1e300 parses as a number but is no date)."""
    t = parse_time(value)
    if not MIN_TIMESTAMP_S <= t < MAX_TIMESTAMP_S:
        raise ValueError(f"{value!r} is outside 1970-01-01 .. 2100-01-01 UTC")
    return t


def read_labels(path: str | os.PathLike[str]) -> tuple[list[LabelWindow], dict[str, bool]]:
    """Label windows and operator verdicts (see module docstring)."""
    p = Path(path)
    doc = _load_json(p)
    verdicts: dict[str, bool] = {}
    if isinstance(doc, Mapping):
        unknown = set(doc) - {"windows", "verdicts"}
        if unknown or not doc:
            raise InputError(
                f'{p}: expected a list of {{"start", "end"}} windows or an object with '
                f'"windows" (and optional "verdicts"); got an object with keys {sorted(doc)[:5]}'
            )
        raw_v = doc.get("verdicts") or {}
        if not isinstance(raw_v, Mapping) or not all(isinstance(v, bool) for v in raw_v.values()):
            raise InputError(f"{p}: verdicts must map incident ids to true/false")
        verdicts = {str(k): bool(v) for k, v in raw_v.items()}
        doc = doc.get("windows", [])
    if not isinstance(doc, list):
        raise InputError(f'{p}: expected a list of {{"start", "end"}} windows')
    out = []
    for i, item in enumerate(doc):
        where = f"{p}: [{i}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{where}: must be an object with start and end")
        try:
            start = _label_time(item.get("start"))
        except ValueError as exc:
            raise InputError(f"{where}.start: {exc}") from None
        try:
            end = _label_time(item.get("end"))
        except ValueError as exc:
            raise InputError(f"{where}.end: {exc}") from None
        if end < start:
            raise InputError(f"{where}: end is before start")
        out.append(
            LabelWindow(
                start,
                end,
                item.get("severity"),
                item.get("source"),
                None if item.get("id") is None else str(item.get("id")),
            )
        )
    return out, verdicts


# --------------------------------------------------------------------------- policy files
_API_AGG = {
    "alignmentPeriod": "alignment_period",
    "perSeriesAligner": "per_series_aligner",
    "crossSeriesReducer": "cross_series_reducer",
    "groupByFields": "group_by_fields",
}
_API_COND = {
    "filter": "filter",
    "denominatorFilter": "denominator_filter",
    "comparison": "comparison",
    "thresholdValue": "threshold_value",
    "duration": "duration",
    "trigger": "trigger",
    "evaluationMissingData": "evaluation_missing_data",
}


def is_api_policy(doc: Mapping[str, Any]) -> bool:
    """An ``AlertPolicy`` in the API's JSON shape (``conditions[].conditionThreshold``)."""
    conds = doc.get("conditions")
    return isinstance(conds, list) and any(
        isinstance(c, Mapping) and ("conditionThreshold" in c or "condition_threshold" in c)
        for c in conds
    )


def _api_aggs(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InputError(f"{where}: must be a list")
    out = []
    for i, a in enumerate(raw):
        if not isinstance(a, Mapping):
            raise InputError(f"{where}[{i}]: must be an object")
        out.append({_API_AGG.get(k, k): v for k, v in a.items()})
    return out


def api_policy_to_catalog(doc: Mapping[str, Any], where: str = "policy") -> dict[str, Any]:
    """The API's ``AlertPolicy`` JSON (camelCase or snake_case, as ``gcloud alpha monitoring
    policies describe --format=json`` or Terraform print it) in the catalog's spelling.

    Only metric-threshold conditions are evaluable; any other condition type is an error that
    names it. ``combiner`` and ``alertStrategy.autoClose`` carry over; ``severity`` maps
    CRITICAL/ERROR/WARNING to P0/P1/P2 (default P2: a file is never a page by accident).
    """
    conds = []
    for i, c in enumerate(doc.get("conditions") or []):
        w = f"{where}: conditions[{i}]"
        if not isinstance(c, Mapping):
            raise InputError(f"{w}: must be an object")
        thr = c.get("conditionThreshold", c.get("condition_threshold"))
        if isinstance(thr, list) and len(thr) == 1:  # Terraform state shape
            thr = thr[0]
        if not isinstance(thr, Mapping):
            kinds = sorted(k for k in c if k.startswith("condition"))
            raise InputError(
                f"{w}: only conditionThreshold conditions can be evaluated (got {kinds or 'none'})"
            )
        out: dict[str, Any] = {}
        for k, v in thr.items():
            key = _API_COND.get(k, k)
            if key in ("aggregations", "denominatorAggregations", "denominator_aggregations"):
                continue
            if key in ("forecastOptions", "forecast_options") and v:
                raise InputError(f"{w}: forecast conditions cannot be evaluated")
            if key in _API_COND.values():
                out[key] = v
        out["aggregations"] = _api_aggs(thr.get("aggregations"), f"{w}.aggregations")
        out["denominator_aggregations"] = _api_aggs(
            thr.get("denominatorAggregations", thr.get("denominator_aggregations")),
            f"{w}.denominatorAggregations",
        )
        if out.get("denominator_filter") == "":
            out["denominator_filter"] = None
        out.setdefault("threshold_value", 0.0)
        name = c.get("displayName", c.get("display_name"))
        if name:
            out["display_name"] = name
        conds.append(out)
    strategy = doc.get("alertStrategy", doc.get("alert_strategy")) or {}
    if isinstance(strategy, list):
        strategy = strategy[0] if strategy else {}
    severity = {"CRITICAL": "P0", "ERROR": "P1", "WARNING": "P2"}.get(
        str(doc.get("severity") or "").upper(), "P2"
    )
    policy: dict[str, Any] = {
        "display_name": doc.get("displayName", doc.get("display_name")) or "policy",
        "severity": severity,
        "combiner": doc.get("combiner") or "OR",
        "conditions": conds,
    }
    auto_close = strategy.get("autoClose", strategy.get("auto_close"))
    if auto_close:
        policy["auto_close"] = auto_close
    return policy
