"""The drift part of the sandbox world: a training reference set and daily prediction logs.

What it writes (keys in the drift-logs bucket, or under a local directory):

- ``reference/current.json``: ``{"model_version": v}``, the model the reference belongs to;
- ``reference/<v>/reference.npz``: held-out validation images (int16 HU) and labels, the
  data the drift reference profile is computed from, and ``reference/<v>/predictions.parquet``
  (the model's ``pred_class``/``pred_conf`` on them, by ``image_id``);
- ``predictions/date=YYYY-MM-DD/part-0.parquet``: one row per prediction that day, with the
  API's precomputed image features (:data:`FEATURE_COLUMNS`), ``pred_class``, ``pred_conf``;
  ~3% of rows come from the batch path: features missing (NaN), image stored at
  ``images/date=YYYY-MM-DD/<request_id>.npy`` for the pipeline to compute;
- ``labels/day_labels.json``: the ground truth the calibration asset scores against: each
  day ``stable``, ``drift`` or ``empty``, and the drift episode's acquisition.

The story: a stable protocol, day-to-day variation in volume and case mix, a small dose jitter;
from ``drift_start`` for ``drift_days`` days a new scanner with a low-dose sharp-kernel protocol
(:data:`ctscan_ops.drift.phantoms.SHIFTS` ``protocol_change``) takes over (half the studies on
its first day, all of them after), then the old protocol is restored. One day has no
predictions (API outage) and a few stored images are corrupt (truncated uploads).

The predicting "model" is a linear discriminant on 8x8-pooled pixels fitted on a separate
training set: real predictions whose confidence reacts to the shift, at negligible cost.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ctscan_ops.ct_classes import CLASSES, NUM_CLASSES
from ctscan_ops.drift.features import FEATURE_COLUMNS

CASE_MIX = (0.30, 0.15, 0.20, 0.35)  # adenocarcinoma, large cell, squamous, normal
DRIFT_SHIFT = "protocol_change"

REFERENCE_POINTER = "reference/current.json"
LABELS_KEY = "labels/day_labels.json"


def day_log_key(day: date) -> str:
    return f"predictions/date={day.isoformat()}/part-0.parquet"


def image_key(day: date, request_id: str) -> str:
    return f"images/date={day.isoformat()}/{request_id}.npy"


def reference_keys(model_version: str) -> tuple[str, str]:
    return (
        f"reference/{model_version}/reference.npz",
        f"reference/{model_version}/predictions.parquet",
    )


class Sink(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...


class DirSink:
    """Writes keys as files under ``root`` (tests, benchmarks, offline use)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written file


class BucketSink:
    """Writes keys as objects of a GCS bucket (emulator or real)."""

    def __init__(self, bucket: Any) -> None:
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.bucket.blob(key).upload_from_string(data, content_type=content_type)


@dataclass(frozen=True)
class WorldConfig:
    rows_per_day: int = 200
    image_size: int = 64
    reference_rows: int = 1000
    train_rows: int = 800
    drift_start: int = 20  # day index (0-based) of the scanner change
    drift_days: int = 4
    empty_day: int | None = 11
    corrupt_days: tuple[int, ...] = (7, 27)
    batch_path_share: float = 0.03
    dose_jitter: float = 0.03  # day-level log-sd of the dose on stable days


# --- the sandbox classifier ------------------------------------------------------------------


