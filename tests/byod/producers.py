"""A stand-in for a real project's systems: writes every input in its contract layout.

Plain code only (numpy, PIL, pandas, sqlite3, the google clients): nothing from the sandbox
world (``ctscan_ops.*.world``, ``metric_world``, ``phantoms``, ``ctscan_ops.sandbox``) is
imported, and the layouts are spelled out here as docs/data-contracts.md states them, so a
drift between the contract and the code fails this test. The one exception is the model
registry, whose documented writer interface is ``RegistryStore.register``.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

CLASSES = ("adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma", "normal")
ORIGINAL_FOLDERS = ("adenocarcinoma", "large.cell.carcinoma", "squamous.cell.carcinoma", "normal")
SERVICE = "ct-scan-api"  # prod's Cloud Run service
REF_MODEL = "ref-v1"  # the model version the drift reference belongs to
ROOT = Path(__file__).resolve().parents[2]


def put(client: Any, bucket: str, name: str, data: bytes, content_type: str = "") -> str:
    client.bucket(bucket).blob(name).upload_from_string(
        data, content_type=content_type or "application/octet-stream"
    )
    return f"gs://{bucket}/{name}"


# --------------------------------------------------------------------------- held-out set
def quadrant_image(cls: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """8-bit slice whose bright quadrant is the class (a trivially separable toy task)."""
    img = rng.normal(60, 8, (size, size))
    h = size // 2
    r, c = divmod(cls, 2)
    img[r * h : (r + 1) * h, c * h : (c + 1) * h] += 120
    return np.clip(img, 0, 255).astype(np.uint8)


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def write_holdout_folders(client: Any, bucket: str, prefix: str, per_class: int = 4) -> list[str]:
    """``<prefix>/<original folder>/<i>.png``: 48x48 PNGs (the model resizes to 64)."""
    rng = np.random.default_rng(5)
    names = []
    for k, folder in enumerate(ORIGINAL_FOLDERS):
        for i in range(per_class):
            name = f"{prefix.strip('/')}/{folder}/scan-{i}.png"
            put(client, bucket, name, png_bytes(quadrant_image(k, 48, rng)), "image/png")
            names.append(name)
    return names


def quadrant_probe_state(image_size: int = 64, pool: int = 8) -> dict[str, Any]:
    """Weights of the registry's ``linear_probe`` that read the bright quadrant (no training)."""
    import torch

    side = image_size // pool
    w = torch.zeros(len(CLASSES), side * side)
    for cell in range(side * side):
        r, c = divmod(cell, side)
        w[(r >= side // 2) * 2 + (c >= side // 2), cell] = 1.0
    return {"2.weight": w, "2.bias": torch.zeros(len(CLASSES))}


# --------------------------------------------------------------------------- drift
def ct_slice(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A crude chest slice in HU: air, body (soft tissue), two lungs, noise."""
    yy, xx = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    img = np.full((size, size), -1000.0)
    body = (xx / 0.85) ** 2 + (yy / 0.65) ** 2 <= 1
    img[body] = 40
    for cx in (-0.4, 0.4):
        lung = ((xx - cx) / 0.3) ** 2 + (yy / 0.45) ** 2 <= 1
        img[lung] = -820
    img += rng.normal(0, 12 * rng.uniform(0.9, 1.1), img.shape)
    return np.clip(np.round(img), -1024, 3071).astype(np.int16)


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def parquet_bytes(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def write_drift_inputs(client: Any, bucket: str, days: list[date], rows_per_day: int = 40) -> None:
    """Reference set + pointer, one prediction log per day (features computed from .npy
    images by the pipeline; one truncated image per day for the quarantine), day labels."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n_ref = 120
    ref = np.stack([ct_slice(rng) for _ in range(n_ref)])
    labels = rng.integers(0, 4, n_ref)
    buf = io.BytesIO()
    np.savez(buf, images=ref, labels=labels)
    put(client, bucket, f"reference/{REF_MODEL}/reference.npz", buf.getvalue())
    preds = pd.DataFrame(
        {
            "image_id": np.arange(n_ref, dtype=np.int64),
            "pred_index": labels.astype(np.int64),
            "pred_class": [CLASSES[i] for i in labels],
            "pred_conf": rng.uniform(0.6, 0.99, n_ref),
            "label": [CLASSES[i] for i in labels],
        }
    )
    put(client, bucket, f"reference/{REF_MODEL}/predictions.parquet", parquet_bytes(preds))
    put(client, bucket, "reference/current.json", json.dumps({"model_version": REF_MODEL}).encode())
    for day in days:
        rows = []
        for i in range(rows_per_day):
            rid = f"{day:%Y%m%d}-{i:04d}"
            key = f"images/date={day.isoformat()}/{rid}.npy"
            data = npy_bytes(ct_slice(rng))
            if i == 0:
                data = data[:40]  # a truncated upload: quarantined, not fatal
            put(client, bucket, key, data)
            k = int(rng.integers(0, 4))
            rows.append(
                {
                    "request_id": rid,
                    "timestamp": datetime.combine(day, datetime.min.time(), UTC)
                    + timedelta(minutes=30 * i),
                    "model_version": REF_MODEL,
                    "pred_index": k,
                    "pred_class": CLASSES[k],
                    "pred_conf": float(rng.uniform(0.6, 0.99)),
                    "image_key": key,
                    # the API's precomputed stats are absent: the pipeline computes them
                    **{c: np.nan for c in ("mean", "std", "min", "max", "p01", "p50", "p99")},
                }
            )
        frame = pd.DataFrame(rows)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        put(
            client,
            bucket,
            f"predictions/date={day.isoformat()}/part-0.parquet",
            parquet_bytes(frame),
        )
    doc = {"days": [{"date": d.isoformat(), "label": "stable"} for d in days]}
    put(client, bucket, "labels/day_labels.json", json.dumps(doc).encode(), "application/json")


# --------------------------------------------------------------------------- Terraform
def catalog_policies(environment: str) -> dict[str, dict[str, Any]]:
    """Per policy as the catalog deploys it in ``environment``, read as plain YAML."""
    doc = yaml.safe_load((ROOT / "terraform" / "alert_policies.yaml").read_text())
    out = {}
    for name, pol in doc["policies"].items():
        over = (pol.get("environments") or {}).get(environment) or {}
        conds = [pol["condition"], *(pol.get("additional_conditions") or [])]
        out[name] = {
            "display_name": pol.get("display_name", name),
            "severity": pol["severity"],
            "conditions": [
                {
                    "threshold_value": over.get("threshold_value", c["threshold_value"])
                    if i == 0
                    else c["threshold_value"],
                    "duration": over.get("duration", c.get("duration", "0s"))
                    if i == 0
                    else c.get("duration", "0s"),
                }
                for i, c in enumerate(conds)
            ],
        }
    return out


def tfstate(environment: str, drift: dict[str, float]) -> dict[str, Any]:
    """A ``terraform state pull`` document with the alert policies (and one secret).

    ``drift``: policy -> threshold deployed instead of the catalog's (first condition).
    """
    instances = []
    for name, p in catalog_policies(environment).items():
        conditions = []
        for i, c in enumerate(p["conditions"]):
            value = drift.get(name, c["threshold_value"]) if i == 0 else c["threshold_value"]
            conditions.append(
                {
                    "display_name": f"{name}[{i}]",
                    "condition_threshold": [{"threshold_value": value, "duration": c["duration"]}],
                }
            )
        instances.append(
            {
                "index_key": name,
                "schema_version": 0,
                "attributes": {
                    "display_name": p["display_name"],
                    "enabled": p["severity"] == "P0",
                    "conditions": conditions,
                },
                "sensitive_attributes": [],
            }
        )
    provider = 'provider["registry.terraform.io/hashicorp/google"]'
    return {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 7,
        "lineage": "5f1c2a9e-byod-0000-0000-000000000001",
        "outputs": {},
        "resources": [
            {
                "module": "module.monitoring",
                "mode": "managed",
                "type": "google_monitoring_alert_policy",
                "name": "catalog",
                "provider": provider,
                "instances": instances,
            },
            {
                "mode": "managed",
                "type": "google_secret_manager_secret_version",
                "name": "wandb",
                "provider": provider,
                "instances": [
                    {
                        "schema_version": 0,
                        "attributes": {"secret_data": SECRET_IN_STATE, "id": "v1"},
                        "sensitive_attributes": [[{"type": "get_attr", "value": "secret_data"}]],
                    }
                ],
            },
        ],
        "check_results": None,
    }


SECRET_IN_STATE = "byod-secret-must-not-leak"


def zero_change_plan() -> dict[str, Any]:
    """``terraform show -json`` of a plan with nothing to do."""
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {}},
        "resource_changes": [],
        "configuration": {"root_module": {}},
        "errored": False,
        "complete": True,
        "applyable": False,
    }


# --------------------------------------------------------------------------- alerting
def incident_register(window_start: datetime, window_end: datetime) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "schema_version": 1,
        "windows": [
            {
                "id": "pm-byod-1",
                "kind": "error_burst",
                "environment": "prod",
                "severity": "P0",
                "start": window_start.strftime(fmt),
                "end": window_end.strftime(fmt),
                "source": "postmortem",
                "note": "bad deploy, rolled back",
            }
        ],
        "verdicts": {},
    }


