"""The deployment settings as a Dagster resource: how ``Settings`` reaches assets and sensors.

``ctscan_ops.definitions`` reads the environment once (:func:`ctscan_ops.config.get_settings`)
and builds this resource from it; assets and sensors take it as the ``settings`` resource and
never read ``os.environ`` or call ``get_settings()`` themselves, so a test (or another code
location) decides every value by building the resource, not by patching the environment.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from ctscan_ops.config import DEFAULT_ALERT_CATALOG, Settings


class SettingsResource(dg.ConfigurableResource):
    """The subset of :class:`~ctscan_ops.config.Settings` that assets and sensors read."""

    mode: str = Field(default="sandbox", description="sandbox or gcp (CTSCAN_MODE)")
    environment: str = Field(default="prod", description="environment reported by default")
    tf_state_bucket: str = Field(default="", description="the Terraform GCS backend's bucket")
    alert_catalog_path: str = Field(
        default=str(DEFAULT_ALERT_CATALOG), description="alert policy catalog (YAML)"
    )
    feedback_backend: str = Field(
        default="sqlite", description="where the app writes feedback: sqlite or firestore"
    )
    data_dir: str = Field(default="", description="local data directory (sandbox world)")

    @classmethod
    def from_settings(cls, settings: Settings) -> SettingsResource:
        return cls(
            mode=settings.mode.value,
            environment=settings.environment,
            tf_state_bucket=settings.tf_state_bucket,
            alert_catalog_path=str(settings.alert_catalog_path),
            feedback_backend=settings.feedback_backend,
            data_dir=str(settings.data_dir),
        )

    @property
    def catalog_path(self) -> Path:
        return Path(self.alert_catalog_path)
