"""Readiness rules (pure): the verdicts alert_quality reports and its check's summary."""

from __future__ import annotations

from types import SimpleNamespace

from ctscan_ops.alerting.shadow.readiness import readiness, readiness_summary

TARGETS = SimpleNamespace(min_days=7, fdr_target=0.02, p0_mttd_target_s=300.0)


def _q(fdr=0.0, labelled=2, incidents=2, missed=0, mttd=60.0):
    return {
        "false_discovery_rate": fdr,
        "labelled_incidents": labelled,
        "incidents": incidents,
        "missed_incidents": missed,
        "mean_detection_s": mttd,
    }


def test_verdicts():
    assert readiness("P1", 3.0, _q(), TARGETS) == "not enough data (3.0 < 7 days)"
    # 8 quiet days and 2 incidents used to be "ready"; the bounds are too wide for that now
    # (tests/readiness has the interval arithmetic)
    assert readiness("P1", 8.0, _q(), TARGETS).startswith("provisional: ")
    assert readiness("P1", 21.0, _q(labelled=3, incidents=3), TARGETS) == "ready"
    assert readiness("P2", 8.0, _q(fdr=0.05, missed=1), TARGETS) == (
        "not ready: FDR 5.0% > 2.0%; missed 1 of 2 incidents"
    )
    assert readiness("P2", 8.0, _q(labelled=0, incidents=0), TARGETS).endswith(
        "no labelled incidents to show it is useful"
    )
    assert readiness("P0", 8.0, _q(mttd=400.0), TARGETS) == "not ready: MTTD 400s > 300s"
    # MTTD target is P0 only
    assert readiness("P1", 21.0, _q(labelled=3, incidents=3, mttd=400.0), TARGETS) == "ready"


def _row(policy, severity, verdict, fdr=0.0, missed=0, variant="catalog"):
    q = {"false_discovery_rate": fdr, "missed_incidents": missed}
    return {
        "environment": "prod",
        "policy": policy,
        "severity": severity,
        "variant": variant,
        "readiness": verdict,
        "quality": q,
    }


def test_summary_counts_only_catalog_variants_with_enough_data():
    rows = [
        _row("a", "P1", "ready"),
        _row("b", "P2", "not ready: FDR 5.0% > 2%", fdr=0.05),
        _row("c", "P2", "not enough data (1.0 < 7 days)", fdr=0.5),
        _row("b", "P2", "ready", fdr=0.5, variant="deployed"),
        _row("p", "P0", "ready", missed=2),
    ]
    s = readiness_summary(rows, 0.02)
    assert s == {
        "passed": False,
        "judged": 2,
        "over_target": ["prod/b (5.0%)"],
        "ready": ["prod/a"],
        "p0_missed_incidents": 2,
    }
    assert readiness_summary(rows[:1], 0.02)["passed"] is True
    assert readiness_summary(rows[2:3], 0.02)["passed"] is False  # nothing judged yet
