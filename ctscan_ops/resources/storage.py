"""Object storage: a GCS resource that honours the sandbox emulator, and the artifact store.

The artifact store is where reports, plots, JSON documents and checkpoints go: metadata in the
Dagster UI links to them instead of inlining them (an Evidently HTML report is ~4 MB).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import dagster as dg
from dagster_gcp import GCSResource
from google.cloud import storage
from pydantic import Field


def make_storage_client(project: str | None, endpoint: str | None) -> storage.Client:
    """A storage client for the real service (ADC) or, with ``endpoint``, for the emulator."""
    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=project)


def object_browser_url(bucket: str, name: str, endpoint: str | None = None) -> str:
    """Browser download URL of ``gs://bucket/name`` (emulator ``endpoint`` or real GCS)."""
    if endpoint:
        return (
            f"{endpoint.rstrip('/')}/download/storage/v1/b/{bucket}/o/"
            f"{quote(name, safe='')}?alt=media"
        )
    return f"https://storage.cloud.google.com/{bucket}/{quote(name)}"


def gs_browser_url(uri: str, endpoint: str | None = None) -> str:
    """Browser URL for a ``gs://bucket/name`` URI (registry checkpoints, evidence...)."""
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise ValueError(f"not a gs://bucket/object URI: {uri!r}")
    bucket, name = uri[5:].split("/", 1)
    return object_browser_url(bucket, name, endpoint)


class EmulatorAwareGCSResource(GCSResource):
    """dagster-gcp's GCSResource, pointed at fake-gcs-server when ``endpoint`` is set.

    The stock resource only finds an emulator through ``STORAGE_EMULATOR_HOST``; making the
    endpoint explicit keeps the choice in the resource config, visible in the UI.
    """

    endpoint: str | None = Field(default=None, description="Emulator URL (sandbox only)")

    def get_client(self) -> storage.Client:
        return make_storage_client(self.project, self.endpoint)


class ArtifactStore(dg.ConfigurableResource):
    """Reports, plots, JSON documents and checkpoints under ``gs://bucket/prefix/``."""

    bucket: str
    prefix: str = "ctscan-ops"
    project: str | None = None
    endpoint: str | None = Field(default=None, description="Emulator URL (sandbox only)")

    def client(self) -> storage.Client:
        return make_storage_client(self.project, self.endpoint)

    def _blob_name(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def _blob(self, key: str) -> storage.Blob:
        return self.client().bucket(self.bucket).blob(self._blob_name(key))

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket}/{self._blob_name(key)}"

    def browser_url(self, key: str) -> str:
        """A URL a browser can open or use as an ``<img src>``: the object's bytes, not a page.

        Sandbox: fake-gcs-server's media download, reachable by the browser on 127.0.0.1.
        gcp: ``storage.cloud.google.com``, Google's authenticated download (the operator's
        browser session is the credential; the object keeps its content type, so PNGs render
        inline in the Dagster UI and HTML reports open as pages).
        """
        return object_browser_url(self.bucket, self._blob_name(key), self.endpoint)

    def console_url(self, key: str) -> str:
        """The Cloud Console page of the object (gcp; the emulator has none: its download URL)."""
        if self.endpoint:
            return self.browser_url(key)
        return f"https://console.cloud.google.com/storage/browser/_details/{self.bucket}/{quote(self._blob_name(key))}"

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> str:
        """Upload ``data`` in one request (all or nothing) and return its ``gs://`` URI."""
        self._blob(key).upload_from_string(data, content_type=content_type)
        return self.uri(key)

    def put_json(self, key: str, obj: Any) -> str:
        payload = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
        return self.put_bytes(key, payload, content_type="application/json")

    def get_bytes(self, key: str) -> bytes:
        return self._blob(key).download_as_bytes()

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        return self._blob(key).exists()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self._blob_name(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        return [b.name[strip:] for b in self.client().list_blobs(self.bucket, prefix=base)]
