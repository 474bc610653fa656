"""deploy/helm/values.yaml against the official Dagster chart, and against deploy/dagster.prod.yaml.

No cluster and no chart download here: every key path of our values must exist in the chart's
documented keys (transcribed from its values.schema.json at a noted commit into
tests/deploy/data/dagster_chart_keys.yaml), the instance the chart would render must agree with
deploy/dagster.prod.yaml (the file the PostgreSQL suite runs), and the Kubernetes secret the README
creates must have the key the chart reads. Heavy-step op tags parse with dagster-k8s's own parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
PROD = yaml.safe_load((REPO / "deploy" / "dagster.prod.yaml").read_text())
CHART = yaml.safe_load((Path(__file__).parent / "data" / "dagster_chart_keys.yaml").read_text())
README = (REPO / "deploy" / "README.md").read_text()


def unknown_paths(values: Any, schema: Any, path: str = "") -> list[str]:
    """Key paths of ``values`` that ``schema`` (the vendored key tree) does not document."""
    if schema == "open":
        return []
    if schema == "leaf":
        if isinstance(values, dict):
            return [f"{path} (a scalar in the chart, got a mapping)"]
        return []
    if isinstance(schema, list):
        if not isinstance(values, list):
            return [f"{path} (a list in the chart)"]
        item = schema[0]
        return [p for i, v in enumerate(values) for p in unknown_paths(v, item, f"{path}[{i}]")]
    if not isinstance(values, dict):
        return [f"{path} (a mapping in the chart)"]
    out = []
    for key, value in values.items():
        child = f"{path}.{key}" if path else key
        if key not in schema:
            out.append(child)
        else:
            out += unknown_paths(value, schema[key], child)
    return out


def test_the_key_checker_catches_typos():
    bad = {
        "dagsterDaemon": {"runCoordinater": {}},
        "postgresql": {"postgresqlScheme": {"x": 1}},
        "dagster-user-deployments": {"deployments": [{"name": "a", "imagee": {}}]},
        "webserver": {},
    }
    assert sorted(unknown_paths(bad, CHART["keys"])) == [
        "dagster-user-deployments.deployments[0].imagee",
        "dagsterDaemon.runCoordinater",
        "postgresql.postgresqlScheme (a scalar in the chart, got a mapping)",
        "webserver",
    ]


def test_every_values_key_is_a_documented_chart_key():
    assert set(CHART["keys"]) == set(CHART["top_level_properties"])
    assert unknown_paths(VALUES, CHART["keys"]) == []


def test_enumerated_values():
    enums = CHART["enums"]
    assert VALUES["runLauncher"]["type"] in enums["runLauncher.type"]
    assert VALUES["computeLogManager"]["type"] in enums["computeLogManager.type"]
    coordinator = VALUES["dagsterDaemon"]["runCoordinator"]["type"]
    assert coordinator in enums["dagsterDaemon.runCoordinator.type"]
    policies = [d["image"]["pullPolicy"] for d in VALUES["dagster-user-deployments"]["deployments"]]
    assert set(policies) <= set(enums["pullPolicy"])


def rendered_instance(values: dict[str, Any]) -> dict[str, Any]:
    """The dagster.yaml settings the chart renders from values (configmap-instance.yaml, at the
    commit noted in the key list), for the keys deploy/dagster.prod.yaml sets."""
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    gcs = values["computeLogManager"]["config"]["gcsComputeLogManager"]
    pg = values["postgresql"]
    extra = values.get("additionalInstanceConfig", {})
    return {
        "postgres": {
            "port": pg["service"]["port"],
            "scheme": pg["postgresqlScheme"],
            "params": pg["postgresqlParams"],
        },
        "run_coordinator": "QueuedRunCoordinator" if daemon["runCoordinator"]["enabled"] else None,
        "max_concurrent_runs": queued["maxConcurrentRuns"],
        "tag_concurrency_limits": queued["tagConcurrencyLimits"],
        "pools": extra["concurrency"]["pools"],
        "run_launcher": values["runLauncher"]["type"],
        "run_service_account": values["global"]["serviceAccountName"],
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "compute_logs": {
            "class": values["computeLogManager"]["type"],
            "prefix": gcs["prefix"],
            "upload_interval": gcs["uploadInterval"],
            "show_url_only": gcs["showUrlOnly"],
        },
        "run_monitoring": {
            "enabled": daemon["runMonitoring"]["enabled"],
            "start_timeout_seconds": daemon["runMonitoring"]["startTimeoutSeconds"],
        },
        "run_retries": {
            "enabled": daemon["runRetries"]["enabled"],
            "max_retries": daemon["runRetries"]["maxRetries"],
        },
        "sensors": {
            "use_threads": daemon["sensors"]["useThreads"],
            "num_workers": daemon["sensors"]["numWorkers"],
        },
        "schedules": {
            "use_threads": daemon["schedules"]["useThreads"],
            "num_workers": daemon["schedules"]["numWorkers"],
        },
        "retention": {
            "schedule": values["retention"]["schedule"]["purgeAfterDays"],
            "sensor": {
                k: v
                for k, v in values["retention"]["sensor"]["purgeAfterDays"].items()
                if k != "started"
            },
        },
        "telemetry": values["telemetry"]["enabled"],
    }


def prod_settings(prod: dict[str, Any]) -> dict[str, Any]:
    pg = prod["storage"]["postgres"]["postgres_db"]
    runs = prod["concurrency"]["runs"]
    launcher = prod["run_launcher"]
    logs = prod["compute_logs"]
    return {
        "postgres": {"port": pg["port"], "scheme": pg["scheme"], "params": pg["params"]},
        "run_coordinator": prod["run_coordinator"]["class"],
        "max_concurrent_runs": runs["max_concurrent_runs"],
        "tag_concurrency_limits": runs["tag_concurrency_limits"],
        "pools": prod["concurrency"]["pools"],
        "run_launcher": launcher["class"],
        "run_service_account": launcher["config"]["service_account_name"],
        "postgres_password_secret": launcher["config"]["postgres_password_secret"],
        "compute_logs": {
            "class": logs["class"],
            "prefix": logs["config"]["prefix"],
            "upload_interval": logs["config"]["upload_interval"],
            "show_url_only": logs["config"]["show_url_only"],
        },
        "run_monitoring": {
            k: prod["run_monitoring"][k] for k in ("enabled", "start_timeout_seconds")
        },
        "run_retries": {k: prod["run_retries"][k] for k in ("enabled", "max_retries")},
        "sensors": prod["sensors"],
        "schedules": prod["schedules"],
        "retention": {
            "schedule": prod["retention"]["schedule"]["purge_after_days"],
            "sensor": prod["retention"]["sensor"]["purge_after_days"],
        },
        "telemetry": prod["telemetry"]["enabled"],
    }


def test_chart_renders_the_instance_of_the_prod_file():
    assert rendered_instance(VALUES) == prod_settings(PROD)
    assert VALUES["postgresql"]["enabled"] is False  # Cloud SQL, not an in-cluster database
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["migrate"]["enabled"] is True


def test_workload_identity_and_non_root_code_server():
    sa = VALUES["serviceAccount"]
    assert sa["create"] and sa["name"] == VALUES["global"]["serviceAccountName"]
    gsa = sa["annotations"]["iam.gke.io/gcp-service-account"]
    assert re.fullmatch(r"dagster-runtime@PROJECT_ID\.iam\.gserviceaccount\.com", gsa)
    (dep,) = VALUES["dagster-user-deployments"]["deployments"]
    assert dep["podSecurityContext"]["runAsNonRoot"] is True
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"USER {dep['podSecurityContext']['runAsUser']}:" in dockerfile
    assert dep["securityContext"]["allowPrivilegeEscalation"] is False
    assert dep["dagsterApiGrpcArgs"][:2] == ["-m", "ctscan_ops.definitions"]
    env = {e["name"]: e["value"] for e in dep["env"]}
    assert env["CTSCAN_MODE"] == "gcp"
    assert dep["includeConfigInLaunchedRuns"]["enabled"] is True


def test_heavy_step_op_tags_parse_and_name_real_assets():
    from dagster_k8s.job import get_user_defined_k8s_config

    from ctscan_ops.definitions import defs
    from ctscan_ops.k8s_resources import HEAVY_STEPS, k8s_op_tags

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(HEAVY_STEPS) <= keys, set(HEAVY_STEPS) - keys
    assert {"drift_report", "model_evaluation"} <= set(HEAVY_STEPS)
    for name, resources in HEAVY_STEPS.items():
        tags = {k: json.dumps(v) for k, v in k8s_op_tags(name).items()}  # as Dagster stores them
        parsed = get_user_defined_k8s_config(tags)
        assert parsed.container_config["resources"] == resources
        for quantity in [*resources["requests"].values(), *resources["limits"].values()]:
            assert re.fullmatch(r"\d+(\.\d+)?(m|Mi|Gi)?", quantity), (name, quantity)
        assert f"`{name}`" in README, f"deploy/README.md does not document {name}"
    with pytest.raises(KeyError, match="terraform_plan"):
        k8s_op_tags("terraform_plan")


def test_placeholders_are_explained_in_the_readme():
    text = (REPO / "deploy" / "helm" / "values.yaml").read_text()
    uncommented = "\n".join(line.split("#")[0] for line in text.splitlines())
    words = set(re.findall(r"\b[A-Z][A-Z_]{5,}\b", uncommented))
    placeholders = {w for w in words if not w.startswith("CTSCAN_")}
    assert placeholders == {"PROJECT_ID", "IMAGE_TAG", "CLOUD_SQL_PRIVATE_IP"}
    for p in placeholders:
        assert p in README, p


def test_readme_fills_every_placeholder_and_nothing_else():
    """The README's sed line (whole-word substitution), applied here with re: no placeholder is
    left, and CTSCAN_PROJECT_ID (which contains PROJECT_ID) survives."""
    command = README[README.index("sed -e") : README.index("> values.")]
    subs = re.findall(r"s\|\\b([A-Z_]+)\\b\|\$([A-Z_]+)\|g", command)
    assert {a for a, b in subs if a == b} == {"PROJECT_ID", "IMAGE_TAG", "CLOUD_SQL_PRIVATE_IP"}
    text = (REPO / "deploy" / "helm" / "values.yaml").read_text()
    filled = text
    for name in ("PROJECT_ID", "IMAGE_TAG", "CLOUD_SQL_PRIVATE_IP"):
        filled = re.sub(rf"\b{name}\b", f"filled-{name.lower()}", filled)
    assert "CTSCAN_PROJECT_ID" in filled
    values = yaml.safe_load(filled)
    (dep,) = values["dagster-user-deployments"]["deployments"]
    assert dep["image"]["tag"] == "filled-image_tag"
    assert values["postgresql"]["postgresqlHost"] == "filled-cloud_sql_private_ip"
    sa = values["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert sa == "dagster-runtime@filled-project_id.iam.gserviceaccount.com"
    assert unknown_paths(values, CHART["keys"]) == []


def test_bucket_names_match_prod_terraform():
    """The code server's buckets are the ones Terraform creates and grants in prod."""
    from tests.infra.test_terraform_static import TF, module_calls

    calls = module_calls(TF / "environments" / "prod")
    (dep,) = VALUES["dagster-user-deployments"]["deployments"]
    env = {e["name"]: e["value"] for e in dep["env"]}
    storage, platform = calls["storage"], calls["dagster_platform"]
    assert env["CTSCAN_MODELS_BUCKET"] == storage["models_bucket_name"]
    assert env["CTSCAN_DRIFT_LOGS_BUCKET"] == storage["drift_logs_bucket_name"]
    assert env["CTSCAN_TF_STATE_BUCKET"] == storage["terraform_state_bucket_name"]
    assert env["CTSCAN_ARTIFACTS_BUCKET"] == platform["artifacts_bucket_name"]
    gcs = VALUES["computeLogManager"]["config"]["gcsComputeLogManager"]
    assert gcs["bucket"] == platform["compute_log_bucket_name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_readme_secret_command_gives_the_key_the_chart_reads(tmp_path):
    """`kubectl apply --dry-run=client` needs an API server for discovery (none here), but
    `kubectl create secret ... --dry-run=client -o yaml` renders offline: the README's command
    must produce the secret name and key the chart's pods read (postgresql-password)."""
    line = next(ln for ln in README.splitlines() if "kubectl create secret generic" in ln)
    name = VALUES["global"]["postgresqlSecretName"]
    assert name in line and "--from-literal=postgresql-password=" in line
    proc = subprocess.run(
        [
            *("kubectl", "create", "secret", "generic", name, "-n", "dagster"),
            *("--from-literal=postgresql-password=example", "--dry-run=client", "-o", "yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    secret = yaml.safe_load(proc.stdout)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == name
    assert set(secret["data"]) == {"postgresql-password"}
