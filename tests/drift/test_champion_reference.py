"""The drift reference follows the registry's champion (issue 16, part 7), on the real emulators.

Two registered versions, each with its reference set in the drift-logs bucket written the way
the sandbox world (a training pipeline) writes it. Reference for "right model": the profile's
``pred_conf`` column equals the champion's own predictions file, read back independently.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from ctscan_ops.drift.assets import (
    drift_report,
    prediction_features,
    profile_key,
    reference_profile,
)
from ctscan_ops.drift.contracts import choose_reference_version, reference_keys
from ctscan_ops.registry.assets import RegistryResource
from ctscan_ops.registry.store import RegistryStore
from ctscan_ops.resources import ArtifactStore, MonitoringResource, SettingsResource
from ctscan_ops.resources.storage import make_storage_client
from ctscan_ops.sandbox.worlds.drift import BucketSink, WorldConfig, generate_prediction_logs
from ctscan_ops.sandbox.worlds.registry import publish_reference_sets

PROJECT = "ctscan-champion-ref"
START = date(2026, 10, 5)
CONFIG = WorldConfig(
    rows_per_day=40,
    image_size=64,
    reference_rows=120,
    train_rows=120,
    drift_start=5,
    drift_days=1,
    empty_day=None,
    corrupt_days=(),
    batch_path_share=0.0,
)


def test_choose_reference_version_rules():
    assert choose_reference_version("v9", "champ", "ptr") == ("v9", "config")
    assert choose_reference_version(None, "champ", "ptr") == ("champ", "champion")
    assert choose_reference_version(None, None, "ptr") == ("ptr", "pointer")
    with pytest.raises(ValueError, match="champion"):
        choose_reference_version(None, None, None)


def _register_two(store: RegistryStore) -> list[str]:
    import torch

    from ctscan_ops.registry.models import build_model

    versions = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = build_model("linear_probe", image_size=64, pool=8)
        rec = store.register(
            model.state_dict(),
            architecture="linear_probe",
            parameters={"image_size": 64, "pool": 8},
            training={"seed": seed},
            source="test",
            created_at=datetime(2026, 10, 1, tzinfo=UTC) + timedelta(hours=seed),
        )
        versions.append(rec.version)
    return versions


@pytest.fixture(scope="module")
def world(gcs_emulator, metric_service):
    tag = uuid.uuid4().hex[:8]
    names = {k: f"champref-{k}-{tag}" for k in ("art", "logs", "models")}
    client = make_storage_client(PROJECT, gcs_emulator)
    for name in names.values():
        client.create_bucket(name)
    generate_prediction_logs(3, START, 2, BucketSink(client.bucket(names["logs"])), CONFIG)
    store = RegistryStore(client, names["models"])
    versions = _register_two(store)
    publish_reference_sets(store, client.bucket(names["logs"]), versions, progress=lambda _m: None)
    resources = {
        "artifacts": ArtifactStore(bucket=names["art"], project=PROJECT, endpoint=gcs_emulator),
        "drift_logs": ArtifactStore(
            bucket=names["logs"], prefix="", project=PROJECT, endpoint=gcs_emulator
        ),
        "monitoring": MonitoringResource(project=PROJECT, endpoint=metric_service),
        "settings": SettingsResource(environment="staging"),
        "registry": RegistryResource(
            bucket=names["models"], project=PROJECT, endpoint=gcs_emulator
        ),
    }
    return {"store": store, "versions": versions, "resources": resources, "client": client}


def _meta(result, asset):
    (mat,) = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in mat.metadata.items()}, mat


def _preds(world, version) -> pd.DataFrame:
    _, key = reference_keys(version)
    logs = world["resources"]["drift_logs"]
    return pd.read_parquet(io.BytesIO(logs.get_bytes(key)))


def test_after_a_promotion_the_reference_and_the_report_follow_the_champion(world):
    store, (v1, v2), resources = world["store"], world["versions"], world["resources"]
    art = resources["artifacts"]
    assert not _preds(world, v1)["pred_conf"].equals(_preds(world, v2)["pred_conf"])
    store.promote(v1, reason="first champion", actor="test")
    with dg.instance_for_test() as instance:
        ref = dg.materialize([reference_profile], instance=instance, resources=resources)
        m, mat = _meta(ref, "reference_profile")
        assert (m["model_version"], m["champion_version"], m["reference_source"]) == (
            v1,
            v1,
            "champion",
        )
        assert mat.tags["dagster/data_version"].startswith(v1)
        day0 = START.isoformat()
        rep = dg.materialize(
            [prediction_features, drift_report],
            partition_key=day0,
            instance=instance,
            resources=resources,
        )
        m, _ = _meta(rep, "drift_report")
        assert m["champion_version"] == v1 and m["model_version"] == v1
        # the day was served by the world's own model, not v1: only the inputs are compared
        assert m["prediction_columns_compared"] is False and m["served_model_version"] != v1
        summary = art.get_json(f"drift/reports/date={day0}/summary.json")
        assert summary["champion_version"] == v1

        store.promote(v2, reason="better", actor="test")
        day1 = (START + timedelta(days=1)).isoformat()
        stale = dg.materialize(
            [prediction_features, drift_report],
            partition_key=day1,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
        assert not stale.success  # no profile for the new champion yet: no silent comparison
        ref = dg.materialize([reference_profile], instance=instance, resources=resources)
        m, mat = _meta(ref, "reference_profile")
        assert m["model_version"] == v2 and m["champion_version"] == v2
        assert mat.tags["dagster/data_version"].startswith(v2)
        profile = pd.read_parquet(io.BytesIO(art.get_bytes(profile_key(v2))))
        assert profile["pred_conf"].tolist() == _preds(world, v2)["pred_conf"].tolist()
        rep = dg.materialize(
            [prediction_features, drift_report],
            partition_key=day1,
            instance=instance,
            resources=resources,
        )
        m, _ = _meta(rep, "drift_report")
        assert m["champion_version"] == v2 and m["model_version"] == v2
        assert art.get_json(f"drift/reports/date={day1}/summary.json")["champion_version"] == v2
        assert art.get_json("drift/reference/current.json")["champion_version"] == v2
