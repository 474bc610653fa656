"""The live feeder: keeps the sandbox's Cloud Run series growing, as production would.

It continues the world's generator (:mod:`ctscan_ops.alerting.metric_world` is a function of
``(base seed, service, day)``, so the minutes it appends are exactly the minutes the world would
have generated there) and writes them through the real ``google-cloud-monitoring`` client's
``create_time_series``, with the API's rules: one point per series per request, at most 200
series per request, points of a series in time order.

Time: a :class:`SimClock` maps wall-clock time to simulated time,
``sim = anchor_sim + speed * (wall - anchor_wall)``. At ``speed=1`` anchored at the wall clock
the feeder runs in real time; ``--speed 60`` makes a minute of data per second. The feeder
never writes a point whose end time is after simulated now, and catches up a gap (world end at
midnight, the feeder started at noon) in bounded chunks per step. Its progress and the
simulated clock go to ``data_dir/alerting/feeder_state.json``; readers that must agree with an
accelerated feeder (the shadow sensor in the sandbox) take "now" from :func:`simulated_now`.

Incidents the feeder's days contain are added to the incident register once they are over,
the way a postmortem would be filed (``--no-register`` to skip).

    python -m ctscan_ops.alerting.feeder --speed 60 --duration 30
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctscan_ops.alerting import metric_world as mw
from ctscan_ops.alerting import world as alert_world

FEEDER_STATE_FILE = "feeder_state.json"
MAX_SERIES_PER_REQUEST = 200
DEFAULT_MAX_MINUTES_PER_STEP = 240


class FeederError(RuntimeError):
    """The feeder cannot continue (no world, rejected write, service down)."""


@dataclass(frozen=True)
class SimClock:
    """Simulated time as a linear function of wall-clock time."""

    anchor_sim: float
    anchor_wall: float
    speed: float = 1.0

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"speed must be a positive number, got {self.speed}")

    def now(self, wall: float) -> float:
        return self.anchor_sim + self.speed * (wall - self.anchor_wall)


@dataclass
class StepResult:
    sim_now: float
    written_from: int  # exclusive
    written_to: int  # inclusive
    minutes: int
    requests: int
    points: int
    max_series_per_request: int
    registered: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "sim_now": self.sim_now,
            "written_from": self.written_from,
            "written_to": self.written_to,
            "minutes": self.minutes,
            "requests": self.requests,
            "points": self.points,
            "max_series_per_request": self.max_series_per_request,
            "registered": self.registered,
        }


def _time_series_pb(gs: mw.GeneratedSeries, value_bytes: bytes, end: int) -> Any:
    """A one-point ``monitoring_v3.TimeSeries`` (raw protobuf) for ``create_time_series``."""
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.types import common as common_types

    pb = monitoring_v3.TimeSeries.pb()()
    pb.metric.type = gs.metric_type
    pb.metric.labels.update(gs.metric_labels)
    pb.resource.type = gs.resource_type
    pb.resource.labels.update(gs.resource_labels)
    desc = alert_world.descriptor(gs)
    pb.metric_kind = desc.metric_kind
    pb.value_type = desc.value_type
    pb.unit = gs.unit
    point = pb.points.add()
    point.interval.end_time.seconds = end
    if gs.metric_kind != "GAUGE":
        point.interval.start_time.seconds = end - gs.period_s
    point.value.CopyFrom(common_types.TypedValue.pb().FromString(value_bytes))
    return pb


class Feeder:
    """Appends the world's continuation through ``client.create_time_series``."""

    def __init__(
        self,
        client: Any,
        project: str,
        world_state: dict[str, Any],
        *,
        state_path: Path | None = None,
        register_store: Any = None,
        max_minutes_per_step: int = DEFAULT_MAX_MINUTES_PER_STEP,
        timeout: float = 30.0,
    ) -> None:
        self.client = client
        self.project = project
        self.base_seed = int(world_state["base_seed"])
        self.world_start = int(world_state["start"])
        self.world_end = int(world_state["end"])
        self.specs = alert_world.specs_from_state(world_state)
        self.state_path = state_path
        self.register_store = register_store
        self.max_minutes_per_step = max_minutes_per_step
        self.timeout = timeout
        self.clock: SimClock | None = None  # set by run_live; saved so readers share it
        self.last_written = self.world_end
        if state_path is not None and state_path.exists():
            saved = json.loads(state_path.read_text())
            if saved.get("base_seed") == self.base_seed:
                self.last_written = max(self.world_end, int(saved["last_written"]))

    def _plans(self, until: int) -> list[mw.ServicePlan]:
        day_end = -(-until // mw.DAY_S) * mw.DAY_S
        return [
            mw.plan_service(self.base_seed, s, self.world_start, self.world_end, day_end)
            for s in self.specs
        ]

    def step(self, sim_now: float) -> StepResult:
        """Write every minute in ``(last_written, sim_now]``, at most ``max_minutes_per_step``."""
        t0 = self.last_written
        t1 = min(mw.minute_floor(sim_now), t0 + self.max_minutes_per_step * mw.MINUTE_S)
        if t1 <= t0:
            self._save(sim_now)  # readers still learn the simulated clock
            return StepResult(sim_now, t0, t0, 0, 0, 0, 0)
        plans = self._plans(t1)
        by_time: dict[int, list[Any]] = defaultdict(list)
        for plan in plans:
            for gs in mw.simulate(plan, t0, t1):
                values = alert_world.encode_values(gs)
                for end, value in zip(gs.times.tolist(), values, strict=True):
                    by_time[end].append(_time_series_pb(gs, value, end))
        name = self.project if self.project.startswith("projects/") else f"projects/{self.project}"
        try:
            requests, points, widest = self._write(name, by_time)
        finally:
            self._save(sim_now)
        self.last_written = t1
        registered = self._register_finished(plans, t0, t1)
        self._save(sim_now)
        return StepResult(
            sim_now, t0, t1, (t1 - t0) // mw.MINUTE_S, requests, points, widest, registered
        )

    def _write(self, name: str, by_time: dict[int, list[Any]]) -> tuple[int, int, int]:
        from google.api_core import exceptions as gexc
        from google.cloud import monitoring_v3

        requests = points = widest = 0
        for end in sorted(by_time):
            batch = by_time[end]
            for i in range(0, len(batch), MAX_SERIES_PER_REQUEST):
                chunk = batch[i : i + MAX_SERIES_PER_REQUEST]
                try:
                    self.client.create_time_series(
                        name=name,
                        time_series=[monitoring_v3.TimeSeries.wrap(pb) for pb in chunk],
                        timeout=self.timeout,
                    )
                except gexc.GoogleAPICallError as exc:
                    raise FeederError(
                        f"create_time_series for the minute ending {mw_iso(end)} failed "
                        f"({type(exc).__name__}): {exc.message}"
                    ) from None
                requests += 1
                points += len(chunk)
                widest = max(widest, len(chunk))
            # progress is kept per minute: a failed step never rewrites (or skips) a minute
            self.last_written = end
        return requests, points, widest

    def _register_finished(self, plans: list[mw.ServicePlan], t0: int, t1: int) -> list[str]:
        """File the feeder-time incidents that ended in ``(t0, t1]`` into the register."""
        if self.register_store is None:
            return []
        windows = []
        for plan in plans:
            ended = {
                e.id
                for e in plan.episodes
                if e.labelled and e.start >= self.world_end and t0 < e.end <= t1
            }
            if ended:
                windows += [w for w in mw.label_windows(plan) if w.episode in ended]
        if not windows:
            return []
        register = alert_world.register_from_labels(windows)

        def add_all(reg):
            for w in register.windows:
                reg = reg.with_window(w)
            return reg

        self.register_store.update(add_all)
        return [w.id for w in register.windows]

    def _save(self, sim_now: float) -> None:
        if self.state_path is None:
            return
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "base_seed": self.base_seed,
            "last_written": self.last_written,
            "sim_now": sim_now,
            "wall": time.time(),
        }
        if self.clock is not None:
            doc["clock"] = {
                "anchor_sim": self.clock.anchor_sim,
                "anchor_wall": self.clock.anchor_wall,
                "speed": self.clock.speed,
            }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
        tmp.replace(self.state_path)


