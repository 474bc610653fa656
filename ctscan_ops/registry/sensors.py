"""Sensor that turns new checkpoints in the models bucket into model_versions partitions."""

import json

import dagster as dg

from ctscan_ops.registry.assets import RegistryResource, model_versions_partitions

MAX_NEW_PER_TICK = 50  # bounded work per tick (sensor timeout); the rest comes next tick


@dg.sensor(
    name="model_versions_sensor",
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.assets("model_versions", "model_evaluation"),
    default_status=dg.DefaultSensorStatus.RUNNING,  # no click to start (issue 12)
)
def model_versions_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource
) -> dg.SensorResult:
    """Adds a partition per new version and requests its verification and evaluation.

    The run_key holds version and full sha256, so a version id re-used for other bytes (a
    rebuilt bucket) is evaluated again while the same bytes never are.
    """
    store = registry.store()
    known = set(context.instance.get_dynamic_partitions(model_versions_partitions.name))
    new = [v for v in store.list_version_ids() if v not in known][:MAX_NEW_PER_TICK]
    if not new:
        return dg.SensorResult(skip_reason="no new model version in the models bucket")
    records = [store.get_version(v) for v in new]
    runs = [
        dg.RunRequest(
            run_key=f"model_versions:{r.version}:{r.sha256}",
            partition_key=r.version,
            asset_selection=[dg.AssetKey("model_versions"), dg.AssetKey("model_evaluation")],
            tags={"ctscan/sha256": r.sha256},
        )
        for r in records
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[model_versions_partitions.build_add_request(new)],
        cursor=json.dumps({"last_version": max(new)}),
    )
