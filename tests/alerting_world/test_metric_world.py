"""The pure generator: determinism, continuity, API shapes, and labelled incidents that the
catalog's policies actually catch (evaluated with the shadow evaluator)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.engine.evaluator import evaluate
from ctscan_ops.sandbox.worlds import metric_world as mw

from .conftest import DAY, WORLD_END


def _by_key(series):
    return {s.key: s for s in series}


def _assert_same(a: mw.GeneratedSeries, b: mw.GeneratedSeries) -> None:
    assert a.key == b.key
    assert (a.metric_kind, a.value_type, a.unit) == (b.metric_kind, b.value_type, b.unit)
    np.testing.assert_array_equal(a.times, b.times)
    if a.value_type == "DISTRIBUTION":
        np.testing.assert_array_equal(a.bucket_counts, b.bucket_counts)
        np.testing.assert_array_equal(a.dist_sums, b.dist_sums)
        assert a.bucket_options == b.bucket_options
    else:
        np.testing.assert_array_equal(a.values, b.values)


def test_same_seed_same_world_and_different_seed_differs(small_world):
    again = mw.build_world(1234, small_world.start, small_world.end)
    assert [w.to_json() for w in again.labels] == [w.to_json() for w in small_world.labels]
    assert len(again.series) == len(small_world.series)
    for s in small_world.series:
        _assert_same(s, _by_key(again.series)[s.key])
    other = mw.build_world(1235, small_world.start, small_world.end)
    a = _by_key(small_world.series)
    diffs = [
        k
        for k, s in _by_key(other.series).items()
        if k in a and s.values is not None and not np.array_equal(s.values, a[k].values)
    ]
    assert diffs, "a different seed must give different values"


def test_generate_uses_only_the_given_generator():
    w1 = mw.generate_metric_world(np.random.default_rng(5), WORLD_END - DAY, WORLD_END)
    w2 = mw.generate_metric_world(np.random.default_rng(5), WORLD_END - DAY, WORLD_END)
    assert w1.base_seed == w2.base_seed
    assert w1.point_count() == w2.point_count()


def test_continuation_is_identical_to_one_shot_generation(small_world):
    """The feeder's minutes equal the minutes a longer world would have had."""
    spec = mw.PROD
    start, end = small_world.start, small_world.end
    short = mw.plan_service(1234, spec, start, end, end)
    longer = mw.plan_service(1234, spec, start, end, end + 2 * DAY)
    # extending the plan never changes the history inside the world window
    assert [e for e in longer.episodes if e.start < end] == [
        e for e in short.episodes if e.start < end
    ]
    assert longer.revisions[: len(short.revisions)] == short.revisions
    a, b, c = end - 7200, end + 5 * 3600 + 300, end + DAY + 600  # cuts not on day boundaries
    whole = _by_key(mw.simulate(longer, a, c))
    parts = [_by_key(mw.simulate(longer, a, b)), _by_key(mw.simulate(longer, b, c))]
    assert set(whole) == set(parts[0]) | set(parts[1])
    for key, s in whole.items():
        pieces = [p[key] for p in parts if key in p]
        times = np.concatenate([p.times for p in pieces])
        np.testing.assert_array_equal(times, s.times)
        if s.value_type == "DISTRIBUTION":
            np.testing.assert_array_equal(
                np.concatenate([p.bucket_counts for p in pieces]), s.bucket_counts
            )
        else:
            np.testing.assert_array_equal(np.concatenate([p.values for p in pieces]), s.values)
    # and the world's own series equal the longer plan's over the world window
    world_prod = _by_key(
        s
        for s in small_world.series
        if s.resource_labels.get("service_name") == spec.service_name
        or s.metric_labels.get("environment") == "prod"
    )
    tail = _by_key(mw.simulate(longer, end - 7200, end))
    for key, s in tail.items():
        w = world_prod[key].slice(end - 7200, end)
        _assert_same(w, s)


