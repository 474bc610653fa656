"""``threshold_tuning_report``: its time against the time of its exact sweeps (issue 14, part 3).

    python benchmarks/bench_tuning_report.py            # a 14-day world, prod
    python benchmarks/bench_tuning_report.py --days 35  # the demo's length (minutes)

Generates the alerting world (``tests/alerting_speed/speed_world.py``: sandbox MetricService
over real gRPC, GCS emulator), backfills ``shadow_incidents`` (which stores each day's aligned
condition values), then materializes ``threshold_tuning_report`` for one environment
``--repeat`` times in each mode, in the same process:

* ``records``: the asset as it runs (values read from the ``shadow_incidents`` records);
* ``plain``: the same asset with the records ignored (every day fetched and aligned: the old
  data flow; plots are drawn by ``threshold_tuning_plots`` in both modes);

then ``threshold_tuning_plots`` once (its own run). Also printed: the ``shadow_incidents``
backfill's step (where the stored values are now made) and a day file's size. A first,
uncounted report run pays the process's one-off imports (``first_run``). Per mode, medians in
seconds:
``report`` = the asset's compute (its step, STEP_START -> STEP_SUCCESS in the event log),
``materialize`` = the time around ``dg.materialize`` (Dagster's run overhead included), and
the phases, each timed by wrapping the function doing it: the exact sweeps
(``tuning.sweep.sweep_duration``, train curves and walk-forward holdout evaluations alike),
reading the stored values (``load_day_values``), series fetch (``SeriesCache.for_policy``),
alignment (``aligned_condition_values``), plots (``tuning.plots``), artifact uploads
(``ArtifactStore.put_bytes/put_json``); ``other`` = report - those. Target: report / sweeps
<= 3.
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
    from ctscan_ops.alerting.tuning import plots, recommend, report, stored, sweep
    from ctscan_ops.resources.storage import ArtifactStore

    stored.load_day_values = timed("read_stored", stored.load_day_values)

    recommend.sweep_duration = timed("sweeps", recommend.sweep_duration)
    sweep.sweep_duration = timed("sweeps", sweep.sweep_duration)
    runtime.SeriesCache.for_policy = timed("fetch", runtime.SeriesCache.for_policy)
    evaluator.aligned_condition_values = timed("align", evaluator.aligned_condition_values)
    for name in ("curve_png", "timeline_png"):
        setattr(plots, name, timed("plots", getattr(plots, name)))
    for name in ("put_bytes", "put_json"):
        setattr(ArtifactStore, name, timed("uploads", getattr(ArtifactStore, name)))
    report.render_plots = timed("plots", report.render_plots)


PHASES = ("sweeps", "read_stored", "fetch", "align", "plots", "uploads")


def step_seconds(instance, run_id: str, step: str) -> float:
    """The step's compute time from the run's event log (STEP_START -> STEP_SUCCESS)."""
    stats = [s for s in instance.get_run_step_stats(run_id) if s.step_key == step]
    return stats[0].end_time - stats[0].start_time


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
    from ctscan_ops.alerting.tuning import stored
    from ctscan_ops.alerting.tuning_assets import threshold_tuning_plots, threshold_tuning_report
    from ctscan_ops.sandbox.processes import stop_group
    from ctscan_ops.sandbox.services import start_service

    sw = load_speed_world()
    instrument()
    loader = stored.load_day_values

    def ignore_records(days, *a, **kw):  # the plain flow: no day has stored values
        return {d: None for d in days}, {}

    out: dict = {"days": args.days, "environment": args.env}
    assets = [incident_register, shadow_incidents, alert_quality]
    assets += [threshold_tuning_report, threshold_tuning_plots]
    with tempfile.TemporaryDirectory() as tmp:
        record = start_service("gcs", Path(tmp), in_memory=True)
        try:
            with sw.speed_world(Path(tmp) / "world", record["endpoint"], args.days) as world:

                def run(key):
                    SPENT.clear()
                    t0 = time.perf_counter()
                    res = dg.materialize(
                        assets,
                        selection=[key],
                        partition_key=args.env,
                        instance=world.instance,
                        resources=world.resources,
                    )
                    total = time.perf_counter() - t0
                    assert res.success
                    step = step_seconds(world.instance, res.run_id, key.to_user_string())
                    md = res.get_asset_materialization_events()[0].materialization.metadata
                    if "aligned_values" in md:  # where the values came from
                        print(md["aligned_values"].value, file=sys.stderr)
                        print(md["aligned_values_check"].value, file=sys.stderr)
                    return {"materialize": total, "report": step, **SPENT}

                # what the records cost where they are made: the backfill's step, and a day file
                shadow_runs = [
                    s
                    for r in world.instance.get_runs()
                    for s in world.instance.get_run_step_stats(r.run_id)
                    if s.step_key == "shadow_incidents"
                ]
                out["shadow_incidents_backfill_step"] = round(
                    shadow_runs[0].end_time - shadow_runs[0].start_time, 2
                )
                last = world.resources["artifacts"].get_json(
                    f"alerting/shadow_incidents/{world.days[-1]}.json"
                )
                out["values_file_bytes_per_day"] = last["aligned_values"]["bytes"]
                # the first run in the process also pays one-off imports: shown, not counted
                out["first_run"] = round(run(threshold_tuning_report.key)["report"], 2)
                for mode in ("records", "plain"):
                    stored.load_day_values = loader if mode == "records" else ignore_records
                    runs = [run(threshold_tuning_report.key) for _ in range(args.repeat)]
                    row = {
                        k: round(statistics.median(r.get(k, 0.0) for r in runs), 2)
                        for k in ("report", "materialize", *PHASES)
                    }
                    row["other"] = round(row["report"] - sum(row[p] for p in PHASES), 2)
                    row["report_over_sweeps"] = round(
                        statistics.median(r["report"] / r["sweeps"] for r in runs), 2
                    )
                    row["materialize_over_sweeps"] = round(
                        statistics.median(r["materialize"] / r["sweeps"] for r in runs), 2
                    )
                    out[mode] = row
                stored.load_day_values = loader
                plots = run(threshold_tuning_plots.key)
                out["threshold_tuning_plots"] = {
                    k: round(plots.get(k, 0.0), 2) for k in ("report", "materialize", "plots")
                }
        finally:
            stop_group(record["pgid"])
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
