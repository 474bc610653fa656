"""The minimum-traffic guard in the demo world (seed 7, 35 days, as `ctscan-ops demo` builds it).

* the floors in the catalog are the ones :mod:`ctscan_ops.alerting.tuning.guard` chooses from
  the world's shadow data (so a changed world or rule shows up here, not in production);
* the guarded ``high_error_rate`` in staging has no false incident and misses no labelled one
  (evaluator over the whole world), and the evaluator agrees with the brute-force reference on
  a shortened window around the unguarded policy's false incidents.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.engine.evaluator import evaluate, make_ticks
from ctscan_ops.alerting.engine.reference import reference_policy
from ctscan_ops.alerting.shadow.quality import score
from ctscan_ops.alerting.tuning.guard import guard_floor_for_policy
from ctscan_ops.sandbox.worlds import metric_world as mw

from .conftest import DAY, WORLD_END

RATIO_POLICIES = ("high_error_rate", "elevated_error_rate", "api_downtime")


@pytest.fixture(scope="module")
def demo_world() -> mw.MetricWorld:
    # the demo's generator: WorldContext.rng("alerting") with the default seed 7 and 35 days
    rng = np.random.default_rng([7, zlib.crc32(b"alerting")])
    return mw.generate_metric_world(rng, WORLD_END - 35 * DAY, WORLD_END)


@pytest.fixture(scope="module")
def world_series(demo_world: mw.MetricWorld):
    return [s.to_time_series() for s in demo_world.series]


def _windows(world: mw.MetricWorld, policy: str, env: str) -> list[tuple[int, int]]:
    return [(w.start, w.end) for w in world.labels if w.policy == policy and w.environment == env]


def _span(world: mw.MetricWorld) -> tuple[float, float]:
    return float(world.start + 3600), float(world.end - 60)


@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("name", RATIO_POLICIES)
def test_catalog_floor_is_the_one_the_data_chooses(demo_world, world_series, name, env) -> None:
    policy = load_catalog().resolve(name, env)
    assert policy.combiner == "AND" and len(policy.conditions) == 2
    guard = policy.conditions[1]
    assert guard.filter.count("request_count") == 1 and "5xx" not in guard.filter
    choice = guard_floor_for_policy(
        policy, world_series, *_span(demo_world), _windows(demo_world, name, env)
    )
    # the floor chosen must never lose a labelled incident the unguarded policy caught
    assert choice.detected_after == choice.detected_before
    expected = 0.0 if choice.floor is None else choice.floor
    assert guard.threshold_value == pytest.approx(expected), choice.as_dict()


def test_guarded_high_error_rate_in_staging_is_clean(demo_world, world_series) -> None:
    catalog = load_catalog()
    policy = catalog.resolve("high_error_rate", "staging")
    start, end = _span(demo_world)
    wins = _windows(demo_world, "high_error_rate", "staging")
    unguarded = evaluate(
        policy.conditions[0], world_series, start, end, auto_close_s=policy.auto_close_s
    )
    before = score(unguarded.incidents, wins, unguarded.ticks)
    assert before.false_incidents >= 10  # the problem the guard exists for (issue 16)
    guarded = evaluate(policy, world_series, start, end)
    after = score(guarded.incidents, wins, guarded.ticks)
    assert after.false_incidents == 0
    assert len(after.missed_windows) == 0

    # reference on a shortened window: the six hours around the first false incidents
    first = unguarded.incidents[0].open
    t0 = float(first - 3 * 3600) // 60 * 60
    t1 = t0 + 6 * 3600
    ticks = make_ticks(t0, t1)
    near = [
        ts
        for ts in world_series
        if ts.resource_labels.get("service_name") == "ct-scan-api-staging"
        and ts.metric_type == mw.REQUEST_COUNT
    ]
    ref = reference_policy(policy, near, ticks)
    got = evaluate(policy, near, t0, t1, warmup=False)
    assert [(i.open, i.close) for i in got.incidents] == [
        (r.open, r.close) for r in ref["incidents"]
    ]
    # and the reference sees the unguarded ratio fire in that window, the guard silence it
    ratio_alone = ref["per_condition"][0]["incidents"]
    assert ratio_alone and not ref["incidents"]
