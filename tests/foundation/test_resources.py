"""Artifact store, GCS IO manager and custom-metric publishing against the real emulators."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster_gcp import GCSPickleIOManager

from ctscan_ops.resources import ArtifactStore, EmulatorAwareGCSResource, make_storage_client
from ctscan_ops.resources.monitoring import GaugePoint, plan_write_requests, publish_gauges


@pytest.fixture()
def bucket(gcs_emulator: str) -> str:
    name = f"test-{uuid.uuid4().hex[:10]}"
    make_storage_client("ctscan-test", gcs_emulator).create_bucket(name)
    return name


def test_artifact_store_round_trip(gcs_emulator: str, bucket: str):
    store = ArtifactStore(bucket=bucket, project="ctscan-test", endpoint=gcs_emulator)
    uri = store.put_json("reports/2026-11-01/summary.json", {"drift_share": 0.2})
    assert uri == f"gs://{bucket}/ctscan-ops/reports/2026-11-01/summary.json"
    store.put_bytes("plots/a.png", b"\x89PNG fake", content_type="image/png")
    assert store.get_json("reports/2026-11-01/summary.json") == {"drift_share": 0.2}
    assert store.exists("plots/a.png") and not store.exists("plots/b.png")
    assert sorted(store.list_keys("")) == ["plots/a.png", "reports/2026-11-01/summary.json"]
    url = store.browser_url("plots/a.png")
    assert url.startswith(gcs_emulator) and "plots%2Fa.png" in url
    import urllib.request

    with urllib.request.urlopen(url) as resp:  # the UI link really serves the object
        assert resp.read() == b"\x89PNG fake"


def test_gcs_io_manager_stores_asset_values_in_the_emulator(gcs_emulator: str, bucket: str):
    @dg.asset
    def upstream() -> dict:
        return {"n": 41}

    @dg.asset
    def downstream(upstream: dict) -> int:
        return upstream["n"] + 1

    gcs = EmulatorAwareGCSResource(project="ctscan-test", endpoint=gcs_emulator)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [upstream, downstream],
            instance=instance,
            resources={
                "io_manager": GCSPickleIOManager(
                    gcs=gcs, gcs_bucket=bucket, gcs_prefix="dagster-io"
                )
            },
        )
    assert result.success and result.output_for_node("downstream") == 42
    names = [b.name for b in make_storage_client("p", gcs_emulator).list_blobs(bucket)]
    assert "dagster-io/upstream" in names and "dagster-io/downstream" in names


def test_write_planning_follows_the_api_rules():
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    points = [
        GaugePoint("custom.googleapis.com/x", i, t0 + timedelta(minutes=i % 3), {"k": str(i // 3)})
        for i in range(450)
    ]
    requests = plan_write_requests(points)
    assert sum(len(r) for r in requests) == 450
    for request in requests:
        keys = [p.series_key for p in request]
        assert len(keys) == len(set(keys)) and len(request) <= 200
    # a series' points go out in time order across requests
    order = [p.end_time for r in requests for p in r if p.labels["k"] == "5"]
    assert order == sorted(order)


def test_publish_gauges_through_the_real_client(monitoring_client):
    mtype = f"custom.googleapis.com/ctscan/test_{uuid.uuid4().hex[:6]}"
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    points = [
        GaugePoint(mtype, 0.1 * d, t0 + timedelta(days=d), {"environment": "prod"})
        for d in range(3)
    ]
    points.append(GaugePoint(mtype, 7, t0, {"environment": "dev"}))
    assert publish_gauges(monitoring_client, "ctscan-test", points) == 3
    got = monitoring_client.list_time_series(
        request={
            "name": "projects/ctscan-test",
            "filter": f'metric.type="{mtype}"',
            "interval": {"start_time": t0 - timedelta(days=1), "end_time": t0 + timedelta(days=5)},
        }
    )
    by_env = {ts.metric.labels["environment"]: ts for ts in got}
    assert [round(p.value.double_value, 6) for p in by_env["prod"].points] == [0.2, 0.1, 0.0]
    assert by_env["dev"].points[0].value.int64_value == 7
