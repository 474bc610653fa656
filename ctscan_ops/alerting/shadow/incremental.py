"""``alert_quality`` from the daily ``shadow_incidents`` records instead of a whole re-evaluation.

The whole-window evaluation (:func:`full_evaluation`: ``evaluate(policy, series, start, end)``
with warm-up) is what ``alert_quality`` scores. Re-running it over every day of every policy is
most of the asset's time, while the daily records already hold the same incidents: a daily
record evaluates its day from ``lookback_s(policy)`` earlier, and the evaluator's state at a
tick depends only on that much history (see :mod:`ctscan_ops.alerting.shadow.evaluation`), so
an incident the whole window opens at a tick of day ``D`` is the one day ``D``'s record holds.
:class:`StitchedEvaluation` rebuilds the whole-window result from them and re-evaluates only:

* the **head** of the window (the days within ``lookback_s + 60 s`` of its start): the whole
  window starts there without history (warm-up of ``duration`` only), so its first ticks may
  differ from a record that had history; they are evaluated exactly as the whole window does
  (the evaluator is causal: a shorter end changes nothing before it);
* days whose record is **missing or stale** for the policy: no record, another catalog hash
  and another policy content hash (or no per-policy hash), the policy absent from it, or a
  record without the per-policy point counts;
* **deployed variants** (``alert_policy_drift`` overrides) whose content hash differs from the
  catalog policy's (one that differs only by ``enabled`` evaluates the same);
* pairs where stitching cannot be exact: an incident still open at its record's close horizon
  before the window ends (its close lies beyond what the record evaluated), fall back to the
  whole-window evaluation.

Labels (incident register, operator verdicts) only change scoring, which ``alert_quality``
always redoes. Closes are mapped as the whole window sees them: a close after the last tick
is "still open" (``None``). ``met`` per tick (for ``fpr_per_tick``) is the union of the
incidents' ``[open, close)`` spans, which is what ``EvaluationResult.met`` is.

``daily_records_disagree`` comes from a deterministic **sample** (:func:`sample_pairs`): the
``k`` catalog pairs with the smallest ``sha256(last day | env/policy)``, so the sample rotates
from one day's report to the next and every pair is checked over time. Those pairs are
evaluated over the whole window; their incident ids are compared with the raw daily records'
(the old figure, restricted to the sample) and their stitched result with the whole one.

Pure: no Dagster, no storage; series come through a ``fetch(policy, since, until)`` callable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.evaluator import TICK_S, evaluate, make_ticks
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.shadow.evaluation import lookback_s

__all__ = [
    "DAY_S",
    "DEFAULT_HORIZON_S",
    "PairEvaluation",
    "StitchedEvaluation",
    "full_evaluation",
    "pair_key",
    "sample_pairs",
]

DAY_S = 86_400
#: the close horizon of ``shadow_incidents`` records written before they stored theirs
DEFAULT_HORIZON_S = 6 * 3600

Fetch = Callable[[Policy, float, float], list[TimeSeries]]


@dataclass(frozen=True)
class StitchedIncident:
    """The part of an incident scoring and the timeline read."""

    id: str
    open: float
    close: float | None
    condition: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PairEvaluation:
    """What ``alert_quality`` needs of one policy x environment over the window."""

    incidents: list[Any]  # objects with id, open, close (Incident or StitchedIncident)
    ticks: np.ndarray
    met: np.ndarray
    has_data: bool
    how: str = "full"  # "full" | "stitched" | "reused"


def pair_key(policy: Policy) -> str:
    return f"{policy.environment or ''}/{policy.name}"


def _has_points(series: Sequence[TimeSeries], since: float, until: float) -> bool:
    """Whether a point ends in ``(since, until]`` (the interval a fetch of that range reads)."""
    return any(bool(np.any((s.times > since) & (s.times <= until))) for s in series)


def full_evaluation(policy: Policy, fetch: Fetch, start: float, end: float) -> PairEvaluation:
    """The whole-window evaluation ``alert_quality`` always did (the reference)."""
    series = fetch(policy, start - lookback_s(policy), end)
    res = evaluate(policy, series, start, end)
    return PairEvaluation(
        incidents=list(res.incidents),
        ticks=res.ticks,
        met=res.met,
        # points in the interval it reads: a wider fetch shared with another policy (the
        # SeriesCache reuses it) must not count points from before this policy's look-back
        has_data=_has_points(series, start - lookback_s(policy), end),
    )


def sample_pairs(keys: Sequence[str], k: int, stamp: str) -> list[str]:
    """``k`` pair keys chosen by ``sha256(stamp | key)``: deterministic, rotating with ``stamp``."""

    def rank(key: str) -> str:
        return hashlib.sha256(f"{stamp}|{key}".encode()).hexdigest()

    return sorted(sorted(set(keys), key=rank)[: max(0, k)])


def _day_start(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()


def _parse_iso(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _met_from(incidents: Sequence[Any], ticks: np.ndarray) -> np.ndarray:
    met = np.zeros(ticks.size, dtype=bool)
    if not ticks.size:
        return met
    t0 = float(ticks[0])
    for inc in incidents:
        a = max(0, round((float(inc.open) - t0) / TICK_S))
        b = ticks.size if inc.close is None else round((float(inc.close) - t0) / TICK_S)
        if b > a:
            met[a:b] = True
    return met


@dataclass
class StitchedEvaluation:
    """Whole-window results rebuilt from daily records (see the module docstring).

    ``records`` maps each day of ``days`` to its ``shadow_incidents`` document (None if the
    artifact is missing); ``days`` are the materialized partitions, ``[start, end]`` the
    window ``alert_quality`` scores (``end`` = last day's end - 60 s).
    """

    fetch: Fetch
    records: Mapping[str, Mapping[str, Any] | None]
    days: Sequence[str]
    start: float
    end: float
    catalog_hash: str
    stats: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ticks = make_ticks(self.start, self.end)
        first = _day_start(self.days[0])
        n = round((_day_start(self.days[-1]) - first) / DAY_S) + 1
        # every calendar day of the window; a day not materialized has no record
        self._calendar = [
            datetime.fromtimestamp(first + i * DAY_S, tz=UTC).strftime("%Y-%m-%d") for i in range(n)
        ]

    def _count(self, what: str, n: int = 1) -> None:
        self.stats[what] = self.stats.get(what, 0) + n

    def _record_ok(self, rec: Mapping[str, Any] | None, policy: Policy, key: str) -> bool:
        if rec is None or key not in (rec.get("policies") or {}):
            return False
        if key not in (rec.get("points_by_policy") or {}):
            return False
        if rec.get("catalog_hash") == self.catalog_hash:
            return True
        return (rec.get("policy_hashes") or {}).get(key) == policy.content_hash

    def evaluate(self, policy: Policy) -> PairEvaluation:
        """The pair's whole-window result, stitched where records allow, exact either way."""
        key = pair_key(policy)
        lb = lookback_s(policy)
        head_days = int((lb + TICK_S) // DAY_S) + 1
        spans: list[tuple[int, int]] = []  # runs of day indexes to re-evaluate, inclusive
        for i, day in enumerate(self._calendar):
            rec = self.records.get(day)
            if i < head_days or not self._record_ok(rec, policy, key):
                if spans and spans[-1][1] == i - 1:
                    spans[-1] = (spans[-1][0], i)
                else:
                    spans.append((i, i))
        incidents: list[StitchedIncident] = []
        # (day index -> the tick up to which the day's incidents' closes are known)
        unresolved = False
        has_data = False
        covered = set()
        first = _day_start(self._calendar[0])
        for a, b in spans:
            covered.update(range(a, b + 1))
            a_start = first + a * DAY_S
            b_end = first + (b + 1) * DAY_S
            until = min(self.end, b_end + DEFAULT_HORIZON_S)
            if a == 0:
                series = self.fetch(policy, self.start - lb, until)
                res = evaluate(policy, series, self.start, until)
                has_data = has_data or _has_points(series, self.start - lb, min(until, self.end))
            else:
                series = self.fetch(policy, a_start - lb, until)
                res = evaluate(policy, series, a_start - lb, until, warmup=False)
                has_data = has_data or _has_points(series, a_start - lb, until)
            self._count("days_reevaluated", b - a + 1)
            for inc in res.incidents:
                if not a_start <= inc.open < b_end:
                    continue
                close = inc.close
                if close is None and until < self.end:
                    unresolved = True
                incidents.append(
                    StitchedIncident(inc.id, inc.open, close, inc.condition, dict(inc.labels))
                )
        tail_unknown = False
        for i, day in enumerate(self._calendar):
            if i in covered:
                continue
            rec = self.records[day]
            assert rec is not None
            self._count("days_from_records")
            d_end = first + (i + 1) * DAY_S
            horizon = float(rec.get("close_horizon_s", DEFAULT_HORIZON_S))
            known_until = d_end + horizon  # the record evaluated up to here
            points = int(rec["points_by_policy"][key])
            if points:
                if d_end + horizon <= self.end:
                    has_data = True
                else:
                    tail_unknown = True
            for doc in rec["policies"][key]:
                close = _parse_iso(doc.get("close"))
                if close is None and known_until < self.end:
                    unresolved = True
                incidents.append(
                    StitchedIncident(
                        doc["id"],
                        _parse_iso(doc["open"]),  # type: ignore[arg-type]
                        close,
                        int(doc.get("condition", 0)),
                        dict(doc.get("labels") or {}),
                    )
                )
        if unresolved:
            # an incident open past its record's horizon: its close is not in any record
            self._count("pairs_full_fallback")
            return full_evaluation(policy, self.fetch, self.start, self.end)
        if not has_data and tail_unknown:
            series = self.fetch(policy, self.end - DAY_S, self.end)
            has_data = _has_points(series, self.end - DAY_S, self.end)
            self._count("tail_fetches")
        last_tick = float(self._ticks[-1]) if self._ticks.size else self.end
        out = [
            StitchedIncident(
                i.id,
                i.open,
                None if i.close is None or i.close > last_tick else i.close,
                i.condition,
                i.labels,
            )
            for i in incidents
        ]
        # the evaluator's order: open time, then condition (then group: the id breaks ties)
        out.sort(key=lambda i: (i.open, i.condition, i.id))
        self._count("pairs_stitched")
        return PairEvaluation(
            incidents=out,
            ticks=self._ticks,
            met=_met_from(out, self._ticks),
            has_data=has_data,
            how="stitched",
        )


def record_ids(records: Mapping[str, Mapping[str, Any] | None], key: str | None = None) -> set[str]:
    """Incident ids of the daily records (of one pair, or of all)."""
    ids: set[str] = set()
    for rec in records.values():
        if not rec:
            continue
        for k, incidents in (rec.get("policies") or {}).items():
            if key is None or k == key:
                ids.update(i["id"] for i in incidents)
    return ids


def same_incidents(a: PairEvaluation, b: PairEvaluation) -> bool:
    """Whether two results hold the same incidents (id, open, close) and the same ``met``."""

    def sig(p: PairEvaluation) -> list[tuple[str, float, float | None]]:
        return sorted((i.id, float(i.open), i.close) for i in p.incidents)

    return sig(a) == sig(b) and bool(np.array_equal(a.met, b.met)) and a.has_data == b.has_data
