"""Tuning on the sandbox world's generated history (real generator, real evaluator alignment).

The rules checked are the issue's "done when": recommendations reach target on the held-out
part where possible, and every policy without one says why.
"""

from __future__ import annotations

import numpy as np
import pytest

from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.engine.evaluator import aligned_condition_values, make_ticks
from ctscan_ops.alerting.tuning import recommend as tn
from ctscan_ops.alerting.tuning import tfvars as tv
from ctscan_ops.sandbox.worlds.metric_world import DAY_S, build_world

# scalar (cheap to align) P1/P2 policies; the latency/CPU distributions take longer to align
POLICIES = (
    "elevated_error_rate",
    "low_prediction_confidence",
    "model_accuracy_degradation",
    "storage_warning",
)
DAYS = 30


@pytest.fixture(scope="module")
def tuned():
    start = 1_700_000_000 // DAY_S * DAY_S
    world = build_world(12345, start, start + DAYS * DAY_S)
    series = [s.to_time_series() for s in world.series]
    catalog = load_catalog()
    ticks = make_ticks(start, start + DAYS * DAY_S - 60)
    docs = {}
    for name in POLICIES:
        pol = catalog.resolve(name, "prod")
        groups = aligned_condition_values(pol.condition, series, ticks)
        vals = np.vstack([g.values for g in groups])
        wins = [
            (w.start, w.end) for w in world.labels if w.policy == name and w.environment == "prod"
        ]
        cond = tn.Condition1D(
            pol.condition.comparison, pol.condition.evaluation_missing_data, pol.auto_close_s
        )
        docs[name] = tn.tune(
            vals,
            ticks,
            wins,
            cond,
            current=(pol.condition.threshold_value, pol.condition.duration_s),
        )
    return catalog, docs


def test_recommendations_hold_on_holdout_or_say_why(tuned):
    _, docs = tuned
    recommended = 0
    for name, doc in docs.items():
        rec, verdict = doc["recommended"], doc["readiness"]
        if rec["threshold"] is None:
            assert rec["reason"], name
            assert verdict["verdict"] != "ready" and verdict["reasons"], name
            continue
        recommended += 1
        assert doc["train"]["false_discovery_rate"] <= doc["target_fdr"], name
        # issue 16: a returned recommendation holds on the held-out part, and loses no
        # held-out labelled incident the current setting detects
        h = doc["holdout"]
        assert h["false_discovery_rate"] is not None, name
        assert h["false_discovery_rate"] <= doc["target_fdr"], name
        assert h["detected_incidents"] >= max(1, doc["current"]["holdout"]["detected_incidents"])
        if verdict["verdict"] != "ready":
            assert doc["more_history"]["summary"], name
        if verdict["verdict"] == "ready":
            h = doc["holdout"]
            assert h["days"] >= 7 and h["false_discovery_rate"] <= doc["target_fdr"], name
            assert h["recall"] > 0, name
        else:
            assert verdict["reasons"], name
    assert recommended >= 1


def test_world_tfvars(tuned, tmp_path):
    catalog, docs = tuned
    recs = [tv.recommendation_from_doc(name, d) for name, d in docs.items()]
    up = tv.update_tfvars(catalog, "prod", tmp_path, recs)
    ready = {r.policy for r in recs if r.ready}
    assert {k for k, v in up.overrides.items() if v.get("enabled")} == ready
    for r in recs:
        if r.threshold_value is not None:
            assert up.overrides[r.policy]["duration"] == f"{r.duration_s}s"
    assert "Nothing is applied" in up.diff_markdown
