"""Generation-guarded GCS read/write against the GCS emulator (fake-gcs-server)."""

from __future__ import annotations

import pytest

from ctscan_ops.common.gcs_cas import read_with_generation, write_if_generation
from ctscan_ops.resources.storage import make_storage_client


@pytest.fixture()
def bucket(gcs_emulator):
    client = make_storage_client("cas-test", gcs_emulator)
    b = client.bucket("cas-test-bucket")
    if not b.exists():
        b = client.create_bucket("cas-test-bucket")
    return b


def test_create_once_then_swap_only_from_the_generation_read(bucket):
    name = "cas/doc.json"
    assert read_with_generation(bucket, name) is None
    g1 = write_if_generation(bucket, name, b"one", generation=0)
    assert g1 is not None
    assert write_if_generation(bucket, name, b"again", generation=0) is None  # exists already
    assert read_with_generation(bucket, name) == (b"one", g1)
    g2 = write_if_generation(bucket, name, b"two", generation=g1)
    assert g2 is not None and g2 != g1
    # a writer still holding the old generation loses and changes nothing
    assert write_if_generation(bucket, name, b"stale", generation=g1) is None
    assert read_with_generation(bucket, name) == (b"two", g2)
