"""Alerting domain: shadow-mode evaluation of the alert policy catalog."""

from __future__ import annotations

import dagster as dg

from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents
from ctscan_ops.alerting.sensors import shadow_alert_sensor
from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.alerting.tuning_assets import (
    TuningOutput,
    threshold_tuning_report,
    threshold_tuning_sensor,
)

defs = dg.Definitions(
    assets=[incident_register, shadow_incidents, alert_quality, threshold_tuning_report],
    sensors=[shadow_alert_sensor, threshold_tuning_sensor],
    resources={"alerting": AlertingSettings(), "tuning_output": TuningOutput()},
)
