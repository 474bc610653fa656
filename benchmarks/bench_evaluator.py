"""Evaluator throughput: one condition over 1,000 series x 30 days at 60 s (43.2M points).

Prints points/s (CPU time of this process, the machine is shared) per aligner on one core
(BLAS/OpenMP threads pinned to 1), and as a multiple of ONE NUMPY PASS over the same points
measured in the same run (a machine-independent cost figure). The pass is
``np.add.reduce`` (``arr.sum()``) over every series' float64 value array, one call per series,
best of 5. Each case is the best of ``--repeat`` runs (the first run of a process also pays
page faults for fresh memory; it is printed separately), split into stage 1 (aligned values:
``aligned_condition_values``) and the whole condition (stage 1 + duration/trigger state
machine + incident objects: ``incidents_from_values``). Issue 14 targets, whole condition:
MEAN/SUM/COUNT/DELTA/RATE/NEXT_OLDER <= 10 passes, MAX/MIN <= 20, PERCENTILE <= 40. Also the
cost per point at
1/4, 1/2 and all of the series (linear cost = flat ns/point), and the speed-up against the
brute-force reference evaluator on a smaller case measured in the same run.

    python benchmarks/bench_evaluator.py [--series 1000] [--days 30]

Last, the cost of a new process's first evaluation (numba import, compiled kernels loaded
from the cache or compiled) in fresh interpreters.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from ctscan_ops.alerting.catalog import Aggregation, Condition  # noqa: E402
from ctscan_ops.alerting.engine.evaluator import (  # noqa: E402
    aligned_condition_values,
    incidents_from_values,
    make_ticks,
)
from ctscan_ops.alerting.engine.reference import reference_evaluate  # noqa: E402

try:  # (the benchmark also runs against checkouts from before stack_values existed)
    from ctscan_ops.alerting.engine.evaluator import stack_values
except ImportError:  # pragma: no cover

    def stack_values(groups, n_ticks):  # type: ignore[no-redef]
        return np.array([g.values for g in groups]).reshape(len(groups), n_ticks)


from ctscan_ops.alerting.engine.series import TimeSeries  # noqa: E402

T0 = 1_767_225_600


def make_series(n_series: int, days: int, seed: int = 1) -> list[TimeSeries]:
    """GAUGE series with one point per minute (a few seconds of jitter), diurnal shape."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    base = T0 + 60.0 * np.arange(n)
    diurnal = 0.5 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 1440)
    out = []
    for i in range(n_series):
        times = base + rng.integers(0, 30, n)
        values = diurnal + rng.normal(0, 0.05, n)
        out.append(TimeSeries("m", times, values, metric_labels={"i": str(i)}))
    return out


def condition(
    aligner: str, period: int, reducer: str = "REDUCE_NONE", threshold: float = 0.85
) -> Condition:
    return Condition(
        filter='metric.type="m" AND resource.type="global"',
        aggregations=(Aggregation(period, aligner, reducer, ()),),
        comparison="COMPARISON_GT",
        threshold_value=threshold,
        duration_s=300,
        evaluation_missing_data="EVALUATION_MISSING_DATA_INACTIVE",
    )


def run_once(
    cond: Condition, series: list[TimeSeries], ticks: np.ndarray, split: list[float] | None = None
) -> tuple[float, int]:
    """CPU seconds of one evaluation (the machine is shared: wall time includes other load)."""
    t = time.process_time()
    groups = aligned_condition_values(cond, series, ticks)
    if split is not None:
        split.append(time.process_time() - t)
    vals = stack_values(groups, ticks.size)
    _, incidents = incidents_from_values(
        vals,
        ticks,
        cond.comparison,
        cond.threshold_value,
        cond.duration_s,
        cond.evaluation_missing_data,
        3600,
    )
    return time.process_time() - t, len(incidents)


