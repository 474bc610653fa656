"""PNG plots for the threshold-tuning report (pure functions returning bytes; no Dagster).

matplotlib is imported inside each function with the Agg backend, so importing this module
costs nothing at definitions load (CONTRIBUTING.md rule).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def _figure(
    nrows: int,
    height: float,
    sharex: bool = True,
    ratios: Sequence[float] | None = None,
    width: float = 10,
):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        nrows,
        1,
        figsize=(width, height),
        sharex=sharex,
        gridspec_kw={"height_ratios": list(ratios)} if ratios else None,
        squeeze=False,
    )
    return plt, fig, [row[0] for row in axes]


def _png(plt: Any, fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def curve_png(
    curve: Sequence[Mapping[str, Any]],
    *,
    current: Mapping[str, Any] | None = None,
    recommended: Mapping[str, Any] | None = None,
    title: str = "",
    width_in: float = 10.0,
) -> bytes:
    """FDR and recall vs threshold, one step line per duration (the tuning doc's ``curve``),
    with the current and recommended settings marked on their duration's line.

    ``width_in``: figure width in inches (100 px each); the asset page inlines a narrow one.
    """
    plt, fig, (ax_fdr, ax_rec) = _figure(2, 7.0 if width_in >= 8 else 5.5, width=width_in)
    cmap = plt.get_cmap("viridis")
    n = max(len(curve), 1)
    marks = [("current", current, "s", "tab:red"), ("recommended", recommended, "*", "tab:green")]
    for k, c in enumerate(curve):
        x = [t for t in c["threshold"]]
        fdr = [float("nan") if f is None else f for f in c["false_discovery_rate"]]
        rec = [float("nan") if r is None else r for r in c["recall"]]
        color = cmap(k / n)
        label = f"{c['duration_s']} s"
        ax_fdr.step(x, fdr, where="mid", color=color, label=label, lw=1)
        ax_rec.step(x, rec, where="mid", color=color, label=label, lw=1)
        for name, setting, marker, mcolor in marks:
            if not setting or setting.get("threshold") is None:
                continue
            if int(setting.get("duration_s", -1)) != int(c["duration_s"]):
                continue
            i = _class_index(c, float(setting["threshold"]))
            for ax, ys in ((ax_fdr, fdr), (ax_rec, rec)):
                ax.plot(
                    [setting["threshold"]],
                    [ys[i]],
                    marker=marker,
                    color=mcolor,
                    ms=12,
                    ls="none",
                    label=f"{name} ({setting['threshold']:g}, {setting['duration_s']} s)",
                )
    ax_fdr.set_ylabel("false discovery rate")
    ax_rec.set_ylabel("recall (labelled incidents)")
    ax_rec.set_xlabel("threshold")
    for ax in (ax_fdr, ax_rec):
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    handles, labels = ax_fdr.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax_fdr.legend(uniq.values(), uniq.keys(), fontsize=7, ncol=4, loc="best")
    if title:
        ax_fdr.set_title(title)
    return _png(plt, fig)


def _class_index(c: Mapping[str, Any], threshold: float) -> int:
    """Index of the merged curve point whose range holds ``threshold``."""
    for i, (lo, hi) in enumerate(zip(c["threshold_lo"], c["threshold_hi"], strict=True)):
        lo_ok = lo is None or threshold >= lo
        hi_ok = hi is None or threshold <= hi
        if lo_ok and hi_ok:
            return i
    return len(c["threshold"]) - 1


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def timeline_png(
    ticks: Sequence[float],
    values: Sequence[float],
    windows: Sequence[tuple[float, float]],
    settings: Mapping[str, tuple[float, Sequence[tuple[float, float | None]]]],
    *,
    split_time: float | None = None,
    title: str = "",
) -> bytes:
    """The aligned series with each setting's threshold, labelled windows shaded, and one row
    of incident bars per setting (``settings``: name -> (threshold, [(open, close|None)]))."""
    import matplotlib.dates as mdates

    plt, fig, (ax_v, ax_i) = _figure(2, 6.0, ratios=(3, 1))
    import numpy as np

    x = [_dt(t) for t in ticks]
    rows = np.atleast_2d(np.asarray(values, dtype=float))
    for g, row in enumerate(rows):
        label = "aligned value" if rows.shape[0] == 1 else f"group {g}"
        ax_v.plot(x, row, lw=0.6, color="0.3" if rows.shape[0] == 1 else None, label=label)
    colors = ["tab:red", "tab:green", "tab:blue", "tab:orange"]
    end = float(ticks[-1]) + 60 if len(ticks) else 0.0
    for s, e in windows:
        for ax in (ax_v, ax_i):
            ax.axvspan(_dt(s), _dt(e), color="tab:orange", alpha=0.2, lw=0)
    for row, (name, (thr, incs)) in enumerate(settings.items()):
        color = colors[row % len(colors)]
        ax_v.axhline(thr, color=color, lw=1, ls="--", label=f"{name} threshold {thr:g}")
        bars = [
            (
                mdates.date2num(_dt(o)),
                mdates.date2num(_dt(end if c is None else c)) - mdates.date2num(_dt(o)),
            )
            for o, c in incs
        ]
        ax_i.broken_barh(bars, (row - 0.35, 0.7), color=color)
    if split_time is not None:
        for ax in (ax_v, ax_i):
            ax.axvline(_dt(split_time), color="k", lw=1)
        ax_v.text(_dt(split_time), ax_v.get_ylim()[1], " holdout", va="top", fontsize=8)
    ax_i.set_yticks(range(len(settings)), list(settings))
    ax_i.set_ylim(-0.6, len(settings) - 0.4)
    ax_i.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax_v.legend(fontsize=7, loc="upper left")
    ax_v.set_ylabel("value")
    ax_i.set_xlabel("time (UTC); shaded: labelled incidents")
    if title:
        ax_v.set_title(title)
    return _png(plt, fig)
