"""The feedback domain's definitions (resources come from the root definitions)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.feedback.assets import firestore_feedback, firestore_parity, sqlite_feedback
from ctscan_ops.feedback.sensors import feedback_incremental_sync

defs = dg.Definitions(
    assets=[sqlite_feedback, firestore_feedback],
    asset_checks=[firestore_parity],
    sensors=[feedback_incremental_sync],
)


def demo_steps(runner: Any) -> None:
    """Sandbox demo: observe SQLite, migrate (parity check runs with it), then one sync tick,
    which finds Firestore up to date (or, on a re-run after new rows, requests the sync)."""
    runner.materialize(
        ["sqlite_feedback", "firestore_feedback"], label="feedback: observe + migrate + parity"
    )
    runner.tick_sensor("feedback_incremental_sync")