def simulated_now(data_dir: Path, wall: float | None = None, *, max_idle_s: float = 300.0) -> float:
    """ "Now" as the running feeder sees it, else the wall clock.

    An accelerated feeder writes ahead of the wall clock; a reader that must see its newest
    points (the shadow sensor in the sandbox) asks here. A feeder that has not saved its state
    for ``max_idle_s`` wall seconds is taken as stopped: its simulated clock is then frozen at
    the last step's simulated time (nothing newer exists), unless the wall clock is later.
    """
    wall = time.time() if wall is None else wall
    path = Path(data_dir) / "alerting" / FEEDER_STATE_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return wall
    clock = doc.get("clock")
    if not clock or "sim_now" not in doc:
        return wall
    if wall - float(doc.get("wall", 0.0)) > max_idle_s:
        return max(wall, float(doc["sim_now"]))
    sim = SimClock(float(clock["anchor_sim"]), float(clock["anchor_wall"]), float(clock["speed"]))
    return sim.now(wall)


def mw_iso(ts: float) -> str:
    from ctscan_ops.alerting.incidents import format_time

    return format_time(ts)


def run_steps(feeder: Feeder, steps: int, sim_start: float, step_s: float) -> list[StepResult]:
    """Run ``steps`` steps at simulated times ``sim_start + k * step_s`` (tests, demos)."""
    return [feeder.step(sim_start + k * step_s) for k in range(1, steps + 1)]


