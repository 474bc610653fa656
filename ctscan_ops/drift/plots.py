"""The drift share over days as a PNG (pure; matplotlib imported lazily, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def drift_share_png(
    days: Sequence[str],
    shares: Sequence[float | None],
    threshold: float,
    title: str,
    width_in: float = 6.4,
) -> bytes:
    """Daily drift share (dots; a gap where the day has no report) against the policy threshold."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    if len(days) != len(shares):
        raise ValueError(f"{len(days)} days but {len(shares)} drift shares")
    fig, ax = plt.subplots(figsize=(width_in, 2.8), dpi=100)
    xs = list(range(len(days)))
    ys = [float("nan") if s is None else s for s in shares]
    ax.plot(xs, ys, marker="o", ms=4, lw=1, color="#1565c0", label="drift share")
    over = [(x, y) for x, y in zip(xs, ys, strict=True) if y == y and y > threshold]
    if over:
        ax.plot(*zip(*over, strict=True), "o", ms=6, color="#c62828", label="over threshold")
    ax.axhline(threshold, color="#c62828", lw=1, ls="--", label=f"threshold {threshold:g}")
    step = max(1, len(days) // 6)
    ax.set_xticks(xs[::step], [d[5:] for d in days[::step]])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of drifted columns", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
