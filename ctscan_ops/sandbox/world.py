"""The sandbox world: realistic data for every domain, deterministic from one seed.

Each domain contributes a part in ``ctscan_ops/<domain>/world.py`` with
``generate(ctx: WorldContext) -> dict`` (a JSON-able summary). Parts run in a fixed order,
each with its own random generator derived from (seed, part name), so adding a part never
changes what the others generate. The world spans ``[start, end)`` in UTC; ``end`` defaults to
today's midnight, so two runs on the same day with the same seed produce the same world.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ctscan_ops.config import Settings

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
    module_name = f"ctscan_ops.sandbox.worlds.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise  # a bug or a missing dependency inside the part is never hidden
    return module.generate


def tree_digest(root: Path) -> str:
    """A digest of every file's relative path and bytes under ``root`` (determinism checks)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


MAX_DAYS = 3_660


def check_world_args(seed: int, end: datetime | None, days: int) -> None:
    """Validate before acting: a bad argument fails before anything is written."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed: {seed!r} must be an integer in [0, 2**32)")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days: {days!r} must be an integer in [1, {MAX_DAYS}]")
    if end is not None:
        if not isinstance(end, datetime):
            raise ValueError(f"end: {end!r} is not a datetime")
        aware = end if end.tzinfo else end.replace(tzinfo=UTC)
        first = aware - timedelta(days=days)
        if first < datetime(1970, 1, 1, tzinfo=UTC) or aware.year >= 2100:
            raise ValueError(f"end: {end.isoformat()} minus {days} days is outside 1970..2100")


def generate_world(
    settings: Settings,
    seed: int = 7,
    end: datetime | None = None,
    days: int = DEFAULT_DAYS,
    parts: Sequence[str] = WORLD_PARTS,
    progress: Callable[[str], None] = print,
    part_functions: dict[str, Callable[[WorldContext], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Run every available part in order; write ``world.json`` (the manifest) and return it.

    All-or-nothing for the local files: arguments are checked first; the previous world's
    data directory is moved aside (``<data_dir>.previous``), the new world is generated in
    place (same paths, so parts need no staging awareness), and on any failure the partial
    directory is removed and the previous one moved back. What parts pushed to the emulators
    (objects, documents, metric points) before the failure is not undone: the next successful
    run overwrites it.
    """
    check_world_args(seed, end, days)
    end = end or default_world_end()
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    ctx = WorldContext(
        seed=seed,
        start=end - timedelta(days=days),
        end=end,
        data_dir=settings.data_dir,
        settings=settings,
        progress=progress,
    )
    data_dir = settings.data_dir
    if not _swappable(data_dir, settings.sandbox_dir):
        progress(f"world: {data_dir} also holds the sandbox; generating in place (no rollback)")
        return _generate(ctx, settings, seed, days, parts, progress, part_functions)
    backup = data_dir.with_name(data_dir.name + ".previous")
    if backup.exists():  # left by a run that was killed: it is the last complete world
        if data_dir.exists():
            shutil.rmtree(data_dir)
        backup.rename(data_dir)
    if data_dir.exists():
        data_dir.rename(backup)
    try:
        manifest = _generate(ctx, settings, seed, days, parts, progress, part_functions)
    except BaseException:
        if data_dir.exists():
            shutil.rmtree(data_dir, ignore_errors=True)
        if backup.exists():
            backup.rename(data_dir)
        raise
    if backup.exists():
        shutil.rmtree(backup, ignore_errors=True)
    return manifest


def _swappable(data_dir: Path, sandbox_dir: Path) -> bool:
    """Moving ``data_dir`` aside must never take the sandbox (state, emulator data) with it."""
    data, sandbox = data_dir.resolve(), sandbox_dir.resolve()
    return data != sandbox and data not in sandbox.parents and data != Path(data.anchor)


def _generate(
    ctx: WorldContext,
    settings: Settings,
    seed: int,
    days: int,
    parts: Sequence[str],
    progress: Callable[[str], None],
    part_functions: dict[str, Callable[[WorldContext], dict[str, Any]]] | None,
) -> dict[str, Any]:
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
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    tmp.replace(path)
    return manifest


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    path = settings.data_dir / "world.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())
