"""The tuning report's aligned values from the ``shadow_incidents`` day records (no Dagster).

``shadow_incidents`` stores, per day, each condition's aligned values next to its record
(:mod:`ctscan_ops.alerting.shadow.aligned_values`). :class:`StoredValues` answers the report's
``values_for(policy, condition, ticks)`` from them, day by day, and aligns from the series only
the days whose values are missing, stale (fingerprint of another condition, alignment or
format) or unreadable, so the report is the same whichever days came from where.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from ctscan_ops.alerting.catalog import Policy
from ctscan_ops.alerting.engine.series import TimeSeries
from ctscan_ops.alerting.shadow.aligned_values import (
    TICK_S,
    ConditionDay,
    StoredValuesError,
    assemble,
    condition_fingerprint,
    entry_key,
    unpack,
)
from ctscan_ops.common.timeparse import day_start

DAY_TICKS = 86400 // TICK_S


def _twice(read: Callable[[str], Any], key: str) -> Any:
    """``read(key)``, retried once: a transient store error costs a re-read, not a fetch and
    alignment of the day."""
    try:
        return read(key)
    except Exception:
        return read(key)


def load_day_values(
    days: Sequence[str],
    record_key: Callable[[str], str],
    get_json: Callable[[str], Any],
    get_bytes: Callable[[str], bytes],
    *,
    workers: int = 8,
) -> tuple[dict[str, dict[str, ConditionDay] | None], dict[str, str]]:
    """Per day the stored entries (None: the record has none, or they are unreadable) and,
    per day whose record or file is unreadable, a warning naming it. ``get_json`` returns
    None for a record that does not exist. Reads in parallel: latency, not CPU."""

    def one(day: str) -> tuple[dict[str, ConditionDay] | None, str | None]:
        key = record_key(day)
        try:
            record = _twice(get_json, key)
        except Exception as exc:
            return None, (
                f"day record {key} unreadable ({type(exc).__name__}: {exc}); its values are "
                "re-aligned from the series"
            )
        if record is None:  # no record for the day: its values are aligned from the series
            return None, None
        claim = record.get("aligned_values") if isinstance(record, dict) else None
        if not claim or "key" not in claim:
            return None, None
        where = claim["key"]
        try:
            data = _twice(get_bytes, where)
            return unpack(data, where, claim.get("sha256")), None
        except StoredValuesError as exc:
            return None, f"stored aligned values not used, re-aligned from the series: {exc}"
        except Exception as exc:  # the record claims a file the store does not give
            return None, (
                f"stored aligned values not used, re-aligned from the series: {where}: "
                f"{type(exc).__name__}: {exc}"
            )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        got = list(pool.map(one, days))
    entries = {d: e for d, (e, _) in zip(days, got, strict=True)}
    return entries, {d: w for d, (_, w) in zip(days, got, strict=True) if w}


@dataclass
class StoredValues:
    """``values_for`` of :func:`~ctscan_ops.alerting.tuning.report.tune_environment` from the
    day records; ``series_for(policy)`` (the whole window's series) only for the days it must
    re-align. ``counts``: condition-days by source (``records``, ``missing``, ``stale``)."""

    days: list[str]  # consecutive calendar days of the window
    entries: dict[str, dict[str, ConditionDay] | None]
    series_for: Callable[[Policy], list[TimeSeries]]
    unreadable: set[str] = field(default_factory=set)  # days whose file could not be read
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    _series: dict[int, list[TimeSeries]] = field(default_factory=dict)

    def _fetched(self, policy: Policy) -> list[TimeSeries]:
        if id(policy) not in self._series:
            self._series[id(policy)] = self.series_for(policy)
        return self._series[id(policy)]

    def _realign(self, policy: Policy, index: int, day: str, lead: int) -> ConditionDay:
        from ctscan_ops.alerting.engine.evaluator import make_ticks
        from ctscan_ops.alerting.tuning.report import aligned_by_day

        t0 = day_start(day)
        ticks = make_ticks(t0 - lead * TICK_S, t0 + 86400 - TICK_S)
        groups = aligned_by_day(policy.conditions[index], self._fetched(policy), ticks)
        vals = np.array([g.values for g in groups], dtype=float).reshape(len(groups), ticks.size)
        return ConditionDay("", [g.labels for g in groups], vals, lead)

    def __call__(self, policy: Policy, index: int, ticks: np.ndarray) -> list[Any]:
        from ctscan_ops.alerting.engine.evaluator import GroupValues
        from ctscan_ops.alerting.tuning.report import aligned_by_day

        lead = ticks.size - len(self.days) * DAY_TICKS
        if lead < 0 or float(ticks[lead]) != day_start(self.days[0]):
            # not the window's grid: the plain flow
            return aligned_by_day(policy.conditions[index], self._fetched(policy), ticks)
        fp = condition_fingerprint(policy.conditions[index])
        key = entry_key(f"{policy.environment}/{policy.name}", index)
        parts = []
        for k, day in enumerate(self.days):
            need = lead if k == 0 else 0
            day_entries = self.entries.get(day)
            e = None if day_entries is None else day_entries.get(key)
            if e is None:
                self.counts["unreadable" if day in self.unreadable else "missing"] += 1
            elif (
                e.fingerprint != fp or e.prefix < need or e.values.shape[1] != e.prefix + DAY_TICKS
            ):
                self.counts["stale"] += 1
                e = None
            else:
                self.counts["records"] += 1
            parts.append(e if e is not None else self._realign(policy, index, day, need))
        labels, values = assemble(parts, lead, DAY_TICKS)
        return [GroupValues(lab, values[i]) for i, lab in enumerate(labels)]

    def summary(self) -> str:
        """One line for the asset's metadata: condition-days by source."""
        c = self.counts
        total = c["records"] + c["missing"] + c["stale"] + c["unreadable"]
        return (
            f"{c['records']} of {total} condition-days read from shadow_incidents records; "
            f"re-aligned from the series: {c['missing']} missing, {c['stale']} stale "
            f"(fingerprint), {c['unreadable']} unreadable"
        )


def policy_to_check(
    policies: Sequence[Policy], day: str, entries: dict[str, ConditionDay] | None
) -> Policy:
    """The policy whose stored values of ``day`` :func:`sample_check` compares: one with
    groups stored that day, a different one from day to day."""
    with_data = [
        p
        for p in policies
        if any(
            e.labels
            for k, e in (entries or {}).items()
            if k.startswith(f"{p.environment}/{p.name}#")
        )
    ] or list(policies)
    return with_data[datetime.fromisoformat(day).toordinal() % len(with_data)]


def sample_check(
    policy: Policy,
    day: str,
    entries: dict[str, ConditionDay] | None,
    series: Sequence[TimeSeries],
) -> str | None:
    """Whether a day's stored values of ``policy`` are what this code aligns from the series
    (``series``: read as ``shadow_incidents`` reads them for that day). None when identical
    (or nothing usable is stored), else what differs: stored values made by an evaluator that
    computes other numbers must not be used (``ALIGN_VERSION`` was not bumped)."""
    from ctscan_ops.alerting.engine.evaluator import make_ticks
    from ctscan_ops.alerting.tuning.report import aligned_by_day

    pair = f"{policy.environment}/{policy.name}"
    for index, cond in enumerate(policy.conditions):
        e = (entries or {}).get(entry_key(pair, index))
        if e is None or e.fingerprint != condition_fingerprint(cond):
            continue
        t0 = day_start(day)
        ticks = make_ticks(t0 - e.prefix * TICK_S, t0 + 86400 - TICK_S)
        groups = aligned_by_day(cond, series, ticks)
        # a group only one side lists (a series read by one fetch range only) must be no data
        nan = np.full(ticks.size, np.nan)
        fresh = {json.dumps(g.labels, sort_keys=True): g.values for g in groups}
        kept = {json.dumps(lab, sort_keys=True): e.values[i] for i, lab in enumerate(e.labels)}
        differ = [
            k
            for k in sorted(set(fresh) | set(kept))
            if not np.array_equal(fresh.get(k, nan), kept.get(k, nan), equal_nan=True)
        ]
        if differ:
            return (
                f"{pair}#{index} on {day}: group(s) {', '.join(differ)} differ from a fresh "
                "alignment"
            )
    return None
