"""Daily drift job (features + report, one partition per day); calibration runs by automation."""

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
# RUNNING by default: a fresh deployment needs no click to start the daily reports.
drift_daily_schedule = dg.build_schedule_from_partitioned_job(
    drift_daily_job,
    hour_of_day=3,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
# drift_calibration has no schedule any more: its automation condition (ctscan_ops/automation.py)
# runs it daily once a new report landed, instead of at a fixed 03:30 whether or not it had.
