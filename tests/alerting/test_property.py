"""Property tests: the vectorised evaluator equals the brute-force reference on random input."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ctscan_ops.alerting.catalog import Aggregation, Condition, Trigger
from ctscan_ops.alerting.engine import evaluator
from ctscan_ops.alerting.engine.evaluator import (
    Incident,
    aligned_condition_values,
    incident_id,
    incidents_from_values,
    make_ticks,
    stack_values,
)
from ctscan_ops.alerting.engine.reference import reference_evaluate
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.engine.state import met_runs

T0 = 1_700_000_040  # an epoch multiple of 60 s
BOUNDS = [1.0, 2.0, 4.0, 8.0, 16.0]

SCALAR_ALIGNERS = {
    "GAUGE": [
        "ALIGN_MEAN",
        "ALIGN_MAX",
        "ALIGN_MIN",
        "ALIGN_SUM",
        "ALIGN_COUNT",
        "ALIGN_NEXT_OLDER",
        "ALIGN_PERCENTILE_99",
        "ALIGN_PERCENTILE_50",
        "ALIGN_PERCENTILE_05",
    ],
    "CUMULATIVE": ["ALIGN_DELTA", "ALIGN_RATE"],
}
SCALAR_ALIGNERS["DELTA"] = SCALAR_ALIGNERS["GAUGE"] + ["ALIGN_DELTA", "ALIGN_RATE"]
SCALAR_REDUCERS = [
    "REDUCE_NONE",
    "REDUCE_SUM",
    "REDUCE_MEAN",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "REDUCE_COUNT",
    "REDUCE_STDDEV",
    "REDUCE_PERCENTILE_95",
    "REDUCE_PERCENTILE_50",
]
GROUP_FIELDS = ["metric.labels.k", "resource.labels.r"]
MODES = [
    "EVALUATION_MISSING_DATA_INACTIVE",
    "EVALUATION_MISSING_DATA_ACTIVE",
    "EVALUATION_MISSING_DATA_NO_OP",
]


@st.composite
def point_times(draw, n_ticks: int) -> list[float]:
    if draw(st.booleans()):
        # regular one-per-minute data with jitter, some minutes dropped or doubled
        out = []
        for i in range(n_ticks + 10):
            kind = draw(st.sampled_from(["one", "one", "one", "none", "two"]))
            for _ in range({"one": 1, "none": 0, "two": 2}[kind]):
                out.append(float(T0 - 600 + 60 * i + draw(st.sampled_from([0, 1, 30, 59]))))
        return out
    n = draw(st.integers(0, 25))
    span = n_ticks * 60 + 600
    # bias towards multiples of 30 s so window edges (exactly t - P and t) are hit often
    raw = draw(st.lists(st.integers(0, span // 30), min_size=n, max_size=n))
    jitter = draw(st.lists(st.sampled_from([0, 0, 0, 7]), min_size=n, max_size=n))
    return [float(T0 - 600 + 30 * r + j) for r, j in zip(raw, jitter, strict=True)]


@st.composite
def scalar_series(draw, n_ticks: int, kind: str, metric: str = "m") -> TimeSeries:
    times = draw(point_times(n_ticks))
    vals = [
        draw(st.one_of(st.integers(-8, 40).map(lambda x: x / 4), st.just(math.nan)))
        if draw(st.booleans())
        else float(draw(st.integers(0, 12)))
        for _ in times
    ]
    if kind == "CUMULATIVE":
        vals = [abs(v) if not math.isnan(v) else v for v in vals]
        # mostly increasing counter with occasional resets
        acc, out = 0.0, []
        for v in vals:
            if math.isnan(v):
                out.append(v)
                continue
            acc = 0.0 if v > 9 else acc + v
            out.append(acc)
        vals = out
    return TimeSeries(
        metric,
        np.array(times),
        np.array(vals, dtype=float),
        metric_labels={"k": draw(st.sampled_from(["a", "b"]))},
        resource_labels={"r": draw(st.sampled_from(["x", "y"]))},
        metric_kind=kind,
        value_type="DOUBLE",
    )


@st.composite
def dist_series(draw, n_ticks: int, kind: str) -> TimeSeries:
    times = draw(point_times(n_ticks))
    counts = draw(
        st.lists(
            st.lists(st.integers(0, 5), min_size=len(BOUNDS) + 1, max_size=len(BOUNDS) + 1),
            min_size=len(times),
            max_size=len(times),
        )
    )
    c = np.array(counts, dtype=float).reshape(len(times), len(BOUNDS) + 1)
    if kind == "CUMULATIVE":
        c = np.cumsum(c, axis=0)
    return TimeSeries(
        "d",
        np.array(times),
        bucket_bounds=np.array(BOUNDS),
        bucket_counts=c,
        metric_labels={"k": draw(st.sampled_from(["a", "b"]))},
        resource_labels={"r": draw(st.sampled_from(["x", "y"]))},
        metric_kind=kind,
        value_type="DISTRIBUTION",
    )


def _agg(draw, aligner: str, reducer: str, period: int) -> Aggregation:
    groups = () if reducer == "REDUCE_NONE" else tuple(draw(st.sets(st.sampled_from(GROUP_FIELDS))))
    return Aggregation(period, aligner, reducer, tuple(sorted(groups)))


@st.composite
def tail(draw) -> dict:
    return {
        "comparison": draw(st.sampled_from(["COMPARISON_GT", "COMPARISON_LT"])),
        "threshold_value": draw(st.integers(-4, 60)) / 4 + 0.125,
        "duration_s": draw(st.sampled_from([0, 60, 120, 300])),
        "evaluation_missing_data": draw(st.sampled_from(MODES)),
        "trigger": draw(
            st.one_of(
                st.builds(Trigger, count=st.integers(1, 2), percent=st.none()),
                st.builds(Trigger, count=st.none(), percent=st.sampled_from([50.0, 100.0])),
            )
        ),
    }


@st.composite
def scalar_case(draw):
    n_ticks = draw(st.integers(1, 24))
    kind = draw(st.sampled_from(["GAUGE", "DELTA", "CUMULATIVE"]))
    series = draw(st.lists(scalar_series(n_ticks, kind), min_size=0, max_size=4))
    # 1260 s: windows of up to ~40 points, wider than the table kernels take (other paths)
    period = draw(st.sampled_from([60, 120, 180, 300, 90, 1260]))
    aligner = draw(st.sampled_from(SCALAR_ALIGNERS[kind]))
    reducer = draw(st.sampled_from(SCALAR_REDUCERS))
    agg = _agg(draw, aligner, reducer, period)
    den_filter, den_aggs = None, ()
    if draw(st.booleans()):
        # ratio: denominator from a second metric, grouped by a subset of the numerator's fields
        series = series + draw(st.lists(scalar_series(n_ticks, kind, "m2"), max_size=3))
        allowed = GROUP_FIELDS if reducer == "REDUCE_NONE" else list(agg.group_by_fields)
        den_groups = tuple(sorted(draw(st.sets(st.sampled_from(allowed))))) if allowed else ()
        den_filter = 'metric.type="m2" AND resource.type="global"'
        den_aggs = (Aggregation(period, aligner, "REDUCE_SUM", den_groups),)
    cond = Condition(
        filter='metric.type="m" AND resource.type="global"',
        aggregations=(agg,),
        denominator_filter=den_filter,
        denominator_aggregations=den_aggs,
        **draw(tail()),
    )
    auto_close = draw(st.sampled_from([None, 120, 300]))
    return cond, series, make_ticks(T0, T0 + 60 * (n_ticks - 1)), auto_close


@st.composite
def dist_case(draw):
    n_ticks = draw(st.integers(1, 25))
    kind = draw(st.sampled_from(["GAUGE", "DELTA", "CUMULATIVE"]))
    series = draw(st.lists(dist_series(n_ticks, kind), min_size=0, max_size=3))
    period = draw(st.sampled_from([60, 180, 300, 150]))
    if kind == "CUMULATIVE":
        aligner = "ALIGN_DELTA"
    else:
        choices = ["ALIGN_SUM", "ALIGN_MEAN", "ALIGN_PERCENTILE_95", "ALIGN_PERCENTILE_50"]
        aligner = draw(st.sampled_from(choices + (["ALIGN_DELTA"] if kind == "DELTA" else [])))
    if aligner in ("ALIGN_DELTA", "ALIGN_SUM"):
        reducer = draw(
            st.sampled_from(
                ["REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_50", "REDUCE_MEAN", "REDUCE_COUNT"]
            )
        )
    else:
        reducer = draw(st.sampled_from(SCALAR_REDUCERS))
    cond = Condition(
        filter='metric.type="d" AND resource.type="global"',
        aggregations=(_agg(draw, aligner, reducer, period),),
        **draw(tail()),
    )
    auto_close = draw(st.sampled_from([None, 180]))
    return cond, series, make_ticks(T0, T0 + 60 * (n_ticks - 1)), auto_close


def _check(cond: Condition, series: list[TimeSeries], ticks: np.ndarray, auto_close) -> None:
    ref = reference_evaluate(cond, series, ticks, auto_close)
    groups = aligned_condition_values(cond, series, ticks)
    assert [g.labels for g in groups] == ref["labels"]
    for g, rv in zip(groups, ref["values"], strict=True):
        expected = np.array([np.nan if x is None else x for x in rv], dtype=float)
        np.testing.assert_allclose(g.values, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
        # values within rounding of the threshold could legitimately differ in the comparison
        near = np.abs(expected - cond.threshold_value) < 1e-9
        assume(not near.any())
    vals = np.array([g.values for g in groups]) if groups else np.empty((0, ticks.size))
    assert np.array_equal(stack_values(groups, ticks.size), vals, equal_nan=True)
    met, incidents = incidents_from_values(
        vals,
        ticks,
        cond.comparison,
        cond.threshold_value,
        cond.duration_s,
        cond.evaluation_missing_data,
        auto_close,
        trigger=cond.trigger,
    )
    assert met.tolist() == ref["met"]
    got = [(i.group, i.open, i.close, i.close_reason) for i in incidents]
    want = [(r.group, r.open, r.close, r.close_reason) for r in ref["incidents"]]
    assert got == want
    for i, r in zip(incidents, ref["incidents"], strict=True):
        if r.peak is None:
            assert i.peak is None
        else:
            assert math.isclose(i.peak, r.peak, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scalar_case())
def test_scalar_conditions_match_reference(case) -> None:
    _check(*case)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dist_case())
def test_distribution_conditions_match_reference(case) -> None:
    _check(*case)


@st.composite
def edge_series(draw):
    """Edge cases: single points, points exactly on window bounds, long NaN gaps, all-equal
    values (percentile ties), no points at all."""
    n_ticks = draw(st.integers(1, 12))
    shape = draw(st.sampled_from(["single", "edges", "gap", "ties", "empty"]))
    if shape == "single":
        times = [float(T0 + 60 * draw(st.integers(-6, n_ticks)))]
    elif shape == "edges":  # every point exactly on a tick (window end) or a window start
        times = sorted({float(T0 + 60 * i) for i in draw(st.lists(st.integers(-6, n_ticks)))})
    elif shape == "gap":
        times = [float(T0 - 300 + 60 * i) for i in range(n_ticks + 6)]
    elif shape == "ties":
        times = [float(T0 - 300 + 60 * i + 30) for i in range(n_ticks + 6)]
    else:
        times = []
    vals = [float(draw(st.integers(0, 3))) for _ in times]
    if shape == "gap" and vals:
        cut = draw(st.integers(0, len(vals) - 1))
        for i in range(cut, min(len(vals), cut + draw(st.integers(1, 8)))):
            vals[i] = math.nan
    if shape == "ties":
        vals = [2.0] * len(vals)
    return TimeSeries("m", np.array(times), np.array(vals), metric_labels={"k": "a"}), n_ticks


@settings(max_examples=200, deadline=None)
@given(
    st.lists(edge_series(), min_size=1, max_size=3),
    st.sampled_from(SCALAR_ALIGNERS["DELTA"]),
    st.sampled_from([60, 120, 300]),
    st.sampled_from(["REDUCE_NONE", "REDUCE_MAX", "REDUCE_PERCENTILE_50"]),
    tail(),
)
def test_edge_cases_match_reference(items, aligner, period, reducer, tl) -> None:
    n_ticks = max(n for _, n in items)
    series = []
    for i, (ts, _) in enumerate(items):
        series.append(
            TimeSeries("m", ts.times, ts.values, metric_labels={"k": str(i)}, metric_kind="DELTA")
        )
    cond = Condition(
        filter='metric.type="m" AND resource.type="global"',
        aggregations=(Aggregation(period, aligner, reducer, ()),),
        **tl,
    )
    _check(cond, series, make_ticks(T0, T0 + 60 * (n_ticks - 1)), 120)


def test_incidents_equal_constructed_ones() -> None:
    """Incidents built without the dataclass __init__ equal constructor-built ones, and their
    ids are incident_id()'s."""
    rng = np.random.default_rng(5)
    ticks = make_ticks(T0, T0 + 60 * 199)
    vals = rng.integers(0, 4, size=(3, ticks.size)).astype(float)
    vals[1, 50:60] = np.nan
    labels = [{"metric.labels.k": str(i)} for i in range(3)]
    _, incidents = incidents_from_values(
        vals,
        ticks,
        "COMPARISON_GT",
        1.5,
        60,
        "EVALUATION_MISSING_DATA_INACTIVE",
        120,
        labels=labels,
        policy="p",
        condition=1,
    )
    assert len(incidents) > 10
    for inc in incidents:
        rebuilt = Incident(**{f.name: getattr(inc, f.name) for f in fields(Incident)})
        assert rebuilt == inc and repr(rebuilt) == repr(inc)
        assert inc.id == incident_id("p", 1, inc.labels, inc.open)
        assert inc.to_json() == rebuilt.to_json()
    assert [(i.open, i.group) for i in incidents] == sorted((i.open, i.group) for i in incidents)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(0, 8).map(float)), min_size=30, max_size=30),
        min_size=1,
        max_size=3,
    ),
    tail(),
    st.sampled_from([None, 60, 240]),
)
def test_incident_state_machine_matches_reference(rows, tl, auto_close) -> None:
    """Stage 2 alone, with long gaps and many threshold crossings."""
    from ctscan_ops.alerting.engine.reference import reference_incidents

    ticks = make_ticks(T0, T0 + 60 * 29)
    vals = np.array([[np.nan if x is None else x for x in r] for r in rows])
    met, incidents = incidents_from_values(
        vals,
        ticks,
        tl["comparison"],
        tl["threshold_value"],
        tl["duration_s"],
        tl["evaluation_missing_data"],
        auto_close,
        trigger=tl["trigger"],
    )
    ref_met, ref_inc = reference_incidents(
        rows,
        ticks,
        tl["comparison"],
        tl["threshold_value"],
        tl["duration_s"],
        tl["evaluation_missing_data"],
        auto_close,
        tl["trigger"],
    )
    assert met.tolist() == ref_met
    assert [(i.group, i.open, i.close, i.close_reason, i.peak) for i in incidents] == [
        (r.group, r.open, r.close, r.close_reason, r.peak) for r in ref_inc
    ]


