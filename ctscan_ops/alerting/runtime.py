"""Glue between the Monitoring API and the evaluator: which series a policy needs, fetched once.

Kept free of Dagster so the sensor, the daily asset and the CLI share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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


@dataclass
class SeriesCache:
    """Fetch each filter's series once per window, however many policies read it."""

    client: Any
    project: str
    start: float
    end: float
    _by_filter: dict[str, list[TimeSeries]] = field(default_factory=dict)

    def for_policy(self, policy: Policy) -> list[TimeSeries]:
        from ctscan_ops.alerting.metric_source import fetch_time_series

        # A series matched by two filters (a 5xx numerator and its all-classes denominator) must
        # reach the evaluator once, or the denominator would count it twice.
        out: list[TimeSeries] = []
        seen: set[str] = set()
        for f in policy_filters(policy):
            if f not in self._by_filter:
                self._by_filter[f] = fetch_time_series(
                    self.client, self.project, f, self.start, self.end
                )
            for ts in self._by_filter[f]:
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