def run_live(
    feeder: Feeder,
    clock: SimClock,
    duration_s: float,
    interval_s: float = 1.0,
    *,
    wall: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Step every ``interval_s`` wall seconds until ``duration_s`` have passed.

    Bounded twice: by the wall-clock deadline and by ``ceil(duration / interval)`` steps (a
    slow catch-up step can make the run shorter in steps, never longer in time than one step).
    """
    max_steps = max(1, math.ceil(duration_s / interval_s))
    deadline = wall() + duration_s
    feeder.clock = clock
    done = 0
    for _ in range(max_steps):
        if should_stop():
            break
        begun = wall()
        if done and begun >= deadline:
            break
        result = feeder.step(clock.now(begun))
        done += 1
        if result.minutes:
            log(json.dumps(result.to_json()))
        sleep(max(0.0, min(interval_s - (wall() - begun), deadline - wall())))
    return done


def _sandbox_client(endpoint: str) -> Any:
    """The real client on an insecure channel to the sandbox MetricService.

    Same as ``ctscan_ops.resources.monitoring.make_metric_client``, without importing the
    resources package (and with it Dagster), so the feeder process starts in a second.
    """
    import grpc
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.metric_service.transports import (
        MetricServiceGrpcTransport,
    )

    channel = grpc.insecure_channel(endpoint)
    return monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(channel=channel))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ctscan_ops.alerting.feeder", description=__doc__.splitlines()[0]
    )
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument("--duration", type=float, default=60.0, help="wall seconds to run")
    p.add_argument("--interval", type=float, default=1.0, help="wall seconds between steps")
    p.add_argument(
        "--from-world-end",
        action="store_true",
        help="start simulated time where the data ends (replay) instead of at the wall clock",
    )
    p.add_argument("--max-minutes-per-step", type=int, default=DEFAULT_MAX_MINUTES_PER_STEP)
    p.add_argument("--no-register", action="store_true", help="do not file finished incidents")
    return p


def feeder_from_settings(
    settings: Any,
    world_state: dict[str, Any] | None = None,
    *,
    register: bool = True,
    max_minutes_per_step: int = DEFAULT_MAX_MINUTES_PER_STEP,
) -> Feeder:
    """A feeder on the sandbox MetricService that continues the generated world."""
    if world_state is None:
        world_state = alert_world.read_state(settings.data_dir)
    register_store = None
    if register:
        from ctscan_ops.alerting.incidents import RegisterStore
        from ctscan_ops.resources.storage import ArtifactStore

        register_store = RegisterStore(
            ArtifactStore(
                bucket=settings.artifacts_bucket,
                project=settings.project_id,
                endpoint=settings.endpoints.gcs_url,
            )
        )
    return Feeder(
        _sandbox_client(settings.endpoints.monitoring_address),
        settings.project_id,
        world_state,
        state_path=settings.data_dir / "alerting" / FEEDER_STATE_FILE,
        register_store=register_store,
        max_minutes_per_step=max_minutes_per_step,
    )


def catch_up(settings: Any, until: float, max_steps: int = 1000) -> int:
    """Write the world's continuation up to ``until`` (bounded); returns the steps taken."""
    feeder = feeder_from_settings(settings)
    steps = 0
    while feeder.last_written < int(until) - 60 and steps < max_steps:
        feeder.step(until)
        steps += 1
    return steps


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.speed > 0) or args.duration <= 0 or args.interval <= 0:
        print("speed, duration and interval must be positive", file=sys.stderr)
        return 2
    from ctscan_ops.config import get_settings

    settings = get_settings()
    if settings.mode.value != "sandbox":
        print("the feeder writes simulated Cloud Run metrics: sandbox mode only", file=sys.stderr)
        return 2
    if not settings.endpoints.monitoring_address:
        print("no sandbox MetricService: run `ctscan-ops sandbox up` first", file=sys.stderr)
        return 1
    try:
        world_state = alert_world.read_state(settings.data_dir)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    feeder = feeder_from_settings(
        settings,
        world_state,
        register=not args.no_register,
        max_minutes_per_step=args.max_minutes_per_step,
    )
    wall = time.time()
    anchor = float(feeder.last_written) if args.from_world_end else wall
    clock = SimClock(anchor_sim=anchor, anchor_wall=wall, speed=args.speed)
    stop = {"flag": False}
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.update(flag=True))
    try:
        steps = run_live(
            feeder, clock, args.duration, args.interval, should_stop=lambda: stop["flag"]
        )
    except FeederError as exc:
        print(f"feeder stopped: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"steps": steps, "last_written": feeder.last_written}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
