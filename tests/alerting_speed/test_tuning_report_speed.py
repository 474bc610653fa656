"""The tuning report's faster data flow (envelope of the plotted line, parallel uploads)
leaves the report as the plain flow computes it, and the plotted line as drawn in full."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "speed_world", Path(__file__).with_name("speed_world.py")
)
sw = sys.modules.get("speed_world") or importlib.util.module_from_spec(_spec)
if "speed_world" not in sys.modules:
    sys.modules["speed_world"] = sw
    _spec.loader.exec_module(sw)

DAYS = 8


def test_envelope_keeps_every_bucket_extreme_and_every_gap():
    from ctscan_ops.alerting.tuning.report import line_envelope

    rng = np.random.default_rng(3)
    n = 20_000
    ticks = 1.7e9 + 60.0 * np.arange(n)
    values = rng.normal(size=n)
    values[7_000:7_300] = np.nan
    values[12_345] = np.nan
    t, v = line_envelope(ticks, values, max_points=400)
    assert t.size < 800 and np.all(np.diff(t) > 0)
    assert t[0] == ticks[0] and t[-1] == ticks[-1]
    idx = np.searchsorted(ticks, t)
    assert np.array_equal(values[idx], v, equal_nan=True)  # points of the line, not new ones
    # brute force: every bucket's min and max survive
    size = -(-n // 100)
    for a in range(0, n, size):
        chunk = values[a : a + size]
        if np.isnan(chunk).all():
            continue
        kept = v[(t >= ticks[a]) & (t <= ticks[min(a + size, n) - 1])]
        assert np.nanmax(kept) == np.nanmax(chunk) and np.nanmin(kept) == np.nanmin(chunk)
    # both sides of each gap are kept, so the drawn line still breaks there
    for i in (6_999, 7_000, 7_299, 7_300, 12_344, 12_345, 12_346):
        assert ticks[i] in set(t.tolist())
    short_t, _ = line_envelope(ticks[:100], values[:100], max_points=400)
    assert short_t is ticks[:100].base or short_t.size == 100


def test_envelope_draws_the_same_timeline():
    from PIL import Image

    from ctscan_ops.alerting.tuning.plots import timeline_png
    from ctscan_ops.alerting.tuning.report import line_envelope

    n = 28_800
    t0 = 1.7e9
    ticks = t0 + 60.0 * np.arange(n)
    rng = np.random.default_rng(1)
    values = np.cumsum(rng.normal(size=n)) * 0.01 + np.sin(np.arange(n) / 500)
    values[5_000:5_600] = np.nan
    settings = {"current": (0.9, [(t0 + i * 3600, t0 + i * 3600 + 600) for i in range(0, 400, 7)])}

    def pixels(t, v):
        png = timeline_png(t, v, [(t0 + 7200, t0 + 9000)], settings, title="x")
        return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=int)

    full = pixels(ticks, values)
    env = pixels(*line_envelope(ticks, values))
    assert full.shape == env.shape
    # antialiased edges of the line may differ; the picture may not
    assert (np.abs(full - env) > 32).mean() < 0.01


def _report(world, **kw):
    import dagster as dg

    from ctscan_ops.alerting.assets import alert_quality, incident_register, shadow_incidents
    from ctscan_ops.alerting.tuning_assets import threshold_tuning_report

    res = dg.materialize(
        [incident_register, shadow_incidents, alert_quality, threshold_tuning_report],
        selection=[threshold_tuning_report.key],
        partition_key="prod",
        instance=world.instance,
        resources={**world.resources, **kw},
    )
    assert res.success
    return res


def _plots(world):
    import dagster as dg

    from ctscan_ops.alerting.tuning_assets import threshold_tuning_plots, threshold_tuning_report

    res = dg.materialize(
        [threshold_tuning_report, threshold_tuning_plots],
        selection=[threshold_tuning_plots.key],
        partition_key="prod",
        instance=world.instance,
        resources=world.resources,
    )
    assert res.success
    return res


def _read_all(summary: str, world) -> bool:
    """The report's ``aligned_values`` says every condition-day came from the records (at
    least one per policy and day; nothing re-aligned)."""
    import re

    m = re.match(r"(\d+) of (\d+) condition-days read from shadow_incidents records", summary)
    return (
        bool(m)
        and m[1] == m[2]
        and int(m[1]) >= len(world.days)
        and "0 missing, 0 stale" in summary
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory, gcs_emulator):
    with sw.speed_world(tmp_path_factory.mktemp("tuning-world"), gcs_emulator, DAYS) as w:
        yield w


def test_report_equals_the_plain_flow(world):
    """tuning.json of the asset = tune() on values aligned from a fresh fetch per policy."""

    from ctscan_ops.alerting.engine.evaluator import aligned_condition_values, make_ticks
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow.evaluation import lookback_s
    from ctscan_ops.alerting.shadow.incidents import RegisterStore
    from ctscan_ops.alerting.tuning.guard import gate_primary_values, guard_evidence
    from ctscan_ops.alerting.tuning.recommend import Condition1D, TuningParams, tune
    from ctscan_ops.alerting.tuning.report import ALIGN_CHUNK_TICKS, aligned_by_day, params_for
    from ctscan_ops.alerting.tuning_assets import shadow_window

    res = _report(world)
    md = res.get_asset_materialization_events()[0].materialization.metadata
    # every condition-day came from the shadow_incidents records (nothing fetched, aligned)
    summary = md["aligned_values"].value
    assert _read_all(summary, world), summary
    artifacts = world.resources["artifacts"]
    doc = artifacts.get_json(f"alerting/threshold_tuning/prod/{world.days[-1]}/tuning.json")
    # the plots asset draws every picture the report's metadata links to
    plots = _plots(world)
    pngs = [k for k in md if k.endswith("_curve") or k.endswith("_timeline")]
    assert pngs and plots.get_asset_materialization_events()[0].materialization.metadata
    for k in pngs:
        name, kind = k.rsplit("_", 1)
        prefix = f"alerting/threshold_tuning/prod/{world.days[-1]}/{name}"
        assert artifacts.exists(f"{prefix}-{kind}.png")
        if kind == "curve":
            assert artifacts.exists(f"{prefix}-curve-inline.png")

    alerting = world.resources["alerting"]
    start, end, _days = shadow_window(world.instance)
    register = RegisterStore(artifacts).load()
    params = TuningParams(
        target_fdr=alerting.fdr_target, max_alerts_per_day=alerting.max_alerts_per_day
    )
    client = world.resources["monitoring"].client()
    ticks = make_ticks(start, end)
    expected = {}
    chunked: list[str] = []
    catalog = alerting.catalog()
    # the report tunes every severity (P0s as recommendations for a human), each with its own
    # targets (false-page budget; a P0's detection-time promise)
    for policy in resolved_policies(catalog, ["prod"], severities=("P0", "P1", "P2")):
        since = start - lookback_s(policy)
        cache = SeriesCache(client, world.resources["monitoring"].project, since, end)
        series = cache.for_policy(policy)
        groups = aligned_condition_values(policy.condition, series, ticks)
        by_day = aligned_by_day(policy.condition, series, ticks)  # what the report aligns with
        assert [g.labels for g in by_day] == [g.labels for g in groups]
        for a, b in zip(by_day, groups, strict=True):
            assert np.array_equal(a.values, b.values, equal_nan=True), policy.name
        if any(s.value_type == "DISTRIBUTION" for s in series):
            chunked.append(policy.name)
        cond = policy.condition
        if not groups or all(np.isnan(g.values).all() for g in groups):
            expected[policy.name] = None
            continue
        values = np.vstack([g.values for g in groups])
        values = values[0] if values.shape[0] == 1 else values
        values, _ = gate_primary_values(policy, series, ticks, values)  # AND guards stay fixed
        c1 = Condition1D(cond.comparison, cond.evaluation_missing_data, policy.auto_close_s)
        windows = register.windows_for(policy.name, "prod")
        pol_params = params_for(
            policy,
            params,
            false_page_budget=catalog.false_page_budget_per_week,
            p0_mttd_target_s=alerting.p0_mttd_target_s,
        )
        expected[policy.name] = {
            "severity": policy.severity,
            **tune(values, ticks, windows, c1, pol_params, (cond.threshold_value, cond.duration_s)),
        }
        guard = guard_evidence(policy, series, start, end, windows)
        if guard is not None:
            expected[policy.name]["guard"] = guard
    assert "high_latency" in chunked  # the day-at-a-time alignment was exercised
    assert ticks.size > 2 * ALIGN_CHUNK_TICKS
    assert set(doc["policies"]) == set(expected)
    tuned = [name for name, e in expected.items() if e is not None]
    assert tuned
    import json

    for name in tuned:
        assert doc["policies"][name] == json.loads(json.dumps(expected[name])), name


def _outputs(world, res) -> dict:
    """What a report says: its tuning documents, the tfvars diff and the proposed tfvars."""
    from pathlib import Path

    md = res.get_asset_materialization_events()[0].materialization.metadata
    doc = world.resources["artifacts"].get_json(
        f"alerting/threshold_tuning/prod/{world.days[-1]}/tuning.json"
    )
    return {
        "policies": doc["policies"],
        "tfvars_diff": md["tfvars_diff"].value,
        "tfvars": Path(md["tfvars_path"].value).read_text(encoding="utf-8"),
    }


def _plain_docs(world, alerting) -> dict:
    """tune_environment on the plain flow (fetch + align, no stored values) for ``alerting``."""
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow.evaluation import lookback_s
    from ctscan_ops.alerting.shadow.incidents import RegisterStore
    from ctscan_ops.alerting.tuning.recommend import TuningParams
    from ctscan_ops.alerting.tuning.report import tune_environment
    from ctscan_ops.alerting.tuning_assets import shadow_window

    start, end, _ = shadow_window(world.instance)
    catalog = alerting.catalog()
    policies = resolved_policies(catalog, ["prod"], severities=("P0", "P1", "P2"))
    register = RegisterStore(world.resources["artifacts"]).load()
    mon = world.resources["monitoring"]
    cache = SeriesCache(mon.client(), mon.project, start - max(map(lookback_s, policies)), end)
    result = tune_environment(
        policies,
        lambda p: cache.for_policy(p, since=start - lookback_s(p)),
        lambda name: register.windows_for(name, "prod"),
        environment="prod",
        start=start,
        end=end,
        params=TuningParams(
            target_fdr=alerting.fdr_target, max_alerts_per_day=alerting.max_alerts_per_day
        ),
        prefix="unused",
        false_page_budget=catalog.false_page_budget_per_week,
        p0_mttd_target_s=alerting.p0_mttd_target_s,
        render=False,
    )
    return json.loads(json.dumps(result.docs))


def test_missing_corrupt_or_stale_values_fall_back_to_the_same_report(world, tmp_path):
    """A day file cut short, a day file gone, values that differ from what this code aligns
    and a changed catalog condition: the report warns (naming the file), re-aligns those days
    from the series and says the same as before."""
    from ctscan_ops.alerting.settings import AlertingSettings

    artifacts = world.resources["artifacts"]
    before = _outputs(world, _report(world))
    assert before["policies"] == _plain_docs(world, world.resources["alerting"])
    cut, gone = (f"alerting/shadow_incidents/{world.days[i]}.values.npz" for i in (2, 5))
    originals = {k: artifacts.get_bytes(k) for k in (cut, gone)}
    try:
        artifacts.put_bytes(cut, originals[cut][: len(originals[cut]) // 2])
        artifacts._blob(gone).delete()
        res = _report(world)
        summary = (
            res.get_asset_materialization_events()[0]
            .materialization.metadata["aligned_values"]
            .value
        )
        assert "0 stale" in summary and not _read_all(summary, world), summary
        warnings = [
            e.user_message
            for e in world.instance.all_logs(res.run_id)
            if e.level == logging.WARNING and "stored aligned values not used" in e.user_message
        ]
        assert any(cut in w and "sha256" in w for w in warnings), warnings
        assert any(gone in w for w in warnings), warnings
        assert _outputs(world, res) == before
    finally:
        for k, data in originals.items():
            artifacts.put_bytes(k, data)

    # values an evaluator computed differently (last ULPs) under the same fingerprint: the
    # report's sampled re-alignment finds them, warns and re-aligns every day
    from ctscan_ops.alerting.shadow.aligned_values import ConditionDay, pack, sha256, unpack

    last = world.days[-1]
    record_key = f"alerting/shadow_incidents/{last}.json"
    record = artifacts.get_json(record_key)
    key = record["aligned_values"]["key"]
    original = artifacts.get_bytes(key)
    nudged = {
        k: ConditionDay(
            e.fingerprint,
            e.labels,
            np.where(np.isnan(e.values), 0.5, e.values * (1 + 2**-40) + 2**-40),
            e.prefix,
        )
        for k, e in unpack(original, key).items()
    }
    data = pack(last, 0.0, nudged)
    try:
        artifacts.put_bytes(key, data)
        artifacts.put_json(
            record_key,
            {**record, "aligned_values": {**record["aligned_values"], "sha256": sha256(data)}},
        )
        res = _report(world)
        md = res.get_asset_materialization_events()[0].materialization.metadata
        assert md["aligned_values_check"].value.startswith("stored values differ"), md
        assert md["aligned_values"].value.startswith("0 of "), md["aligned_values"].value
        assert _outputs(world, res) == before
    finally:
        artifacts.put_bytes(key, original)
        artifacts.put_json(record_key, record)
    md = _report(world).get_asset_materialization_events()[0].materialization.metadata
    assert "stored values = a fresh alignment" in md["aligned_values_check"].value

    # a changed catalog condition (high_latency reduced by p99 instead of p95): its stored
    # values are stale (fingerprint); the report equals the plain flow on the new catalog
    from ctscan_ops.alerting.catalog import default_catalog_path

    src = Path(default_catalog_path())
    changed = tmp_path / "alert_policies.yaml"
    text = src.read_text(encoding="utf-8")
    assert text.count("REDUCE_PERCENTILE_95") == 1
    changed.write_text(text.replace("REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_99"))
    alerting = AlertingSettings(environments=sw.ENVIRONMENTS, min_days=7, catalog_path=str(changed))
    res = _report(world, alerting=alerting)
    summary = (
        res.get_asset_materialization_events()[0].materialization.metadata["aligned_values"].value
    )
    assert f"{len(world.days)} stale" in summary, summary  # high_latency's days, only those
    after = _outputs(world, res)
    assert after["policies"] == _plain_docs(world, alerting)
    assert after["policies"]["high_latency"] != before["policies"]["high_latency"]
