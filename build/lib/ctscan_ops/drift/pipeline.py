"""Pure steps behind the drift assets: decode logged images, assemble a day's features, pick the
reference that belongs to the model, turn a report summary into metric values.

No dagster here (the assets in ``assets.py`` are thin wrappers), and torch is only imported by
:func:`ctscan_ops.drift.features.extract_features` when a day actually has images to process.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ctscan_ops.drift.features import FEATURE_COLUMNS

PRED_COLUMNS: tuple[str, ...] = ("pred_class", "pred_conf")
DRIFT_SHARE_METRIC = "custom.googleapis.com/ctscan/drift_share"
FEATURE_DRIFTED_METRIC = "custom.googleapis.com/ctscan/feature_drifted"
CLOUD_MONITORING_MAX_AGE = timedelta(hours=24)  # the API rejects points older than ~25 h


class UnreadableImage(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


def decode_image(data: bytes, key: str) -> np.ndarray:
    """A logged image as float32 HU ``[H, W]``.

    ``.npy`` holds HU (int16 or float); ``.png`` is an 8-bit lung-window export, converted with
    :func:`ctscan_ops.drift.features.gray_to_hu`. Raises :class:`UnreadableImage` for anything
    that does not decode to a finite 2-D image of at least 3x3 pixels.
    """
    try:
        if key.endswith(".npy"):
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        elif key.endswith(".png"):
            from PIL import Image

            from ctscan_ops.drift.features import gray_to_hu

            with Image.open(io.BytesIO(data)) as im:
                arr = gray_to_hu(np.asarray(im.convert("L")))
        else:
            raise UnreadableImage(key, "unknown image format (expected .npy or .png)")
    except UnreadableImage:
        raise
    except Exception as exc:  # numpy/PIL raise many kinds for truncated or foreign bytes
        raise UnreadableImage(key, f"cannot decode: {type(exc).__name__}: {exc}") from None
    if arr.ndim != 2 or min(arr.shape) < 3:
        raise UnreadableImage(key, f"not a 2-D image of at least 3x3: shape {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise UnreadableImage(key, "contains NaN or inf")
    return arr


@dataclass
class DayFeatures:
    frame: pd.DataFrame  # one row per usable prediction: request_id, features, pred columns
    computed_from_images: int = 0
    unreadable: list[dict[str, str]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)  # no features and no image
    model_versions: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> list[dict[str, str]]:
        return [*self.unreadable, *self.missing]


def assemble_day_features(
    log: pd.DataFrame, load: Callable[[str], bytes], batch_size: int = 64
) -> DayFeatures:
    """Rows with precomputed features pass through; rows without get them from their image.

    Unreadable images (and rows with neither features nor an image) are listed, not fatal.
    """
    from ctscan_ops.drift.features import extract_features

    required = ["request_id", *PRED_COLUMNS]
    missing_cols = [c for c in required if c not in log.columns]
    if missing_cols:
        raise ValueError(f"prediction log lacks columns {missing_cols}")
    feats = log.reindex(columns=list(FEATURE_COLUMNS)).astype("float64")
    has_features = np.isfinite(feats.to_numpy()).all(axis=1)
    image_col = log["image_key"] if "image_key" in log.columns else pd.Series(None, index=log.index)
    out = DayFeatures(frame=pd.DataFrame())
    if "model_version" in log.columns:
        out.model_versions = {
            str(k): int(v) for k, v in log["model_version"].value_counts().items()
        }
    todo_rows, images = [], []
    for pos in np.nonzero(~has_features)[0]:
        rid = str(log["request_id"].iloc[pos])
        key = image_col.iloc[pos]
        if not isinstance(key, str) or not key:
            out.missing.append(
                {"request_id": rid, "image_key": "", "reason": "no features, no image"}
            )
            continue
        try:
            data = load(key)
        except Exception as exc:  # a missing/forbidden object is this row's problem, not the day's
            reason = f"cannot read: {type(exc).__name__}: {exc}"
            out.unreadable.append({"request_id": rid, "image_key": key, "reason": reason})
            continue
        try:
            images.append(decode_image(data, key))
            todo_rows.append(pos)
        except UnreadableImage as exc:
            out.unreadable.append({"request_id": rid, "image_key": key, "reason": exc.reason})
    values = feats.to_numpy(copy=True)
    if images:
        values[todo_rows] = extract_features(images, batch_size=batch_size)
        out.computed_from_images = len(images)
    keep = has_features.copy()
    keep[todo_rows] = True
    frame = pd.DataFrame(values[keep], columns=list(FEATURE_COLUMNS))
    frame.insert(0, "request_id", log["request_id"].to_numpy()[keep].astype(str))
    for c in PRED_COLUMNS:
        frame[c] = log[c].to_numpy()[keep]
    frame["pred_class"] = frame["pred_class"].astype(str)
    frame["pred_conf"] = frame["pred_conf"].astype("float64")
    out.frame = frame
    return out


def reference_profile_frame(images: np.ndarray, predictions: pd.DataFrame) -> pd.DataFrame:
    """Features of the reference images joined with the model's predictions on them."""
    from ctscan_ops.drift.features import extract_features

    if len(predictions) != len(images):
        raise ValueError(f"reference has {len(images)} images but {len(predictions)} predictions")
    frame = pd.DataFrame(extract_features(images.astype(np.float32)), columns=list(FEATURE_COLUMNS))
    frame.insert(0, "image_id", predictions["image_id"].to_numpy())
    frame["pred_class"] = predictions["pred_class"].astype(str).to_numpy()
    frame["pred_conf"] = predictions["pred_conf"].astype("float64").to_numpy()
    return frame


def dominant_model_version(versions: Mapping[str, int]) -> str | None:
    """The model that served most of the day's predictions (its reference is the baseline)."""
    if not versions:
        return None
    return sorted(versions.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def partition_end(day: str) -> datetime:
    """End of the daily partition (next midnight, UTC): the time the day's metric point gets."""
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=UTC) + timedelta(days=1)


def metric_values(summary: Mapping[str, Any]) -> tuple[float, dict[str, int]]:
    """``(drift_share, {column: 0|1})`` from a report summary dict."""
    flags = {c["column"]: int(bool(c["drifted"])) for c in summary["columns"]}
    return float(summary["drift_share"]), flags


def too_old_for_cloud_monitoring(end: datetime, now: datetime) -> bool:
    return now - end > CLOUD_MONITORING_MAX_AGE


def profile_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A small markdown table (mean, std, p50 per column) for metadata."""
    lines = ["| column | mean | std | p50 |", "|---|---|---|---|"]
    for c in columns:
        s = frame[c]
        lines.append(f"| {c} | {s.mean():.4g} | {s.std(ddof=0):.4g} | {s.median():.4g} |")
    return "\n".join(lines)
