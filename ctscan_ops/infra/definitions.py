"""Infra domain: Terraform state, plans, gates and alert-policy drift per environment."""

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
