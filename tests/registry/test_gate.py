"""The promotion gate on hand-built evaluation reports."""

from __future__ import annotations

import pytest

from ctscan_ops.registry.gate import GatePolicy, challenger_beats_champion


def _report(f1: float, recalls: list[float], p95: float = 2.0, dataset: str = "holdout-1") -> dict:
    names = ["adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma", "normal"]
    return {
        "dataset": dataset,
        "n": 400,
        "macro_f1": f1,
        "latency_p95_ms": p95,
        "per_class": {n: {"recall": r} for n, r in zip(names, recalls, strict=True)},
    }


CHAMP = _report(0.70, [0.7, 0.7, 0.7, 0.7])
POLICY = GatePolicy(
    macro_f1_margin=0.02, max_class_recall_drop=0.05, min_class_recall=0.0, latency_budget_ms=10.0
)


def test_better_challenger_passes() -> None:
    d = challenger_beats_champion(_report(0.75, [0.8, 0.66, 0.9, 0.8]), CHAMP, policy=POLICY)
    assert d.passed, d.failures
    assert set(d.checks) == {
        "same_holdout", "macro_f1_margin", "class_recall_drop", "class_recall_floor",
        "latency_budget", "no_open_drift", "no_shadow_alerts",
    }  # fmt: skip
    assert d.summary().startswith("challenger beats champion")


@pytest.mark.parametrize(
    ("challenger", "kwargs", "failed", "text"),
    [
        (_report(0.715, [0.8] * 4), {}, "macro_f1_margin", "0.7150 vs champion 0.7000"),
        (_report(0.72, [0.8] * 4), {}, None, None),  # exactly at the margin passes
        (_report(0.80, [0.9, 0.64, 0.9, 0.9]), {}, "class_recall_drop", "large_cell_carcinoma"),
        (_report(0.80, [0.9] * 4, p95=12.5), {}, "latency_budget", "12.50 ms vs budget 10.0"),
        (_report(0.80, [0.9] * 4), {"open_drift": ["2026-11-25 drift_share 0.5"]},
         "no_open_drift", "drift_share 0.5"),
        (_report(0.80, [0.9] * 4), {"open_shadow_alerts": ["low_prediction_confidence"]},
         "no_shadow_alerts", "low_prediction_confidence"),
        (_report(0.80, [0.9] * 4, dataset="other"), {}, "same_holdout", "different held-out"),
    ],
)  # fmt: skip
def test_each_rule_can_refuse(challenger, kwargs, failed, text) -> None:
    d = challenger_beats_champion(challenger, CHAMP, policy=POLICY, **kwargs)
    if failed is None:
        assert d.passed, d.failures
        return
    assert not d.passed
    assert [k for k, c in d.checks.items() if not c["passed"]] == [failed]
    assert text in d.checks[failed]["detail"] and text in d.summary()


def test_first_promotion_has_no_relative_checks() -> None:
    d = challenger_beats_champion(_report(0.3, [0.3] * 4), None, policy=POLICY)
    assert d.passed and "macro_f1_margin" not in d.checks
    floor = GatePolicy(min_class_recall=0.5)
    d = challenger_beats_champion(_report(0.6, [0.9, 0.9, 0.4, 0.9]), None, policy=floor)
    assert not d.passed and "squamous_cell_carcinoma 0.400" in d.summary()


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="challenger evaluation lacks 'macro_f1'"):
        challenger_beats_champion({"per_class": {}}, CHAMP)
    with pytest.raises(ValueError, match="champion evaluation lacks per_class"):
        challenger_beats_champion(
            _report(0.8, [0.9] * 4), {"macro_f1": 0.1, "n": 400, "dataset": "holdout-1"}
        )
    with pytest.raises(ValueError, match="bad GatePolicy"):
        GatePolicy(latency_budget_ms=0)


def test_next_candidate_order_and_refusals() -> None:
    from ctscan_ops.registry.gate import next_candidate

    vs = ["20261001T000000-aaaaaaaa", "20261008T000000-bbbbbbbb", "20261022T000000-cccccccc"]
    assert next_candidate(vs, None, set()) == vs[0]  # first promotion: oldest evaluated
    assert next_candidate(list(reversed(vs)), vs[0], set()) == vs[1]  # oldest newer
    assert next_candidate(vs, vs[0], {vs[1]}) == vs[2]  # refused ones are skipped
    assert next_candidate(vs, vs[1], {vs[2]}) is None
    assert next_candidate(vs, vs[2], set()) is None  # nothing newer than the champion


def test_default_policy_bounds() -> None:
    p = GatePolicy()
    assert (p.min_class_recall, p.max_class_recall_drop) == (0.5, 0.10)
    d = challenger_beats_champion(_report(0.9, [0.9, 0.9, 0.9, 0.45]), CHAMP)
    assert [k for k, c in d.checks.items() if not c["passed"]] == [
        "class_recall_drop",
        "class_recall_floor",
    ]
