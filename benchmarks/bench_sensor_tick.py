"""Shadow sensor tick cost against the amount of prior history (issue 3, Performance).

    python benchmarks/bench_sensor_tick.py                      # 1, 7, 30 days; 24 ticks each
    python benchmarks/bench_sensor_tick.py --cache /tmp/worlds  # keep/reuse the loaded worlds

For each history length h (default 1, 7 and 30 days) a world of h + 1 days of both sandbox
services is generated and loaded into its own MetricStore, so the store holds exactly h days of
history before the ticks (plus the day they tick through), as a sandbox whose feeder has run for
h days would. It is served in-process by the real gRPC MetricService (``build_server``) and read
with the real google-cloud-monitoring client. The sensor cursor starts at the end of the
history (``{"start": T}``), one warm-up tick runs, then ``--ticks`` consecutive ``advance_all``
ticks are timed, each seeing ``--new-s`` (default 300 s: a 60 s sensor running with some lag)
of new points, for every P0/P1/P2 policy of both environments, as the sensor runs.

Printed (JSON): per history length p50/p95 tick time, fetch share (ListTimeSeries + decoding),
the rest of the tick (catalog, evaluation, cursor), calls and points read per tick;
p95(30 d) / p95(1 d) (flat: ~1); and every time as a ratio against the baseline measured in
the same run: one bare ``list_time_series`` call (pages consumed, nothing decoded) of the prod
request_count filter over the new-data window, on the 1-day world. The same bare call on each
world (``bare_call_x_baseline``) shows how the sandbox MetricService's own per-call cost grows
with the number of series it stores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

DAY = 86_400
END = 20_420 * DAY  # a fixed UTC midnight (2025-11-28): the result does not depend on today
PROJECT = "bench-sensor"
REQUEST_FILTER = (
    'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision"'
    ' AND resource.labels.service_name="ct-scan-api"'
)


def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def load_world(db: Path, days: int) -> dict[str, Any]:
    """Generate and load a world of ``days`` days ending at END, unless ``db`` holds it."""
    from ctscan_ops.sandbox.metric_store import MetricStore
    from ctscan_ops.sandbox.worlds import alerting as alert_world
    from ctscan_ops.sandbox.worlds import metric_world as mw

    marker = db.with_suffix(".json")
    if db.exists() and marker.exists() and json.loads(marker.read_text()).get("days") == days:
        return json.loads(marker.read_text())
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    world = mw.generate_metric_world(
        np.random.default_rng(11), END - days * DAY, END, alert_world.services_for(PROJECT)
    )
    store = MetricStore(db)
    try:
        points = alert_world.load_series(store, world.series)
    finally:
        store.close()
    info = {"days": days, "points": points, "series": len(world.series)}
    info["build_s"] = round(time.perf_counter() - t0, 1)
    marker.write_text(json.dumps(info))
    return info


@contextmanager
def serve(db: Path):
    from ctscan_ops.sandbox.metric_service import build_server
    from ctscan_ops.sandbox.metric_store import MetricStore

    store = MetricStore(db)
    server, port = build_server(store)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
        store.close()


def bare_list_s(client: Any, start: float, end: float) -> tuple[float, int]:
    """One raw list_time_series call, pages consumed, nothing converted: the baseline."""
    from google.cloud import monitoring_v3

    from ctscan_ops.alerting.engine.metric_source import _interval

    t0 = time.perf_counter()
    pager = client.list_time_series(
        request=monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{PROJECT}",
            filter=REQUEST_FILTER,
            interval=_interval(start, end),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
            page_size=100_000,
        )
    )
    n = sum(len(ts.points) for page in pager.pages for ts in page.time_series)
    return time.perf_counter() - t0, n


class CallCounter:
    """Counts fetch_time_series calls and points while installed (a tick's read volume)."""

    def __init__(self) -> None:
        import ctscan_ops.alerting.engine.metric_source as ms

        self.ms = ms
        self.calls = 0
        self.points = 0
        self.seconds = 0.0
        self._orig = ms.fetch_time_series

    def __enter__(self) -> CallCounter:
        def counted(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            out = self._orig(*a, **k)
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            self.points += sum(len(s) for s in out)
            return out

        self.ms.fetch_time_series = counted
        return self

    def __exit__(self, *exc: Any) -> None:
        self.ms.fetch_time_series = self._orig


def run_ticks(
    monitoring: Any, t_start: float, n_ticks: int, new_s: int, environments: list[str]
) -> dict[str, Any]:
    """Warm-up tick then ``n_ticks`` timed ticks, each with ``new_s`` of new data."""
    from ctscan_ops.alerting.sensors import advance_all
    from ctscan_ops.alerting.settings import AlertingSettings

    def settings(now: float) -> AlertingSettings:
        return AlertingSettings(
            environments=environments, now_override=now, max_span_per_tick_s=6 * 3600
        )

    cursor: dict[str, Any] = {"start": t_start}
    now = t_start + new_s
    cursor, _, _ = advance_all(cursor, monitoring, settings(now))  # warm-up, not timed
    times: list[float] = []
    events = 0
    with CallCounter() as counter:
        for _ in range(n_ticks):
            now += new_s
            alerting = settings(now)
            t0 = time.perf_counter()
            cursor, evs, _ = advance_all(cursor, monitoring, alerting)
            times.append(time.perf_counter() - t0)
            events += len(evs)
    throughs = {s["through"] for s in cursor["policies"].values()}
    assert throughs == {now}, f"cursor did not advance to {now}: {sorted(throughs)[:3]}"
    return {
        "p50_s": _pct(times, 50),
        "p95_s": _pct(times, 95),
        "max_s": max(times),
        "fetch_s_per_tick": counter.seconds / n_ticks,
        "fetch_calls_per_tick": counter.calls / n_ticks,
        "points_read_per_tick": counter.points / n_ticks,
        "events": events,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ticks", type=int, default=24)
    parser.add_argument("--new-s", type=int, default=300, help="new data per tick (s)")
    parser.add_argument("--history", default="1,7,30", help="days of prior history")
    parser.add_argument("--cache", type=Path, default=None, help="keep/reuse the worlds here")
    parser.add_argument("--environments", default="prod,staging")
    args = parser.parse_args()

    from ctscan_ops.resources import MonitoringResource
    from ctscan_ops.resources.monitoring import make_metric_client

    history = [int(h) for h in args.history.split(",")]
    if (args.ticks + 1) * args.new_s > DAY:
        raise SystemExit("--ticks x --new-s must fit in the one day after the history")
    envs = args.environments.split(",")
    out: dict[str, Any] = {"ticks_per_history": args.ticks, "new_s_per_tick": args.new_s}
    by_h: dict[int, dict[str, Any]] = {}
    bare: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        for h in history:
            db = cache / f"sensor-world-{h + 1}d.sqlite3"
            world = load_world(db, h + 1)
            with serve(db) as endpoint:
                monitoring = MonitoringResource(project=PROJECT, endpoint=endpoint)
                client = make_metric_client(endpoint)
                t = END - DAY  # h days of history before t, one day of new data after it
                calls = []
                for i in range(7):  # the baseline: bare calls over the new-data windows
                    s, n = bare_list_s(client, t + i * args.new_s, t + (i + 1) * args.new_s)
                    calls.append(s)
                bare[h] = statistics.median(calls[2:])
                by_h[h] = run_ticks(monitoring, t, args.ticks, args.new_s, envs)
                by_h[h]["world"] = world
    baseline = bare[min(history)]
    out["baseline"] = {
        "what": f"one bare list_time_series of the prod request_count filter over "
        f"{args.new_s} s of new data ({n} points; pages consumed, not decoded), "
        f"{min(history)}-day world",
        "median_s": round(baseline, 5),
    }
    for h, r in by_h.items():
        out[f"history_{h}d"] = {
            "p50_x_baseline": round(r["p50_s"] / baseline, 1),
            "p95_x_baseline": round(r["p95_s"] / baseline, 1),
            "bare_call_x_baseline": round(bare[h] / baseline, 2),
            "fetch_share": round(r["fetch_s_per_tick"] / r["p50_s"], 2),
            # catalog load + evaluation + cursor: the sensor's own work, without the reads
            "rest_p50_x_baseline": round((r["p50_s"] - r["fetch_s_per_tick"]) / baseline, 1),
            "fetch_calls_per_tick": r["fetch_calls_per_tick"],
            "points_read_per_tick": round(r["points_read_per_tick"]),
            "stored_series": r["world"]["series"],
            "p50_s": round(r["p50_s"], 3),
            "p95_s": round(r["p95_s"], 3),
            "events": r["events"],
        }
    lo, hi = min(history), max(history)
    out[f"p95_ratio_{hi}d_over_{lo}d"] = round(by_h[hi]["p95_s"] / by_h[lo]["p95_s"], 2)
    out["p95_worst_over_sensor_timeout_60s"] = round(
        max(r["p95_s"] for r in by_h.values()) / 60.0, 4
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
