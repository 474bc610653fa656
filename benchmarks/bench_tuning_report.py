"""``threshold_tuning_report``: its time against the time of its exact sweeps (issue 14, part 3).

    python benchmarks/bench_tuning_report.py            # a 14-day world, prod
    python benchmarks/bench_tuning_report.py --days 35  # the demo's length (minutes)

Generates the alerting world (``tests/alerting_speed/speed_world.py``: sandbox MetricService
over real gRPC, GCS emulator), backfills ``shadow_incidents``, then materializes
``threshold_tuning_report`` for one environment ``--repeat`` times. Each phase is timed by
wrapping the function that does it (same run, same process): the exact sweeps
(``tuning.sweep.sweep_duration``, train curves and walk-forward holdout evaluations alike),
series fetch (``SeriesCache.for_policy``), alignment (``aligned_condition_values``), plots
(``tuning.plots``), artifact uploads (``ArtifactStore.put_bytes/put_json``). Printed (JSON):
median seconds per phase and report / sweeps (the target is <= 3).
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPENT: collections.Counter[str] = collections.Counter()
_DEPTH: collections.Counter[str] = collections.Counter()


def timed(phase: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _DEPTH[phase] += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _DEPTH[phase] -= 1
            if _DEPTH[phase] == 0:  # outermost call only (recursion, nested wrappers)
                SPENT[phase] += time.perf_counter() - t0

    return wrapper


def instrument() -> None:
    from ctscan_ops.alerting.engine import evaluator, runtime
    from ctscan_ops.alerting.tuning import plots, recommend, report, sweep
    from ctscan_ops.resources.storage import ArtifactStore

    recommend.sweep_duration = timed("sweeps", recommend.sweep_duration)
    sweep.sweep_duration = timed("sweeps", sweep.sweep_duration)
    runtime.SeriesCache.for_policy = timed("fetch", runtime.SeriesCache.for_policy)
    evaluator.aligned_condition_values = timed("align", evaluator.aligned_condition_values)
    for name in ("curve_png", "timeline_png"):
        setattr(plots, name, timed("plots", getattr(plots, name)))
    for name in ("put_bytes", "put_json"):
        setattr(ArtifactStore, name, timed("uploads", getattr(ArtifactStore, name)))
    if hasattr(report, "render_plots"):
        report.render_plots = timed("plots", report.render_plots)


def load_speed_world():
    spec = importlib.util.spec_from_file_location(
        "speed_world", ROOT / "tests" / "alerting_speed" / "speed_world.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["speed_world"] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--env", default="prod")
    args = parser.parse_args()

    import dagster as dg

    from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents
    from ctscan_ops.alerting.tuning_assets import threshold_tuning_report
    from ctscan_ops.sandbox.processes import stop_group
    from ctscan_ops.sandbox.services import start_service

    sw = load_speed_world()
    instrument()
    out: dict = {"days": args.days, "environment": args.env}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        record = start_service("gcs", Path(tmp), in_memory=True)
        try:
            with sw.speed_world(Path(tmp) / "world", record["endpoint"], args.days) as world:
                assets = [incident_register, shadow_incidents, alert_quality]
                assets.append(threshold_tuning_report)
                for _ in range(args.repeat):
                    SPENT.clear()
                    t0 = time.perf_counter()
                    res = dg.materialize(
                        assets,
                        selection=[threshold_tuning_report.key],
                        partition_key=args.env,
                        instance=world.instance,
                        resources=world.resources,
                    )
                    total = time.perf_counter() - t0
                    assert res.success
                    runs.append({"report_s": total, **SPENT})
        finally:
            stop_group(record["pgid"])
    for phase in ("report_s", "sweeps", "fetch", "align", "plots", "uploads"):
        out[phase] = round(statistics.median(r.get(phase, 0.0) for r in runs), 2)
    out["other"] = round(
        out["report_s"] - sum(out[p] for p in ("sweeps", "fetch", "align", "plots", "uploads")), 2
    )
    out["report_over_sweeps"] = round(
        statistics.median(r["report_s"] / r["sweeps"] for r in runs), 2
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
