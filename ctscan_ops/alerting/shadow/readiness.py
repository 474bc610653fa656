"""Readiness of a shadow-mode policy: may it be enabled? (pure rules, no Dagster).

A P1/P2 policy is held in shadow mode until its quality on enough days of shadow data meets
the targets (false discovery rate, no missed labelled incidents; for P0, mean time to detect).
``alert_quality`` applies these rules to every policy and turns :func:`readiness_summary` into
its check; nothing here reads storage or settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class ReadinessTargets(Protocol):
    """The operator's targets (``AlertingSettings`` provides them)."""

    min_days: int
    fdr_target: float
    p0_mttd_target_s: float


def readiness(severity: str, days: float, q: Mapping[str, Any], targets: ReadinessTargets) -> str:
    """ready / not ready (why) / not enough data: the verdict an operator acts on."""
    if days < targets.min_days:
        return f"not enough data ({days:.1f} < {targets.min_days} days)"
    reasons = []
    fdr = q["false_discovery_rate"]
    if fdr is not None and fdr > targets.fdr_target:
        reasons.append(f"FDR {fdr:.1%} > {targets.fdr_target:.0%}")
    if q["labelled_incidents"] == 0 and q["incidents"] == 0:
        reasons.append("no labelled incidents to show it is useful")
    elif q["missed_incidents"]:
        reasons.append(f"missed {q['missed_incidents']} of {q['labelled_incidents']} incidents")
    if (
        severity == "P0"
        and q["mean_detection_s"] is not None
        and (q["mean_detection_s"] > targets.p0_mttd_target_s)
    ):
        reasons.append(f"MTTD {q['mean_detection_s']:.0f}s > {targets.p0_mttd_target_s:.0f}s")
    return "ready" if not reasons else "not ready: " + "; ".join(reasons)


def readiness_summary(results: Sequence[Mapping[str, Any]], fdr_target: float) -> dict[str, Any]:
    """What the ``fp_rate_below_target`` check reports, from ``alert_quality``'s result rows.

    Only catalog variants count (a deployed variant shows what production pages on, it is not
    a candidate for enabling). The check passes when at least one P1/P2 policy has enough data
    and none of those is over the false-discovery target.
    """
    shadow = [r for r in results if r["severity"] in ("P1", "P2") and r["variant"] == "catalog"]
    judged = [r for r in shadow if not r["readiness"].startswith("not enough data")]
    over = [
        f"{r['environment']}/{r['policy']} ({r['quality']['false_discovery_rate']:.1%})"
        for r in judged
        if (r["quality"]["false_discovery_rate"] or 0) > fdr_target
    ]
    p0 = [r for r in results if r["severity"] == "P0" and r["variant"] == "catalog"]
    return {
        "passed": not over and bool(judged),
        "judged": len(judged),
        "over_target": over,
        "ready": [f"{r['environment']}/{r['policy']}" for r in shadow if r["readiness"] == "ready"],
        "p0_missed_incidents": sum(r["quality"]["missed_incidents"] for r in p0),
    }
