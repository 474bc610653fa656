"""The registry world on real phantoms: three versions, the intended promotion story."""

from __future__ import annotations

from datetime import timedelta

from ctscan_ops.sandbox.worlds.registry import get_holdout_spec


def test_world_story(staged_world) -> None:
    store, summary, start = staged_world
    v = summary["versions"]
    assert list(v) == ["baseline", "cnn", "linear_probe"]
    assert sorted(v.values()) == [v["baseline"], v["cnn"], v["linear_probe"]]  # time order
    assert summary["story_ok"], (summary["cnn_vs_baseline"], summary["linear_probe_vs_cnn"])
    assert summary["cnn_vs_baseline"].startswith("challenger beats champion")
    assert summary["linear_probe_vs_cnn"].startswith("challenger refused")
    assert summary["macro_f1"]["cnn"] > summary["macro_f1"]["baseline"]
    assert summary["macro_f1"]["cnn"] > summary["macro_f1"]["linear_probe"]
    assert summary["champion"] == v["baseline"] and summary["challenger"] == v["cnn"]
    # registered at world time, evaluated on the described hold-out set
    rec = store.get_version(v["cnn"])
    assert rec.created_at == (start + timedelta(days=7)).isoformat()
    assert rec.training["role"] == "cnn" and rec.training["epochs"] == 8
    spec = get_holdout_spec(store)
    for version in v.values():
        ev = store.get_evaluation(version)
        assert ev["dataset"] == spec["dataset"] and ev["n"] == spec["n"]
    first = store.alias_history("champion")[0]
    assert first.version == v["baseline"] and first.actor == "sandbox-world"
    assert first.evidence["sha256"] == store.get_version(v["baseline"]).sha256
