"""Bring your own data: every asset and check of the code location runs on contract-shaped data
written by plain code (tests/byod/producers.py), through the settings a real project uses."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import numpy as np
import pytest

from tests.byod import producers as P
from tests.byod.conftest import Project, code_location


def _storage(project: Project):
    from ctscan_ops.resources.storage import make_storage_client

    return make_storage_client(project.id, project.settings.endpoints.gcs_url)


def _register_model(project: Project) -> str:
    """The training pipeline's side of the registry contract (RegistryStore.register)."""
    from ctscan_ops.registry.store import RegistryStore

    store = RegistryStore(_storage(project), project.settings.models_bucket)
    rec = store.register(
        P.quadrant_probe_state(),
        architecture="linear_probe",
        parameters={"image_size": 64, "pool": 8},
        training={"note": "hand-set weights, byod test"},
        source="byod-test",
        created_at=datetime.now(UTC) - timedelta(days=3),
    )
    return rec.version


class Runs:
    """Materializes selections of the code location's own asset graph (as the UI would)."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs = defs
        self.instance = instance
        self.graph = defs.get_repository_def().asset_graph
        self.assets = list(self.graph.assets_defs)
        self.checks: dict[str, bool] = {}
        self.metadata: list[str] = []

    def __call__(self, keys, partition_key=None, tags=None, ok=True) -> dg.ExecuteInProcessResult:
        res = dg.materialize(
            self.assets,
            selection=dg.AssetSelection.assets(*keys),
            partition_key=partition_key,
            instance=self.instance,
            raise_on_error=False,
            tags=tags,
        )
        for c in res.get_asset_check_evaluations():
            self.checks[f"{c.asset_key.to_user_string()}:{c.check_name}"] = c.passed
        for e in res.get_asset_materialization_events():
            md = e.materialization.metadata
            self.metadata.append(json.dumps({k: str(v.value) for k, v in md.items()}))
        if ok:
            assert res.success, [
                ev.step_failure_data.error.message for ev in res.get_step_failure_events()
            ]
        return res

    def md(self, res, key: str) -> dict:
        return {k: v.value for k, v in res.asset_materializations_for_node(key)[0].metadata.items()}

    def tick(self, sensor: str) -> dg.SensorResult:
        with dg.build_sensor_context(
            instance=self.instance, resources=self.defs.resources, definitions=self.defs
        ) as ctx:
            data = self.defs.resolve_sensor_def(sensor)(ctx)  # the raw result, as the demo
        for request in data.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        return data


def _expected_holdout_version(client, bucket: str, prefix: str) -> str:
    """sha256 over (relative path, class, md5) recomputed from the bytes we wrote."""
    lines = []
    for blob in client.list_blobs(bucket, prefix=prefix):
        rel = blob.name[len(prefix) :]
        folder = rel.split("/")[0]
        cls = P.CLASSES[P.ORIGINAL_FOLDERS.index(folder)]
        md5 = base64.b64encode(hashlib.md5(blob.download_as_bytes()).digest()).decode()
        lines.append(f"{rel}\t{cls}\tmd5:{md5}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def test_every_asset_materializes_from_contract_data(project: Project, monitoring_client):
    s = project.settings
    gcs = _storage(project)
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=2), today - timedelta(days=1)]
    start = datetime.combine(days[0], datetime.min.time(), UTC)
    burst = (start + timedelta(days=1, hours=10), start + timedelta(days=1, hours=10, minutes=30))

    # --- the project's systems write their data (plain code, contract layouts) ---------------
    bucket, prefix = s.holdout_location[len("gs://") :].split("/", 1)
    P.write_holdout_folders(gcs, bucket, prefix)
    version = _register_model(project)
    P.write_drift_inputs(gcs, s.drift_logs_bucket, days)
    P.put(
        gcs,
        s.tf_state_bucket,
        "environments/prod/default.tfstate",
        json.dumps(P.tfstate("prod", drift={"high_latency": 2500})).encode(),
    )
    P.put(
        gcs,
        s.artifacts_bucket,
        "ctscan-ops/infra/plans/prod/plan.json",
        json.dumps(P.zero_change_plan()).encode(),
    )
    P.put(
        gcs,
        s.artifacts_bucket,
        "ctscan-ops/alerting/incident_register.json",
        json.dumps(P.incident_register(*burst)).encode(),
    )
    P.write_cloud_run_series(
        monitoring_client, s.project_id, start, start + timedelta(days=2), burst
    )
    fed = P.write_feedback_db(s.feedback_sqlite_path, start)

    defs = code_location(s)
    res_cfg = defs.resources
    assert res_cfg["artifacts"].bucket == s.artifacts_bucket
    assert res_cfg["registry"].bucket == s.models_bucket
    assert res_cfg["registry"].holdout_location() == s.holdout_location
    assert res_cfg["drift_logs"].bucket == s.drift_logs_bucket
    assert res_cfg["monitoring"].project == s.project_id

    with dg.instance_for_test() as instance:
        run = Runs(defs, instance)

        # infra
        res = run(["terraform_state", "alert_policy_drift"], partition_key="prod")
        drift_md = run.md(res, "alert_policy_drift")
        assert drift_md["drifted_policies"] == 1 and "high_latency" in drift_md["drift"]
        run(["terraform_plan", "terraform_apply"], partition_key="prod")
        assert run.checks["terraform_plan:plan_has_zero_changes"]
        assert run.checks["terraform_plan:plan_has_no_destroys"]

        # drift
        run(["reference_profile"])
        for day in days:
            res = run(["prediction_features", "drift_report"], partition_key=day.isoformat())
            feat = run.md(res, "prediction_features")
            assert feat["unreadable"] == 1 and feat["computed_from_images"] == 39
        assert run.checks["drift_report:drift_share_below_threshold"]
        run(["drift_calibration"])

        # registry: the sensor finds the version; evaluation on the project's held-out set
        tick = run.tick("model_versions_sensor")
        assert [r.partition_key for r in tick.run_requests] == [version]
        res = run(["model_versions", "model_evaluation"], partition_key=version)
        ev = run.md(res, "model_evaluation")
        assert ev["data_version"] == _expected_holdout_version(gcs, bucket, prefix)
        assert ev["holdout_layout"] == "folders" and ev["n"] == 16
        per_class = ev["per_class_metrics"]
        assert set(per_class) == set(P.CLASSES)
        assert all(m["recall"] == 1.0 and m["support"] == 4 for m in per_class.values())
        run(["challenger_model", "champion_model"])
        assert run.checks["challenger_model:challenger_beats_champion"]
        run(["live_model_metrics"])

        # feedback
        res = run(["sqlite_feedback", "firestore_feedback"])
        fmd = run.md(res, "firestore_feedback")
        assert fmd["rows_quarantined"] == 1 and run.md(res, "sqlite_feedback")["rows"] == fed
        assert run.checks["firestore_feedback:firestore_parity"]

        # alerting: register, shadow history, quality, tuning -> a proposal in the artifact store
        run(["incident_register"])
        run(
            ["shadow_incidents"],
            tags={
                "dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[-1].isoformat(),
            },
        )
        res = run(["alert_quality"])
        assert "alert_quality:fp_rate_below_target" in run.checks
        report = res_cfg["artifacts"].get_json(run.md(res, "alert_quality")["report_key"])
        quality = {
            (r["environment"], r["policy"]): r["quality"]
            for r in report["policies"]
            if r.get("variant", "catalog") == "catalog"
        }
        for policy in ("high_error_rate", "elevated_error_rate"):  # the 5xx burst, found
            q = quality[("prod", policy)]
            assert (q["labelled_incidents"], q["detected_incidents"]) == (1, 1), (policy, q)
        res = run(["threshold_tuning_report"], partition_key="prod")
        tmd = run.md(res, "threshold_tuning_report")
        run(
            ["threshold_tuning_plots"], partition_key="prod"
        )  # its pictures (eager in a deployment)

        from ctscan_ops.alerting.proposal import get_proposal

        proposal = get_proposal(res_cfg["artifacts"], "prod")
        assert proposal.report_id == tmd["proposal_id"]
        assert proposal.target == "terraform/environments/prod/alerts.auto.tfvars.json"

        # every asset has a materialization and every check an evaluation
        keys = run.graph.get_all_asset_keys()
        missing = [
            k.to_user_string() for k in keys if not instance.get_latest_materialization_event(k)
        ]
        assert not missing
        all_checks = {
            f"{k.asset_key.to_user_string()}:{k.name}" for k in run.graph.asset_check_keys
        }
        assert all_checks <= set(run.checks), all_checks - set(run.checks)
        # the state's secret never reaches metadata
        assert P.SECRET_IN_STATE not in "".join(run.metadata)


@pytest.mark.parametrize(
    ("bad_name", "bad_bytes", "message"),
    [
        ("pneumonia/scan-0.png", None, "unknown class folder 'pneumonia'"),
        ("normal/scan-9.png", b"\x89PNG\r\n\x1a\n truncated", "not a readable PNG/JPEG image"),
    ],
)
def test_malformed_holdout_fails_naming_the_object(project: Project, bad_name, bad_bytes, message):
    s = project.settings
    gcs = _storage(project)
    bucket, prefix = s.holdout_location[len("gs://") :].split("/", 1)
    P.write_holdout_folders(gcs, bucket, prefix, per_class=1)
    if bad_bytes is None:  # a fine image in a folder that is no class
        bad_bytes = P.png_bytes(P.quadrant_image(0, 48, np.random.default_rng(0)))
    P.put(gcs, bucket, prefix + bad_name, bad_bytes)
    version = _register_model(project)
    defs = code_location(s)
    with dg.instance_for_test() as instance:
        run = Runs(defs, instance)
        run.tick("model_versions_sensor")
        res = run(["model_versions", "model_evaluation"], partition_key=version, ok=False)
    assert not res.success
    failures = [e.step_failure_data for e in res.get_step_failure_events()]
    errors = " ".join(
        f"{f.error.message} {getattr(f.user_failure_data, 'description', '')}" for f in failures
    )
    assert f"gs://{bucket}/{prefix}{bad_name}" in errors and message in errors
    from ctscan_ops.registry.store import RegistryStore

    assert RegistryStore(gcs, s.models_bucket).get_evaluation(version) is None


def test_producers_import_no_world_module() -> None:
    """The fixtures stay honest: nothing of the sandbox world is imported by this package."""
    import ast
    from pathlib import Path

    here = Path(__file__).parent
    for path in here.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [
            n.module if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in (n.names if isinstance(n, ast.Import) else [n])
        ]
        bad = [
            m
            for m in names
            if m
            and (
                m.endswith(".world")
                or "metric_world" in m
                or "phantoms" in m
                or m.startswith("ctscan_ops.sandbox")
                or m.endswith("feeder")
            )
        ]
        assert not bad, (path.name, bad)
