"""PNG plots for the alert-quality asset (matplotlib imported lazily, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any


def incident_timeline_png(
    rows: Sequence[Mapping[str, Any]],
    start: float,
    end: float,
    title: str,
    width_in: float = 12.0,
) -> bytes:
    """One row per policy: labelled windows (grey), true incidents (green), false (red).

    ``rows``: ``{"policy", "windows": [(start, end)], "incidents": [(open, close|None, is_true)]}``.
    ``width_in``: figure width in inches (100 px each); the asset page inlines a narrow one.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    def dt(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz=UTC)

    height = max(2.5, 0.45 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(width_in, height), dpi=100)
    for y, row in enumerate(rows):
        for ws, we in row["windows"]:
            ax.barh(
                y,
                (we - ws) / 86400,
                left=mdates.date2num(dt(ws)),
                height=0.8,
                color="#bbbbbb",
                zorder=1,
            )
        for op, cl, ok in row["incidents"]:
            close = end if cl is None else cl
            width = max((close - op) / 86400, 300 / 86400)  # keep short incidents visible
            ax.barh(
                y,
                width,
                left=mdates.date2num(dt(op)),
                height=0.45,
                color="#2e7d32" if ok else "#c62828",
                zorder=2,
            )
    ax.set_yticks(range(len(rows)), [r["policy"] for r in rows])
    ax.set_xlim(mdates.date2num(dt(start)), mdates.date2num(dt(end)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.invert_yaxis()
    if width_in >= 9:
        ax.set_title(
            f"{title}  (grey: labelled incident, green: true alert, red: false alert)", fontsize=9
        )
    else:  # narrow: the legend on its own shorter line, so it is not cut at the figure edge
        ax.set_title(f"{title}\ngrey: labelled, green: true alert, red: false alert", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
