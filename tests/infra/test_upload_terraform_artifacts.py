"""The workflow's upload step: scripts/upload-terraform-artifacts.py against the GCS emulator.

Real Terraform output (the session's ``tf_runs``: ``show -json`` of a plan, ``state pull``) is
uploaded by the script exactly as CI runs it; then the assets' own readers find it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml

from tests.infra.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "upload-terraform-artifacts.py"
WORKFLOW = ROOT / ".github" / "workflows" / "terraform.yml"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CTSCAN_")} | env
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=full, capture_output=True, text=True, timeout=60
    )


@pytest.fixture()
def project(gcs_emulator) -> str:
    from ctscan_ops.resources.storage import make_storage_client

    name = f"p{uuid.uuid4().hex[:10]}"
    client = make_storage_client(name, gcs_emulator)
    for bucket in (f"{name}-ctscan-artifacts", f"{name}-tfstate"):
        client.create_bucket(bucket)
    return name


def test_uploads_where_terraform_state_and_plan_read(tf_runs, project, tmp_path, monkeypatch):
    from ctscan_ops.config import get_settings
    from ctscan_ops.infra.assets import terraform_plan, terraform_state
    from ctscan_ops.infra.resources import TerraformResource
    from ctscan_ops.resources.settings import SettingsResource
    from ctscan_ops.resources.storage import ArtifactStore, EmulatorAwareGCSResource

    plan = tmp_path / "plan.json"
    plan.write_text(tf_runs.plans["change"])
    state = tmp_path / "state.json"
    state.write_text(tf_runs.tfstates["v2"])
    assert SECRET in state.read_text()  # the no-leak assertions below are not vacuous
    endpoint = os.environ["STORAGE_EMULATOR_HOST"]
    out = run(
        ["--environment", "prod", "--plan-json", str(plan), "--state-file", str(state)],
        {"CTSCAN_PROJECT_ID": project, "STORAGE_EMULATOR_HOST": endpoint},
    )
    assert out.returncode == 0, out.stderr
    assert SECRET not in out.stdout + out.stderr
    assert f"gs://{project}-tfstate/environments/prod/default.tfstate" in out.stdout

    # the code location configured for the same project reads exactly those objects
    monkeypatch.setenv("CTSCAN_PROJECT_ID", project)
    monkeypatch.delenv("CTSCAN_TF_STATE_BUCKET", raising=False)
    monkeypatch.delenv("CTSCAN_ARTIFACTS_BUCKET", raising=False)
    s = get_settings()
    resources = {
        "gcs": EmulatorAwareGCSResource(project=project, endpoint=endpoint),
        "artifacts": ArtifactStore(bucket=s.artifacts_bucket, project=project, endpoint=endpoint),
        "terraform": TerraformResource(),
        "settings": SettingsResource.from_settings(s),
    }
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            [terraform_state, terraform_plan],
            partition_key="prod",
            instance=instance,
            resources=resources,
        )
    assert res.success
    state_md = res.asset_materializations_for_node("terraform_state")[0].metadata
    managed = [r for r in json.loads(tf_runs.tfstates["v2"])["resources"] if r["mode"] == "managed"]
    assert state_md["resources"].value == sum(len(r["instances"]) for r in managed)
    checks = {c.check_name: c.passed for c in res.get_asset_check_evaluations()}
    assert checks["plan_has_zero_changes"] is False  # the "change" plan was found and read


def test_backend_state_is_not_rewritten_and_bad_input_is_not_echoed(tf_runs, project, tmp_path):
    from ctscan_ops.resources.storage import make_storage_client

    endpoint = os.environ["STORAGE_EMULATOR_HOST"]
    env = {"CTSCAN_PROJECT_ID": project, "STORAGE_EMULATOR_HOST": endpoint}
    state = tmp_path / "state.json"
    state.write_text(tf_runs.tfstates["v2"])
    backend = tmp_path / "terraform.tfstate"
    backend.write_text(
        json.dumps(
            {
                "version": 3,
                "backend": {
                    "type": "gcs",
                    "config": {"bucket": f"{project}-tfstate", "prefix": "environments/dev"},
                },
            }
        )
    )
    out = run(
        ["--environment", "dev", "--state-file", str(state), "--backend-config", str(backend)],
        env,
    )
    assert out.returncode == 0 and "backend's own state object" in out.stdout
    client = make_storage_client(project, endpoint)
    assert client.bucket(f"{project}-tfstate").get_blob("environments/dev/default.tfstate") is None

    bad = tmp_path / "bad.json"
    bad.write_text(f'{{"password": "{SECRET}", oops')
    out = run(["--environment", "dev", "--plan-json", str(bad)], env)
    assert out.returncode == 2 and "is not JSON" in out.stderr
    assert SECRET not in out.stdout + out.stderr
    out = run(["--environment", "dev", "--state-file", str(tmp_path / "plan-not-state.json")], env)
    assert out.returncode == 2 and "cannot read the state" in out.stderr
    out = run(["--environment", "qa"], env)
    assert out.returncode == 2 and "not one of" in out.stderr


def test_workflow_calls_the_script_and_keeps_state_out_of_artifacts() -> None:
    wf = yaml.safe_load(WORKFLOW.read_text())
    steps = wf["jobs"]["apply"]["steps"]
    runs = [s.get("run", "") for s in steps]
    calls = [r for r in runs if "upload-terraform-artifacts.py" in r]
    assert len(calls) == 1
    assert "--plan-json" in calls[0] and "--state-file" in calls[0]
    assert "terraform state pull" in calls[0] and "--backend-config" in calls[0]
    auth = [s for s in steps if str(s.get("uses", "")).startswith("google-github-actions/auth")]
    assert auth and "workload_identity_provider" in auth[0]["with"]
    for job in wf["jobs"].values():
        for step in job.get("steps", []):
            assert not str(step.get("uses", "")).startswith("actions/upload-artifact"), step
