"""Drift assets: reference profile, daily features, daily Evidently report + metric, calibration.

Thin Dagster wrappers over the pure modules; torch and evidently are imported inside the runs,
never at definitions load. Data flows through the artifact store (keys below), not through IO
managers, so every intermediate is a file an operator can open:

- ``drift/reference/<model_version>/profile.parquet``
- ``drift/features/date=D/features.parquet``, ``.../manifest.json``, ``.../quarantine.json``
- ``drift/reports/date=D/report.html``, ``report.json``, ``summary.json``
- ``drift/calibration/latest.json``
"""

import io
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

from ctscan_ops import automation
from ctscan_ops.common.view import INLINE_IMAGE_WIDTH_IN, Column, rounded
from ctscan_ops.k8s_resources import k8s_op_tags
from ctscan_ops.metadata_values import image_value, table_shape, table_value
from ctscan_ops.partitions import daily_partitions  # shared: CTSCAN_HISTORY_START
from ctscan_ops.registry.assets import RegistryResource
from ctscan_ops.resources import (
    ArtifactStore,
    GaugePoint,
    MonitoringResource,
    SettingsResource,
    already_written,
    publish_gauges,
)

GROUP = "drift"
CHECK_NAME = "drift_share_below_threshold"
MAX_LISTED = 20  # rows of tables/lists in metadata


def features_key(day: str, name: str) -> str:
    return f"drift/features/date={day}/{name}"


def report_key(day: str, name: str) -> str:
    return f"drift/reports/date={day}/{name}"


def profile_key(model_version: str) -> str:
    return f"drift/reference/{model_version}/profile.parquet"


def _parquet(df) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def _read_parquet(data: bytes):
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _md_list(rows: list[dict[str, str]], limit: int = MAX_LISTED) -> str:
    lines = ["| request_id | image | reason |", "|---|---|---|"]
    lines += [f"| {r['request_id']} | {r['image_key']} | {r['reason']} |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"| ... {len(rows) - limit} more in quarantine.json | | |")
    return "\n".join(lines)


class ReferenceConfig(dg.Config):
    # default: the registry's champion; reference/current.json when there is no champion
    model_version: str | None = None


def champion_version(registry: RegistryResource) -> str | None:
    """The registry's champion version, or None when there is no registry/champion yet."""
    from google.api_core import exceptions as gexc

    from ctscan_ops.drift.contracts import CHAMPION_ALIAS

    try:
        rec = registry.store().get_alias(CHAMPION_ALIAS)
    except gexc.NotFound:  # no models bucket: a project without the registry
        return None
    return rec.version if rec is not None else None


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "gcs"},
    deps=[dg.AssetKey("champion_model")],
    automation_condition=automation.REFERENCE_PROFILE,
    op_tags=k8s_op_tags("reference_profile"),  # its own pod size under k8s_job_executor
)
def reference_profile(
    context: dg.AssetExecutionContext,
    config: ReferenceConfig,
    drift_logs: ArtifactStore,
    artifacts: ArtifactStore,
    registry: RegistryResource,
) -> dg.MaterializeResult:
    """Image features of the champion's held-out reference set, with its predictions.

    Keyed by the registry's champion version (read through the registry store): stored under
    that version, and the data version names it, so a promotion makes the profile stale and a
    rebuild follows the new champion's inputs.
    """
    import hashlib

    import numpy as np

    from ctscan_ops.drift.contracts import (
        REFERENCE_POINTER,
        choose_reference_version,
        reference_keys,
    )
    from ctscan_ops.drift.features import FEATURE_COLUMNS
    from ctscan_ops.drift.pipeline import profile_table, reference_profile_frame

    champion = champion_version(registry)
    pointer = (
        drift_logs.get_json(REFERENCE_POINTER)["model_version"]
        if champion is None and drift_logs.exists(REFERENCE_POINTER)
        else None
    )
    version, source = choose_reference_version(config.model_version, champion, pointer)
    npz_key, pred_key = reference_keys(version)
    if not drift_logs.exists(npz_key):
        raise FileNotFoundError(
            f"no reference set for model {version!r} ({source}) at {drift_logs.uri(npz_key)}: "
            "the training pipeline writes reference/<version>/ for every registered version"
        )
    with np.load(io.BytesIO(drift_logs.get_bytes(npz_key)), allow_pickle=False) as z:
        images = z["images"]
    predictions = _read_parquet(drift_logs.get_bytes(pred_key))
    frame = reference_profile_frame(images, predictions)
    data = _parquet(frame)
    uri = artifacts.put_bytes(profile_key(version), data)
    sha = hashlib.sha256(data).hexdigest()[:12]
    artifacts.put_json(
        "drift/reference/current.json",
        {"model_version": version, "sha": sha, "source": source, "champion_version": champion},
    )
    context.log.info(f"reference profile for {version} ({source}): {len(frame)} images -> {uri}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "champion_version": champion or "",
            "reference_source": source,
            "rows": len(frame),
            "profile_uri": dg.MetadataValue.url(artifacts.browser_url(profile_key(version))),
            "profile_gs": uri,
            "columns": dg.MetadataValue.md(profile_table(frame, list(FEATURE_COLUMNS))),
        },
        data_version=dg.DataVersion(f"{version}-{sha}"),
    )


