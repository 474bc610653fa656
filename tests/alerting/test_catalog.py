"""The policy catalog: contents, validation, per-environment resolution, the original's bugs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from ctscan_ops.alerting.catalog import (
    CatalogError,
    default_catalog_path,
    load_catalog,
    parse_catalog,
)
from ctscan_ops.alerting.engine.evaluator import evaluate
from ctscan_ops.alerting.engine.filters import parse_filter
from ctscan_ops.alerting.engine.series import TimeSeries

EXPECTED = {
    "api_downtime": "P0",
    "high_error_rate": "P0",
    "memory_exhaustion": "P0",
    "crash_loop": "P0",
    "high_latency": "P1",
    "data_drift": "P1",
    "low_prediction_confidence": "P1",
    "elevated_error_rate": "P2",
    "model_accuracy_degradation": "P2",
    "high_cpu": "P2",
    "storage_warning": "P2",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_all_eleven_policies_with_severities(catalog) -> None:
    assert {n: p.severity for n, p in catalog.policies.items()} == EXPECTED
    assert default_catalog_path().name == "alert_policies.yaml"
    assert isinstance(catalog.catalog_version, int)
    assert len(catalog.content_hash) == 16
    # P0 always on, P1/P2 in shadow mode until proven
    assert [n for n, p in catalog.policies.items() if p.is_enabled] == [
        n for n, s in EXPECTED.items() if s == "P0"
    ]


def test_thresholds_match_the_seed(catalog) -> None:
    got = {
        n: (p.condition.comparison[-2:], p.condition.threshold_value)
        for n, p in catalog.policies.items()
    }
    assert got == {
        "api_downtime": ("GT", 0.5),
        "high_error_rate": ("GT", 0.05),
        "memory_exhaustion": ("GT", 0.9),
        "crash_loop": ("GT", 3.0),
        "high_latency": ("GT", 2000.0),
        "data_drift": ("GT", 0.3),
        "low_prediction_confidence": ("LT", 0.7),
        "elevated_error_rate": ("GT", 0.02),
        "model_accuracy_degradation": ("LT", 0.85),
        "high_cpu": ("GT", 0.8),
        "storage_warning": ("GT", 5e8),
    }
    logs = catalog.policy("storage_warning").conditions[1]
    assert logs.threshold_value == 1e9 and 'metric.labels.store="logs"' in logs.filter


def test_custom_metrics_are_the_contract_names(catalog) -> None:
    metric = {n: parse_filter(p.condition.filter).metric_type for n, p in catalog.policies.items()}
    assert metric["data_drift"] == "custom.googleapis.com/ctscan/drift_share"
    assert (
        metric["low_prediction_confidence"]
        == "custom.googleapis.com/ctscan/prediction_confidence_mean"
    )
    assert metric["model_accuracy_degradation"] == "custom.googleapis.com/ctscan/live_accuracy"
    assert metric["storage_warning"] == "custom.googleapis.com/ctscan/storage_bytes"
    assert metric["high_latency"] == "run.googleapis.com/request_latencies"
    # crash loop counts crashes via the log-based metric the catalog declares for Terraform
    assert metric["crash_loop"] == "logging.googleapis.com/user/ctscan_container_crashes"
    assert "ctscan_container_crashes" in catalog.log_based_metrics


def test_error_rate_policies_are_true_5xx_ratios(catalog) -> None:
    for name in ("api_downtime", "high_error_rate", "elevated_error_rate"):
        c = catalog.policy(name).condition
        assert c.is_ratio, name
        num, den = parse_filter(c.filter), parse_filter(c.denominator_filter)
        assert num.equality("metric.labels.response_code_class") == "5xx", name
        assert den.equality("metric.labels.response_code_class") is None, name
        assert c.aggregations[-1].group_by_fields == c.denominator_aggregations[-1].group_by_fields


@pytest.mark.parametrize(
    ("env", "policy", "threshold"),
    [
        ("dev", "high_error_rate", 0.10),
        ("staging", "high_error_rate", 0.05),
        ("dev", "memory_exhaustion", 0.95),
        ("prod", "memory_exhaustion", 0.85),
        ("dev", "crash_loop", 5),
        ("dev", "high_latency", 5000),
        ("prod", "high_latency", 2000),
        ("dev", "elevated_error_rate", 0.05),
        ("dev", "high_cpu", 0.9),
        ("prod", "data_drift", 0.3),
    ],
)
def test_environment_overrides(catalog, env, policy, threshold) -> None:
    assert catalog.resolve(policy, env).condition.threshold_value == threshold


def test_resolution_substitutes_placeholders_and_applies_alert_overrides(catalog) -> None:
    p = catalog.resolve("high_latency", "staging")
    assert 'resource.labels.service_name="ct-scan-api-staging"' in p.condition.filter
    assert "${" not in p.condition.filter
    d = catalog.resolve("data_drift", "dev")
    assert 'metric.labels.environment="dev"' in d.condition.filter
    tuned = catalog.resolve(
        "high_latency",
        "dev",
        alert_overrides={
            "high_latency": {"threshold_value": 3000, "duration": "600s", "enabled": True}
        },
    )
    assert (tuned.condition.threshold_value, tuned.condition.duration_s) == (3000, 600)
    assert tuned.is_enabled and not p.is_enabled
    assert tuned.content_hash != catalog.resolve("high_latency", "dev").content_hash
    custom = catalog.resolve("high_cpu", "prod", service_name="other-svc")
    assert 'service_name="other-svc"' in custom.condition.filter
    with pytest.raises(CatalogError, match=r"alert_overrides\['high_latency'\].duration"):
        catalog.resolve(
            "high_latency", "dev", alert_overrides={"high_latency": {"duration": "90s"}}
        )


def test_catalog_hash_tracks_content(tmp_path: Path) -> None:
    doc = yaml.safe_load(default_catalog_path().read_text())
    a = parse_catalog(doc)
    doc2 = copy.deepcopy(doc)
    doc2["policies"]["high_cpu"]["condition"]["threshold_value"] = 0.85
    b = parse_catalog(doc2)
    assert a.content_hash != b.content_hash
    assert a.content_hash == parse_catalog(copy.deepcopy(doc)).content_hash


# --------------------------------------------------------------------------- validation

BASE = {
    "display_name": "x",
    "severity": "P1",
    "condition": {
        "filter": 'metric.type="m" AND resource.type="global"',
        "aggregations": [
            {
                "alignment_period": "60s",
                "per_series_aligner": "ALIGN_MEAN",
                "cross_series_reducer": "REDUCE_NONE",
            }
        ],
        "comparison": "COMPARISON_GT",
        "threshold_value": 1,
        "duration": "60s",
        "evaluation_missing_data": "EVALUATION_MISSING_DATA_INACTIVE",
    },
    "auto_close": "1800s",
}


def _with(path: list, value) -> dict:
    pol = copy.deepcopy(BASE)
    node = pol
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return {"catalog_version": 1, "policies": {"my_policy": pol}}


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["condition", "comparison"],
            "COMPARISON_GE",
            r"condition.comparison: unsupported comparison",
        ),
        (["condition", "duration"], "90s", r"condition.duration: 90 s is not a multiple of 60 s"),
        (["condition", "duration"], "five minutes", r"condition.duration: 'five minutes'"),
        (
            ["condition", "aggregations", 0, "alignment_period"],
            "30s",
            r"aggregations\[0\].alignment_period: 30 s is below the 60 s minimum",
        ),
        (
            ["condition", "aggregations", 0, "per_series_aligner"],
            "ALIGN_MEDIAN",
            r"aggregations\[0\].per_series_aligner: unknown or unsupported aligner 'ALIGN_MEDIAN'",
        ),
        (
            ["condition", "aggregations", 0, "cross_series_reducer"],
            "REDUCE_MODE",
            r"aggregations\[0\].cross_series_reducer: unknown or unsupported reducer",
        ),
        (
            ["condition", "evaluation_missing_data"],
            "SOMETIMES",
            r"evaluation_missing_data: unknown",
        ),
        (["condition", "trigger"], {"count": 0}, r"trigger.count: must be an integer >= 1"),
        (["condition", "filter"], 'metric.type="m"', r"condition.filter: must name"),
        (["condition", "filter"], 'metric.type="m" OR x="y"', r"condition.filter: filter: OR"),
        (["condition", "threshold"], 3, r"condition: unknown field\(s\) \['threshold'\]"),
        (["severity"], "P3", r"severity must be one of"),
        (["environments"], {"qa": {"threshold_value": 1}}, r"unknown environment 'qa'"),
        (["environments"], {"dev": {"threshold": 1}}, r"environments.dev: unknown override"),
        (["combiner"], "XOR", r"combiner 'XOR' is not supported"),
    ],
)
def test_validation_names_policy_and_field(path, value, message) -> None:
    with pytest.raises(CatalogError, match=message) as info:
        parse_catalog(_with(path, value))
    assert "policy 'my_policy'" in str(info.value)


def test_ratio_with_mismatched_alignment_periods_is_rejected() -> None:
    doc = _with(["condition", "denominator_filter"], 'metric.type="d" AND resource.type="global"')
    doc["policies"]["my_policy"]["condition"]["denominator_aggregations"] = [
        {"alignment_period": "300s", "per_series_aligner": "ALIGN_MEAN"}
    ]
    with pytest.raises(CatalogError, match=r"my_policy.*ratio with mismatched alignment periods"):
        parse_catalog(doc)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("catalog_version: 1\npolicies:\n  a: [unclosed\n")
    with pytest.raises(CatalogError, match=r"c.yaml: line \d+: invalid YAML"):
        load_catalog(p)


# --------------------------------------------------------------------------- the original's bugs

# The seven policies as deployed by the original project (original-project.md section 6).
ORIGINAL = """
catalog_version: 0
policies:
  high_error_rate:
    severity: P0
    condition:
      filter: 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name="ct-scan-api"'
      aggregations:
        - {alignment_period: 60s, per_series_aligner: ALIGN_RATE, cross_series_reducer: REDUCE_SUM, group_by_fields: [metric.label.response_code_class]}
      denominator_filter: 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name="ct-scan-api"'
      denominator_aggregations:
        - {alignment_period: 60s, per_series_aligner: ALIGN_RATE, cross_series_reducer: REDUCE_SUM}
      comparison: COMPARISON_GT
      threshold_value: 0.05
      duration: 300s
    auto_close: 3600s
  elevated_error_rate:
    severity: P2
    condition:
      filter: 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name="ct-scan-api" AND metric.labels.response_code_class="5xx"'
      aggregations: [{alignment_period: 60s, per_series_aligner: ALIGN_RATE}]
      comparison: COMPARISON_GT
      threshold_value: 0.02
      duration: 900s
    auto_close: 7200s
  api_downtime:
    severity: P0
    condition:
      filter: 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name="ct-scan-api" AND metric.labels.response_code_class="5xx"'
      aggregations: [{alignment_period: 60s, per_series_aligner: ALIGN_RATE}]
      comparison: COMPARISON_GT
      threshold_value: 0
      duration: 60s
    auto_close: 1800s
  crash_loop:
    severity: P0
    condition:
      filter: 'metric.type="run.googleapis.com/container/billable_instance_time" AND resource.type="cloud_run_revision" AND resource.labels.service_name="ct-scan-api"'
      aggregations: [{alignment_period: 600s, per_series_aligner: ALIGN_DELTA}]
      comparison: COMPARISON_GT
      threshold_value: 3
      duration: 0s
    auto_close: 1800s
