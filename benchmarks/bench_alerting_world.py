"""Alerting world benchmarks: generating and loading the default 35-day world, and the feeder.

    python benchmarks/bench_alerting_world.py           # 35 days (the default world)
    python benchmarks/bench_alerting_world.py --days 7  # smaller

1. Generation: seconds to generate the metric world (pure numpy) and points/s.
2. Encoding + loading into a fresh MetricStore through ``world.load_series`` (one transaction,
   series resolved once), against the store's public ``bulk_load`` (series resolved per point)
   measured in the same run on one day of the same world: printed as a points/s ratio.
3. Feeder: simulated minutes written per second through the real client to an in-process
   sandbox MetricService (one request per minute per <= 200 series).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

DAY = 86_400


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--feeder-minutes", type=int, default=120)
    args = parser.parse_args()

    from ctscan_ops.resources.monitoring import make_metric_client
    from ctscan_ops.sandbox.metric_service import build_server
    from ctscan_ops.sandbox.metric_store import MetricStore
    from ctscan_ops.sandbox.worlds import alerting as alert_world
    from ctscan_ops.sandbox.worlds import metric_world as mw
    from ctscan_ops.sandbox.worlds.feeder import Feeder

    end = 20_400 * DAY
    start = end - args.days * DAY
    out: dict = {"days": args.days}

    t0 = time.perf_counter()
    world = mw.generate_metric_world(np.random.default_rng(7), start, end)
    gen_s = time.perf_counter() - t0
    points = world.point_count()
    out["generate_s"] = round(gen_s, 2)
    out["points"] = points
    out["series"] = len(world.series)
    out["generate_points_per_s"] = round(points / gen_s)

    with tempfile.TemporaryDirectory() as tmp:
        store = MetricStore(Path(tmp) / "fast.sqlite3")
        t0 = time.perf_counter()
        alert_world.load_series(store, world.series)
        load_s = time.perf_counter() - t0
        store.close()
        out["encode_and_load_s"] = round(load_s, 2)
        out["total_world_s"] = round(gen_s + load_s, 2)
        fast_rate = points / load_s

        # baseline: public bulk_load on one day of the same series
        one_day = [s for s in (g.slice(end - DAY, end) for g in world.series) if s is not None]
        n_day = sum(s.times.size for s in one_day)
        base = MetricStore(Path(tmp) / "baseline.sqlite3")
        t0 = time.perf_counter()
        for gs in one_day:
            end_us, start_us, values = alert_world._rows_of(gs)
            base.bulk_load(alert_world.descriptor(gs), end_us, values, start_us)
        base_s = time.perf_counter() - t0
        base.close()
        out["baseline_bulk_load_points_per_s"] = round(n_day / base_s)
        out["load_points_per_s"] = round(fast_rate)
        out["load_speedup_vs_bulk_load"] = round(fast_rate / (n_day / base_s), 1)

        # feeder throughput against an in-process sandbox MetricService
        fstore = MetricStore(Path(tmp) / "feeder.sqlite3")
        server, port = build_server(fstore, allow_system_metrics=True)
        server.start()
        try:
            client = make_metric_client(f"127.0.0.1:{port}")
            state = {
                "base_seed": world.base_seed,
                "start": start,
                "end": end,
                "services": [s.__dict__ for s in world.services],
            }
            feeder = Feeder(client, "bench", state, max_minutes_per_step=args.feeder_minutes)
            t0 = time.perf_counter()
            result = feeder.step(end + args.feeder_minutes * 60)
            feed_s = time.perf_counter() - t0
        finally:
            server.stop(grace=None)
            fstore.close()
        out["feeder_minutes"] = result.minutes
        out["feeder_requests"] = result.requests
        out["feeder_points"] = result.points
        out["feeder_sim_minutes_per_s"] = round(result.minutes / feed_s, 1)
        out["feeder_max_speed_factor"] = round(60 * result.minutes / feed_s)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