def write_cloud_run_series(
    client: Any, project: str, start: datetime, end: datetime, burst: tuple[datetime, datetime]
) -> int:
    """request_count (DELTA INT64, 1-min intervals, 2xx and 5xx) of prod's Cloud Run service
    and storage_bytes (GAUGE INT64, 5 min) through the real client's create_time_series."""
    from google.cloud import monitoring_v3

    rng = np.random.default_rng(3)
    resource = {
        "type": "cloud_run_revision",
        "labels": {
            "project_id": project,
            "service_name": SERVICE,
            "revision_name": f"{SERVICE}-00042-byo",
            "location": "europe-west1",
            "configuration_name": SERVICE,
        },
    }
    requests = 0
    t = start
    while t < end:
        nxt = t + timedelta(minutes=1)
        total = int(rng.poisson(100))
        rate = 0.08 if burst[0] <= t < burst[1] else 0.002
        errors = int(rng.binomial(total, rate))
        series = []
        for cls, value in (("2xx", total - errors), ("5xx", errors)):
            series.append(
                monitoring_v3.TimeSeries(
                    metric={
                        "type": "run.googleapis.com/request_count",
                        "labels": {"response_code_class": cls},
                    },
                    resource=resource,
                    metric_kind="DELTA",
                    value_type="INT64",
                    points=[
                        {
                            "interval": {"start_time": t, "end_time": nxt},
                            "value": {"int64_value": value},
                        }
                    ],
                )
            )
        if t.minute % 5 == 0:
            hours = (t - start).total_seconds() / 3600
            series.append(
                monitoring_v3.TimeSeries(
                    metric={
                        "type": "custom.googleapis.com/ctscan/storage_bytes",
                        "labels": {"environment": "prod", "store": "feedback_db"},
                    },
                    resource={"type": "global", "labels": {"project_id": project}},
                    metric_kind="GAUGE",
                    value_type="INT64",
                    points=[
                        {
                            "interval": {"end_time": nxt},
                            "value": {"int64_value": int(2e8 + 1e5 * hours)},
                        }
                    ],
                )
            )
        client.create_time_series(name=f"projects/{project}", time_series=series)
        requests += 1
        t = nxt
    return requests


