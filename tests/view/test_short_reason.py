"""The quality table's reason cell: short, and naming what keeps a verdict from ``ready``."""

from __future__ import annotations

from types import SimpleNamespace

from ctscan_ops.alerting.shadow.readiness import assess
from ctscan_ops.alerting.shadow.view import short_reason, uncertainty_fields


def _q(incidents: int, false: int, labelled: int, missed: int = 0) -> dict:
    return {
        "incidents": incidents,
        "false_incidents": false,
        "false_discovery_rate": false / incidents if incidents else None,
        "labelled_incidents": labelled,
        "missed_incidents": missed,
        "mean_detection_s": 60.0,
    }


TARGETS = SimpleNamespace(fdr_target=0.2, min_days=7, p0_mttd_target_s=300.0)


def test_provisional_names_the_wide_bound_and_the_few_incidents() -> None:
    # 8 quiet days: the Garwood 95 % one-sided bound of 0 events is -ln(0.05)/8 per day
    detail = assess("P1", 8.0, _q(2, 0, 2), TARGETS, 1.0)
    assert detail["verdict"] == "provisional"
    text = short_reason(detail)
    assert "false alerts/wk <= 2.62 (95 %) > budget 1" in text  # 7 * 3.0/8 = 2.62
    assert "2 labelled incident(s) < 3" in text
    assert len(text) < len("; ".join(detail["reasons"]))  # shorter than the full sentences


def test_ready_has_no_reason_and_not_ready_keeps_its_reasons() -> None:
    ready = assess("P1", 30.0, _q(5, 0, 5), TARGETS, 1.0)
    assert ready["verdict"] == "ready" and short_reason(ready) == ""
    over = assess("P1", 30.0, _q(5, 3, 2), TARGETS, 1.0)
    assert over["verdict"] == "not_ready"
    assert short_reason(over).startswith("FDR 60.0% > 20.0%")
    cells = uncertainty_fields(over)
    assert cells["reason"] == short_reason(over) and cells["FDR 95% CI"].startswith("[")
