"""The shadow-alert sensor: evaluate every policy on new points, as Cloud Monitoring would.

Each tick reads only the points after the cursor (plus the bounded look-back a tick's state
depends on), advances each policy by at most ``max_span_per_tick_s`` of data time (the rest is
left for the next tick), and records would-have-fired incident opens/closes as asset
observations on ``shadow_incidents``: no run is launched for that. When a day is complete it
requests the day's ``shadow_incidents`` partition (run key = day + catalog hash, so a
re-evaluation after a catalog change runs again, and an old cursor never re-runs a day).

Cursor (JSON): ``{"catalog": hash, "policies": {"env/name": {"through", "hash", "open"}}}``.
A policy whose resolved content changed restarts from its ``through`` with no open incidents.
An operator may set ``{"start": EPOCH_S}`` as the cursor (UI: "set cursor") to replay from a
time; policies without state begin there (default: ``initial_lookback_s`` before now).
"""

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from ctscan_ops.alerting.settings import AlertingSettings
from ctscan_ops.resources import MonitoringResource


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def advance_all(
    cursor: dict[str, Any], monitoring: MonitoringResource, alerting: AlertingSettings
) -> tuple[dict[str, Any], list[Any], list[str]]:
    """One tick's work, without Dagster types: (new cursor, events, completed days)."""
    from ctscan_ops.alerting.engine.runtime import SeriesCache, resolved_policies
    from ctscan_ops.alerting.shadow.evaluation import advance, floor_tick, lookback_s

    catalog = alerting.catalog()
    now = floor_tick(alerting.now())
    states: dict[str, dict[str, Any]] = dict(cursor.get("policies", {}))
    policies = resolved_policies(catalog, alerting.environments)
    start_default = floor_tick(cursor.get("start", now - alerting.initial_lookback_s))

    plans: dict[tuple[float, float], list[tuple[str, Any, dict[str, Any]]]] = defaultdict(list)
    for policy in policies:
        key = f"{policy.environment}/{policy.name}"
        st = states.get(key)
        if st is None or st.get("hash") != policy.content_hash:
            through = st["through"] if st else start_default
            st = {"through": through, "hash": policy.content_hash, "open": {}}
        new_end = min(now, st["through"] + alerting.max_span_per_tick_s)
        if new_end <= st["through"]:
            states[key] = st
            continue
        window = (st["through"] + 60 - lookback_s(policy), new_end)
        plans[window].append((key, policy, st))

    client = monitoring.client() if plans else None
    events = []
    before = min((s["through"] for s in states.values()), default=start_default)
    for (w_start, w_end), members in plans.items():
        cache = SeriesCache(client, monitoring.project, w_start, w_end)
        for key, policy, st in members:
            evs, still_open = advance(
                policy, cache.for_policy(policy), st["open"], st["through"], w_end
            )
            events.extend(evs)
            states[key] = {"through": w_end, "hash": st["hash"], "open": still_open}
    after = min((s["through"] for s in states.values()), default=start_default)
    completed = []
    day = _day(before)
    while _day(after) > day:
        completed.append(day)
        day = _day(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() + 86400)
    new_cursor = {"catalog": catalog.content_hash, "policies": states}
    if "start" in cursor:
        new_cursor["start"] = cursor["start"]
    return new_cursor, events, completed


@dg.sensor(
    name="shadow_alert_sensor",
    minimum_interval_seconds=60,
    asset_selection=dg.AssetSelection.assets("shadow_incidents"),
    default_status=dg.DefaultSensorStatus.RUNNING,  # no click to start (issue 12)
)
def shadow_alert_sensor(
    context: dg.SensorEvaluationContext,
    monitoring: MonitoringResource,
    alerting: AlertingSettings,
) -> dg.SensorResult:
    """Would-have-fired incidents of every P0/P1/P2 policy, from new points only."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    new_cursor, events, completed = advance_all(cursor, monitoring, alerting)
    observations = [
        dg.AssetObservation(
            asset_key="shadow_incidents",
            partition=_day(e.at),
            metadata={
                "event": e.kind,
                "policy": e.policy,
                "environment": e.environment,
                "incident_id": e.incident_id,
                "at": e.to_json()["at_iso"],
                "opened": e.to_json()["open_iso"],
                "peak": e.peak if e.peak is not None else float("nan"),
                "close_reason": e.close_reason or "",
                "labels": dg.MetadataValue.json(e.labels),
            },
        )
        for e in events
    ]
    runs = [
        dg.RunRequest(
            run_key=f"shadow_incidents:{day}:{new_cursor['catalog']}",
            partition_key=day,
            asset_selection=[dg.AssetKey("shadow_incidents")],
        )
        for day in completed
    ]
    skip = None if (observations or runs) else "no incident opened or closed on the new points"
    return dg.SensorResult(
        asset_events=observations,
        run_requests=runs,
        cursor=json.dumps(new_cursor, sort_keys=True),
        skip_reason=skip,
    )
