"""Window algorithms for the evaluator (pure numpy): rolling percentiles by a sorting network.

A rolling percentile over windows given as index ranges ``[lo, hi)`` of a sorted series would
naively sort one row per window (``np.sort`` on a ``(windows, width)`` matrix: its per-row
overhead dominates for the short windows alerting uses, e.g. 5 points in a 5 min window of
1-minute data). Here the window's points are laid out as ``width`` columns of length
``windows`` (column ``j`` = the ``j``-th point of every window, ``+inf`` past its end) and the
columns are sorted with a fixed compare-exchange network: each comparator is one
``np.minimum`` and one ``np.maximum`` over whole columns, so the cost is
``O(comparators x windows)`` vectorised work with no per-window Python or per-row sort.
The result is exactly the sorted window (compare-exchange only moves values), so the
interpolation below gives bit-identical results to sorting each window.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["MAX_NETWORK_WIDTH", "interp_columns", "sorting_network", "window_percentile"]

#: widest window sorted by a network; wider windows sort rows (np.sort is then efficient)
MAX_NETWORK_WIDTH = 16


@lru_cache(maxsize=64)
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort for ``n`` inputs.

    Built for the next power of two; comparators touching an index ``>= n`` are dropped,
    which is valid when the missing inputs are ``+inf`` (such a comparator never swaps).
    """
    if n < 2:
        return ()
    size = 1
    while size < n:
        size *= 2
    out: list[tuple[int, int]] = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if a // (2 * p) == b // (2 * p) and b < n:
                        out.append((a, b))
            k //= 2
        p *= 2
    return tuple(out)


def interp_columns(
    cols: np.ndarray, n: np.ndarray, q: float, rows: np.ndarray | None = None
) -> np.ndarray:
    """Percentile ``q`` per window from sorted columns ``cols`` (width x windows).

    Linear interpolation between order statistics at rank ``q/100 * (n-1)``, as the reference
    (``s[f] + (s[c] - s[f]) * (rank - f)``, the same float operations); NaN where ``n == 0``.
    Rank, floor and ceiling depend only on ``n``, so they come from per-count tables.
    ``rows[j]`` is the row of ``cols`` that holds order statistic ``j`` (default: row ``j``).
    """
    n_w = cols.shape[1]
    width = cols.shape[0] if rows is None else rows.size
    out = np.full(n_w, np.nan)
    if n_w == 0 or width == 0:
        return out
    f_tab = np.zeros(width + 1, dtype=np.intp)
    c_tab = np.zeros(width + 1, dtype=np.intp)
    frac_tab = np.zeros(width + 1)
    row_of = np.arange(width, dtype=np.intp) if rows is None else rows
    for count in range(1, width + 1):
        rank = q / 100.0 * (count - 1)
        f = math.floor(rank)
        f_tab[count], c_tab[count] = row_of[f], row_of[min(f + 1, count - 1)]
        frac_tab[count] = rank - f
    ar = np.arange(n_w, dtype=np.intp)
    flat = cols.reshape(-1)
    nc = np.minimum(n, width)
    lo_v = flat.take(f_tab.take(nc) * n_w + ar, mode="clip")
    hi_v = flat.take(c_tab.take(nc) * n_w + ar, mode="clip")
    hi_v -= lo_v
    hi_v *= frac_tab.take(nc)
    lo_v += hi_v
    np.copyto(out, lo_v, where=n > 0)
    return out


def window_percentile(v: np.ndarray, lo: np.ndarray, hi: np.ndarray, q: float) -> np.ndarray:
    """Percentile ``q`` of ``v[lo[k]:hi[k]]`` for every window ``k`` (NaN for empty windows).

    Requires ``hi - lo <= MAX_NETWORK_WIDTH``; the caller sorts rows for wider windows.
    """
    n = hi - lo
    n_w = lo.size
    width = int(n.max(initial=0))
    if width == 0 or v.size == 0:
        return np.full(n_w, np.nan)
    if width > MAX_NETWORK_WIDTH:
        raise ValueError(f"window_percentile: {width} points per window > {MAX_NETWORK_WIDTH}")
    # rows 0..width-1 start as the columns; row `width` is the spare of the compare-exchange
    buf = np.empty((width + 1, n_w))
    idx = np.empty(n_w, dtype=np.intp)
    past = np.empty(n_w, dtype=bool)
    for j in range(width):
        np.add(lo, j, out=idx)
        np.take(v, idx, out=buf[j], mode="clip")
        if j:
            # past the window's end: +inf sorts last and is never read by the interpolation
            np.less_equal(n, j, out=past)
            np.copyto(buf[j], np.inf, where=past)
    phys = list(range(width))  # column j lives in row phys[j]; swaps exchange row numbers
    spare = width
    for a, b in sorting_network(width):
        ra, rb = buf[phys[a]], buf[phys[b]]
        np.minimum(ra, rb, out=buf[spare])
        np.maximum(ra, rb, out=rb)
        phys[a], spare = spare, phys[a]
    return interp_columns(buf, n, q, np.asarray(phys, dtype=np.intp))
