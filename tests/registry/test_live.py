"""Live metrics per served version from feedback rows, and drift/shadow evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctscan_ops.registry import evidence, live

T = datetime(2026, 11, 1, tzinfo=UTC)
TIMELINE = [(T, "v1"), (T + timedelta(days=2), "v2")]


def _row(hours: float, conf, ok, **kw) -> dict:
    return {
        "timestamp": (T + timedelta(hours=hours)).isoformat(),
        "predicted_confidence": conf,
        "is_correct": ok,
        **kw,
    }


def test_attribution_by_serving_time_and_rolling_window() -> None:
    rows = [_row(h, 0.9, 1) for h in range(10)]  # v1 period, all correct
    rows += [_row(48 + h, 0.6, 0) for h in range(3)]  # v2 period, wrong, low confidence
    rows += [_row(48 + 3 + h, 0.8, True) for h in range(2)]
    rows += [_row(-1, 0.5, 1)]  # before any champion
    rows += [_row(49, 0.7, True, model_version="v9")]  # row names its version: wins
    m, rejected = live.live_metrics(rows, TIMELINE, window=4)
    assert rejected == {}
    assert m["v1"].accuracy == 1.0 and m["v1"].n == 4 and m["v1"].total == 10
    # v2 window = the last 4 of [0.6/0, 0.6/0, 0.6/0, 0.8/1, 0.8/1] -> 2 of 4 correct
    assert m["v2"].accuracy == pytest.approx(0.5)
    assert m["v2"].mean_confidence == pytest.approx((0.6 + 0.6 + 0.8 + 0.8) / 4)
    assert m["v9"].n == 1 and m[live.UNATTRIBUTED].n == 1
    pts = live.gauge_points(m, environment="prod", end_time=T + timedelta(days=3))
    assert {(p.metric_type, p.labels["model_version"]) for p in pts} == {
        (live.LIVE_ACCURACY, "v1"),
        (live.CONFIDENCE_MEAN, "v1"),
        (live.LIVE_ACCURACY, "v2"),
        (live.CONFIDENCE_MEAN, "v2"),
        (live.LIVE_ACCURACY, "v9"),
        (live.CONFIDENCE_MEAN, "v9"),
    }


def test_bad_rows_are_counted_not_dropped_silently() -> None:
    rows = [
        _row(1, 0.9, 1),
        {"timestamp": "yesterday", "predicted_confidence": 0.5, "is_correct": 1},
        _row(2, 1.7, 1),
        _row(3, None, 1),
        _row(4, 0.5, "maybe"),
        # what the migration quarantines is not scored either (feedback/schema.py parsers)
        _row(5, "0.5", 1),
        _row(6, 0.5, "1"),
    ]
    m, rejected = live.live_metrics(rows, TIMELINE)
    assert m["v1"].n == 1
    assert rejected == {"bad_timestamp": 1, "bad_confidence": 3, "bad_is_correct": 2}
    with pytest.raises(ValueError, match="window"):
        live.live_metrics(rows, TIMELINE, window=0)


def test_shadow_alerts_open_minus_closed_for_the_version() -> None:
    ev = [
        {
            "event": "open",
            "policy": "low_prediction_confidence",
            "incident_id": "a",
            "opened": "t1",
            "labels": {"model_version": "v2"},
        },
        {
            "event": "open",
            "policy": "model_accuracy_degradation",
            "incident_id": "b",
            "opened": "t2",
            "labels": {"model_version": "v2"},
        },
        {"event": "close", "incident_id": "a", "labels": {"model_version": "v2"}},
        {"event": "open", "policy": "high_latency", "incident_id": "c", "labels": {}},
    ]
    assert evidence.open_shadow_alerts(ev, "v2") == [
        "model_accuracy_degradation open since t2 (incident b)"
    ]
    assert evidence.open_shadow_alerts(ev, "v1") == []


def test_open_drift_from_the_metric_service(monitoring_client) -> None:
    from ctscan_ops.resources.monitoring import GaugePoint, publish_gauges

    now = datetime.now(UTC).replace(microsecond=0)
    env_hi, env_lo = "staging", "dev"
    publish_gauges(
        monitoring_client,
        "p-registry",
        [
            GaugePoint(
                evidence.DRIFT_SHARE, 0.1, now - timedelta(hours=30), {"environment": env_hi}
            ),
            GaugePoint(
                evidence.DRIFT_SHARE, 0.45, now - timedelta(hours=1), {"environment": env_hi}
            ),
            GaugePoint(
                evidence.DRIFT_SHARE, 0.2, now - timedelta(hours=1), {"environment": env_lo}
            ),
        ],
    )
    found, snap = evidence.open_drift_evidence(
        monitoring_client, "projects/p-registry", environment=env_hi, now=now
    )
    assert len(found) == 1 and "drift_share 0.45 > 0.3" in found[0]
    assert snap["drift_share"] == pytest.approx(0.45)
    found, snap = evidence.open_drift_evidence(
        monitoring_client, "projects/p-registry", environment=env_lo, now=now
    )
    assert found == [] and snap["drift_share"] == pytest.approx(0.2)
    # an environment nothing was published for (the session's MetricService is shared by every
    # test and, like the sandbox's, not partitioned by project: "prod" may hold other tests' data)
    found, snap = evidence.open_drift_evidence(
        monitoring_client, "projects/p-registry", environment="no-such-env", now=now
    )
    assert found == [] and snap["drift_share"] is None
