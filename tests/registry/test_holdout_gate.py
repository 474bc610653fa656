"""Evaluations on different held-out data versions are never compared silently."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg


def _report(data_version: str, f1: float) -> dict:
    per_class = {
        c: {"precision": 0.9, "recall": 0.9, "f1": f1, "support": 4}
        for c in ("adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma", "normal")
    }
    return {
        "n": 16,
        "accuracy": 0.9,
        "macro_f1": f1,
        "per_class": per_class,
        "latency_p95_ms": 1.0,
        "dataset": f"holdout-{data_version[:16]}",
        "data_version": data_version,
    }


def test_check_fails_on_different_data_and_records_no_refusal(
    store, gcs_url, metric_service
) -> None:
    import torch

    from ctscan_ops.registry.assets import (
        RegistryResource,
        challenger_beats_champion,
        challenger_model,
        holdout_versions,
    )
    from ctscan_ops.resources.monitoring import MonitoringResource

    old = store.register(
        {"w": torch.zeros(2)},
        architecture="linear_probe",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
    ).version
    new = store.register(
        {"w": torch.ones(2)},
        architecture="linear_probe",
        created_at=datetime(2026, 11, 2, tzinfo=UTC),
    ).version
    store.promote(old, reason="initial", actor="test")
    a, b = "a" * 64, "b" * 64
    store.put_evaluation(old, _report(a, 0.80))
    store.put_evaluation(new, _report(b, 0.95))  # better, but on other data

    versions, why = holdout_versions(store, new, old)
    assert versions == {"challenger": b, "champion": a}
    assert f"challenger {new} was evaluated on {b}" in why and f"champion {old} on {a}" in why

    resources = {
        "registry": RegistryResource(bucket=store.bucket_name, project="p", endpoint=gcs_url),
        "monitoring": MonitoringResource(project="p-holdout-gate", endpoint=metric_service),
    }

    def check() -> dg.AssetCheckEvaluation:
        with dg.instance_for_test() as instance:
            res = dg.materialize(
                [challenger_model, challenger_beats_champion],
                instance=instance,
                resources=resources,
                raise_on_error=False,
            )
        (evaluation,) = res.get_asset_check_evaluations()
        return evaluation

    got = check()
    assert not got.passed
    assert "held-out data differs" in got.description
    assert got.metadata["holdout_data_versions"].value == {"challenger": b, "champion": a}
    assert store.refused_against(old) == set()  # not a verdict on the challenger

    store.put_evaluation(old, _report(b, 0.80))  # champion re-evaluated on the current data
    got = check()
    assert got.passed, got.description
    assert holdout_versions(store, new, old) == ({"challenger": b, "champion": b}, None)
