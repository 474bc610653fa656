"""Infra domain: Terraform state, plans, gates and alert-policy drift per environment."""

from typing import Any

import dagster as dg

from ctscan_ops.infra.assets import (
    alert_policy_drift,
    plan_has_no_destroys,
    terraform_apply,
    terraform_plan,
    terraform_state,
)
from ctscan_ops.infra.resources import TerraformResource

defs = dg.Definitions(
    assets=[terraform_state, terraform_plan, terraform_apply, alert_policy_drift],
    asset_checks=[plan_has_no_destroys],
    resources={"terraform": TerraformResource()},
)


def demo_steps(runner: Any) -> None:
    """State, plan (with its gates), drift for every environment; apply where the gate allows.

    dev's world carries a pending destroy, so its apply is expected to be stopped by the
    blocking ``plan_has_no_destroys`` check: the demo shows the gate doing its job.
    """
    from ctscan_ops.config import ENVIRONMENTS

    for env in ENVIRONMENTS:
        runner.materialize(["terraform_state", "alert_policy_drift"], partition_key=env)
        runner.materialize(
            ["terraform_plan", "terraform_apply"], partition_key=env, expect_blocked=(env == "dev")
        )
