"""Shadow-mode alerting assets: the incident register, daily shadow incidents, alert quality.

Thin wrappers: the semantics live in ``evaluator``/``shadow``/``quality``; these functions fetch
series, call them, store JSON/PNG in the artifact store and put small summaries in metadata.
"""

import json
from collections import Counter
from typing import Any

import dagster as dg
from pydantic import Field

from ctscan_ops import automation
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.alerting.shadow.readiness import assess, readiness_summary, verdict_text
from ctscan_ops.alerting.shadow.view import env_table_columns, quality_tables
from ctscan_ops.common.markdown import md_table
from ctscan_ops.common.timeparse import day_start
from ctscan_ops.common.view import INLINE_IMAGE_WIDTH_IN
from ctscan_ops.metadata_values import image_value, table_value
from ctscan_ops.partitions import daily_partitions
from ctscan_ops.resources import ArtifactStore, MonitoringResource

SHADOW_PREFIX = "alerting/shadow_incidents"
QUALITY_KEY = "alerting/alert_quality"


def _day_bounds(day: str) -> tuple[float, float]:
    start = day_start(day)
    return start, start + 86400.0


def put_day_values(
    artifacts: ArtifactStore, day: str, day_start: float, entries: dict[str, Any]
) -> dict[str, Any]:
    """Store a day's aligned condition values (one upload: all or nothing) and return what
    the day's record says of them (key, digest, fingerprint per condition)."""
    from ctscan_ops.alerting.shadow.aligned_values import FORMAT, pack, sha256

    data = pack(day, day_start, entries)
    key = f"{SHADOW_PREFIX}/{day}.values.npz"
    artifacts.put_bytes(key, data)
    return {
        "key": key,
        "format": FORMAT,
        "sha256": sha256(data),
        "bytes": len(data),
        "fingerprints": {k: e.fingerprint for k, e in sorted(entries.items())},
    }


