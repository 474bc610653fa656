"""P0 recommendations: evidence for a human, never applied, never slower than the promise."""

from __future__ import annotations

import json

from ctscan_ops.alerting import proposal as pr
from ctscan_ops.alerting.catalog import load_catalog
from ctscan_ops.alerting.tuning import tfvars as tv
from ctscan_ops.alerting.tuning.recommend import P0_MTTD_TARGET_S, TuningParams
from ctscan_ops.alerting.tuning.report import params_for


def _doc(severity, threshold, verdict="ready"):
    return {
        "severity": severity,
        "recommended": {"threshold": threshold, "duration_s": 60, "reason": None},
        "current": {"threshold": 0.05, "duration_s": 60},
        "holdout": {
            "false_discovery_rate": 0.0,
            "recall": 1.0,
            "median_detection_s": 60.0,
            "mean_detection_s": 90.0,
        },
        "readiness": {"verdict": verdict, "reasons": []},
    }


def test_params_for_a_p0_keep_its_detection_promise_and_budget():
    cat = load_catalog()
    base = TuningParams()
    p0 = params_for(cat.resolve("high_error_rate", "prod"), base, false_page_budget={"P0": 0.5})
    assert p0.max_detection_s == P0_MTTD_TARGET_S == 300.0
    assert p0.false_page_budget_per_week == 0.5
    p1 = params_for(cat.resolve("high_latency", "prod"), base, false_page_budget={"P1": 2})
    assert p1.max_detection_s is None and p1.false_page_budget_per_week == 2.0


def test_p0_recommendation_never_reaches_tfvars_or_the_proposal_file(tmp_path):
    cat = load_catalog()
    docs = {"high_error_rate": _doc("P0", 0.08), "high_latency": _doc("P1", 2500.0)}
    recs = [tv.recommendation_from_doc(n, d) for n, d in docs.items()]
    assert not recs[0].ready  # a P0 is never "ready to apply"
    # even a caller that forgot the severity cannot write a P0: the catalog's word wins
    recs.append(tv.PolicyRecommendation("api_downtime", 0.7, 60, True))
    up = tv.update_tfvars(cat, "prod", tmp_path, recs)
    over = json.loads(up.path.read_text())["alert_overrides"]
    assert set(over) == {"high_latency"} and over["high_latency"]["enabled"] is True
    assert "for a human to decide" in up.diff_markdown
    prop = pr.build_proposal(
        environment="prod",
        base_text=None,
        proposed_text=tv.render(up.overrides),
        report_markdown="(report)",
        diff_markdown=up.diff_markdown,
        docs=docs,
        days=["2026-01-01"],
        catalog_hash="0" * 16,
    )
    assert "high_error_rate" not in prop.tfvars_text
    assert "## P0 recommendations (for a human to decide)" in prop.pr_markdown
    assert "| `high_error_rate` | 0.05 for 60 s | 0.08 for 60 s |" in prop.pr_markdown
    assert prop.evidence["high_error_rate"]["for_a_human_to_decide"] is True
    assert prop.evidence["high_latency"]["for_a_human_to_decide"] is False
