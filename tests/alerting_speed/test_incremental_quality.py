"""``alert_quality`` built on the daily records gives the report of the whole re-evaluation.

A generated 9-day world (prod + staging) behind the real MetricService; the reference is the
same asset with ``full_reevaluation: true`` (every policy evaluated over the whole window, as
the asset always did). Stale or missing records and deployed settings must be re-evaluated.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "speed_world", Path(__file__).with_name("speed_world.py")
)
sw = importlib.util.module_from_spec(_spec)
sys.modules["speed_world"] = sw
_spec.loader.exec_module(sw)

DAYS = 9


@pytest.fixture(scope="module")
def world(tmp_path_factory, gcs_emulator):
    with sw.speed_world(tmp_path_factory.mktemp("speed-world"), gcs_emulator, DAYS) as w:
        yield w


def _midnight_spanning(records: dict) -> list[dict]:
    out = []
    for rec in records.values():
        for incidents in rec["policies"].values():
            for i in incidents:
                if i["close"] and i["close"][:10] != i["open"][:10]:
                    out.append(i)
    return out


def test_incremental_report_equals_the_whole_re_evaluation(world):
    artifacts = world.resources["artifacts"]
    # infra found high_latency deployed at 2500 ms / 600 s (stricter: evaluated inside the
    # catalog's incidents), high_cpu at a lower threshold (looser: evaluated whole), and
    # crash_loop deployed enabled only (evaluates like the catalog: reused)
    artifacts.put_json(
        "infra/policy_drift/prod.json",
        {
            "deployed_overrides": {
                "high_latency": {"threshold_value": 2500, "duration": "600s"},
                "high_cpu": {"threshold_value": 0.6},
                "crash_loop": {"enabled": True},
            }
        },
    )
    full, full_md = sw.run_alert_quality(world, full_reevaluation=True)
    fast, fast_md = sw.run_alert_quality(world, sample_pairs=3, sample_budget=1.0)
    assert fast == full
    assert full_md["daily_records_disagree"] == 0
    assert fast_md["daily_records_disagree"] == 0
    sampled = fast_md["daily_records_sampled"]
    assert len(sampled["pairs"]) == 3 and sampled["stitched_differs"] == []
    work = sampled["work"]
    # most pairs came from the records; each deployed kind took its own path
    assert work["pairs_stitched"] >= 15 and work["days_from_records"] >= 15 * (DAYS - 1)
    assert work["variants_by_spans"] == 1 and work["variants_whole"] == 1
    deployed = {r["policy"]: r["quality"] for r in fast["policies"] if r["variant"] == "deployed"}
    assert deployed["high_latency"]["incidents"] > 0  # the spans found the stricter incidents
    # the figures are not all trivial: incidents were found and scored
    assert sum(r["quality"]["incidents"] for r in full["policies"]) > 0
    assert {r["variant"] for r in full["policies"]} == {"catalog", "deployed"}
    records = {d: artifacts.get_json(f"alerting/shadow_incidents/{d}.json") for d in world.days}
    # the world has incidents open across midnight: stitching them was exercised
    assert _midnight_spanning(records)


def test_stale_and_missing_records_are_re_evaluated(world):
    artifacts = world.resources["artifacts"]
    days = world.days
    full, _ = sw.run_alert_quality(world, full_reevaluation=True)
    # a record from another catalog (no per-policy hashes) and a record whose incidents were
    # tampered with under another catalog hash: both must be ignored and re-evaluated
    stale = artifacts.get_json(f"alerting/shadow_incidents/{days[4]}.json")
    stale["catalog_hash"] = "another-catalog"
    stale.pop("policy_hashes")
    for key in stale["policies"]:
        stale["policies"][key] = []
    artifacts.put_json(f"alerting/shadow_incidents/{days[4]}.json", stale)
    old_format = artifacts.get_json(f"alerting/shadow_incidents/{days[6]}.json")
    old_format.pop("points_by_policy")
    artifacts.put_json(f"alerting/shadow_incidents/{days[6]}.json", old_format)
    fast, md = sw.run_alert_quality(world, sample_pairs=0)
    assert fast == full
    assert md["daily_records_sampled"]["pairs"] == []


def test_sample_is_deterministic_and_rotates():
    from ctscan_ops.alerting.shadow.incremental import sample_pairs

    keys = [f"prod/p{i}" for i in range(20)]
    a = sample_pairs(keys, 3, "2026-11-19")
    assert a == sample_pairs(list(reversed(keys)), 3, "2026-11-19")
    assert len(a) == 3 and set(a) <= set(keys)
    seen = set()
    for d in range(1, 29):
        seen.update(sample_pairs(keys, 3, datetime(2026, 2, d, tzinfo=UTC).date().isoformat()))
    assert len(seen) > 10  # the sample moves from one day's report to the next


def test_sample_stays_within_its_points_budget():
    from ctscan_ops.alerting.shadow.incremental import sample_pairs

    points = {"prod/big": 900, "prod/a": 30, "prod/b": 30, "prod/c": 40}
    for stamp in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"):
        got = sample_pairs(list(points), 2, stamp, points, budget=0.07)
        assert "prod/big" not in got and len(got) == 2
        assert sum(points[k] for k in got) <= 70


def test_stricter_variants_are_recognised():
    from ctscan_ops.alerting.catalog import default_catalog_path, load_catalog
    from ctscan_ops.alerting.shadow.incremental import is_stricter

    catalog = load_catalog(default_catalog_path())
    base = catalog.resolve("high_latency", "prod")
    thr = base.condition.threshold_value

    def variant(**over):
        return catalog.resolve("high_latency", "prod", alert_overrides={"high_latency": over})

    assert is_stricter(variant(threshold_value=thr + 1, duration="600s"), base)
    assert is_stricter(base, base)
    assert not is_stricter(variant(threshold_value=thr - 1), base)
    assert not is_stricter(variant(duration="0s"), base)
    assert not is_stricter(catalog.resolve("high_latency", "staging"), base)
