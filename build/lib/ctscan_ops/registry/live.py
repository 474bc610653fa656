"""Live accuracy and mean confidence per model version, from user feedback.

Feedback rows (SQLite before the migration, Firestore after; the feedback domain owns the
stores) carry no model version, so each row is attributed to the champion that was serving at
its timestamp, from the champion alias history. A row that names ``model_version`` itself wins.
Rows that cannot be scored (unparseable time, confidence or correctness) are counted and
reported, never silently dropped. Results become the GAUGE metrics the P2 accuracy and P1
confidence policies read (names in CONTRIBUTING.md).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

LIVE_ACCURACY = "custom.googleapis.com/ctscan/live_accuracy"
CONFIDENCE_MEAN = "custom.googleapis.com/ctscan/prediction_confidence_mean"
UNATTRIBUTED = "unattributed"


@dataclasses.dataclass(frozen=True)
class LiveMetrics:
    version: str
    accuracy: float
    mean_confidence: float
    n: int  # rows in the rolling window
    total: int  # rows attributed to this version overall
    last_timestamp: datetime


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        ts = value
    elif isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def _parse_conf(value: Any) -> float | None:
    try:
        conf = float(value)
    except (TypeError, ValueError):
        return None
    return conf if 0.0 <= conf <= 1.0 else None


def serving_timeline(moves: Iterable[Any]) -> list[tuple[datetime, str]]:
    """(moved_at, version) of every champion move, oldest first (AliasRecords or mappings)."""
    out = []
    for m in moves:
        ts = _parse_time(_get(m, "moved_at"))
        if ts is None:
            raise ValueError(f"alias move {m!r} has no parseable moved_at")
        out.append((ts, str(_get(m, "version"))))
    return sorted(out)


def live_metrics(
    rows: Iterable[Any], timeline: Sequence[tuple[datetime, str]], *, window: int = 100
) -> tuple[dict[str, LiveMetrics], dict[str, int]]:
    """Rolling (last ``window`` rows) accuracy and mean confidence per version.

    Returns the metrics by version and the counts of rows that could not be used, by reason.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    times = [t for t, _ in timeline]
    recent: dict[str, deque[tuple[datetime, float, bool]]] = defaultdict(
        lambda: deque(maxlen=window)
    )
    totals: dict[str, int] = defaultdict(int)
    rejected: dict[str, int] = defaultdict(int)
    parsed = []
    for row in rows:
        ts = _parse_time(_get(row, "timestamp"))
        conf = _parse_conf(_get(row, "predicted_confidence"))
        ok = _parse_bool(_get(row, "is_correct"))
        if ts is None:
            rejected["bad_timestamp"] += 1
        elif conf is None:
            rejected["bad_confidence"] += 1
        elif ok is None:
            rejected["bad_is_correct"] += 1
        else:
            parsed.append((ts, conf, ok, _get(row, "model_version")))
    for ts, conf, ok, named in sorted(parsed, key=lambda r: r[0]):
        if named:
            version = str(named)
        else:
            i = bisect.bisect_right(times, ts) - 1
            version = timeline[i][1] if i >= 0 else UNATTRIBUTED
        recent[version].append((ts, conf, ok))
        totals[version] += 1
    out = {}
    for version, items in recent.items():
        out[version] = LiveMetrics(
            version=version,
            accuracy=sum(ok for _, _, ok in items) / len(items),
            mean_confidence=sum(c for _, c, _ in items) / len(items),
            n=len(items),
            total=totals[version],
            last_timestamp=items[-1][0],
        )
    return out, dict(rejected)


def gauge_points(
    metrics: Mapping[str, LiveMetrics], *, environment: str, end_time: datetime
) -> list[Any]:
    """Two GaugePoints per attributed version (unattributed rows are not published)."""
    from ctscan_ops.resources.monitoring import GaugePoint

    points = []
    for version, m in sorted(metrics.items()):
        if version == UNATTRIBUTED:
            continue
        labels = {"environment": environment, "model_version": version}
        points.append(GaugePoint(LIVE_ACCURACY, float(m.accuracy), end_time, dict(labels)))
        points.append(GaugePoint(CONFIDENCE_MEAN, float(m.mean_confidence), end_time, labels))
    return points
