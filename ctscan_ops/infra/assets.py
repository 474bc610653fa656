"""Terraform state and plans per environment, their gates, and alert-policy drift.

Thin wrappers over the pure parsers (:mod:`state`, :mod:`plan`, :mod:`policy_drift`): read the
state object the GCS backend keeps, read the plan JSON (uploaded by CI, or produced by the
engine), summarise, redact, and store small summaries. ``plan_has_no_destroys`` is a blocking
check: ``terraform_apply`` never runs past a plan that deletes or replaces anything.
"""

import dagster as dg
from pydantic import Field

from ctscan_ops import automation
from ctscan_ops.infra.resources import TerraformResource
from ctscan_ops.partitions import environment_partitions
from ctscan_ops.resources import ArtifactStore, EmulatorAwareGCSResource, SettingsResource

POLICY_TYPE = "google_monitoring_alert_policy"
PLAN_FILE = "ctscan.tfplan"  # saved in the environment dir; apply runs exactly this plan


def _content_hash(doc: object) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_artifact_key(environment: str) -> str:
    """Where CI uploads ``terraform show -json plan`` for an environment."""
    return f"infra/plans/{environment}/plan.json"


def summary_key(environment: str) -> str:
    return f"infra/plans/{environment}/summary.json"


class PlanSourceConfig(dg.Config):
    source: str = Field(
        default="artifact",
        description="'artifact': the plan JSON CI uploaded; 'engine': run terraform plan here",
    )


def _read_state_object(gcs: EmulatorAwareGCSResource, bucket: str, environment: str) -> bytes:
    from ctscan_ops.infra.state import state_object_name

    blob = gcs.get_client().bucket(bucket).blob(state_object_name(environment))
    if not blob.exists():
        raise dg.Failure(
            f"no Terraform state for {environment}: gs://{bucket}/{blob.name} does not exist "
            "(has this environment been applied or imported yet?)"
        )
    return blob.download_as_bytes()


@dg.asset(
    group_name="infra",
    partitions_def=environment_partitions,
    kinds={"terraform", "gcs"},
    automation_condition=automation.TERRAFORM_STATE,
)
def terraform_state(
    context: dg.AssetExecutionContext,
    gcs: EmulatorAwareGCSResource,
    artifacts: ArtifactStore,
    settings: SettingsResource,
) -> dg.MaterializeResult:
    """What Terraform manages in an environment, from the GCS backend's state object."""
    from ctscan_ops.infra.state import diff_states, loads_state, state_markdown, summarize_state

    env = context.partition_key
    raw = _read_state_object(gcs, settings.tf_state_bucket, env)
    where = f"gs://{settings.tf_state_bucket}/environments/{env}/default.tfstate"
    snapshot = loads_state(raw, where)
    summary = summarize_state(snapshot)
    previous_key = f"infra/state/{env}/addresses.json"
    previous = None
    if artifacts.exists(previous_key):
        prev = artifacts.get_json(previous_key)
        previous = set(prev["addresses"])
    diff = diff_states(None, snapshot)
    if previous is not None:
        now = set(snapshot.addresses)
        diff = {
            "added": sorted(now - previous),
            "removed": sorted(previous - now),
            "unchanged": len(now & previous),
        }
    artifacts.put_json(
        previous_key,
        {
            "serial": snapshot.serial,
            "lineage": snapshot.lineage,
            "addresses": sorted(snapshot.addresses),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "resources": summary["resource_count"],
            "serial": summary["serial"] if summary["serial"] is not None else -1,
            "lineage": summary["lineage"] or "",
            "terraform_version": summary["terraform_version"] or "",
            "by_module_and_type": dg.MetadataValue.md(state_markdown(summary)),
            "added_since_last": dg.MetadataValue.json(diff["added"][:50]),
            "removed_since_last": dg.MetadataValue.json(diff["removed"][:50]),
            "first_materialization": previous is None,
        },
        # a new version only when Terraform wrote a new state (see ctscan_ops/automation.py)
        data_version=dg.DataVersion(f"{summary['lineage']}-{summary['serial']}"),
    )


@dg.asset(
    group_name="infra",
    partitions_def=environment_partitions,
    deps=[terraform_state],
    kinds={"terraform"},
    automation_condition=automation.TERRAFORM_PLAN,
    check_specs=[dg.AssetCheckSpec("plan_has_zero_changes", asset="terraform_plan")],
)
def terraform_plan(
    context: dg.AssetExecutionContext,
    config: PlanSourceConfig,
    artifacts: ArtifactStore,
    terraform: TerraformResource,
) -> dg.MaterializeResult:
    """The pending plan: counts by action, destroys with reasons, drift, import progress."""
    from ctscan_ops.infra.plan import check_zero_changes, loads_plan, plan_markdown, summarize_plan

    env = context.partition_key
    if config.source == "engine":
        engine = terraform.for_environment(env)
        engine.init()
        run = engine.plan(out=PLAN_FILE)
        text, where = engine.show_plan_json(run.plan_path), f"terraform plan ({env})"
    elif config.source == "artifact":
        key = plan_artifact_key(env)
        if not artifacts.exists(key):
            raise dg.Failure(
                f"no plan uploaded for {env} at {artifacts.uri(key)}; CI uploads "
                "`terraform show -json` there, or use source='engine'"
            )
        text, where = artifacts.get_bytes(key), artifacts.uri(key)
    else:
        raise dg.Failure(f"plan source {config.source!r}: use 'artifact' or 'engine'")
    summary = summarize_plan(loads_plan(text, where), max_list=200)
    artifacts.put_json(summary_key(env), summary)
    zero_ok, zero_msg = check_zero_changes(summary)
    return dg.MaterializeResult(
        metadata={
            "total_changes": summary["total_changes"],
            "destroys": summary["destroy_count"],
            "drifted_resources": summary["drift_count"],
            "import_progress": dg.MetadataValue.json(
                {
                    k: summary["import_progress"].get(k)
                    for k in ("config_resources", "in_state", "percent", "importing")
                }
            ),
            "not_yet_imported": dg.MetadataValue.json(
                summary["import_progress"]["missing_from_state"][:20]
            ),
            "plan": dg.MetadataValue.md(plan_markdown(summary)),
            "summary": dg.MetadataValue.url(artifacts.browser_url(summary_key(env))),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="plan_has_zero_changes",
                passed=zero_ok,
                severity=dg.AssetCheckSeverity.WARN,
                description=zero_msg,
            )
        ],
    )


