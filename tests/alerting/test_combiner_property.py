"""Property tests: the combiner layer equals the brute-force reference on random policies.

2-3 conditions on random series with gaps (NaN points, missing minutes), random aligners,
reducers, group-bys, missing-data modes, triggers, auto_close and combiners.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.catalog import Aggregation, Condition, Policy, Trigger
from ctscan_ops.alerting.engine.combine import CombinedResult
from ctscan_ops.alerting.engine.evaluator import evaluate, make_ticks
from ctscan_ops.alerting.engine.reference import reference_policy
from ctscan_ops.alerting.engine.series import TimeSeries

T0 = 1_700_000_040
MODES = [
    "EVALUATION_MISSING_DATA_INACTIVE",
    "EVALUATION_MISSING_DATA_ACTIVE",
    "EVALUATION_MISSING_DATA_NO_OP",
]
GROUP_FIELDS = ["metric.labels.k", "resource.labels.r"]


@st.composite
def gappy_series(draw, n_ticks: int, metric: str) -> TimeSeries:
    times, vals = [], []
    for i in range(n_ticks + 6):
        kind = draw(st.sampled_from(["one", "one", "gap", "nan"]))
        if kind == "gap":
            continue
        times.append(float(T0 - 360 + 60 * i + draw(st.sampled_from([0, 30]))))
        vals.append(math.nan if kind == "nan" else float(draw(st.integers(0, 8))))
    return TimeSeries(
        metric,
        np.array(times, dtype=float),
        np.array(vals, dtype=float),
        metric_labels={"k": draw(st.sampled_from(["a", "b"]))},
        resource_labels={"r": draw(st.sampled_from(["x", "y"]))},
        metric_kind="GAUGE",
        value_type="DOUBLE",
    )


@st.composite
def condition(draw) -> Condition:
    metric = draw(st.sampled_from(["m", "m2"]))
    reducer = draw(st.sampled_from(["REDUCE_NONE", "REDUCE_SUM", "REDUCE_MAX", "REDUCE_MEAN"]))
    groups = (
        ()
        if reducer == "REDUCE_NONE"
        else tuple(sorted(draw(st.sets(st.sampled_from(GROUP_FIELDS)))))
    )
    agg = Aggregation(
        draw(st.sampled_from([60, 120, 180])),
        draw(st.sampled_from(["ALIGN_MEAN", "ALIGN_MAX", "ALIGN_SUM", "ALIGN_NEXT_OLDER"])),
        reducer,
        groups,
    )
    return Condition(
        filter=f'metric.type="{metric}" AND resource.type="global"',
        aggregations=(agg,),
        comparison=draw(st.sampled_from(["COMPARISON_GT", "COMPARISON_LT"])),
        threshold_value=draw(st.integers(0, 16)) / 2 + 0.25,
        duration_s=draw(st.sampled_from([0, 60, 120])),
        evaluation_missing_data=draw(st.sampled_from(MODES)),
        trigger=draw(
            st.one_of(
                st.just(Trigger()),
                st.builds(Trigger, count=st.just(2), percent=st.none()),
                st.builds(Trigger, count=st.none(), percent=st.just(50.0)),
            )
        ),
    )


@st.composite
def policy_case(draw):
    n_ticks = draw(st.integers(2, 30))
    series = draw(st.lists(gappy_series(n_ticks, "m"), min_size=0, max_size=3))
    series += draw(st.lists(gappy_series(n_ticks, "m2"), min_size=0, max_size=3))
    conds = tuple(draw(st.lists(condition(), min_size=2, max_size=3)))
    policy = Policy(
        name="p",
        display_name="p",
        severity="P1",
        conditions=conds,
        auto_close_s=draw(st.sampled_from([None, 120, 300])),
        combiner=draw(st.sampled_from(["AND", "AND_WITH_MATCHING_RESOURCE", "OR"])),
    )
    return policy, series, make_ticks(T0, T0 + 60 * (n_ticks - 1))


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_case())
def test_combiner_matches_reference(case) -> None:
    policy, series, ticks = case
    got = evaluate(policy, series, float(ticks[0]), float(ticks[-1]), warmup=False)
    ref = reference_policy(policy, series, ticks)
    if ref["combiner"] == "OR":
        assert not isinstance(got, CombinedResult)
        want = sorted(
            (float(i.open), ci, i.group, i.close, i.close_reason)
            for ci, r in enumerate(ref["per_condition"])
            for i in r["incidents"]
        )
        have = sorted(
            (i.open, i.condition, i.group, i.close, i.close_reason) for i in got.incidents
        )
        assert have == want
        return
    assert isinstance(got, CombinedResult)
    assert got.combiner == policy.combiner
    assert [dict(g) for g in got.conditions[0].groups] == ref["groups"]
    have = [(i.group, i.open, i.close, i.close_reason) for i in got.incidents]
    want = [(r.group, r.open, r.close, r.close_reason) for r in ref["incidents"]]
    assert have == want
    for i, r in zip(got.incidents, ref["incidents"], strict=True):
        assert _same(i.peak, r.peak), (i, r)
        assert i.labels == ref["groups"][r.group]
    # the combined state is never open where a condition alone could not be
    met = got.conditions[0].met
    for c in got.per_condition:
        assert not (met.any(axis=0) & ~c.met.any(axis=0)).any()


def test_and_needs_every_condition_hand_case() -> None:
    """Hand-computed: 1 violating minute of A overlaps 2 of B -> one AND incident, one tick."""
    a = TimeSeries("m", np.array([T0, T0 + 60, T0 + 120], float), np.array([0.0, 5.0, 0.0]))
    b = TimeSeries("m2", np.array([T0, T0 + 60, T0 + 120], float), np.array([5.0, 5.0, 0.0]))

    def cond(metric: str) -> Condition:
        return Condition(
            filter=f'metric.type="{metric}" AND resource.type="global"',
            aggregations=(Aggregation(60, "ALIGN_MAX", "REDUCE_MAX", ()),),
            comparison="COMPARISON_GT",
            threshold_value=1.0,
            duration_s=0,
        )

    pol = Policy("p", "p", "P1", (cond("m"), cond("m2")), None, combiner="AND")
    res = evaluate(pol, [a, b], T0, T0 + 120, warmup=False)
    assert [(i.open, i.close, i.peak) for i in res.incidents] == [(T0 + 60, T0 + 120, 5.0)]
    orp = Policy("p", "p", "P1", (cond("m"), cond("m2")), None, combiner="OR")
    assert len(evaluate(orp, [a, b], T0, T0 + 120, warmup=False).incidents) == 2


def test_shadow_advance_follows_the_combined_policy() -> None:
    """The sensor's incremental path sees the guarded (AND) incidents, chunk by chunk."""
    from ctscan_ops.alerting.catalog import load_catalog
    from ctscan_ops.alerting.shadow.evaluation import advance

    policy = load_catalog().resolve("high_error_rate", "staging")
    rc = "run.googleapis.com/request_count"
    res = {"service_name": "ct-scan-api-staging"}
    minutes = np.arange(240)
    t = (T0 + 60 * minutes).astype(float)
    ok = np.where(minutes < 120, 2.0, 100.0)  # quiet, then busy (0.03 vs 1.7 req/s)
    err = np.where((minutes == 30) | ((minutes >= 180) & (minutes < 190)), 30.0, 0.0)
    err[30] = 1.0
    series = [
        TimeSeries(
            rc, t, v, {"response_code_class": cls}, "cloud_run_revision", res, metric_kind="DELTA"
        )
        for cls, v in (("2xx", ok), ("5xx", err))
    ]
    full = evaluate(policy, series, T0 + 600, T0 + 239 * 60)
    alone = evaluate(policy.conditions[0], series, T0 + 600, T0 + 239 * 60)
    assert len(alone.incidents) == 2 and len(full.incidents) == 1  # quiet error guarded away
    state: dict = {}
    events = []
    through = T0 + 540
    for stop in (T0 + 100 * 60, T0 + 185 * 60, T0 + 239 * 60):
        ev, state = advance(policy, series, state, through, stop)
        events += ev
        through = stop
    opens = [e for e in events if e.kind == "open"]
    assert [(e.at, e.incident_id) for e in opens] == [(i.open, i.id) for i in full.incidents]
