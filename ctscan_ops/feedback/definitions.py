"""The feedback domain's definitions (resources come from the root definitions)."""

from __future__ import annotations

import dagster as dg

from ctscan_ops.feedback.assets import firestore_feedback, firestore_parity, sqlite_feedback
from ctscan_ops.feedback.sensors import feedback_incremental_sync

defs = dg.Definitions(
    assets=[sqlite_feedback, firestore_feedback],
    asset_checks=[firestore_parity],
    sensors=[feedback_incremental_sync],
)