def _timed(fn: Callable[[], object]) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def process_start() -> None:
    """What a new process pays before its first evaluation (Dagster runs each step in a
    subprocess): numba's import, and its compiled kernels loaded from the on-disk cache or,
    with an empty cache, compiled; measured in fresh interpreters with a private cache dir."""
    from ctscan_ops.alerting.engine import evaluator

    if not hasattr(evaluator, "warm_kernels"):  # a checkout from before the compiled kernels
        return
    code = (
        "import time; t = time.perf_counter();"
        "from ctscan_ops.alerting.engine import evaluator;"
        "t1 = time.perf_counter(); w = evaluator.warm_kernels();"
        "print(f'{t1 - t:.3f} {w:.3f}')"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = []
        for _ in range(2):  # empty cache (compiles), then the cache it filled
            res = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            out.append([float(x) for x in res.stdout.split()])
    print(
        f"process start: import of the evaluator (numba included) {out[1][0]:.2f} s; kernels "
        f"from the cache {out[1][1]:.2f} s, compiled with an empty cache {out[0][1]:.2f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    series = make_series(args.series, args.days)
    points = sum(len(s) for s in series)
    ticks = make_ticks(T0 + 300, T0 + args.days * 86400 - 60)
    print(
        f"{args.series} series x {args.days} days at 60 s = {points / 1e6:.1f}M points, "
        f"{ticks.size} ticks, 1 thread"
    )
    # machine-speed baseline measured in the same run: one numpy pass (np.add.reduce) over
    # every series' value array, best of 5
    t_pass = min(_timed(lambda: [s.values.sum() for s in series]) for _ in range(5))
    print(
        f"  baseline: one numpy pass = np.add.reduce over each series' values: {t_pass:.4f} s "
        f"({points / t_pass / 1e6:.0f}M points/s)"
    )
    cases = [
        ("ALIGN_MEAN 300s", condition("ALIGN_MEAN", 300)),
        ("ALIGN_SUM 300s", condition("ALIGN_SUM", 300, threshold=4.25)),
        ("ALIGN_COUNT 300s", condition("ALIGN_COUNT", 300, threshold=5.5)),
        ("ALIGN_NEXT_OLDER 60s", condition("ALIGN_NEXT_OLDER", 60)),
        ("ALIGN_DELTA 300s (DELTA series)", condition("ALIGN_DELTA", 300, threshold=4.25)),
        ("ALIGN_RATE 300s (CUMULATIVE series)", condition("ALIGN_RATE", 300, threshold=0.0142)),
        ("ALIGN_MEAN 60s + REDUCE_MAX", condition("ALIGN_MEAN", 60, "REDUCE_MAX")),
        ("ALIGN_MAX 300s", condition("ALIGN_MAX", 300, threshold=0.95)),
        ("ALIGN_MIN 300s", condition("ALIGN_MIN", 300)),
        ("ALIGN_PERCENTILE_99 300s", condition("ALIGN_PERCENTILE_99", 300, threshold=0.95)),
        ("ALIGN_PERCENTILE_50 300s", condition("ALIGN_PERCENTILE_50", 300)),
        # stress: a threshold the 5 min maximum crosses all day long (~6 incidents/series/day)
        ("ALIGN_MAX 300s flapping", condition("ALIGN_MAX", 300)),
        ("ALIGN_PERCENTILE_99 300s flapping", condition("ALIGN_PERCENTILE_99", 300)),
    ]
    print(
        f"  {'case':<34} {'whole s':>8} {'passes':>7} {'stage1':>7} {'1st run':>8}"
        "  points/s   incidents"
    )
    # the same points as DELTA series, and as CUMULATIVE counters (prepare converts those)
    kinds = {
        "DELTA": [
            TimeSeries("m", s.times, s.values, s.metric_labels, metric_kind="DELTA") for s in series
        ],
        "CUMULATIVE": [
            TimeSeries("m", s.times, np.cumsum(s.values), s.metric_labels, metric_kind="CUMULATIVE")
            for s in series
        ],
    }
    for name, cond in cases:
        runs, stage1 = [], []
        n_inc = 0
        case_series = next((v for k, v in kinds.items() if f"({k} series)" in name), series)
        for _ in range(args.repeat):
            secs, n_inc = run_once(cond, case_series, ticks, stage1)
            runs.append(secs)
        # the machine is shared: the pass is measured again next to each case (best of both)
        t_case = min(
            t_pass, min(_timed(lambda: [s.values.sum() for s in series]) for _ in range(3))
        )
        best = min(runs)
        print(
            f"  {name:<34} {best:8.3f} {best / t_case:7.1f} {min(stage1) / t_case:7.1f}"
            f" {runs[0] / t_case:8.1f}  {points / best / 1e6:6.1f}M  {n_inc:9d}"
        )
    print(
        "  (passes = seconds / baseline pass (the best of the first and one next to the case);"
        " stage1 = aligned values only; 1st run = the first run of the case in this process,"
        " the first case's includes loading the compiled kernels)"
    )
    process_start()

    print("linearity (ALIGN_MEAN 300s, ns per point, best of 3; flat = linear):")
    cond = condition("ALIGN_MEAN", 300)
    for frac in (4, 2, 1):
        sub = series[: max(1, args.series // frac)]
        secs = min(run_once(cond, sub, ticks)[0] for _ in range(3))
        pts = sum(len(s) for s in sub)
        print(f"  {len(sub):5d} series  {pts / 1e6:6.1f}M points  {secs / pts * 1e9:6.1f} ns/point")
    half_ticks = ticks[: ticks.size // 2]
    secs = min(run_once(cond, series[: args.series // 4], half_ticks)[0] for _ in range(3))
    pts = sum(int(np.count_nonzero(s.times <= half_ticks[-1])) for s in series[: args.series // 4])
    print(f"  half the days, 1/4 series: {secs / max(pts, 1) * 1e9:6.1f} ns/point")

    print("against the brute-force reference (3 series x 1 day, ALIGN_MEAN 300s):")
    small = make_series(3, 1, seed=2)
    small_ticks = make_ticks(T0 + 300, T0 + 86400 - 60)
    t = time.process_time()
    ref = reference_evaluate(cond, small, small_ticks, 3600)
    t_ref = time.process_time() - t
    reps = 20
    t_vec = sum(run_once(cond, small, small_ticks)[0] for _ in range(reps)) / reps
    print(
        f"  reference {t_ref:.3f} s, evaluator {t_vec * 1e3:.2f} ms: {t_ref / t_vec:,.0f}x faster"
        f" ({len(ref['incidents'])} incidents in both)"
    )


if __name__ == "__main__":
    main()
