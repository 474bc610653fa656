"""How good is the drift check itself: false alarms on stable days, recall on drift days.

Scored per threshold over the daily reports, with the alert policy's comparison (a day fires
when ``drift_share > threshold`` for ``COMPARISON_GT``). Days whose report was skipped (no
predictions) or that have no label are left out and counted. Rates come with Wilson 95%
intervals: with ~30 stable days, "0 false alarms" still means "up to ~11%".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

STABLE, DRIFT = "stable", "drift"
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))


@dataclass(frozen=True)
class DayResult:
    date: str  # YYYY-MM-DD
    label: str | None  # stable | drift | empty | None (unlabelled)
    drift_share: float | None  # None: report skipped (no predictions)
    drifted_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ThresholdScore:
    threshold: float
    stable_days: int
    false_alarms: int
    false_alarm_rate: float | None
    false_alarm_ci: tuple[float, float] | None
    drift_days: int
    detected: int
    recall: float | None
    recall_ci: tuple[float, float] | None
    detection_delay_days: int | None  # first drift day that fires, counted from the first one


def wilson_interval(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """Wilson score interval for ``k`` successes in ``n`` trials (None when n == 0)."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def fires(share: float, threshold: float, comparison: str = "COMPARISON_GT") -> bool:
    if comparison == "COMPARISON_GT":
        return share > threshold
    if comparison == "COMPARISON_LT":
        return share < threshold
    raise ValueError(f"comparison {comparison!r} is not COMPARISON_GT or COMPARISON_LT")


def score_thresholds(
    days: Iterable[DayResult],
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    comparison: str = "COMPARISON_GT",
) -> list[ThresholdScore]:
    """One row per threshold (pure)."""
    scored = sorted((d for d in days if d.drift_share is not None), key=lambda d: d.date)
    stable = [d for d in scored if d.label == STABLE]
    drift = [d for d in scored if d.label == DRIFT]
    out = []
    for t in thresholds:
        fa = sum(fires(d.drift_share, t, comparison) for d in stable)  # type: ignore[arg-type]
        hits = [fires(d.drift_share, t, comparison) for d in drift]  # type: ignore[arg-type]
        delay = next((i for i, h in enumerate(hits) if h), None)
        out.append(
            ThresholdScore(
                threshold=float(t),
                stable_days=len(stable),
                false_alarms=fa,
                false_alarm_rate=fa / len(stable) if stable else None,
                false_alarm_ci=wilson_interval(fa, len(stable)),
                drift_days=len(drift),
                detected=sum(hits),
                recall=sum(hits) / len(drift) if drift else None,
                recall_ci=wilson_interval(sum(hits), len(drift)),
                detection_delay_days=delay,
            )
        )
    return out


def column_false_alarm_rates(days: Iterable[DayResult]) -> dict[str, float]:
    """Share of scored stable days on which each column was flagged: the noisy features."""
    stable = [d for d in days if d.label == STABLE and d.drift_share is not None]
    counts: dict[str, int] = {}
    for d in stable:
        for c in d.drifted_columns:
            counts[c] = counts.get(c, 0) + 1
    return {c: k / len(stable) for c, k in sorted(counts.items(), key=lambda kv: -kv[1])}


def coverage(days: Iterable[DayResult]) -> dict[str, int]:
    """How many days were scored, skipped (no report) or unlabelled."""
    out = {"scored": 0, "skipped": 0, "unlabelled": 0}
    for d in days:
        if d.drift_share is None:
            out["skipped"] += 1
        elif d.label not in (STABLE, DRIFT):
            out["unlabelled"] += 1
        else:
            out["scored"] += 1
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f" [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}%]"


def markdown_table(rows: Sequence[ThresholdScore], current: float | None = None) -> str:
    """Per-threshold false-alarm rate and recall; the deployed threshold is marked."""
    lines = [
        "| threshold | false alarms (stable days) | recall (drift days) | delay (days) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        mark = " **(policy)**" if current is not None and math.isclose(r.threshold, current) else ""
        lines.append(
            f"| {r.threshold:.2f}{mark} | {r.false_alarms}/{r.stable_days} = "
            f"{_pct(r.false_alarm_rate)}{_ci(r.false_alarm_ci)} | {r.detected}/{r.drift_days} = "
            f"{_pct(r.recall)}{_ci(r.recall_ci)} | "
            f"{'-' if r.detection_delay_days is None else r.detection_delay_days} |"
        )
    return "\n".join(lines)


def as_dicts(rows: Sequence[ThresholdScore]) -> list[dict]:
    return [asdict(r) for r in rows]


def day_results_from(
    summaries: Mapping[str, Mapping | None], labels: Mapping[str, str]
) -> list[DayResult]:
    """Join per-day report summaries (``None`` = skipped) with day labels."""
    out = []
    for day in sorted(set(summaries) | set(labels)):
        s = summaries.get(day)
        share = None if not s or s.get("skipped") else float(s["drift_share"])
        cols = tuple(s.get("drifted_columns", ())) if s else ()
        out.append(DayResult(day, labels.get(day), share, cols))
    return out
