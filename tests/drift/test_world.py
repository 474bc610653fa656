"""The drift world: deterministic, labelled, with the bad inputs it promises."""

from __future__ import annotations

import io
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from ctscan_ops.drift.contracts import LABELS_KEY, REFERENCE_POINTER, day_log_key, reference_keys
from ctscan_ops.drift.features import FEATURE_COLUMNS, extract_features
from ctscan_ops.sandbox.world import tree_digest
from ctscan_ops.sandbox.worlds.drift import DirSink, WorldConfig, generate_prediction_logs

SMALL = WorldConfig(
    rows_per_day=40,
    image_size=32,
    reference_rows=120,
    train_rows=120,
    drift_start=4,
    drift_days=2,
    empty_day=2,
    corrupt_days=(5,),
    batch_path_share=0.15,
)
START = date(2026, 3, 2)  # a Monday


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("drift-world")
    summary = generate_prediction_logs(11, START, 8, DirSink(root), SMALL)
    return root, summary


def test_deterministic_for_a_seed(world, tmp_path):
    root, summary = world
    again = generate_prediction_logs(11, START, 8, DirSink(tmp_path), SMALL)
    assert again == summary
    assert tree_digest(tmp_path) == tree_digest(root)
    other = generate_prediction_logs(12, START, 3, DirSink(tmp_path / "o"), SMALL)
    assert other["model_version"] != summary["model_version"]


def test_labels_and_episode(world):
    root, summary = world
    labels = json.loads((root / LABELS_KEY).read_text())
    by_day = {d["date"]: d for d in labels["days"]}
    assert [d["label"] for d in labels["days"]] == [
        "stable",
        "stable",
        "empty",
        "stable",
        "drift",
        "drift",
        "stable",
        "stable",
    ]
    assert by_day["2026-03-06"]["new_scanner_share"] == 0.5  # rollout day
    assert by_day["2026-03-07"]["new_scanner_share"] == 1.0
    assert labels["episode"]["start"] == "2026-03-06" and labels["episode"]["days"] == 2
    assert summary["day_labels"] == {"stable": 5, "empty": 1, "drift": 2}
    assert labels["model_version"] == summary["model_version"]


def test_logs_schema_and_empty_day(world):
    root, summary = world
    empty = pd.read_parquet(root / day_log_key(date(2026, 3, 4)))
    assert len(empty) == 0 and set(FEATURE_COLUMNS) <= set(empty.columns)
    day = pd.read_parquet(root / day_log_key(date(2026, 3, 2)))
    assert {"request_id", "timestamp", "pred_class", "pred_conf", "model_version"} <= set(
        day.columns
    )
    assert day["request_id"].is_unique and day["timestamp"].is_monotonic_increasing
    assert (day["timestamp"].dt.date == date(2026, 3, 2)).all()
    assert day["pred_conf"].between(0.25, 1.0).all()
    assert (day["model_version"] == summary["model_version"]).all()
    total = sum(len(pd.read_parquet(p)) for p in root.glob("predictions/*/part-0.parquet"))
    assert total == summary["rows"]


def test_batch_rows_have_images_and_corrupt_ones_do_not_load(world):
    root, summary = world
    seen_corrupt = 0
    for path in sorted(root.glob("predictions/*/part-0.parquet")):
        day = pd.read_parquet(path)
        batch = day[day["image_key"].notna()]
        assert batch[list(FEATURE_COLUMNS)].isna().all().all()
        assert day.loc[day["image_key"].isna(), list(FEATURE_COLUMNS)].notna().all().all()
        for key in batch["image_key"]:
            data = (root / key).read_bytes()
            try:
                img = np.load(io.BytesIO(data), allow_pickle=False)
            except (ValueError, EOFError, OSError):
                seen_corrupt += 1
                continue
            assert img.dtype == np.int16 and img.shape == (32, 32)
            assert np.isfinite(extract_features(img[None].astype(np.float32))).all()
    assert seen_corrupt == summary["corrupt_images"] == 2
    assert summary["images"] > seen_corrupt


def test_reference_set_belongs_to_the_model(world):
    root, summary = world
    version = json.loads((root / REFERENCE_POINTER).read_text())["model_version"]
    assert version == summary["model_version"]
    npz_key, pred_key = reference_keys(version)
    with np.load(root / npz_key, allow_pickle=False) as z:
        assert z["images"].shape == (120, 32, 32) and z["labels"].shape == (120,)
    preds = pd.read_parquet(root / pred_key)
    assert len(preds) == 120 and preds["image_id"].tolist() == list(range(120))


def test_world_part_writes_into_the_drift_logs_bucket(gcs_emulator, tmp_path):
    from datetime import UTC, datetime

    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import WorldContext
    from ctscan_ops.sandbox.worlds.drift import generate

    settings = get_settings(
        {
            "CTSCAN_MODE": "sandbox",
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "CTSCAN_DRIFT_LOGS_BUCKET": "drift-world-part-test",
            "CTSCAN_DATA_DIR": str(tmp_path),
        }
    )
    ctx = WorldContext(
        seed=3,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        end=datetime(2026, 3, 5, tzinfo=UTC),
        data_dir=tmp_path,
        settings=settings,
        progress=lambda _m: None,
    )
    small = WorldConfig(
        rows_per_day=10,
        image_size=32,
        reference_rows=40,
        train_rows=40,
        drift_start=1,
        drift_days=1,
        empty_day=None,
        corrupt_days=(),
    )
    summary = generate(ctx, small)
    assert summary["days"] == 3 and summary["bucket"] == "drift-world-part-test"
    bucket = ctx.storage_client().bucket("drift-world-part-test")
    names = {b.name for b in bucket.list_blobs()}
    assert LABELS_KEY in names and REFERENCE_POINTER in names
    assert {day_log_key(date(2026, 3, d)) for d in (2, 3, 4)} <= names
    labels = json.loads(bucket.blob(LABELS_KEY).download_as_bytes())
    assert [d["label"] for d in labels["days"]] == ["stable", "drift", "stable"]
