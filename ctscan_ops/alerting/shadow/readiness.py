"""Readiness of a shadow-mode policy: may it be enabled? (pure rules, no Dagster).

A P1/P2 policy is held in shadow mode until its quality on enough days of shadow data meets
the targets, *with the uncertainty of those figures taken into account*: an FDR of 0 % on two
incidents says little, so every verdict carries its intervals and, when it is not firm yet,
how many more shadow days at the observed rates would make it firm.

Figures (:func:`assess`)
    * FDR = false incidents / incidents, with a 95 % Wilson score interval
      (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``);
    * false alerts per day, with the exact (Garwood) 95 % Poisson interval
      ``[chi2.ppf(0.025, 2k) / 2T, chi2.ppf(0.975, 2k + 2) / 2T]`` for k false incidents in T days,
      and the one-sided 95 % upper bound ``chi2.ppf(0.95, 2k + 2) / 2T`` that the verdict uses;
    * labelled incidents seen and detected.

Verdict
    ``insufficient_evidence``: fewer than ``min_days`` days of data, or no labelled incident
    (nothing shows the policy is useful), or 1-2 labelled incidents while nothing else fails;
    ``not_ready``: the point FDR is over target, a labelled incident was missed, the observed
    false alerts per week already exceed the budget, or (P0) the mean time to detect is over
    target;
    ``provisional``: the point figures meet the targets but a bound is still too wide: the 95 %
    upper bound of false alerts per week is over the budget, or fewer than
    ``MIN_READY_INCIDENTS`` labelled incidents were seen; names the bound and the days;
    ``ready``: point FDR within target, upper bound of false alerts per week within budget
    (per severity in the catalog, ``false_page_budget_per_week``; default one), at least
    ``MIN_READY_INCIDENTS`` labelled incidents, all detected.

The point FDR is what ``ready`` requires (as the operators' target is stated); when the FDR's
upper bound is above the target the report says plainly how many incidents showing the target
would take (:func:`incidents_to_show_fdr`), instead of rounding weak evidence up.

``alert_quality`` applies these rules to every policy and turns :func:`readiness_summary` into
its check; nothing here reads storage or settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

CONFIDENCE = 0.95
MIN_READY_INCIDENTS = 3  # no policy is called ready on one or two labelled incidents
DEFAULT_BUDGET_PER_WEEK = 1.0

READY = "ready"
PROVISIONAL = "provisional"
NOT_READY = "not_ready"
INSUFFICIENT = "insufficient_evidence"
VERDICTS = (READY, PROVISIONAL, NOT_READY, INSUFFICIENT)


class ReadinessTargets(Protocol):
    """The operator's targets (``AlertingSettings`` provides them)."""

    min_days: int
    fdr_target: float
    p0_mttd_target_s: float


# --- intervals ---------------------------------------------------------------------------------


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Two-sided Wilson score interval of a proportion k/n (None when n == 0)."""
    if n <= 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def poisson_interval(k: float, days: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of an event rate per day: k events in ``days``."""
    from scipy.stats import chi2

    alpha = 1.0 - confidence
    lo = 0.0 if k <= 0 else float(chi2.ppf(alpha / 2, 2 * k)) / 2.0 / days
    hi = float(chi2.ppf(1 - alpha / 2, 2 * k + 2)) / 2.0 / days
    return lo, hi


