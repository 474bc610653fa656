"""Readiness of every catalog policy as an asset check on ``alert_quality``.

One check per policy (``ready_<policy>``, 11 today), each with one row per environment in its
metadata: 33 checks (policy x environment) would crowd the asset's Checks tab, and "may this
policy be enabled?" is asked per policy. A check passes when the policy is ready in every
environment evaluated; it is a WARN, never blocking (readiness informs a human decision).

The check reads the JSON report ``alert_quality`` just stored (its ``report_key`` metadata), so
it runs in the same run as the asset and judges exactly what the asset page shows. The specs
come from the catalog shipped with the code (``terraform/alert_policies.yaml``): the catalog is
versioned with the code location. A policy that a different runtime catalog adds is listed in
each check's metadata as ``not_in_check_specs``.
"""

from collections.abc import Iterator

import dagster as dg

from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.shadow.view import readiness_by_policy
from ctscan_ops.common.view import Column
from ctscan_ops.config import alert_catalog_path_from_env
from ctscan_ops.metadata_values import table_value
from ctscan_ops.resources import ArtifactStore

ROW_COLUMNS = (
    Column("env"),
    Column("FDR", "float"),
    Column("false/day", "float"),
    Column("recall", "float"),
    Column("detect s", "float"),
    Column("readiness"),
    Column("reason"),
)


def check_name(policy: str) -> str:
    return f"ready_{policy}"


def _specs() -> list[dg.AssetCheckSpec]:
    # The set of checks is structural (fixed when the code location loads, like the partitions),
    # so it comes from the catalog path in the environment at import: CTSCAN_ALERT_CATALOG (an
    # installed image points it at its copy of terraform/), else the checkout's catalog.
    catalog = load_catalog(alert_catalog_path_from_env())
    return [
        dg.AssetCheckSpec(
            check_name(name),
            asset="alert_quality",
            description=(
                f"{p.display_name}{'' if p.severity in p.display_name else f' ({p.severity})'}: "
                "ready to page in every environment "
                "(false discovery rate, recall and data days against the targets)"
            ),
            blocking=False,
        )
        for name, p in sorted(catalog.policies.items())
    ]


@dg.multi_asset_check(specs=_specs(), can_subset=True, name="policy_readiness")
def policy_readiness(
    context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore
) -> Iterator[dg.AssetCheckResult]:
    """Per-policy readiness from the latest ``alert_quality`` report."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("alert_quality"))
    meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
    key = meta.get("report_key")
    report = artifacts.get_json(key.value) if key is not None else None
    by_policy = readiness_by_policy(report["policies"]) if report else {}
    spec_names = {k.name for k in context.selected_asset_check_keys}
    extra = sorted(p for p in by_policy if check_name(p) not in spec_names)
    for check_key in sorted(context.selected_asset_check_keys, key=lambda k: k.name):
        policy = check_key.name.removeprefix("ready_")
        entry = by_policy.get(policy)
        if entry is None:
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="not evaluated: no alert_quality report holds this policy yet",
            )
            continue
        metadata = {
            "summary": dg.MetadataValue.text(entry["summary"]),
            "severity": entry["severity"],
            "environments": table_value(ROW_COLUMNS, entry["rows"]),
            "report_key": key.value,
        }
        if extra:
            metadata["not_in_check_specs"] = dg.MetadataValue.json(extra)
        yield dg.AssetCheckResult(
            asset_key=check_key.asset_key,
            check_name=check_key.name,
            passed=entry["passed"],
            severity=dg.AssetCheckSeverity.WARN,
            description=entry["summary"],
            metadata=metadata,
        )
