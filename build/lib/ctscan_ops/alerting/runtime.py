"""Glue between the Monitoring API and the evaluator: which series a policy needs, fetched once.

Kept free of Dagster so the sensor, the daily asset and the CLI share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ctscan_ops.alerting.catalog import Catalog, Policy
from ctscan_ops.alerting.series import TimeSeries


def policy_filters(policy: Policy) -> list[str]:
    """Every filter a policy reads (numerators and denominators), without duplicates."""
    filters: list[str] = []
    for cond in policy.conditions:
        for f in (cond.filter, cond.denominator_filter):
            if f and f not in filters:
                filters.append(f)
    return filters


@lru_cache(maxsize=1024)
def _terms(filter_text: str) -> frozenset:
    from ctscan_ops.alerting.filters import parse_filter

    return frozenset(parse_filter(filter_text).terms)


def narrows(narrow: str, broad: str) -> bool:
    """Whether every series ``narrow`` selects is one ``broad`` selects, by the filters' terms.

    Filters are conjunctions, so ``narrow`` holding every term of ``broad`` (and more) selects a
    subset: a 5xx numerator of its all-classes denominator. Purely syntactic, never a guess.
    """
    if narrow == broad:
        return False
    return _terms(broad) < _terms(narrow)


@dataclass
class SeriesCache:
    """Fetch each filter's series once per window, however many policies read it.

    A filter that narrows one already fetched (or fetched by the same policy: broader filters
    are read first) is answered from that fetch by matching the series identifiers with the
    same filter parser the MetricService uses, in the service's order: one ListTimeSeries call
    less per ratio condition, same series, same points.

    ``for_policy(policy, since=T)`` reads only ``(T, end]`` (never before ``start``) for that
    policy, so a caller whose window is sized for the longest look-back of all policies (three
    days for data drift) need not read three days of every Cloud Run series; a fetch that
    already covers ``T`` is reused as it is. Without ``since`` every fetch covers the whole
    window, as before.
    """

    client: Any
    project: str
    start: float
    end: float
    # filter -> (start of the fetched interval, its series)
    _by_filter: dict[str, tuple[float, list[TimeSeries]]] = field(default_factory=dict)

    def _series(self, filter_text: str, since: float) -> list[TimeSeries]:
        from ctscan_ops.alerting import metric_source
        from ctscan_ops.alerting.filters import parse_filter

        hit = self._by_filter.get(filter_text)
        if hit is not None and hit[0] <= since:
            return hit[1]
        broad = next(
            (
                f
                for f, (f_since, _) in self._by_filter.items()
                if f_since <= since and narrows(filter_text, f)
            ),
            None,
        )
        if broad is not None:
            b_since, b_series = self._by_filter[broad]
            parsed = parse_filter(filter_text)
            got = [
                ts
                for ts in b_series
                if parsed.matches(
                    ts.metric_type, ts.metric_labels, ts.resource_type, ts.resource_labels
                )
            ]
            since = b_since
        else:
            got = metric_source.fetch_time_series(
                self.client, self.project, filter_text, since, self.end
            )
        self._by_filter[filter_text] = (since, got)
        return got

    def for_policy(self, policy: Policy, since: float | None = None) -> list[TimeSeries]:
        """The series a policy reads (numerators and denominators, each once)."""
        start = self.start if since is None else max(self.start, since)
        filters = policy_filters(policy)
        # fetch the broadest filters first so the narrower ones are derived from them
        by_filter = {}
        for f in sorted(filters, key=lambda f: sum(narrows(f, g) for g in filters)):
            by_filter[f] = self._series(f, start)
        # A series matched by two filters (a 5xx numerator and its all-classes denominator) must
        # reach the evaluator once, or the denominator would count it twice.
        out: list[TimeSeries] = []
        seen: set[str] = set()
        for f in filters:
            for ts in by_filter[f]:
                if ts.name not in seen:
                    seen.add(ts.name)
                    out.append(ts)
        return out


def resolved_policies(
    catalog: Catalog, environments: Iterable[str], severities: Iterable[str] = ("P0", "P1", "P2")
) -> list[Policy]:
    wanted = set(severities)
    return [
        catalog.resolve(name, env)
        for env in environments
        for name, policy in sorted(catalog.policies.items())
        if policy.severity in wanted
    ]
