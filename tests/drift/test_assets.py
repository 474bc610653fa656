"""The drift assets end to end on the real stand-ins: fake-gcs-server buckets, the sandbox
MetricService read back through the real google-cloud-monitoring client, real torch/Evidently."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import pytest

from ctscan_ops.config import get_settings
from ctscan_ops.drift.assets import (
    CHECK_NAME,
    drift_calibration,
    drift_report,
    prediction_features,
    reference_profile,
)
from ctscan_ops.drift.pipeline import DRIFT_SHARE_METRIC, FEATURE_DRIFTED_METRIC
from ctscan_ops.registry.assets import RegistryResource
from ctscan_ops.resources import ArtifactStore, MonitoringResource, SettingsResource
from ctscan_ops.resources.storage import make_storage_client
from ctscan_ops.sandbox.worlds.drift import BucketSink, WorldConfig, generate_prediction_logs

PROJECT = "ctscan-drift-test"
START = date(2026, 10, 5)  # a Monday, inside the shared daily partitions
DAYS = 5  # stable, stable, empty, drift (rollout: half the studies), drift (+ corrupt images)
CONFIG = WorldConfig(
    rows_per_day=60,
    image_size=48,
    reference_rows=300,
    train_rows=200,
    drift_start=3,
    drift_days=2,
    empty_day=2,
    corrupt_days=(4,),
    batch_path_share=0.1,
)


def day(i: int) -> str:
    return (START + timedelta(days=i)).isoformat()


@pytest.fixture(scope="module")
def env(gcs_emulator, metric_service, monkeypatch_module):
    monkeypatch_module.setenv("CTSCAN_ENVIRONMENT", "staging")
    client = make_storage_client(PROJECT, gcs_emulator)
    for name in ("drift-test-artifacts", "drift-test-logs"):
        if client.lookup_bucket(name) is None:
            client.create_bucket(name)
    summary = generate_prediction_logs(
        5, START, DAYS, BucketSink(client.bucket("drift-test-logs")), CONFIG
    )
    resources = {
        "artifacts": ArtifactStore(
            bucket="drift-test-artifacts", project=PROJECT, endpoint=gcs_emulator
        ),
        "drift_logs": ArtifactStore(
            bucket="drift-test-logs", prefix="", project=PROJECT, endpoint=gcs_emulator
        ),
        "monitoring": MonitoringResource(project=PROJECT, endpoint=metric_service),
        # no models bucket: a project without a registry champion (the pointer's reference)
        "registry": RegistryResource(
            bucket="drift-test-no-models", project=PROJECT, endpoint=gcs_emulator
        ),
        # the settings a code location would build from CTSCAN_ENVIRONMENT=staging
        "settings": SettingsResource.from_settings(get_settings()),
    }
    with dg.instance_for_test() as instance:
        res = dg.materialize([reference_profile], instance=instance, resources=resources)
        assert res.success
        runs = {}
        for i in range(DAYS):
            runs[day(i)] = dg.materialize(
                [prediction_features, drift_report],
                partition_key=day(i),
                instance=instance,
                resources=resources,
            )
        missing = "2026-09-15"
        runs[missing] = dg.materialize(
            [prediction_features, drift_report],
            partition_key=missing,
            instance=instance,
            resources=resources,
        )
        calib = dg.materialize([drift_calibration], instance=instance, resources=resources)
        yield {
            "summary": summary,
            "runs": runs,
            "ref": res,
            "calib": calib,
            "resources": resources,
            "missing": missing,
        }


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def meta(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    mats = result.asset_materializations_for_node(asset)
    assert len(mats) == 1
    return {k: v.value for k, v in mats[0].metadata.items()}


def check(result: dg.ExecuteInProcessResult):
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == CHECK_NAME
    return evaluation


def test_reference_profile_is_versioned_with_the_model(env):
    m = meta(env["ref"], "reference_profile")
    assert m["model_version"] == env["summary"]["model_version"]
    assert m["rows"] == 300
    mats = env["ref"].asset_materializations_for_node("reference_profile")
    assert mats[0].tags["dagster/data_version"].startswith(env["summary"]["model_version"])


def test_drift_episode_detected_and_stable_days_pass(env):
    runs = env["runs"]
    for i in (0, 1):  # stable days
        r = runs[day(i)]
        assert r.success
        m = meta(r, "drift_report")
        assert m["status"] == "ok" and m["dataset_drift"] is False, (day(i), m["drift_share"])
        assert check(r).passed
    for i in (3, 4):  # scanner change
        m = meta(runs[day(i)], "drift_report")
        assert m["dataset_drift"] is True and m["drift_share"] > 0.3, day(i)
        assert "noise_sigma" in m["drifted_columns"]
        assert not check(runs[day(i)]).passed
        assert m["threshold"] == pytest.approx(0.3) and m["threshold_source"].endswith("data_drift")
        assert m["report_html"].startswith("http")


def test_empty_and_missing_days_are_skipped_with_a_reason(env):
    for d, reason in ((day(2), "0 predictions"), (env["missing"], "no prediction log")):
        r = env["runs"][d]
        assert r.success
        f = meta(r, "prediction_features")
        assert f["status"] == "skipped" and reason in f["skip_reason"]
        rep = meta(r, "drift_report")
        assert rep["status"] == "skipped" and reason in rep["skip_reason"]
        ev = check(r)
        assert ev.passed and ev.metadata["evaluated"].value is False


def test_unreadable_images_are_counted_and_listed(env):
    f = meta(env["runs"][day(4)], "prediction_features")
    assert f["unreadable"] == 2 and f["status"] == "ok"
    assert f["computed_from_images"] >= 1
    assert f["rows"] == f["logged_rows"] - 2
    assert f["quarantined"].count("cannot decode") == 2
    store: ArtifactStore = env["resources"]["artifacts"]
    q = store.get_json(f"drift/features/date={day(4)}/quarantine.json")
    assert len(q) == 2 and all(r["image_key"].endswith(".npy") for r in q)
    clean = meta(env["runs"][day(0)], "prediction_features")
    assert clean["unreadable"] == 0 and clean["computed_from_images"] >= 1


def test_report_artifacts_are_stored(env):
    store: ArtifactStore = env["resources"]["artifacts"]
    html = store.get_bytes(f"drift/reports/date={day(4)}/report.html")
    assert len(html) > 100_000 and b"<html" in html[:2000].lower()
    summary = store.get_json(f"drift/reports/date={day(4)}/summary.json")
    assert summary["metric_published"] is True and summary["model_version"]
    json.loads(store.get_bytes(f"drift/reports/date={day(4)}/report.json"))


def test_metrics_visible_through_the_monitoring_client(env, monitoring_client):
    from google.cloud import monitoring_v3

    start = monitoring_v3.TimeInterval(
        start_time={"seconds": 1790812800}, end_time={"seconds": 1792022400}
    )  # 2026-10-01 .. 2026-10-15
    series = list(
        monitoring_client.list_time_series(
            request={
                "name": f"projects/{PROJECT}",
                "filter": f'metric.type="{DRIFT_SHARE_METRIC}" AND '
                'metric.labels.environment="staging"',
                "interval": start,
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
        )
    )
    assert len(series) == 1
    points = {
        p.interval.end_time.date().isoformat(): p.value.double_value for p in series[0].points
    }
    expected = {}
    for i in range(DAYS):
        m = meta(env["runs"][day(i)], "drift_report")
        if m["status"] == "ok":
            # a day's point is stamped at the end of the day (next midnight UTC)
            expected[(START + timedelta(days=i + 1)).isoformat()] = m["drift_share"]
    assert points == pytest.approx(expected)
    flags = list(
        monitoring_client.list_time_series(
            request={
                "name": f"projects/{PROJECT}",
                "filter": f'metric.type="{FEATURE_DRIFTED_METRIC}" AND '
                'metric.labels.feature="noise_sigma"',
                "interval": start,
                "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            }
        )
    )
    assert len(flags) == 1
    by_day = {p.interval.end_time.date().isoformat(): p.value.int64_value for p in flags[0].points}
    assert by_day[(START + timedelta(days=5)).isoformat()] == 1  # drift day 4 ends on day 5
    assert by_day[(START + timedelta(days=1)).isoformat()] == 0


def _drift_share_points(monitoring_client) -> dict[str, float]:
    from google.cloud import monitoring_v3

    (series,) = monitoring_client.list_time_series(
        request={
            "name": f"projects/{PROJECT}",
            "filter": f'metric.type="{DRIFT_SHARE_METRIC}" AND metric.labels.environment="staging"',
            "interval": monitoring_v3.TimeInterval(
                start_time={"seconds": 1790812800}, end_time={"seconds": 1792022400}
            ),
            "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        }
    )
    return {p.interval.end_time.isoformat(): p.value.double_value for p in series.points}


def test_a_re_run_or_an_older_day_is_stored_but_not_published_again(env, monitoring_client):
    """Points of a series are written in time order only (the real API refuses the rest): a
    re-run of the latest day, or an older day re-run behind it, stores its report and says why
    no point was written, instead of failing after the report is stored."""
    before = _drift_share_points(monitoring_client)
    store: ArtifactStore = env["resources"]["artifacts"]
    for i in (DAYS - 1, 0):
        with dg.instance_for_test() as instance:
            res = dg.materialize(
                [prediction_features, drift_report],
                partition_key=day(i),
                instance=instance,
                resources=env["resources"],
            )
        assert res.success
        m = meta(res, "drift_report")
        assert m["status"] == "ok" and m["metric_published"] is False
        summary = store.get_json(f"drift/reports/date={day(i)}/summary.json")
        assert summary["metric_published"] is False
        assert "already holds points" in summary["metric_note"]
    assert _drift_share_points(monitoring_client) == before  # nothing written twice


def test_calibration_reports_false_alarms_and_recall(env):
    m = meta(env["calib"], "drift_calibration")
    assert m["status"] == "ok"
    assert m["stable_days"] == 2 and m["drift_days"] == 2
    assert m["false_alarms"] == 0 and m["detected"] == 2 and m["recall"] == 1.0
    assert m["coverage"] == {"scored": 4, "skipped": 2, "unlabelled": 0}
    assert "0.30 **(policy)**" in m["per_threshold"]


def test_definitions_load_without_heavy_imports():
    code = (
        "import sys; import ctscan_ops.drift.definitions as d; "
        "print([m for m in ('torch', 'evidently', 'skimage') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
