"""A throwaway PostgreSQL 15 server and Dagster instances built from deploy/dagster.prod.yaml.

The server is the Debian ``postgresql-15`` one (``.ci/run`` installs it where missing):
``initdb`` into a temp dir owned by the ``postgres`` user (initdb refuses to run as root), the
server bound to a free 127.0.0.1 port with its unix socket inside that temp dir, password
authentication over TCP (so the instance's password really is used), and at teardown a fast
shutdown of the postmaster by its PID. Each test gets its own database.
"""

from __future__ import annotations

import copy
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROD_YAML = REPO / "deploy" / "dagster.prod.yaml"
PG_BIN = Path(os.environ.get("CTSCAN_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The only keys of deploy/dagster.prod.yaml a test may change: where the database is.
CONNECTION_KEYS = frozenset({"hostname", "port", "username", "password", "db_name"})
# A password that needs URL quoting: the instance must build a correct connection string.
PG_PASSWORD = "s3cret:/@pw"


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str
    socket_dir: Path
    pid: int

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname
        )

    def create_database(self) -> str:
        name = f"dagster_{uuid.uuid4().hex[:10]}"
        conn = self.connect()
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the ``postgres`` user when root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_pid(pid: int, timeout_s: float = 30.0) -> None:
    """SIGINT = PostgreSQL's fast shutdown; SIGKILL only if it does not exit in time."""
    if not _pid_alive(pid):
        return
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        msg = f"PostgreSQL 15 server not installed ({PG_BIN}/initdb): apt-get install postgresql-15"
        if os.environ.get("CTSCAN_REQUIRE_POSTGRES") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    root = Path(tempfile.mkdtemp(prefix="ctscan-pg-"))
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, sock, log = root / "data", root / "sock", root / "postgres.log"
    user = "dagster"
    port = _free_port()
    pid = None
    try:
        pwfile = root / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        pwfile.unlink()
        sock.mkdir()
        # TLS like Cloud SQL's ENCRYPTED_ONLY: a throwaway self-signed certificate, and TCP
        # clients without TLS are rejected (hostssl), so sslmode=require is really exercised.
        subprocess.run(
            [
                *("openssl", "req", "-new", "-x509", "-days", "2", "-nodes"),
                *("-subj", "/CN=127.0.0.1", "-keyout", str(data / "server.key")),
                *("-out", str(data / "server.crt")),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        (data / "server.key").chmod(0o600)
        hba = data / "pg_hba.conf"
        hba.write_text(re.sub(r"(?m)^host(\s)", r"hostssl\1", hba.read_text()))
        if os.geteuid() == 0:
            for path in (sock, data / "server.key", data / "server.crt", hba):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        options = f"-h 127.0.0.1 -p {port} -k {sock} -c fsync=off -c max_connections=100 -c ssl=on"
        subprocess.run(
            _as_postgres(
                [
                    *(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log)),
                    *("-o", options, "-w", "-t", "60", "start"),
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        yield PgServer("127.0.0.1", port, user, PG_PASSWORD, sock, pid)
    finally:
        if pid is not None:
            _stop_pid(pid)
        shutil.rmtree(root, ignore_errors=True)


def load_prod_config() -> dict[str, Any]:
    return yaml.safe_load(PROD_YAML.read_text())


def with_connection(config: dict[str, Any], pg: PgServer, db_name: str) -> dict[str, Any]:
    """deploy/dagster.prod.yaml with only the connection values changed."""
    out = copy.deepcopy(config)
    conn = out["storage"]["postgres"]["postgres_db"]
    conn.update(
        hostname=pg.host, port=pg.port, username=pg.user, password=pg.password, db_name=db_name
    )
    return out


def changed_paths(a: Any, b: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Key paths whose values differ between two nested dicts (for checking the substitution)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[tuple[str, ...]] = set()
        for k in set(a) | set(b):
            out |= changed_paths(a.get(k), b.get(k), (*prefix, k))
        return out
    return set() if a == b else {prefix}


@pytest.fixture
def pg_database(postgres_server: PgServer) -> str:
    return postgres_server.create_database()


@pytest.fixture
def prod_env(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment the prod file reads besides the connection: a compute-log bucket in the
    fake-gcs-server emulator (GCSComputeLogManager really uploads there) and a namespace."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = f"compute-logs-{uuid.uuid4().hex[:8]}"
    storage.Client(project="ctscan-test", credentials=AnonymousCredentials()).create_bucket(bucket)
    env = {
        "DAGSTER_COMPUTE_LOG_BUCKET": bucket,
        "DAGSTER_K8S_NAMESPACE": "dagster-test",
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "GOOGLE_CLOUD_PROJECT": "ctscan-test",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    return home


def write_instance_yaml(home: Path, config: dict[str, Any]) -> Path:
    path = home / "dagster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
