"""``alert_quality``: built on the daily records vs the whole re-evaluation (issue 14, part 2).

    python benchmarks/bench_alert_quality.py            # a 14-day world, prod + staging
    python benchmarks/bench_alert_quality.py --days 35  # the demo's length (several minutes)

Generates the alerting world (``tests/alerting_speed/speed_world.py``: sandbox MetricService
over real gRPC, GCS emulator), backfills ``shadow_incidents`` over every day, puts one
deployed-settings drift in place, then materializes ``alert_quality`` alternately with
``full_reevaluation: true`` (the old path: every policy evaluated over the whole window) and
the default (records + spans of days of ``--sample`` pairs evaluated afresh), ``--repeat`` times
each. Printed (JSON): median seconds of each path, incremental / full (the target is <= 0.10),
and whether the two reports were identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


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
    parser.add_argument("--sample", type=int, default=2)
    args = parser.parse_args()

    from ctscan_ops.sandbox.processes import stop_group
    from ctscan_ops.sandbox.services import start_service

    sw = load_speed_world()
    out: dict = {"days": args.days, "sample_pairs": args.sample}
    with tempfile.TemporaryDirectory() as tmp:
        record = start_service("gcs", Path(tmp), in_memory=True)
        try:
            t0 = time.perf_counter()
            with sw.speed_world(Path(tmp) / "world", record["endpoint"], args.days) as world:
                out["setup_s"] = round(time.perf_counter() - t0, 1)
                world.resources["artifacts"].put_json(
                    "infra/policy_drift/prod.json",
                    {
                        "deployed_overrides": {
                            "high_latency": {"threshold_value": 2500, "duration": "600s"}
                        }
                    },
                )
                full_s, fast_s = [], []
                reports = {}
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    reports["full"], _ = sw.run_alert_quality(world, full_reevaluation=True)
                    full_s.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    reports["fast"], md = sw.run_alert_quality(world, sample_pairs=args.sample)
                    out["work"] = md["daily_records_sampled"]
                    fast_s.append(time.perf_counter() - t0)
        finally:
            stop_group(record["pgid"])
    out["full_s"] = round(statistics.median(full_s), 2)
    out["incremental_s"] = round(statistics.median(fast_s), 2)
    out["incremental_over_full"] = round(statistics.median(fast_s) / statistics.median(full_s), 3)
    out["same_report"] = reports["full"] == reports["fast"]
    out["daily_records_disagree"] = md["daily_records_disagree"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
