"""The sandbox world's Terraform JSON, alert policy semantic drift, and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ctscan_ops.cli import main as ctscan_main
from ctscan_ops.infra.engine import TerraformEngine
from ctscan_ops.infra.plan import loads_plan, summarize_plan
from ctscan_ops.infra.policy_drift import (
    POLICY_TYPE,
    compare_policies,
    deployed_overrides,
    deployed_policies,
    policy_drift,
    policy_drift_from_files,
)
from ctscan_ops.infra.state import load_state, loads_state
from ctscan_ops.infra.tfjson import TerraformJSONError
from ctscan_ops.sandbox.worlds.infra import DRIFTED_POLICY_VALUES, generate_to

from .test_terraform_static import TF, module_calls, resources

END = datetime(2026, 11, 26, tzinfo=UTC)


def _rng(seed: int):
    return lambda part: np.random.default_rng([seed, zlib.crc32(part.encode())])


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    data_dir = tmp_path_factory.mktemp("world")
    return data_dir, generate_to(data_dir, _rng(7), END)


def test_world_scenarios(world):
    data_dir, summary = world
    assert set(summary) == {"dev", "staging", "prod"}
    assert summary["staging"]["counts"] == {"no-op": summary["staging"]["resources"]}
    dev = summarize_plan(loads_plan((data_dir / "terraform/dev/plan.json").read_text()))
    assert dev["destroy_count"] == 2
    assert {d["action_reason"] for d in dev["destroys"]} == {
        "delete_because_count_index",
        "delete_because_each_key",
    }
    prod_state = load_state(data_dir / "terraform/prod/state.json")
    prod = summarize_plan(
        loads_plan((data_dir / "terraform/prod/plan.json").read_text()), state=prod_state
    )
    assert prod["drift"][0]["address"] == "module.storage.google_storage_bucket.models"
    assert "labels" in prod["drift"][0]["changed_attributes"]
    assert prod["counts"]["update"] == 2 and prod["counts"]["create"] == 1
    assert prod["destroy_count"] == 0
    assert prod["import_progress"]["missing_from_state"] == [
        'module.firestore.google_firestore_index.feedback["feedback_by_class"]'
    ]
    assert 0 < prod["import_progress"]["percent"] < 100
    assert prod_state.serial == 57 and prod_state.lineage


def test_world_is_deterministic(world, tmp_path):
    data_dir, _ = world
    generate_to(tmp_path, _rng(7), END)
    for env in ("dev", "staging", "prod"):
        for name in ("state.json", "plan.json"):
            a = (data_dir / "terraform" / env / name).read_bytes()
            assert a == (tmp_path / "terraform" / env / name).read_bytes(), (env, name)
    generate_to(tmp_path / "other", _rng(8), END)
    other = json.loads((tmp_path / "other/terraform/prod/state.json").read_text())
    assert (
        other["lineage"]
        != json.loads((data_dir / "terraform/prod/state.json").read_text())["lineage"]
    )


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_world_state_is_read_by_real_terraform(world, env, tmp_path):
    data_dir, _ = world
    state_path = data_dir / "terraform" / env / "state.json"
    listed = TerraformEngine(tmp_path, timeout_s=60).run(["state", "list", f"-state={state_path}"])
    assert set(listed.stdout.split()) == load_state(state_path).addresses


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_world_resources_exist_in_the_terraform_config(world, env):
    """Every resource of the generated state and plan is declared by terraform/ for env."""
    data_dir, _ = world
    calls = module_calls(TF / "environments" / env)
    plan = json.loads((data_dir / "terraform" / env / "plan.json").read_text())
    state = load_state(data_dir / "terraform" / env / "state.json")
    addresses = {(r.module, r.type, r.name) for r in state.resources}
    addresses |= {
        (rc["module_address"], rc["type"], rc["name"])
        for rc in plan["resource_changes"]
        if rc["change"]["actions"] != ["delete"]
    }
    for module, rtype, name in addresses:
        call = module.split(".")[1]
        assert call in calls, (env, module)
        target = (TF / "environments" / env / calls[call]["source"]).resolve()
        assert (rtype, name) in resources(target), (env, module, rtype, name)


def test_world_json_has_terraforms_shape(world, tf_runs):
    """Same blocks and keys as the JSON real Terraform wrote in this session."""
    data_dir, _ = world
    real_plan = tf_runs.plan("change")
    plan = json.loads((data_dir / "terraform/prod/plan.json").read_text())
    assert set(plan) <= set(real_plan) | {"resource_drift"}
    real_rc_keys = set().union(*(set(rc) for rc in real_plan["resource_changes"]))
    real_change_keys = set(real_plan["resource_changes"][0]["change"])
    for rc in plan["resource_changes"] + plan["resource_drift"]:
        assert set(rc) <= real_rc_keys | {"module_address"}, set(rc) - real_rc_keys
        assert set(rc["change"]) == real_change_keys
    real_state = json.loads(tf_runs.tfstates["v1"])
    state = json.loads((data_dir / "terraform/prod/state.json").read_text())
    assert set(state) == set(real_state)
    real_inst = set().union(*(set(i) for r in real_state["resources"] for i in r["instances"]))
    for res in state["resources"]:
        assert set(res) <= {"module", "mode", "type", "name", "provider", "instances", "each"}
        for inst in res["instances"]:
            assert set(inst) <= real_inst | {"private", "dependencies", "index_key"}
            assert re.fullmatch(
                r"provider\[\"registry\.terraform\.io/hashicorp/google\"\]", res["provider"]
            )


def test_policy_drift_on_world(world):
    data_dir, _ = world
    reports = {
        env: policy_drift_from_files(data_dir / "terraform" / env / "state.json", env)
        for env in ("dev", "staging", "prod")
    }
    assert reports["dev"]["drifted"] == [] and reports["staging"]["drifted"] == []
    assert reports["prod"]["policies_checked"] == 11
    (item,) = reports["prod"]["drifted"]
    assert item["policy"] == "high_latency"
    assert {f["field"]: (f["deployed"], f["expected"]) for f in item["fields"]} == {
        "threshold_value": (2500.0, 2000.0),
        "duration": ("600s", "300s"),
    }
    snap = load_state(data_dir / "terraform/prod/state.json", keep_values_for={POLICY_TYPE})
    assert deployed_overrides(snap, reports["prod"]) == {
        "high_latency": {"enabled": False, "threshold_value": 2500.0, "duration": "600s"}
    }


def test_overrides_that_match_the_deployment_clear_the_drift(world):
    """alert_overrides win over the catalog: tuning to the deployed values means no drift."""
    data_dir, _ = world
    snap = load_state(data_dir / "terraform/prod/state.json", keep_values_for={POLICY_TYPE})
    report = policy_drift(snap, "prod", alert_overrides={"high_latency": DRIFTED_POLICY_VALUES})
    assert report["drifted"] == []
    # Enabling P1/P2 (staging's setting) makes every deployed P1/P2 policy drift on enabled.
    report = policy_drift(snap, "prod", enable_p1_p2_alerts=True)
    enabled_drift = {d["policy"] for d in report["drifted"] if d["fields"][0]["field"] == "enabled"}
    assert enabled_drift == {
        "high_latency",
        "data_drift",
        "low_prediction_confidence",
        "elevated_error_rate",
        "model_accuracy_degradation",
        "high_cpu",
        "storage_warning",
    }


def test_compare_policies_hand_computed():
    expected = {
        "a": {"enabled": True, "conditions": [{"threshold_value": 0.05, "duration_s": 60}]},
        "b": {
            "enabled": False,
            "conditions": [
                {"threshold_value": 5e8, "duration_s": 0},
                {"threshold_value": 1e9, "duration_s": 0},
            ],
        },
        "c": {"enabled": True, "conditions": [{"threshold_value": 1, "duration_s": 0}]},
    }
    deployed = {
        "a": {"enabled": True, "conditions": [{"threshold_value": 0.05 + 1e-15, "duration_s": 60}]},
        "b": {
            "enabled": False,
            "conditions": [
                {"threshold_value": 5e8, "duration_s": 0},
                {"threshold_value": 2e9, "duration_s": 0},
            ],
        },
        "z": {"enabled": True, "conditions": []},
    }
    r = compare_policies(deployed, expected)
    assert r["drifted"] == [
        {
            "policy": "b",
            "address": None,
            "fields": [
                {"field": "conditions[1].threshold_value", "deployed": 2e9, "expected": 1e9}
            ],
        }
    ]
    assert r["missing_from_state"] == ["c"] and r["not_in_catalog"] == ["z"]
    assert r["policies_checked"] == 2


def test_policy_values_must_be_loaded(world):
    data_dir, _ = world
    snap = load_state(data_dir / "terraform/prod/state.json")  # values dropped
    with pytest.raises(TerraformJSONError, match="keep_values_for"):
        deployed_policies(snap)


# ---------------------------------------------------------------------------- CLI
def run_cli(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = ctscan_main(["terraform", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_cli_summarize_plan_with_state(world, capsys):
    data_dir, _ = world
    code, doc, _ = run_cli(
        capsys,
        "summarize",
        str(data_dir / "terraform/prod/plan.json"),
        "--state",
        str(data_dir / "terraform/prod/state.json"),
    )
    assert code == 0
    assert doc["kind"] == "plan" and doc["format_version"] == "1.2"
    assert doc["terraform_version"] == "1.11.4"
    assert set(doc["counts"]) == {
        "create",
        "update",
        "delete",
        "replace",
        "read",
        "no-op",
        "forget",
    }
    assert doc["drift"][0]["address"] == "module.storage.google_storage_bucket.models"
    assert doc["destroys"] == []
    assert doc["import_progress"]["source"] == "state"


def test_cli_summarize_state_and_real_plan(world, tf_runs, tmp_path, capsys):
    data_dir, _ = world
    code, doc, _ = run_cli(capsys, "summarize", str(data_dir / "terraform/staging/state.json"))
    assert code == 0 and doc["kind"] == "state"
    assert doc["by_module"]["module.monitoring"] == 13  # 11 policies + channel + log metric
    assert doc["by_type"]["google_monitoring_alert_policy"] == 11
    assert doc["serial"] == 6
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(tf_runs.plans["change"])
    code, doc, _ = run_cli(capsys, "summarize", str(plan_file))
    assert code == 0 and doc["counts"]["replace"] == 2
    assert {d["address"] for d in doc["destroys"]} >= {"terraform_data.gone"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format_version": "1.2", "resource_changes": [', "not valid JSON"),
        ('{"format_version": "3.0", "planned_values": {}}', "unsupported major version 3"),
        ('{"name": "not terraform"}', "neither a Terraform plan/state JSON"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, doc, err = run_cli(capsys, "summarize", str(bad))
    assert code == 2 and doc is None
    assert message in err and str(bad) in err


def test_cli_missing_file_and_plan_as_state(world, tmp_path, capsys):
    data_dir, _ = world
    code, _, err = run_cli(capsys, "summarize", str(tmp_path / "nope.json"))
    assert code == 2 and "nope.json: no such file" in err
    plan = str(data_dir / "terraform/dev/plan.json")
    code, _, err = run_cli(capsys, "summarize", plan, "--state", plan)
    assert code == 2 and "is a plan, not a state" in err


def test_cli_policy_drift(world, capsys):
    data_dir, _ = world
    code = ctscan_main(
        ["terraform", "policy-drift", str(data_dir / "terraform/prod/state.json"), "-e", "prod"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["drifted_count"] == 1


def test_entry_point_runs_summarize(world):
    data_dir, _ = world
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ctscan_ops.cli",
            "terraform",
            "summarize",
            "--compact",
            str(data_dir / "terraform/dev/plan.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["destroy_count"] == 2 and len(proc.stdout.strip().splitlines()) == 1


def test_state_loader_handles_generated_show_json(world):
    """The plan's prior_state is show -json shaped; it parses as a state too."""
    data_dir, _ = world
    plan = json.loads((data_dir / "terraform/prod/plan.json").read_text())
    snap = loads_state(json.dumps(plan["prior_state"]), keep_values_for={POLICY_TYPE})
    assert len(deployed_policies(snap)) == 11


def test_world_part_through_the_sandbox_framework(tmp_path):
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import generate_world

    settings = get_settings(
        {
            "CTSCAN_MODE": "sandbox",
            "CTSCAN_DATA_DIR": str(tmp_path / "data"),
            "CTSCAN_SANDBOX_DIR": str(tmp_path / "sandbox"),
        }
    )
    manifest = generate_world(settings, seed=7, end=END, parts=("infra",), progress=lambda m: None)
    summary = manifest["parts"]["infra"]["summary"]
    assert summary["dev"]["destroys"] == 2 and summary["staging"]["counts"] == {
        "no-op": summary["staging"]["resources"]
    }
    for env in ("dev", "staging", "prod"):
        assert (settings.data_dir / "terraform" / env / "state.json").exists()
        assert (settings.data_dir / "terraform" / env / "plan.json").exists()
    # Same seed and end as the module fixture: the same files.
    assert manifest["parts"]["infra"]["summary"]["prod"]["import_percent"] < 100