"""  # noqa: E501

T0 = 1_767_225_600
HOURS = 8
INC = (T0 + 4 * 3600, T0 + 4 * 3600 + 1200)  # a 20-minute 5xx incident


def _traffic(rng: np.random.Generator) -> list[TimeSeries]:
    """Healthy Cloud Run traffic (1000 req/min, 0.5 % 5xx) plus one 20 % 5xx incident."""
    t = T0 + 60.0 * np.arange(1, HOURS * 60 + 1)
    ok = rng.poisson(1000, t.size).astype(float)
    err = rng.poisson(5, t.size).astype(float)
    in_inc = (t > INC[0]) & (t <= INC[1])
    err[in_inc] = rng.poisson(250, in_inc.sum())
    res = {"service_name": "ct-scan-api", "revision_name": "ct-scan-api-00060-ltf"}

    def s(metric, values, **labels):
        keep = values > 0  # Cloud Run writes no zero points
        return TimeSeries(
            metric,
            t[keep],
            values[keep],
            metric_labels=labels,
            resource_type="cloud_run_revision",
            resource_labels=res,
            metric_kind="DELTA",
            value_type="INT64",
        )

    return [
        s("run.googleapis.com/request_count", ok, response_code_class="2xx"),
        s("run.googleapis.com/request_count", err, response_code_class="5xx"),
        s("run.googleapis.com/container/billable_instance_time", np.full(t.size, 60.0)),
    ]


def test_catalog_would_have_caught_the_original_misfiring(catalog) -> None:
    series = _traffic(np.random.default_rng(3))
    start, end = T0 + 3600, T0 + HOURS * 3600
    original = parse_catalog(yaml.safe_load(ORIGINAL))  # the API accepted these, so do we

    def incidents(policy):
        return evaluate(policy, series, start, end).incidents

    def healthy(incs):
        return [i for i in incs if not (i.open <= INC[1] and (i.close or end) > INC[0])]

    def healthy_met_share(policy) -> float:
        res = evaluate(policy, series, start, end)
        outside = (res.ticks <= INC[0]) | (res.ticks > INC[1] + 3600)
        return float(res.met[outside].mean())

    # original high error rate: the 2xx "ratio" is ~1.0, open for the whole healthy period
    orig_her = evaluate(original.policy("high_error_rate"), series, start, end)
    groups = orig_her.conditions[0].groups
    row = groups.index({"metric.labels.response_code_class": "2xx"})
    assert orig_her.conditions[0].met[row].mean() > 0.99
    # elevated error rate / downtime: absolute 5xx rates (> 0.02/s, > 0) fire on healthy traffic;
    # crash loop: 600 billable instance-seconds per 10 min > 3, always
    for name in ("api_downtime", "crash_loop"):
        assert healthy_met_share(original.policy(name)) > 0.95, name
    # 5 errors/min (0.5 %) is 0.083/s: every run of 16 minutes with >= 2 errors each fires
    assert healthy_met_share(original.policy("elevated_error_rate")) > 0.2
    assert len(healthy(incidents(original.policy("elevated_error_rate")))) >= 3

    # the catalog's versions are quiet on healthy traffic and catch the incident
    for name in ("high_error_rate", "elevated_error_rate", "api_downtime", "crash_loop"):
        assert healthy(incidents(catalog.resolve(name, "prod"))) == [], name
        assert healthy_met_share(catalog.resolve(name, "prod")) == 0.0, name
    [her] = incidents(catalog.resolve("high_error_rate", "prod"))
    assert INC[0] < her.open <= INC[0] + 300  # P0: detected within 5 minutes
    assert her.peak == pytest.approx(0.2, abs=0.03)
    [eer] = incidents(catalog.resolve("elevated_error_rate", "prod"))
    assert eer.open <= INC[0] + 900
    # 20 % errors is not an outage (downtime needs > 50 % failing)
    assert incidents(catalog.resolve("api_downtime", "prod")) == []


def test_every_catalog_policy_evaluates_on_matching_series(catalog) -> None:
    """Smoke: each resolved policy selects its series and runs without error."""
    rng = np.random.default_rng(5)
    t = T0 + 60.0 * np.arange(1, 241)
    res = {"service_name": "ct-scan-api", "revision_name": "r1"}
    bounds = np.linspace(0, 1, 101)

    def dist(metric):
        counts = np.zeros((t.size, bounds.size + 1))
        counts[:, 50] = 10
        counts[120:, 97] = 10  # second half: utilisation ~0.96
        return TimeSeries(
            metric,
            t,
            resource_type="cloud_run_revision",
            resource_labels=res,
            metric_kind="DELTA",
            value_type="DISTRIBUTION",
            bucket_bounds=bounds,
            bucket_counts=counts,
        )

    def custom(metric, values, **labels):
        return TimeSeries(metric, t, values, metric_labels={"environment": "prod", **labels})

    series = [
        *_traffic(rng),
        dist("run.googleapis.com/container/memory/utilizations"),
        dist("run.googleapis.com/container/cpu/utilizations"),
        TimeSeries(
            "run.googleapis.com/request_latencies",
            t,
            resource_type="cloud_run_revision",
            resource_labels=res,
            metric_kind="DELTA",
            value_type="DISTRIBUTION",
            bucket_bounds=np.array([100.0, 1000, 3000]),
            bucket_counts=np.tile([0, 50, 40, 10], (t.size, 1)).astype(float),
        ),
        TimeSeries(
            "logging.googleapis.com/user/ctscan_container_crashes",
            t[100:106],
            np.ones(6),
            resource_type="cloud_run_revision",
            resource_labels=res,
            metric_kind="DELTA",
            value_type="INT64",
        ),
        custom("custom.googleapis.com/ctscan/drift_share", np.full(t.size, 0.4)),
        custom(
            "custom.googleapis.com/ctscan/prediction_confidence_mean",
            np.full(t.size, 0.6),
            model_version="3",
        ),
        custom(
            "custom.googleapis.com/ctscan/live_accuracy", np.full(t.size, 0.8), model_version="3"
        ),
        custom(
            "custom.googleapis.com/ctscan/storage_bytes", np.full(t.size, 6e8), store="feedback_db"
        ),
        custom("custom.googleapis.com/ctscan/storage_bytes", np.full(t.size, 2e8), store="logs"),
    ]
    fired = {}
    for name in catalog.policies:
        res_ = evaluate(catalog.resolve(name, "prod"), series, T0 + 60, T0 + 240 * 60)
        assert all(c.groups for c in res_.conditions), name
        fired[name] = bool(res_.incidents)
    assert fired == {
        "api_downtime": False,
        "high_error_rate": False,
        "memory_exhaustion": True,
        "crash_loop": True,
        "high_latency": True,  # p95 of [100,1000):50 [1000,3000):40 [3000,inf):10 -> 3000
        "data_drift": True,
        "low_prediction_confidence": True,
        "elevated_error_rate": False,
        "model_accuracy_degradation": True,
        "high_cpu": True,
        "storage_warning": True,
    }
