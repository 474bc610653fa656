"""The heavy steps carry their Kubernetes pod sizes (``ctscan_ops.k8s_resources``) as op tags."""

from __future__ import annotations

import json

import dagster as dg

from ctscan_ops.definitions import build_defs
from ctscan_ops.k8s_resources import HEAVY_STEPS


def test_every_heavy_step_carries_its_pod_size_and_nothing_else_does() -> None:
    graph = build_defs().get_repository_def().asset_graph
    tagged = {}
    for assets_def in graph.assets_defs:
        tags = assets_def.op.tags or {}
        if "dagster-k8s/config" in tags:
            for key in assets_def.keys:
                value = tags["dagster-k8s/config"]  # Dagster keeps dict tags as JSON text
                tagged[key.to_user_string()] = (
                    json.loads(value) if isinstance(value, str) else value
                )
    assert set(tagged) == set(HEAVY_STEPS)
    for name, config in tagged.items():
        resources = config["container_config"]["resources"]
        assert resources == HEAVY_STEPS[name]
        assert resources["requests"]["cpu"] and resources["limits"]["memory"]
    assert dg.AssetKey("alert_quality").to_user_string() not in tagged


def test_step_pods_switch_the_executor_to_k8s_jobs() -> None:
    from dagster_k8s import k8s_job_executor

    from ctscan_ops.config import get_settings

    base = {"CTSCAN_MODE": "gcp", "CTSCAN_PROJECT_ID": "p"}
    assert build_defs(get_settings(base)).executor is None  # the default: steps in the run pod
    on = get_settings({**base, "CTSCAN_K8S_STEP_PODS": "1"})
    assert on.k8s_step_pods
    assert build_defs(on).executor is k8s_job_executor