def test_run_peaks_of_many_runs_equal_brute_force() -> None:
    """Runs equal a scan of ``met``; more than 256 runs take the reduceat path: peaks equal a
    per-run scan (NaN ignored)."""
    rng = np.random.default_rng(9)
    vals = rng.integers(0, 5, size=(7, 400)).astype(float)
    vals[rng.random(vals.shape) < 0.2] = np.nan
    met = rng.random(vals.shape) < 0.5
    met[:, -1] = True  # runs reaching the last tick (and the end of the flattened array)
    met[3] = False  # a group without runs
    met[4, :] = True  # one run over every tick
    g, t_open, t_close = met_runs(met)
    assert g.size > 256
    assert int((t_close - t_open).sum()) == int(met.sum())  # every met tick is in a run
    assert 3 not in g.tolist() and g.tolist().count(4) == 1
    for is_gt in (True, False):
        peaks = evaluator._run_peaks(vals, g, t_open, t_close, is_gt)
        for r, a, e, pk in zip(g, t_open, t_close, peaks, strict=True):
            window = [x for x in vals[r, a:e].tolist() if not math.isnan(x)]
            want = (max if is_gt else min)(window) if window else math.nan
            assert (math.isnan(want) and math.isnan(pk)) or want == pk
            assert met[r, a:e].all() and (a == 0 or not met[r, a - 1])
            assert e == met.shape[1] or not met[r, e]


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (2, 7), (7, 1000)])
def test_met_runs_equal_a_scan(shape) -> None:
    """Runs of met ticks equal a plain scan, also when there are more runs than the kernel's
    first guess of room (7 x 1000 alternating-ish ticks: ~1,750 runs)."""
    met = np.random.default_rng(5).random(shape) < 0.5
    want = []
    for g in range(shape[0]):
        t = 0
        while t < shape[1]:
            if met[g, t]:
                e = t
                while e < shape[1] and met[g, e]:
                    e += 1
                want.append((g, t, e))
                t = e
            else:
                t += 1
    grp, opens, closes = met_runs(met)
    assert list(zip(grp.tolist(), opens.tolist(), closes.tolist(), strict=True)) == want
