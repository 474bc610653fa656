"""Dagster wrappers of the registry: versions, evaluations, gated promotion, live metrics.

Flow: ``model_versions_sensor`` adds a dynamic partition per registered version and requests
``model_versions`` + ``model_evaluation`` for it (run_key carries the sha256). Then
``challenger_model`` proposes the next candidate (moves the ``challenger`` alias),
the blocking check ``challenger_beats_champion`` judges it, and ``champion_model`` moves the
``champion`` alias with the evidence bundle. The check sits on ``challenger_model`` because a
blocking check only stops *downstream* assets: on ``champion_model`` itself it would run after
the alias had already moved. ``champion_model`` re-applies the gate itself, so materializing it
alone can never skip the rule.

torch is only imported inside the asset bodies (definitions load stays light).
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import Field

from ctscan_ops import automation
from ctscan_ops.common.markdown import md_table
from ctscan_ops.k8s_resources import k8s_op_tags
from ctscan_ops.registry.store import DEFAULT_MODEL_NAME, RegistryStore
from ctscan_ops.resources.firestore import FirestoreResource
from ctscan_ops.resources.monitoring import MonitoringResource
from ctscan_ops.resources.settings import SettingsResource
from ctscan_ops.resources.sqlite import SQLiteFeedbackResource
from ctscan_ops.resources.storage import gs_browser_url

model_versions_partitions = dg.DynamicPartitionsDefinition(name="model_versions")
GROUP = "registry"


class RegistryResource(dg.ConfigurableResource):
    """Where the registry lives and the promotion policy (recorded with each decision)."""

    bucket: str
    model_name: str = DEFAULT_MODEL_NAME
    project: str | None = None
    endpoint: str | None = Field(default=None, description="GCS emulator URL (sandbox only)")
    environment: str = "prod"
    macro_f1_margin: float = 0.01
    max_class_recall_drop: float = 0.10
    min_class_recall: float = 0.5
    latency_budget_ms: float = 50.0
    drift_share_threshold: float = 0.3
    live_window: int = 100
    holdout_uri: str | None = Field(
        default=None,
        description="held-out set gs://bucket/prefix/ (CTSCAN_HOLDOUT_URI); "
        "unset = gs://<bucket>/registry/holdout/",
    )

    def holdout_location(self) -> str:
        return self.holdout_uri or f"gs://{self.bucket}/registry/holdout/"

    def store(self) -> RegistryStore:
        from ctscan_ops.resources.storage import make_storage_client

        return RegistryStore(
            make_storage_client(self.project, self.endpoint),
            self.bucket,
            model_name=self.model_name,
        )

    def policy(self) -> Any:
        from ctscan_ops.registry.gate import GatePolicy

        return GatePolicy(
            macro_f1_margin=self.macro_f1_margin,
            max_class_recall_drop=self.max_class_recall_drop,
            min_class_recall=self.min_class_recall,
            latency_budget_ms=self.latency_budget_ms,
        )


def _gs_link(registry: RegistryResource, name: str, uri: str) -> dict[str, dg.MetadataValue]:
    """``name``: the ``gs://`` text operators copy (gsutil, the CLI); ``name_url``: a link that
    opens in a browser (the emulator in the sandbox, an authenticated download on GCP)."""
    return {
        name: dg.MetadataValue.text(uri),
        f"{name}_url": dg.MetadataValue.url(gs_browser_url(uri, registry.endpoint)),
    }


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    return md_table(header, rows)


def _fail(msg: str) -> dg.Failure:
    return dg.Failure(description=msg, allow_retries=False)


@dg.asset(
    group_name=GROUP,
    partitions_def=model_versions_partitions,
    kinds={"gcs", "pytorch"},
)
def model_versions(context: dg.AssetExecutionContext, registry: RegistryResource):
    """A registered checkpoint, verified: sha256 matches its record and it loads weights-only."""
    from ctscan_ops.registry.store import RegistryError

    store = registry.store()
    version = context.partition_key
    try:
        record, state = store.load_state_dict(version)
    except RegistryError as exc:
        raise _fail(f"model version {version} refused: {exc}") from exc
    moves = {a: store.get_alias(a) for a in ("champion", "challenger")}
    aliases = [a for a, m in moves.items() if m is not None and m.version == version]
    return dg.MaterializeResult(
        metadata={
            "version": record.version,
            "sha256": record.sha256,
            "size_bytes": record.size,
            "architecture": record.architecture,
            "parameters": dg.MetadataValue.json(record.parameters),
            "num_tensors": len(state),
            "created_at": record.created_at,
            "source": record.source,
            **_gs_link(registry, "checkpoint", store.uri(record.checkpoint_key)),
            "aliases": ", ".join(aliases) or "-",
        },
        data_version=dg.DataVersion(record.sha256),
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=model_versions_partitions,
    deps=[model_versions],
    kinds={"pytorch"},
    op_tags=k8s_op_tags("model_evaluation"),  # its own pod size under k8s_job_executor
)
def model_evaluation(context: dg.AssetExecutionContext, registry: RegistryResource):
    """Held-out metrics of one version: accuracy, per-class P/R, macro-F1, ECE, CPU latency.

    The held-out set is the one at ``registry.holdout_location()`` (docs/data-contracts.md), in
    sandbox and gcp mode alike; its content hash is the ``data_version`` of the evaluation.
    """
    from ctscan_ops.registry.evaluate import evaluate_model
    from ctscan_ops.registry.holdout import HoldoutError, load_holdout

    store = registry.store()
    record, model = store.load_model(context.partition_key)
    image_size = int(record.parameters.get("image_size", 64))
    try:
        holdout = load_holdout(store.client, registry.holdout_location(), image_size=image_size)
    except HoldoutError as exc:
        raise _fail(f"held-out set refused: {exc}") from exc
    report = {**evaluate_model(model, holdout.images, holdout.labels), **holdout.describe()}
    uri = store.put_evaluation(record.version, report)
    per_class = [
        [name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
        for name, m in report["per_class"].items()
    ]
    cm_rows = [
        [name, *row]
        for name, row in zip(report["per_class"], report["confusion_matrix"], strict=True)
    ]
    return dg.MaterializeResult(
        metadata={
            "version": record.version,
            "dataset": report["dataset"],
            "data_version": report["data_version"],
            "holdout_uri": dg.MetadataValue.text(report["holdout_uri"]),
            "holdout_layout": report["holdout_layout"],
            "n": report["n"],
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "ece": report["ece"],
            "latency_p50_ms": report["latency_p50_ms"],
            "latency_p95_ms": report["latency_p95_ms"],
            "images_per_s": report["images_per_s"],
            "per_class": dg.MetadataValue.md(
                _md_table(["class", "precision", "recall", "f1", "support"], per_class)
            ),
            "per_class_metrics": dg.MetadataValue.json(report["per_class"]),
            "confusion_matrix": dg.MetadataValue.md(
                _md_table(["true \\ pred", *report["per_class"]], cm_rows)
            ),
            **_gs_link(registry, "report", uri),
        },
        data_version=dg.DataVersion(f"{record.sha256[:16]}:{report['data_version'][:16]}"),
    )


def _shadow_events(instance: dg.DagsterInstance, limit: int = 2000) -> list[dict[str, Any]]:
    """Shadow-incident observations (alerting domain), oldest first, as plain dicts."""
    result = instance.fetch_observations(dg.AssetKey("shadow_incidents"), limit=limit)
    events = []
    for rec in reversed(result.records):
        obs = rec.asset_observation
        if obs is None:
            continue
        events.append({k: getattr(v, "value", v) for k, v in obs.metadata.items()})
    return events


def gather_evidence(
    instance: dg.DagsterInstance | None,
    registry: RegistryResource,
    monitoring: MonitoringResource | None,
    version: str,
) -> dict[str, Any]:
    """Open drift and shadow-alert evidence against ``version``; unknown counts as open."""
    from ctscan_ops.registry.evidence import open_drift_evidence, open_shadow_alerts

    drift: list[str] = []
    snapshot: dict[str, Any] = {}
    if monitoring is not None:
        try:
            drift, snapshot = open_drift_evidence(
                monitoring.client(),
                monitoring.project_name,
                environment=registry.environment,
                now=datetime.now(UTC),
                threshold=registry.drift_share_threshold,
            )
        except Exception as exc:  # fail closed: no promotion on unknown drift status
            drift = [f"drift status unknown: {type(exc).__name__}: {str(exc)[:200]}"]
    shadow = open_shadow_alerts(_shadow_events(instance), version) if instance else []
    return {"open_drift": drift, "drift_snapshot": snapshot, "open_shadow_alerts": shadow}


def judge(
    store: RegistryStore,
    registry: RegistryResource,
    evidence: dict[str, Any],
) -> tuple[Any, Any, Any]:
    """(challenger alias, champion alias, GateDecision or None when nothing to judge)."""
    from ctscan_ops.registry.gate import challenger_beats_champion

    chal = store.get_alias("challenger")
    champ = store.get_alias("champion")
    if chal is None or (champ is not None and chal.version == champ.version):
        return chal, champ, None
    c_eval = store.get_evaluation(chal.version)
    h_eval = None if champ is None else store.get_evaluation(champ.version)
    if c_eval is None or (champ is not None and h_eval is None):
        missing = chal.version if c_eval is None else champ.version
        raise _fail(f"no stored evaluation for {missing}: materialize model_evaluation for it")
    decision = challenger_beats_champion(
        c_eval,
        h_eval,
        policy=registry.policy(),
        open_drift=evidence["open_drift"],
        open_shadow_alerts=evidence["open_shadow_alerts"],
    )
    return chal, champ, decision


@dg.asset(
    group_name=GROUP,
    deps=[model_evaluation],
    kinds={"gcs"},
    automation_condition=automation.CHALLENGER_MODEL,
)
def challenger_model(context: dg.AssetExecutionContext, registry: RegistryResource):
    """The version proposed for promotion: the oldest evaluated one newer than the champion."""
    from ctscan_ops.registry.gate import next_candidate

    store = registry.store()
    champ = store.get_alias("champion")
    evaluated = [v for v in store.list_version_ids() if store.get_evaluation(v) is not None]
    refused = store.refused_against(champ.version) if champ else set()
    candidate = next_candidate(evaluated, champ.version if champ else None, refused)
    current = store.get_alias("challenger")
    status = "no new candidate"
    if candidate is not None and (current is None or current.version != candidate):
        ev = store.get_evaluation(candidate) or {}
        current = store.promote(
            candidate,
            alias="challenger",
            reason="next candidate",
            actor="dagster:challenger_model",
            evidence={"macro_f1": ev.get("macro_f1"), "dataset": ev.get("dataset")},
        )
        status = "proposed"
    elif candidate is not None:
        status = "already proposed"
    ev = store.get_evaluation(current.version) if current else None
    return dg.MaterializeResult(
        metadata={
            "challenger": current.version if current else "-",
            "champion": champ.version if champ else "-",
            "status": status,
            "challenger_macro_f1": float(ev["macro_f1"]) if ev else float("nan"),
            "refused_against_champion": ", ".join(sorted(refused)) or "-",
        }
    )


def holdout_versions(
    store: RegistryStore, challenger: str, champion: str | None
) -> tuple[dict[str, Any], str | None]:
    """Held-out data version of each side's evaluation, and what to do when they differ.

    Evaluations on different held-out data are never compared: the gate's ``same_holdout``
    rule fails (``dataset`` carries the content hash), and this names the stale side. The check
    does not re-evaluate by itself: a check must not run minutes of inference nor rewrite the
    champion's stored evaluation as a side effect; re-materializing ``model_evaluation`` for the
    named partition is one click and leaves a record.
    """
    sides = {"challenger": challenger, **({"champion": champion} if champion else {})}
    found = {side: (store.get_evaluation(v) or {}).get("data_version") for side, v in sides.items()}
    if champion is None or found["challenger"] == found["champion"]:
        return found, None
    return found, (
        f"held-out data differs: challenger {challenger} was evaluated on "
        f"{found['challenger'] or 'an unversioned set'}, champion {champion} on "
        f"{found['champion'] or 'an unversioned set'}; materialize model_evaluation for both "
        "partitions on the current held-out set before comparing."
    )


@dg.asset_check(asset=challenger_model, blocking=True)
def challenger_beats_champion(
    context: dg.AssetCheckExecutionContext,
    registry: RegistryResource,
    monitoring: MonitoringResource,
) -> dg.AssetCheckResult:
    """Better macro-F1 by a margin, no class recall collapse, latency budget, no open evidence."""
    store = registry.store()
    chal = store.get_alias("challenger")
    evidence = gather_evidence(context.instance, registry, monitoring, chal.version if chal else "")
    chal, champ, decision = judge(store, registry, evidence)
    if decision is None:
        return dg.AssetCheckResult(
            passed=True,
            metadata={"decision": "nothing to promote: the challenger is the champion or unset"},
        )
    versions, mismatch = holdout_versions(store, chal.version, champ.version if champ else None)
    # a comparison on different data is not a verdict: no refusal is recorded for it
    if not decision.passed and champ is not None and mismatch is None:
        store.record_refusal(
            champ.version, chal.version, {"failures": decision.failures, "evidence": evidence}
        )
    rows = [[k, "pass" if c["passed"] else "FAIL", c["detail"]] for k, c in decision.checks.items()]
    return dg.AssetCheckResult(
        passed=decision.passed and mismatch is None,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(mismatch + " " if mismatch else "") + decision.summary()[:1000],
        metadata={
            "challenger": chal.version,
            "champion": champ.version if champ else "-",
            "holdout_data_versions": dg.MetadataValue.json(versions),
            "checks": dg.MetadataValue.md(_md_table(["rule", "result", "detail"], rows)),
            "drift_snapshot": dg.MetadataValue.json(evidence["drift_snapshot"]),
            "policy": dg.MetadataValue.json(registry.policy().__dict__),
        },
    )


@dg.asset(
    group_name=GROUP,
    deps=[challenger_model],
    kinds={"gcs", "pytorch"},
    automation_condition=automation.CHAMPION_MODEL,
)
def champion_model(
    context: dg.AssetExecutionContext,
    registry: RegistryResource,
    monitoring: MonitoringResource,
):
    """The serving checkpoint: moves the champion alias (CAS) with its evidence bundle."""
    from ctscan_ops.registry.store import PreconditionLostError, RegistryError

    store = registry.store()
    chal = store.get_alias("challenger")
    evidence = gather_evidence(context.instance, registry, monitoring, chal.version if chal else "")
    chal, champ, decision = judge(store, registry, evidence)
    if decision is None:
        if champ is None:
            raise _fail("no champion and no challenger: register and evaluate a version first")
        return dg.MaterializeResult(
            metadata={
                "champion": champ.version,
                "moved": False,
                "sha256": champ.sha256,
                **_gs_link(registry, "serving_checkpoint", store.serving_checkpoint_uri()),
            }
        )
    if not decision.passed:
        raise _fail(f"promotion of {chal.version} refused: {decision.summary()}")
    try:
        record, _ = store.load_state_dict(chal.version)
    except RegistryError as exc:
        raise _fail(f"challenger {chal.version} refused: {exc}") from exc
    bundle = {
        "gate": decision.checks,
        "policy": registry.policy().__dict__,
        "challenger_eval": _eval_summary(store.get_evaluation(chal.version)),
        "champion_eval": _eval_summary(store.get_evaluation(champ.version)) if champ else None,
        "drift_snapshot": evidence["drift_snapshot"],
        "open_shadow_alerts": evidence["open_shadow_alerts"],
        "sha256": record.sha256,
        "checkpoint": store.uri(record.checkpoint_key),
        "dagster_run_id": context.run_id,
    }
    try:
        moved = store.promote(
            chal.version,
            reason="challenger beats champion",
            actor="dagster:champion_model",
            evidence=bundle,
            expected_generation=None if champ is None else champ.generation,
        )
    except PreconditionLostError as exc:
        raise _fail(str(exc)) from exc
    return dg.MaterializeResult(
        metadata={
            "champion": moved.version,
            "previous": moved.previous_version or "-",
            "moved": True,
            "seq": moved.seq,
            "sha256": moved.sha256,
            **_gs_link(registry, "serving_checkpoint", store.serving_checkpoint_uri()),
            **_gs_link(registry, "evidence", store.uri(store.history_key("champion", moved.seq))),
            "gate": decision.summary()[:1000],
            "drift_snapshot": dg.MetadataValue.json(evidence["drift_snapshot"]),
        },
        data_version=dg.DataVersion(moved.sha256),
    )


def _eval_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("dataset", "n", "accuracy", "macro_f1", "ece", "latency_p95_ms")
    return {k: report.get(k) for k in keys} | {
        "recall": {k: v["recall"] for k, v in report.get("per_class", {}).items()}
    }


def feedback_rows_sqlite(path: str) -> list[dict[str, Any]]:
    """Feedback verdict rows from the SQLite store (duplicates skipped), as stored."""
    from ctscan_ops.feedback.store import SqliteFeedbackStore

    return list(SqliteFeedbackStore(path).verdict_rows())


def feedback_rows_firestore(client: Any, collection: str = "feedback") -> list[dict[str, Any]]:
    """Feedback verdict rows from the Firestore store after cut-over, as stored."""
    from ctscan_ops.feedback.store import FirestoreFeedbackStore

    return list(FirestoreFeedbackStore(client, collection).verdict_rows())


@dg.asset(
    group_name=GROUP,
    deps=[champion_model],
    kinds={"sqlite", "firestore"},
    automation_condition=automation.LIVE_MODEL_METRICS,
)
def live_model_metrics(
    context: dg.AssetExecutionContext,
    registry: RegistryResource,
    monitoring: MonitoringResource,
    feedback_sqlite: SQLiteFeedbackResource,
    firestore: FirestoreResource,
    settings: SettingsResource,
):
    """Rolling live accuracy and mean confidence per served version, published as gauges.

    Feedback comes from the store the app writes to: SQLite before the cut-over, Firestore
    after (``settings.feedback_backend``: the same rule as the app's, read once in config.py).
    """
    from ctscan_ops.registry.live import gauge_points, live_metrics, serving_timeline
    from ctscan_ops.resources.monitoring import publish_gauges

    store = registry.store()
    timeline = serving_timeline(store.alias_history("champion"))
    if settings.feedback_backend == "firestore":
        rows = feedback_rows_firestore(firestore.client())
    else:
        rows = feedback_rows_sqlite(feedback_sqlite.path)
    metrics, rejected = live_metrics(rows, timeline, window=registry.live_window)
    points = gauge_points(metrics, environment=registry.environment, end_time=datetime.now(UTC))
    requests = publish_gauges(monitoring.client(), monitoring.project, points) if points else 0
    table = [
        [
            m.version,
            f"{m.accuracy:.3f}",
            f"{m.mean_confidence:.3f}",
            m.n,
            m.total,
            m.last_timestamp.isoformat(),
        ]
        for m in sorted(metrics.values(), key=lambda m: m.version)
    ]
    return dg.MaterializeResult(
        metadata={
            "versions": dg.MetadataValue.md(
                _md_table(["version", "accuracy", "mean_conf", "window", "rows", "last"], table)
            ),
            "feedback_source": settings.feedback_backend,
            "rows_read": len(rows),
            "rows_rejected": dg.MetadataValue.json(rejected),
            "points_published": len(points),
            "write_requests": requests,
            "window": registry.live_window,
            "metrics": dg.MetadataValue.json(
                {
                    "live_accuracy": "custom.googleapis.com/ctscan/live_accuracy",
                    "confidence": "custom.googleapis.com/ctscan/prediction_confidence_mean",
                }
            ),
        }
    )
