"""Registry domain: versions, evaluations, gated promotion, live metrics."""

from __future__ import annotations

from typing import Any

import dagster as dg

from ctscan_ops.config import Settings
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


def registry_resource(s: Settings) -> RegistryResource:
    return RegistryResource(
        bucket=s.models_bucket,
        project=s.project_id,
        endpoint=s.endpoints.gcs_url,
        environment=s.environment,
        holdout_uri=s.holdout_location,
    )


defs = dg.Definitions(
    assets=[model_versions, model_evaluation, challenger_model, champion_model, live_model_metrics],
    asset_checks=[challenger_beats_champion],
    sensors=[model_versions_sensor],
)


def resources(settings: Settings) -> dict[str, Any]:
    """The registry's settings-dependent resources (built by ``ctscan_ops.definitions``)."""
    return {"registry": registry_resource(settings)}
