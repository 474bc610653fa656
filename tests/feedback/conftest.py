"""Fixtures for the feedback tests: per-test Firestore clients, a cuttable TCP proxy, small DBs.

The emulator itself is the shared session fixture ``firestore_emulator`` (tests/conftest.py).
Isolation between tests comes from a distinct project id per test (``fs_client``), which the
emulator keeps fully apart.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctscan_ops.sandbox.worlds.feedback import generate_feedback_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project_id() -> str:
    return f"fb-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def fs_client(firestore_emulator, project_id):
    from google.cloud import firestore

    return firestore.Client(project=project_id)


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 that can be cut (``down``) and restored (``up``).

    Simulates the Firestore endpoint going away mid-run while the emulator (and its data)
    keeps running, so the test can inspect exactly what was committed.
    """

    def __init__(self, upstream: str):
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            srv, self._server = self._server, None
            conns, self._conns = self._conns, []
        if srv is not None:
            srv.close()
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not srv:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def tcp_proxy(firestore_emulator):
    proxy = TcpProxy(str(firestore_emulator))
    proxy.up()
    yield proxy
    proxy.down()


START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2025, 10, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def world_db(tmp_path_factory) -> tuple[Path, dict]:
    """A 1,000-row world database (all bad-row kinds present); read-only for tests."""
    path = tmp_path_factory.mktemp("world") / "feedback.db"
    summary = generate_feedback_db(path, seed=20251128, n_rows=1000, start=START, end=END)
    return path, summary


@pytest.fixture(scope="session")
def small_db(tmp_path_factory) -> tuple[Path, dict]:
    """A 600-row world database for the many-trial fault injection test."""
    path = tmp_path_factory.mktemp("world") / "small.db"
    summary = generate_feedback_db(path, seed=99, n_rows=600, start=START, end=END)
    return path, summary
