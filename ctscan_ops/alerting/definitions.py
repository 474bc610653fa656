"""Alerting domain: shadow-mode evaluation of the alert policy catalog."""

from __future__ import annotations

from typing import Any

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


def demo_steps(runner: Any) -> None:
    """Register, shadow history for the world's days, a few live sensor ticks, then quality."""
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import read_manifest

    manifest = read_manifest(get_settings()) or {}
    runner.materialize(["incident_register"])
    days = runner.world_days(manifest)
    if days:
        runner.materialize_range(["shadow_incidents"], days[0], days[-1])
    for _ in range(2):
        runner.tick_sensor("shadow_alert_sensor")
    runner.materialize(["alert_quality"])
    runner.tick_sensor("threshold_tuning_sensor")
