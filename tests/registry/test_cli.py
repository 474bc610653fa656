"""``ctscan-ops registry ...`` end to end through the real entry point and emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import torch

from ctscan_ops.cli import main

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _report(f1: float) -> dict:
    names = ["adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma", "normal"]
    return {
        "dataset": "h",
        "n": 100,
        "macro_f1": f1,
        "accuracy": f1,
        "latency_p95_ms": 1.0,
        "per_class": {n: {"recall": f1} for n in names},
    }


@pytest.fixture()
def versions(store):
    out = []
    for i, f1 in enumerate([0.5, 0.4, 0.8, 0.9]):
        rec = store.register(
            {"w": torch.full((2,), float(i))},
            architecture="linear_probe",
            created_at=T0 + timedelta(hours=i),
        )
        store.put_evaluation(rec.version, _report(f1))
        out.append(rec.version)
    return out


def run(capsys, store, *args: str) -> tuple[int, str, str]:
    code = main(["registry", "--bucket", store.bucket_name, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_promote_gate_rollback_and_errors(capsys, store, versions) -> None:
    v1, v2, v3, v4 = versions
    code, out, err = run(capsys, store, "promote", v1)
    assert code == 0 and f"champion -> {v1} (seq 1, was None)" in err
    doc = json.loads(out)
    assert (doc["alias"], doc["version"], doc["seq"], doc["previous_version"]) == (
        "champion",
        v1,
        1,
        None,
    )
    assert doc["serving_checkpoint"].startswith(f"gs://{store.bucket_name}/")

    code, _, err = run(capsys, store, "promote", v2)  # worse: gate refuses, nothing moves
    assert code == 1 and "promotion refused" in err and "macro-F1 0.4000" in err
    assert store.get_alias("champion").version == v1

    code, _, err = run(capsys, store, "promote", v2, "--skip-gate")
    assert code == 2 and "--skip-gate needs --reason" in err

    code, _, err = run(capsys, store, "promote", v3, "--expected-generation", "1")
    assert code == 1 and "precondition lost" in err and v1 in err

    code, out, _ = run(capsys, store, "promote", v3, "--reason", "better")
    doc = json.loads(out)
    assert code == 0 and (doc["version"], doc["seq"], doc["previous_version"]) == (v3, 2, v1)

    blob = store.bucket.blob(store.get_version(v4).checkpoint_key)  # tamper with v4
    data = bytearray(blob.download_as_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.upload_from_string(bytes(data))
    code, _, err = run(capsys, store, "promote", v4)
    assert code == 1 and "checksum mismatch" in err and v4 in err
    assert store.get_alias("champion").version == v3

    code, out, err = run(capsys, store, "rollback")
    assert code == 0 and f"rolled back to {v1} (from {v3})" in err
    doc = json.loads(out)
    assert (doc["version"], doc["evidence"]["rolled_back_from"]) == (v1, v3)
    assert store.serving_checkpoint_uri().endswith(store.get_version(v1).sha256 + ".pt")

    code, out, _ = run(capsys, store, "list")
    rows = json.loads(out)
    assert code == 0 and [r["version"] for r in rows] == versions
    assert {r["version"]: r["aliases"] for r in rows}[v1] == ["champion"]

    code, out, _ = run(capsys, store, "show", "champion", "--verify")
    doc = json.loads(out)
    assert code == 0 and "verified" in doc and doc["history"][-1]["reason"] == "rollback"


def test_cli_unknown_version_and_alias(capsys, store, versions) -> None:
    code, _, err = run(capsys, store, "show", "20990101T000000-deadbeef")
    assert code == 2 and "unknown version '20990101T000000-deadbeef'" in err
    code, _, err = run(capsys, store, "promote", "nonsense")
    assert code == 2 and "unknown version 'nonsense'" in err
    code, _, err = run(capsys, store, "rollback")
    assert code == 2 and "nothing to roll back" in err
    code, _, err = run(capsys, store, "show", "champion")
    assert code == 2 and "alias 'champion' is not set" in err