def _one_result_per_run(
    context: dg.AssetExecutionContext, per_day: dict[str, dg.MaterializeResult]
) -> dg.MaterializeResult:
    """A run over one day returns that day's result unchanged; a range run (single-run
    backfill) returns the last day's figures plus a table of every day, and one check result
    per check that fails if it failed on any day (naming those days)."""
    if len(per_day) == 1:
        return next(iter(per_day.values()))
    days = sorted(per_day)
    last = per_day[days[-1]]
    rows = ["| day | status | rows / drift share |", "|---|---|---|"]
    for day in days:
        md = per_day[day].metadata or {}
        figure = md.get("drift_share", md.get("rows", ""))
        value = getattr(figure, "value", figure)
        status = md.get("status", "")
        rows.append(f"| {day} | {getattr(status, 'value', status)} | {value} |")
    metadata = {
        **(last.metadata or {}),
        "days_in_run": len(days),
        "by_day": dg.MetadataValue.md("\n".join(rows)),
    }
    checks = []
    for check in last.check_results or []:
        failed = [
            d
            for d in days
            for c in per_day[d].check_results or []
            if c.check_name == check.check_name and not c.passed
        ]
        checks.append(
            dg.AssetCheckResult(
                check_name=check.check_name,
                passed=not failed,
                severity=check.severity,
                description=(f"failed on {len(failed)} of {len(days)} days: {', '.join(failed)}")
                if failed
                else f"passed on all {len(days)} days ({days[0]}..{days[-1]})",
                metadata={**(check.metadata or {}), "failed_days": dg.MetadataValue.json(failed)},
            )
        )
    context.log.info(f"{len(days)} days in one run ({days[0]}..{days[-1]})")
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "gcs"},
    partitions_def=daily_partitions,
    # a backfill of N days is one run (torch/evidently loaded once), not N runs
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=k8s_op_tags("prediction_features"),  # its own pod size under k8s_job_executor
)
def prediction_features(
    context: dg.AssetExecutionContext, drift_logs: ArtifactStore, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    """The day's per-prediction image features: logged ones, plus computed from stored images.

    An empty or absent day is skipped with a reason (not a failure); unreadable images are
    counted, listed and quarantined.
    """
    return _one_result_per_run(
        context,
        {day: _features_day(context, day, drift_logs, artifacts) for day in context.partition_keys},
    )


def _features_day(
    context: dg.AssetExecutionContext, day: str, drift_logs: ArtifactStore, artifacts: ArtifactStore
) -> dg.MaterializeResult:
    from ctscan_ops.drift.contracts import day_log_key
    from ctscan_ops.drift.pipeline import assemble_day_features

    log_key = day_log_key(date.fromisoformat(day))
    manifest: dict[str, Any] = {"date": day, "log": drift_logs.uri(log_key)}
    quarantined: list[dict[str, str]] = []
    schema: list[Column] = []
    if not drift_logs.exists(log_key):
        reason = f"no prediction log at {drift_logs.uri(log_key)}"
        manifest.update(status="skipped", reason=reason, rows=0)
    else:
        log = _read_parquet(drift_logs.get_bytes(log_key))
        if log.empty:
            manifest.update(status="skipped", reason="0 predictions logged this day", rows=0)
        else:
            result = assemble_day_features(log, drift_logs.get_bytes)
            quarantined = result.quarantined
            if quarantined:
                artifacts.put_json(features_key(day, "quarantine.json"), quarantined)
            if result.frame.empty:
                manifest.update(status="skipped", reason="no usable predictions", rows=0)
            else:
                artifacts.put_bytes(features_key(day, "features.parquet"), _parquet(result.frame))
                manifest.update(status="ok", rows=len(result.frame))
                schema = [Column(str(n), str(t)) for n, t in result.frame.dtypes.items()]
            manifest.update(
                logged_rows=len(log),
                computed_from_images=result.computed_from_images,
                unreadable=len(result.unreadable),
                missing=len(result.missing),
                model_versions=result.model_versions,
            )
            if result.unreadable:
                context.log.warning(f"{day}: {len(result.unreadable)} unreadable image(s)")
    # the manifest goes last: a reader that finds it finds everything it points to
    artifacts.put_json(features_key(day, "manifest.json"), manifest)
    metadata: dict[str, Any] = {
        "status": manifest["status"],
        "rows": manifest.get("rows", 0),
        "dagster/row_count": manifest.get("rows", 0),
    }
    if schema:
        metadata.update(table_shape(manifest["rows"], schema))
    if manifest["status"] == "skipped":
        metadata["skip_reason"] = manifest["reason"]
        context.log.info(f"{day}: skipped ({manifest['reason']})")
    for k in ("logged_rows", "computed_from_images", "unreadable", "missing"):
        if k in manifest:
            metadata[k] = manifest[k]
    if quarantined:
        metadata["quarantined"] = dg.MetadataValue.md(_md_list(quarantined))
        metadata["quarantine_uri"] = artifacts.uri(features_key(day, "quarantine.json"))
    if manifest.get("model_versions"):
        metadata["model_versions"] = dg.MetadataValue.json(manifest["model_versions"])
    return dg.MaterializeResult(metadata=metadata)


def _publish(
    monitoring: MonitoringResource, day: str, summary: dict[str, Any], environment: str
) -> tuple[bool, str]:
    from ctscan_ops.drift.pipeline import (
        DRIFT_SHARE_METRIC,
        FEATURE_DRIFTED_METRIC,
        metric_values,
        partition_end,
        too_old_for_cloud_monitoring,
    )

    end = partition_end(day)
    if monitoring.endpoint is None and too_old_for_cloud_monitoring(end, datetime.now(UTC)):
        return False, "point older than 24 h: Cloud Monitoring rejects it (backfill)"
    share, flags = metric_values(summary)
    points = [GaugePoint(DRIFT_SHARE_METRIC, share, end, {"environment": environment})]
    points += [
        GaugePoint(FEATURE_DRIFTED_METRIC, v, end, {"environment": environment, "feature": c})
        for c, v in flags.items()
    ]
    client = monitoring.client()
    there = already_written(client, monitoring.project, points)
    fresh = [p for p in points if p.series_key not in there]
    if not fresh:
        return False, (
            f"Cloud Monitoring already holds points at or after {end.isoformat()} for every "
            "series of this day (a re-run, or a day older than the latest published): "
            "points are written in time order only, so none was written again"
        )
    requests = publish_gauges(client, monitoring.project, fresh)
    skipped = f"; {len(points) - len(fresh)} series already had a point there" if there else ""
    return True, f"{len(fresh)} points in {requests} request(s) at {end.isoformat()}{skipped}"


DRIFT_COLUMNS = (
    Column("column"),
    Column("drifted", "bool"),
    Column("method"),
    Column("score", "float", "p-value or distance, per method"),
    Column("threshold", "float"),
)
PLOT_DAYS = 30


def drift_column_records(columns: Any) -> list[dict[str, Any]]:
    """Per-column rows of the report, drifted first (the order of the markdown table)."""
    rows = sorted(columns, key=lambda c: (not c.drifted, c.column))
    return [
        {
            "column": c.column,
            "drifted": bool(c.drifted),
            "method": c.method,
            "score": rounded(c.score, 4),
            "threshold": c.threshold,
        }
        for c in rows
    ]


def _drift_share_plot(
    artifacts: ArtifactStore, day: str, threshold: float, environment: str
) -> dg.MarkdownMetadataValue:
    """The last ``PLOT_DAYS`` reports' drift share, stored as a PNG and shown inline."""
    from ctscan_ops.drift.plots import drift_share_png

    prefix = "drift/reports/date="
    days = sorted(
        {k[len(prefix) :].split("/", 1)[0] for k in artifacts.list_keys(prefix)}
        | {day}  # this day's summary is written just before
    )
    days = [d for d in days if d <= day][-PLOT_DAYS:]
    shares: list[float | None] = []
    for d in days:
        key = report_key(d, "summary.json")
        doc = artifacts.get_json(key) if artifacts.exists(key) else {}
        shares.append(doc.get("drift_share"))
    png = drift_share_png(
        days,
        shares,
        threshold,
        f"{environment}: drift share, last {len(days)} day(s)",
        width_in=INLINE_IMAGE_WIDTH_IN,
    )
    key = report_key(day, "drift_share_over_days.png")
    artifacts.put_bytes(key, png, content_type="image/png")
    return image_value("drift share over days", artifacts.browser_url(key))


@dg.asset(
    group_name=GROUP,
    kinds={"evidently", "gcs"},
    partitions_def=daily_partitions,
    deps=[reference_profile, prediction_features],
    check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="drift_report")],
    backfill_policy=dg.BackfillPolicy.single_run(),  # a backfill is one run (see features)
    op_tags=k8s_op_tags("drift_report"),  # its own pod size under k8s_job_executor
)
def drift_report(
    context: dg.AssetExecutionContext,
    artifacts: ArtifactStore,
    monitoring: MonitoringResource,
    settings: SettingsResource,
    registry: RegistryResource,
) -> dg.MaterializeResult:
    """Evidently drift report of the day against the registry champion's reference profile
    (without a champion: the reference of the model that served the day). The report names the
    champion version it compared against (metadata and summary.json).

    Publishes ``drift_share`` and ``feature_drifted`` (the data_drift policy's input) and checks
    the share against the policy threshold.
    """
    champion = champion_version(registry)  # once per run: every day compares against it
    return _one_result_per_run(
        context,
        {
            day: _drift_report_day(day, artifacts, monitoring, settings, champion)
            for day in context.partition_keys
        },
    )


