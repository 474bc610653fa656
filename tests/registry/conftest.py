"""Registry test fixtures: a fresh bucket per test on the shared fake-gcs-server, a tiny
stand-in dataset for fast model tests, and one staged sandbox world (real phantoms) per session.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def gcs_url(gcs_emulator: str) -> str:
    """Endpoint of the shared fake-gcs-server (tests/conftest.py)."""
    return str(gcs_emulator)


@pytest.fixture()
def gcs_client(gcs_url: str):
    from ctscan_ops.resources.storage import make_storage_client

    return make_storage_client("test-project", gcs_url)


@pytest.fixture()
def bucket_name(gcs_client) -> str:
    name = f"models-{uuid.uuid4().hex[:12]}"
    gcs_client.create_bucket(name)
    return name


@pytest.fixture()
def store(gcs_client, bucket_name):
    from ctscan_ops.registry.store import RegistryStore

    return RegistryStore(gcs_client, bucket_name)


def standin_dataset(n: int, seed: int, image_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Tiny stand-in for phantoms: a bright disc / ring / square at a random place, or nothing."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=n).astype(np.int64)
    yy, xx = np.mgrid[:image_size, :image_size]
    images = rng.normal(0.0, 0.3, size=(n, image_size, image_size)).astype(np.float32)
    r = image_size // 6
    for i, k in enumerate(labels):
        cy, cx = rng.integers(r + 2, image_size - r - 2, size=2)
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        if k == 0:
            mask = d2 <= r**2
        elif k == 1:
            mask = (d2 <= r**2) & (d2 >= (r - 2) ** 2)
        elif k == 2:
            mask = (abs(yy - cy) <= r) & (abs(xx - cx) <= r)
        else:
            continue
        images[i][mask] += 1.5
    return images, labels


@pytest.fixture(scope="session")
def tiny_data() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": standin_dataset(256, 1), "test": standin_dataset(128, 2)}


@pytest.fixture()
def marker_path(tmp_path: Path) -> Path:
    path = tmp_path / "pwned"
    assert not path.exists()
    return path


@pytest.fixture(scope="session")
def staged_world(gcs_emulator: str):
    """The registry world at its default size, staged once: (store, summary, start)."""
    from datetime import UTC, datetime

    from ctscan_ops.registry.store import RegistryStore
    from ctscan_ops.registry.train import torch_threads
    from ctscan_ops.resources.storage import make_storage_client
    from ctscan_ops.sandbox.worlds.registry import stage_registry

    client = make_storage_client("test-project", gcs_emulator)
    name = f"models-world-{uuid.uuid4().hex[:8]}"
    client.create_bucket(name)
    store = RegistryStore(client, name)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    with torch_threads(1):
        summary = stage_registry(store, seed=11, start=start, progress=lambda m: None)
    return store, summary, start
