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


def infra_apply(runner: Any, settings: Settings) -> None:
    """The apply per environment: manual by design (a person approves a reviewed plan).

    State, plan and alert-policy drift came from the automation (hourly state read, plan and
    drift on a new state). The apply run recomputes the plan so that its blocking gate
    ``plan_has_no_destroys`` runs in the same run: dev's world carries a pending destroy, so
    dev's apply is expected to be stopped by it: the demo shows the gate doing its job.
    """
    for env in ENVIRONMENTS:
        runner.materialize(
            ["terraform_plan", "terraform_apply"],
            partition_key=env,
            label=f"infra: approve the apply [{env}]",
            expect_blocked=(env == "dev"),
        )


def feedback_sync(runner: Any, settings: Settings) -> None:
    """One tick of the incremental sync sensor: on a fresh sandbox it requests the migration
    of every SQLite row to Firestore (the parity check runs with it); on a re-run, only the
    new rows, or nothing."""
    runner.tick_sensor("feedback_incremental_sync")


def registry_versions(runner: Any, settings: Settings) -> None:
    """The model_versions sensor: one partition per checkpoint in the bucket, and one
    verification + evaluation run for each. Promotion then comes from the automation:
    challenger_model on the new evaluations, champion_model once challenger_beats_champion
    passed, the reference profile and the live metrics after the champion moved."""
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


def registry_second_proposal(runner: Any, settings: Settings) -> None:
    """A second proposal, by hand: the linear probe. The blocking check refuses it,
    champion_model is not run (Dagster marks that run failed: that is how a failed blocking
    check shows in the UI) and its automation condition keeps it from being requested. The
    demo records BLOCKED only if the registry recorded exactly that refusal."""
    registry_resource = runner.defs.resources["registry"]
    outcome = runner.materialize(
        ["challenger_model", "champion_model"],
        label="registry: propose the weaker challenger",
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
            outcome.label, outcome.run_id, "RUN_FAILURE", outcome.reason
        )
    elif refused:
        runner.log(f"              (expected) {weak} refused; champion stays {champ.version}")


def drift_history(runner: Any, settings: Settings) -> None:
    """Every world day's features and report as one backfill run over the range (the daily
    schedule does one day at 03:00); calibration then comes from the automation."""
    manifest = read_manifest(settings) or {}
    days = runner.world_days(manifest)
    if days:
        runner.materialize_range(
            ["prediction_features", "drift_report"], days[0], days[-1], label="drift: backfill"
        )


def alerting_shadow(runner: Any, settings: Settings) -> None:
    """Shadow history for the world's days (a backfill run), then live shadow-sensor ticks.

    The feeder first writes the world's continuation from the world's end up to now (as the
    live services would have), then the shadow sensor replays from six hours before the
    world's end: its first tick completes the last world day and requests that partition.
    The register, alert_quality and the tuning report come from the automation and the
    tuning sensor.
    """
    from ctscan_ops.sandbox.worlds.feeder import catch_up

    manifest = read_manifest(settings) or {}
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


def alerting_tuning(runner: Any, settings: Settings) -> None:
    """The tuning sensor reads the alert_quality report the automation produced and asks for
    a report for each environment whose figures changed (or reached 7 days)."""
    runner.tick_sensor("threshold_tuning_sensor")


# The demo's story, in order: sensor-driven inputs and history backfills, the automation
# (evaluated until it requests nothing more), then what a person does and what depends on
# it, and the automation again. Each entry: (domain, title, step).
DemoStep = tuple[str, str, Callable[[Any, Settings], None]]
BEFORE_AUTOMATION: tuple[DemoStep, ...] = (
    ("registry", "model_versions_sensor", registry_versions),
    ("feedback", "feedback_incremental_sync", feedback_sync),
    ("alerting", "shadow history + shadow_alert_sensor", alerting_shadow),
)
AFTER_FIRST_AUTOMATION: tuple[DemoStep, ...] = (
    ("registry", "a second, weaker proposal (by hand)", registry_second_proposal),
    ("drift", "history backfill (needs the champion's reference profile)", drift_history),
    ("infra", "apply (manual by design)", infra_apply),
)
AFTER_SECOND_AUTOMATION: tuple[DemoStep, ...] = (
    ("alerting", "threshold_tuning_sensor", alerting_tuning),
)
