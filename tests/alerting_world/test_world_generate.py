"""``generate(ctx)``: series in the MetricService store, the register in GCS and data_dir,
deterministic for a seed."""

from __future__ import annotations

import hashlib
import json
import sqlite3

from ctscan_ops.alerting.shadow.incidents import REGISTER_KEY, IncidentRegister, RegisterStore
from ctscan_ops.resources.storage import ArtifactStore
from ctscan_ops.sandbox.worlds import alerting as alert_world

from .conftest import make_ctx


def _store_digest(path) -> tuple[str, int]:
    """Digest of every stored point with its series identity (independent of row ids)."""
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT s.metric_type, s.metric_labels, s.resource_type, s.resource_labels,"
        " s.metric_kind, s.value_type, p.end_us, p.start_us, p.value"
        " FROM points p JOIN series s ON s.id = p.series_id"
        " ORDER BY s.key, p.end_us"
    ).fetchall()
    con.close()
    h = hashlib.sha256()
    for r in rows:
        h.update(repr(r).encode())
    return h.hexdigest(), len(rows)


def _artifacts(settings) -> ArtifactStore:
    return ArtifactStore(
        bucket=settings.artifacts_bucket,
        project=settings.project_id,
        endpoint=settings.endpoints.gcs_url,
    )


def _without_updated(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "updated"}


def test_generate_is_deterministic_and_writes_everything(tmp_path, gcs_emulator, metric_service):
    from ctscan_ops.config import get_settings

    runs = []
    for i, seed in enumerate((11, 11, 12)):
        bucket = f"world-gen-{i}-{tmp_path.name[-8:].lower().replace('_', '-')}"
        from ctscan_ops.resources.storage import make_storage_client

        make_storage_client("ctscan-test", gcs_emulator).create_bucket(bucket)
        settings = get_settings(
            {
                "CTSCAN_MODE": "sandbox",
                "CTSCAN_SANDBOX_DIR": str(tmp_path / f"sandbox{i}"),
                "CTSCAN_PROJECT_ID": "world-determinism",
                "CTSCAN_ARTIFACTS_BUCKET": bucket,
                "STORAGE_EMULATOR_HOST": gcs_emulator,
                "CTSCAN_MONITORING_ENDPOINT": metric_service,
            }
        )
        summary = alert_world.generate(make_ctx(settings, seed, days=2))
        digest, n_points = _store_digest(settings.sandbox_dir / "monitoring.sqlite3")
        gcs_doc = _artifacts(settings).get_json(REGISTER_KEY)
        local_doc = json.loads(
            (settings.data_dir / "alerting" / "incident_register.json").read_text()
        )
        runs.append((summary, digest, n_points, gcs_doc, local_doc, settings))

    (s1, d1, n1, g1, l1, st1), (_, d2, n2, g2, _, _), (_, d3, _, g3, _, _) = runs
    assert s1["points"] == n1 > 20_000  # summary counts what is in the store
    assert s1["series"] > 50
    assert d1 == d2 and n1 == n2  # same seed: identical points
    assert _without_updated(g1) == _without_updated(g2)  # and an identical register
    assert d1 != d3 and _without_updated(g1) != _without_updated(g3)
    # GCS and data_dir hold the same register, and it parses
    assert _without_updated(g1) == _without_updated(l1)
    reg = IncidentRegister.from_json(g1)
    assert len(reg.windows) == s1["labelled_windows"]
    for w in reg.windows:
        assert w.source == ("p0_incident" if w.severity == "P0" else "postmortem")
    assert RegisterStore(_artifacts(st1)).load().windows == reg.windows
    # the feeder's state: enough to continue the generator
    state = alert_world.read_state(st1.data_dir)
    specs = alert_world.specs_from_state(state)
    assert [s.environment for s in specs] == ["prod", "staging"]
    assert all(s.project_id == "world-determinism" for s in specs)
    assert state["end"] - state["start"] == 2 * 86_400


def test_regenerating_replaces_the_previous_world(world_settings):
    """A second world (other seed) in the same sandbox leaves no points of the first one."""
    from ctscan_ops.sandbox.metric_store import MetricStore
    from ctscan_ops.sandbox.worlds import metric_world as mw

    alert_world.generate(make_ctx(world_settings, 21, days=2))
    first, _ = _store_digest(world_settings.sandbox_dir / "monitoring.sqlite3")
    # something appended after the world's end (what the feeder does) must go too
    store = MetricStore(world_settings.sandbox_dir / "monitoring.sqlite3")
    state = alert_world.read_state(world_settings.data_dir)
    gs = next(
        g
        for g in mw.build_world(1, state["start"], state["end"]).series
        if g.metric_type == mw.INSTANCE_COUNT
    )
    gs.resource_labels["project_id"] = world_settings.project_id
    store.write_points(
        [
            (
                alert_world.descriptor(gs),
                (state["end"] + 60) * 10**6,
                None,
                alert_world.encode_values(gs)[0],
            )
        ]
    )
    store.close()
    (world_settings.data_dir / "alerting" / "feeder_state.json").write_text("{}")
    summary = alert_world.generate(make_ctx(world_settings, 22, days=2))
    second, n = _store_digest(world_settings.sandbox_dir / "monitoring.sqlite3")
    assert second != first and n == summary["points"]
    assert not (world_settings.data_dir / "alerting" / "feeder_state.json").exists()
