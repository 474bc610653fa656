"""Sandbox MetricService: cost of a bare ListTimeSeries against the size of the store (issue 14).

    python benchmarks/bench_metric_service.py                      # 1, 7 and 30 days
    python benchmarks/bench_metric_service.py --cache /tmp/worlds  # keep/reuse the worlds

For each history length h a world of h days of both sandbox services (the same generator and
loader as ``bench_sensor_tick.py``; deploys add one series per revision, so older stores hold
more series) is loaded into its own MetricStore and served in-process twice by the real gRPC
server: with the current ListTimeSeries (one indexed query, response written as protobuf wire
bytes) and with the previous implementation (``build_server(..., legacy_list=True)``: one
query per candidate series, every point decoded and re-encoded). The real
google-cloud-monitoring client makes the calls.

Measured, median wall time of ``--calls`` calls, pages consumed, nothing converted:

* ``recent``: the shadow sensor's call, the prod request_count filter over the last
  ``--window-s`` (default 300 s) of the store;
* ``day``: the same filter over the store's last full day (throughput: points per second).

Printed (JSON) as ratios against baselines measured in the same run: ``recent`` on each store
against the 1-day store (``x_1d``; target: 30 d within 1.3x), and the old path against the new
one on the same store (``legacy_over_new``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench_sensor_tick import DAY, END, PROJECT, REQUEST_FILTER, load_world


@contextmanager
def serve(db: Path, legacy: bool):
    from ctscan_ops.sandbox.metric_service import build_server
    from ctscan_ops.sandbox.metric_store import MetricStore

    store = MetricStore(db)
    server, port = build_server(store, legacy_list=legacy)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(None)
        store.close()


def bare_call(client: Any, start: float, end: float) -> tuple[float, int]:
    """One list_time_series call (all pages consumed, nothing converted): seconds, points."""
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
        ),
        retry=None,
    )
    n = sum(len(ts.points) for page in pager.pages for ts in page.time_series)
    return time.perf_counter() - t0, n


def measure(clients: dict[tuple[int, str], Any], calls: int, window_s: int) -> dict[Any, Any]:
    """Median call times per (history, path), the servers called in interleaved rounds so that
    load changes on the shared machine hit every store and path alike."""
    for client in clients.values():  # warm-up (channel, caches)
        bare_call(client, END - window_s, END)
    recent: dict[Any, list[float]] = {k: [] for k in clients}
    day: dict[Any, list[float]] = {k: [] for k in clients}
    points: dict[Any, tuple[int, int]] = {}
    for i in range(calls):
        end = END - i * 60
        for key, client in clients.items():
            s, n = bare_call(client, end - window_s, end)
            recent[key].append(s)
            points[key] = (n, 0)
    for _ in range(max(3, calls // 8)):
        for key, client in clients.items():
            s, n = bare_call(client, END - DAY, END)
            day[key].append(s)
            points[key] = (points[key][0], n)
    out = {}
    for key in clients:
        day_s = statistics.median(day[key])
        out[key] = {
            "recent_s": statistics.median(recent[key]),
            "recent_points": points[key][0],
            "day_s": day_s,
            "day_points": points[key][1],
            "day_points_per_s": round(points[key][1] / day_s),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", default="1,7,30", help="days in the store")
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--window-s", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=None, help="keep/reuse the worlds here")
    parser.add_argument("--no-legacy", action="store_true", help="skip the old path")
    args = parser.parse_args()
    history = sorted(int(h) for h in args.history.split(","))
    out: dict[str, Any] = {"calls": args.calls, "window_s": args.window_s}
    res: dict[int, dict[str, Any]] = {}
    paths = ["new"] if args.no_legacy else ["new", "old"]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        from ctscan_ops.resources.monitoring import make_metric_client

        cache = args.cache or Path(tmp)
        cache.mkdir(parents=True, exist_ok=True)
        clients = {}
        worlds = {}
        for h in history:
            db = cache / f"metric-service-world-{h}d.sqlite3"
            worlds[h] = load_world(db, h)
            for path in paths:
                endpoint = stack.enter_context(serve(db, legacy=path == "old"))
                clients[(h, path)] = make_metric_client(endpoint)
        timed = measure(clients, args.calls, args.window_s)
        for h in history:
            res[h] = {"world": worlds[h], "new": timed[(h, "new")], "old": timed.get((h, "old"))}
    base = res[history[0]]
    for h, r in res.items():
        row: dict[str, Any] = {
            "stored_series": r["world"]["series"],
            "stored_points": r["world"]["points"],
            "recent_points": r["new"]["recent_points"],
            "new_recent_ms": round(r["new"]["recent_s"] * 1e3, 2),
            "new_recent_x_1d": round(r["new"]["recent_s"] / base["new"]["recent_s"], 2),
            "new_day_points_per_s": r["new"]["day_points_per_s"],
        }
        if r["old"] is not None:
            row.update(
                {
                    "old_recent_ms": round(r["old"]["recent_s"] * 1e3, 2),
                    "old_recent_x_1d": round(r["old"]["recent_s"] / base["old"]["recent_s"], 2),
                    "old_day_points_per_s": r["old"]["day_points_per_s"],
                    "recent_legacy_over_new": round(r["old"]["recent_s"] / r["new"]["recent_s"], 2),
                    "day_legacy_over_new": round(r["old"]["day_s"] / r["new"]["day_s"], 2),
                }
            )
        out[f"store_{h}d"] = row
    lo = history[0]
    for h in history[1:]:
        out[f"new_recent_ratio_{h}d_over_{lo}d"] = out[f"store_{h}d"]["new_recent_x_1d"]
        if not args.no_legacy:
            out[f"old_recent_ratio_{h}d_over_{lo}d"] = out[f"store_{h}d"]["old_recent_x_1d"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
