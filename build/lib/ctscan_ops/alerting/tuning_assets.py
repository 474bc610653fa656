"""Threshold-tuning report per environment, its trigger sensor, and the Terraform variables out.

The report tunes every P1/P2 policy over the days of shadow data (the materialized
``shadow_incidents`` partitions), with a walk-forward holdout (:mod:`tuning`), stores the curves
and plots in the artifact store, and writes a reviewed-by-human ``alerts.auto.tfvars.json`` plus
a markdown diff. It never applies anything: the loop closes through a Terraform review.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.config import REPO_ROOT, Mode, get_settings
from ctscan_ops.partitions import environment_partitions
from ctscan_ops.resources import ArtifactStore, MonitoringResource

TUNING_KEY = "alerting/threshold_tuning"


class TuningOutput(dg.ConfigurableResource):
    """Where the reviewed-by-human Terraform variables go.

    gcp mode: the repository's ``terraform/`` (a change a human reviews in a pull request).
    sandbox mode: a mirror under the sandbox data dir, so a demo never dirties the checkout.
    """

    terraform_dir: str | None = Field(default=None)

    def path(self) -> Path:
        if self.terraform_dir:
            return Path(self.terraform_dir)
        settings = get_settings()
        if settings.mode is Mode.GCP:
            return REPO_ROOT / "terraform"
        return settings.data_dir / "terraform"


def _day_start(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def shadow_window(instance: dg.DagsterInstance) -> tuple[float, float, list[str]]:
    days = sorted(instance.get_materialized_partitions(dg.AssetKey("shadow_incidents")))
    if not days:
        raise dg.Failure("no shadow_incidents partition is materialized yet: backfill it first")
    return _day_start(days[0]), _day_start(days[-1]) + 86400 - 60, days


@dg.asset(
    group_name="alerting",
    partitions_def=environment_partitions,
    deps=["alert_quality"],
    kinds={"gcs", "terraform"},
)
def threshold_tuning_report(
    context: dg.AssetExecutionContext,
    monitoring: MonitoringResource,
    artifacts: ArtifactStore,
    alerting: AlertingSettings,
    tuning_output: TuningOutput,
) -> dg.MaterializeResult:
    """Recommended threshold/duration per P1/P2 policy, proven on held-out data, as tfvars."""
    import numpy as np

    from ctscan_ops.alerting.evaluator import aligned_condition_values, make_ticks
    from ctscan_ops.alerting.incidents import RegisterStore, parse_time
    from ctscan_ops.alerting.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow import lookback_s
    from ctscan_ops.alerting.tfvars import recommendation_from_doc, update_tfvars
    from ctscan_ops.alerting.tuning import (
        Condition1D,
        TuningParams,
        incidents_for_setting,
        report_markdown,
        tune,
    )
    from ctscan_ops.alerting.tuning_plots import curve_png, timeline_png

    env = context.partition_key
    start, end, days = shadow_window(context.instance)
    catalog = alerting.catalog()
    policies = resolved_policies(catalog, [env], severities=("P1", "P2"))
    register = RegisterStore(artifacts).load()
    params = TuningParams(
        target_fdr=alerting.fdr_target, max_alerts_per_day=alerting.max_alerts_per_day
    )
    longest = max(lookback_s(p) for p in policies)
    cache = SeriesCache(monitoring.client(), monitoring.project, start - longest, end)
    ticks = make_ticks(start, end)
    stamp = days[-1]
    prefix = f"{TUNING_KEY}/{env}/{stamp}"
    docs: dict[str, dict[str, Any]] = {}
    links: dict[str, Any] = {}
    for policy in policies:
        cond = policy.condition
        series = cache.for_policy(policy, since=start - lookback_s(policy))
        groups = aligned_condition_values(cond, series, ticks)
        windows = register.windows_for(policy.name, env)
        current = (cond.threshold_value, cond.duration_s)
        if not groups or all(np.isnan(g.values).all() for g in groups):
            docs[policy.name] = {
                "recommended": {
                    "threshold": None,
                    "duration_s": None,
                    "reason": "no data for this policy in the shadow window",
                },
                "current": {"threshold": current[0], "duration_s": current[1]},
                "readiness": {"verdict": "not_enough_data", "reasons": ["no data"]},
            }
            continue
        values = np.vstack([g.values for g in groups])
        values = values[0] if values.shape[0] == 1 else values
        c1 = Condition1D(cond.comparison, cond.evaluation_missing_data, policy.auto_close_s)
        doc = tune(values, ticks, windows, c1, params, current=current)
        docs[policy.name] = doc
        rec = doc.get("recommended") or {}
        curve_key = f"{prefix}/{policy.name}-curve.png"
        artifacts.put_bytes(
            curve_key,
            curve_png(
                doc["curve"],
                current=doc.get("current"),
                recommended=rec if rec.get("threshold") is not None else None,
                title=f"{env}/{policy.name}",
            ),
            content_type="image/png",
        )
        settings_plot = {
            "current": (
                current[0],
                incidents_for_setting(values, ticks, c1, current[0], current[1]),
            )
        }
        if rec.get("threshold") is not None:
            settings_plot["recommended"] = (
                rec["threshold"],
                incidents_for_setting(values, ticks, c1, rec["threshold"], rec["duration_s"]),
            )
        # the worst group per tick (ticks where no group has data stay NaN)
        line = values if values.ndim == 1 else np.fmax.reduce(values, axis=0)
        timeline_key = f"{prefix}/{policy.name}-timeline.png"
        artifacts.put_bytes(
            timeline_key,
            timeline_png(
                ticks,
                line,
                windows,
                settings_plot,
                split_time=parse_time(doc["split_time"], "split_time")
                if doc.get("split_time")
                else None,
                title=f"{env}/{policy.name}",
            ),
            content_type="image/png",
        )
        links[f"{policy.name}_curve"] = dg.MetadataValue.url(artifacts.browser_url(curve_key))
        links[f"{policy.name}_timeline"] = dg.MetadataValue.url(artifacts.browser_url(timeline_key))

    artifacts.put_json(
        f"{prefix}/tuning.json",
        {"environment": env, "days": days, "catalog_hash": catalog.content_hash, "policies": docs},
    )
    recs = [
        recommendation_from_doc(name, doc)
        for name, doc in sorted(docs.items())
        if (doc.get("recommended") or {}).get("threshold") is not None
    ]
    update = update_tfvars(catalog, env, tuning_output.path(), recs, write=True)
    artifacts.put_bytes(
        f"{prefix}/tfvars-diff.md", update.diff_markdown.encode(), content_type="text/markdown"
    )
    verdicts = [(d.get("readiness") or {}).get("verdict") for d in docs.values()]
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(report_markdown(env, docs)),
            "tfvars_diff": dg.MetadataValue.md(update.diff_markdown or "(no change)"),
            "tfvars_path": dg.MetadataValue.path(str(update.path)),
            "tfvars_written": update.written,
            "ready": sum(v == "ready" for v in verdicts),
            "recommended": len(recs),
            "days": len(days),
            "tuning_json": dg.MetadataValue.url(artifacts.browser_url(f"{prefix}/tuning.json")),
            **links,
        }
    )


def latest_quality_report_key(instance: dg.DagsterInstance) -> str | None:
    """Artifact key of the newest ``alert_quality`` report, from its materialization."""
    event = instance.get_latest_materialization_event(dg.AssetKey("alert_quality"))
    if event is None or event.asset_materialization is None:
        return None
    key = event.asset_materialization.metadata.get("report_key")
    return None if key is None else str(key.value)


@dg.sensor(
    name="threshold_tuning_sensor",
    minimum_interval_seconds=300,
    asset_selection=dg.AssetSelection.assets(threshold_tuning_report),
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def threshold_tuning_sensor(
    context: dg.SensorEvaluationContext, artifacts: ArtifactStore
) -> dg.SensorResult:
    """Re-tune an environment when its shadow data crosses 7 days or its quality moved.

    Reads the latest ``alert_quality`` report; the cursor keeps, per environment and policy,
    the quality figures the last report was triggered on. run_key = environment + data window
    + catalog hash, so a re-evaluation with an old cursor never launches a duplicate run.
    """
    from ctscan_ops.alerting.tuning import material_change

    key = latest_quality_report_key(context.instance)
    if key is None:
        return dg.SensorResult(skip_reason="no alert_quality report yet")
    report = artifacts.get_json(key)
    cursor = json.loads(context.cursor) if context.cursor else {}
    last_day = report["window"]["days"][-1]
    days = len(report["window"]["days"])
    requests = []
    reasons_by_env: dict[str, list[str]] = {}
    for row in report["policies"]:
        if row["severity"] not in ("P1", "P2") or row.get("variant", "catalog") != "catalog":
            continue
        env, name, q = row["environment"], row["policy"], row["quality"]
        prev = cursor.get(f"{env}/{name}")
        reasons = []
        if prev is None:
            if days >= 7:
                reasons.append(f"shadow data reached {days} days")
        else:
            reasons = material_change(prev["quality"], q)
            if prev["days"] < 7 <= days:
                reasons.append(f"shadow data crossed 7 days ({days})")
        if reasons:
            reasons_by_env.setdefault(env, []).extend(f"{name}: {r}" for r in reasons)
            cursor[f"{env}/{name}"] = {"quality": q, "days": days}
    for env, reasons in sorted(reasons_by_env.items()):
        requests.append(
            dg.RunRequest(
                run_key=f"tune:{env}:{report['window']['days'][0]}..{last_day}:"
                f"{report['catalog_hash']}",
                partition_key=env,
                tags={"ctscan/reason": "; ".join(reasons)[:500]},
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        cursor=json.dumps(cursor, sort_keys=True),
        skip_reason=None if requests else "no policy crossed 7 days or changed materially",
    )
