"""Offline evaluation of a model version on a held-out set.

The metric functions are pure numpy (no sklearn): the confusion matrix is the single source for
accuracy, per-class precision/recall and macro-F1, so they cannot disagree. Calibration is the
standard equal-width-bin ECE on the top-class confidence. Latency is measured one image at a
time on CPU (what a single API request costs); throughput is measured batched.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ctscan_ops.ct_classes import CLASSES


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of samples of true class i predicted as j."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} must be equal-length 1-D")
    for name, arr in (("y_true", t), ("y_pred", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} has labels outside [0, {num_classes})")
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den with 0 where den == 0 (sklearn's zero_division=0 convention)."""
    out = np.zeros_like(num, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def metrics_from_confusion(cm: np.ndarray) -> dict[str, Any]:
    """Accuracy, per-class precision/recall/F1/support and macro-F1 from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.astype(int).tolist(),
        "macro_f1": float(f1.mean()) if len(f1) else 0.0,
    }


def expected_calibration_error(probs: Any, y_true: Any, n_bins: int = 10) -> float:
    """ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)| over equal-width bins of top confidence.

    Bins are (lo, hi], the first one [0, 1/n_bins], as in Guo et al. 2017.
    """
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y_true, dtype=np.int64)
    if p.ndim != 2 or len(p) != len(t):
        raise ValueError(f"probs must be [n, k] matching {len(t)} labels, got {p.shape}")
    if len(t) == 0:
        return 0.0
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == t).astype(np.float64)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def predict_proba(model: Any, images: Any, batch_size: int = 256) -> np.ndarray:
    """Softmax probabilities [n, k] in eval mode without gradients."""
    import torch

    from ctscan_ops.registry.models import preprocess

    x = preprocess(images)
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out.append(torch.softmax(model(x[i : i + batch_size]), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def measure_latency(
    model: Any, images: Any, *, n_single: int = 50, warmup: int = 5, batch_size: int = 256
) -> dict[str, float]:
    """CPU latency per single-image request (p50/p95 ms) and batched throughput (images/s)."""
    import torch

    from ctscan_ops.registry.models import preprocess

    x = preprocess(images)
    if len(x) == 0:
        raise ValueError("no images to time")
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + n_single):
            xi = x[i % len(x)].unsqueeze(0)
            start = time.perf_counter()
            model(xi)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
        start = time.perf_counter()
        for i in range(0, len(x), batch_size):
            model(x[i : i + batch_size])
        batched = time.perf_counter() - start
    return {
        "latency_p50_ms": float(np.percentile(times, 50)),
        "latency_p95_ms": float(np.percentile(times, 95)),
        "images_per_s": float(len(x) / batched) if batched > 0 else float("inf"),
    }


def evaluate_model(
    model: Any,
    images: Any,
    labels: Any,
    *,
    class_names: Sequence[str] = CLASSES,
    n_bins: int = 10,
    n_latency: int = 50,
) -> dict[str, Any]:
    """Full evaluation report of one model on one held-out set (small, JSON-serialisable)."""
    from ctscan_ops.registry.train import torch_threads

    y = np.asarray(labels, dtype=np.int64)
    if len(y) != len(images):
        raise ValueError(f"{len(images)} images but {len(y)} labels")
    with torch_threads(1):
        probs = predict_proba(model, images)
        timing = measure_latency(model, images, n_single=n_latency)
    cm = confusion_matrix(y, probs.argmax(axis=1), len(class_names))
    m = metrics_from_confusion(cm)
    return {
        "n": len(y),
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "per_class": {
            name: {
                "precision": m["precision"][i],
                "recall": m["recall"][i],
                "f1": m["f1"][i],
                "support": m["support"][i],
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": cm.tolist(),
        "ece": expected_calibration_error(probs, y, n_bins),
        "mean_confidence": float(probs.max(axis=1).mean()) if len(y) else 0.0,
        **timing,
    }
