"""Pure steps behind the assets: image decoding, a day's features, model-version choice."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ctscan_ops.drift.features import FEATURE_COLUMNS, extract_features, gray_to_hu
from ctscan_ops.drift.pipeline import (
    UnreadableImage,
    assemble_day_features,
    decode_image,
    dominant_model_version,
    metric_values,
    partition_end,
    reference_profile_frame,
    too_old_for_cloud_monitoring,
)


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def test_decode_formats_and_failures():
    img = np.arange(20, dtype=np.int16).reshape(4, 5) * 10 - 1000
    out = decode_image(npy(img), "a.npy")
    assert out.dtype == np.float32 and (out == img).all()
    gray = np.array([[0, 128, 255]] * 3)
    np.testing.assert_allclose(decode_image(png(gray), "b.png"), gray_to_hu(gray))
    cases = {
        "trunc.npy": (npy(img)[:40], "cannot decode"),
        "flat.npy": (npy(np.zeros(9)), "not a 2-D image"),
        "tiny.npy": (npy(np.zeros((2, 9))), "at least 3x3"),
        "nan.npy": (npy(np.full((4, 4), np.nan)), "NaN"),
        "garbage.npy": (b"\x93NUMPY garbage", "cannot decode"),
        "x.dcm": (b"DICM", "unknown image format"),
        "bad.png": (b"\x89PNG\r\n\x1a\n broken", "cannot decode"),
    }
    for key, (data, reason) in cases.items():
        with pytest.raises(UnreadableImage, match=reason) as e:
            decode_image(data, key)
        assert e.value.key == key


def test_object_arrays_are_refused():
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnreadableImage, match="cannot decode"):
        decode_image(buf.getvalue(), "pickled.npy")  # never unpickled


def test_assemble_day_features():
    rng = np.random.default_rng(0)
    imgs = rng.normal(0, 50, (4, 16, 16)).astype(np.float32)
    feats = extract_features(imgs)
    log = pd.DataFrame(
        {
            "request_id": ["r0", "r1", "r2", "r3", "r4"],
            "pred_class": ["normal", "adenocarcinoma", "normal", "normal", "normal"],
            "pred_conf": [0.9, 0.8, 0.7, 0.6, 0.5],
            "model_version": ["v1", "v1", "v1", "v2", "v1"],
            "image_key": [None, "img/r1.npy", "img/r2.npy", None, "img/r4.npy"],
        }
    )
    for c, name in enumerate(FEATURE_COLUMNS):
        log[name] = [feats[0, c], np.nan, np.nan, np.nan, np.nan]
    store = {"img/r1.npy": npy(imgs[1]), "img/r2.npy": b"truncated"}

    def load(key: str) -> bytes:
        if key not in store:
            raise FileNotFoundError(key)
        return store[key]

    day = assemble_day_features(log, load)
    assert day.frame["request_id"].tolist() == ["r0", "r1"]
    np.testing.assert_allclose(day.frame[list(FEATURE_COLUMNS)].to_numpy(), feats[:2])
    assert day.frame["pred_conf"].tolist() == [0.9, 0.8]
    assert day.computed_from_images == 1
    assert [(u["request_id"], u["image_key"]) for u in day.unreadable] == [
        ("r2", "img/r2.npy"),
        ("r4", "img/r4.npy"),
    ]
    assert "FileNotFoundError" in day.unreadable[1]["reason"]
    assert [m["request_id"] for m in day.missing] == ["r3"]
    assert day.model_versions == {"v1": 4, "v2": 1}
    assert dominant_model_version(day.model_versions) == "v1"
    assert dominant_model_version({"b": 2, "a": 2}) == "a"
    assert dominant_model_version({}) is None
    with pytest.raises(ValueError, match=r"lacks columns \['pred_conf'\]"):
        assemble_day_features(log.drop(columns="pred_conf"), load)


def test_reference_profile_frame_and_metric_helpers():
    imgs = np.zeros((3, 8, 8), dtype=np.int16)
    preds = pd.DataFrame(
        {"image_id": [0, 1, 2], "pred_class": ["normal"] * 3, "pred_conf": [0.5, 0.6, 0.7]}
    )
    frame = reference_profile_frame(imgs, preds)
    assert list(frame.columns) == ["image_id", *FEATURE_COLUMNS, "pred_class", "pred_conf"]
    with pytest.raises(ValueError, match="3 images but 2 predictions"):
        reference_profile_frame(imgs, preds.iloc[:2])
    summary = {
        "drift_share": 0.5,
        "columns": [{"column": "a", "drifted": True}, {"column": "b", "drifted": False}],
    }
    assert metric_values(summary) == (0.5, {"a": 1, "b": 0})
    end = partition_end("2026-03-01")
    assert end == datetime(2026, 3, 2, tzinfo=UTC)
    assert not too_old_for_cloud_monitoring(end, end + timedelta(hours=3))
    assert too_old_for_cloud_monitoring(end, end + timedelta(days=2))
