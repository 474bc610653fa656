"""Incremental sync until cut-over: new SQLite rows trigger a resuming ``firestore_feedback`` run.

The sensor only compares two numbers (SQLite ``MAX(id)`` and the checkpoint's ``last_id``), so a
tick is cheap and far from the 60 s sensor timeout. The run key is the source's max id: one run
per new high-water mark, never two for the same rows. After cut-over
(``settings.feedback_backend == "firestore"``: ``CTSCAN_FEEDBACK_BACKEND=firestore`` or the
original app's ``USE_FIRESTORE=1``, one rule in config.py) the app writes to Firestore directly and
the sensor skips.
"""

import dagster as dg

from ctscan_ops.feedback import migrate as mig
from ctscan_ops.feedback import source
from ctscan_ops.feedback.assets import firestore_feedback
from ctscan_ops.resources import FirestoreResource, SettingsResource, SQLiteFeedbackResource


def sync_decision(source_max_id: int | None, checkpoint_last_id: int) -> int | None:
    """The max id to sync up to, or None when Firestore is already there."""
    if source_max_id is None or source_max_id <= checkpoint_last_id:
        return None
    return source_max_id


@dg.sensor(
    name="feedback_incremental_sync",
    target=[firestore_feedback],
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,  # no click to start (issue 12)
    description="Migrate new SQLite feedback rows to Firestore until cut-over.",
)
def feedback_incremental_sync(
    context: dg.SensorEvaluationContext,
    firestore: FirestoreResource,
    feedback_sqlite: SQLiteFeedbackResource,
    settings: SettingsResource,
) -> dg.SensorResult:
    if settings.feedback_backend == "firestore":
        return dg.SensorResult(skip_reason="cut over: the app writes to Firestore directly")
    try:
        src = source.summarise(feedback_sqlite.path)
    except source.SourceError as exc:
        return dg.SensorResult(skip_reason=str(exc))
    target = mig.Target()
    state = mig.read_checkpoint(
        firestore.client(), target, mig.checkpoint_key(target.source_label), deadline=20
    )
    last = int((state or {}).get("last_id", 0))
    upto = sync_decision(src.max_id, last)
    if upto is None:
        return dg.SensorResult(skip_reason=f"up to date at id {last}", cursor=str(last))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"feedback-sync-{upto}", tags={"upto_id": str(upto)})],
        cursor=str(upto),
    )
