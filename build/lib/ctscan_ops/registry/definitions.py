"""Registry domain: versions, evaluations, gated promotion, live metrics."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.config import get_settings
from ctscan_ops.registry.assets import (
    RegistryResource,
    challenger_beats_champion,
    challenger_model,
    champion_model,
    live_model_metrics,
    model_evaluation,
    model_versions,
)
from ctscan_ops.registry.sensors import model_versions_sensor


def registry_resource() -> RegistryResource:
    s = get_settings()
    return RegistryResource(
        bucket=s.models_bucket,
        project=s.project_id,
        endpoint=s.endpoints.gcs_url,
        environment=s.environment,
    )


defs = dg.Definitions(
    assets=[model_versions, model_evaluation, challenger_model, champion_model, live_model_metrics],
    asset_checks=[challenger_beats_champion],
    sensors=[model_versions_sensor],
    resources={"registry": registry_resource()},
)


def demo_steps(runner: Any) -> None:
    """Discover and evaluate the world's versions, then two promotion rounds and live metrics.

    Round 1 proposes the CNN and promotes it. Round 2 proposes the linear probe: the blocking
    check refuses it, champion_model is skipped and Dagster marks that run failed (that is how
    a failed blocking check shows in the UI). The demo records it as BLOCKED only if the
    registry recorded exactly that refusal; anything else counts as a failure.
    """
    from ctscan_ops.sandbox.world import read_manifest

    # The sensor is evaluated here with only the resource it needs (as the daemon would), and
    # its requests applied: partitions added, one verification + evaluation run per version.
    with dg.build_sensor_context(
        instance=runner.instance, resources={"registry": registry_resource()}
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
    manifest = read_manifest(get_settings()) or {}
    versions = manifest.get("parts", {}).get("registry", {}).get("summary", {}).get("versions", {})
    store = registry_resource().store()
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
