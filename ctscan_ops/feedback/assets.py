"""Dagster wrappers for the feedback move: observe SQLite, migrate, verify (thin; logic elsewhere).

``firestore_feedback`` is resumable by construction: every materialization continues from the
checkpoint committed in Firestore, so re-running a failed or interrupted run from the UI (or a
sensor-triggered incremental sync) picks up exactly where the last commit ended. ``max_rows``
lets an operator move the data in chunks. ``firestore_parity`` can be executed on its own from
the asset page at any time.
"""

from typing import Any

import dagster as dg

from ctscan_ops import automation
from ctscan_ops.common.markdown import md_table
from ctscan_ops.feedback import migrate as mig
from ctscan_ops.feedback import parity as par
from ctscan_ops.feedback import schema, source
from ctscan_ops.resources import FirestoreResource, SQLiteFeedbackResource

GROUP = "feedback"
REASON_TEXT = {
    schema.NULL_REQUIRED: "NULL or empty required column",
    schema.BAD_TIMESTAMP: "timestamp is not ISO-8601",
    schema.UNKNOWN_CLASS: "class name not one of the 4 classes",
    schema.BAD_CONFIDENCE: "predicted_confidence not a number in [0, 1]",
    schema.BAD_IS_CORRECT: "is_correct not 0/1",
    schema.BAD_IMAGE_STATS: "image_stats not a JSON object of numbers",
    schema.INCONSISTENT: "is_correct=1 but correct_class differs",
    schema.DUPLICATE: "same content as a lower id (double insert)",
}


class MigrationConfig(dg.Config):
    batch_size: int = 499
    max_rows: int | None = None  # None: everything after the checkpoint
    commit_deadline_s: float = 60.0


def quarantine_table(client: Any, target: mig.Target, reasons: dict[str, int]) -> str:
    """Reason | rows | meaning | example ids (3 per reason, from the quarantine collection)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    rows = []
    col = client.collection(target.quarantine)
    for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        examples = [
            s.id for s in col.where(filter=FieldFilter("reason", "==", reason)).limit(3).stream()
        ]
        rows.append([reason, n, REASON_TEXT.get(reason, ""), ", ".join(examples)])
    if not rows:
        return "_no rows quarantined_"
    return md_table(["reason", "rows", "meaning", "examples"], rows)


@dg.asset(group_name=GROUP, kinds={"sqlite"}, automation_condition=automation.SQLITE_FEEDBACK)
def sqlite_feedback(feedback_sqlite: SQLiteFeedbackResource) -> dg.MaterializeResult:
    """The legacy SQLite feedback table as it stands: row count, id range, raw class mix."""
    s = source.summarise(feedback_sqlite.path)
    table = md_table(["predicted_class (raw)", "rows"], sorted(s.per_class.items()))
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(s.rows),
            "min_id": dg.MetadataValue.int(s.min_id or 0),
            "max_id": dg.MetadataValue.int(s.max_id or 0),
            "per_class": dg.MetadataValue.md(table),
            "path": dg.MetadataValue.path(str(feedback_sqlite.path)),
        }
    )


@dg.asset(group_name=GROUP, kinds={"firestore"}, deps=[sqlite_feedback], pool="firestore")
def firestore_feedback(
    context: dg.AssetExecutionContext,
    config: MigrationConfig,
    firestore: FirestoreResource,
    feedback_sqlite: SQLiteFeedbackResource,
) -> dg.MaterializeResult:
    """Feedback in Firestore: SQLite rows migrated from the checkpoint on, bad ones quarantined."""
    client = firestore.client()
    target = mig.Target()

    def progress(r: mig.MigrationReport) -> None:
        if r.commits % 20 == 0:
            context.log.info(f"committed up to id {r.last_id} ({r.rows_read} rows this run)")

    rep = mig.migrate(
        client,
        feedback_sqlite.path,
        target=target,
        batch_size=config.batch_size,
        commit_deadline=config.commit_deadline_s,
        max_rows=config.max_rows,
        on_commit=progress,
    )
    cum = rep.cumulative
    src = source.summarise(feedback_sqlite.path)
    remaining = source.count_after(feedback_sqlite.path, rep.last_id)
    return dg.MaterializeResult(
        metadata={
            "rows_read": dg.MetadataValue.int(rep.rows_read),
            "rows_written": dg.MetadataValue.int(rep.migrated),
            "rows_quarantined": dg.MetadataValue.int(rep.quarantined),
            "commits": dg.MetadataValue.int(rep.commits),
            "throughput_rows_per_s": dg.MetadataValue.float(round(rep.rows_per_second, 1)),
            "checkpoint_last_id": dg.MetadataValue.int(rep.last_id),
            "resumed_after_id": dg.MetadataValue.int(rep.started_after),
            "total_migrated": dg.MetadataValue.int(int(cum["migrated"])),
            "total_quarantined": dg.MetadataValue.int(int(cum["quarantined"])),
            "source_rows": dg.MetadataValue.int(src.rows),
            "rows_remaining": dg.MetadataValue.int(remaining),
            "quarantine_reasons": dg.MetadataValue.md(
                quarantine_table(client, target, dict(cum["reasons"]))
            ),
            "collections": dg.MetadataValue.json(
                {
                    "documents": target.collection,
                    "quarantine": target.quarantine,
                    "checkpoint": f"{target.state}/{rep.checkpoint_key}",
                }
            ),
        }
    )


@dg.asset_check(asset=firestore_feedback, name="firestore_parity")
def firestore_parity(
    firestore: FirestoreResource, feedback_sqlite: SQLiteFeedbackResource
) -> dg.AssetCheckResult:
    """SQLite vs Firestore: totals, per-class and per-day counts, content checksum; names ids."""
    res = par.firestore_parity(firestore.client(), feedback_sqlite.path)
    per_class = md_table(
        ["class", "expected", "firestore"], [[c, e, a] for c, (e, a) in res.per_class.items()]
    )
    problems = res.problems()
    return dg.AssetCheckResult(
        passed=res.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "source_rows": dg.MetadataValue.int(res.source_rows),
            "migrated": dg.MetadataValue.int(res.firestore_docs - res.foreign_docs),
            "quarantined": dg.MetadataValue.int(res.firestore_quarantined),
            "expected_migrated": dg.MetadataValue.int(res.expected_migrated),
            "expected_quarantined": dg.MetadataValue.int(res.expected_quarantined),
            "foreign_docs": dg.MetadataValue.int(res.foreign_docs),
            "days_checked": dg.MetadataValue.int(res.days_checked),
            "months_counted": dg.MetadataValue.int(res.months_checked),
            "per_class": dg.MetadataValue.md(per_class),
            "checksum_match": dg.MetadataValue.bool(
                res.docs.checksum_expected == res.docs.checksum_actual
            ),
            "checksum_sqlite": dg.MetadataValue.text(f"{res.docs.checksum_expected:064x}"[:16]),
            "checksum_firestore": dg.MetadataValue.text(f"{res.docs.checksum_actual:064x}"[:16]),
            "problems": dg.MetadataValue.md(
                "\n".join(f"- {p}" for p in problems[:30]) if problems else "_none_"
            ),
        },
    )
