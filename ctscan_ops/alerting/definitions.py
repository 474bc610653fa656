"""Alerting domain: shadow-mode evaluation of the alert policy catalog."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents
from ctscan_ops.alerting.readiness_checks import policy_readiness
from ctscan_ops.alerting.sensors import shadow_alert_sensor
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.alerting.tuning_assets import (
    TuningOutput,
    threshold_tuning_plots,
    threshold_tuning_report,
    threshold_tuning_sensor,
)
from ctscan_ops.config import Settings

defs = dg.Definitions(
    assets=[
        incident_register,
        shadow_incidents,
        alert_quality,
        threshold_tuning_report,
        threshold_tuning_plots,
    ],
    sensors=[shadow_alert_sensor, threshold_tuning_sensor],
    asset_checks=[policy_readiness],
)


def resources(settings: Settings) -> dict[str, Any]:
    """Alerting's settings-dependent resources (built by ``ctscan_ops.definitions``)."""
    return {
        "alerting": AlertingSettings(catalog_path=str(settings.alert_catalog_path)),
        "tuning_output": TuningOutput.for_settings(settings),
    }
