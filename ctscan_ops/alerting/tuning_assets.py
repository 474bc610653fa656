"""Threshold-tuning report per environment, its trigger sensor, and the Terraform variables out.

The report tunes every policy (P0 too, as evidence for a human: never applied) over the days
of shadow data (the materialized
``shadow_incidents`` partitions), with a walk-forward holdout (:mod:`tuning`), stores the curves
and plots in the artifact store, and leaves a reviewable change there (:mod:`proposal`: the
proposed ``alerts.auto.tfvars.json``, a patch and a PR description; ``ctscan-ops alerts
propose``). It never applies anything: the loop closes through a Terraform review.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from ctscan_ops import automation
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.common.timeparse import calendar_days, day_start
from ctscan_ops.common.view import INLINE_IMAGE_WIDTH_IN
from ctscan_ops.config import REPO_ROOT, Mode, Settings
from ctscan_ops.metadata_values import image_value
from ctscan_ops.partitions import environment_partitions
from ctscan_ops.resources import ArtifactStore, MonitoringResource
from ctscan_ops.resources.storage import gs_browser_url

TUNING_KEY = "alerting/threshold_tuning"


class TuningOutput(dg.ConfigurableResource):
    """The Terraform tree a tuning proposal is computed against, and the sandbox mirror.

    The proposal itself goes to the artifact store in both modes. gcp mode writes no file
    (the process's checkout is read as the base, never changed); sandbox mode also mirrors the
    proposed file under ``terraform_dir`` (default: the sandbox data dir) for the demo.
    """

    terraform_dir: str | None = Field(default=None)
    write_mirror: bool = Field(default=True)

    @classmethod
    def for_settings(cls, settings: Settings) -> "TuningOutput":
        """The base and mirror the mode implies (see the class docstring)."""
        if settings.mode is Mode.GCP:
            return cls(terraform_dir=str(REPO_ROOT / "terraform"), write_mirror=False)
        return cls(terraform_dir=str(settings.data_dir / "terraform"))

    def base_dir(self) -> Path:
        return Path(self.terraform_dir) if self.terraform_dir else REPO_ROOT / "terraform"

    def mirror_dir(self) -> Path | None:
        return self.base_dir() if self.write_mirror else None


def _json_or_none(artifacts: ArtifactStore, key: str) -> Any:
    """The JSON object at ``key``, None if there is none (other errors raise)."""
    from google.api_core.exceptions import NotFound

    try:
        return artifacts.get_json(key)
    except NotFound:
        return None


def shadow_window(instance: dg.DagsterInstance) -> tuple[float, float, list[str]]:
    days = sorted(instance.get_materialized_partitions(dg.AssetKey("shadow_incidents")))
    if not days:
        raise dg.Failure("no shadow_incidents partition is materialized yet: backfill it first")
    return day_start(days[0]), day_start(days[-1]) + 86400 - 60, days


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
    """Recommended threshold/duration per policy, proven on held-out data, as tfvars (P1/P2;
    P0 recommendations are listed for a human to decide, never written)."""
    from ctscan_ops.alerting.assets import SHADOW_PREFIX
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.proposal import build_proposal, put_proposal
    from ctscan_ops.alerting.shadow.evaluation import lookback_s
    from ctscan_ops.alerting.shadow.incidents import RegisterStore
    from ctscan_ops.alerting.tuning.guard import guard_markdown
    from ctscan_ops.alerting.tuning.recommend import TuningParams, report_markdown
    from ctscan_ops.alerting.tuning.report import tune_environment
    from ctscan_ops.alerting.tuning.stored import (
        StoredValues,
        load_day_values,
        policy_to_check,
        sample_check,
    )
    from ctscan_ops.alerting.tuning.tfvars import (
        recommendation_from_doc,
        render,
        tfvars_path,
        update_tfvars,
        write_atomic,
    )

    env = context.partition_key
    start, end, days = shadow_window(context.instance)
    catalog = alerting.catalog()
    policies = resolved_policies(catalog, [env], severities=("P0", "P1", "P2"))
    register = RegisterStore(artifacts).load()
    params = TuningParams(
        target_fdr=alerting.fdr_target, max_alerts_per_day=alerting.max_alerts_per_day
    )
    longest = max(lookback_s(p) for p in policies)
    # series are fetched only for what the shadow_incidents records do not hold
    cache = SeriesCache(monitoring.client(), monitoring.project, start - longest, end)
    window_days = calendar_days(days)
    entries, unreadable = load_day_values(
        window_days,
        lambda day: f"{SHADOW_PREFIX}/{day}.json",
        lambda key: _json_or_none(artifacts, key),
        artifacts.get_bytes,
    )
    for warning in unreadable.values():
        context.log.warning(warning)
    # one policy's values on the last day re-aligned from the series, as shadow_incidents read
    # them (a different policy with data each day): stored values this code would not compute
    # are dropped
    last = window_days[-1]
    checked = policy_to_check(policies, last, entries.get(last))
    d0 = day_start(last)
    horizon = 6 * 3600  # shadow_incidents reads 6 h past the day (its close horizon)
    day_cache = SeriesCache(
        monitoring.client(), monitoring.project, d0 - lookback_s(checked), d0 + 86400 + horizon
    )
    problem = sample_check(
        checked,
        last,
        entries.get(last),
        day_cache.for_policy(checked, since=d0 - lookback_s(checked)),
    )
    if problem:
        context.log.warning(f"stored aligned values not used, all re-aligned: {problem}")
        entries = {d: None for d in window_days}
    stored = StoredValues(
        window_days,
        entries,
        lambda policy: cache.for_policy(policy, since=start - lookback_s(policy)),
        unreadable=set(unreadable),
    )
    stamp = days[-1]
    prefix = f"{TUNING_KEY}/{env}/{stamp}"
    result = tune_environment(
        policies,
        stored.series_for,
        lambda name: register.windows_for(name, env),
        environment=env,
        start=start,
        end=end,
        params=params,
        prefix=prefix,
        false_page_budget=catalog.false_page_budget_per_week,
        p0_mttd_target_s=alerting.p0_mttd_target_s,
        values_for=stored,
        render=False,  # threshold_tuning_plots draws them from plot_data.json
    )
    docs = result.docs
    artifacts.put_json(
        f"{prefix}/plot_data.json",
        {"environment": env, "prefix": prefix, "policies": result.plot_data},
    )
    links: dict[str, Any] = {}
    # the plots' keys are fixed here; threshold_tuning_plots (eager, right after) uploads them
    for name in sorted(result.plot_data):
        links[f"{name}_timeline"] = dg.MetadataValue.url(
            artifacts.browser_url(f"{prefix}/{name}-timeline.png")
        )
        full = artifacts.browser_url(f"{prefix}/{name}-curve.png")
        inline = artifacts.browser_url(f"{prefix}/{name}-curve-inline.png")
        # the tuning curves inline (what the operator decides on), narrow enough for the page
        links[f"{name}_curve"] = image_value(f"{env}/{name}", inline, full)

    artifacts.put_json(
        f"{prefix}/tuning.json",
        {"environment": env, "days": days, "catalog_hash": catalog.content_hash, "policies": docs},
    )
    recs = [
        recommendation_from_doc(name, doc)
        for name, doc in sorted(docs.items())
        if (doc.get("recommended") or {}).get("threshold") is not None
    ]
    base = tfvars_path(tuning_output.base_dir(), env)
    base_text = base.read_text(encoding="utf-8") if base.exists() else None
    update = update_tfvars(catalog, env, tuning_output.base_dir(), recs, write=False)
    mirror = tuning_output.mirror_dir()
    mirror_path = tfvars_path(mirror, env) if mirror else None
    written = mirror_path is not None and write_atomic(mirror_path, render(update.overrides))
    artifacts.put_bytes(
        f"{prefix}/tfvars-diff.md", update.diff_markdown.encode(), content_type="text/markdown"
    )
    # the tuning report, then the minimum-traffic guards' evidence (ratio policies)
    markdown = "\n\n".join(p for p in (report_markdown(env, docs), guard_markdown(env, docs)) if p)
    proposal = build_proposal(
        environment=env,
        base_text=base_text,
        proposed_text=render(update.overrides),
        report_markdown=markdown,
        diff_markdown=update.diff_markdown,
        docs=docs,
        days=days,
        catalog_hash=catalog.content_hash,
        links={"tuning_json": artifacts.uri(f"{prefix}/tuning.json")},
        source={"dagster_run_id": context.run_id},
    )
    proposal_uris = put_proposal(artifacts, proposal)
    verdicts = [
        (d.get("readiness") or {}).get("verdict")
        for d in docs.values()
        if d.get("severity") != "P0"  # a P0 is never enabled by tuning
    ]
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(markdown),
            "tfvars_diff": dg.MetadataValue.md(update.diff_markdown or "(no change)"),
            "proposal_id": proposal.report_id,
            "proposal_changed": proposal.changed,
            "proposal_pr": dg.MetadataValue.text(proposal_uris["pr"]),
            "proposal_pr_url": dg.MetadataValue.url(
                gs_browser_url(proposal_uris["pr"], artifacts.endpoint)
            ),
            "proposal_patch": dg.MetadataValue.text(proposal_uris["patch"]),
            "tfvars_path": dg.MetadataValue.path(str(mirror_path or proposal_uris["tfvars"])),
            "tfvars_written": written,
            "ready": sum(v == "ready" for v in verdicts),
            "recommended": len(recs),
            "days": len(days),
            "aligned_values": stored.summary(),
            "aligned_values_check": (
                f"stored values differ, all re-aligned: {problem}"
                if problem
                else f"{checked.name} on {last}: stored values = a fresh alignment"
                if entries.get(last)
                else f"nothing stored for {last}"
            ),
            "plots": dg.MetadataValue.md(
                "Curves and timelines are drawn by `threshold_tuning_plots` (eager, right after "
                "this report) from `plot_data.json`; the pictures below load once it has run."
            ),
            "plot_data": dg.MetadataValue.url(artifacts.browser_url(f"{prefix}/plot_data.json")),
            "plot_data_key": dg.MetadataValue.text(f"{prefix}/plot_data.json"),
            "tuning_json": dg.MetadataValue.url(artifacts.browser_url(f"{prefix}/tuning.json")),
            **links,
        }
    )


@dg.asset(
    group_name="alerting",
    partitions_def=environment_partitions,
    deps=[threshold_tuning_report],
    kinds={"gcs"},
    automation_condition=automation.THRESHOLD_TUNING_PLOTS,
)
def threshold_tuning_plots(
    context: dg.AssetExecutionContext, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    """The latest tuning report's curves and timelines, drawn from its ``plot_data.json``
    (the keys the report's page already links to)."""
    from ctscan_ops.alerting.tuning.report import render_plots

    env = context.partition_key
    key = latest_plot_data_key(context.instance, env)
    if key is None:
        raise dg.Failure(f"no threshold_tuning_report [{env}] with plot data yet")
    data = artifacts.get_json(key)
    tuning = artifacts.get_json(f"{data['prefix']}/tuning.json")
    plots = render_plots(
        env,
        tuning["policies"],
        data["policies"],
        data["prefix"],
        inline_width_in=INLINE_IMAGE_WIDTH_IN,
    )
    # one request per PNG, in parallel (each put makes its own client): latency, not CPU
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda p: artifacts.put_bytes(p[1], p[2], content_type="image/png"), plots))
    links: dict[str, Any] = {}
    for link, pkey, _png in plots:
        if link.endswith("_curve_inline"):
            name = link[: -len("_curve_inline")]
            full = artifacts.browser_url(f"{data['prefix']}/{name}-curve.png")
            links[f"{name}_curve"] = image_value(f"{env}/{name}", artifacts.browser_url(pkey), full)
        elif not link.endswith("_curve"):
            links[link] = dg.MetadataValue.url(artifacts.browser_url(pkey))
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(artifacts.browser_url(f"{data['prefix']}/tuning.json")),
            "plots": len(plots),
            **links,
        }
    )


def latest_plot_data_key(instance: dg.DagsterInstance, environment: str) -> str | None:
    """Artifact key of the plot data of the newest ``threshold_tuning_report [environment]``."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("threshold_tuning_report"), asset_partitions=[environment]
        ),
        limit=1,
        ascending=False,
    )
    for record in result.records:
        mat = record.asset_materialization
        value = mat.metadata.get("plot_data_key") if mat is not None else None
        if value is not None:
            return str(value.value)
    return None


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
    default_status=dg.DefaultSensorStatus.RUNNING,  # no click to start (issue 12)
)
def threshold_tuning_sensor(
    context: dg.SensorEvaluationContext, artifacts: ArtifactStore
) -> dg.SensorResult:
    """Re-tune an environment when its shadow data crosses 7 days or its quality moved.

    Reads the latest ``alert_quality`` report; the cursor keeps, per environment and policy,
    the quality figures the last report was triggered on. run_key = environment + data window
    + catalog hash, so a re-evaluation with an old cursor never launches a duplicate run.
    """
    from ctscan_ops.alerting.tuning.recommend import material_change

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
