"""The drift domain's definitions; shared resources come from the root, plus ``drift_logs``
(the drift-logs bucket, where the API's prediction logs and the reference sets live)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.config import Settings
from ctscan_ops.drift.assets import (
    drift_calibration,
    drift_report,
    prediction_features,
    reference_profile,
)
from ctscan_ops.drift.schedules import (
    drift_calibration_job,
    drift_daily_job,
    drift_daily_schedule,
    drift_reference_job,
)
from ctscan_ops.resources import ArtifactStore


def drift_logs_store(s: Settings) -> ArtifactStore:
    return ArtifactStore(
        bucket=s.drift_logs_bucket, prefix="", project=s.project_id, endpoint=s.endpoints.gcs_url
    )


def resources(settings: Settings) -> dict[str, Any]:
    """The drift domain's settings-dependent resources (built by ``ctscan_ops.definitions``)."""
    return {"drift_logs": drift_logs_store(settings)}


defs = dg.Definitions(
    assets=[reference_profile, prediction_features, drift_report, drift_calibration],
    jobs=[drift_daily_job, drift_calibration_job, drift_reference_job],
    schedules=[drift_daily_schedule],
)