def _pool(images: np.ndarray, cells: int = 8) -> np.ndarray:
    n, h, w = images.shape
    x = np.clip(images, -1024, 600)[:, : h - h % cells, : w - w % cells]
    return x.reshape(n, cells, h // cells, cells, w // cells).mean(axis=(2, 4)).reshape(n, -1)


@dataclass
class SoftmaxModel:
    """Linear discriminant analysis on pooled pixels, read out through a softmax.

    Closed form (class means, shrunk pooled covariance): deterministic and instant, unlike an
    optimiser loop; the softmax of the LDA scores is the posterior under its Gaussian model.
    """

    weight: np.ndarray  # [features, classes]
    bias: np.ndarray  # [classes]

    @classmethod
    def fit(cls, images: np.ndarray, labels: np.ndarray, shrinkage: float = 0.1):
        x = _pool(images)
        means = np.stack(
            [
                x[labels == k].mean(0) if (labels == k).any() else x.mean(0)
                for k in range(NUM_CLASSES)
            ]
        )
        resid = x - means[labels]
        cov = resid.T @ resid / max(1, len(x) - NUM_CLASSES)
        cov = (1 - shrinkage) * cov + shrinkage * np.eye(len(cov)) * np.trace(cov) / len(cov)
        prior = np.bincount(labels, minlength=NUM_CLASSES) / len(labels)
        inv_means = np.linalg.solve(cov, means.T)  # [features, classes]
        bias = -0.5 * np.einsum("kf,fk->k", means, inv_means) + np.log(prior + 1e-9)
        return cls(inv_means, bias)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pred_index int64, confidence float64)``; confidence = max softmax probability."""
        z = _pool(images) @ self.weight + self.bias
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        return p.argmax(axis=1).astype(np.int64), p.max(axis=1).astype(np.float64)

    def version(self) -> str:
        digest = hashlib.sha256(self.weight.tobytes() + self.bias.tobytes()).hexdigest()[:8]
        return f"sandbox-lda-{digest}"


# --- generation ----------------------------------------------------------------------------


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _parquet_bytes(df) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def empty_log_frame():
    """A zero-row prediction log with the right schema (an outage day)."""
    import pandas as pd

    cols: dict[str, Any] = {
        "request_id": pd.Series([], dtype=str),
        "timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
        "model_version": pd.Series([], dtype=str),
        "pred_index": pd.Series([], dtype="int64"),
        "pred_class": pd.Series([], dtype=str),
        "pred_conf": pd.Series([], dtype="float64"),
        "image_key": pd.Series([], dtype=object),
    }
    for c in FEATURE_COLUMNS:
        cols[c] = pd.Series([], dtype="float64")
    return pd.DataFrame(cols)


def _day_images(
    rng: np.random.Generator, cfg: WorldConfig, index: int, n: int
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Images of one day: the case mix drifts a little; the protocol depends on the episode."""
    from ctscan_ops.drift.phantoms import REFERENCE, SHIFTS, make_dataset, with_acquisition

    mix = rng.dirichlet(np.asarray(CASE_MIX) * 60)
    in_episode = cfg.drift_start <= index < cfg.drift_start + cfg.drift_days
    new_share = 0.0 if not in_episode else (0.5 if index == cfg.drift_start else 1.0)
    n_new = round(n * new_share)
    seed_old, seed_new = (int(s) for s in rng.integers(0, 2**62, 2))
    old_acq = with_acquisition(REFERENCE, dose=float(np.exp(rng.normal(0, cfg.dose_jitter))))
    parts_x, parts_y = [], []
    if n - n_new:
        x, y = make_dataset(n - n_new, seed_old, cfg.image_size, old_acq, tuple(mix))
        parts_x.append(x)
        parts_y.append(y)
    if n_new:
        x, y = make_dataset(n_new, seed_new, cfg.image_size, SHIFTS[DRIFT_SHIFT], tuple(mix))
        parts_x.append(x)
        parts_y.append(y)
    x = np.concatenate(parts_x)
    y = np.concatenate(parts_y)
    order = rng.permutation(n)
    label = "drift" if in_episode else "stable"
    return x[order], y[order], new_share, label


