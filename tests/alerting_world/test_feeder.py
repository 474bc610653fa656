"""The live feeder against the real client and the sandbox MetricService: continuity with the
world, no points after simulated now, the API's request limits, resume, filed incidents."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from ctscan_ops.alerting.engine.metric_source import fetch_time_series
from ctscan_ops.alerting.shadow.incidents import RegisterStore
from ctscan_ops.sandbox.metric_store import MetricStore
from ctscan_ops.sandbox.worlds import alerting as alert_world
from ctscan_ops.sandbox.worlds import metric_world as mw
from ctscan_ops.sandbox.worlds.feeder import Feeder, SimClock, run_live, run_steps, simulated_now

from .conftest import DAY, WORLD_END


def _key(ts):
    return (
        ts.metric_type,
        tuple(sorted(ts.metric_labels.items())),
        ts.resource_type,
        tuple(sorted(ts.resource_labels.items())),
    )


def _state(world: mw.MetricWorld) -> dict:
    return {
        "base_seed": world.base_seed,
        "start": world.start,
        "end": world.end,
        "services": [dataclasses.asdict(s) for s in world.services],
    }


@pytest.fixture()
def fed_world(sandbox_tmp, metric_service):
    """A one-day world under a unique project, loaded into the session MetricService."""
    project = f"feed-{uuid.uuid4().hex[:8]}"
    world = mw.build_world(4242, WORLD_END - DAY, WORLD_END, alert_world.services_for(project))
    store = MetricStore(sandbox_tmp / "monitoring-session.sqlite3")
    try:
        alert_world.load_series(store, world.series)
    finally:
        store.close()
    return project, world


def _fetch_all(client, project, t0, t1):
    out = {}
    for metric_type in (
        mw.REQUEST_COUNT,
        mw.REQUEST_LATENCIES,
        mw.CPU_UTILIZATIONS,
        mw.MEMORY_UTILIZATIONS,
        mw.INSTANCE_COUNT,
        mw.CONTAINER_CRASHES,
        mw.CONFIDENCE,
        mw.LIVE_ACCURACY,
        mw.STORAGE_BYTES,
    ):
        flt = f'metric.type="{metric_type}" AND resource.labels.project_id="{project}"'
        for ts in fetch_time_series(client, project, flt, t0, t1):
            out[_key(ts)] = ts
    return out


def test_feeder_continues_the_world_seamlessly(fed_world, monitoring_client, tmp_path):
    project, world = fed_world
    feeder = Feeder(monitoring_client, project, _state(world), state_path=tmp_path / "feeder.json")
    results = run_steps(feeder, steps=4, sim_start=world.end, step_s=600)
    assert [r.minutes for r in results] == [10, 10, 10, 10]
    assert all(0 < r.max_series_per_request <= 200 for r in results)
    assert all(r.requests >= r.minutes for r in results)  # one point per series per request
    end = world.end + 2400
    # world history + fed minutes == one-shot generation of the longer history
    plans = [
        mw.plan_service(world.base_seed, s, world.start, world.end, world.end + DAY)
        for s in world.services
    ]
    expected = {
        _key(t): t
        for p in plans
        for t in (g.to_time_series() for g in mw.simulate(p, world.end - 3600, end))
    }
    got = _fetch_all(monitoring_client, project, world.end - 3600, end)
    assert set(got) == set(expected)
    for k, exp in expected.items():
        g = got[k]
        np.testing.assert_array_equal(g.times, exp.times)
        if exp.value_type == "DISTRIBUTION":
            np.testing.assert_array_equal(g.bucket_counts, exp.bucket_counts)
        else:
            np.testing.assert_array_equal(g.values, exp.values)
    assert any(g.times.max() > world.end for g in got.values())


def test_feeder_never_writes_after_simulated_now(fed_world, monitoring_client):
    project, world = fed_world
    feeder = Feeder(monitoring_client, project, _state(world))
    sim_now = world.end + 185.5
    result = feeder.step(sim_now)
    assert (result.written_from, result.written_to) == (world.end, world.end + 180)
    got = _fetch_all(monitoring_client, project, world.end, world.end + 3600)
    latest = max(t.times.max() for t in got.values())
    assert latest == world.end + 180 <= sim_now
    assert feeder.step(sim_now).minutes == 0  # nothing new until simulated time moves


def test_catch_up_is_bounded_per_step_and_resumes(fed_world, monitoring_client, tmp_path):
    project, world = fed_world
    path = tmp_path / "feeder_state.json"
    feeder = Feeder(
        monitoring_client, project, _state(world), state_path=path, max_minutes_per_step=5
    )
    first = feeder.step(world.end + 3600)  # an hour behind: only 5 minutes this step
    assert first.minutes == 5
    saved = json.loads(path.read_text())
    assert saved["last_written"] == world.end + 300 and saved["sim_now"] == world.end + 3600
    again = Feeder(
        monitoring_client, project, _state(world), state_path=path, max_minutes_per_step=5
    )
    assert again.last_written == world.end + 300  # resumes; rewriting would be refused
    assert again.step(world.end + 3600).written_from == world.end + 300


def test_more_than_200_series_per_minute_are_split(sandbox_tmp, metric_service, monitoring_client):
    project = f"wide-{uuid.uuid4().hex[:8]}"
    specs = [
        dataclasses.replace(
            mw.PROD,
            environment=f"load{i}",
            service_name=f"svc-{i}",
            project_id=project,
            incidents={},
            near_misses={},
            min_instances=1,
        )
        for i in range(40)
    ]
    state = {
        "base_seed": 5,
        "start": WORLD_END - DAY,
        "end": WORLD_END,
        "services": [dataclasses.asdict(s) for s in specs],
    }
    feeder = Feeder(monitoring_client, project, state)
    result = feeder.step(WORLD_END + 120)
    assert result.minutes == 2
    assert result.max_series_per_request == 200
    assert result.points > 2 * 200  # more than one request per minute was needed
    got = _fetch_all(monitoring_client, project, WORLD_END, WORLD_END + 120)
    assert sum(len(t) for t in got.values()) == result.points


def test_finished_feeder_incidents_are_filed(fed_world, monitoring_client, artifact_store):
    project, world = fed_world
    specs = [dataclasses.replace(s, feeder_incident_rate=1.0) for s in world.services[:1]]
    state = {**_state(world), "services": [dataclasses.asdict(s) for s in specs]}
    plan = mw.plan_service(world.base_seed, specs[0], world.start, world.end, world.end + 3 * DAY)
    episode = next(e for e in plan.episodes if e.labelled and e.start >= world.end)
    feeder = Feeder(monitoring_client, project, state, register_store=RegisterStore(artifact_store))
    feeder.last_written = episode.end - 120  # skip ahead: the store only needs newer points
    result = feeder.step(episode.end + 60)
    expected = {w.id for w in mw.label_windows(plan) if w.episode == episode.id}
    assert expected and set(result.registered) == expected
    register = RegisterStore(artifact_store).load()
    assert {w.id for w in register.windows} == expected
    assert all(
        w.start == episode.start or w.kind in ("memory_leak", "storage_growth")
        for w in register.windows
    )


def test_sim_clock_and_bounded_live_loop(fed_world, monitoring_client):
    project, world = fed_world
    with pytest.raises(ValueError, match="speed"):
        SimClock(0.0, 0.0, speed=0)
    clock = SimClock(anchor_sim=world.end, anchor_wall=1000.0, speed=60.0)
    assert clock.now(1010.0) == world.end + 600
    now = {"t": 1000.0}  # a fake wall clock that only moves when the loop sleeps

    def sleep(seconds):
        now["t"] += seconds

    feeder = Feeder(monitoring_client, project, _state(world))
    steps = run_live(
        feeder,
        clock,
        duration_s=3,
        interval_s=1,
        wall=lambda: now["t"],
        sleep=sleep,
        log=lambda _m: None,
    )
    assert steps == 3  # at wall 1000, 1001, 1002; 1003 is the deadline
    assert feeder.last_written == clock.now(1002.0) == world.end + 120


def test_simulated_now_follows_a_running_feeder(fed_world, monitoring_client, tmp_path):
    project, world = fed_world
    assert simulated_now(tmp_path, wall=5000.0) == 5000.0  # no feeder: the wall clock
    feeder = Feeder(
        monitoring_client,
        project,
        _state(world),
        state_path=tmp_path / "alerting" / "feeder_state.json",
    )
    wall_now = time.time()
    clock = SimClock(anchor_sim=world.end, anchor_wall=wall_now, speed=60.0)
    run_live(feeder, clock, duration_s=1, interval_s=1, sleep=lambda _s: None, log=lambda _m: None)
    assert simulated_now(tmp_path, wall=wall_now + 10) == pytest.approx(world.end + 600)
    # a feeder idle for longer than max_idle_s is stopped: its last simulated time holds
    saved = json.loads((tmp_path / "alerting" / "feeder_state.json").read_text())
    late = saved["wall"] + 10_000
    assert simulated_now(tmp_path, wall=late) == max(late, saved["sim_now"])


def test_cli_runs_bounded_and_rejects_bad_input(tmp_path, gcs_emulator, metric_service):
    project = f"cli-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "data"
    world = mw.build_world(77, WORLD_END - DAY, WORLD_END, alert_world.services_for(project))
    (data_dir / "alerting").mkdir(parents=True)
    (data_dir / "alerting" / "world_state.json").write_text(json.dumps(_state(world)))
    env = {
        **os.environ,
        "CTSCAN_MODE": "sandbox",
        "CTSCAN_SANDBOX_DIR": str(tmp_path / "sandbox"),
        "CTSCAN_DATA_DIR": str(data_dir),
        "CTSCAN_PROJECT_ID": project,
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "CTSCAN_MONITORING_ENDPOINT": metric_service,
    }
    cmd = [sys.executable, "-m", "ctscan_ops.sandbox.worlds.feeder"]
    proc = subprocess.run(
        [
            *cmd,
            "--speed",
            "120",
            "--duration",
            "2",
            "--interval",
            "1",
            "--from-world-end",
            "--no-register",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    final = json.loads(proc.stdout.strip().splitlines()[-1])
    assert world.end < final["last_written"] <= world.end + 3 * 120 + 60
    state = json.loads((data_dir / "alerting" / "feeder_state.json").read_text())
    assert state["last_written"] == final["last_written"]
    bad = subprocess.run(
        [*cmd, "--speed", "-1"], env=env, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "positive" in bad.stderr
