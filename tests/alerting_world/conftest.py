"""Fixtures for the alerting world tests: a small world, an artifact store, a WorldContext."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from ctscan_ops.sandbox.worlds import metric_world as mw

DAY = 86_400
# A fixed world end (a UTC midnight), so tests never depend on today's date.
WORLD_END = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())


@pytest.fixture(scope="session")
def small_world() -> mw.MetricWorld:
    """Three days of both services (enough for every series shape; few incidents fit)."""
    return mw.build_world(1234, WORLD_END - 3 * DAY, WORLD_END)


@pytest.fixture(scope="session")
def prod_world_14d() -> mw.MetricWorld:
    """Fourteen days of prod with the full incident plan (every kind the catalog targets)."""
    return mw.generate_metric_world(
        np.random.default_rng(7), WORLD_END - 14 * DAY, WORLD_END, services=(mw.PROD,)
    )


@pytest.fixture()
def artifact_store(gcs_emulator: str):
    """An ArtifactStore on a fresh bucket of the GCS emulator."""
    from ctscan_ops.resources.storage import ArtifactStore, make_storage_client

    bucket = f"alerting-world-{uuid.uuid4().hex[:10]}"
    make_storage_client("ctscan-test", gcs_emulator).create_bucket(bucket)
    return ArtifactStore(bucket=bucket, project="ctscan-test", endpoint=gcs_emulator)


@pytest.fixture()
def world_settings(tmp_path: Path, gcs_emulator: str, metric_service: str):
    """Sandbox settings on a private sandbox dir, a fresh artifacts bucket and the emulators."""
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources.storage import make_storage_client

    bucket = f"world-artifacts-{uuid.uuid4().hex[:10]}"
    make_storage_client("ctscan-test", gcs_emulator).create_bucket(bucket)
    return get_settings(
        {
            "CTSCAN_MODE": "sandbox",
            "CTSCAN_SANDBOX_DIR": str(tmp_path / "sandbox"),
            "CTSCAN_PROJECT_ID": f"world-{uuid.uuid4().hex[:8]}",
            "CTSCAN_ARTIFACTS_BUCKET": bucket,
            "STORAGE_EMULATOR_HOST": gcs_emulator,
            "CTSCAN_MONITORING_ENDPOINT": metric_service,
        }
    )


def make_ctx(settings, seed: int, days: int):
    from ctscan_ops.sandbox.world import WorldContext

    end = datetime.fromtimestamp(WORLD_END, tz=UTC)
    return WorldContext(
        seed=seed,
        start=end - timedelta(days=days),
        end=end,
        data_dir=settings.data_dir,
        settings=settings,
        progress=lambda _msg: None,
    )
