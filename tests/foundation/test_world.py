"""The world framework: parts run in order, each from its own seed-derived generator."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from ctscan_ops.config import get_settings
from ctscan_ops.sandbox.world import WorldContext, generate_world, tree_digest

END = datetime(2026, 11, 1, tzinfo=UTC)


def _part(name: str):
    def generate(ctx: WorldContext) -> dict:
        values = ctx.rng(name).normal(size=1000)
        out = ctx.data_dir / name
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "values.npy", values)
        return {"mean": float(values.mean()), "days": len(ctx.days)}

    return generate


def _run(tmp_path, seed, parts=("a", "b")):
    settings = get_settings({"CTSCAN_SANDBOX_DIR": str(tmp_path)})
    return settings, generate_world(
        settings,
        seed=seed,
        end=END,
        days=10,
        parts=parts,
        part_functions={p: _part(p) for p in parts},
        progress=lambda _: None,
    )


def test_same_seed_same_world(tmp_path):
    s1, m1 = _run(tmp_path / "one", seed=11)
    s2, m2 = _run(tmp_path / "two", seed=11)
    assert tree_digest(s1.data_dir / "a") == tree_digest(s2.data_dir / "a")
    assert m1["parts"]["a"]["summary"] == m2["parts"]["a"]["summary"]
    assert m1["parts"]["a"]["summary"]["days"] == 10
    assert m1["start"] == "2026-10-22T00:00:00+00:00"


def test_other_seed_other_world_and_parts_are_independent(tmp_path):
    s1, _m1 = _run(tmp_path / "one", seed=11)
    s3, _m3 = _run(tmp_path / "three", seed=12)
    assert tree_digest(s1.data_dir / "a") != tree_digest(s3.data_dir / "a")
    # adding or removing a part does not change what another part generates
    s4, _m4 = _run(tmp_path / "four", seed=11, parts=("b",))
    assert tree_digest(s1.data_dir / "b") == tree_digest(s4.data_dir / "b")


def test_missing_domains_are_reported_as_skipped(tmp_path):
    settings = get_settings({"CTSCAN_SANDBOX_DIR": str(tmp_path)})
    manifest = generate_world(
        settings, seed=1, end=END, days=2, parts=("nonexistent_domain",), progress=lambda _: None
    )
    assert manifest["skipped"] == ["nonexistent_domain"]
