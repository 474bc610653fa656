"""Hand-computed cases for the evaluator (each number below is worked out in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from ctscan_ops.alerting.catalog import Aggregation, Condition, Trigger, parse_condition
from ctscan_ops.alerting.engine.evaluator import (
    EvaluationError,
    aligned_condition_values,
    bucket_percentile,
    evaluate,
    incidents_from_values,
    make_ticks,
)
from ctscan_ops.alerting.engine.series import TimeSeries, exponential_bounds, prepare

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
INACTIVE = "EVALUATION_MISSING_DATA_INACTIVE"
ACTIVE = "EVALUATION_MISSING_DATA_ACTIVE"
NO_OP = "EVALUATION_MISSING_DATA_NO_OP"


def hm(h: int, m: int) -> float:
    return datetime(2026, 1, 1, h, m, tzinfo=UTC).timestamp()


def cond(
    aligner: str = "ALIGN_MEAN",
    period: int = 60,
    reducer: str = "REDUCE_NONE",
    group_by: tuple[str, ...] = (),
    comparison: str = "COMPARISON_GT",
    threshold: float = 0.0,
    duration: int = 0,
    missing: str = INACTIVE,
    metric: str = "m",
    trigger: Trigger | None = None,
) -> Condition:
    return Condition(
        filter=f'metric.type="{metric}" AND resource.type="global"',
        aggregations=(Aggregation(period, aligner, reducer, group_by),),
        comparison=comparison,
        threshold_value=threshold,
        duration_s=duration,
        evaluation_missing_data=missing,
        trigger=trigger or Trigger(),
    )


def gauge(times, values, metric="m", kind="GAUGE", **labels) -> TimeSeries:
    return TimeSeries(
        metric,
        np.asarray(times, dtype=float),
        np.asarray(values, dtype=float),
        metric_labels=labels,
        metric_kind=kind,
    )


# --------------------------------------------------------------------------- GCP docs example


def _docs_series() -> TimeSeries:
    # one sample per minute, 12:56 .. 13:07
    values = {
        (12, 56): 0,
        (12, 57): 0,
        (12, 58): 1,
        (12, 59): 1,
        (13, 0): 1,
        (13, 1): 0,
        (13, 2): 1,
        (13, 3): 0,
        (13, 4): 0,
        (13, 5): 0,
        (13, 6): 0,
        (13, 7): 0,
    }
    return gauge([hm(*k) for k in values], list(values.values()))


def test_gcp_docs_example_rolling_sum_and_retest_window() -> None:
    """1-min samples, 5-min ALIGN_SUM, threshold 2, duration 3 min (GCP 'concepts-indepth').

    Rolling 5-min sums over (t - 5 min, t]:
      12:59 -> 12:55..12:59 = 0+0+1+1 = 2      (not > 2)
      13:00 -> 12:56..13:00 = 0+0+1+1+1 = 3    (violates)
      13:01 -> 12:57..13:01 = 0+1+1+1+0 = 3    (violates)
      13:02 -> 12:58..13:02 = 1+1+1+0+1 = 4    (violates)
      13:03 -> 12:59..13:03 = 1+1+0+1+0 = 3    (violates)
      13:04 -> 13:00..13:04 = 1+0+1+0+0 = 2    (clears)
    The retest window [t - 3 min, t] needs 4 violating ticks: first met at 13:03, cleared 13:04.
    """
    c = cond("ALIGN_SUM", 300, threshold=2, duration=180)
    ticks = make_ticks(hm(12, 59), hm(13, 5))
    [g] = aligned_condition_values(c, [_docs_series()], ticks)
    assert g.values.tolist() == [2, 3, 3, 4, 3, 2, 1]
    res = evaluate(c, [_docs_series()], hm(12, 59), hm(13, 7))
    [inc] = res.incidents
    assert (inc.open, inc.close, inc.peak, inc.close_reason) == (
        hm(13, 3),
        hm(13, 4),
        3.0,
        "cleared",
    )
    # without a retest window the incident opens on the first violating tick
    res0 = evaluate(
        cond("ALIGN_SUM", 300, threshold=2, duration=0), [_docs_series()], hm(12, 59), hm(13, 7)
    )
    assert [(i.open, i.close, i.peak) for i in res0.incidents] == [(hm(13, 0), hm(13, 4), 4.0)]


def test_alignment_window_is_open_at_start_closed_at_end() -> None:
    # a point exactly at t - P belongs to the previous window, a point exactly at t to this one
    s = gauge([T0 - 300, T0], [100, 1])
    ticks = np.array([T0 - 60, float(T0)])
    [g] = aligned_condition_values(cond("ALIGN_SUM", 300), [s], ticks)
    assert g.values.tolist() == [100.0, 1.0]


# --------------------------------------------------------------------------- aligners


def test_scalar_aligners_by_hand() -> None:
    s = gauge([T0 + 10, T0 + 70, T0 + 130, T0 + 190], [4, 1, 7, 2], kind="DELTA")
    ticks = np.array([T0 + 180.0, T0 + 240.0])  # windows: {4,1,7} and {1,7,2}
    expect = {
        "ALIGN_MEAN": [4.0, 10 / 3],
        "ALIGN_MAX": [7.0, 7.0],
        "ALIGN_MIN": [1.0, 1.0],
        "ALIGN_SUM": [12.0, 10.0],
        "ALIGN_DELTA": [12.0, 10.0],
        "ALIGN_RATE": [12 / 180, 10 / 180],
        "ALIGN_COUNT": [3.0, 3.0],
        "ALIGN_NEXT_OLDER": [7.0, 2.0],
        "ALIGN_PERCENTILE_50": [4.0, 2.0],
        # sorted {1,4,7}: rank 0.99*2 = 1.98 -> 4 + 0.98*3 = 6.94; {1,2,7}: 2 + 0.98*5 = 6.9
        "ALIGN_PERCENTILE_99": [6.94, 6.9],
        # rank 0.05*2 = 0.1 -> 1 + 0.1*3 = 1.3; 1 + 0.1*1 = 1.1
        "ALIGN_PERCENTILE_05": [1.3, 1.1],
    }
    for aligner, want in expect.items():
        [g] = aligned_condition_values(cond(aligner, 180), [s], ticks)
        np.testing.assert_allclose(g.values, want, rtol=1e-12, err_msg=aligner)


def test_empty_window_is_no_data_for_every_aligner() -> None:
    s = gauge([T0], [3], kind="DELTA")
    for aligner in ("ALIGN_MEAN", "ALIGN_COUNT", "ALIGN_SUM", "ALIGN_RATE", "ALIGN_NEXT_OLDER"):
        [g] = aligned_condition_values(cond(aligner, 60), [s], np.array([T0 + 60.0, T0 + 120.0]))
        assert np.isnan(g.values).all(), aligner


def test_irregular_tick_grid_and_odd_period_use_the_same_window() -> None:
    # 90 s is not a multiple of the 60 s grid: the searchsorted path must agree with the rule
    s = gauge([T0 + 30, T0 + 60, T0 + 90, T0 + 120], [1, 2, 4, 8])
    [g] = aligned_condition_values(cond("ALIGN_SUM", 90), [s], np.array([T0 + 120.0]))
    assert g.values.tolist() == [2 + 4 + 8]  # (30, 120] excludes the point at +30


def test_cumulative_counter_with_reset() -> None:
    # cumulative 10, 15, 3 (reset), 8 -> deltas 5, 3, 5; the first point is the baseline
    s = gauge([T0 + 60, T0 + 120, T0 + 180, T0 + 240], [10, 15, 3, 8], kind="CUMULATIVE")
    p = prepare(s)
    assert p.values.tolist() == [5, 3, 5]
    assert (p.issues.counter_resets, p.issues.baseline_points) == (1, 1)
    ticks = make_ticks(T0 + 60, T0 + 240)
    [g] = aligned_condition_values(cond("ALIGN_DELTA", 60), [s], ticks)
    np.testing.assert_array_equal(g.values, [np.nan, 5, 3, 5])
    [r] = aligned_condition_values(cond("ALIGN_RATE", 120), [s], ticks)
    np.testing.assert_allclose(r.values, [np.nan, 5 / 120, 8 / 120, 8 / 120])


def test_counters_share_one_conversion_buffer_and_report_their_issues() -> None:
    """Clean counters are converted into one reused buffer and aligned at once; each must
    still give what its own prepared series gives (a PreparedSeries input takes the old path),
    and the issues of every series are reported, unclean ones prepared as before."""
    rng = np.random.default_rng(4)
    times = T0 + 60.0 * np.arange(1, 240) + rng.integers(0, 20, 239)
    counters = []
    for i in range(5):
        values = np.cumsum(rng.integers(0, 9, times.size)).astype(float)
        t = times.copy()
        if i == 1:
            values[120:] -= values[120]  # a reset
        if i == 2:
            t[0], t[1] = t[1], t[0]  # the baseline out of order: prepared instead
        if i == 3:
            values[77] = np.nan  # not clean past the baseline: found by the kernels
        counters.append(gauge(t, values, kind="CUMULATIVE", i=str(i)))
    ticks = make_ticks(T0 + 300, T0 + 240 * 60)
    for aligner, period in (("ALIGN_DELTA", 300), ("ALIGN_RATE", 600)):
        together = aligned_condition_values(cond(aligner, period), counters, ticks)
        for s, got in zip(counters, together, strict=True):
            [alone] = aligned_condition_values(cond(aligner, period), [prepare(s)], ticks)
            np.testing.assert_array_equal(got.values, alone.values)
            assert np.isfinite(got.values).sum() > 100
    res = evaluate(cond("ALIGN_DELTA", 300, threshold=1e9), counters, T0 + 300, T0 + 240 * 60)
    for s in counters:
        assert res.issues[s.name] == prepare(s).issues.as_dict(), s.metric_labels
    assert res.issues[counters[1].name]["counter_resets"] >= 1


def test_cumulative_reset_detected_by_start_time() -> None:
    s = TimeSeries(
        "m",
        np.array([T0 + 60, T0 + 120, T0 + 180.0]),
        np.array([10, 12, 20.0]),
        metric_kind="CUMULATIVE",
        start_times=np.array([T0, T0, T0 + 150.0]),  # restarted at +150 s, counted 20 since
    )
    p = prepare(s)
    assert p.values.tolist() == [2, 20]
    assert p.times.tolist() == [T0 + 120, T0 + 180]  # the first point is the baseline
    assert (p.issues.counter_resets, p.issues.baseline_points) == (1, 1)


def test_duplicates_out_of_order_and_nan() -> None:
    s = gauge([T0 + 120, T0 + 60, T0 + 120, T0 + 180], [1, 2, 5, np.nan])
    p = prepare(s)
    assert p.times.tolist() == [T0 + 60, T0 + 120]
    assert p.values.tolist() == [2, 5]  # the later write (5) wins at +120
    assert (p.issues.out_of_order, p.issues.duplicates, p.issues.non_finite) == (1, 1, 1)
    res = evaluate(cond("ALIGN_MAX", 60, threshold=4), [s], T0 + 60, T0 + 180)
    np.testing.assert_array_equal(res.conditions[0].values[0], [2, 5, np.nan])
    assert res.issues[s.name] == {
        "out_of_order": 1,
        "duplicates": 1,
        "non_finite": 1,
        "counter_resets": 0,
        "baseline_points": 0,
    }


def test_gauge_rejects_rate_and_cumulative_rejects_mean() -> None:
    with pytest.raises(EvaluationError, match="ALIGN_RATE is not valid for GAUGE"):
        aligned_condition_values(cond("ALIGN_RATE"), [gauge([T0], [1])], np.array([T0 + 0.0]))
    with pytest.raises(EvaluationError, match="CUMULATIVE series need ALIGN_DELTA"):
        aligned_condition_values(
            cond("ALIGN_MEAN"), [gauge([T0], [1], kind="CUMULATIVE")], np.array([T0 + 0.0])
        )


# --------------------------------------------------------------------------- distributions

BOUNDS = np.array([0.0, 10.0, 20.0, 30.0])  # buckets (-inf,0) [0,10) [10,20) [20,30) [30,inf)


def test_bucket_percentile_interpolates_inside_the_bucket() -> None:
    counts = np.array([[0, 5, 3, 2, 0]], dtype=float)  # N = 10
    # p50: r = 5 -> bucket [0,10) holds ranks 0..5 -> 0 + 10 * 5/5 = 10
    # p95: r = 9.5 -> bucket [20,30), 8 below, 2 inside -> 20 + 10 * 1.5/2 = 27.5
    # p05: r = 0.5 -> 0 + 10 * 0.5/5 = 1
    assert bucket_percentile(counts, BOUNDS, 50).tolist() == [10.0]
    assert bucket_percentile(counts, BOUNDS, 95).tolist() == [27.5]
    assert bucket_percentile(counts, BOUNDS, 5).tolist() == [1.0]
    # overflow -> its lower bound; underflow -> its upper bound; empty -> no data
    assert bucket_percentile(np.array([[0, 0, 0, 0, 4.0]]), BOUNDS, 50).tolist() == [30.0]
    assert bucket_percentile(np.array([[3, 0, 0, 0, 0.0]]), BOUNDS, 50).tolist() == [0.0]
    assert np.isnan(bucket_percentile(np.zeros((1, 5)), BOUNDS, 50)).all()


def dist(times, counts, kind="DELTA", **labels) -> TimeSeries:
    return TimeSeries(
        "d",
        np.asarray(times, dtype=float),
        bucket_bounds=BOUNDS,
        bucket_counts=np.asarray(counts, dtype=float),
        metric_kind=kind,
        value_type="DISTRIBUTION",
        metric_labels=labels,
    )


def test_cross_series_percentile_merges_buckets_not_percentiles() -> None:
    a = dist([T0], [[0, 5, 0, 0, 0]], rev="a")
    b = dist([T0], [[0, 0, 3, 2, 0]], rev="b")
    merged = Condition(
        filter='metric.type="d" AND resource.type="global"',
        aggregations=(Aggregation(60, "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),),
        comparison="COMPARISON_GT",
        threshold_value=0,
        duration_s=0,
    )
    [g] = aligned_condition_values(merged, [a, b], np.array([T0 + 0.0]))
    assert g.values.tolist() == [27.5]  # merged counts [0,5,3,2,0], as in the test above
    # per-series p95 then max is a different number: a -> 9.5, b -> 20 + 10*1.75/2 = 28.75
    per_series = Condition(
        filter='metric.type="d" AND resource.type="global"',
        aggregations=(Aggregation(60, "ALIGN_PERCENTILE_95", "REDUCE_MAX"),),
        comparison="COMPARISON_GT",
        threshold_value=0,
        duration_s=0,
    )
    [h] = aligned_condition_values(per_series, [a, b], np.array([T0 + 0.0]))
    assert h.values.tolist() == [28.75]


def test_distribution_window_merges_points_and_mean_uses_sums() -> None:
    s = TimeSeries(
        "d",
        np.array([T0 + 60.0, T0 + 120.0]),
        bucket_bounds=BOUNDS,
        bucket_counts=np.array([[0, 5, 0, 0, 0], [0, 0, 3, 2, 0]], dtype=float),
        dist_sums=np.array([25.0, 95.0]),
        metric_kind="DELTA",
        value_type="DISTRIBUTION",
    )
    ticks = np.array([T0 + 120.0])
    [p] = aligned_condition_values(cond("ALIGN_PERCENTILE_95", 120, metric="d"), [s], ticks)
    assert p.values.tolist() == [27.5]
    [m] = aligned_condition_values(cond("ALIGN_MEAN", 120, metric="d"), [s], ticks)
    assert m.values.tolist() == [120 / 10]


def test_cumulative_distribution_becomes_deltas() -> None:
    s = dist(
        [T0, T0 + 60, T0 + 120], [[0, 1, 0, 0, 0], [0, 6, 0, 0, 0], [0, 6, 3, 2, 0]], "CUMULATIVE"
    )
    p = prepare(s)
    assert p.counts.tolist() == [[0, 5, 0, 0, 0], [0, 0, 3, 2, 0]]


def test_distribution_without_scalar_step_is_rejected() -> None:
    c = cond("ALIGN_DELTA", 60, reducer="REDUCE_SUM", metric="d")
    with pytest.raises(EvaluationError, match="DISTRIBUTION values"):
        aligned_condition_values(c, [dist([T0], [[0, 1, 0, 0, 0]])], np.array([T0 + 0.0]))


def test_cloud_run_latency_buckets_p95() -> None:
    # Cloud Run request_latencies: exponential buckets, growth 1.4, scale 1 (ms)
    b = exponential_bounds(100, 1.4, 1.0)
    counts = np.zeros((1, b.size + 1))
    counts[0, 20] = 90  # [1.4^19, 1.4^20)
    counts[0, 24] = 10  # [1.4^23, 1.4^24)
    # r = 95 -> bucket 24, 90 below, 10 inside: 1.4^23 + (1.4^24 - 1.4^23) * 5/10
    want = 1.4**23 + (1.4**24 - 1.4**23) * 0.5
    np.testing.assert_allclose(bucket_percentile(counts, b, 95), [want], rtol=1e-12)


# --------------------------------------------------------------------------- condition state

TICKS5 = make_ticks(T0, T0 + 240)


@pytest.mark.parametrize(
    ("mode", "values", "expect"),
    [
        # duration 60 s -> 2 consecutive violating ticks; threshold GT 3
        (INACTIVE, [5, 5, np.nan, 5, 1], [0, 1, 0, 0, 0]),
        (ACTIVE, [5, 5, np.nan, 5, 1], [0, 1, 1, 1, 0]),
        (NO_OP, [5, 5, np.nan, 5, 1], [0, 1, 1, 1, 0]),
        (INACTIVE, [np.nan, 5, 1, np.nan, np.nan], [0, 0, 0, 0, 0]),
        (ACTIVE, [np.nan, 5, 1, np.nan, np.nan], [0, 1, 0, 0, 1]),
        # NO_OP: tick 0 has no state yet; ticks 3-4 keep tick 2's state (not met)
        (NO_OP, [np.nan, 5, 1, np.nan, np.nan], [0, 1, 0, 0, 0]),
    ],
)
def test_missing_data_modes(mode, values, expect) -> None:
    met, _ = incidents_from_values(np.array(values), TICKS5, "GT", 3, 60, mode)
    assert met.astype(int).tolist() == expect


def test_auto_close_closes_and_holds_until_data_returns() -> None:
    vals = np.array([5, 5, 5] + [np.nan] * 5 + [5, 5], dtype=float)
    ticks = make_ticks(T0, T0 + 60 * 9)
    met, incs = incidents_from_values(vals, ticks, "GT", 3, 0, NO_OP, auto_close_s=180)
    # last data at tick 2; 180 s without data at tick 5 -> closed; data again at tick 8
    assert met.astype(int).tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 1, 1]
    assert [(i.open, i.close, i.close_reason) for i in incs] == [
        (T0, T0 + 300, "auto_close"),
        (T0 + 480, None, None),
    ]


def test_incident_peak_and_lt_comparison() -> None:
    vals = np.array([0.9, 0.6, 0.5, 0.65, 0.8])
    _, [inc] = incidents_from_values(vals, TICKS5, "COMPARISON_LT", 0.7, 0, INACTIVE)
    assert (inc.open, inc.close, inc.peak) == (T0 + 60, T0 + 240, 0.5)


def test_trigger_count_and_percent() -> None:
    vals = np.array(
        [
            [5, 5, 5, 0, 0],
            [0, 5, 5, 5, 0],
            [0, 0, 5, 5, 5],
        ],
        dtype=float,
    )
    met2, incs = incidents_from_values(vals, TICKS5, "GT", 3, 0, trigger=Trigger(count=2))
    # at least 2 of 3 groups violate on ticks 1, 2, 3
    assert met2.astype(int).tolist() == [[0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 0]]
    assert [(i.group, i.open, i.close) for i in incs] == [
        (0, T0 + 60, T0 + 180),
        (1, T0 + 60, T0 + 240),
        (2, T0 + 120, T0 + 240),
    ]
    met100, _ = incidents_from_values(vals, TICKS5, "GT", 3, 0, trigger=Trigger(None, 100.0))
    assert met100.any(axis=0).astype(int).tolist() == [0, 0, 1, 0, 0]


def test_group_by_and_ratio() -> None:
    # two revisions; error ratio per revision = 5xx / all
    series = [
        gauge([T0], [10], "req", "DELTA", cls="5xx", rev="a"),
        gauge([T0], [90], "req", "DELTA", cls="2xx", rev="a"),
        gauge([T0], [1], "req", "DELTA", cls="5xx", rev="b"),
        gauge([T0], [99], "req", "DELTA", cls="2xx", rev="b"),
    ]
    c = parse_condition(
        {
            "filter": 'metric.type="req" AND resource.type="global" AND metric.labels.cls="5xx"',
            "aggregations": [
                {
                    "alignment_period": "60s",
                    "per_series_aligner": "ALIGN_RATE",
                    "cross_series_reducer": "REDUCE_SUM",
                    "group_by_fields": ["metric.label.rev"],
                }
            ],
            "denominator_filter": 'metric.type="req" AND resource.type="global"',
            "denominator_aggregations": [
                {
                    "alignment_period": "60s",
                    "per_series_aligner": "ALIGN_RATE",
                    "cross_series_reducer": "REDUCE_SUM",
                    "group_by_fields": ["metric.labels.rev"],
                }
            ],
            "comparison": "COMPARISON_GT",
            "threshold_value": 0.05,
            "duration": "0s",
        }
    )
    groups = aligned_condition_values(c, series, np.array([T0 + 0.0]))
    assert [g.labels for g in groups] == [{"metric.labels.rev": "a"}, {"metric.labels.rev": "b"}]
    assert [g.values.tolist() for g in groups] == [[pytest.approx(0.1)], [pytest.approx(0.01)]]
    res = evaluate(c, series, T0, T0)
    assert [i.labels for i in res.incidents] == [{"metric.labels.rev": "a"}]


def test_ratio_zero_denominator_is_no_data() -> None:
    c = cond("ALIGN_SUM", 60, reducer="REDUCE_SUM", metric="n")
    c = Condition(
        **{**c.__dict__, "denominator_filter": 'metric.type="d" AND resource.type="global"'},
    )
    c = Condition(
        **{
            **c.__dict__,
            "denominator_aggregations": (Aggregation(60, "ALIGN_SUM", "REDUCE_SUM"),),
        }
    )
    [g] = aligned_condition_values(
        c, [gauge([T0], [1], "n"), gauge([T0], [0], "d")], np.array([T0 + 0.0])
    )
    assert np.isnan(g.values).all()


def test_evaluate_warmup_uses_history_before_start() -> None:
    # violating since T0; evaluated from T0 + 300 with a 300 s retest window: met at once
    s = gauge(T0 + 60 * np.arange(20), np.full(20, 9.0))
    res = evaluate(cond("ALIGN_MEAN", 60, threshold=5, duration=300), [s], T0 + 300, T0 + 600)
    assert res.met.all()
    assert res.incidents[0].open == T0 + 300  # 6 ticks T0..T0+300 all violate
    cold = evaluate(
        cond("ALIGN_MEAN", 60, threshold=5, duration=300), [s], T0 + 300, T0 + 600, warmup=False
    )
    assert cold.met.astype(int).tolist() == [0] * 5 + [1]  # 6 ticks, the 6th completes the window


def test_incidents_from_values_rejects_irregular_ticks() -> None:
    with pytest.raises(EvaluationError, match="regular 60 s grid"):
        incidents_from_values(np.ones(3), np.array([0.0, 60.0, 180.0]), "GT", 0, 0)


@pytest.mark.parametrize("period", [60, 300, 1200])
@pytest.mark.parametrize(
    "aligner",
    ["ALIGN_MEAN", "ALIGN_SUM", "ALIGN_COUNT", "ALIGN_MAX", "ALIGN_MIN", "ALIGN_NEXT_OLDER"],
)
def test_fast_path_on_regular_data_matches_reference(aligner, period) -> None:
    """Jittered one-point-per-minute data (the fast path's dense case) and a doubled-up minute."""
    from ctscan_ops.alerting.engine.reference import reference_values

    rng = np.random.default_rng(period)
    n = 150
    times = T0 + 60.0 * np.arange(n) + rng.integers(0, 59, n)
    times[40] = times[41] - 1  # two points in one minute: the non-dense branch too
    series = [
        gauge(times, rng.integers(0, 16, n) / 4, kind="DELTA"),
        gauge(times[:70], rng.integers(0, 16, 70) / 4, kind="DELTA"),  # dense prefix only
    ]
    ticks = make_ticks(T0 + 600, T0 + 60 * (n + 30))
    c = cond(aligner, period)
    got = aligned_condition_values(c, series, ticks)
    want = reference_values(c, series, ticks)
    for g, (_, ref) in zip(got, want, strict=True):
        np.testing.assert_allclose(
            g.values, [np.nan if x is None else x for x in ref], rtol=1e-12, equal_nan=True
        )


def test_incident_ids_are_deterministic_and_match_incident_id() -> None:
    from ctscan_ops.alerting.engine.evaluator import incident_id

    vals = np.array([[5, 5, 0, 5, 0], [0, 5, 5, 0, 0]], dtype=float)
    labels = [{"metric.labels.rev": "a"}, {"metric.labels.rev": "b"}]
    _, incs = incidents_from_values(vals, TICKS5, "GT", 3, 0, labels=labels, policy="p")
    assert [i.id for i in incs] == [incident_id("p", 0, i.labels, i.open) for i in incs]
    assert len({i.id for i in incs}) == len(incs) == 3
    _, again = incidents_from_values(vals, TICKS5, "GT", 3, 0, labels=labels, policy="p")
    assert [i.id for i in again] == [i.id for i in incs]
