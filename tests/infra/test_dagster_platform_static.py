"""Static gates on terraform/modules/dagster_platform (Dagster's own infrastructure on GCP).

The same offline checks as tests/infra/test_terraform_static.py applies to the other modules
(no Google provider can be downloaded here): references resolve, every environment's call passes
declared and required variables, the README documents inputs and outputs, checkov skips carry a
reason; plus what this module promises: private-IP PostgreSQL 15 with TLS required, no secret
value in Terraform, least-privilege grants, Workload Identity for exactly one Kubernetes SA.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.test_terraform_static import (
    ENVS,
    META_ARGS,
    MODULES,
    TF,
    module_calls,
    outputs,
    parse_dir,
    resources,
    source_text,
    strip_comments,
    variables,
)

MODULE = MODULES / "dagster_platform"
REPO = TF.parent


def _resource(rtype: str, name: str) -> dict:
    for block in parse_dir(MODULE).get("resource", []):
        if rtype in block and name in block[rtype]:
            return block[rtype][name]
    raise KeyError((rtype, name))


def test_module_references_resolve():
    text = strip_comments(source_text(MODULE))
    declared_vars = variables(MODULE)
    for var in set(re.findall(r"\bvar\.([a-z0-9_]+)", text)):
        assert var in declared_vars, f"var.{var} is not declared"
    declared = resources(MODULE)
    for rtype, name in set(re.findall(r"(?<![\w\"/.-])(google_[a-z0-9_]+)\.([a-z0-9_]+)", text)):
        assert (rtype, name) in declared, f"{rtype}.{name} undeclared"
    locals_declared = {
        k for block in parse_dir(MODULE).get("locals", []) for k in block if not k.startswith("__")
    }
    for local in set(re.findall(r"\blocal\.([a-z0-9_]+)", text)):
        assert local in locals_declared, f"local.{local} is not declared"


def test_versions_pin_the_google_provider_like_every_module():
    assert (MODULE / "versions.tf").read_text() == (MODULES / "storage" / "versions.tf").read_text()


@pytest.mark.parametrize("env", ENVS)
def test_every_environment_calls_the_module_correctly(env):
    env_dir = TF / "environments" / env
    call = module_calls(env_dir)["dagster_platform"]
    assert (env_dir / call["source"]).resolve() == MODULE
    declared = variables(MODULE)
    passed = {k for k in call if not k.startswith("__")} - META_ARGS
    assert not passed - declared.keys(), passed - declared.keys()
    required = {k for k, v in declared.items() if "default" not in v}
    assert not required - passed, required - passed
    suffix = "" if env == "prod" else f"-{env}"
    assert call["name_prefix"] == f"dagster{suffix}"
    assert call["sql_high_availability"] is (env == "prod")
    text = strip_comments(source_text(env_dir))
    for mod, out in re.findall(r"\bmodule\.([a-z0-9_]+)\.([a-z0-9_]+)", text):
        target = (env_dir / module_calls(env_dir)[mod]["source"]).resolve()
        assert out in outputs(target), f"{env}: module.{mod} has no output {out!r}"


def test_readme_documents_inputs_outputs_and_import():
    readme = (MODULE / "README.md").read_text()
    assert "## Inputs" in readme and "## Outputs" in readme and "## Import" in readme
    for name in variables(MODULE):
        assert f"`{name}`" in readme, name
    for name in outputs(MODULE):
        assert f"`{name}`" in readme, name
    assert all("description" in v for v in variables(MODULE).values())
    assert all("description" in v for v in outputs(MODULE).values())


def test_cloud_sql_is_private_tls_only_postgres_15_with_backups():
    sql = _resource("google_sql_database_instance", "dagster")
    assert sql["database_version"] == "POSTGRES_15"  # the version tests/deploy runs against
    assert sql["deletion_protection"] == "${var.deletion_protection}"
    settings = sql["settings"][0] if isinstance(sql["settings"], list) else sql["settings"]
    ip = settings["ip_configuration"]
    ip = ip[0] if isinstance(ip, list) else ip
    assert ip["ipv4_enabled"] is False and ip["ssl_mode"] == "ENCRYPTED_ONLY"
    assert "authorized_networks" not in ip
    backup = settings["backup_configuration"]
    backup = backup[0] if isinstance(backup, list) else backup
    assert backup["enabled"] is True and backup["point_in_time_recovery_enabled"] is True
    # The Helm values and the prod instance config connect the way this instance allows.
    import yaml

    prod = yaml.safe_load((REPO / "deploy" / "dagster.prod.yaml").read_text())
    assert prod["storage"]["postgres"]["postgres_db"]["params"]["sslmode"] == "require"


def test_no_secret_value_in_terraform():
    text = strip_comments(source_text(MODULE))
    assert "google_secret_manager_secret_version" not in text
    assert "random_password" not in text
    user = _resource("google_sql_user", "dagster")
    assert "password" not in user and user["type"] == "BUILT_IN"
    for env in ENVS:
        call = module_calls(TF / "environments" / env)["dagster_platform"]
        assert not any("password" in k for k in call), env


def test_least_privilege_and_workload_identity():
    text = strip_comments(source_text(MODULE))
    grants = strip_comments((MODULE / "main.tf").read_text())
    forbidden = (
        "roles/owner",
        "roles/editor",
        "roles/storage.admin",
        "roles/iam.serviceAccountUser",
    )
    for role in forbidden:
        assert role not in grants, role
    project_roles = variables(MODULE)["runtime_project_roles"]["default"]
    assert set(project_roles) == {
        "roles/monitoring.viewer",
        "roles/monitoring.metricWriter",
        "roles/datastore.user",
    }
    assert not any("storage" in r for r in project_roles)  # storage is granted per bucket
    wi = _resource("google_service_account_iam_member", "workload_identity")
    assert wi["role"] == "roles/iam.workloadIdentityUser"
    assert wi["member"] == "${local.ksa_member}"
    assert ".svc.id.goog[${var.kubernetes_namespace}/${var.kubernetes_service_account}]" in text
    # The Kubernetes SA it binds is the Helm chart's (deploy/helm/values.yaml).
    import yaml

    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    ksa_default = variables(MODULE)["kubernetes_service_account"]["default"]
    assert values["global"]["serviceAccountName"] == ksa_default
    gsa = values["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert gsa.startswith("dagster-runtime@")  # prod's name_prefix "dagster" + "-runtime"


def test_buckets_are_hardened():
    for name in ("compute_logs", "artifacts"):
        bucket = _resource("google_storage_bucket", name)
        assert bucket["uniform_bucket_level_access"] is True
        assert bucket["public_access_prevention"] == "enforced"
        assert bucket["force_destroy"] is False
        assert "lifecycle_rule" in bucket
    grants = json.dumps(parse_dir(MODULE)["resource"])
    assert grants.count("roles/storage.objectAdmin") == 2  # compute logs + artifacts only


def test_checkov_skips_are_justified():
    for f in MODULE.glob("*.tf"):
        for line in f.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{15,}", line), (f, line)


def test_the_module_is_in_the_fmt_and_checkov_scope():
    """scripts/checkov.sh scans terraform/ recursively and test_terraform_fmt_check_recursive
    runs `terraform fmt -check -recursive` on terraform/: both cover this module by path."""
    script = (REPO / "scripts" / "checkov.sh").read_text()
    assert "-d terraform" in script
    assert Path(MODULE).is_relative_to(TF)
