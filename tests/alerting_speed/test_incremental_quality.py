"""``alert_quality`` built on the daily records gives the report of the whole re-evaluation.

A generated 9-day world (prod + staging) behind the real MetricService; the reference is the
same asset with ``full_reevaluation: true`` (every policy evaluated over the whole window, as
the asset always did). Stale or missing records and deployed settings must be re-evaluated.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from datetime import UTC, datetime, timedelta
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
    assert len(sampled["spans"]) == 3 and sampled["stitched_differs"] == []
    assert fast_md["daily_records_disagree"] == 0 and 0 < sampled["share_of_points"] <= 1.0
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
    assert md["daily_records_sampled"]["spans"] == []


def test_a_record_that_disagrees_with_its_data_is_caught_by_the_sample(world):
    """A usable record holding an incident its data does not have (what late or rewritten data
    does to a record) is counted by ``daily_records_disagree`` and shows in the stitched
    result, which is then flagged as differing from the fresh evaluation of its span."""
    artifacts = world.resources["artifacts"]
    key = "prod/high_cpu"
    originals = {d: artifacts.get_json(f"alerting/shadow_incidents/{d}.json") for d in world.days}
    try:
        for day in world.days[2:]:  # past the head: the records are used there
            rec = json.loads(json.dumps(originals[day]))
            rec["policies"][key].append(
                {
                    "id": f"not-in-the-data-{day}",
                    "open": f"{day}T12:00:00+00:00",
                    "close": f"{day}T12:30:00+00:00",
                    "condition": 0,
                    "labels": {"service_name": "nowhere"},
                }
            )
            artifacts.put_json(f"alerting/shadow_incidents/{day}.json", rec)
        _, md = sw.run_alert_quality(world, sample_pairs=40, sample_budget=1.0)
        sampled = md["daily_records_sampled"]
        span = next(s for s in sampled["spans"] if s["pair"] == key)
        first, last = span["days"].split("..")
        tampered = [d for d in world.days[2:] if first <= d <= last]
        assert tampered, span
        assert md["daily_records_disagree"] == len(tampered)  # one extra id per checked day
        assert sampled["stitched_differs"] == [key]
    finally:
        for day, rec in originals.items():
            artifacts.put_json(f"alerting/shadow_incidents/{day}.json", rec)


@pytest.mark.parametrize(
    "config", [{"sample_budget": -0.1}, {"sample_budget": float("nan")}, {"sample_pairs": -1}]
)
def test_a_sample_config_out_of_range_is_refused_before_anything_runs(world, config):
    from pydantic import ValidationError

    before = world.resources["artifacts"].list_keys("alerting/alert_quality")
    with pytest.raises(ValidationError, match="sample_"):
        sw.run_alert_quality(world, **config)
    assert world.resources["artifacts"].list_keys("alerting/alert_quality") == before


def _days(n: int, first: str = "2026-11-01") -> list[str]:
    start = datetime.fromisoformat(first)
    return [(start + timedelta(days=i)).date().isoformat() for i in range(n)]


def test_spans_are_deterministic_rotate_and_reach_every_pair():
    from ctscan_ops.alerting.shadow.incremental import sample_spans

    days = _days(35)
    # 20 small pairs and 4 big ones (10 % of all points each, ~0.3 % a day): a whole big pair
    # never fits a 4 % budget, a few days of one do
    usable = {f"prod/small{i}": dict.fromkeys(days, 10) for i in range(20)}
    usable |= {f"prod/big{i}": dict.fromkeys(days, 200) for i in range(4)}
    total = sum(sum(d.values()) for d in usable.values())
    a = sample_spans(usable, 2, "2026-11-19", 0.04)
    assert a == sample_spans(dict(reversed(usable.items())), 2, "2026-11-19", 0.04)
    seen: set[str] = set()
    for d in range(1, 29):
        stamp = datetime(2026, 2, d, tzinfo=UTC).date().isoformat()
        spans = sample_spans(usable, 2, stamp, 0.04)
        assert len(spans) == 2 and len({s.key for s in spans}) == 2
        for span in spans:
            # consecutive days, the points they read, within budget / k of all points
            assert list(span.days) == days[days.index(span.days[0]) :][: len(span.days)]
            assert span.points == sum(usable[span.key][day] for day in span.days)
            assert span.points <= 0.04 * total / 2
        seen.update(s.key for s in spans)
    assert len(seen) > 10  # the sample moves from one day's report to the next
    assert any(k.startswith("prod/big") for k in seen)  # the big pairs are checked too


def test_spans_never_cross_a_day_without_a_usable_record_and_skip_what_cannot_fit():
    from ctscan_ops.alerting.shadow.incremental import sample_spans

    days = _days(10)
    gap = days[5]
    usable = {
        "prod/a": {d: 10 for d in days if d != gap},  # day 5's record is stale for this pair
        "prod/huge": {days[0]: 10_000},  # one day over any share of a 0.5 budget
    }
    for d in range(1, 20):
        stamp = datetime(2026, 3, d, tzinfo=UTC).date().isoformat()
        spans = sample_spans(usable, 2, stamp, 0.5)
        assert [s.key for s in spans] == ["prod/a"]
        (span,) = spans
        assert gap not in span.days
        assert span.days == tuple(sorted(span.days))
    assert sample_spans(usable, 0, "2026-03-01", 1.0) == []
    assert sample_spans({}, 2, "2026-03-01", 1.0) == []


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
