"""Kubernetes resource requests for the heavy steps, as `dagster-k8s/config` op tags.

On GKE each run is a pod started by the K8sRunLauncher (sized by ``runLauncher`` in
deploy/helm/values.yaml, enough for every light step). The steps below need more memory or
CPU than that pod: torch feature extraction over the day's images, the Evidently drift report,
and torch evaluation of a model version on the hold-out set. With ``k8s_job_executor`` (each
step its own pod) these op tags size those pods; the tags are inert under the default
executor, so they are safe in sandbox mode.

Wiring (one keyword per asset decorator): ``@dg.asset(..., op_tags=k8s_op_tags("drift_report"))``.
Pure data: no dagster import.
"""

from __future__ import annotations

from typing import Any

# Asset key -> container resources of its step pod. Measured orders of magnitude on 2 cores:
# Evidently 50k rows ~385 MB, 200k rows ~630 MB; torch CPU import ~300 MB before data.
HEAVY_STEPS: dict[str, dict[str, dict[str, str]]] = {
    "reference_profile": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    "prediction_features": {
        "requests": {"cpu": "2", "memory": "3Gi"},
        "limits": {"memory": "6Gi"},
    },
    "drift_report": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    "model_evaluation": {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"memory": "6Gi"}},
}


def k8s_op_tags(asset_key: str) -> dict[str, Any]:
    """The ``dagster-k8s/config`` op tag for one heavy asset (KeyError names unknown keys)."""
    try:
        resources = HEAVY_STEPS[asset_key]
    except KeyError:
        raise KeyError(
            f"{asset_key!r} has no Kubernetes sizing in ctscan_ops.k8s_resources.HEAVY_STEPS"
        ) from None
    return {"dagster-k8s/config": {"container_config": {"resources": resources}}}
