"""Drift benchmarks: feature extraction throughput and the cost of a daily Evidently report.

    python benchmarks/bench_drift.py            # full: 256x256 features, reports at 10k and 100k
    python benchmarks/bench_drift.py --quick    # smaller, for a smoke run

1. Features: images/s of the batched torch path against the per-image numpy loop
   (``reference_features_numpy``), both measured in this run on the same 256x256 phantoms, and
   checked equal. Figures are printed as a ratio against that baseline.
3. ``--world``: generate the default sandbox world (35 days) into a temp dir (timed), run every
   day's report through the pure pipeline (no HTML) and print the detector's calibration:
   false alarms on stable days and recall on the drift episode, per threshold.
2. Report: one fresh subprocess per size (so peak RSS is that run's own), reference of 1000 rows
   (the held-out set's size) against 10k / 100k current rows; wall time split into Evidently
   import, ``Report.run``, HTML rendering, and our own preparation/summary; peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def bench_features(n_images: int, size: int, n_numpy: int) -> dict:
    import torch

    from ctscan_ops.drift.features import (
        FEATURE_COLUMNS,
        extract_features,
        reference_features_numpy,
    )
    from ctscan_ops.sandbox.worlds.phantoms import make_dataset

    images, _ = make_dataset(n_images, seed=0, image_size=size)
    default_threads = torch.get_num_threads()
    per_threads = {}
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        extract_features(images[:4])  # warm-up (thread pool, allocator)
        t0 = time.perf_counter()
        got = extract_features(images, batch_size=32, num_threads=None)
        per_threads[threads] = n_images / (time.perf_counter() - t0)
    torch.set_num_threads(default_threads)
    t0 = time.perf_counter()
    ref = [reference_features_numpy(img) for img in images[:n_numpy]]
    t_numpy = time.perf_counter() - t0
    ref_arr = np.array([[r[c] for c in FEATURE_COLUMNS] for r in ref])
    np.testing.assert_allclose(got[:n_numpy], ref_arr, rtol=1e-5, atol=1e-4)
    numpy_ips = n_numpy / t_numpy
    return {
        "image_size": size,
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "torch_images": n_images,
        "torch_images_per_s_by_threads": {k: round(v, 1) for k, v in per_threads.items()},
        "numpy_images": n_numpy,
        "numpy_images_per_s": round(numpy_ips, 1),
        "speedup_vs_numpy_loop_by_threads": {
            k: round(v / numpy_ips, 2) for k, v in per_threads.items()
        },
    }


def _rows(n: int, seed: int, pool: np.ndarray, classes: np.ndarray, conf: np.ndarray):
    """Bootstrap rows from a pool of real phantom features (with a little jitter)."""
    import pandas as pd

    from ctscan_ops.drift.features import FEATURE_COLUMNS

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pool), n)
    vals = pool[idx] * (1 + rng.normal(0, 0.01, (n, pool.shape[1])))
    df = pd.DataFrame(vals, columns=list(FEATURE_COLUMNS))
    df["height"] = pool[idx, FEATURE_COLUMNS.index("height")]
    df["width"] = pool[idx, FEATURE_COLUMNS.index("width")]
    df["pred_class"] = classes[idx]
    df["pred_conf"] = conf[idx]
    return df


def make_pool(path: str) -> None:
    """Features of 2000 phantoms (64x64), saved for the report subprocesses to sample from."""
    from ctscan_ops.drift.features import extract_features
    from ctscan_ops.sandbox.worlds.phantoms import make_dataset

    images, labels = make_dataset(2000, seed=1, image_size=64)
    np.savez(path, pool=extract_features(images), labels=labels)


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report_case(rows: int, pool_path: str) -> dict:
    """Run in a fresh process: one daily report of ``rows`` current rows vs 1000 reference."""
    t_start = time.perf_counter()
    from ctscan_ops.ct_classes import CLASSES

    with np.load(pool_path) as z:
        pool, labels = z["pool"], z["labels"]
    classes = np.array([CLASSES[i] for i in labels])
    conf = np.random.default_rng(2).beta(8, 2, len(labels))
    reference = _rows(1000, 3, pool, classes, conf)
    current = _rows(rows, 4, pool, classes, conf)
    t_data = time.perf_counter()
    rss_before = _rss_mb()

    t0 = time.perf_counter()
    import evidently
    import evidently.presets  # noqa: F401

    t_import = time.perf_counter() - t0

    # Instrument the two Evidently calls inside run_drift_report.
    from evidently.core.report import Report, Snapshot

    spent = {"run": 0.0, "html": 0.0}
    orig_run, orig_html = Report.run, Snapshot.get_html_str

    def run(self, *a, **k):
        t = time.perf_counter()
        try:
            return orig_run(self, *a, **k)
        finally:
            spent["run"] += time.perf_counter() - t

    def html(self, *a, **k):
        t = time.perf_counter()
        try:
            return orig_html(self, *a, **k)
        finally:
            spent["html"] += time.perf_counter() - t

    Report.run, Snapshot.get_html_str = run, html
    from ctscan_ops.drift.report import run_drift_report

    t0 = time.perf_counter()
    rep = run_drift_report(reference, current)
    t_report = time.perf_counter() - t0
    total_report_path = t_import + t_report
    inside = t_import + spent["run"] + spent["html"]
    return {
        "current_rows": rows,
        "reference_rows": 1000,
        "test_data_prep_s": round(t_data - t_start, 2),
        "evidently_import_s": round(t_import, 2),
        "evidently_run_s": round(spent["run"], 2),
        "evidently_html_s": round(spent["html"], 2),
        "ours_s": round(t_report - spent["run"] - spent["html"], 2),
        "report_wall_s": round(total_report_path, 2),
        "share_inside_evidently": round(inside / total_report_path, 3),
        "html_mb": round(len(rep.html or b"") / 1e6, 2),
        "drift_share": rep.summary.drift_share,
        "peak_rss_mb_before_evidently": rss_before,
        "peak_rss_mb": _rss_mb(),
    }


def world_calibration(days: int = 35) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="drift-world-") as tmp:
        _world_calibration_in(Path(tmp), days)


def _world_calibration_in(root: Path, days: int) -> None:
    from datetime import date

    import pandas as pd

    from ctscan_ops.drift import calibration as cal
    from ctscan_ops.drift.contracts import LABELS_KEY, day_log_key, reference_keys
    from ctscan_ops.drift.pipeline import assemble_day_features, reference_profile_frame
    from ctscan_ops.drift.report import drift_threshold, run_drift_report
    from ctscan_ops.sandbox.worlds.drift import DirSink, generate_prediction_logs

    start = date(2026, 10, 1)
    t0, c0 = time.perf_counter(), time.process_time()
    summary = generate_prediction_logs(7, start, days, DirSink(root))
    t_world, c_world = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"world: {days} days, {summary['rows']} rows, {t_world:.1f} s wall, {c_world:.1f} s CPU"
        f" (load avg {os.getloadavg()[0]:.1f});"
        f" model accuracy {summary['model_accuracy']}"
    )
    npz, preds = reference_keys(summary["model_version"])
    with np.load(root / npz) as z:
        reference = reference_profile_frame(z["images"], pd.read_parquet(root / preds))
    threshold = drift_threshold()
    labels = {d["date"]: d["label"] for d in json.loads((root / LABELS_KEY).read_text())["days"]}
    summaries = {}
    t0 = time.perf_counter()
    for d in sorted(labels):
        log = pd.read_parquet(root / day_log_key(date.fromisoformat(d)))
        if log.empty:
            summaries[d] = {"skipped": True}
            continue
        feats = assemble_day_features(log, lambda k: (root / k).read_bytes())
        rep = run_drift_report(reference, feats.frame, threshold=threshold, with_html=False)
        summaries[d] = rep.summary.to_dict()
        print(
            f"  {d} {labels[d]:6s} share={rep.summary.drift_share:.2f} "
            f"drifted={rep.summary.drifted_columns}"
        )
    print(f"reports: {time.perf_counter() - t0:.1f} s")
    results = cal.day_results_from(summaries, labels)
    print(cal.markdown_table(cal.score_thresholds(results), threshold.value))
    print("noisy columns on stable days:", cal.column_false_alarm_rates(results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--world", action="store_true", help="detector calibration on the world")
    ap.add_argument("--report-case", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pool", help=argparse.SUPPRESS)
    ap.add_argument("--skip-features", action="store_true")
    args = ap.parse_args()
    if args.world:
        world_calibration()
        return
    if args.report_case:
        print(json.dumps(report_case(args.report_case, args.pool)))
        return
    n, n_np = (32, 8) if args.quick else (256, 32)
    if not args.skip_features:
        print("features (256x256):", json.dumps(bench_features(n, 256, n_np)), flush=True)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        pool = str(Path(tmp) / "pool.npz")
        make_pool(pool)
        _report_cases(pool, args.quick)


def _report_cases(pool: str, quick: bool) -> None:
    sizes = (2_000, 10_000) if quick else (10_000, 100_000)
    for rows in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--report-case", str(rows), "--pool", pool],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"report ({rows} rows):", out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
