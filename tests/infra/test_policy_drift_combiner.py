"""Policy drift understands multi-condition policies: combiner and the guard's floor."""

from __future__ import annotations

from ctscan_ops.infra.policy_drift import compare_policies, expected_policies


def test_combiner_and_guard_floor_drift_hand_computed() -> None:
    expected = {
        "g": {
            "enabled": True,
            "combiner": "AND",
            "conditions": [
                {"threshold_value": 0.05, "duration_s": 60},
                {"threshold_value": 0.4, "duration_s": 0},
            ],
        }
    }
    deployed = {
        "g": {
            "enabled": True,
            "combiner": "OR",
            "conditions": [
                {"threshold_value": 0.05, "duration_s": 60},
                {"threshold_value": 0.1, "duration_s": 0},
            ],
        }
    }
    r = compare_policies(deployed, expected)
    assert r["drifted"][0]["fields"] == [
        {"field": "combiner", "deployed": "OR", "expected": "AND"},
        {"field": "conditions[1].threshold_value", "deployed": 0.1, "expected": 0.4},
    ]
    # a state without the attribute (older reader) is not reported as drift
    deployed["g"]["combiner"] = None
    deployed["g"]["conditions"][1]["threshold_value"] = 0.4
    assert compare_policies(deployed, expected)["drifted"] == []
    # a deployed policy that lost the guard condition is drift
    deployed["g"]["conditions"] = deployed["g"]["conditions"][:1]
    fields = compare_policies(deployed, expected)["drifted"][0]["fields"]
    assert fields[0]["field"] == "conditions[1].condition"


def test_expected_policies_carry_the_guard() -> None:
    _, exp = expected_policies("staging", alert_overrides={}, enable_p1_p2_alerts=True)
    her = exp["high_error_rate"]
    assert her["combiner"] == "AND"
    assert [c["threshold_value"] for c in her["conditions"]] == [0.05, 0.4]
