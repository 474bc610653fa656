"""The sandbox world: realistic data for every domain, deterministic from one seed.

Each domain contributes a part in ``ctscan_ops/<domain>/world.py`` with
``generate(ctx: WorldContext) -> dict`` (a JSON-able summary). Parts run in a fixed order,
each with its own random generator derived from (seed, part name), so adding a part never
changes what the others generate. The world spans ``[start, end)`` in UTC; ``end`` defaults to
today's midnight, so two runs on the same day with the same seed produce the same world.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ctscan_ops.config import Settings
from ctscan_ops.domains import domain_module

WORLD_PARTS: tuple[str, ...] = ("infra", "feedback", "drift", "registry", "alerting")
DEFAULT_DAYS = 35


def default_world_end(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class WorldContext:
    """What a world part gets: the seed, the time window, where to write, and the clients."""

    seed: int
    start: datetime
    end: datetime
    data_dir: Path
    settings: Settings
    progress: Callable[[str], None] = print
    summaries: dict[str, Any] = field(default_factory=dict)

    def rng(self, part: str) -> np.random.Generator:
        """A generator that depends only on the seed and the part's name."""
        return np.random.default_rng([self.seed, zlib.crc32(part.encode())])

    @property
    def days(self) -> list[datetime]:
        n = (self.end - self.start).days
        return [self.start + timedelta(days=i) for i in range(n)]

    # Lazily created clients, shared by the parts.
    def storage_client(self):
        from ctscan_ops.resources.storage import make_storage_client

        return make_storage_client(self.settings.project_id, self.settings.endpoints.gcs_url)

    def artifact_store(self):
        from ctscan_ops.resources.storage import ArtifactStore

        return ArtifactStore(
            bucket=self.settings.artifacts_bucket,
            project=self.settings.project_id,
            endpoint=self.settings.endpoints.gcs_url,
        )

    def metric_store(self):
        """Direct access to the sandbox MetricService's store, for bulk history loads."""
        from ctscan_ops.sandbox.metric_store import MetricStore

        return MetricStore(self.settings.sandbox_dir / "monitoring.sqlite3")

    def monitoring_client(self):
        from ctscan_ops.resources.monitoring import make_metric_client

        return make_metric_client(self.settings.endpoints.monitoring_address)

    def firestore_client(self):
        from ctscan_ops.resources.firestore import FirestoreResource

        return FirestoreResource(
            project=self.settings.project_id,
            emulator_host=self.settings.endpoints.firestore_host,
        ).client()


def load_part(name: str) -> Callable[[WorldContext], dict[str, Any]] | None:
    """The domain's ``generate`` function, or None if that domain has no world part yet."""
    module = domain_module(name, "world")
    return None if module is None else module.generate


def tree_digest(root: Path) -> str:
    """A digest of every file's relative path and bytes under ``root`` (determinism checks)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def generate_world(
    settings: Settings,
    seed: int = 7,
    end: datetime | None = None,
    days: int = DEFAULT_DAYS,
    parts: Sequence[str] = WORLD_PARTS,
    progress: Callable[[str], None] = print,
    part_functions: dict[str, Callable[[WorldContext], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Run every available part in order; write ``world.json`` (the manifest) and return it."""
    end = end or default_world_end()
    ctx = WorldContext(
        seed=seed,
        start=end - timedelta(days=days),
        end=end,
        data_dir=settings.data_dir,
        settings=settings,
        progress=progress,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "seed": seed,
        "start": ctx.start.isoformat(),
        "end": ctx.end.isoformat(),
        "days": days,
        "parts": {},
        "skipped": [],
    }
    for name in parts:
        fn = (part_functions or {}).get(name) or load_part(name)
        if fn is None:
            manifest["skipped"].append(name)
            continue
        progress(f"world: {name} ...")
        t0 = time.monotonic()
        summary = fn(ctx)
        ctx.summaries[name] = summary
        manifest["parts"][name] = {"summary": summary, "seconds": round(time.monotonic() - t0, 2)}
        progress(f"world: {name} done in {time.monotonic() - t0:.1f}s")
    path = settings.data_dir / "world.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    return manifest


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    path = settings.data_dir / "world.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())
