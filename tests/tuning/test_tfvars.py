"""Terraform variables out: shape, enablement rule, diff, atomic write, bad files."""

from __future__ import annotations

import json
import os

import pytest

from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.tuning import tfvars as tv


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _p1p2(catalog):
    names = [n for n, p in catalog.policies.items() if p.severity in ("P1", "P2")]
    assert len(names) >= 3
    return names[:3]


def test_writes_the_contract_shape_and_enables_only_ready(tmp_path, catalog):
    a, b, c = _p1p2(catalog)
    recs = [
        tv.PolicyRecommendation(a, 1800.0, 180, ready=True),
        tv.PolicyRecommendation(b, 0.25, 600, ready=False, note="holdout covers 4.2 days"),
        tv.PolicyRecommendation(c, None, None, ready=False, note="insufficient evidence"),
    ]
    up = tv.update_tfvars(catalog, "prod", tmp_path, recs)
    assert up.written
    assert up.path == tmp_path / "environments" / "prod" / "alerts.auto.tfvars.json"
    doc = json.loads(up.path.read_text())
    assert doc == {
        "alert_overrides": {
            a: {"threshold_value": 1800, "duration": "180s", "enabled": True},
            b: {"threshold_value": 0.25, "duration": "600s"},
        }
    }
    # the file resolves through the catalog exactly like Terraform's override precedence
    resolved = catalog.resolve(a, "prod", alert_overrides=doc["alert_overrides"])
    assert resolved.condition.threshold_value == 1800 and resolved.condition.duration_s == 180
    assert resolved.enabled is True
    assert catalog.resolve(b, "prod", alert_overrides=doc["alert_overrides"]).enabled is None
    md = up.diff_markdown
    assert f"| `{a}` | threshold_value |" in md and "**1800**" in md
    assert f"| `{a}` | enabled | shadow (enable_p1_p2_alerts) | **on** |" in md
    assert "not ready: holdout covers 4.2 days" in md
    assert "no recommendation: insufficient evidence" in md


def test_existing_entries_are_kept_and_human_enablement_is_not_revoked(tmp_path, catalog):
    a, b, _ = _p1p2(catalog)
    path = tv.tfvars_path(tmp_path, "staging")
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "alert_overrides": {
                    b: {"enabled": True, "threshold_value": 9},
                    "api_downtime": {"duration": "120s"},
                }
            }
        )
    )
    recs = [tv.PolicyRecommendation(b, 7.5, 300, ready=False, note="holdout FDR 0.1 > 0.02")]
    up = tv.update_tfvars(catalog, "staging", tmp_path, recs)
    over = json.loads(path.read_text())["alert_overrides"]
    assert over["api_downtime"] == {"duration": "120s"}
    assert over[b] == {"enabled": True, "threshold_value": 7.5, "duration": "300s"}
    assert "**warning**" in up.diff_markdown and a not in up.diff_markdown


def test_unchanged_file_is_not_rewritten_and_dry_run_writes_nothing(tmp_path, catalog):
    a = _p1p2(catalog)[0]
    recs = [tv.PolicyRecommendation(a, 1800.0, 180, ready=True)]
    up1 = tv.update_tfvars(catalog, "dev", tmp_path, recs)
    mtime = os.stat(up1.path).st_mtime_ns
    up2 = tv.update_tfvars(catalog, "dev", tmp_path, recs)
    assert not up2.written and os.stat(up2.path).st_mtime_ns == mtime
    assert "no change to deployed values" in up2.diff_markdown
    up3 = tv.update_tfvars(catalog, "staging", tmp_path, recs, write=False)
    assert not up3.written and not up3.path.exists()


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text("old\n")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(tv.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        tv.write_atomic(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"alert_overrides": {"x": {"threshold_value": 1,}}}', "line 1 column"),
        ('{"other": {}}', "only the key 'alert_overrides'"),
        ('{"alert_overrides": {"x": {"threshold": 1}}}', r"alert_overrides\.x"),
        ('{"alert_overrides": {"x": {"duration": "90s"}}}', "multiple of 60"),
        ('{"alert_overrides": {"x": {"enabled": "yes"}}}', r"x\.enabled"),
    ],
)
def test_bad_existing_file_is_named(tmp_path, text, match):
    p = tmp_path / "alerts.auto.tfvars.json"
    p.write_text(text)
    with pytest.raises(tv.TfvarsError, match=match):
        tv.read_overrides(p)


def test_unknown_policy_and_environment_rejected(tmp_path, catalog):
    with pytest.raises(tv.TfvarsError, match="not in the catalog"):
        tv.update_tfvars(catalog, "prod", tmp_path, [tv.PolicyRecommendation("nope", 1, 60, True)])
    with pytest.raises(tv.TfvarsError, match="environment"):
        tv.tfvars_path(tmp_path, "qa")


def test_tuning_documents_flow_into_tfvars_and_report(tmp_path, catalog):
    """tune() -> recommendation_from_doc -> file; the report table names every policy."""
    import numpy as np

    from ctscan_ops.alerting.tuning import recommend as tn

    rng = np.random.default_rng(5)
    # 75 days: the held-out 30 % (22.5 quiet days) bounds false alerts under one a week; 30 days
    # (9 held-out days) used to be called ready, but 0 false in 9 days only bounds 2.3/week
    n = 75 * 1440
    t = 1_700_000_040 + 60.0 * np.arange(n)
    v = 0.5 + rng.normal(0, 0.03, n)
    windows = []
    for s in range(400, n - 60, 2 * 1440):
        v[s : s + 30] = 0.92
        windows.append((t[s], t[s + 29]))
    cond = tn.Condition1D("COMPARISON_GT", "EVALUATION_MISSING_DATA_INACTIVE", 3600)
    a, b, _ = _p1p2(catalog)
    docs = {
        a: tn.tune(v, t, windows, cond, tn.TuningParams(durations_s=(0, 300)), current=(0.8, 600)),
        b: tn.tune(v[: 5 * 1440], t[: 5 * 1440], windows[:1], cond),
    }
    assert docs[a]["readiness"]["verdict"] == "ready"
    recs = [tv.recommendation_from_doc(name, d) for name, d in docs.items()]
    assert recs[0].ready and recs[0].threshold_value == docs[a]["recommended"]["threshold"]
    assert not recs[1].ready and recs[1].threshold_value is None
    assert "insufficient evidence" in recs[1].note
    up = tv.update_tfvars(catalog, "prod", tmp_path, recs)
    over = json.loads(up.path.read_text())["alert_overrides"]
    assert set(over) == {a} and over[a]["enabled"] is True
    md = tn.report_markdown("prod", docs)
    assert f"| `{a}` | 0.8 for 600 s |" in md and "| ready |" in md
    assert f"- `{b}`: insufficient evidence" in md
