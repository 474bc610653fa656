"""Shadow-mode alerting assets: the incident register, daily shadow incidents, alert quality.

Thin wrappers: the semantics live in ``evaluator``/``shadow``/``quality``; these functions fetch
series, call them, store JSON/PNG in the artifact store and put small summaries in metadata.
"""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.partitions import daily_partitions
from ctscan_ops.resources import ArtifactStore, MonitoringResource

SHADOW_PREFIX = "alerting/shadow_incidents"
QUALITY_KEY = "alerting/alert_quality"


def _day_bounds(day: str) -> tuple[float, float]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@dg.asset(group_name="alerting", kinds={"gcs"})
def incident_register(
    context: dg.AssetExecutionContext, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    """Ground truth for scoring alerts: known incident windows and on-call verdicts."""
    from ctscan_ops.alerting.incidents import RegisterStore

    register = RegisterStore(artifacts).load()
    by_policy: Counter[str] = Counter()
    for w in register.windows:
        for p in w.policies():
            by_policy[f"{w.environment}/{p}"] += 1
    verdicts = Counter(v.verdict for v in register.verdicts.values())
    rows = [[k.split("/")[0], k.split("/")[1], n] for k, n in sorted(by_policy.items())]
    return dg.MaterializeResult(
        metadata={
            "windows": len(register.windows),
            "verdicts": json.dumps(dict(verdicts)),
            "windows_by_policy": dg.MetadataValue.md(
                _md_table(["environment", "policy", "labelled windows"], rows)
            ),
            "register": dg.MetadataValue.url(
                artifacts.browser_url("alerting/incident_register.json")
            ),
        }
    )


@dg.asset(
    group_name="alerting",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"gcs"},
)
def shadow_incidents(
    context: dg.AssetExecutionContext,
    monitoring: MonitoringResource,
    artifacts: ArtifactStore,
    alerting: AlertingSettings,
) -> dg.MaterializeResult:
    """Incidents every policy would have opened each day, evaluated from the raw series."""
    from ctscan_ops.alerting.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow import incidents_opened_between, lookback_s

    catalog = alerting.catalog()
    policies = resolved_policies(catalog, alerting.environments)
    client = monitoring.client()
    longest = max(lookback_s(p) for p in policies)
    horizon = 6 * 3600
    counts: Counter[tuple[str, str]] = Counter()
    days_with_data = 0
    uris = []
    for day in context.partition_keys:
        start, end = _day_bounds(day)
        cache = SeriesCache(client, monitoring.project, start - longest, end + horizon)
        doc: dict[str, Any] = {"day": day, "catalog_hash": catalog.content_hash, "policies": {}}
        points = 0
        for policy in policies:
            series = cache.for_policy(policy, since=start - lookback_s(policy))
            points += sum(len(s) for s in series)
            incidents = incidents_opened_between(policy, series, start, end, horizon)
            doc["policies"][f"{policy.environment}/{policy.name}"] = [
                i.to_json() for i in incidents
            ]
            counts[(policy.environment or "", policy.name)] += len(incidents)
        doc["points_read"] = points
        days_with_data += points > 0
        uris.append(artifacts.put_json(f"{SHADOW_PREFIX}/{day}.json", doc))
        context.log.info(
            f"{day}: {points} points read, "
            f"{sum(len(v) for v in doc['policies'].values())} shadow incidents"
        )
    rows = [
        [env, name, catalog.policies[name].severity, n] for (env, name), n in sorted(counts.items())
    ]
    return dg.MaterializeResult(
        metadata={
            "days": len(context.partition_keys),
            "days_with_data": days_with_data,
            "incidents": sum(counts.values()),
            "catalog_hash": catalog.content_hash,
            "by_policy": dg.MetadataValue.md(
                _md_table(["environment", "policy", "severity", "incidents"], rows)
            ),
            "artifact": dg.MetadataValue.url(
                artifacts.browser_url(f"{SHADOW_PREFIX}/{context.partition_keys[-1]}.json")
            ),
        }
    )


