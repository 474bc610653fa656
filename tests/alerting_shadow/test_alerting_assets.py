"""The alerting assets and the shadow sensor on a generated world, end to end.

World -> sandbox MetricService (real gRPC) -> real google-cloud-monitoring client -> evaluator
-> Dagster assets in a real (temporary) instance.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents
from ctscan_ops.alerting.sensors import shadow_alert_sensor
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.alerting.tuning_assets import (
    TuningOutput,
    threshold_tuning_report,
    threshold_tuning_sensor,
)
from ctscan_ops.config import get_settings
from ctscan_ops.resources import ArtifactStore, MonitoringResource, make_storage_client
from ctscan_ops.sandbox.metric_service import build_server
from ctscan_ops.sandbox.metric_store import MetricStore
from ctscan_ops.sandbox.world import generate_world

END = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 9


@pytest.fixture(scope="module")
def world(tmp_path_factory, gcs_emulator):
    root = tmp_path_factory.mktemp("alerting-world")
    settings = get_settings(
        {
            "CTSCAN_SANDBOX_DIR": str(root),
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "CTSCAN_PROJECT_ID": "ctscan-alerting-test",
        }
    )
    client = make_storage_client(settings.project_id, gcs_emulator)
    if not client.bucket(settings.artifacts_bucket).exists():
        client.create_bucket(settings.artifacts_bucket)
    manifest = generate_world(
        settings, seed=5, end=END, days=DAYS, parts=("alerting",), progress=lambda _: None
    )
    store = MetricStore(root / "monitoring.sqlite3")
    server, port = build_server(store)
    server.start()
    resources = {
        "monitoring": MonitoringResource(project=settings.project_id, endpoint=f"127.0.0.1:{port}"),
        "artifacts": ArtifactStore(
            bucket=settings.artifacts_bucket, project=settings.project_id, endpoint=gcs_emulator
        ),
        "alerting": AlertingSettings(environments=["prod"], min_days=7),
    }
    yield settings, manifest, resources
    server.stop(None)
    store.close()


def _days():
    return [
        datetime.fromtimestamp(END.timestamp() - 86400 * (DAYS - i), tz=UTC).strftime("%Y-%m-%d")
        for i in range(DAYS)
    ]


def test_assets_find_and_score_the_labelled_incidents(world, tmp_path):
    _settings, _manifest, resources = world
    resources = {**resources, "tuning_output": TuningOutput(terraform_dir=str(tmp_path / "tf"))}
    days = _days()
    with dg.instance_for_test() as instance:
        assets = [incident_register, shadow_incidents, alert_quality, threshold_tuning_report]
        assert dg.materialize([incident_register], instance=instance, resources=resources).success
        res = dg.materialize(
            assets,
            selection=[shadow_incidents.key],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": days[0],
                "dagster/asset_partition_range_end": days[-1],
            },
        )
        assert res.success
        assert instance.get_materialized_partitions(shadow_incidents.key) == set(days)
        # infra found high_latency deployed at 2500 ms / 600 s: it is re-evaluated as deployed
        resources["artifacts"].put_json(
            "infra/policy_drift/prod.json",
            {"deployed_overrides": {"high_latency": {"threshold_value": 2500, "duration": "600s"}}},
        )
        res = dg.materialize(
            assets, selection=[alert_quality.key], instance=instance, resources=resources
        )
        assert res.success
        check = res.get_asset_check_evaluations()[0]
        assert check.check_name == "fp_rate_below_target"
        md = res.get_asset_materialization_events()[0].materialization.metadata
        assert md["daily_records_disagree"].value == 0
        assert md["days_of_shadow_data"].value == DAYS

        # 9 days of shadow data (>= 7): the tuning sensor asks for a report per environment
        ctx = dg.build_sensor_context(instance=instance, resources=resources)
        tick = threshold_tuning_sensor(ctx)
        assert [r.partition_key for r in tick.run_requests] == ["prod"]
        assert days[0] in tick.run_requests[0].run_key and days[-1] in tick.run_requests[0].run_key
        again = threshold_tuning_sensor(
            dg.build_sensor_context(instance=instance, resources=resources, cursor=tick.cursor)
        )
        assert again.run_requests == []  # nothing changed materially since
        res = dg.materialize(
            assets,
            selection=[threshold_tuning_report.key],
            partition_key="prod",
            instance=instance,
            resources=resources,
        )
        assert res.success
        tmd = res.get_asset_materialization_events()[0].materialization.metadata
        assert "Threshold tuning" in tmd["report"].value
        tfvars = tmp_path / "tf" / "environments" / "prod" / "alerts.auto.tfvars.json"
        doc = json.loads(tfvars.read_text())
        assert set(doc) == {"alert_overrides"}
        assert tmd["recommended"].value == len(doc["alert_overrides"]) or tmd["recommended"].value
        # 9 days leave < 7 held-out days: nothing may be enabled yet
        assert not any(v.get("enabled") for v in doc["alert_overrides"].values())
        tuning = resources["artifacts"].get_json(
            f"alerting/threshold_tuning/prod/{days[-1]}/tuning.json"
        )
        # P0 policies are tuned too (issue 16), as evidence for a human: never in the file
        p0 = {"api_downtime", "high_error_rate", "memory_exhaustion", "crash_loop"}
        assert set(tuning["policies"]) == p0 | {
            "high_latency",
            "data_drift",
            "low_prediction_confidence",
            "elevated_error_rate",
            "model_accuracy_degradation",
            "high_cpu",
            "storage_warning",
        }
        assert {n for n, d in tuning["policies"].items() if d["severity"] == "P0"} == p0
        assert not p0 & set(doc["alert_overrides"])

    artifacts = resources["artifacts"]
    report = artifacts.get_json(f"alerting/alert_quality/{days[-1]}/alert_quality.json")
    rows = {r["policy"]: r for r in report["policies"] if r["variant"] == "catalog"}
    deployed = [r for r in report["policies"] if r["variant"] == "deployed"]
    assert [(r["policy"], r["threshold"], r["duration_s"]) for r in deployed] == [
        ("high_latency", 2500, 600)
    ]
    # a higher threshold held longer is met on a subset of the ticks: never more false ticks
    dep_fpr = deployed[0]["quality"]["fpr_per_tick"] or 0.0
    assert dep_fpr <= (rows["high_latency"]["quality"]["fpr_per_tick"] or 0.0)
    assert set(rows) == {
        "api_downtime",
        "high_error_rate",
        "memory_exhaustion",
        "crash_loop",
        "high_latency",
        "data_drift",
        "low_prediction_confidence",
        "elevated_error_rate",
        "model_accuracy_degradation",
        "high_cpu",
        "storage_warning",
    }
    # the world labels incidents for P0 policies; each must be caught, and scored as such
    register = artifacts.get_json("alerting/incident_register.json")
    from ctscan_ops.alerting.shadow.incidents import IncidentRegister

    reg = IncidentRegister.from_json(register)
    labelled = {p for w in reg.windows if w.environment == "prod" for p in w.policies()}
    caught = [p for p in labelled if rows[p]["quality"]["recall"]]
    assert caught, rows
    for p in labelled:
        q = rows[p]["quality"]
        assert q["labelled_incidents"] >= 1
        assert q["true_incidents"] + q["false_incidents"] == q["incidents"]
    # the check's verdict agrees with the published figures
    over = [
        p
        for p, r in rows.items()
        if r["severity"] in ("P1", "P2") and (r["quality"]["false_discovery_rate"] or 0) > 0.02
    ]
    assert check.passed == (not over)
    # data_drift reads a metric the drift domain publishes: none here, so no data and no verdict
    assert rows["data_drift"]["readiness"].startswith("not enough data")
    assert rows["data_drift"]["readiness_detail"]["verdict"] == "insufficient_evidence"
    # readiness with its uncertainty (issue 16): intervals on every judged row, never "ready"
    # on one or two labelled incidents, verdict text and detail agree
    from ctscan_ops.alerting.shadow.readiness import VERDICTS, poisson_interval, wilson_interval

    for p, r in rows.items():
        det = r["readiness_detail"]
        assert det["verdict"] in VERDICTS, p
        assert (r["readiness"] == "ready") == (det["verdict"] == "ready"), p
        if det["verdict"] == "ready":
            assert det["labelled_incidents"] >= 3 and det["days_to_firm_verdict"] == 0, p
            assert det["false_alerts_per_week_upper"] <= det["false_page_budget_per_week"], p
        if det["false_alerts_per_day_interval"] is not None:
            q = r["quality"]
            assert det["false_alerts_per_day_interval"] == list(
                poisson_interval(q["false_incidents"], q["days"])
            ), p
            want = wilson_interval(q["false_incidents"], q["incidents"])
            assert det["fdr_interval"] == (None if want is None else list(want)), p
        if det["verdict"] == "provisional":
            assert det["days_to_firm_verdict"] >= 1, p


def test_sensor_ticks_match_the_daily_view(world):
    _settings, _manifest, resources = world
    day = _days()[-2]
    day_start = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
    alerting = AlertingSettings(
        environments=["prod"],
        now_override=day_start + 86400,
        initial_lookback_s=86400,
        max_span_per_tick_s=8 * 3600,
    )
    res = {**resources, "alerting": alerting}
    cursor = None
    events = []
    runs = []
    with dg.instance_for_test() as instance:
        for _ in range(4):
            ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=res)
            result = shadow_alert_sensor(ctx)
            cursor = result.cursor
            events += result.asset_events
            runs += result.run_requests
    state = json.loads(cursor)
    assert all(s["through"] == day_start + 86400 for s in state["policies"].values())
    opened = {
        e.metadata["incident_id"].value for e in events if e.metadata["event"].value == "open"
    }
    # the daily partition (evaluated as a whole) lists the same incidents for that day
    daily = resources["artifacts"].get_json(f"alerting/shadow_incidents/{day}.json")
    daily_ids = {i["id"] for incs in daily["policies"].values() for i in incs}
    assert opened == daily_ids
    # the finished day is requested once, keyed by day and catalog version
    assert [r.partition_key for r in runs] == [day]
    assert runs[0].run_key.startswith(f"shadow_incidents:{day}:")
    # an old cursor replays nothing new: same run key, so Dagster would not run it twice
    # (a disposed instance, never a bare ephemeral one: an instance left open keeps itself as
    # Dagster's current defs-state storage and breaks later definition loads)
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources=res)
        again = shadow_alert_sensor(ctx)
    assert again.run_requests == [] and again.asset_events == []