def _drift_report_day(
    day: str,
    artifacts: ArtifactStore,
    monitoring: MonitoringResource,
    settings: SettingsResource,
    champion: str | None,
) -> dg.MaterializeResult:
    from ctscan_ops.drift.pipeline import dominant_model_version
    from ctscan_ops.drift.report import drift_threshold, run_drift_report

    environment = settings.environment
    threshold = drift_threshold(environment, settings.catalog_path)
    manifest_key = features_key(day, "manifest.json")
    if not artifacts.exists(manifest_key):
        raise FileNotFoundError(
            f"no features manifest for {day} at {artifacts.uri(manifest_key)}: "
            "materialize prediction_features for this partition first"
        )
    manifest = artifacts.get_json(manifest_key)
    if manifest["status"] != "ok":
        reason = f"no report: {manifest.get('reason', 'no features')}"
        artifacts.put_json(report_key(day, "summary.json"), {"skipped": True, "reason": reason})
        return dg.MaterializeResult(
            metadata={"status": "skipped", "skip_reason": reason},
            check_results=[
                dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=True,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={"evaluated": False, "reason": reason},
                )
            ],
        )
    from ctscan_ops.drift.features import FEATURE_COLUMNS
    from ctscan_ops.drift.report import DEFAULT_CATEGORICAL, DEFAULT_NUMERICAL

    served = dominant_model_version(manifest.get("model_versions", {}))
    version = champion or served
    if version is None:
        version = artifacts.get_json("drift/reference/current.json")["model_version"]
    if not artifacts.exists(profile_key(version)):
        why = "the champion changed: " if champion else ""
        raise FileNotFoundError(
            f"no reference profile for model {version!r} ({artifacts.uri(profile_key(version))}): "
            f"{why}materialize reference_profile (it follows the registry's champion)"
        )
    reference = _read_parquet(artifacts.get_bytes(profile_key(version)))
    current = _read_parquet(artifacts.get_bytes(features_key(day, "features.parquet")))
    # Prediction columns compare one model's outputs with another's when the day was served by
    # a model other than the reference's: then only the inputs are compared.
    same_model = served is None or served == version
    numerical = DEFAULT_NUMERICAL if same_model else tuple(FEATURE_COLUMNS)
    categorical = DEFAULT_CATEGORICAL if same_model else ()
    report = run_drift_report(
        reference,
        current,
        numerical,
        categorical,
        threshold=threshold,
        timestamp=datetime.fromisoformat(day),
    )
    summary = report.summary.to_dict()
    summary.update(
        date=day,
        model_version=version,
        champion_version=champion,
        served_model_version=served,
        prediction_columns_compared=same_model,
    )
    html_uri = artifacts.put_bytes(report_key(day, "report.html"), report.html or b"", "text/html")
    artifacts.put_bytes(report_key(day, "report.json"), report.json, "application/json")
    published, note = _publish(monitoring, day, summary, environment)
    summary.update(metric_published=published, metric_note=note)
    artifacts.put_json(report_key(day, "summary.json"), summary)
    s = report.summary
    metadata = {
        "status": "ok",
        "drift_share": dg.MetadataValue.float(s.drift_share),
        "n_drifted": s.n_drifted,
        "n_columns": len(s.columns),
        "drifted_columns": dg.MetadataValue.json(s.drifted_columns),
        "dataset_drift": s.dataset_drift,
        "threshold": dg.MetadataValue.float(s.threshold),
        "threshold_source": s.threshold_source,
        "reference_rows": s.reference_rows,
        "current_rows": s.current_rows,
        "model_version": version,
        "champion_version": champion or "",
        "served_model_version": served or "",
        "prediction_columns_compared": same_model,
        "report_html": dg.MetadataValue.url(artifacts.browser_url(report_key(day, "report.html"))),
        "drift_share_over_days": _drift_share_plot(artifacts, day, s.threshold, environment),
        "columns": table_value(DRIFT_COLUMNS, drift_column_records(s.columns)[:MAX_LISTED]),
        "report_gs": html_uri,
        "report_json": artifacts.uri(report_key(day, "report.json")),
        "metric_published": published,
        "metric_note": note,
    }
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=not s.dataset_drift,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "drift_share": dg.MetadataValue.float(s.drift_share),
                    "threshold": dg.MetadataValue.float(s.threshold),
                    "comparison": s.comparison,
                    "drifted_columns": dg.MetadataValue.json(s.drifted_columns),
                },
            )
        ],
    )