def readiness(
    severity: str,
    days: float,
    q: dict[str, Any],
    settings: AlertingSettings,
) -> str:
    """ready / not ready (why) / not enough data: the verdict an operator acts on."""
    if days < settings.min_days:
        return f"not enough data ({days:.1f} < {settings.min_days} days)"
    reasons = []
    fdr = q["false_discovery_rate"]
    if fdr is not None and fdr > settings.fdr_target:
        reasons.append(f"FDR {fdr:.1%} > {settings.fdr_target:.0%}")
    if q["labelled_incidents"] == 0 and q["incidents"] == 0:
        reasons.append("no labelled incidents to show it is useful")
    elif q["missed_incidents"]:
        reasons.append(f"missed {q['missed_incidents']} of {q['labelled_incidents']} incidents")
    if (
        severity == "P0"
        and q["mean_detection_s"] is not None
        and (q["mean_detection_s"] > settings.p0_mttd_target_s)
    ):
        reasons.append(f"MTTD {q['mean_detection_s']:.0f}s > {settings.p0_mttd_target_s:.0f}s")
    return "ready" if not reasons else "not ready: " + "; ".join(reasons)


@dg.asset(
    group_name="alerting",
    deps=[shadow_incidents, incident_register, dg.AssetKey("alert_policy_drift")],
    kinds={"gcs"},
    check_specs=[dg.AssetCheckSpec("fp_rate_below_target", asset="alert_quality")],
)
def alert_quality(
    context: dg.AssetExecutionContext,
    monitoring: MonitoringResource,
    artifacts: ArtifactStore,
    alerting: AlertingSettings,
) -> dg.MaterializeResult:
    """Precision, false discovery rate, recall, detection/reset time and readiness per policy."""
    from ctscan_ops.alerting.evaluator import evaluate
    from ctscan_ops.alerting.incidents import RegisterStore
    from ctscan_ops.alerting.plots import incident_timeline_png
    from ctscan_ops.alerting.quality import score
    from ctscan_ops.alerting.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow import lookback_s

    days = sorted(context.instance.get_materialized_partitions(dg.AssetKey("shadow_incidents")))
    if not days:
        raise dg.Failure("no shadow_incidents partition is materialized yet: backfill it first")
    start, _ = _day_bounds(days[0])
    _, end = _day_bounds(days[-1])
    end -= 60
    catalog = alerting.catalog()
    policies = resolved_policies(catalog, alerting.environments)
    register = RegisterStore(artifacts).load()
    verdicts = register.verdict_map()
    longest = max(lookback_s(p) for p in policies)
    cache = SeriesCache(monitoring.client(), monitoring.project, start - longest, end)

    daily_ids: set[str] = set()
    for day in days:
        key = f"{SHADOW_PREFIX}/{day}.json"
        if artifacts.exists(key):
            for incidents in artifacts.get_json(key)["policies"].values():
                daily_ids.update(i["id"] for i in incidents)

    # A policy whose deployed settings drifted from the catalog (infra's alert_policy_drift) is
    # also evaluated as deployed: that is what production would actually page on.
    deployed_variants = []
    for env in alerting.environments:
        key = f"infra/policy_drift/{env}.json"
        if artifacts.exists(key):
            overrides = artifacts.get_json(key).get("deployed_overrides") or {}
            deployed_variants += [
                catalog.resolve(name, env, alert_overrides=overrides)
                for name in sorted(overrides)
                if name in catalog.policies
            ]

    results: list[dict[str, Any]] = []
    timeline_rows: dict[str, list[dict[str, Any]]] = {}
    all_ids: set[str] = set()
    n_catalog = len(policies)
    for index, policy in enumerate([*policies, *deployed_variants]):
        variant = "catalog" if index < n_catalog else "deployed"
        env = policy.environment or ""
        series = cache.for_policy(policy, since=start - lookback_s(policy))
        res = evaluate(policy, series, start, end)
        windows = register.windows_for(policy.name, env)
        q = score(res.incidents, windows, res.ticks, met=res.met, verdicts=verdicts)
        qd = q.as_dict()
        has_data = any(len(s) for s in series)
        n_days = qd["days"] if has_data else 0.0
        if variant == "catalog":
            all_ids.update(i.id for i in res.incidents)
        results.append(
            {
                "environment": env,
                "policy": policy.name,
                "variant": variant,
                "severity": policy.severity,
                "enabled": policy.is_enabled,
                "threshold": policy.condition.threshold_value,
                "duration_s": policy.condition.duration_s,
                "quality": qd,
                "readiness": readiness(policy.severity, n_days, qd, alerting),
            }
        )
        timeline_rows.setdefault(env, []).append(
            {
                "policy": policy.name + (" (deployed)" if variant == "deployed" else ""),
                "windows": windows,
                "incidents": [
                    (i.open, i.close, q.incident_verdicts.get(i.id, False)) for i in res.incidents
                ],
            }
        )

    stamp = days[-1]
    doc = {
        "window": {"start": start, "end": end, "days": days},
        "fdr_target": alerting.fdr_target,
        "catalog_hash": catalog.content_hash,
        "policies": results,
    }
    json_uri = artifacts.put_json(f"{QUALITY_KEY}/{stamp}/alert_quality.json", doc)
    plot_links = {}
    for env, rows in timeline_rows.items():
        png = incident_timeline_png(rows, start, end, f"{env}: shadow incidents")
        key = f"{QUALITY_KEY}/{stamp}/timeline-{env}.png"
        artifacts.put_bytes(key, png, content_type="image/png")
        plot_links[f"timeline_{env}"] = dg.MetadataValue.url(artifacts.browser_url(key))

    table = _md_table(
        [
            "env",
            "policy",
            "settings",
            "sev",
            "incidents",
            "precision",
            "FDR",
            "FPR/tick",
            "recall",
            "false/day",
            "median detect s",
            "median reset s",
            "readiness",
        ],
        [
            [
                r["environment"],
                r["policy"],
                r["variant"],
                r["severity"],
                r["quality"]["incidents"],
                r["quality"]["precision"],
                r["quality"]["false_discovery_rate"],
                r["quality"]["fpr_per_tick"],
                r["quality"]["recall"],
                r["quality"]["false_alerts_per_day"],
                r["quality"]["median_detection_s"],
                r["quality"]["median_reset_s"],
                r["readiness"],
            ]
            for r in results
        ],
    )
    shadow = [r for r in results if r["severity"] in ("P1", "P2") and r["variant"] == "catalog"]
    judged = [r for r in shadow if not r["readiness"].startswith("not enough data")]
    over = [
        f"{r['environment']}/{r['policy']} ({r['quality']['false_discovery_rate']:.1%})"
        for r in judged
        if (r["quality"]["false_discovery_rate"] or 0) > alerting.fdr_target
    ]
    p0 = [r for r in results if r["severity"] == "P0" and r["variant"] == "catalog"]
    p0_missed = sum(r["quality"]["missed_incidents"] for r in p0)
    check = dg.AssetCheckResult(
        check_name="fp_rate_below_target",
        passed=not over and bool(judged),
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"P1/P2 false discovery rate <= {alerting.fdr_target:.0%} on >= "
            f"{alerting.min_days} days of shadow data"
        ),
        metadata={
            "policies_judged": len(judged),
            "over_target": dg.MetadataValue.json(over),
            "ready": dg.MetadataValue.json(
                [f"{r['environment']}/{r['policy']}" for r in shadow if r["readiness"] == "ready"]
            ),
        },
    )
    return dg.MaterializeResult(
        metadata={
            "quality": dg.MetadataValue.md(table),
            "days_of_shadow_data": len(days),
            "ready_policies": sum(r["readiness"] == "ready" for r in shadow),
            "p0_missed_incidents": p0_missed,
            # the daily partitions and the whole-window evaluation must see the same incidents
            "daily_records_disagree": len(all_ids ^ daily_ids),
            "report": dg.MetadataValue.url(
                artifacts.browser_url(f"{QUALITY_KEY}/{stamp}/alert_quality.json")
            ),
            "report_uri": json_uri,
            "report_key": f"{QUALITY_KEY}/{stamp}/alert_quality.json",
            **plot_links,
        },
        check_results=[check],
    )
