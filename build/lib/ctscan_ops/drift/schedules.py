"""Daily drift job (features + report, one partition per day) and the calibration refresh."""

from __future__ import annotations

import dagster as dg

from ctscan_ops.drift.assets import (
    drift_calibration,
    drift_report,
    prediction_features,
    reference_profile,
)
from ctscan_ops.partitions import daily_partitions

drift_daily_job = dg.define_asset_job(
    "drift_daily_job",
    selection=[prediction_features, drift_report],
    partitions_def=daily_partitions,
    description="Features and Evidently drift report for one day of predictions.",
)
drift_calibration_job = dg.define_asset_job("drift_calibration_job", selection=[drift_calibration])
drift_reference_job = dg.define_asset_job(
    "drift_reference_job",
    selection=[reference_profile],
    description="Rebuild the reference profile (run when a new model version is promoted).",
)

# 03:00 UTC for the day that just ended: late predictions have landed by then.
drift_daily_schedule = dg.build_schedule_from_partitioned_job(
    drift_daily_job, hour_of_day=3, minute_of_hour=0
)
drift_calibration_schedule = dg.ScheduleDefinition(
    job=drift_calibration_job, cron_schedule="30 3 * * *", execution_timezone="UTC"
)