EXPECTED_SHAPES = {
    mw.REQUEST_COUNT: ("cloud_run_revision", "DELTA", "INT64"),
    mw.REQUEST_LATENCIES: ("cloud_run_revision", "DELTA", "DISTRIBUTION"),
    mw.CPU_UTILIZATIONS: ("cloud_run_revision", "DELTA", "DISTRIBUTION"),
    mw.MEMORY_UTILIZATIONS: ("cloud_run_revision", "DELTA", "DISTRIBUTION"),
    mw.INSTANCE_COUNT: ("cloud_run_revision", "GAUGE", "INT64"),
    mw.CONTAINER_CRASHES: ("cloud_run_revision", "DELTA", "INT64"),
    mw.CONFIDENCE: ("global", "GAUGE", "DOUBLE"),
    mw.LIVE_ACCURACY: ("global", "GAUGE", "DOUBLE"),
    mw.STORAGE_BYTES: ("global", "GAUGE", "INT64"),
}


def test_series_have_cloud_run_kinds_types_and_labels(small_world):
    types = {s.metric_type for s in small_world.series}
    assert types - {mw.CONTAINER_CRASHES} == set(EXPECTED_SHAPES) - {mw.CONTAINER_CRASHES}
    assert "custom.googleapis.com/ctscan/drift_share" not in types  # the drift domain's
    for s in small_world.series:
        assert (s.resource_type, s.metric_kind, s.value_type) == EXPECTED_SHAPES[s.metric_type]
        assert np.all(np.diff(s.times) > 0), s.key
        assert np.all(s.times % 60 == 0)
        if s.resource_type == "cloud_run_revision":
            assert set(s.resource_labels) == {
                "project_id",
                "service_name",
                "revision_name",
                "location",
                "configuration_name",
            }
            assert s.resource_labels["revision_name"].startswith(s.resource_labels["service_name"])
        if s.metric_type == mw.REQUEST_COUNT:
            assert s.metric_labels["response_code_class"] in ("2xx", "4xx", "5xx")
            assert s.metric_labels["response_code"][0] == s.metric_labels["response_code_class"][0]
            assert np.all(s.values > 0)  # Cloud Run writes no zero points
        if s.metric_type == mw.INSTANCE_COUNT:
            assert s.metric_labels["state"] in ("active", "idle")
        if s.value_type == "DISTRIBUTION":
            assert s.bucket_counts.shape == (s.times.size, s.bounds.size + 1)
            assert np.all(s.bucket_counts.sum(axis=1) > 0)
        if s.metric_type in (mw.CPU_UTILIZATIONS, mw.MEMORY_UTILIZATIONS):
            assert s.bucket_counts[:, 0].sum() == 0  # nothing below 0
            means = s.dist_means()
            assert np.all((means >= 0) & (means <= 1))


def test_latency_counts_agree_with_request_counts(small_world):
    """Independent consistency: each minute's latency samples = that minute's requests."""
    rc = {}
    for s in small_world.series:
        if s.metric_type == mw.REQUEST_COUNT:
            key = (s.resource_labels["revision_name"], s.metric_labels["response_code_class"])
            for t, v in zip(s.times.tolist(), s.values.tolist(), strict=True):
                rc[(*key, t)] = rc.get((*key, t), 0) + v
    checked = 0
    for s in small_world.series:
        if s.metric_type == mw.REQUEST_LATENCIES:
            key = (s.resource_labels["revision_name"], s.metric_labels["response_code_class"])
            for t, n in zip(s.times.tolist(), s.bucket_counts.sum(axis=1).tolist(), strict=True):
                assert rc[(*key, t)] == n
                checked += 1
    assert checked > 1000


