"""``ctscan-ops sandbox up|status|down``: real processes, nothing left behind, clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ctscan_ops.sandbox.processes import group_alive, pid_alive, port_is_open


def _cli(args: list[str], sandbox_dir: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "CTSCAN_SANDBOX_DIR": str(sandbox_dir), **env}
    for var in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "CTSCAN_MONITORING_ENDPOINT"):
        full_env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "ctscan_ops.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _ports(state: dict) -> list[int]:
    return [int(r["endpoint"].rsplit(":", 1)[1]) for r in state["services"].values()]


def test_up_status_down_leaves_nothing(tmp_path: Path):
    up = _cli(["sandbox", "up"], tmp_path)
    assert up.returncode == 0, up.stderr
    up_doc = json.loads(up.stdout)  # one JSON document; progress went to stderr
    assert up_doc["env"]["STORAGE_EMULATOR_HOST"].startswith("http://127.0.0.1:")
    state = json.loads((tmp_path / "state.json").read_text())
    assert up_doc["services"] == state["services"]
    assert set(state["services"]) == {"gcs", "monitoring", "firestore"}
    try:
        status = _cli(["sandbox", "status", "--json"], tmp_path)
        assert status.returncode == 0, status.stdout
        report = json.loads(status.stdout)
        assert all(info["healthy"] for info in report.values())
        # every server listens on loopback only
        for record in state["services"].values():
            assert "127.0.0.1" in record["endpoint"]
        # a second `up` is idempotent: same processes
        again = _cli(["sandbox", "up"], tmp_path)
        assert again.returncode == 0 and "already running" in again.stderr
        shell = _cli(["sandbox", "env", "--format", "shell"], tmp_path)
        assert f"export STORAGE_EMULATOR_HOST={up_doc['env']['STORAGE_EMULATOR_HOST']}" in (
            shell.stdout
        )
        assert json.loads(_cli(["sandbox", "env"], tmp_path).stdout) == up_doc["env"]
        assert json.loads((tmp_path / "state.json").read_text())["services"] == state["services"]
    finally:
        down = _cli(["sandbox", "down"], tmp_path)
    assert down.returncode == 0, down.stderr
    assert json.loads(down.stdout) == {"down": True, "still_running": []}
    for record in state["services"].values():
        assert not group_alive(record["pgid"]), record
        assert not pid_alive(record["pid"])
    assert not any(port_is_open(p) for p in _ports(state))
    status = _cli(["sandbox", "status", "--json"], tmp_path)
    assert status.returncode == 1
    assert not any(info["running"] for info in json.loads(status.stdout).values())


def test_missing_gcloud_is_a_clear_error_and_stops_the_rest(tmp_path: Path):
    result = _cli(["sandbox", "up"], tmp_path, CTSCAN_GCLOUD=str(tmp_path / "no-gcloud"))
    assert result.returncode == 1 and result.stdout == ""
    assert "gcloud CLI not found" in result.stderr
    assert "cloud-firestore-emulator" in result.stderr  # says how to install it
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["services"] == {}


@pytest.mark.parametrize("exit_code", [3])
def test_emulator_that_dies_on_start(tmp_path: Path, exit_code: int):
    fake = tmp_path / "gcloud"
    fake.write_text(
        f"#!/bin/sh\necho 'ERROR: emulator crashed: port in use' >&2\nexit {exit_code}\n"
    )
    fake.chmod(0o755)
    before = {p.pid for p in _children()}
    result = _cli(["sandbox", "up"], tmp_path, CTSCAN_GCLOUD=str(fake))
    assert result.returncode == 1
    assert f"firestore exited with code {exit_code}" in result.stderr
    assert "port in use" in result.stderr  # the log's tail is shown
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["services"] == {}
    leaked = [p for p in _children() if p.pid not in before]
    assert leaked == []


def test_services_start_side_by_side_and_a_failure_stops_the_ones_not_yet_awaited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`up` spawns every service before waiting for any: when the first one waited for fails,
    the others are already running and must be stopped too (nothing leaks, state stays empty)."""
    from ctscan_ops.sandbox import services
    from ctscan_ops.sandbox.processes import ServiceStartError

    fake = tmp_path / "gcloud"
    fake.write_text("#!/bin/sh\nsleep 0.5\necho 'ERROR: emulator crashed' >&2\nexit 4\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CTSCAN_GCLOUD", str(fake))
    monkeypatch.setenv("CTSCAN_SANDBOX_DIR", str(tmp_path))
    for var in ("STORAGE_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST", "CTSCAN_MONITORING_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    before = {p.pid for p in _children()}
    spawned: list[str] = []
    real_launch = services.launch_service

    def launch(name: str, *args, **kwargs):
        spawned.append(name)
        return real_launch(name, *args, **kwargs)

    monkeypatch.setattr(services, "launch_service", launch)
    with pytest.raises(ServiceStartError, match="firestore exited with code 4"):
        services.up(tmp_path, services=("firestore", "gcs", "monitoring"), log=lambda _: None)
    assert spawned == ["firestore", "gcs", "monitoring"]  # all spawned before the failure
    assert json.loads((tmp_path / "state.json").read_text())["services"] == {}
    assert [p for p in _children() if p.pid not in before] == []


def _children():
    """Sandbox server processes currently alive on this machine started from tmp dirs."""
    import psutil

    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "metric_service" in cmd or "fake-gcs-server" in cmd:
            out.append(proc)
    return out
