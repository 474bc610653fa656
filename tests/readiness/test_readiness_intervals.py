"""Readiness with its uncertainty: intervals against hand-computed cases, verdict boundaries on
both sides, days to a firm verdict (ctscan_ops.alerting.shadow.readiness)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from ctscan_ops.alerting.shadow.readiness import (
    assess,
    days_to_firm,
    incidents_to_show_fdr,
    poisson_interval,
    poisson_upper,
    readiness,
    wilson_interval,
)

Z = 1.959963984540054  # standard normal 97.5 % quantile
TARGETS = SimpleNamespace(min_days=7, fdr_target=0.02, p0_mttd_target_s=300.0)


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


def gamma2_upper_by_bisection(p: float) -> float:
    """x with P(Gamma(2, 1) <= x) = p, i.e. 1 - e^-x (1 + x) = p: chi2.ppf(p, 4) / 2."""
    lo, hi = 0.0, 50.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1 - math.exp(-mid) * (1 + mid) < p else (lo, mid)
    return lo


def test_wilson_matches_the_formula():
    lo, hi = wilson_interval(0, 3)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(Z * Z / (3 + Z * Z), rel=1e-9)  # 0.5615: 0/3 says little
    assert hi == pytest.approx(0.5615, abs=1e-4)
    for k, n in ((1, 10), (3, 40), (7, 7)):
        assert wilson_interval(k, n) == pytest.approx(wilson_by_hand(k, n), rel=1e-9)
    assert wilson_by_hand(1, 10) == pytest.approx((0.01788, 0.40415), abs=1e-5)
    assert wilson_interval(0, 0) is None


def test_garwood_matches_hand_computed_bounds():
    # chi2 with 2 degrees of freedom is exponential: chi2.ppf(p, 2) / 2 = -ln(1 - p)
    lo, hi = poisson_interval(0, 21)
    assert lo == 0.0
    assert hi == pytest.approx(-math.log(0.025) / 21, rel=1e-9)  # 0.1757 per day
    assert poisson_upper(0, 21) == pytest.approx(-math.log(0.05) / 21, rel=1e-9)
    lo, hi = poisson_interval(1, 10)
    assert lo == pytest.approx(-math.log(0.975) / 10, rel=1e-9)
    assert hi == pytest.approx(gamma2_upper_by_bisection(0.975) / 10, rel=1e-7)  # 5.572/10


def test_days_to_firm_verdict_solves_the_bound():
    # no false alert: 7 x (-ln 0.05) / T <= 1 -> T = 20.97 days ("about three quiet weeks")
    assert days_to_firm(0.0, 1.0) == pytest.approx(-7 * math.log(0.05), rel=1e-6)
    # a rate of 1 per 30 days: at T the bound with k = T/30 equals the budget
    t = days_to_firm(1 / 30, 1.0)
    assert 7 * poisson_upper(t / 30, t) == pytest.approx(1.0, rel=1e-6)
    assert 7 * poisson_upper((t - 1) / 30, t - 1) > 1.0
    assert days_to_firm(1 / 7, 1.0) is None  # the rate itself is the budget: never provable


def test_incidents_needed_to_show_a_two_percent_fdr():
    n = incidents_to_show_fdr(0.02)
    assert n == math.ceil(Z * Z * 0.98 / 0.02)  # 189
    assert wilson_interval(0, n)[1] <= 0.02 < wilson_interval(0, n - 1)[1]


def _q(labelled=3, missed=0, incidents=3, false=0, mttd=60.0):
    return {
        "incidents": incidents,
        "false_incidents": false,
        "false_discovery_rate": None if incidents == 0 else false / incidents,
        "labelled_incidents": labelled,
        "missed_incidents": missed,
        "mean_detection_s": mttd,
    }


def test_ready_needs_three_quiet_weeks_and_three_incidents():
    a = assess("P1", 21.0, _q(), TARGETS)
    assert a["verdict"] == "ready" and a["days_to_firm_verdict"] == 0
    assert a["false_alerts_per_week_upper"] == pytest.approx(-7 * math.log(0.05) / 21)
    assert a["fdr_interval"][1] == pytest.approx(Z * Z / (3 + Z * Z))
    # ... and the report says plainly that 3 incidents cannot show a 2 % FDR
    assert "3 incident(s) cannot show an FDR <= 2.0%" in a["note"] and "189" in a["note"]
    assert a["days_to_show_target_fdr"] == math.ceil(189 * 21 / 3 - 21)  # 1302 days
    b = assess("P1", 20.0, _q(), TARGETS)  # bound 1.049/week > 1
    assert b["verdict"] == "provisional"
    assert b["days_to_firm_verdict"] == 1  # 20.97 days in all
    assert "upper bound of false alerts/week 1.05 > budget 1" in b["reasons"][0]
    # a looser budget (catalog, per severity) makes 14 quiet days enough: 7*2.996/14 = 1.498
    assert assess("P2", 14.0, _q(), TARGETS, budget_per_week=1.5)["verdict"] == "ready"
    assert assess("P2", 14.0, _q(), TARGETS, budget_per_week=1.49)["verdict"] == "provisional"


@pytest.mark.parametrize("labelled", [1, 2])
def test_never_ready_on_one_or_two_incidents(labelled):
    a = assess("P1", 60.0, _q(labelled=labelled, incidents=labelled), TARGETS)
    assert a["verdict"] == "provisional"
    # at the observed incident rate, 3 labelled incidents take 60 * 3 / labelled days
    assert a["days_to_firm_verdict"] == math.ceil(60 * 3 / labelled - 60)
    assert readiness("P1", 60.0, _q(labelled=labelled, incidents=labelled), TARGETS) != "ready"


def test_not_ready_and_insufficient():
    assert assess("P1", 30.0, _q(incidents=4, false=1), TARGETS)["verdict"] == "not_ready"
    assert assess("P1", 30.0, _q(missed=1), TARGETS)["reasons"] == ["missed 1 of 3 incidents"]
    # 10 false alerts in 30 days: 2.33/week observed > budget: not ready, whatever the FDR
    a = assess("P1", 30.0, _q(incidents=13, false=10), TARGETS)
    assert a["verdict"] == "not_ready" and a["days_to_firm_verdict"] is None
    none = assess("P2", 30.0, _q(labelled=0, incidents=0), TARGETS)
    assert none["verdict"] == "insufficient_evidence"
    assert none["reasons"] == ["no labelled incidents to show it is useful"]
    short = assess("P1", 3.0, _q(), TARGETS)
    assert short["verdict"] == "insufficient_evidence" and short["days_to_firm_verdict"] == 4
    assert readiness("P1", 3.0, _q(), TARGETS) == "not enough data (3.0 < 7 days)"
    assert assess("P0", 30.0, _q(mttd=400.0), TARGETS)["reasons"] == ["MTTD 400s > 300s"]


def test_catalog_false_page_budget_field():
    from ctscan_ops.alerting.catalog import CatalogError, load_catalog, parse_catalog

    cat = load_catalog()
    assert cat.false_page_budget("P1") == 1.0 and cat.false_page_budget("P2") == 1.0
    raw = {
        "catalog_version": 1,
        "policies": {"a": _raw_policy()},
    }
    assert parse_catalog(raw).false_page_budget_per_week == {"P0": 1.0, "P1": 1.0, "P2": 1.0}
    assert parse_catalog({**raw, "false_page_budget_per_week": {"P2": 2}}).false_page_budget(
        "P2"
    ) == pytest.approx(2.0)
    for bad, msg in (
        ({"P3": 1}, "unknown severity 'P3'"),
        ({"P1": 0}, r"false_page_budget_per_week.P1: must be a number > 0"),
        ({"P1": True}, "must be a number > 0"),
        ([1], "must be a mapping"),
    ):
        with pytest.raises(CatalogError, match=msg):
            parse_catalog({**raw, "false_page_budget_per_week": bad}, "cat.yaml")


def _raw_policy():
    """One policy of the repository's catalog, as YAML-decoded data."""
    import yaml

    from ctscan_ops.alerting.catalog import default_catalog_path

    with open(default_catalog_path(), encoding="utf-8") as fh:
        return yaml.safe_load(fh)["policies"]["high_cpu"]
