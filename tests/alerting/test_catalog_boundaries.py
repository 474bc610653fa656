"""Every validation rule of the alert policy catalog, pinned on both sides of its boundary.

Each test gives the last accepted value and the first refused one, so widening or narrowing a
rule (e.g. a 59 s alignment period slipping through) fails here. Only the public entry points
(``parse_catalog``, ``parse_condition``, ``parse_duration``) are used.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ctscan_ops.alerting.catalog import CatalogError, parse_catalog, parse_condition, parse_duration

FILTER = 'metric.type="custom.googleapis.com/x" AND resource.type="global"'


def condition(**over: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "filter": FILTER,
        "aggregations": [{"alignment_period": "60s", "per_series_aligner": "ALIGN_MEAN"}],
        "comparison": "COMPARISON_GT",
        "threshold_value": 1.0,
        "duration": "0s",
    }
    raw.update(over)
    return raw


def catalog(policy_over: dict[str, Any] | None = None, **doc_over: Any) -> dict[str, Any]:
    policy: dict[str, Any] = {"severity": "P1", "condition": condition()}
    policy.update(policy_over or {})
    doc: dict[str, Any] = {"catalog_version": 1, "policies": {"a_policy": policy}}
    doc.update(doc_over)
    return doc


def ok_condition(**over: Any):
    return parse_condition(condition(**over), "c")


def bad_condition(match: str, **over: Any) -> None:
    with pytest.raises(CatalogError, match=match):
        parse_condition(condition(**over), "c")


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(("value", "seconds"), [(0, 0), ("0s", 0), ("300s", 300), ("60.0s", 60)])
def test_parse_duration_accepts(value, seconds) -> None:
    assert parse_duration(value, "d") == seconds


@pytest.mark.parametrize("value", [-1, "-60s", "60.5s", "60", "1m", True, None, 60.0, "s"])
def test_parse_duration_refuses(value) -> None:
    with pytest.raises(CatalogError, match="d"):
        parse_duration(value, "d")


def test_condition_duration_multiple_of_60() -> None:
    assert ok_condition(duration="0s").duration_s == 0
    assert ok_condition(duration="60s").duration_s == 60
    bad_condition("not a multiple of 60", duration="59s")
    bad_condition("not a multiple of 60", duration="61s")
    bad_condition("must not be negative", duration=-60)


def test_alignment_period_minimum_60() -> None:
    agg = {"per_series_aligner": "ALIGN_MEAN"}
    assert (
        ok_condition(aggregations=[{**agg, "alignment_period": "60s"}])
        .aggregations[0]
        .alignment_period_s
        == 60
    )
    bad_condition("below the 60 s minimum", aggregations=[{**agg, "alignment_period": "59s"}])
    bad_condition("required with an aligner", aggregations=[agg])


def test_first_aggregation_needs_an_aligner_later_ones_must_not_align() -> None:
    bad_condition(
        "need an aligner",
        aggregations=[{"alignment_period": "60s", "per_series_aligner": "ALIGN_NONE"}],
    )
    two = [
        {"alignment_period": "60s", "per_series_aligner": "ALIGN_MEAN"},
        {"cross_series_reducer": "REDUCE_SUM"},
    ]
    assert len(ok_condition(aggregations=two).aggregations) == 2
    two_aligned = copy.deepcopy(two)
    two_aligned[1]["per_series_aligner"] = "ALIGN_MEAN"
    bad_condition("only the first aggregation may align", aggregations=two_aligned)
    bad_condition("at least one aggregation", aggregations=[])


def test_group_by_needs_a_reducer_and_a_label_field() -> None:
    base = {"alignment_period": "60s", "per_series_aligner": "ALIGN_MEAN"}
    ok = ok_condition(
        aggregations=[
            {
                **base,
                "cross_series_reducer": "REDUCE_SUM",
                "group_by_fields": ["metric.label.route"],
            }
        ]
    )
    assert ok.aggregations[0].group_by_fields == ("metric.labels.route",)
    bad_condition(
        "need a cross_series_reducer",
        aggregations=[{**base, "group_by_fields": ["metric.labels.route"]}],
    )
    bad_condition(
        "is not metric.labels.KEY",
        aggregations=[
            {**base, "cross_series_reducer": "REDUCE_SUM", "group_by_fields": ["metric.type"]}
        ],
    )


# --------------------------------------------------------------------------- filter, trigger


def test_filter_length_limit_2048() -> None:
    pad = 2048 - len(FILTER) - len(' AND metric.labels.k=""')
    exact = FILTER + f' AND metric.labels.k="{"x" * pad}"'
    assert len(exact) == 2048
    assert ok_condition(filter=exact).filter == exact
    longer = FILTER + f' AND metric.labels.k="{"x" * (pad + 1)}"'
    assert len(longer) == 2049
    bad_condition("2048", filter=longer)
    bad_condition("non-empty filter", filter="")


def test_trigger_count_at_least_1() -> None:
    assert ok_condition(trigger={"count": 1}).trigger.count == 1
    bad_condition("integer >= 1", trigger={"count": 0})
    bad_condition("integer >= 1", trigger={"count": True})
    bad_condition("integer >= 1", trigger={"count": 1.0})


def test_trigger_percent_in_0_exclusive_100_inclusive() -> None:
    assert ok_condition(trigger={"percent": 100}).trigger.percent == 100.0
    assert ok_condition(trigger={"percent": 1e-9}).trigger.percent == 1e-9
    bad_condition(r"\(0, 100\]", trigger={"percent": 0})
    bad_condition(r"\(0, 100\]", trigger={"percent": 100.000001})
    bad_condition(r"\(0, 100\]", trigger={"percent": -1})
    bad_condition("count: N", trigger={"count": 1, "percent": 50})


def test_threshold_must_be_a_number_not_a_bool() -> None:
    assert ok_condition(threshold_value=0).threshold_value == 0.0
    bad_condition("must be a number", threshold_value=True)
    bad_condition("must be a number", threshold_value="1")
    bad_condition("must be a number", threshold_value=None)


def test_unknown_condition_field_is_refused() -> None:
    bad_condition("unknown field", thresholdValue=1)


# --------------------------------------------------------------------------- policies, catalog


def test_at_most_six_conditions_per_policy() -> None:
    six = parse_catalog(catalog({"additional_conditions": [condition()] * 5}))
    assert len(six.policies["a_policy"].conditions) == 6
    with pytest.raises(CatalogError, match="at most 6 conditions"):
        parse_catalog(catalog({"additional_conditions": [condition()] * 6}))


@pytest.mark.parametrize("severity", ["P0", "P1", "P2"])
def test_severities_accepted(severity) -> None:
    assert parse_catalog(catalog({"severity": severity})).policies["a_policy"].severity == severity


@pytest.mark.parametrize("severity", ["P3", "p1", None, 1])
def test_severities_refused(severity) -> None:
    with pytest.raises(CatalogError, match="severity"):
        parse_catalog(catalog({"severity": severity}))


def test_policy_key_snake_case() -> None:
    assert parse_catalog(catalog()).policies
    for bad in ("A_policy", "1policy", "a-policy", "_a"):
        doc = catalog()
        doc["policies"] = {bad: doc["policies"]["a_policy"]}
        with pytest.raises(CatalogError, match="snake_case"):
            parse_catalog(doc)
    doc = catalog()
    doc["policies"] = {"a1_b": doc["policies"]["a_policy"]}
    assert "a1_b" in parse_catalog(doc).policies


def test_catalog_version_integer_not_bool() -> None:
    assert parse_catalog(catalog(catalog_version=0)).catalog_version == 0
    for bad in (True, "1", 1.0, None):
        with pytest.raises(CatalogError, match="catalog_version"):
            parse_catalog(catalog(catalog_version=bad))


def test_policies_non_empty_mapping() -> None:
    for bad in ({}, [], None):
        with pytest.raises(CatalogError, match="non-empty mapping"):
            parse_catalog(catalog(policies=bad))


def test_combiners_of_the_api() -> None:
    for comb in ("OR", "AND", "AND_WITH_MATCHING_RESOURCE", "and"):
        got = parse_catalog(catalog({"combiner": comb})).policies["a_policy"].combiner
        assert got == comb.upper()
    for bad in ("XOR", "COMBINE_UNSPECIFIED"):
        with pytest.raises(CatalogError, match=r"policy 'a_policy': combiner .* not supported"):
            parse_catalog(catalog({"combiner": bad}))


def test_conditions_list_with_per_condition_environments() -> None:
    guard = condition(threshold_value=0.0, environments={"staging": {"threshold_value": 0.4}})
    doc = catalog({"combiner": "AND", "conditions": [condition(), guard]})
    del doc["policies"]["a_policy"]["condition"]
    cat = parse_catalog(doc)
    pol = cat.policies["a_policy"]
    assert pol.combiner == "AND" and len(pol.conditions) == 2
    assert cat.resolve("a_policy", "staging").conditions[1].threshold_value == 0.4
    assert cat.resolve("a_policy", "prod").conditions[1].threshold_value == 0.0
    # policy-level overrides and alert_overrides still change only the primary condition
    over = {"a_policy": {"threshold_value": 9}}
    res = cat.resolve("a_policy", "staging", alert_overrides=over)
    assert [c.threshold_value for c in res.conditions] == [9.0, 0.4]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"conditions": []}, r"conditions must be a non-empty list"),
        ({"conditions": [condition()] * 7}, r"at most 6 conditions"),
        (
            {"conditions": [condition(environments={"qa": {"threshold_value": 1}})]},
            r"conditions\[0\]\.environments\.qa: unknown environment",
        ),
        (
            {"conditions": [condition(environments={"dev": {"enabled": True}})]},
            r"conditions\[0\]\.environments\.dev: unknown override",
        ),
    ],
)
def test_bad_conditions_list(change: dict[str, Any], match: str) -> None:
    doc = catalog(change)
    del doc["policies"]["a_policy"]["condition"]
    with pytest.raises(CatalogError, match=match):
        parse_catalog(doc)
    with pytest.raises(CatalogError, match="either condition or conditions"):
        parse_catalog(catalog({"conditions": [condition()]}))


def test_auto_close_duration() -> None:
    policy = parse_catalog(catalog({"auto_close": "1800s"})).policies["a_policy"]
    assert policy.auto_close_s == 1800
    with pytest.raises(CatalogError, match="auto_close"):
        parse_catalog(catalog({"auto_close": "-1s"}))


def test_environment_overrides() -> None:
    ok = parse_catalog(
        catalog({"environments": {"dev": {"threshold_value": 2, "duration": "120s"}}})
    ).policies["a_policy"]
    assert ok.environments["dev"] == {"threshold_value": 2.0, "duration_s": 120}
    cases = [
        ({"moon": {}}, "unknown environment"),
        ({"dev": {"duration": "90s"}}, "not a multiple of 60"),
        ({"dev": {"threshold_value": False}}, "must be a number"),
        ({"dev": {"enabled": "yes"}}, "true or false"),
        ({"dev": {"severity": "P0"}}, "unknown override"),
        ({"dev": []}, "must be a mapping"),
    ]
    for envs, match in cases:
        with pytest.raises(CatalogError, match=match):
            parse_catalog(catalog({"environments": envs}))


def test_enabled_must_be_a_bool() -> None:
    assert parse_catalog(catalog({"enabled": False})).policies["a_policy"].enabled is False
    with pytest.raises(CatalogError, match="enabled must be true or false"):
        parse_catalog(catalog({"enabled": 0}))
