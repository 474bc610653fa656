"""The drift domain's definitions; shared resources come from the root, plus ``drift_logs``
(the drift-logs bucket, where the API's prediction logs and the reference sets live)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.config import get_settings
from ctscan_ops.drift.assets import (
    drift_calibration,
    drift_report,
    prediction_features,
    reference_profile,
)
from ctscan_ops.drift.schedules import (
    drift_calibration_job,
    drift_calibration_schedule,
    drift_daily_job,
    drift_daily_schedule,
    drift_reference_job,
)
from ctscan_ops.resources import ArtifactStore


def drift_logs_store() -> ArtifactStore:
    s = get_settings()
    return ArtifactStore(
        bucket=s.drift_logs_bucket, prefix="", project=s.project_id, endpoint=s.endpoints.gcs_url
    )


defs = dg.Definitions(
    assets=[reference_profile, prediction_features, drift_report, drift_calibration],
    jobs=[drift_daily_job, drift_calibration_job, drift_reference_job],
    schedules=[drift_daily_schedule, drift_calibration_schedule],
    resources={"drift_logs": drift_logs_store()},
)


def demo_steps(runner: Any) -> None:
    """Sandbox demo: the reference profile, every world day's features + report (a backfill,
    one run per day as the daily schedule would do), then the detector's calibration."""
    from ctscan_ops.sandbox.world import read_manifest

    runner.materialize(["reference_profile"], label="drift: reference_profile")
    manifest = read_manifest(get_settings()) or {}
    for day in runner.world_days(manifest):
        runner.materialize(
            ["prediction_features", "drift_report"], partition_key=day, label=f"drift: {day}"
        )
    runner.materialize(["drift_calibration"], label="drift: drift_calibration")
