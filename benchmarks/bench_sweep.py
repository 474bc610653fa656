"""Benchmark: exact threshold sweep vs evaluating the same thresholds one by one.

Workload (issue 4): one policy over 30 days at 60 s (43,200 ticks), every distinct threshold
class x 10 candidate durations, with labelled incidents so all quality figures are computed.

Baseline: for a random sample of the same thresholds, the evaluator's
``incidents_from_values`` (the shadow-mode evaluator itself) followed by scoring the incidents
against the labels (``quality.py`` when present, else a plain scorer with the same
definitions). The baseline's per-threshold cost is measured on the sample and extrapolated
linearly to all thresholds (each baseline evaluation is independent of the others, so the
extrapolation is a straight multiplication); the script says so in its output.

Run: ``python benchmarks/bench_sweep.py [--sample 40] [--seed 0]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ctscan_ops.alerting.engine.evaluator import incidents_from_values
from ctscan_ops.alerting.tuning.sweep import sweep

N = 43_200
DURATIONS = (0, 60, 120, 180, 300, 420, 600, 900, 1200, 1800)
T0 = 1_700_000_040.0


def world(seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """p95 latency-like series: diurnal load, noise, short spikes, gaps, labelled incidents."""
    rng = np.random.default_rng(seed)
    t = T0 + 60.0 * np.arange(N)
    day = 2 * np.pi * np.arange(N) / 1440
    v = 800 + 300 * np.sin(day) + rng.normal(0, 80, N)
    for s in rng.integers(0, N - 5, 90):  # harmless spikes of 1-3 ticks
        v[s : s + rng.integers(1, 4)] += rng.uniform(800, 2500)
    windows = []
    for s in rng.integers(0, N - 120, 12):  # labelled incidents, 20-90 min
        length = int(rng.integers(20, 90))
        v[s : s + length] += rng.uniform(1200, 2500)
        windows.append((float(t[s]), float(t[s + length - 1])))
    v[rng.random(N) < 0.002] = np.nan
    return v, t, windows


def _score(incidents, ticks, windows, met):
    """Plain scorer (same definitions as the sweep) used when quality.py is not available."""
    pairs = [(i.open, i.close) for i in incidents]
    end = ticks[-1] + 60

    def ov(o, c, w):
        return o <= w[1] and (c is None or c > w[0])

    wins = [w for w in windows if w[0] < end and w[1] >= ticks[0]]
    true = sum(1 for o, c in pairs if any(ov(o, c, w) for w in wins))
    inside = np.zeros(ticks.size, dtype=bool)
    for s, e in wins:
        inside |= (ticks >= s) & (ticks <= e)
    fp_ticks = int((met & ~inside).sum())
    dets = []
    for w in wins:
        hits = [p for p in pairs if ov(*p, w)]
        if hits:
            dets.append(max(0.0, hits[0][0] - w[0]))
    return true, fp_ticks, statistics.median(dets) if dets else None


def baseline_per_threshold(v, t, windows, thresholds, duration):
    """Mean seconds per threshold: evaluator incidents, then scoring against the labels."""
    try:  # the alerting core's scorer, the one the backtest CLI uses
        from ctscan_ops.alerting.shadow.quality import score
    except ImportError:
        score = None
    start = time.perf_counter()
    for thr in thresholds:
        met, incs = incidents_from_values(
            v, t, "COMPARISON_GT", float(thr), duration, "EVALUATION_MISSING_DATA_INACTIVE", 3600
        )
        if score is not None:
            score(incs, windows, t, met=met)
        else:
            _score(incs, t, windows, met)
    return (time.perf_counter() - start) / len(thresholds), score is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=40, help="baseline thresholds per duration")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    v, t, windows = world(args.seed)

    sweep(v[:2000], t[:2000], windows, "GT", (0, 60), "inactive", 3600)  # warm-up
    start = time.perf_counter()
    res = sweep(v, t, windows, "COMPARISON_GT", DURATIONS, "EVALUATION_MISSING_DATA_INACTIVE", 3600)
    sweep_s = time.perf_counter() - start
    classes = {d: c.threshold.size for d, c in res.curves.items()}
    total = sum(classes.values())

    rng = np.random.default_rng(args.seed + 1)
    per_thr, extrapolated = [], 0.0
    for d, curve in res.curves.items():
        sample = rng.choice(
            curve.threshold, size=min(args.sample, curve.threshold.size), replace=False
        )
        cost, have_quality = baseline_per_threshold(v, t, windows, sample, d)
        per_thr.append(cost)
        extrapolated += cost * classes[d]
    print(
        f"series: {N} ticks (30 days at 60 s), {len(windows)} labelled incidents, "
        f"{int(np.isnan(v).sum())} ticks without data"
    )
    print(f"durations: {len(DURATIONS)} ({', '.join(map(str, DURATIONS))} s)")
    print(
        f"threshold classes (distinct outcomes): {total} in total, "
        f"{min(classes.values())}-{max(classes.values())} per duration"
    )
    print(
        f"exact sweep, all classes x all durations: {sweep_s:.3f} s "
        f"({sweep_s / total * 1e6:.2f} us per (threshold, duration))"
    )
    print(
        f"baseline (evaluator incidents_from_values + scoring, one threshold at a time): "
        f"{statistics.mean(per_thr) * 1e3:.2f} ms per threshold, measured on "
        f"{args.sample} sampled thresholds per duration "
        f"({'quality.py present' if have_quality else 'plain scorer'})"
    )
    print(
        f"baseline extrapolated to all {total} (threshold, duration) pairs: "
        f"{extrapolated:.1f} s  [extrapolation: measured per-threshold cost x class count]"
    )
    print(f"speed-up of the sweep over one-by-one evaluation: {extrapolated / sweep_s:.0f}x")
    print(f"target < 2 s on one core: {'met' if sweep_s < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
