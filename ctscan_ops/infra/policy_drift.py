"""Semantic drift of alert policies: what is deployed (state) vs what the catalog says.

Terraform's own drift detection says *that* an alert policy changed; this says *how it matters*:
for every catalog policy, the deployed ``enabled`` flag, the ``combiner`` and each condition's
``threshold_value`` and ``duration`` (read from the ``google_monitoring_alert_policy``
instances in state, keyed by the ``for_each`` key) against the catalog resolved for the
environment (catalog base < ``environments.<env>`` < ``alert_overrides``; P1/P2 enabled per the
environment's ``enable_p1_p2_alerts``). A drifted policy is what the shadow evaluation should
re-run with the deployed values (:func:`deployed_overrides`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ctscan_ops.infra.state import StateSnapshot, load_state
from ctscan_ops.infra.tfjson import TerraformJSONError

POLICY_TYPE = "google_monitoring_alert_policy"
REPO_ROOT = Path(__file__).resolve().parents[2]
ENVIRONMENTS_DIR = REPO_ROOT / "terraform" / "environments"

_ENABLE_RE = re.compile(
    r'variable\s+"enable_p1_p2_alerts"\s*\{[^}]*?default\s*=\s*(true|false)', re.S
)


def enable_p1_p2_default(environment: str, environments_dir: Path = ENVIRONMENTS_DIR) -> bool:
    """The environment's ``enable_p1_p2_alerts`` default from its ``variables.tf``."""
    path = environments_dir / environment / "variables.tf"
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    m = _ENABLE_RE.search(text)
    if m is None:
        raise ValueError(f"{path}: no enable_p1_p2_alerts variable with a default")
    return m.group(1) == "true"


def parse_duration_s(value: Any, where: str) -> int:
    """``"300s"`` (or a whole number of seconds) as an int: the catalog's duration parser, with
    the error a state reader raises (:class:`TerraformJSONError`)."""
    from ctscan_ops.alerting.catalog import CatalogError, parse_duration

    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        return parse_duration(value, where)
    except CatalogError as exc:
        raise TerraformJSONError(str(exc)) from None


def deployed_policies(snapshot: StateSnapshot) -> dict[str, dict[str, Any]]:
    """Per policy key: enabled and each condition's threshold/duration as deployed."""
    out: dict[str, dict[str, Any]] = {}
    for res in snapshot.resources:
        if res.type != POLICY_TYPE or res.mode != "managed":
            continue
        if res.values is None:
            raise TerraformJSONError(
                f"{res.address}: attribute values were not loaded (parse the state with "
                f"keep_values_for={{'{POLICY_TYPE}'}})"
            )
        key = res.index if isinstance(res.index, str) else res.name
        conditions = []
        for i, cond in enumerate(res.values.get("conditions") or ()):
            thresholds = cond.get("condition_threshold") or []
            if not thresholds:
                conditions.append(None)  # not a threshold condition
                continue
            t = thresholds[0]
            where = f"{res.address}.conditions[{i}].condition_threshold[0]"
            conditions.append(
                {
                    "threshold_value": t.get("threshold_value"),
                    "duration_s": parse_duration_s(t.get("duration", "0s"), where),
                }
            )
        out[key] = {
            "address": res.address,
            "enabled": res.values.get("enabled"),
            "combiner": res.values.get("combiner"),
            "display_name": res.values.get("display_name"),
            "conditions": conditions,
        }
    return out


