"""Score would-have-fired incidents against labelled incident windows.

Two families of figures, named precisely because ops teams use "false positive rate" loosely
(reference/peers-and-semantics.md A5):

Per incident (what on-call feels)
    * an incident ``[open, close)`` (``close = None``: still open at the end of the evaluated
      period) is **true** iff it overlaps a labelled window ``[start, end]``, i.e.
      ``open <= end and close > start``; otherwise **false**. An operator verdict
      (incident id -> True/False) overrides the window matching for that incident.
    * ``precision`` = true / incidents; ``false_discovery_rate`` = false / incidents
      = 1 - precision: this is what ops teams call the alert's "false positive rate".
    * ``recall`` = labelled windows overlapped by at least one incident (not one an operator
      marked false) / labelled windows in the evaluated period.
    * ``false_alerts_per_day`` = false incidents / evaluated days (ticks x 60 s / 86400).
    * detection time of a window = ``max(0, open - start)`` of the first incident overlapping
      it; reset time = ``max(0, close - end)`` of the overlapping incident that closes last
      (undefined while one is still open). Medians (and the mean detection time, MTTD) are over
      the windows where they are defined.

Per evaluation tick (statistical fall-out)
    * ``fpr_per_tick`` = ticks where an incident is open and the tick time lies in no labelled
      window / ticks outside every labelled window.

Windows that overlap no tick span ``[t, t + 60 s)`` of the evaluated period are left out
(this data can neither detect nor miss them). These conventions match
:mod:`ctscan_ops.alerting.sweep`, which computes the same figures for all thresholds at once.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

__all__ = ["LabelWindow", "Quality", "score", "windows_from"]

TICK_S = 60
SECONDS_PER_DAY = 86_400.0


class _IncidentLike(Protocol):
    id: str
    open: float
    close: float | None


@dataclass(frozen=True)
class LabelWindow:
    """A known incident window (ground truth)."""

    start: float
    end: float
    severity: str | None = None
    source: str | None = None
    id: str | None = None


def windows_from(items: Iterable[Any]) -> list[LabelWindow]:
    """Accept LabelWindow objects, ``(start, end)`` pairs or ``{"start", "end"}`` mappings."""
    out = []
    for it in items:
        if isinstance(it, LabelWindow):
            w = it
        elif isinstance(it, Mapping):
            w = LabelWindow(
                float(it["start"]),
                float(it["end"]),
                it.get("severity"),
                it.get("source"),
                it.get("id"),
            )
        else:
            s, e = it
            w = LabelWindow(float(s), float(e))
        if w.end < w.start:
            raise ValueError(
                f"label window {w.id or ''} ends ({w.end}) before it starts ({w.start})"
            )
        out.append(w)
    return out


@dataclass
class Quality:
    """Scores of one policy/condition over one evaluated period."""

    incidents: int
    true_incidents: int
    false_incidents: int
    labelled_incidents: int
    detected_incidents: int
    days: float
    precision: float | None
    false_discovery_rate: float | None
    fpr_per_tick: float | None
    recall: float | None
    false_alerts_per_day: float | None
    median_detection_s: float | None
    mean_detection_s: float | None
    median_reset_s: float | None
    missed_windows: list[LabelWindow]
    incident_verdicts: dict[str, bool]  # incident id -> counted as true
    window_detection_s: list[float | None]
    window_reset_s: list[float | None]

    def as_dict(self, *, details: bool = False) -> dict[str, Any]:
        """JSON-ready figures (the ``quality`` object of ``alerts backtest``)."""
        d: dict[str, Any] = {
            "incidents": self.incidents,
            "true_incidents": self.true_incidents,
            "false_incidents": self.false_incidents,
            "precision": self.precision,
            "false_discovery_rate": self.false_discovery_rate,
            "fpr_per_tick": self.fpr_per_tick,
            "recall": self.recall,
            "false_alerts_per_day": self.false_alerts_per_day,
            "median_detection_s": self.median_detection_s,
            "mean_detection_s": self.mean_detection_s,
            "median_reset_s": self.median_reset_s,
            "labelled_incidents": self.labelled_incidents,
            "detected_incidents": self.detected_incidents,
            "missed_incidents": len(self.missed_windows),
            "days": self.days,
        }
        if details:
            d["incident_verdicts"] = dict(self.incident_verdicts)
            d["window_detection_s"] = list(self.window_detection_s)
            d["window_reset_s"] = list(self.window_reset_s)
        return d


def _ratio(a: float, b: float) -> float | None:
    return None if b == 0 else a / b


def score(
    incidents: Sequence[_IncidentLike],
    windows: Iterable[Any],
    ticks: np.ndarray,
    *,
    met: np.ndarray | None = None,
    verdicts: Mapping[str, bool] | None = None,
    tick_s: int = TICK_S,
) -> Quality:
    """Score ``incidents`` against label ``windows`` over the evaluated ``ticks``.

    ``met`` (per tick, True while some incident is open) enables ``fpr_per_tick``; pass
    ``EvaluationResult.met``. ``verdicts`` maps incident ids to operator verdicts.
    """
    t = np.asarray(ticks, dtype=float)
    verdicts = dict(verdicts or {})
    period_end = float(t[-1]) + tick_s if t.size else 0.0
    wins = [
        w for w in windows_from(windows) if t.size and np.any((t + tick_s > w.start) & (t <= w.end))
    ]
    days = t.size * tick_s / SECONDS_PER_DAY

    def close_of(inc: _IncidentLike) -> float:
        return period_end if inc.close is None else float(inc.close)

    def overlaps(inc: _IncidentLike, w: LabelWindow) -> bool:
        return float(inc.open) <= w.end and close_of(inc) > w.start

    classified: dict[str, bool] = {}
    n_true = 0
    for inc in incidents:
        # an operator verdict wins over window matching
        ok = bool(verdicts[inc.id]) if inc.id in verdicts else any(overlaps(inc, w) for w in wins)
        classified[inc.id] = ok
        n_true += ok
    n_inc = len(incidents)
    n_false = n_inc - n_true

    det: list[float | None] = []
    rst: list[float | None] = []
    missed: list[LabelWindow] = []
    for w in wins:
        hits = [
            inc for inc in incidents if overlaps(inc, w) and verdicts.get(inc.id, True) is not False
        ]
        if not hits:
            det.append(None)
            rst.append(None)
            missed.append(w)
            continue
        first = min(hits, key=lambda i: float(i.open))
        det.append(max(0.0, float(first.open) - w.start))
        if any(i.close is None for i in hits):
            rst.append(None)
        else:
            rst.append(max(0.0, max(float(i.close) for i in hits) - w.end))

    fpr_tick = None
    if met is not None:
        m = np.asarray(met, dtype=bool)
        if m.shape != t.shape:
            raise ValueError(f"met has shape {m.shape}, ticks {t.shape}")
        inside = np.zeros(t.size, dtype=bool)
        for w in wins:
            inside |= (t >= w.start) & (t <= w.end)
        outside = ~inside
        fpr_tick = _ratio(float(np.count_nonzero(m & outside)), float(np.count_nonzero(outside)))

    det_ok = [d for d in det if d is not None]
    rst_ok = [r for r in rst if r is not None]
    return Quality(
        incidents=n_inc,
        true_incidents=n_true,
        false_incidents=n_false,
        labelled_incidents=len(wins),
        detected_incidents=len(det_ok),
        days=days,
        precision=_ratio(n_true, n_inc),
        false_discovery_rate=_ratio(n_false, n_inc),
        fpr_per_tick=fpr_tick,
        recall=_ratio(len(det_ok), len(wins)),
        false_alerts_per_day=None if days <= 0 else n_false / days,
        median_detection_s=float(statistics.median(det_ok)) if det_ok else None,
        mean_detection_s=float(statistics.fmean(det_ok)) if det_ok else None,
        median_reset_s=float(statistics.median(rst_ok)) if rst_ok else None,
        missed_windows=missed,
        incident_verdicts=classified,
        window_detection_s=det,
        window_reset_s=rst,
    )