# --------------------------------------------------------------------------- feedback
ORIGINAL_DDL = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    image_path TEXT NOT NULL,
    predicted_class TEXT NOT NULL,
    predicted_confidence REAL NOT NULL,
    is_correct BOOLEAN NOT NULL,
    correct_class TEXT,
    user_note TEXT,
    confidence_rating TEXT,
    image_stats TEXT
)
"""


def write_feedback_db(path: Path, start: datetime, n: int = 60) -> int:
    """The original API's SQLite store; the last row has an unknown class (quarantined)."""
    rng = np.random.default_rng(8)
    rows = []
    for i in range(n):
        ts = (start + timedelta(minutes=37 * i)).isoformat()
        k = int(rng.integers(0, 4))
        ok = bool(rng.random() < 0.85)
        correct = None if ok else CLASSES[(k + 1) % 4]
        stats = json.dumps({"mean": 101.5, "std": 40.2, "height": 512, "width": 512})
        rows.append(
            (
                ts,
                f"feedback/{CLASSES[k]}/img-{i:04d}.png",
                CLASSES[k],
                0.9,
                int(ok),
                correct,
                None,
                "High",
                stats,
            )
        )
    rows[-1] = (rows[-1][0], "feedback/x.png", "pneumonia", 0.7, 1, None, None, None, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(ORIGINAL_DDL)
        conn.executemany(
            "INSERT INTO feedback (timestamp, image_path, predicted_class, predicted_confidence,"
            " is_correct, correct_class, user_note, confidence_rating, image_stats)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            rows,
        )
    conn.close()
    return len(rows)
