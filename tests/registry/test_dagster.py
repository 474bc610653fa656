"""The Dagster wiring on the staged world: sensor, evaluation, one promotion, one refusal."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from ctscan_ops.registry.assets import (
    RegistryResource,
    challenger_beats_champion,
    challenger_model,
    champion_model,
    live_model_metrics,
    model_evaluation,
    model_versions,
)
from ctscan_ops.registry.sensors import model_versions_sensor
from ctscan_ops.resources.firestore import FirestoreResource
from ctscan_ops.resources.monitoring import MonitoringResource
from ctscan_ops.resources.settings import SettingsResource
from ctscan_ops.resources.sqlite import SQLiteFeedbackResource

ASSETS = [model_versions, model_evaluation, challenger_model, champion_model, live_model_metrics]


@pytest.fixture()
def resources(staged_world, gcs_url, metric_service, tmp_path):
    from ctscan_ops.sandbox.worlds.feedback import generate_feedback_db

    store, _, start = staged_world
    db = tmp_path / "feedback.db"
    generate_feedback_db(db, seed=3, n_rows=400, start=start, end=start + timedelta(days=30))
    return {
        "registry": RegistryResource(
            bucket=store.bucket_name,
            project="test-project",
            endpoint=gcs_url,
            environment="staging",
        ),
        "monitoring": MonitoringResource(project="p-registry-dagster", endpoint=metric_service),
        "feedback_sqlite": SQLiteFeedbackResource(path=str(db)),
        # only used after the cut-over (CTSCAN_FEEDBACK_BACKEND=firestore)
        "firestore": FirestoreResource(project="p-registry-live"),
        "settings": SettingsResource(feedback_backend="sqlite"),
    }


def _run(instance, resources, keys, partition=None):
    return dg.materialize(
        [*ASSETS, challenger_beats_champion],
        selection=keys,
        partition_key=partition,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def test_sensor_evaluation_promotion_refusal_live(staged_world, resources, monitoring_client):
    store, summary, _ = staged_world
    v = summary["versions"]
    with dg.instance_for_test() as instance:
        # 1. the sensor discovers the three versions; run keys carry the full sha256
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        result = model_versions_sensor(ctx)
        keys = sorted(r.partition_key for r in result.run_requests)
        assert keys == sorted(v.values())
        for r in result.run_requests:
            assert r.run_key.endswith(store.get_version(r.partition_key).sha256)
        (add,) = result.dynamic_partitions_requests
        instance.add_dynamic_partitions("model_versions", list(add.partition_keys))
        again = model_versions_sensor(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert not again.run_requests
        assert "no new model version" in again.skip_reason.skip_message

        # 2. verification + evaluation of one partition, metrics match the stored report
        res = _run(instance, resources, [model_versions, model_evaluation], v["cnn"])
        assert res.success
        md = res.asset_materializations_for_node("model_evaluation")[0].metadata
        assert md["macro_f1"].value == pytest.approx(summary["macro_f1"]["cnn"], abs=1e-4)
        assert md["dataset"].value == summary["holdout"]

        # 3. round 1: the CNN challenger passes the blocking check and becomes champion
        res = _run(instance, resources, [challenger_model, champion_model])
        (check,) = res.get_asset_check_evaluations()
        assert check.passed and check.metadata["challenger"].value == v["cnn"]
        champ = store.get_alias("champion")
        assert champ.version == v["cnn"] and champ.previous_version == v["baseline"]
        assert champ.actor == "dagster:champion_model"
        assert champ.evidence["sha256"] == store.get_version(v["cnn"]).sha256
        assert set(champ.evidence["gate"]) >= {"macro_f1_margin", "no_open_drift"}
        assert champ.evidence["dagster_run_id"] == res.run_id
        md = res.asset_materializations_for_node("champion_model")[0].metadata
        assert md["moved"].value is True and md["sha256"].value == champ.sha256
        assert md["serving_checkpoint"].value == store.serving_checkpoint_uri()

        # 4. round 2: the linear probe is proposed and refused; champion_model does not run
        res = _run(instance, resources, [challenger_model, champion_model])
        (check,) = res.get_asset_check_evaluations()
        assert not check.passed and check.metadata["challenger"].value == v["linear_probe"]
        assert "macro_f1_margin" in check.metadata["checks"].value
        assert not res.asset_materializations_for_node("champion_model")
        assert store.get_alias("champion").version == v["cnn"]
        assert store.refused_against(v["cnn"]) == {v["linear_probe"]}

        # 5. materializing champion_model alone cannot skip the gate
        res = _run(instance, resources, [champion_model])
        assert not res.success and store.get_alias("champion").version == v["cnn"]

        # 6. live metrics per served version published as custom gauges
        res = _run(instance, resources, [live_model_metrics])
        assert res.success
        md = res.asset_materializations_for_node("live_model_metrics")[0].metadata
        assert md["points_published"].value >= 2
        now = datetime.now(UTC)
        series = list(
            monitoring_client.list_time_series(
                request={
                    "name": "projects/p-registry-dagster",
                    "filter": 'metric.type="custom.googleapis.com/ctscan/live_accuracy"',
                    "interval": {"start_time": now - timedelta(hours=1), "end_time": now},
                }
            )
        )
        versions = {s.metric.labels["model_version"] for s in series}
        assert v["baseline"] in versions  # the world's feedback was served by the baseline
        for s in series:
            assert 0.0 <= s.points[0].value.double_value <= 1.0


def test_live_rows_are_the_same_from_firestore_after_migration(tmp_path, firestore_emulator):
    """After the cut-over the live metrics read Firestore: same rows as SQLite had."""
    from google.cloud import firestore as gfs

    from ctscan_ops.feedback.migrate import migrate
    from ctscan_ops.registry.assets import feedback_rows_firestore, feedback_rows_sqlite
    from ctscan_ops.sandbox.worlds.feedback import generate_feedback_db

    db = tmp_path / "feedback.db"
    start = datetime(2026, 10, 1, tzinfo=UTC)
    generate_feedback_db(db, seed=5, n_rows=300, start=start, end=start + timedelta(days=20))
    client = gfs.Client(project="p-registry-live-rows")
    report = migrate(client, db)
    from_sqlite = feedback_rows_sqlite(str(db))
    from_firestore = feedback_rows_firestore(client)

    def key(r):
        ts = r["timestamp"]
        ts = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
        return (ts.astimezone(UTC).replace(microsecond=0), bool(r["is_correct"]))

    # quarantined rows never reach Firestore; every migrated row is there exactly once
    assert len(from_firestore) == report.migrated > 0
    assert report.migrated + report.quarantined == report.rows_read
    assert {key(r) for r in from_firestore} <= {key(r) for r in from_sqlite}
    firestore_emulator.reset("p-registry-live-rows")


def test_feedback_rows_skip_sqlite_duplicates(tmp_path) -> None:
    from ctscan_ops.feedback.source import LEGACY_DDL
    from ctscan_ops.registry.assets import feedback_rows_sqlite

    db = tmp_path / "f.db"
    with sqlite3.connect(db) as conn:
        conn.execute(LEGACY_DDL)
        row = ("2026-11-01T00:00:00+00:00", "p.png", "normal", 0.9, 1, None, None, None, None)
        conn.executemany(
            "INSERT INTO feedback (timestamp, image_path, predicted_class, "
            "predicted_confidence, is_correct, correct_class, user_note, "
            "confidence_rating, image_stats) VALUES (?,?,?,?,?,?,?,?,?)",
            [row, row],
        )
    assert len(feedback_rows_sqlite(str(db))) == 1
