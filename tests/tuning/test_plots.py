"""The report plots render real PNGs of the expected size and react to their inputs."""

from __future__ import annotations

import io

import numpy as np

from ctscan_ops.alerting.tuning import plots as tp
from ctscan_ops.alerting.tuning import recommend as tn

T0 = 1_700_000_040


def _doc():
    rng = np.random.default_rng(2)
    n = 4 * 1440
    v = 100 + rng.normal(0, 10, n)
    windows = []
    for s in (500, 1900, 4500, 5200):
        v[s : s + 30] = 300
        windows.append((T0 + 60.0 * s, T0 + 60.0 * (s + 29)))
    t = T0 + 60.0 * np.arange(n)
    cond = tn.Condition1D("COMPARISON_GT", "EVALUATION_MISSING_DATA_INACTIVE")
    return v, t, windows, cond


def _png_shape(data: bytes):
    import matplotlib.image as mpimg

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return mpimg.imread(io.BytesIO(data), format="png").shape


def test_curve_png_marks_settings(monkeypatch):
    monkeypatch.setattr(tn, "MIN_TRAIN_DAYS", 1.0)
    v, t, w, cond = _doc()
    doc = tn.tune(v, t, w, cond, tn.TuningParams(durations_s=(0, 120)), current=(150.0, 0))
    assert doc["recommended"]["threshold"] is not None, doc["recommended"]
    plain = tp.curve_png(doc["curve"], title="x")
    marked = tp.curve_png(
        doc["curve"], current=doc["current"], recommended=doc["recommended"], title="x"
    )
    assert _png_shape(marked) == (700, 1000, 4)
    assert plain != marked


def test_timeline_png_draws_both_settings():
    v, t, w, cond = _doc()
    cur = tn.incidents_for_setting(v, t, cond, 130.0, 0)
    rec = tn.incidents_for_setting(v, t, cond, 200.0, 120)
    assert len(cur) > len(rec) == 4
    png = tp.timeline_png(
        t,
        v,
        w,
        {"current": (130.0, cur), "recommended": (200.0, rec)},
        split_time=float(t[4032]),
        title="high_latency",
    )
    assert _png_shape(png) == (600, 1000, 4)
