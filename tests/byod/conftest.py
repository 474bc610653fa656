"""Bring-your-own-data fixtures: a project's settings pointing at fresh emulator buckets.

The code location is built the way a deployment builds it: ``Settings`` from the environment
(``get_settings``), then ``build_defs(settings)``: settings reach every domain through it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest


@dataclass(frozen=True)
class Project:
    settings: object  # ctscan_ops.config.Settings
    env: dict[str, str]
    tmp: Path

    @property
    def id(self) -> str:
        return self.settings.project_id


def code_location(settings: object) -> dg.Definitions:
    """The project's Definitions (see module docstring)."""
    from ctscan_ops.definitions import build_defs

    return build_defs(settings)


@pytest.fixture()
def project(gcs_emulator, firestore_emulator, metric_service, tmp_path) -> Iterator[Project]:
    """Settings of a fresh project (own buckets, Firestore project, metric project)."""
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.storage import make_storage_client

    pid = f"byod-{uuid.uuid4().hex[:8]}"
    env = {
        # the emulators stand in for GCP; a real project sets CTSCAN_MODE=gcp and uses ADC
        "CTSCAN_MODE": "sandbox",
        "CTSCAN_PROJECT_ID": pid,
        "CTSCAN_ENVIRONMENT": "prod",
        "CTSCAN_SANDBOX_DIR": str(tmp_path / "no-sandbox-state"),
        "CTSCAN_DATA_DIR": str(tmp_path / "data"),
        "CTSCAN_FEEDBACK_DB": str(tmp_path / "app" / "feedback.db"),
        # a non-default location, to prove the setting reaches model_evaluation
        "CTSCAN_HOLDOUT_URI": f"gs://{pid}-models/datasets/ct-test/",
        "STORAGE_EMULATOR_HOST": str(gcs_emulator),
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "CTSCAN_MONITORING_ENDPOINT": str(metric_service),
    }
    saved = {k: os.environ.get(k) for k in [*env, "CTSCAN_FEEDBACK_BACKEND"]}
    os.environ.pop("CTSCAN_FEEDBACK_BACKEND", None)
    os.environ.update(env)
    try:
        settings = get_settings()
        client = make_storage_client(pid, settings.endpoints.gcs_url)
        for bucket in settings.buckets:
            client.create_bucket(bucket)
        yield Project(settings, env, tmp_path)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        firestore_emulator.reset(pid)