@dg.asset(
    group_name=GROUP,
    kinds={"gcs"},
    deps=[drift_report],
    automation_condition=automation.DRIFT_CALIBRATION,
)
def drift_calibration(
    context: dg.AssetExecutionContext,
    drift_logs: ArtifactStore,
    artifacts: ArtifactStore,
    settings: SettingsResource,
) -> dg.MaterializeResult:
    """How often the drift check fires on days labelled stable (false alarms) and on the drift
    episode (recall), per threshold, from every stored daily report summary."""
    from ctscan_ops.drift import calibration as cal
    from ctscan_ops.drift.contracts import LABELS_KEY
    from ctscan_ops.drift.report import drift_threshold

    threshold = drift_threshold(settings.environment, settings.catalog_path)
    summaries: dict[str, Any] = {}
    for key in artifacts.list_keys("drift/reports/"):
        if key.endswith("/summary.json"):
            day = key.split("date=")[1].split("/")[0]
            summaries[day] = artifacts.get_json(key)
    if not drift_logs.exists(LABELS_KEY):
        return dg.MaterializeResult(
            metadata={
                "status": "no labels",
                "reports": len(summaries),
                "labels_expected_at": drift_logs.uri(LABELS_KEY),
            }
        )
    labels_doc = drift_logs.get_json(LABELS_KEY)
    labels = {d["date"]: d["label"] for d in labels_doc["days"]}
    days = cal.day_results_from(summaries, labels)
    rows = cal.score_thresholds(days, comparison=threshold.comparison)
    at_policy = cal.score_thresholds(days, [threshold.value], threshold.comparison)[0]
    noisy = cal.column_false_alarm_rates(days)
    doc = {
        "threshold": threshold.value,
        "comparison": threshold.comparison,
        "coverage": cal.coverage(days),
        "at_policy_threshold": cal.as_dicts([at_policy])[0],
        "per_threshold": cal.as_dicts(rows),
        "column_false_alarm_rates": noisy,
        "days": [d.__dict__ for d in days],
    }
    uri = artifacts.put_json("drift/calibration/latest.json", doc)
    context.log.info(
        f"drift check at {threshold.value}: false alarms {at_policy.false_alarms}/"
        f"{at_policy.stable_days}, recall {at_policy.detected}/{at_policy.drift_days}"
    )
    noisy_md = "\n".join(
        ["| column | flagged on stable days |", "|---|---|"]
        + [f"| {c} | {100 * r:.0f}% |" for c, r in list(noisy.items())[:10]]
    )
    return dg.MaterializeResult(
        metadata={
            "status": "ok",
            "threshold": dg.MetadataValue.float(threshold.value),
            "false_alarm_rate": dg.MetadataValue.float(at_policy.false_alarm_rate or 0.0),
            "false_alarms": at_policy.false_alarms,
            "stable_days": at_policy.stable_days,
            "recall": dg.MetadataValue.float(at_policy.recall or 0.0),
            "detected": at_policy.detected,
            "drift_days": at_policy.drift_days,
            "detection_delay_days": at_policy.detection_delay_days
            if at_policy.detection_delay_days is not None
            else -1,
            "coverage": dg.MetadataValue.json(doc["coverage"]),
            "per_threshold": dg.MetadataValue.md(cal.markdown_table(rows, threshold.value)),
            "noisy_columns": dg.MetadataValue.md(noisy_md),
            "calibration_gs": uri,
        }
    )
