"""A generated alerting world behind the sandbox MetricService, with its shadow records.

Shared by ``tests/alerting_speed`` and ``benchmarks/bench_alert_quality.py`` /
``bench_tuning_report.py`` (which import it by path): world -> MetricStore -> real gRPC
MetricService -> real client; GCS is the emulator whose endpoint the caller gives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

END = datetime(2026, 11, 20, tzinfo=UTC)
ENVIRONMENTS = ["prod", "staging"]


@dataclass
class SpeedWorld:
    resources: dict[str, Any]
    days: list[str]
    instance: dg.DagsterInstance


def day_keys(days: int) -> list[str]:
    return [(END - timedelta(days=days - i)).strftime("%Y-%m-%d") for i in range(days)]


@contextlib.contextmanager
def speed_world(root: Path, gcs_endpoint: str, days: int, seed: int = 5) -> Iterator[SpeedWorld]:
    """Generate ``days`` days of the alerting world, backfill ``shadow_incidents`` over them."""
    from ctscan_ops.alerting.assets import incident_register, shadow_incidents
    from ctscan_ops.alerting.settings import AlertingSettings
    from ctscan_ops.alerting.tuning_assets import TuningOutput
    from ctscan_ops.config import get_settings
    from ctscan_ops.resources import ArtifactStore, MonitoringResource, make_storage_client
    from ctscan_ops.sandbox.metric_service import build_server
    from ctscan_ops.sandbox.metric_store import MetricStore
    from ctscan_ops.sandbox.world import generate_world

    settings = get_settings(
        {
            "CTSCAN_SANDBOX_DIR": str(root),
            "STORAGE_EMULATOR_HOST": gcs_endpoint,
            "CTSCAN_PROJECT_ID": f"ctscan-speed-{root.name[-8:].lower()}",
        }
    )
    client = make_storage_client(settings.project_id, gcs_endpoint)
    if not client.bucket(settings.artifacts_bucket).exists():
        client.create_bucket(settings.artifacts_bucket)
    generate_world(
        settings, seed=seed, end=END, days=days, parts=("alerting",), progress=lambda _: None
    )
    store = MetricStore(root / "monitoring.sqlite3")
    server, port = build_server(store)
    server.start()
    resources = {
        "monitoring": MonitoringResource(project=settings.project_id, endpoint=f"127.0.0.1:{port}"),
        "artifacts": ArtifactStore(
            bucket=settings.artifacts_bucket, project=settings.project_id, endpoint=gcs_endpoint
        ),
        "alerting": AlertingSettings(environments=ENVIRONMENTS, min_days=7),
        "tuning_output": TuningOutput(terraform_dir=str(root / "tf")),
    }
    keys = day_keys(days)
    try:
        with dg.instance_for_test() as instance:
            assets = [incident_register, shadow_incidents]
            assert dg.materialize(
                [incident_register], instance=instance, resources=resources
            ).success
            assert dg.materialize(
                assets,
                selection=[shadow_incidents.key],
                instance=instance,
                resources=resources,
                tags={
                    "dagster/asset_partition_range_start": keys[0],
                    "dagster/asset_partition_range_end": keys[-1],
                },
            ).success
            yield SpeedWorld(resources, keys, instance)
    finally:
        server.stop(None)
        store.close()


def run_alert_quality(world: SpeedWorld, **config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Materialize ``alert_quality`` with ``config``; returns (report JSON, metadata values)."""
    from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents

    res = dg.materialize(
        [incident_register, shadow_incidents, alert_quality],
        selection=[alert_quality.key],
        instance=world.instance,
        resources=world.resources,
        run_config={"ops": {"alert_quality": {"config": config}}},
    )
    assert res.success
    md = res.get_asset_materialization_events()[0].materialization.metadata
    report = world.resources["artifacts"].get_json(md["report_key"].value)
    return report, {k: v.value for k, v in md.items()}
