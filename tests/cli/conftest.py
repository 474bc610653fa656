"""Fixtures for the command-line contract tests: hostile files, a closed port, a clean env."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import pytest

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


def closed_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def clean_env(monkeypatch, tmp_path: Path) -> dict[str, Path]:
    """Sandbox mode in a private sandbox dir, with no emulator endpoint anywhere."""
    sandbox = tmp_path / "sandbox"
    data = tmp_path / "data"
    for var in (
        "STORAGE_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "CTSCAN_MONITORING_ENDPOINT",
        "CTSCAN_ENVIRONMENT",
        "CTSCAN_FEEDBACK_DB",
        "CTSCAN_DEBUG",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CTSCAN_MODE", "sandbox")
    monkeypatch.setenv("CTSCAN_SANDBOX_DIR", str(sandbox))
    monkeypatch.setenv("CTSCAN_DATA_DIR", str(data))
    return {"sandbox": sandbox, "data": data}


@pytest.fixture()
def down_services(monkeypatch, clean_env) -> dict[str, Path]:
    """Every emulator endpoint points at a closed 127.0.0.1 port (the sandbox is down)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("CTSCAN_MONITORING_ENDPOINT", f"127.0.0.1:{closed_port()}")
    return clean_env


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, str]:
    """Good and hostile input files, by name."""
    d = tmp_path / "in"
    d.mkdir()
    out: dict[str, Path] = {}

    def put(name: str, content: str | bytes) -> None:
        p = d / name
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        out[name] = p

    rows = "".join(f"{T0 + 60 * i},{(50.0 if 20 <= i < 30 else 1.0)}\n" for i in range(60))
    put("series.csv", "timestamp,value\n" + rows)
    put("huge.csv", "timestamp,value\n" + "".join(f"{T0 + 20 * i},1e308\n" for i in range(30)))
    put("labels.json", json.dumps([{"start": T0 + 1200, "end": T0 + 1800}]))
    put("deep.json", deep_json(100_000))
    put("deep_obj.json", '{"a":' * 100_000 + "1" + "}" * 100_000)
    put("deep.yaml", "[" * 100_000 + "]" * 100_000)
    put("empty.json", "")
    put("empty.csv", "")
    put("binary.bin", b"\xff\xfe\x00\x01binary\x00\x80" * 64)
    put("binary.json", b"\xff\xfe\x00\x01binary\x00\x80" * 64)
    put("labels_object.json", json.dumps({"start": T0, "end": T0 + 60}))
    put("labels_huge.json", json.dumps([{"start": 1e300, "end": 1e300}]))
    put("labels_types.json", json.dumps([{"start": True, "end": [1, 2]}]))
    put("labels_strings.json", json.dumps(["yesterday"]))
    put("labels_nan.json", '[{"start": NaN, "end": 1}]')
    put("tf_int_version.json", json.dumps({"format_version": "1.2", "terraform_version": 5}))
    put(
        "tf_int_version_plan.json",
        json.dumps({"format_version": "1.2", "terraform_version": 1.9, "resource_changes": []}),
    )
    put("tf_list.json", "[1, 2, 3]")
    put("tf_nan.json", '{"format_version": "1.2", "values": {"x": NaN}, "serial": Infinity}')
    put("tf_truncated.json", '{"format_version": "1.2", "values": {"root_module": ')
    put("not_sqlite.db", "id,user_note\n1,hello\n")
    put("text.txt", "not a directory\n")
    wrong = d / "wrong_schema.db"
    with sqlite3.connect(wrong) as conn:
        conn.execute("CREATE TABLE other (x INTEGER)")
    out["wrong_schema.db"] = wrong
    good = d / "feedback.db"
    with sqlite3.connect(good) as conn:
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, user_note TEXT)")
    out["feedback.db"] = good
    (d / "a_directory").mkdir()
    out["a_directory"] = d / "a_directory"
    out["missing"] = d / "does-not-exist.json"
    return {k: str(v) for k, v in out.items()}
