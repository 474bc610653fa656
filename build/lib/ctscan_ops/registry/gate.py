"""Promotion gate: does a challenger deserve the champion alias?

Pure function over plain inputs (evaluation reports and lists of open evidence), so the Dagster
check, the CLI and the tests apply the same rule. Unlike registries that gate on offline
metrics only, open drift findings and firing shadow alerts against the challenger block it too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the gate (configurable per deployment; recorded with every decision)."""

    macro_f1_margin: float = 0.01  # challenger macro-F1 must exceed champion's by this much
    max_class_recall_drop: float = 0.10  # no class recall may fall by more than this
    min_class_recall: float = 0.5  # absolute bound: every class recall at least this
    latency_budget_ms: float = 50.0  # single-image CPU latency p95 budget

    def __post_init__(self) -> None:
        if self.latency_budget_ms <= 0 or not 0 <= self.max_class_recall_drop <= 1:
            raise ValueError(f"bad GatePolicy: {self}")


@dataclasses.dataclass(frozen=True)
class GateDecision:
    passed: bool
    failures: list[str]
    checks: dict[str, dict[str, Any]]

    def summary(self) -> str:
        if self.passed:
            return "challenger beats champion: " + "; ".join(
                c["detail"] for c in self.checks.values()
            )
        return "challenger refused: " + "; ".join(self.failures)


def _recalls(report: Mapping[str, Any], where: str) -> dict[str, float]:
    try:
        return {k: float(v["recall"]) for k, v in report["per_class"].items()}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where} evaluation lacks per_class recall: {exc}") from exc


def _get(report: Mapping[str, Any], key: str, where: str) -> float:
    if key not in report:
        raise ValueError(f"{where} evaluation lacks {key!r}")
    return float(report[key])


def challenger_beats_champion(
    challenger: Mapping[str, Any],
    champion: Mapping[str, Any] | None,
    *,
    policy: GatePolicy | None = None,
    open_drift: Sequence[str] = (),
    open_shadow_alerts: Sequence[str] = (),
) -> GateDecision:
    """Decide a promotion. ``champion=None`` (first promotion) skips the relative checks.

    Args:
        challenger/champion: reports from ``evaluate.evaluate_model`` on the same held-out set.
        open_drift: descriptions of unresolved drift findings against the challenger's inputs.
        open_shadow_alerts: shadow-mode alert policies currently firing for the challenger.
    """
    policy = policy or GatePolicy()
    checks: dict[str, dict[str, Any]] = {}

    def add(name: str, ok: bool, detail: str) -> None:
        checks[name] = {"passed": bool(ok), "detail": detail}

    c_f1 = _get(challenger, "macro_f1", "challenger")
    c_rec = _recalls(challenger, "challenger")
    c_lat = _get(challenger, "latency_p95_ms", "challenger")
    if champion is not None:
        same = (challenger.get("dataset"), challenger.get("n")) == (
            champion.get("dataset"),
            champion.get("n"),
        )
        add(
            "same_holdout",
            same,
            f"held-out set {challenger.get('dataset')} n={challenger.get('n')}"
            + (
                ""
                if same
                else f" differs from champion's {champion.get('dataset')} "
                f"n={champion.get('n')} (different held-out sets)"
            ),
        )
        h_f1 = _get(champion, "macro_f1", "champion")
        need = h_f1 + policy.macro_f1_margin
        add(
            "macro_f1_margin",
            c_f1 >= need,
            f"macro-F1 {c_f1:.4f} vs champion {h_f1:.4f} + margin {policy.macro_f1_margin} "
            f"= {need:.4f}",
        )
        h_rec = _recalls(champion, "champion")
        drops = {k: h_rec[k] - c_rec.get(k, 0.0) for k in h_rec}
        worst = max(drops, key=lambda k: drops[k]) if drops else None
        bad = [k for k, d in drops.items() if d > policy.max_class_recall_drop + 1e-12]
        add(
            "class_recall_drop",
            not bad,
            f"recall drops > {policy.max_class_recall_drop}: "
            + (", ".join(f"{k} {h_rec[k]:.3f}->{c_rec.get(k, 0.0):.3f}" for k in bad) or "none")
            + (f" (worst {worst} {drops[worst]:+.3f})" if worst else ""),
        )
    low = [k for k, r in c_rec.items() if r < policy.min_class_recall]
    add(
        "class_recall_floor",
        not low,
        f"class recall floor {policy.min_class_recall}: "
        + (", ".join(f"{k} {c_rec[k]:.3f}" for k in low) or "all above"),
    )
    add(
        "latency_budget",
        c_lat <= policy.latency_budget_ms,
        f"latency p95 {c_lat:.2f} ms vs budget {policy.latency_budget_ms} ms",
    )
    add(
        "no_open_drift", not open_drift, "open drift evidence: " + ("; ".join(open_drift) or "none")
    )
    add(
        "no_shadow_alerts",
        not open_shadow_alerts,
        "firing shadow alerts: " + ("; ".join(open_shadow_alerts) or "none"),
    )
    failures = [c["detail"] for c in checks.values() if not c["passed"]]
    return GateDecision(passed=not failures, failures=failures, checks=checks)


def next_candidate(evaluated: Sequence[str], champion: str | None, refused: set[str]) -> str | None:
    """The oldest evaluated version newer than the champion and not yet refused against it.

    Version ids sort by registration time, so candidates are judged in the order they were
    registered; a refused one is not proposed again until the champion changes.
    """
    for version in sorted(evaluated):
        if (champion is None or version > champion) and version not in refused:
            return version
    return None