def generate_prediction_logs(
    seed: int,
    start: date,
    days: int,
    sink: Sink,
    config: WorldConfig | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict[str, Any]:
    """Write the reference set, ``days`` daily logs from ``start`` and the day labels.

    Deterministic for ``(seed, start, days, config)``; returns a JSON-able summary.
    """
    import pandas as pd

    from ctscan_ops.drift.features import extract_features
    from ctscan_ops.drift.phantoms import make_dataset

    cfg = config or WorldConfig()
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    rng = np.random.default_rng(seed)
    train_x, train_y = make_dataset(
        cfg.train_rows, int(rng.integers(2**62)), cfg.image_size, None, CASE_MIX
    )
    model = SoftmaxModel.fit(train_x, train_y)
    version = model.version()
    ref_x, ref_y = make_dataset(
        cfg.reference_rows, int(rng.integers(2**62)), cfg.image_size, None, CASE_MIX
    )
    ref_pred, ref_conf = model.predict(ref_x)
    train_acc = float((model.predict(train_x)[0] == train_y).mean())
    ref_acc = float((ref_pred == ref_y).mean())
    npz_key, pred_key = reference_keys(version)
    buf = io.BytesIO()
    np.savez(
        buf, images=ref_x.astype(np.int16), labels=ref_y
    )  # compression costs more than it saves
    sink.put(npz_key, buf.getvalue(), "application/octet-stream")
    ref_preds = pd.DataFrame(
        {
            "image_id": np.arange(cfg.reference_rows, dtype=np.int64),
            "pred_index": ref_pred,
            "pred_class": [CLASSES[i] for i in ref_pred],
            "pred_conf": ref_conf,
            "label": [CLASSES[i] for i in ref_y],
        }
    )
    sink.put(pred_key, _parquet_bytes(ref_preds), "application/octet-stream")
    sink.put(REFERENCE_POINTER, json.dumps({"model_version": version}).encode(), "application/json")
    progress(f"drift world: reference set ({cfg.reference_rows} images, {version}) written")

    day_labels = []
    totals = {"rows": 0, "images": 0, "corrupt_images": 0}
    for i in range(days):
        day = start + timedelta(days=i)
        day_rng = np.random.default_rng([seed, i])
        if cfg.empty_day is not None and i == cfg.empty_day:
            sink.put(
                day_log_key(day), _parquet_bytes(empty_log_frame()), "application/octet-stream"
            )
            day_labels.append(
                {"date": day.isoformat(), "label": "empty", "rows": 0, "new_scanner_share": 0.0}
            )
            continue
        weekend = day.weekday() >= 5
        n = max(5, int(day_rng.poisson(cfg.rows_per_day * (0.45 if weekend else 1.0))))
        x, _y, new_share, label = _day_images(day_rng, cfg, i, n)
        pred, conf = model.predict(x)
        feats = extract_features(x)
        seconds = np.sort(np.clip(day_rng.normal(13.5, 3.5, n), 0, 23.99) * 3600)
        t0 = datetime.combine(day, time(0), tzinfo=UTC)
        ids = [f"{day.strftime('%Y%m%d')}-{k:05d}" for k in range(n)]
        frame = pd.DataFrame(
            {
                "request_id": ids,
                "timestamp": pd.to_datetime([t0 + timedelta(seconds=float(s)) for s in seconds]),
                "model_version": version,
                "pred_index": pred,
                "pred_class": [CLASSES[k] for k in pred],
                "pred_conf": conf,
                "image_key": pd.Series([None] * n, dtype=object),
            }
        )
        for c, name in enumerate(FEATURE_COLUMNS):
            frame[name] = feats[:, c]
        batch_rows = np.nonzero(day_rng.random(n) < cfg.batch_path_share)[0]
        corrupt = set(batch_rows[:2].tolist()) if i in cfg.corrupt_days else set()
        for r in batch_rows:
            key = image_key(day, ids[r])
            data = _npy_bytes(x[r].astype(np.int16))
            if r in corrupt:
                data = data[: len(data) // 3]  # a truncated upload
            sink.put(key, data, "application/octet-stream")
            frame.loc[r, "image_key"] = key
            frame.loc[r, list(FEATURE_COLUMNS)] = np.nan
        sink.put(day_log_key(day), _parquet_bytes(frame), "application/octet-stream")
        totals["rows"] += n
        totals["images"] += len(batch_rows)
        totals["corrupt_images"] += len(corrupt)
        day_labels.append(
            {"date": day.isoformat(), "label": label, "rows": n, "new_scanner_share": new_share}
        )
        progress(f"drift world: {day.isoformat()} {label} {n} rows")

    from ctscan_ops.drift.phantoms import SHIFTS

    labels_doc = {
        "start": start.isoformat(),
        "days": day_labels,
        "episode": {
            "start": (start + timedelta(days=cfg.drift_start)).isoformat(),
            "days": cfg.drift_days,
            "shift": DRIFT_SHIFT,
            "acquisition": asdict(SHIFTS[DRIFT_SHIFT]),
        },
        "model_version": version,
    }
    sink.put(LABELS_KEY, json.dumps(labels_doc, indent=2).encode(), "application/json")
    counts: dict[str, int] = {}
    for d in day_labels:
        counts[d["label"]] = counts.get(d["label"], 0) + 1
    return {
        "model_version": version,
        "model_accuracy": {"train": round(train_acc, 4), "reference": round(ref_acc, 4)},
        "reference_rows": cfg.reference_rows,
        "days": days,
        "day_labels": counts,
        "drift_episode": labels_doc["episode"]["start"],
        **totals,
        "config": asdict(cfg),
    }


def generate(ctx, config: WorldConfig | None = None) -> dict[str, Any]:
    """World part: write the drift logs into the sandbox's drift-logs bucket."""
    client = ctx.storage_client()
    bucket = client.bucket(ctx.settings.drift_logs_bucket)
    if not bucket.exists():
        bucket = client.create_bucket(ctx.settings.drift_logs_bucket)
    start = ctx.start.date() if isinstance(ctx.start, datetime) else ctx.start
    summary = generate_prediction_logs(
        seed=int(ctx.rng("drift").integers(2**62)),
        start=start,
        days=len(ctx.days),
        sink=BucketSink(bucket),
        config=config,
        progress=ctx.progress,
    )
    summary["bucket"] = ctx.settings.drift_logs_bucket
    return summary
