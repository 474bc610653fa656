"""Infra assets on the sandbox world: state, plan gates, blocked apply, alert-policy drift."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from ctscan_ops.config import get_settings
from ctscan_ops.infra.definitions import defs as infra_defs
from ctscan_ops.resources import (
    ArtifactStore,
    EmulatorAwareGCSResource,
    SettingsResource,
    make_storage_client,
)
from ctscan_ops.sandbox.world import generate_world


@pytest.fixture(scope="module")
def infra_world(tmp_path_factory, gcs_emulator):
    import os

    root = tmp_path_factory.mktemp("infra-world")
    env = {
        "CTSCAN_SANDBOX_DIR": str(root),
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "CTSCAN_PROJECT_ID": "ctscan-infra-test",
    }
    os.environ.update({"CTSCAN_SANDBOX_DIR": str(root), "CTSCAN_PROJECT_ID": "ctscan-infra-test"})
    settings = get_settings(env)
    client = make_storage_client(settings.project_id, gcs_emulator)
    for bucket in settings.buckets:
        if not client.bucket(bucket).exists():
            client.create_bucket(bucket)
    manifest = generate_world(
        settings,
        seed=3,
        end=datetime(2026, 11, 20, tzinfo=UTC),
        days=3,
        parts=("infra",),
        progress=lambda _: None,
    )
    resources = {
        **infra_defs.resources,
        "settings": SettingsResource.from_settings(settings),
        "gcs": EmulatorAwareGCSResource(project=settings.project_id, endpoint=gcs_emulator),
        "artifacts": ArtifactStore(
            bucket=settings.artifacts_bucket, project=settings.project_id, endpoint=gcs_emulator
        ),
    }
    yield settings, manifest, resources
    os.environ.pop("CTSCAN_SANDBOX_DIR", None)
    os.environ.pop("CTSCAN_PROJECT_ID", None)


def _assets():
    from ctscan_ops.infra import assets as a

    return [
        a.terraform_state,
        a.terraform_plan,
        a.terraform_apply,
        a.alert_policy_drift,
        a.plan_has_no_destroys,
    ]


def test_state_plan_and_gates_per_environment(infra_world):
    _settings, manifest, resources = infra_world
    assert len(manifest["parts"]["infra"]["summary"]["uploaded"]) == 6  # 3 states + 3 plans
    with dg.instance_for_test() as instance:
        outcome = {}
        for env in ("dev", "staging", "prod"):
            res = dg.materialize(
                _assets(),
                selection=["terraform_state", "alert_policy_drift"],
                partition_key=env,
                instance=instance,
                resources=resources,
            )
            assert res.success
            res = dg.materialize(
                _assets(),
                selection=["terraform_plan", "terraform_apply"],
                partition_key=env,
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
            checks = {e.check_name: e.passed for e in res.get_asset_check_evaluations()}
            applied = {e.asset_key.to_user_string() for e in res.get_asset_materialization_events()}
            outcome[env] = (res.success, checks, applied)
        # dev has a pending destroy: the blocking check fails and the apply never runs
        ok, checks, applied = outcome["dev"]
        assert not ok and checks["plan_has_no_destroys"] is False
        assert "terraform_apply" not in applied and "terraform_plan" in applied
        # staging is clean: zero changes, apply allowed
        ok, checks, applied = outcome["staging"]
        assert ok and checks == {"plan_has_zero_changes": True, "plan_has_no_destroys": True}
        assert "terraform_apply" in applied
        # prod drifted (import in progress, console change): changes but no destroy
        ok, checks, applied = outcome["prod"]
        assert ok and checks["plan_has_zero_changes"] is False and checks["plan_has_no_destroys"]

        plan_md = instance.get_latest_materialization_event(
            dg.AssetKey("terraform_plan")
        ).asset_materialization.metadata
        assert "total_changes" in plan_md
        progress = plan_md["import_progress"].value
        assert progress["config_resources"] >= progress["in_state"] > 0
        # a second state materialization reports no added/removed addresses
        res = dg.materialize(
            _assets(),
            selection=["terraform_state"],
            partition_key="prod",
            instance=instance,
            resources=resources,
        )
        md = res.get_asset_materialization_events()[0].materialization.metadata
        assert md["added_since_last"].value == [] and md["first_materialization"].value is False


def test_policy_drift_names_the_deployed_change(infra_world):
    _settings, _manifest, resources = infra_world
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            _assets(),
            selection=["alert_policy_drift"],
            partition_key="prod",
            instance=instance,
            resources=resources,
        )
    md = res.get_asset_materialization_events()[0].materialization.metadata
    assert md["drifted_policies"].value >= 1
    assert "high_latency" in md["drift"].value
    overrides = md["deployed_overrides"].value
    assert overrides["high_latency"]["threshold_value"] == 2500
    doc = resources["artifacts"].get_json("infra/policy_drift/prod.json")
    assert doc["deployed_overrides"] == overrides


def test_secrets_never_reach_metadata_or_artifacts(infra_world, tmp_path):
    """A Slack token in state (as Terraform stores it, marked sensitive) is never copied."""
    import json

    from ctscan_ops.infra.state import state_object_name
    from ctscan_ops.resources import make_storage_client

    settings, _manifest, resources = infra_world
    secret = "xoxb-0000-TEST-SECRET-TOKEN"
    state = json.loads((settings.data_dir / "terraform" / "staging" / "state.json").read_text())
    state["resources"].append(
        {
            "mode": "managed",
            "type": "google_monitoring_notification_channel",
            "name": "slack",
            "module": "module.monitoring",
            "provider": 'provider["registry.terraform.io/hashicorp/google"]',
            "instances": [
                {
                    "index_key": 0,
                    "schema_version": 0,
                    "attributes": {
                        "id": "projects/p/notificationChannels/1",
                        "type": "slack",
                        "labels": {"channel_name": "#ct-scan-alerts"},
                        "sensitive_labels": [
                            {"auth_token": secret, "password": "", "service_key": ""}
                        ],
                    },
                    "sensitive_attributes": [[{"type": "get_attr", "value": "sensitive_labels"}]],
                }
            ],
        }
    )
    state["serial"] += 1
    client = make_storage_client(settings.project_id, settings.endpoints.gcs_url)
    client.bucket(settings.tf_state_bucket).blob(state_object_name("staging")).upload_from_string(
        json.dumps(state)
    )
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            _assets(),
            selection=["terraform_state", "alert_policy_drift"],
            partition_key="staging",
            instance=instance,
            resources=resources,
        )
        assert res.success
        md = res.get_asset_materialization_events()[0].materialization.metadata
        assert (
            "module.monitoring.google_monitoring_notification_channel.slack[0]"
            in str(md["added_since_last"].value)
            or md["first_materialization"].value
        )
        dumped = json.dumps(
            [str(e.materialization.metadata) for e in res.get_asset_materialization_events()]
        )
    assert secret not in dumped
    artifacts = resources["artifacts"]
    for key in artifacts.list_keys("infra/"):
        assert secret.encode() not in artifacts.get_bytes(key), key
