"""Shared resources, built once from the settings for either mode.

Every domain asks for resources by these keys; the mode only changes where they point.
"""

from __future__ import annotations

from typing import Any

from dagster_gcp import GCSPickleIOManager

from ctscan_ops.config import Settings, get_settings
from ctscan_ops.resources.firestore import FirestoreResource
from ctscan_ops.resources.monitoring import (
    GaugePoint,
    MonitoringResource,
    already_written,
    publish_gauges,
)
from ctscan_ops.resources.settings import SettingsResource
from ctscan_ops.resources.sqlite import SQLiteFeedbackResource
from ctscan_ops.resources.storage import (
    ArtifactStore,
    EmulatorAwareGCSResource,
    make_storage_client,
)

__all__ = [
    "ArtifactStore",
    "EmulatorAwareGCSResource",
    "FirestoreResource",
    "GaugePoint",
    "MonitoringResource",
    "SQLiteFeedbackResource",
    "SettingsResource",
    "already_written",
    "build_resources",
    "make_storage_client",
    "publish_gauges",
]


def build_resources(settings: Settings | None = None) -> dict[str, Any]:
    """The resource dict for ``dg.Definitions``; creates no client (lazy)."""
    s = settings or get_settings()
    ep = s.endpoints
    gcs = EmulatorAwareGCSResource(project=s.project_id, endpoint=ep.gcs_url)
    return {
        "gcs": gcs,
        "io_manager": GCSPickleIOManager(
            gcs=gcs, gcs_bucket=s.artifacts_bucket, gcs_prefix="dagster-io"
        ),
        "artifacts": ArtifactStore(
            bucket=s.artifacts_bucket, project=s.project_id, endpoint=ep.gcs_url
        ),
        "firestore": FirestoreResource(project=s.project_id, emulator_host=ep.firestore_host),
        "monitoring": MonitoringResource(project=s.project_id, endpoint=ep.monitoring_address),
        "feedback_sqlite": SQLiteFeedbackResource(path=str(s.feedback_sqlite_path)),
        "settings": SettingsResource.from_settings(s),
    }
