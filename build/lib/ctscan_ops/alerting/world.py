"""The alerting part of the sandbox world: weeks of Cloud Run-like series and the ground truth.

``generate(ctx)`` bulk-loads the series of :mod:`ctscan_ops.alerting.metric_world` into the
sandbox MetricService's store (values encoded once as the API's ``TypedValue`` bytes), writes
the incident register (artifact store and ``data_dir/alerting/incident_register.json``) and the
generator state the live feeder continues from (``data_dir/alerting/world_state.json``).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from google.api import distribution_pb2, metric_pb2

from ctscan_ops.alerting import metric_world as mw
from ctscan_ops.alerting.incidents import (
    REGISTER_KEY,
    IncidentRegister,
    KnownIncident,
    RegisterStore,
)
from ctscan_ops.sandbox.metric_store import SeriesDescriptor

STATE_FILE = "world_state.json"
REGISTER_FILE = "incident_register.json"

_KIND = metric_pb2.MetricDescriptor.MetricKind
_VTYPE = metric_pb2.MetricDescriptor.ValueType


def _encode_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        byte = v & 0x7F
        v >>= 7
        if v:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_SMALL_VARINTS = [_encode_varint(v) for v in range(1 << 14)]


def _varint(v: int) -> bytes:
    """Protobuf varint of a non-negative int (table lookup for the common small values)."""
    return _SMALL_VARINTS[v] if v < 16384 else _encode_varint(v)


def descriptor(gs: mw.GeneratedSeries) -> SeriesDescriptor:
    """The store's descriptor of a generated series."""
    return SeriesDescriptor(
        metric_type=gs.metric_type,
        metric_labels=dict(gs.metric_labels),
        resource_type=gs.resource_type,
        resource_labels=dict(gs.resource_labels),
        metric_kind=_KIND.Value(gs.metric_kind),
        value_type=_VTYPE.Value(gs.value_type),
        unit=gs.unit,
    )


def bucket_options_pb(options: dict[str, Any]) -> distribution_pb2.Distribution.BucketOptions:
    if "exponential" in options:
        return distribution_pb2.Distribution.BucketOptions(
            exponential_buckets=options["exponential"]
        )
    return distribution_pb2.Distribution.BucketOptions(linear_buckets=options["linear"])


def _int_value(v: int) -> bytes:
    # TypedValue.int64_value is field 2, varint (two's complement for negatives)
    return b"\x10" + _varint(int(v) & 0xFFFFFFFFFFFFFFFF)


def _double_value(v: float) -> bytes:
    return b"\x19" + np.float64(v).tobytes()  # field 3, fixed64 little endian


def encode_values(gs: mw.GeneratedSeries) -> list[bytes]:
    """Every point's value as serialized ``TypedValue`` bytes (what the store keeps).

    Distributions carry count, mean and the bucket counts with trailing zero buckets left out
    (the API treats missing trailing buckets as zero and returns them that way);
    ``sum_of_squared_deviation`` is not modelled and stays 0.
    """
    if gs.value_type == "INT64":
        assert gs.values is not None
        return [_int_value(v) for v in gs.values.tolist()]
    if gs.value_type == "DOUBLE":
        assert gs.values is not None
        return [_double_value(v) for v in gs.values.tolist()]
    assert gs.bucket_counts is not None and gs.bucket_options is not None
    options_field = distribution_pb2.Distribution(
        bucket_options=bucket_options_pb(gs.bucket_options)
    ).SerializeToString()
    payloads = _packed_counts(gs.bucket_counts)
    totals = gs.bucket_counts.sum(axis=1).tolist()
    means = np.asarray(gs.dist_means(), dtype="<f8")
    out = []
    for payload, n, mean in zip(payloads, totals, _rows8(means), strict=True):
        body = b"\x08" + _varint(n) + b"\x11" + mean
        body += b"\x3a" + _varint(len(payload)) + payload + options_field
        out.append(b"\x2a" + _varint(len(body)) + body)  # TypedValue field 5
    return out


def _rows8(values: np.ndarray) -> list[bytes]:
    raw = np.ascontiguousarray(values, dtype="<f8").tobytes()
    return [raw[i : i + 8] for i in range(0, len(raw), 8)]


def _packed_counts(counts: np.ndarray) -> list[bytes]:
    """Per row: the bucket counts as a packed varint payload, trailing zero buckets left out.

    Vectorised (the world has ~10^6 distribution points): counts below 2^21 take 1-3 varint
    bytes; larger counts do not occur in a one-minute Cloud Run distribution and are refused.
    """
    c = np.asarray(counts, dtype=np.int64)
    if c.size and (c.min() < 0 or c.max() >= 1 << 21):
        raise ValueError("bucket counts must be in [0, 2**21) for the packed encoder")
    n, width = c.shape
    nonzero = c != 0
    keep_len = np.where(nonzero.any(axis=1), width - np.argmax(nonzero[:, ::-1], axis=1), 0)
    in_row = np.arange(width)[None, :] < keep_len[:, None]
    b = np.empty((n, width, 3), dtype=np.uint8)
    b[..., 0] = (c & 0x7F) | np.where(c >= 1 << 7, 0x80, 0)
    b[..., 1] = ((c >> 7) & 0x7F) | np.where(c >= 1 << 14, 0x80, 0)
    b[..., 2] = (c >> 14) & 0x7F
    present = np.stack([in_row, in_row & (c >= 1 << 7), in_row & (c >= 1 << 14)], axis=-1)
    flat = b[present].tobytes()
    ends = np.cumsum(present.sum(axis=(1, 2))).tolist()
    out = []
    prev = 0
    for e in ends:
        out.append(flat[prev:e])
        prev = e
    return out


