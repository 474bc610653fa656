"""Tuning proposals in the artifact store (GCS emulator) and ``ctscan-ops alerts propose``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctscan_ops.alerting.proposal import (
    ProposalConflict,
    ProposalError,
    apply_proposal,
    build_proposal,
    content_sha256,
    get_proposal,
    list_report_ids,
    put_proposal,
)

BASE = '{\n  "alert_overrides": {\n    "high_cpu": {\n      "threshold_value": 0.9\n    }\n  }\n}\n'
PROPOSED = (
    '{\n  "alert_overrides": {\n    "high_cpu": {\n      "threshold_value": 0.9\n    },\n'
    '    "high_latency": {\n      "duration": "180s",\n      "threshold_value": 1800\n    }\n'
    "  }\n}\n"
)
DOCS = {
    "high_latency": {
        "current": {"threshold": 2000, "duration_s": 300},
        "recommended": {"threshold": 1800, "duration_s": 180, "reason": None},
        "holdout": {"false_discovery_rate": 0.125, "recall": 0.9, "days": 4.0, "extra": 1},
        "readiness": {"verdict": "not_enough_data", "reasons": ["holdout covers 4.0 days"]},
    }
}
TARGET = "terraform/environments/prod/alerts.auto.tfvars.json"


@pytest.fixture()
def store(gcs_emulator):
    from ctscan_ops.resources.storage import ArtifactStore, make_storage_client

    bucket = f"artifacts-{uuid.uuid4().hex[:10]}"
    make_storage_client("test-project", gcs_emulator).create_bucket(bucket)
    return ArtifactStore(bucket=bucket, project="test-project", endpoint=gcs_emulator)


def make(base=BASE, proposed=PROPOSED, at=datetime(2026, 12, 1, 10, 15, tzinfo=UTC)):
    return build_proposal(
        environment="prod",
        base_text=base,
        proposed_text=proposed,
        report_markdown="### Threshold tuning, `prod`\n| holdout FDR | 0.125 |",
        diff_markdown="| `high_latency` | threshold_value | 2000 | **1800** | tuned |",
        docs=DOCS,
        days=["2026-11-20", "2026-11-30"],
        catalog_hash="abcdef0123456789",
        created_at=at,
        source={"dagster_run_id": "run-1"},
    )


def test_roundtrip_latest_and_incomplete_ignored(store) -> None:
    older = make(at=datetime(2026, 11, 30, tzinfo=UTC))
    newer = make()
    assert older.report_id < newer.report_id and newer.report_id.startswith("20261201T101500Z-")
    for p in (older, newer):
        uris = put_proposal(store, p)
        assert uris["pr"].endswith(f"alerting/proposals/prod/{p.report_id}/PR.md")
    # a crashed writer leaves files without a manifest: never listed
    store.put_bytes("alerting/proposals/prod/20991231T000000Z-deadbeef/PR.md", b"half")
    assert list_report_ids(store, "prod") == [older.report_id, newer.report_id]
    got = get_proposal(store, "prod")
    assert got == newer
    assert got.base_sha256 == content_sha256(BASE) and got.changed
    assert got.evidence["high_latency"]["holdout"] == {
        "false_discovery_rate": 0.125,
        "recall": 0.9,
        "days": 4.0,
    }
    assert "holdout covers 4.0 days" in got.evidence["high_latency"]["reasons"]
    assert "0.125" in got.pr_markdown and newer.report_id in got.pr_markdown
    assert TARGET in got.pr_markdown
    assert get_proposal(store, "prod", older.report_id) == older
    with pytest.raises(ProposalError, match="no proposal for staging"):
        get_proposal(store, "staging")


def test_tampered_proposal_is_refused(store) -> None:
    p = make()
    put_proposal(store, p)
    store.put_bytes(f"alerting/proposals/prod/{p.report_id}/alerts.auto.tfvars.json", b"{}")
    with pytest.raises(ProposalError, match="does not match the sha256"):
        get_proposal(store, "prod")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.parametrize("base", [BASE, None])
def test_patch_applies_with_git(tmp_path: Path, base: str | None) -> None:
    p = make(base=base)
    target = tmp_path / TARGET
    target.parent.mkdir(parents=True)
    if base is not None:
        target.write_text(base)
    (tmp_path / "change.patch").write_text(p.patch)
    subprocess.run(["git", "apply", "change.patch"], cwd=tmp_path, check=True)
    assert target.read_text() == PROPOSED


def test_apply_refuses_changed_base(tmp_path: Path) -> None:
    p = make()
    target = tmp_path / TARGET
    target.parent.mkdir(parents=True)
    target.write_text(BASE)
    assert apply_proposal(p, tmp_path) == (target, True)
    assert target.read_text() == PROPOSED
    assert apply_proposal(p, tmp_path) == (target, False)  # idempotent
    target.write_text(BASE.replace("0.9", "0.95"))
    with pytest.raises(ProposalConflict, match="changed since proposal"):
        apply_proposal(p, tmp_path)
    assert "0.95" in target.read_text()  # untouched


def _cli(store, *argv: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CTSCAN_MODE": "sandbox",
        "CTSCAN_ARTIFACTS_BUCKET": store.bucket,
        "STORAGE_EMULATOR_HOST": store.endpoint,
        "CTSCAN_SANDBOX_DIR": "/nonexistent-ctscan-sandbox",
    }
    return subprocess.run(
        [sys.executable, "-m", "ctscan_ops.cli", "alerts", "propose", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_prints_applies_and_refuses(store, tmp_path: Path) -> None:
    p = make()
    put_proposal(store, p)
    out = _cli(store, "prod")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["report_id"] == p.report_id and doc["tfvars"] == PROPOSED
    assert doc["patch"] == p.patch and doc["target"] == TARGET and doc["changed"] is True
    assert doc["uri"] == f"gs://{store.bucket}/ctscan-ops/alerting/proposals/prod/{p.report_id}/"

    target = tmp_path / TARGET
    target.parent.mkdir(parents=True)
    target.write_text(BASE)
    out = _cli(store, "prod", "--apply", str(tmp_path), "--report-id", p.report_id)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["applied"] == {"path": str(target), "written": True}
    assert target.read_text() == PROPOSED

    target.write_text("{}\n")
    out = _cli(store, "prod", "--apply", str(tmp_path))
    assert out.returncode == 2 and out.stdout == ""
    assert "changed since proposal" in out.stderr and str(target) in out.stderr
    assert target.read_text() == "{}\n"

    out = _cli(store, "dev")
    assert out.returncode == 2 and "no proposal for dev" in out.stderr


def test_tuning_output_writes_no_file_in_gcp_mode(tmp_path: Path) -> None:
    from ctscan_ops.alerting.tuning_assets import TuningOutput
    from ctscan_ops.config import REPO_ROOT, get_settings

    env = {"CTSCAN_DATA_DIR": str(tmp_path), "CTSCAN_MODE": "gcp", "CTSCAN_PROJECT_ID": "p"}
    gcp = TuningOutput.for_settings(get_settings(env))
    assert gcp.mirror_dir() is None
    assert gcp.base_dir() == REPO_ROOT / "terraform"  # read as the base only
    sandbox = TuningOutput.for_settings(get_settings({**env, "CTSCAN_MODE": "sandbox"}))
    assert sandbox.mirror_dir() == tmp_path.resolve() / "terraform"
