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
    """Register, shadow history for the world's days, live sensor ticks, quality, tuning.

    The feeder first writes the world's continuation from the world's end up to now (as the
    live services would have), then the shadow sensor replays from six hours before the
    world's end: its first tick completes the last world day and requests that partition.
    """
    import json
    import time
    from datetime import datetime

    from ctscan_ops.alerting.feeder import catch_up
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import read_manifest

    settings = get_settings()
    manifest = read_manifest(settings) or {}
    runner.materialize(["incident_register"])
    days = runner.world_days(manifest)
    if days:
        runner.materialize_range(["shadow_incidents"], days[0], days[-2])
    steps = catch_up(settings, until=time.time())
    runner.log(f"  feeder: {steps} step(s) of live metrics written up to now")
    start = datetime.fromisoformat(manifest["end"]).timestamp() - 6 * 3600 if days else None
    runner.tick_sensor(
        "shadow_alert_sensor", cursor=json.dumps({"start": start}) if start else None
    )
    runner.tick_sensor("shadow_alert_sensor")
    runner.materialize(["alert_quality"])
    runner.tick_sensor("threshold_tuning_sensor")