def _rows_of(gs: mw.GeneratedSeries) -> tuple[list[int], list[int | None], list[bytes]]:
    end_us = (gs.times * 1_000_000).tolist()
    starts = gs.start_times
    start_us = [None] * len(end_us) if starts is None else (starts * 1_000_000).tolist()
    return end_us, start_us, encode_values(gs)


def load_series(
    store: Any, series: list[mw.GeneratedSeries], replace_project: str | None = None
) -> int:
    """Bulk-load generated series into a :class:`MetricStore` in one transaction.

    With ``replace_project``, the points of every stored series of the world's metric types in
    that project are deleted in the same transaction first: regenerating the world replaces
    the previous world (and whatever the feeder appended to it) instead of mixing with it.
    """
    own_types = {gs.metric_type for gs in series}

    def replace(desc: Any) -> bool:
        return (
            desc.metric_type in own_types
            and desc.resource_labels.get("project_id") == replace_project
        )

    def batches():
        for gs in series:
            end_us, start_us, values = _rows_of(gs)
            yield descriptor(gs), end_us, start_us, values

    return store.load_history(batches(), replace=replace if replace_project else None)


def register_from_labels(labels: list[mw.LabelWindow]) -> IncidentRegister:
    """The world's ground truth as register windows (P0s come from the P0 incident log)."""
    windows = tuple(
        KnownIncident(
            id=w.id,
            environment=w.environment,
            severity=w.severity,
            start=float(w.start),
            end=float(w.end),
            source="p0_incident" if w.severity == "P0" else "postmortem",
            policy=w.policy,
            kind=w.kind,
            note=w.description,
            episode=w.episode,
        )
        for w in labels
    )
    return IncidentRegister(windows=windows)


def drift_windows(ctx: Any) -> list[KnownIncident]:
    """The drift part's scanner/protocol-change episode, as ground truth for ``data_drift``.

    The drift reports publish each day's share stamped at the end of that day, so the window
    runs from the first drifted day to the end of the day after the last one.
    """
    summary = getattr(ctx, "summaries", {}).get("drift") or {}
    if not summary.get("drift_episode") or not summary.get("config", {}).get("drift_days"):
        return []
    start = datetime.fromisoformat(summary["drift_episode"]).replace(tzinfo=UTC).timestamp()
    days = int(summary["config"]["drift_days"])
    return [
        KnownIncident(
            id=f"drift-{summary['drift_episode']}",
            environment=ctx.settings.environment,
            severity="P1",
            start=start,
            end=start + (days + 1) * mw.DAY_S,
            source="postmortem",
            policy="data_drift",
            note=f"scanner/protocol change: {days} days of drifted CT inputs (drift world)",
        )
    ]


def services_for(project_id: str) -> tuple[mw.ServiceSpec, ...]:
    return tuple(dataclasses.replace(s, project_id=project_id) for s in mw.DEFAULT_SERVICES)


def state_path(data_dir: Path) -> Path:
    return Path(data_dir) / "alerting" / STATE_FILE


def read_state(data_dir: Path) -> dict[str, Any]:
    """The generator state written by :func:`generate` (what the feeder continues)."""
    path = state_path(data_dir)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no alerting world state; run `ctscan-ops sandbox world` first"
        )
    return json.loads(path.read_text())


def generate(ctx: Any) -> dict[str, Any]:
    """World part ``alerting``: series into the metric store, ground truth into the register."""
    start = int(ctx.start.timestamp())
    end = int(ctx.end.timestamp())
    services = services_for(ctx.settings.project_id)
    ctx.progress(f"alerting: generating {(end - start) // mw.DAY_S} days of metric series")
    world = mw.generate_metric_world(ctx.rng("alerting"), start, end, services)
    store = ctx.metric_store()
    try:
        points = load_series(store, world.series, replace_project=ctx.settings.project_id)
    finally:
        store.close()
    register = register_from_labels(world.labels)
    for window in drift_windows(ctx):
        register = register.with_window(window)
    doc = register.to_json()
    out_dir = Path(ctx.data_dir) / "alerting"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (REGISTER_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp.replace(out_dir / REGISTER_FILE)
    RegisterStore(ctx.artifact_store()).replace_all(register)
    state = {
        "base_seed": world.base_seed,
        "start": start,
        "end": end,
        "services": [dataclasses.asdict(s) for s in services],
    }
    tmp = out_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(out_dir / STATE_FILE)
    # the feeder continues this world from its end, not from a previous world's progress
    (out_dir / "feeder_state.json").unlink(missing_ok=True)
    episodes = Counter(e.kind for e in world.episodes)
    return {
        "series": len(world.series),
        "points": points,
        "labelled_windows": len(world.labels),
        "incidents_by_kind": dict(
            sorted(Counter(e.kind for e in world.episodes if e.labelled).items())
        ),
        "windows_by_policy": dict(sorted(Counter(w.policy for w in world.labels).items())),
        "near_misses": sum(n for k, n in episodes.items() if k.startswith("near_")),
        "harmless_spikes": sum(n for k, n in episodes.items() if k.startswith("spike_")),
        "environments": [s.environment for s in services],
        "register": ctx.artifact_store().uri(REGISTER_KEY),
    }


def specs_from_state(state: dict[str, Any]) -> tuple[mw.ServiceSpec, ...]:
    return tuple(mw.ServiceSpec(**s) for s in state["services"])
