"""``alert_quality`` from the daily ``shadow_incidents`` records instead of a whole re-evaluation.

The whole-window evaluation (:func:`full_evaluation`: ``evaluate(policy, series, start, end)``
with warm-up) is what ``alert_quality`` scores. Re-running it over every day of every policy is
most of the asset's time, while the daily records already hold the same incidents: a daily
record evaluates its day from ``lookback_s(policy)`` earlier, and the evaluator's state at a
tick depends only on that much history (see :mod:`ctscan_ops.alerting.shadow.evaluation`), so
an incident the whole window opens at a tick of day ``D`` is the one day ``D``'s record holds.
:class:`StitchedEvaluation` rebuilds the whole-window result from them and re-evaluates only:

* the **head** of the window, up to ``lookback_s + 60 s`` after its start (plus 10 min of
  overlap): the whole window starts there without history (warm-up of ``duration`` only), so
  its first ticks may differ from a record that had history; they are evaluated exactly as the
  whole window does (the evaluator is causal: a shorter end changes nothing before it). Head
  incidents replace the records' incidents that open before that tick; one still open at the
  head's end is the record's run holding that tick (both are exact there);
* days whose record is **missing or stale** for the policy: no record, another catalog hash
  and another policy content hash (or no per-policy hash), the policy absent from it, or a
  record without the per-policy point counts (written before ``alert_quality`` needed them);
* **deployed variants** (``alert_policy_drift`` overrides): one that differs only by
  ``enabled`` evaluates like the catalog policy (its result is reused); one that is stricter
  (thresholds further on the violating side, durations at least as long, nothing else
  changed; the demo's ``high_latency`` at 2500 ms / 600 s) can only be met where the catalog
  policy is, so it is evaluated inside the catalog's incidents only
  (:meth:`StitchedEvaluation.evaluate_stricter`); any other is evaluated over the window;
* incidents still open where their record (or span) stopped evaluating (the records look
  6 h past their day): the run is followed from there a day at a time
  (:meth:`StitchedEvaluation._close_after`); if it cannot be found as expected, the pair is
  evaluated over the whole window.

Labels (incident register, operator verdicts) only change scoring, which ``alert_quality``
always redoes. Closes are mapped as the whole window sees them: a close after the last tick
is "still open" (``None``). ``met`` per tick (for ``fpr_per_tick``) is the union of the
incidents' ``[open, close)`` spans, which is what ``EvaluationResult.met`` is.

``daily_records_disagree`` comes from a deterministic **sample of spans** (:func:`sample_spans`):
up to ``k`` catalog pairs (default 2) in the order of ``sha256(last day | env/policy)``, each
with a run of consecutive days whose usable records (see *stale* above) it checks, starting at
a day chosen by the same hash and grown while the span's points stay within ``budget / k`` of
the points all records read (default budget 4 %). Every pair is eligible, the big Cloud Run
ones too (a day of one is well under 1 % of the demo world's points), and the sample rotates
from one day's report to the next. Each span is evaluated afresh exactly as the records were
(:meth:`StitchedEvaluation.check_span`: from ``lookback_s`` before its first day, closes
searched up to the records' horizon): incident ids present on one side only count towards
``daily_records_disagree`` (late data, records of other code), and the stitched result must
hold the same incidents there (``stitched_differs``). A larger ``sample_budget`` (run config
of ``alert_quality``) buys longer spans at their cost; ``full_reevaluation`` checks every
record against the whole window (the old figure).

Pure: no Dagster, no storage; series come through a ``fetch(policy, since, until)`` callable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.evaluator import TICK_S, evaluate, make_ticks
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.shadow.evaluation import incidents_opened_between, lookback_s
from ctscan_ops.common.timeparse import calendar_days, day_start

__all__ = [
    "DAY_S",
    "DEFAULT_HORIZON_S",
    "PairEvaluation",
    "SampledSpan",
    "StitchedEvaluation",
    "full_evaluation",
    "pair_key",
    "sample_spans",
]

DAY_S = 86_400
#: the close horizon of ``shadow_incidents`` records written before they stored theirs
DEFAULT_HORIZON_S = 6 * 3600
#: the head is evaluated this far past the tick from which records are exact (their overlap)
HEAD_SLACK_S = 600

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


@dataclass(frozen=True)
class SampledSpan:
    """Consecutive days of one pair whose records are checked against a fresh evaluation."""

    key: str
    days: tuple[str, ...]
    points: int

    def as_json(self) -> dict[str, Any]:
        return {"pair": self.key, "days": f"{self.days[0]}..{self.days[-1]}", "points": self.points}


def _rank(stamp: str, *parts: str) -> int:
    return int.from_bytes(hashlib.sha256("|".join((stamp, *parts)).encode()).digest()[:8], "big")


def sample_spans(
    usable: Mapping[str, Mapping[str, int]], k: int, stamp: str, budget: float
) -> list[SampledSpan]:
    """Up to ``k`` spans, one per pair, deterministic for ``stamp`` (the report's last day).

    ``usable`` maps a pair key to ``{day: points read}`` of the days whose record can be used
    for that pair. Pairs are taken in the order of ``sha256(stamp | key)``; a pair's span starts
    at a day chosen by ``sha256(stamp | key | day)`` and grows one calendar day at a time (later
    days first) while its points stay within ``budget / k`` x all usable points. A pair whose
    chosen day alone is over that share is passed over for the next one.
    """
    k = max(0, k)
    total = sum(sum(days.values()) for days in usable.values())
    share = budget * total / max(k, 1)
    spans: list[SampledSpan] = []
    for key in sorted(usable, key=lambda key: (_rank(stamp, key), key)):
        if len(spans) >= k:
            break
        days = sorted(usable[key])
        if not days:
            continue
        at = _rank(stamp, key, "day") % len(days)
        lo = hi = at
        used = int(usable[key][days[at]])
        if used > share:
            continue
        grown = True
        while grown:
            grown = False
            for nxt, edge in ((hi + 1, days[hi]), (lo - 1, days[lo])):
                if not 0 <= nxt < len(days) or abs(day_start(days[nxt]) - day_start(edge)) != DAY_S:
                    continue  # past the ends, or a day without a usable record in between
                n = int(usable[key][days[nxt]])
                if used + n > share:
                    continue
                used += n
                lo, hi = min(lo, nxt), max(hi, nxt)
                grown = True
        spans.append(SampledSpan(key, tuple(days[lo : hi + 1]), used))
    return sorted(spans, key=lambda s: s.key)


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
        # every calendar day of the window; a day not materialized has no record
        self._calendar = calendar_days(self.days)

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

    def _stale_spans(self, policy: Policy, key: str, head_end: float) -> list[tuple[int, int]]:
        """Runs of day indexes (inclusive) whose records cannot be used for ``policy``."""
        first = day_start(self._calendar[0])
        stale = [not self._record_ok(self.records.get(day), policy, key) for day in self._calendar]
        head_days = [i for i in range(len(stale)) if first + i * DAY_S < head_end]
        if any(stale[i] for i in head_days):
            # the head is evaluated whole-window style together with the stale days
            for i in head_days:
                stale[i] = True
        spans: list[tuple[int, int]] = []
        for i, bad in enumerate(stale):
            if not bad:
                continue
            if spans and spans[-1][1] == i - 1:
                spans[-1] = (spans[-1][0], i)
            else:
                spans.append((i, i))
        return spans

    def evaluate(self, policy: Policy) -> PairEvaluation:
        """The pair's whole-window result, stitched where records allow, exact either way."""
        key = pair_key(policy)
        lb = lookback_s(policy)
        first = day_start(self._calendar[0])
        # from t0 on, the whole window's state equals a record's (both have lb of history)
        t0 = self.start + lb + TICK_S
        spans = self._stale_spans(policy, key, t0)
        incidents: list[StitchedIncident] = []
        unresolved = False
        has_data = False
        covered: set[int] = set()
        head_from_spans = bool(spans) and spans[0][0] == 0
        for a, b in spans:
            covered.update(range(a, b + 1))
            a_start = first + a * DAY_S
            b_end = first + (b + 1) * DAY_S
            until = min(self.end, b_end + DEFAULT_HORIZON_S)
            if a == 0:
                series = self.fetch(policy, self.start - lb, until)
                res = evaluate(policy, series, self.start, until)
                has_data = has_data or _has_points(series, self.start - lb, until)
            else:
                series = self.fetch(policy, a_start - lb, until)
                res = evaluate(policy, series, a_start - lb, until, warmup=False)
                has_data = has_data or _has_points(series, a_start - lb, until)
            self._count("days_reevaluated", b - a + 1)
            for inc in res.incidents:
                if not a_start <= inc.open < b_end:
                    continue
                si = StitchedIncident(inc.id, inc.open, inc.close, inc.condition, dict(inc.labels))
                if inc.close is None and until < self.end:
                    close = self._close_after(policy, si, until)
                    if close is False:
                        unresolved = True
                        continue
                    si = replace(si, close=close)
                incidents.append(si)
        from_records: list[tuple[StitchedIncident, float]] = []  # (incident, known until)
        tail_unknown = False
        for i, day in enumerate(self._calendar):
            if i in covered:
                continue
            rec = self.records[day]
            assert rec is not None
            self._count("days_from_records")
            d_end = first + (i + 1) * DAY_S
            known_until = d_end + float(rec.get("close_horizon_s", DEFAULT_HORIZON_S))
            if int(rec["points_by_policy"][key]):
                if known_until <= self.end:
                    has_data = True
                else:
                    tail_unknown = True
            for doc in rec["policies"][key]:
                inc = StitchedIncident(
                    doc["id"],
                    _parse_iso(doc["open"]),  # type: ignore[arg-type]
                    _parse_iso(doc.get("close")),
                    int(doc.get("condition", 0)),
                    dict(doc.get("labels") or {}),
                )
                from_records.append((inc, known_until))
        if not head_from_spans:
            # the head: whole-window semantics up to a little after t0
            head_end = min(self.end, float(np.ceil(t0 / TICK_S) * TICK_S) + HEAD_SLACK_S)
            series = self.fetch(policy, self.start - lb, self._head_until(head_end))
            res = evaluate(policy, series, self.start, head_end)
            has_data = has_data or _has_points(series, self.start - lb, head_end)
            self._count("heads")
            for inc in res.incidents:
                if inc.open >= t0:
                    continue
                close = inc.close
                if close is None and head_end < self.end:
                    # still open at head_end, where the records see the same run
                    run = [
                        (r, known)
                        for r, known in from_records
                        if r.condition == inc.condition
                        and r.labels == inc.labels
                        and r.open <= head_end
                        and (r.close is None or r.close > head_end)
                    ]
                    if len(run) != 1:
                        unresolved = True
                        continue
                    close = run[0][0].close
                    if close is None and run[0][1] < self.end:
                        close = self._close_after(policy, run[0][0], run[0][1])
                        if close is False:
                            unresolved = True
                            continue
                incidents.append(
                    StitchedIncident(inc.id, inc.open, close, inc.condition, dict(inc.labels))
                )
        for inc, known_until in from_records:
            if not head_from_spans and inc.open < t0:
                continue  # the head's evaluation replaces it
            if inc.close is None and known_until < self.end:
                # still open where its record stopped evaluating: follow the run from there
                close = self._close_after(policy, inc, known_until)
                if close is False:
                    unresolved = True
                    continue
                inc = replace(inc, close=close)
            incidents.append(inc)
        if unresolved:
            # an incident open past what any record or head evaluated: its close is unknown
            self._count("pairs_full_fallback")
            return full_evaluation(policy, self.fetch, self.start, self.end)
        if not has_data and tail_unknown:
            series = self.fetch(policy, self.end - DAY_S, self.end)
            has_data = _has_points(series, self.end - DAY_S, self.end)
            self._count("tail_fetches")
        self._count("pairs_stitched")
        return self._result(incidents, has_data, "stitched")

    def usable_points(self, policies: Sequence[Policy]) -> dict[str, dict[str, int]]:
        """Per pair, ``{day: points read}`` of the records usable for it (the sample's frame)."""
        out: dict[str, dict[str, int]] = {}
        for policy in policies:
            key = pair_key(policy)
            out[key] = {}
            for day in self.days:
                rec = self.records.get(day)
                if rec is not None and self._record_ok(rec, policy, key):
                    out[key][day] = int(rec["points_by_policy"][key])
        return out

    def check_span(
        self, policy: Policy, span: SampledSpan, stitched: PairEvaluation
    ) -> tuple[int, bool]:
        """Evaluate ``span`` afresh as its records were; (ids on one side only, stitched agrees).

        The fresh evaluation starts ``lookback_s`` before the span's first day and searches
        closes up to the records' horizon after its last, so each day's incidents are exactly
        those a record written now would hold. The stitched result must have the same incidents
        opening in the span (past the head, whose first ticks follow whole-window semantics),
        with the same close wherever the fresh evaluation found one inside the window.
        """
        key = pair_key(policy)
        a = day_start(span.days[0])
        b = day_start(span.days[-1]) + DAY_S
        recs = [self.records[day] or {} for day in span.days]
        horizon = min(float(r.get("close_horizon_s", DEFAULT_HORIZON_S)) for r in recs)
        lb = lookback_s(policy)
        series = self.fetch(policy, a - lb, b + horizon)
        fresh = incidents_opened_between(policy, series, a, b, int(horizon))
        self._count("days_sample_checked", len(span.days))
        recorded = {i["id"] for r in recs for i in (r.get("policies") or {}).get(key, [])}
        disagree = len(recorded ^ {i.id for i in fresh})
        t0 = self.start + lb + TICK_S
        last_tick = float(self._ticks[-1]) if self._ticks.size else self.end
        mine = {i.id: i for i in stitched.incidents if a <= i.open < b and i.open >= t0}
        theirs = {i.id: i for i in fresh if i.open >= t0}
        agrees = mine.keys() == theirs.keys()
        for incident_id, inc in theirs.items() if agrees else ():
            other = mine[incident_id]
            if float(other.open) != float(inc.open):
                agrees = False
            elif inc.close is not None:
                expected = None if inc.close > last_tick else float(inc.close)
                agrees = agrees and other.close == expected
        return disagree, agrees

    def _close_after(self, policy: Policy, inc: StitchedIncident, at: float) -> float | bool | None:
        """Close of ``inc``'s run, known open at tick ``at`` (False: not found as expected).

        Evaluated a day at a time from ``lookback`` before ``at`` (states from ``at`` on are
        exact): the run of the same condition and labels holding ``at`` is the incident.
        """
        lb = lookback_s(policy)
        x = float(np.floor(at / TICK_S) * TICK_S)
        while True:
            until = min(self.end, x + DAY_S)
            series = self.fetch(policy, x - lb, until)
            res = evaluate(policy, series, x - lb, until, warmup=False)
            self._count("close_follow_ups")
            run = [
                i
                for i in res.incidents
                if i.condition == inc.condition
                and dict(i.labels) == dict(inc.labels)
                and i.open <= x
                and (i.close is None or i.close > x)
            ]
            if len(run) != 1:
                return False
            if run[0].close is not None:
                return float(run[0].close)
            if until >= self.end:
                return None
            x = float(np.floor(until / TICK_S) * TICK_S)

    def _head_until(self, head_end: float) -> float:
        # one fetch range for every policy's head (series shared by several policies)
        self._head_max = max(getattr(self, "_head_max", 0.0), head_end)
        return self._head_max

    def _result(
        self, incidents: list[StitchedIncident], has_data: bool, how: str
    ) -> PairEvaluation:
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
        return PairEvaluation(
            incidents=out,
            ticks=self._ticks,
            met=_met_from(out, self._ticks),
            has_data=has_data,
            how=how,
        )

    def evaluate_stricter(
        self, variant: Policy, catalog_policy: Policy, catalog_result: PairEvaluation
    ) -> PairEvaluation:
        """A variant at least as strict as the catalog policy, evaluated where it can fire.

        ``variant`` differs from ``catalog_policy`` only by thresholds at least as far on the
        violating side and durations at least as long (:func:`is_stricter`): a tick that meets
        it meets the catalog policy (the per-tick violations, the retest windows, the
        triggers and the auto_close hold are all monotone), so its incidents lie inside the
        catalog's (exact) incidents. Only those spans are evaluated, each from ``lookback``
        before it (whole-window style near the start). Otherwise: whole evaluation.
        """
        if not is_stricter(variant, catalog_policy):
            self._count("variants_whole")
            return full_evaluation(variant, self.fetch, self.start, self.end)
        lb = lookback_s(variant)
        t0 = self.start + lb + TICK_S
        regions = sorted(
            (float(i.open), self.end if i.close is None else float(i.close))
            for i in catalog_result.incidents
        )
        merged: list[list[float]] = []
        for o, c in regions:
            lo = self.start if o < t0 else o - lb
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], c)
                merged[-1][2] = min(merged[-1][2], o)
            else:
                merged.append([lo, c, o])
        incidents: list[StitchedIncident] = []
        for lo, hi, first_open in merged:
            series = self.fetch(variant, lo - (lb if lo == self.start else 0), hi)
            if lo == self.start:
                res = evaluate(variant, series, self.start, hi)
            else:
                res = evaluate(variant, series, lo, hi, warmup=False)
            self._count("variant_spans")
            for inc in res.incidents:
                if inc.open < first_open:
                    continue
                if inc.close is None and hi < self.end:
                    raise AssertionError(  # met(variant) <= met(catalog): cannot happen
                        f"{variant.name}: incident open at {hi}, where the catalog's closed"
                    )
                incidents.append(
                    StitchedIncident(inc.id, inc.open, inc.close, inc.condition, dict(inc.labels))
                )
        has_data = catalog_result.has_data
        extra = lookback_s(variant) - lookback_s(catalog_policy)
        if not has_data and extra > 0:  # the variant also reads the longer look-back's points
            since = self.start - lookback_s(variant)
            has_data = _has_points(self.fetch(variant, since, self.start), since, self.end)
        self._count("variants_by_spans")
        return self._result(incidents, has_data, "spans")


def is_stricter(variant: Policy, catalog_policy: Policy) -> bool:
    """Whether ``variant`` is ``catalog_policy`` with stricter thresholds / longer durations."""
    if (
        variant.name != catalog_policy.name
        or variant.environment != catalog_policy.environment
        or variant.auto_close_s != catalog_policy.auto_close_s
        or variant.combiner != catalog_policy.combiner
        or len(variant.conditions) != len(catalog_policy.conditions)
    ):
        return False
    for v, c in zip(variant.conditions, catalog_policy.conditions, strict=True):
        if replace(v, threshold_value=c.threshold_value, duration_s=c.duration_s) != c:
            return False
        further = (
            v.threshold_value >= c.threshold_value
            if c.comparison == "COMPARISON_GT"
            else v.threshold_value <= c.threshold_value
        )
        if c.comparison not in ("COMPARISON_GT", "COMPARISON_LT") or not further:
            return False
        if v.duration_s < c.duration_s:
            return False
    return True


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
