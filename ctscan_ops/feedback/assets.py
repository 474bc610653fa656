"""Dagster wrappers for the feedback move: observe SQLite, migrate, verify (thin; logic elsewhere).

``firestore_feedback`` is resumable by construction: every materialization continues from the
checkpoint committed in Firestore, so re-running a failed or interrupted run from the UI (or a
sensor-triggered incremental sync) picks up exactly where the last commit ended. ``max_rows``
lets an operator move the data in chunks. ``firestore_parity`` can be executed on its own from
the asset page at any time.
"""

import contextlib
from typing import Any

import dagster as dg

from ctscan_ops import automation
from ctscan_ops.common.markdown import md_table
from ctscan_ops.common.timeparse import parse_iso
from ctscan_ops.common.view import Column
from ctscan_ops.feedback import archive as arch
from ctscan_ops.feedback import migrate as mig
from ctscan_ops.feedback import parity as par
from ctscan_ops.feedback import schema, source
from ctscan_ops.metadata_values import table_shape
from ctscan_ops.resources import ArtifactStore, FirestoreResource, SQLiteFeedbackResource

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
    # The time the retention rule is applied at (ISO 8601); None: now. Rows with
    # timestamp + 90 days <= it are archived (Parquet) instead of written to Firestore.
    as_of: str | None = None


def feedback_archive(artifacts: ArtifactStore) -> arch.FeedbackArchive:
    """The archive of rows past retention: ``gs://<artifacts>/<prefix>/feedback/archive/``."""
    prefix = f"{artifacts.prefix}/feedback/archive" if artifacts.prefix else "feedback/archive"
    return arch.FeedbackArchive(artifacts.client().bucket(artifacts.bucket), prefix)


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


#: the fields of a migrated feedback document (``schema.classify``), for the asset's Columns
FIRESTORE_COLUMNS = (
    Column("timestamp", "timestamp", "UTC; naive source times are assumed UTC"),
    Column("image_path", "string"),
    Column("predicted_class", "string", "one of the CT classes"),
    Column("predicted_confidence", "float", "0..1"),
    Column("is_correct", "bool"),
    Column("correct_class", "string", "null unless the user corrected the prediction"),
    Column("user_note", "string"),
    Column("confidence_rating", "string"),
    Column("image_stats", "map"),
    Column("expireAt", "timestamp", f"TTL: timestamp + {schema.TTL_DAYS} days"),
    Column("source_id", "int", "SQLite feedback.id"),
    Column("timestamp_assumed_utc", "bool"),
)


def _sqlite_columns(path: str) -> list[Column]:
    """The feedback table's declared columns, as SQLite reports them (read-only)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        info = con.execute("PRAGMA table_info(feedback)").fetchall()
    return [Column(str(row[1]), str(row[2] or "any").lower()) for row in info]


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
            **table_shape(s.rows, _sqlite_columns(str(feedback_sqlite.path))),
        }
    )


@dg.asset(group_name=GROUP, kinds={"firestore"}, deps=[sqlite_feedback], pool="firestore")
def firestore_feedback(
    context: dg.AssetExecutionContext,
    config: MigrationConfig,
    firestore: FirestoreResource,
    feedback_sqlite: SQLiteFeedbackResource,
    artifacts: ArtifactStore,
) -> dg.MaterializeResult:
    """Feedback in Firestore: SQLite rows migrated from the checkpoint on, bad ones quarantined,
    rows already past retention archived to Parquet (so Firestore's TTL cannot eat them)."""
    client = firestore.client()
    target = mig.Target()
    archive = feedback_archive(artifacts)

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
        archive=archive,
        now=parse_iso(config.as_of)[0] if config.as_of else None,
    )
    cum = rep.cumulative
    src = source.summarise(feedback_sqlite.path)
    remaining = source.count_after(feedback_sqlite.path, rep.last_id)
    return dg.MaterializeResult(
        metadata={
            "rows_read": dg.MetadataValue.int(rep.rows_read),
            "rows_written": dg.MetadataValue.int(rep.migrated),
            "rows_quarantined": dg.MetadataValue.int(rep.quarantined),
            "rows_archived": dg.MetadataValue.int(rep.archived),
            "archive_parts_written": dg.MetadataValue.int(rep.archive_parts),
            "archive_parts_reused": dg.MetadataValue.int(rep.archive_parts_reused),
            "total_archived": dg.MetadataValue.int(int(cum.get("archived", 0))),
            "commits": dg.MetadataValue.int(rep.commits),
            "throughput_rows_per_s": dg.MetadataValue.float(round(rep.rows_per_second, 1)),
            "checkpoint_last_id": dg.MetadataValue.int(rep.last_id),
            "resumed_after_id": dg.MetadataValue.int(rep.started_after),
            "total_migrated": dg.MetadataValue.int(int(cum["migrated"])),
            "total_quarantined": dg.MetadataValue.int(int(cum["quarantined"])),
            **table_shape(int(cum["migrated"]), FIRESTORE_COLUMNS),
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
                    "archive": archive.uri(),
                }
            ),
        }
    )


@dg.asset_check(asset=firestore_feedback, name="firestore_parity")
def firestore_parity(
    firestore: FirestoreResource, feedback_sqlite: SQLiteFeedbackResource, artifacts: ArtifactStore
) -> dg.AssetCheckResult:
    """SQLite vs Firestore + archive: totals, per-class and per-day counts, content checksum;
    every row in Firestore, archived, quarantined or expired by TTL; names ids otherwise."""
    res = par.firestore_parity(
        firestore.client(), feedback_sqlite.path, archive=feedback_archive(artifacts)
    )
    acc = res.accounting()
    per_class = md_table(
        ["class", "expected", "firestore"], [[c, e, a] for c, (e, a) in res.per_class.items()]
    )
    problems = res.problems()
    return dg.AssetCheckResult(
        passed=res.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "source_rows": dg.MetadataValue.int(res.source_rows),
            "migrated": dg.MetadataValue.int(res.firestore_in_prefix),
            "quarantined": dg.MetadataValue.int(res.firestore_quarantined),
            "archived": dg.MetadataValue.int(res.archived),
            "expired_by_ttl": dg.MetadataValue.int(res.expired),
            "unaccounted": dg.MetadataValue.int(acc["unaccounted"]),
            "accounting": dg.MetadataValue.json(acc),
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