def expected_policies(
    environment: str,
    catalog_path: str | os.PathLike[str] | None = None,
    alert_overrides: Mapping[str, Any] | None = None,
    enable_p1_p2_alerts: bool | None = None,
) -> tuple[int, dict[str, dict[str, Any]]]:
    """``(catalog_version, per policy: enabled and conditions)`` as Terraform would deploy."""
    from ctscan_ops.alerting.catalog import load_catalog

    catalog = load_catalog(catalog_path)
    if enable_p1_p2_alerts is None:
        enable_p1_p2_alerts = enable_p1_p2_default(environment)
    resolved = catalog.resolve_all(environment, alert_overrides=dict(alert_overrides or {}))
    out: dict[str, dict[str, Any]] = {}
    for key, policy in resolved.items():
        if policy.enabled is not None:
            enabled = policy.enabled
        else:
            enabled = True if policy.severity == "P0" else bool(enable_p1_p2_alerts)
        out[key] = {
            "enabled": enabled,
            "severity": policy.severity,
            "combiner": policy.combiner,
            "conditions": [
                {"threshold_value": c.threshold_value, "duration_s": c.duration_s}
                for c in policy.conditions
            ],
        }
    return catalog.catalog_version, out


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def compare_policies(
    deployed: Mapping[str, Mapping[str, Any]], expected: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Drifted fields per policy, plus policies missing from / unexpected in the state."""
    drifted = []
    for key in sorted(expected.keys() & deployed.keys()):
        exp, dep = expected[key], deployed[key]
        fields = []
        if bool(dep.get("enabled")) != bool(exp["enabled"]):
            fields.append(
                {"field": "enabled", "deployed": dep.get("enabled"), "expected": exp["enabled"]}
            )
        # multi-condition policies: a changed combiner changes what opens an incident (an OR
        # where the catalog says AND pages on the guard alone); absent in old states: not drift
        if dep.get("combiner") is not None and dep["combiner"] != exp.get("combiner", "OR"):
            fields.append(
                {
                    "field": "combiner",
                    "deployed": dep["combiner"],
                    "expected": exp.get("combiner", "OR"),
                }
            )
        dep_conds = dep.get("conditions") or []
        for i, ec in enumerate(exp["conditions"]):
            prefix = "" if i == 0 else f"conditions[{i}]."
            dc = dep_conds[i] if i < len(dep_conds) else None
            if dc is None:
                fields.append({"field": f"{prefix}condition", "deployed": None, "expected": ec})
                continue
            if not _same_number(dc["threshold_value"], ec["threshold_value"]):
                fields.append(
                    {
                        "field": f"{prefix}threshold_value",
                        "deployed": dc["threshold_value"],
                        "expected": ec["threshold_value"],
                    }
                )
            if dc["duration_s"] != ec["duration_s"]:
                fields.append(
                    {
                        "field": f"{prefix}duration",
                        "deployed": f"{dc['duration_s']}s",
                        "expected": f"{ec['duration_s']}s",
                    }
                )
        if len(dep_conds) > len(exp["conditions"]):
            fields.append(
                {
                    "field": "conditions",
                    "deployed": len(dep_conds),
                    "expected": len(exp["conditions"]),
                }
            )
        if fields:
            drifted.append({"policy": key, "address": dep.get("address"), "fields": fields})
    return {
        "policies_checked": len(expected.keys() & deployed.keys()),
        "drifted": drifted,
        "drifted_count": len(drifted),
        "missing_from_state": sorted(expected.keys() - deployed.keys()),
        "not_in_catalog": sorted(deployed.keys() - expected.keys()),
    }


def policy_drift(
    snapshot: StateSnapshot,
    environment: str,
    catalog_path: str | os.PathLike[str] | None = None,
    alert_overrides: Mapping[str, Any] | None = None,
    enable_p1_p2_alerts: bool | None = None,
) -> dict[str, Any]:
    """The semantic drift report for one environment's state."""
    version, expected = expected_policies(
        environment, catalog_path, alert_overrides, enable_p1_p2_alerts
    )
    report = compare_policies(deployed_policies(snapshot), expected)
    return {"environment": environment, "catalog_version": version, **report}


def deployed_overrides(
    snapshot: StateSnapshot, report: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """``alert_overrides``-shaped values of the drifted policies as deployed.

    Feed these to the shadow evaluation to see what the deployed (not the intended) policy does.
    Only the primary condition's threshold/duration are expressible as overrides (a drifted
    guard floor, ``conditions[1].threshold_value``, is reported but not replayed).
    """
    deployed = deployed_policies(snapshot)
    out: dict[str, dict[str, Any]] = {}
    for item in report.get("drifted", ()):
        dep = deployed[item["policy"]]
        first = dep["conditions"][0] if dep["conditions"] else None
        entry: dict[str, Any] = {"enabled": bool(dep["enabled"])}
        if first is not None:
            entry["threshold_value"] = first["threshold_value"]
            entry["duration"] = f"{first['duration_s']}s"
        out[item["policy"]] = entry
    return out


def policy_drift_from_files(
    state_path: str | os.PathLike[str],
    environment: str,
    catalog_path: str | os.PathLike[str] | None = None,
    overrides_path: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """CLI helper: state file + environment (+ optional catalog/overrides paths)."""
    if overrides_path is None:
        overrides_path = ENVIRONMENTS_DIR / environment / "alerts.auto.tfvars.json"
    from ctscan_ops.alerting.catalog import load_alert_overrides

    snapshot = load_state(state_path, keep_values_for={POLICY_TYPE})
    return policy_drift(snapshot, environment, catalog_path, load_alert_overrides(overrides_path))
