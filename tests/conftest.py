"""Shared fixtures: the real local stand-ins, started once per test session on 127.0.0.1.

Each server is started through the same code as ``ctscan-ops sandbox up`` and killed by its
process group at the end of the session. Domain fixtures live in ``tests/<domain>/conftest.py``.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctscan_ops.sandbox.processes import stop_group

os.environ.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")
os.environ.setdefault("CTSCAN_MODE", "sandbox")
# Tests use temporary instances (dg.instance_for_test); a DAGSTER_HOME left in the shell (e.g.
# the demo's) must not leak a persistent instance into them.
os.environ.pop("DAGSTER_HOME", None)


@pytest.fixture(scope="session")
def sandbox_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox")


@pytest.fixture(scope="session")
def gcs_emulator(sandbox_tmp: Path) -> Iterator[str]:
    """fake-gcs-server (in-memory); yields its URL and sets STORAGE_EMULATOR_HOST."""
    from ctscan_ops.sandbox.services import start_service

    record = start_service("gcs", sandbox_tmp, in_memory=True)
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = record["endpoint"]
    yield record["endpoint"]
    stop_group(record["pgid"])
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous


@dataclass(frozen=True)
class FirestoreEmulator:
    host: str

    def reset(self, project: str) -> None:
        """Delete every document of ``project`` (the emulator's reset endpoint)."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/(default)/documents"
        req = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    def __str__(self) -> str:
        return self.host


@pytest.fixture(scope="session")
def firestore_emulator(sandbox_tmp: Path) -> Iterator[FirestoreEmulator]:
    """Google's Firestore emulator; yields it (``.host``, ``.reset(project)``)."""
    from ctscan_ops.sandbox.services import start_service

    record = start_service("firestore", sandbox_tmp)
    os.environ["FIRESTORE_EMULATOR_HOST"] = record["endpoint"]
    yield FirestoreEmulator(record["endpoint"])
    stop_group(record["pgid"])
    os.environ.pop("FIRESTORE_EMULATOR_HOST", None)


@pytest.fixture(scope="session")
def metric_service(sandbox_tmp: Path) -> Iterator[str]:
    """The sandbox MetricService on a fresh store, in this process; yields host:port."""
    from ctscan_ops.sandbox.metric_service import build_server
    from ctscan_ops.sandbox.metric_store import MetricStore

    store = MetricStore(sandbox_tmp / "monitoring-session.sqlite3")
    server, port = build_server(store, allow_system_metrics=True)
    server.start()
    address = f"127.0.0.1:{port}"
    os.environ["CTSCAN_MONITORING_ENDPOINT"] = address
    yield address
    server.stop(grace=None)
    store.close()
    os.environ.pop("CTSCAN_MONITORING_ENDPOINT", None)


@pytest.fixture(scope="session")
def monitoring_client(metric_service: str):
    """The real google-cloud-monitoring client, pointed at the sandbox MetricService."""
    from ctscan_ops.resources.monitoring import make_metric_client

    return make_metric_client(metric_service)


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage() -> Iterator[None]:
    """Start every test without a "current" Dagster defs-state storage.

    Each DagsterInstance registers its storage in a context variable and holds it only by a
    weak reference; when an instance made by an earlier test (an ephemeral one inside
    ``dg.materialize``, a fixture's) is gone, a later definitions load in the same thread
    fails with "Attempted to resolve undefined DagsterInstance weakref" (Dagster 1.13.27).
    Tests never share instances, so clearing it is always right.
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield
