"""Starting and stopping local servers so that nothing is ever left behind.

Every server runs in its own session (process group): the gcloud launcher is a shell script with
a java child, and ``dagster dev`` forks its daemon and webserver, so only killing the whole group
stops them all. PIDs and process-group ids are recorded by the caller and killed by id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path


class ServiceStartError(RuntimeError):
    """A local server did not come up; the message says which, why, and the log's tail."""


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str, expect: str | None = None, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(256).decode(errors="replace")
            return resp.status == 200 and (expect is None or expect in body)
    except OSError:
        return False


def spawn(
    cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start ``cmd`` in a new session with stdout/stderr to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 (owned by the child for its lifetime)
    try:
        return subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    finally:
        log.close()


def log_tail(log_path: Path, lines: int = 15) -> str:
    try:
        text = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(empty log)"


def wait_until_ready(
    name: str,
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    log_path: Path,
    timeout_s: float,
) -> None:
    """Poll ``ready`` until it holds; fail fast if the process dies, with the log's tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise ServiceStartError(
                f"{name} exited with code {code} before becoming ready; log {log_path}:\n"
                f"{log_tail(log_path)}"
            )
        if ready():
            return
        time.sleep(0.1)
    raise ServiceStartError(
        f"{name} was not ready after {timeout_s:.0f}s; log {log_path}:\n{log_tail(log_path)}"
    )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return any(pid_alive(pid) for pid in _group_members(pgid))


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def stop_group(pgid: int, timeout_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and group_alive(pgid):
        time.sleep(0.05)


def reap(proc: subprocess.Popen) -> None:
    """Collect a child we started so it does not linger as a zombie."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