def poisson_upper(k: float, days: float, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound of an event rate per day (Garwood); ``k`` may be a
    real number (an expected count at the observed rate, for :func:`days_to_firm`)."""
    from scipy.stats import chi2

    return float(chi2.ppf(confidence, 2 * k + 2)) / 2.0 / days


def days_to_firm(
    rate_per_day: float, budget_per_week: float, confidence: float = CONFIDENCE
) -> float | None:
    """Total shadow days T at which the upper bound of false alerts per week, with the events
    expected at ``rate_per_day`` (k = rate x T), falls within ``budget_per_week``.

    None when the observed rate itself is at or over the budget: no amount of data at that rate
    proves it. Solved by bisection (the bound decreases monotonically towards the rate).
    """
    budget_day = budget_per_week / 7.0
    if rate_per_day >= budget_day:
        return None

    def over(t: float) -> bool:
        return poisson_upper(rate_per_day * t, t, confidence) > budget_day

    lo, hi = 1e-6, 1.0
    while over(hi):
        lo, hi = hi, hi * 2.0
        if hi > 1e7:
            return None
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if over(mid) else (lo, mid)
    return hi


def incidents_to_show_fdr(target: float, confidence: float = CONFIDENCE) -> int | None:
    """Fewest incidents, none of them false, whose Wilson upper bound of the FDR is <= target.

    With k = 0 the Wilson upper bound is z^2 / (n + z^2), so n >= z^2 (1 - target) / target.
    """
    if target <= 0:
        return None
    if target >= 1:
        return 1
    from scipy.stats import norm

    z2 = float(norm.ppf(1 - (1 - confidence) / 2)) ** 2
    return max(1, math.ceil(z2 * (1 - target) / target - 1e-9))


# --- the verdict ---------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def assess(
    severity: str,
    days: float,
    q: Mapping[str, Any],
    targets: ReadinessTargets,
    budget_per_week: float = DEFAULT_BUDGET_PER_WEEK,
) -> dict[str, Any]:
    """Verdict with intervals and days to a firm verdict (module docstring); JSON-ready.

    ``q`` holds the quality figures (``Quality.as_dict()``): ``incidents``,
    ``false_incidents`` (derived from FDR x incidents when absent), ``labelled_incidents``,
    ``missed_incidents``, ``false_discovery_rate``, ``mean_detection_s``.
    """
    n = int(q.get("incidents") or 0)
    fdr = q.get("false_discovery_rate")
    k_false = q.get("false_incidents")
    if k_false is None:
        k_false = round((fdr or 0.0) * n)
    k_false = int(k_false)
    labelled = int(q.get("labelled_incidents") or 0)
    missed = int(q.get("missed_incidents") or 0)
    detected = labelled - missed
    fdr_ci = wilson_interval(k_false, n)
    out: dict[str, Any] = {
        "verdict": INSUFFICIENT,
        "reasons": [],
        "days": round(float(days), 3),
        "confidence": CONFIDENCE,
        "incidents": n,
        "false_incidents": k_false,
        "labelled_incidents": labelled,
        "detected_incidents": detected,
        "false_discovery_rate": fdr,
        "fdr_interval": None if fdr_ci is None else list(fdr_ci),
        "fdr_target": targets.fdr_target,
        "false_alerts_per_day": None,
        "false_alerts_per_day_interval": None,
        "false_alerts_per_week_upper": None,
        "false_page_budget_per_week": budget_per_week,
        "days_to_firm_verdict": None,
        "days_to_show_target_fdr": None,
        "note": None,
    }
    reasons: list[str] = out["reasons"]
    if days <= 0 or days < targets.min_days:
        reasons.append(f"not enough data ({days:.1f} < {targets.min_days} days)")
        if days > 0:
            out["days_to_firm_verdict"] = math.ceil(targets.min_days - days)
        return out
    rate = k_false / days
    week_upper = 7.0 * poisson_upper(k_false, days)
    out["false_alerts_per_day"] = rate
    out["false_alerts_per_day_interval"] = list(poisson_interval(k_false, days))
    out["false_alerts_per_week_upper"] = week_upper
    n_needed = incidents_to_show_fdr(targets.fdr_target)
    if fdr_ci is not None and fdr_ci[1] > targets.fdr_target:
        out["note"] = (
            f"FDR {k_false}/{n} = {_pct(fdr)} (95 % interval {_pct(fdr_ci[0])}-"
            f"{_pct(fdr_ci[1])}): {n} incident(s) cannot show an FDR <= "
            f"{_pct(targets.fdr_target)}; that takes >= {n_needed} incidents without a false one"
        )
        if n_needed is not None and n > 0:
            more = math.ceil(max(0.0, n_needed * days / n - days))
            out["days_to_show_target_fdr"] = more
            out["note"] += f" (about {more} more days of data at the observed incident rate)"

    failing: list[str] = []
    if fdr is not None and fdr > targets.fdr_target:
        failing.append(f"FDR {_pct(fdr)} > {_pct(targets.fdr_target)}")
    if missed:
        failing.append(f"missed {missed} of {labelled} incidents")
    if rate * 7.0 > budget_per_week:
        failing.append(
            f"{rate * 7.0:.2f} false alerts/week observed > budget {budget_per_week:g}/week"
        )
    mttd = q.get("mean_detection_s")
    if severity == "P0" and mttd is not None and mttd > targets.p0_mttd_target_s:
        failing.append(f"MTTD {mttd:.0f}s > {targets.p0_mttd_target_s:.0f}s")
    if failing:
        out["verdict"] = NOT_READY
        reasons.extend(failing)
        return out
    if labelled == 0:
        reasons.append("no labelled incidents to show it is useful")
        return out

    wide: list[str] = []
    need_days = days
    if week_upper > budget_per_week:
        total = days_to_firm(rate, budget_per_week)
        wide.append(
            f"95 % upper bound of false alerts/week {week_upper:.2f} > budget "
            f"{budget_per_week:g} ({k_false} false in {days:.1f} days)"
        )
        if total is not None:
            need_days = max(need_days, total)
    if labelled < MIN_READY_INCIDENTS:
        wide.append(
            f"{labelled} labelled incident(s): no verdict of ready on fewer than "
            f"{MIN_READY_INCIDENTS}"
        )
        need_days = max(need_days, days * MIN_READY_INCIDENTS / labelled)
    if wide:
        out["verdict"] = PROVISIONAL
        more = max(0, math.ceil(need_days - days - 1e-9))
        out["days_to_firm_verdict"] = more
        reasons.extend(wide)
        reasons.append(f"about {more} more shadow day(s) at the observed rates would settle it")
        return out
    out["verdict"] = READY
    out["days_to_firm_verdict"] = 0
    return out


def verdict_text(a: Mapping[str, Any]) -> str:
    """One line for tables: the verdict and its reasons (``ready`` alone when ready)."""
    v = a["verdict"]
    if v == READY:
        return READY
    if v == INSUFFICIENT and a["reasons"] and a["reasons"][0].startswith("not enough data"):
        return a["reasons"][0]
    label = {NOT_READY: "not ready", PROVISIONAL: "provisional", INSUFFICIENT: "insufficient"}[v]
    return f"{label}: " + "; ".join(a["reasons"])


def readiness(
    severity: str,
    days: float,
    q: Mapping[str, Any],
    targets: ReadinessTargets,
    budget_per_week: float = DEFAULT_BUDGET_PER_WEEK,
) -> str:
    """The verdict an operator acts on, as one line (:func:`verdict_text` of :func:`assess`)."""
    return verdict_text(assess(severity, days, q, targets, budget_per_week))


def readiness_summary(results: Sequence[Mapping[str, Any]], fdr_target: float) -> dict[str, Any]:
    """What the ``fp_rate_below_target`` check reports, from ``alert_quality``'s result rows.

    Only catalog variants count (a deployed variant shows what production pages on, it is not
    a candidate for enabling). The check passes when at least one P1/P2 policy has enough data
    and none of those is over the false-discovery target. ``provisional`` lists the policies
    whose figures meet the targets but whose evidence is not firm yet.
    """
    shadow = [r for r in results if r["severity"] in ("P1", "P2") and r["variant"] == "catalog"]
    judged = [r for r in shadow if not r["readiness"].startswith("not enough data")]
    over = [
        f"{r['environment']}/{r['policy']} ({r['quality']['false_discovery_rate']:.1%})"
        for r in judged
        if (r["quality"]["false_discovery_rate"] or 0) > fdr_target
    ]
    p0 = [r for r in results if r["severity"] == "P0" and r["variant"] == "catalog"]
    out = {
        "passed": not over and bool(judged),
        "judged": len(judged),
        "over_target": over,
        "ready": [f"{r['environment']}/{r['policy']}" for r in shadow if r["readiness"] == "ready"],
        "p0_missed_incidents": sum(r["quality"]["missed_incidents"] for r in p0),
    }
    provisional = [
        f"{r['environment']}/{r['policy']}"
        for r in shadow
        if (r.get("readiness_detail") or {}).get("verdict") == PROVISIONAL
    ]
    if provisional:
        out["provisional"] = provisional
    return out
