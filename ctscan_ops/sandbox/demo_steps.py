"""How the sandbox demo shows each domain: which assets to materialize, which sensors to tick.

These steps know the generated world (its manifest, the feeder, the story each part tells), so
they live in the sandbox, not in the domains' ``definitions.py``: a domain never imports the
sandbox. Each step takes the :class:`~ctscan_ops.sandbox.demo.DemoRunner`; the resources come
from the definitions the runner was built with, so the demo uses the same settings as the code
location.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import dagster as dg

from ctscan_ops.config import ENVIRONMENTS, Settings
from ctscan_ops.sandbox.world import read_manifest


def infra(runner: Any, settings: Settings) -> None:
    """State, plan (with its gates), drift for every environment; apply where the gate allows.

    dev's world carries a pending destroy, so its apply is expected to be stopped by the
    blocking ``plan_has_no_destroys`` check: the demo shows the gate doing its job.
    """
    for env in ENVIRONMENTS:
        runner.materialize(["terraform_state", "alert_policy_drift"], partition_key=env)
        runner.materialize(
            ["terraform_plan", "terraform_apply"], partition_key=env, expect_blocked=(env == "dev")
        )


def feedback(runner: Any, settings: Settings) -> None:
    """Observe SQLite, migrate (parity check runs with it), then one sync tick, which finds
    Firestore up to date (or, on a re-run after new rows, requests the sync)."""
    runner.materialize(
        ["sqlite_feedback", "firestore_feedback"], label="feedback: observe + migrate + parity"
    )
    runner.tick_sensor("feedback_incremental_sync")


def drift(runner: Any, settings: Settings) -> None:
    """The reference profile, every world day's features + report (a backfill, one run per day
    as the daily schedule would do), then the detector's calibration."""
    runner.materialize(["reference_profile"], label="drift: reference_profile")
    manifest = read_manifest(settings) or {}
    for day in runner.world_days(manifest):
        runner.materialize(
            ["prediction_features", "drift_report"], partition_key=day, label=f"drift: {day}"
        )
    runner.materialize(["drift_calibration"], label="drift: drift_calibration")


def registry(runner: Any, settings: Settings) -> None:
    """Discover and evaluate the world's versions, then two promotion rounds and live metrics.

    Round 1 proposes the CNN and promotes it. Round 2 proposes the linear probe: the blocking
    check refuses it, champion_model is skipped and Dagster marks that run failed (that is how
    a failed blocking check shows in the UI). The demo records it as BLOCKED only if the
    registry recorded exactly that refusal; anything else counts as a failure.
    """
    from ctscan_ops.registry.sensors import model_versions_sensor

    registry_resource = runner.defs.resources["registry"]
    # The sensor is evaluated here with only the resource it needs (as the daemon would), and
    # its requests applied: partitions added, one verification + evaluation run per version.
    with dg.build_sensor_context(
        instance=runner.instance, resources={"registry": registry_resource}
    ) as ctx:
        result = model_versions_sensor(ctx)
    for request in result.dynamic_partitions_requests or []:
        runner.instance.add_dynamic_partitions(
            request.partitions_def_name, list(request.partition_keys)
        )
    for run in result.run_requests or []:
        runner.materialize(
            ["model_versions", "model_evaluation"],
            partition_key=run.partition_key,
            label=f"model_versions_sensor -> verify+evaluate [{run.partition_key}]",
        )
    runner.materialize(["challenger_model", "champion_model"], label="registry round 1: promote")
    outcome = runner.materialize(
        ["challenger_model", "champion_model"],
        label="registry round 2: refuse weaker challenger",
        expect_blocked=True,
    )
    manifest = read_manifest(settings) or {}
    versions = manifest.get("parts", {}).get("registry", {}).get("summary", {}).get("versions", {})
    store = registry_resource.store()
    champ = store.get_alias("champion")
    weak = versions.get("linear_probe")
    refused = bool(weak and champ is not None and weak in store.refused_against(champ.version))
    if outcome.status == "BLOCKED" and not refused:
        # blocked, but not by the refusal the world was built to show: that is a failure
        runner.outcomes[runner.outcomes.index(outcome)] = type(outcome)(
            outcome.label, outcome.run_id, "RUN_FAILURE"
        )
    elif refused:
        runner.log(
            f"  (expected) challenger {weak} refused by challenger_beats_champion; "
            f"champion stays {champ.version}"
        )
    runner.materialize(["live_model_metrics"])


def alerting(runner: Any, settings: Settings) -> None:
    """Register, shadow history for the world's days, live sensor ticks, quality, tuning.

    The feeder first writes the world's continuation from the world's end up to now (as the
    live services would have), then the shadow sensor replays from six hours before the
    world's end: its first tick completes the last world day and requests that partition.
    """
    from ctscan_ops.sandbox.worlds.feeder import catch_up

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


DEMO_STEPS: dict[str, Callable[[Any, Settings], None]] = {
    "infra": infra,
    "feedback": feedback,
    "drift": drift,
    "registry": registry,
    "alerting": alerting,
}
