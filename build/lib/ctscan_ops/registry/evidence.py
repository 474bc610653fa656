"""Evidence against a challenger, gathered from the other domains' outputs as plain values.

The gate (``gate.py``) takes evidence as lists of strings; these helpers produce them:

* open drift: the newest ``custom.googleapis.com/ctscan/drift_share`` point of the environment
  (published by the drift domain) above the drift policy's threshold (30 % of features);
* firing shadow alerts: shadow-mode incidents (alerting domain) that opened and have not closed,
  on series labelled with the challenger's ``model_version``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

DRIFT_SHARE = "custom.googleapis.com/ctscan/drift_share"
DEFAULT_DRIFT_THRESHOLD = 0.3


def open_drift_evidence(
    client: Any,
    project_name: str,
    *,
    environment: str,
    now: datetime,
    threshold: float = DEFAULT_DRIFT_THRESHOLD,
    lookback: timedelta = timedelta(days=2),
) -> tuple[list[str], dict[str, Any]]:
    """Open drift findings (strings for the gate) and the drift snapshot used (for evidence)."""
    from google.cloud import monitoring_v3

    interval = monitoring_v3.TimeInterval(end_time=now, start_time=now - lookback)
    series = client.list_time_series(
        request={
            "name": project_name,
            "filter": f'metric.type="{DRIFT_SHARE}" AND metric.labels.environment="{environment}"',
            "interval": interval,
            "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        }
    )
    newest: tuple[datetime, float] | None = None
    for ts in series:
        for p in ts.points:
            end = p.interval.end_time
            end = end if end.tzinfo else end.replace(tzinfo=UTC)
            if newest is None or end > newest[0]:
                newest = (end, float(p.value.double_value))
    if newest is None:
        snapshot = {
            "drift_share": None,
            "at": None,
            "environment": environment,
            "note": f"no drift_share point in the last {lookback}",
        }
        return [], snapshot
    at, share = newest
    snapshot = {
        "drift_share": share,
        "at": at.isoformat(),
        "environment": environment,
        "threshold": threshold,
    }
    if share > threshold:
        return [f"drift_share {share:.2f} > {threshold} at {at.isoformat()} ({environment})"], (
            snapshot
        )
    return [], snapshot


def open_shadow_alerts(events: Iterable[Mapping[str, Any]], version: str) -> list[str]:
    """Incidents opened and not closed, for series of ``version`` (events oldest first).

    ``events`` are the shadow sensor's observation metadata: ``event`` (open/close),
    ``policy``, ``incident_id``, ``labels`` (dict), ``opened``.
    """
    open_: dict[str, str] = {}
    for e in events:
        labels = e.get("labels") or {}
        if labels.get("model_version") != version:
            continue
        iid = str(e.get("incident_id"))
        if e.get("event") == "open":
            open_[iid] = f"{e.get('policy')} open since {e.get('opened')} (incident {iid})"
        elif e.get("event") == "close":
            open_.pop(iid, None)
    return sorted(open_.values())