def _content_hash(doc: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    return md_table(header, rows, fmt)


@dg.asset(group_name="alerting", kinds={"gcs"}, automation_condition=automation.INCIDENT_REGISTER)
def incident_register(
    context: dg.AssetExecutionContext, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    """Ground truth for scoring alerts: known incident windows and on-call verdicts."""
    from ctscan_ops.alerting.shadow.incidents import RegisterStore

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
        },
        # content hash: an unchanged register does not re-trigger alert_quality (automation.py)
        data_version=dg.DataVersion(_content_hash(register.to_json())),
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
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow.aligned_values import day_entries
    from ctscan_ops.alerting.shadow.evaluation import evaluate_day, lookback_s

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
        # what alert_quality needs to build on this record (shadow/incremental.py)
        doc.update(close_horizon_s=horizon, policy_hashes={}, points_by_policy={})
        points = 0
        values = {}  # the aligned values the tuning report reads (shadow/aligned_values.py)
        for policy in policies:
            series = cache.for_policy(policy, since=start - lookback_s(policy))
            points += sum(len(s) for s in series)
            incidents, evaluation = evaluate_day(policy, series, start, end, horizon)
            values.update(day_entries(policy, evaluation, start))
            key = f"{policy.environment}/{policy.name}"
            doc["policies"][key] = [i.to_json() for i in incidents]
            doc["policy_hashes"][key] = policy.content_hash
            doc["points_by_policy"][key] = sum(len(s) for s in series)
            counts[(policy.environment or "", policy.name)] += len(incidents)
        doc["points_read"] = points
        days_with_data += points > 0
        # values first: the record claims them only once they are stored (all or nothing)
        doc["aligned_values"] = put_day_values(artifacts, day, start, values)
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


class AlertQualityConfig(dg.Config):
    """How ``alert_quality`` gets its incidents (both give the same figures)."""

    full_reevaluation: bool = False  # True: re-evaluate every policy over the whole window
    # policy x environment pairs whose records a span of days checks ...
    sample_pairs: int = Field(default=2, ge=0, le=1000)
    # ... the spans within this share of the points the records read (NaN is refused)
    sample_budget: float = Field(default=0.04, ge=0.0, le=1.0)


@dg.asset(
    group_name="alerting",
    deps=[shadow_incidents, incident_register, dg.AssetKey("alert_policy_drift")],
    kinds={"gcs"},
    automation_condition=automation.ALERT_QUALITY,
    check_specs=[dg.AssetCheckSpec("fp_rate_below_target", asset="alert_quality")],
)
def alert_quality(
    context: dg.AssetExecutionContext,
    config: AlertQualityConfig,
    monitoring: MonitoringResource,
    artifacts: ArtifactStore,
    alerting: AlertingSettings,
) -> dg.MaterializeResult:
    """Precision, false discovery rate, recall, detection/reset time and readiness per policy.

    Built on the daily ``shadow_incidents`` records, re-evaluating only what they cannot answer
    (``shadow/incremental.py``); ``daily_records_disagree`` from spans of days evaluated afresh.
    """
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow import incremental as inc
    from ctscan_ops.alerting.shadow.evaluation import lookback_s
    from ctscan_ops.alerting.shadow.incidents import RegisterStore
    from ctscan_ops.alerting.shadow.plots import incident_timeline_png
    from ctscan_ops.alerting.shadow.quality import score

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
    client = monitoring.client()
    caches: dict[float, SeriesCache] = {}

    def fetch(policy: Any, since: float, until: float) -> list[Any]:
        # one cache per end of the fetched range, shared by the policies reading that range
        if until not in caches:
            caches[until] = SeriesCache(client, monitoring.project, start - longest, until)
        return caches[until].for_policy(policy, since=since)

    records: dict[str, Any] = {}
    for day in days:
        key = f"{SHADOW_PREFIX}/{day}.json"
        records[day] = artifacts.get_json(key) if artifacts.exists(key) else None
    stitched = inc.StitchedEvaluation(fetch, records, days, start, end, catalog.content_hash)

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

    evaluations: dict[str, Any] = {}
    for policy in policies:
        evaluations[inc.pair_key(policy)] = (
            inc.full_evaluation(policy, fetch, start, end)
            if config.full_reevaluation
            else stitched.evaluate(policy)
        )
    stitch_disagree: list[str] = []
    if config.full_reevaluation:
        # the whole figure as before: every record's ids against the whole evaluation's
        all_ids = {i.id for e in evaluations.values() for i in e.incidents}
        disagree = len(all_ids ^ inc.record_ids(records))
        sample: dict[str, Any] = {"spans": "every record, against the whole window"}
    else:
        # the records checked on a sample of (pair, consecutive days) spans, evaluated afresh
        usable = stitched.usable_points(policies)
        spans = inc.sample_spans(usable, config.sample_pairs, days[-1], config.sample_budget)
        by_key = {inc.pair_key(p): p for p in policies}
        disagree = 0
        for span in spans:
            n, agrees = stitched.check_span(by_key[span.key], span, evaluations[span.key])
            disagree += n
            if not agrees:
                stitch_disagree.append(span.key)
        total = sum(sum(d.values()) for d in usable.values())
        sample = {
            "spans": [s.as_json() for s in spans],
            "share_of_points": round(sum(s.points for s in spans) / total, 4) if total else 0.0,
        }

    results: list[dict[str, Any]] = []
    timeline_rows: dict[str, list[dict[str, Any]]] = {}
    n_catalog = len(policies)
    for index, policy in enumerate([*policies, *deployed_variants]):
        variant = "catalog" if index < n_catalog else "deployed"
        env = policy.environment or ""
        res = evaluations[inc.pair_key(policy)] if variant == "catalog" else None
        if res is None:
            same = catalog.resolve(policy.name, env)
            # deployed settings that evaluate like the catalog's reuse its result
            if config.full_reevaluation:
                res = inc.full_evaluation(policy, fetch, start, end)
            elif same.content_hash == policy.content_hash:
                res = evaluations[inc.pair_key(same)]
            else:  # evaluated where it can differ from the catalog's (exact) result
                res = stitched.evaluate_stricter(policy, same, evaluations[inc.pair_key(same)])
        windows = register.windows_for(policy.name, env)
        q = score(res.incidents, windows, res.ticks, met=res.met, verdicts=verdicts)
        qd = q.as_dict()
        n_days = qd["days"] if res.has_data else 0.0
        budget = catalog.false_page_budget(policy.severity)
        detail = assess(policy.severity, n_days, qd, alerting, budget)
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
                "readiness": verdict_text(detail),
                "readiness_detail": detail,
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
    context.log.info(f"alert_quality evaluation: {stitched.stats}, sampled {sample['spans']}")

    stamp = days[-1]
    doc = {
        "window": {"start": start, "end": end, "days": days},
        "fdr_target": alerting.fdr_target,
        "catalog_hash": catalog.content_hash,
        "policies": results,
    }
    json_uri = artifacts.put_json(f"{QUALITY_KEY}/{stamp}/alert_quality.json", doc)
    # per environment: its quality table, then its incident timeline inline (a narrow rendering;
    # the full-size one is a click away)
    tables = quality_tables(results)
    view: dict[str, Any] = {}
    for env, rows in timeline_rows.items():
        title = f"{env}: shadow incidents"
        if env in tables:
            view[f"quality_{env}"] = table_value(env_table_columns(tables[env]), tables[env])
        urls = []
        for suffix, width in (("", 12.0), ("-inline", INLINE_IMAGE_WIDTH_IN)):
            png = incident_timeline_png(rows, start, end, title, width_in=width)
            key = f"{QUALITY_KEY}/{stamp}/timeline-{env}{suffix}.png"
            artifacts.put_bytes(key, png, content_type="image/png")
            urls.append(artifacts.browser_url(key))
        view[f"timeline_{env}"] = image_value(title, urls[1], full_url=urls[0])
    summary = readiness_summary(results, alerting.fdr_target)
    check = dg.AssetCheckResult(
        check_name="fp_rate_below_target",
        passed=summary["passed"],
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"P1/P2 false discovery rate <= {alerting.fdr_target:.0%} on >= "
            f"{alerting.min_days} days of shadow data"
        ),
        metadata={
            "policies_judged": summary["judged"],
            "over_target": dg.MetadataValue.json(summary["over_target"]),
            "ready": dg.MetadataValue.json(summary["ready"]),
            "provisional": dg.MetadataValue.json(summary.get("provisional", [])),
        },
    )
    return dg.MaterializeResult(
        metadata={
            **view,
            "days_of_shadow_data": len(days),
            "ready_policies": len(summary["ready"]),
            "p0_missed_incidents": summary["p0_missed_incidents"],
            # the daily partitions and the whole-window evaluation must see the same incidents
            "daily_records_disagree": disagree,
            "daily_records_sampled": dg.MetadataValue.json(
                {**sample, "stitched_differs": stitch_disagree, "work": stitched.stats}
            ),
            "report": dg.MetadataValue.url(
                artifacts.browser_url(f"{QUALITY_KEY}/{stamp}/alert_quality.json")
            ),
            "report_uri": json_uri,
            "report_key": f"{QUALITY_KEY}/{stamp}/alert_quality.json",
        },
        check_results=[check],
    )