def test_load_is_diurnal(small_world):
    total = {}
    for s in small_world.series:
        if s.metric_type == mw.REQUEST_COUNT and s.resource_labels["service_name"] == "ct-scan-api":
            for t, v in zip(s.times.tolist(), s.values.tolist(), strict=True):
                total[t] = total.get(t, 0) + v
    hours = np.array([(t - 60) % DAY // 3600 for t in total])
    vals = np.array(list(total.values()))
    afternoon = vals[(hours >= 13) & (hours < 17)].mean()
    night = vals[(hours >= 1) & (hours < 5)].mean()
    assert afternoon > 3 * night


def test_every_incident_kind_is_labelled(prod_world_14d):
    w = prod_world_14d
    kinds = {lab.kind for lab in w.labels}
    assert kinds == set(mw.INCIDENT_POLICIES)
    policies = {lab.policy for lab in w.labels}
    assert policies == set(mw.POLICY_SEVERITY) - {"data_drift"}
    for lab in w.labels:
        assert w.start <= lab.start < lab.end <= w.end + 3600
        assert lab.severity == mw.POLICY_SEVERITY[lab.policy]
        assert lab.policy in mw.INCIDENT_POLICIES[lab.kind]
    eps = {e.kind for e in w.episodes}
    assert {"near_latency", "near_errors", "spike_latency", "spike_5xx", "spike_cpu"} <= eps
    # episodes of the fixed plan never overlap each other
    planned = sorted((e.start, e.end) for e in w.episodes if not e.kind.startswith("spike_"))
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(planned))


def _overlaps(inc, start, end, pad=0):
    close = inc.close if inc.close is not None else float("inf")
    return inc.open <= end + pad and close > start


@pytest.fixture(scope="module")
def prod_series(prod_world_14d):
    return [s.to_time_series() for s in prod_world_14d.series]


@pytest.mark.parametrize(
    "policy",
    sorted(set(mw.POLICY_SEVERITY) - {"data_drift"}),
)
def test_catalog_policy_catches_its_labelled_incidents(policy, prod_world_14d, prod_series):
    w = prod_world_14d
    resolved = load_catalog().resolve(policy, "prod")
    result = evaluate(resolved, prod_series, w.start + 6 * 3600, w.end)
    windows = [lab for lab in w.labels if lab.policy == policy]
    assert windows
    for lab in windows:
        assert any(_overlaps(i, lab.start, lab.end) for i in result.incidents), (policy, lab)
    # near misses stay below the catalog's thresholds (harmless spikes may land inside one
    # and are the designed noise, so incidents explained by a spike are not counted here)
    spikes = [e for e in w.episodes if e.kind.startswith("spike_")]
    for e in w.episodes:
        if e.kind.startswith("near_"):
            hits = [
                i
                for i in result.incidents
                if _overlaps(i, e.start, e.end)
                and not any(_overlaps(i, lab.start, lab.end) for lab in windows)
                and not any(_overlaps(i, s.start, s.end, pad=600) for s in spikes)
            ]
            assert not hits, (policy, e)


def test_harmless_spikes_make_a_naive_policy_noisy(prod_world_14d, prod_series):
    """Cold-start spikes: a 0 s retest window fires on them, the catalog's 300 s does not."""
    w = prod_world_14d
    policy = load_catalog().resolve("high_latency", "prod")
    naive = dataclasses.replace(
        policy, conditions=(dataclasses.replace(policy.condition, duration_s=0),)
    )
    spikes = [e for e in w.episodes if e.kind == "spike_latency"]
    assert spikes
    lo = w.start + 6 * 3600
    labelled = [lab for lab in w.labels if lab.policy == "high_latency"]

    def on_spikes(result):
        return [
            i
            for i in result.incidents
            if any(_overlaps(i, e.start, e.end, pad=120) for e in spikes)
            and not any(_overlaps(i, lab.start, lab.end) for lab in labelled)
        ]

    assert on_spikes(evaluate(naive, prod_series, lo, w.end))
    assert not on_spikes(evaluate(policy, prod_series, lo, w.end))


def test_plan_rejects_non_midnight_windows():
    with pytest.raises(ValueError, match="midnight"):
        mw.plan_service(1, mw.PROD, WORLD_END - DAY + 60, WORLD_END, WORLD_END)
    with pytest.raises(ValueError, match="multiples of 60"):
        mw.simulate(mw.plan_service(1, mw.PROD, WORLD_END - DAY, WORLD_END, WORLD_END), 1, 120)