@dg.asset_check(
    asset=terraform_plan,
    blocking=True,
    description="Nothing is deleted or replaced; an apply must not run past this.",
)
def plan_has_no_destroys(
    context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore
) -> dg.AssetCheckResult:
    from ctscan_ops.infra.plan import check_no_destroys

    env = context.partition_key if context.has_partition_key else None
    if env is None:
        return dg.AssetCheckResult(passed=False, description="run this check per environment")
    summary = artifacts.get_json(summary_key(env))
    ok, message = check_no_destroys(summary)
    return dg.AssetCheckResult(
        passed=ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description=message,
        metadata={
            "destroys": dg.MetadataValue.json(
                [
                    {"address": d["address"], "action": d["action"], "reason": d["action_reason"]}
                    for d in summary["destroys"][:50]
                ]
            )
        },
    )


class ApplyConfig(dg.Config):
    execute: bool = Field(
        default=False,
        description="really run `terraform apply` (gcp mode, reviewed plan); default records "
        "the approval only",
    )


@dg.asset(
    group_name="infra",
    partitions_def=environment_partitions,
    deps=[terraform_plan],
    kinds={"terraform"},
)
def terraform_apply(
    context: dg.AssetExecutionContext,
    config: ApplyConfig,
    artifacts: ArtifactStore,
    terraform: TerraformResource,
) -> dg.MaterializeResult:
    """The apply of a reviewed plan, gated by ``plan_has_no_destroys``."""
    env = context.partition_key
    summary = artifacts.get_json(summary_key(env))
    if config.execute:
        result = terraform.for_environment(env).apply(PLAN_FILE)
        context.log.info(f"terraform apply ({env}) exit code {result.exit_code}")
    return dg.MaterializeResult(
        metadata={
            "executed": config.execute,
            "changes_approved": summary["total_changes"],
            "note": "approved by the gates; apply recorded" if not config.execute else "applied",
        }
    )


@dg.asset(
    group_name="infra",
    partitions_def=environment_partitions,
    deps=[terraform_state],
    kinds={"terraform"},
    automation_condition=automation.ALERT_POLICY_DRIFT,
)
def alert_policy_drift(
    context: dg.AssetExecutionContext,
    gcs: EmulatorAwareGCSResource,
    artifacts: ArtifactStore,
    settings: SettingsResource,
) -> dg.MaterializeResult:
    """Deployed alert thresholds, durations and enablement versus the catalog, per policy."""
    from ctscan_ops.infra.policy_drift import deployed_overrides, policy_drift
    from ctscan_ops.infra.state import loads_state

    env = context.partition_key
    snapshot = loads_state(
        _read_state_object(gcs, settings.tf_state_bucket, env),
        f"state of {env}",
        keep_values_for={POLICY_TYPE},
    )
    report = policy_drift(snapshot, env, settings.catalog_path)
    drifted = report["drifted"]
    overrides = deployed_overrides(snapshot, report)
    artifacts.put_json(
        f"infra/policy_drift/{env}.json", {"report": report, "deployed_overrides": overrides}
    )
    rows = ["| policy | field | catalog | deployed |", "|---|---|---|---|"]
    for item in drifted:
        for f in item["fields"]:
            rows.append(
                f"| `{item['policy']}` | {f['field']} | {f['expected']} | {f['deployed']} |"
            )
    return dg.MaterializeResult(
        metadata={
            "drifted_policies": report["drifted_count"],
            "policies_checked": report["policies_checked"],
            "deployed_overrides": dg.MetadataValue.json(overrides),
            "missing_in_state": dg.MetadataValue.json(report["missing_from_state"]),
            "unexpected_in_state": dg.MetadataValue.json(report["not_in_catalog"]),
            "drift": dg.MetadataValue.md("\n".join(rows) if drifted else "no drift"),
            "report": dg.MetadataValue.url(artifacts.browser_url(f"infra/policy_drift/{env}.json")),
        },
        # what alert_quality reads: it re-runs only when the deployed settings changed
        data_version=dg.DataVersion(_content_hash({"report": report, "overrides": overrides})),
    )
