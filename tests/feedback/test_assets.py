"""Dagster wiring: materialize against the emulator, the parity check, the sync sensor."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from ctscan_ops.feedback import schema, source
from ctscan_ops.feedback.assets import firestore_feedback, firestore_parity, sqlite_feedback
from ctscan_ops.feedback.definitions import defs
from ctscan_ops.feedback.sensors import feedback_incremental_sync, sync_decision
from ctscan_ops.resources import (
    ArtifactStore,
    FirestoreResource,
    SettingsResource,
    SQLiteFeedbackResource,
    build_resources,
    make_storage_client,
)

# The world runs 2025-06-01 .. 2025-10-01; at this time rows up to 2025-08-17 are past 90 days.
AS_OF = "2025-11-15T00:00:00Z"


def run_config(**cfg) -> dg.RunConfig:
    return dg.RunConfig(ops={"firestore_feedback": {"config": {"as_of": AS_OF, **cfg}}})


def split(db) -> tuple[int, int]:
    """(valid rows inside retention, valid rows past it) at AS_OF, by hand."""
    now = datetime(2025, 11, 15, tzinfo=UTC)
    live = old = 0
    for r in source.iter_rows(db):
        out = schema.classify(r)
        if isinstance(out, schema.Normalised):
            if out.doc["timestamp"] + timedelta(days=90) <= now:
                old += 1
            else:
                live += 1
    return live, old


@pytest.fixture
def resources(firestore_emulator, gcs_emulator, project_id, world_db, tmp_path):
    db = tmp_path / "feedback.db"
    shutil.copy(world_db[0], db)  # the sensor test appends rows
    bucket = f"fb-art-{uuid.uuid4().hex[:10]}"
    make_storage_client(project_id, gcs_emulator).create_bucket(bucket)
    return {
        "artifacts": ArtifactStore(bucket=bucket, project=project_id, endpoint=gcs_emulator),
        "firestore": FirestoreResource(project=project_id, emulator_host=str(firestore_emulator)),
        "feedback_sqlite": SQLiteFeedbackResource(path=str(db)),
        "settings": SettingsResource(feedback_backend="sqlite"),
    }


def _md(res, key):
    mats = res.get_asset_materialization_events()
    by_key = {m.asset_key.to_user_string(): m.materialization.metadata for m in mats}
    return by_key[key]


def test_definitions_load_with_the_shared_resources():
    merged = dg.Definitions.merge(defs, dg.Definitions(resources=build_resources()))
    dg.Definitions.validate_loadable(merged)
    assert merged.resolve_asset_graph().get_all_asset_keys() == {
        dg.AssetKey("sqlite_feedback"),
        dg.AssetKey("firestore_feedback"),
    }


def test_materialize_migrates_and_parity_is_green(resources, world_db):
    _, summary = world_db
    res = dg.materialize(
        [sqlite_feedback, firestore_feedback, firestore_parity],
        resources=resources,
        run_config=run_config(),
    )
    assert res.success
    src = _md(res, "sqlite_feedback")
    assert src["rows"].value == summary["rows"] and src["max_id"].value == summary["rows"]
    md = _md(res, "firestore_feedback")
    assert md["rows_read"].value == summary["rows"]
    live, old = split(resources["feedback_sqlite"].path)
    assert live + old == summary["valid_expected"] and live > 100 and old > 100
    assert md["rows_written"].value == live
    assert md["rows_archived"].value == md["total_archived"].value == old
    assert md["collections"].value["archive"].startswith("gs://fb-art-")
    assert md["rows_quarantined"].value == sum(summary["injected"].values())
    assert md["checkpoint_last_id"].value == summary["rows"]
    assert md["rows_remaining"].value == 0
    table = md["quarantine_reasons"].value
    for reason, n in summary["injected"].items():
        assert f"| {reason} | {n} |" in table
    assert "sqlite-" in table  # example ids, so the operator can look the rows up
    (check,) = res.get_asset_check_evaluations()
    assert check.check_name == "firestore_parity" and check.passed
    assert check.metadata["checksum_match"].value is True
    assert check.metadata["problems"].value == "_none_"
    assert check.metadata["archived"].value == old and check.metadata["unaccounted"].value == 0


def test_chunked_runs_resume_and_parity_fails_until_complete(resources, world_db):
    _, summary = world_db
    cfg = run_config(batch_size=250, max_rows=500)
    first = dg.materialize(
        [firestore_feedback, firestore_parity], resources=resources, run_config=cfg
    )
    md = _md(first, "firestore_feedback")
    assert md["rows_read"].value == 500 and md["checkpoint_last_id"].value == 500
    assert md["rows_remaining"].value == summary["rows"] - 500
    (check,) = first.get_asset_check_evaluations()
    assert not check.passed  # half-migrated is not parity
    assert "missing" in check.metadata["problems"].value
    rest = dg.materialize(
        [firestore_feedback, firestore_parity], resources=resources, run_config=run_config()
    )
    md = _md(rest, "firestore_feedback")
    assert md["resumed_after_id"].value == 500
    assert md["rows_read"].value == summary["rows"] - 500
    assert md["total_migrated"].value + md["total_archived"].value == summary["valid_expected"]
    assert rest.get_asset_check_evaluations()[0].passed


def test_sync_sensor_requests_runs_only_for_new_rows(resources, world_db, monkeypatch):
    monkeypatch.delenv("CTSCAN_FEEDBACK_BACKEND", raising=False)
    _, summary = world_db
    n = summary["rows"]
    with dg.instance_for_test() as instance:

        def tick(inst):
            return dg.build_sensor_context(instance=inst, resources=resources)

        result = feedback_incremental_sync(tick(instance))
        assert [r.run_key for r in result.run_requests] == [f"feedback-sync-{n}"]
        dg.materialize(
            [firestore_feedback], resources=resources, instance=instance, run_config=run_config()
        )
        result = feedback_incremental_sync(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert not result.run_requests and "up to date" in result.skip_reason.skip_message
        # the app writes two more rows to SQLite
        with closing(sqlite3.connect(resources["feedback_sqlite"].path)) as conn:
            for i in range(2):
                conn.execute(
                    "INSERT INTO feedback (timestamp, image_path, predicted_class,"
                    " predicted_confidence, is_correct) VALUES (?, ?, 'normal', 0.9, 1)",
                    ("2025-10-02T10:00:00+00:00", f"feedback/normal/new{i}.png"),
                )
            conn.commit()
        result = feedback_incremental_sync(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert [r.run_key for r in result.run_requests] == [f"feedback-sync-{n + 2}"]
        res = dg.materialize(
            [firestore_feedback], resources=resources, instance=instance, run_config=run_config()
        )
        md = _md(res, "firestore_feedback")
        assert md["rows_read"].value == 2 and md["rows_written"].value == 2
        client = resources["firestore"].client()
        doc = client.collection("feedback").document(schema.doc_id_for(n + 2)).get()
        assert doc.exists and doc.to_dict()["image_path"] == "feedback/normal/new1.png"
        cut_over = {**resources, "settings": SettingsResource(feedback_backend="firestore")}
        result = feedback_incremental_sync(
            dg.build_sensor_context(instance=instance, resources=cut_over)
        )
        assert not result.run_requests and "cut over" in result.skip_reason.skip_message


def test_sync_decision():
    assert sync_decision(None, 0) is None
    assert sync_decision(10, 10) is None
    assert sync_decision(12, 10) == 12
