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
from typing import Any

import numpy as np

__all__ = [
    "MAX_NETWORK_WIDTH",
    "MAX_TABLE_CELLS",
    "Scratch",
    "interp_columns",
    "regular_window_bounds",
    "sorting_network",
    "window_percentile",
    "window_percentile_table",
    "window_stat",
    "window_table",
]

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


# --------------------------------------------------------------------------- point-space kernels
#
# Windows of a sorted series are index ranges [lo, hi) of its points. When no window holds more
# than a few points (W <= MAX_NETWORK_WIDTH), every statistic of window [lo, lo + n) is read from
# a table built over the points, not the windows: row w - 1 of the table holds, for every start
# point i, the statistic of the w points v[i], ..., v[i + w - 1], built incrementally
# (row w = row w - 1 combined with v shifted by w - 1: one whole-array operation per row, views
# only). A window's value is then ONE gather: table[n - 1, lo]. Sums are accumulated left to
# right, as Python's sum() over the window in time order does, so they are bit-identical to it.

#: at most this many table cells (rows x points) per series; larger cases use other paths
MAX_TABLE_CELLS = 8_000_000

_IDENTITY = {"sum": 0.0, "max": -np.inf, "min": np.inf}


class Scratch:
    """Scratch buffers reused across the series of one evaluation.

    A fresh array of a few hundred KiB is served by mmap and costs a page fault per 4 KiB page
    on first touch (on this project's VMs about as much as the arithmetic itself, several
    times over); every per-series temporary here comes from a named, reused buffer instead.
    """

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, n: int, dtype: Any = float) -> np.ndarray:
        """A 1-D buffer of ``n`` items (contents undefined)."""
        buf = self._bufs.get(name)
        if buf is None or buf.size < n or buf.dtype != np.dtype(dtype):
            buf = np.empty(max(n, 1), dtype=dtype)
            self._bufs[name] = buf
        return buf[:n]

    def table(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A C-contiguous ``(rows, cols)`` float buffer (contents undefined)."""
        return self.get(name, rows * cols).reshape(rows, cols)


def regular_window_bounds(
    times: np.ndarray,
    first_tick: float,
    n_ticks: int,
    step: float,
    m: int,
    scratch: Scratch | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)`` point ranges of the windows ``(t_k - m*step, t_k]``, ``t_k = first + k*step``.

    Point ``x`` lies in segment ``ceil((x - (first - m*step)) / step)`` (segment ``j`` is
    ``(edge_{j-1}, edge_j]``); window ``k`` is segments ``k+1 .. k+m``, so with ``C[j]`` the
    number of points in segments ``<= j``: ``lo = C[k]``, ``hi = C[k+m]``. The returned arrays
    are views of ``scratch`` buffers when it is given (valid until its next use).
    """
    sc = scratch or Scratch()
    n_seg = m + n_ticks
    n = times.size
    c = sc.get("bounds_c", n_seg + 1, np.intp)
    c[:] = 0
    if n and n_ticks:
        base = first_tick - m * step
        last = first_tick + (n_ticks - 1) * step
        # points at or before the first window start count in every C[j] (C[0] += i0); points
        # after the last tick in none that is used: the rest lie in segments 1 .. n_seg - 1
        i0 = 0 if times[0] > base else int(np.searchsorted(times, base, side="right"))
        i1 = n if times[-1] <= last else int(np.searchsorted(times, last, side="right"))
        if i1 > i0:
            x = sc.get("bounds_x", i1 - i0)
            np.subtract(times[i0:i1], base, out=x)
            np.divide(x, step, out=x)
            np.ceil(x, out=x)
            seg = sc.get("bounds_seg", i1 - i0, np.intp)
            np.copyto(seg, x, casting="unsafe")
            np.add.at(c, seg, 1)
        c[0] += i0
        np.cumsum(c, out=c)
    return c[:n_ticks], c[m : m + n_ticks]


def _table_offsets(
    n: np.ndarray, lo: np.ndarray, n_points: int, first: int, sc: Scratch
) -> np.ndarray:
    """Flat table index ``(n - first) * n_points + lo`` per window, row 0 holding windows of
    ``first`` points (negative for empty windows: the gather clips them, and their value is
    replaced by NaN afterwards)."""
    idx = sc.get("offsets", n.size, np.intp)
    np.multiply(n, n_points, out=idx)
    idx += lo
    idx -= first * n_points
    return idx


def _first_row(n: np.ndarray) -> int:
    """Fewest points of a window, the first table row needed (1 when some window is empty)."""
    return max(1, int(n.min())) if n.size else 1


def window_table(
    v: np.ndarray, width: int, how: str, scratch: Scratch | None = None, first: int = 1
) -> np.ndarray:
    """``(width - first + 1, len(v))`` table: row ``w - first`` = sum/max/min of ``v[i:i+w]``
    (see above); rows for fewer than ``first`` points are accumulated but not kept."""
    sc = scratch or Scratch()
    size = v.size
    pad = sc.get("table_pad", size + width)
    pad[:size] = v
    pad[size:] = _IDENTITY[how]
    table = sc.table("table", width - first + 1, size)
    op = {"sum": np.add, "max": np.maximum, "min": np.minimum}[how]
    prev = v
    if first == 1:
        table[0] = v
        prev = table[0]
    for w in range(2, width + 1):
        dst = table[w - first] if w >= first else sc.get(f"table_acc{w % 2}", size)
        op(prev, pad[w - 1 : w - 1 + size], out=dst)
        prev = dst
    return table


def window_stat(
    v: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    how: str,
    out: np.ndarray,
    scratch: Scratch | None = None,
) -> np.ndarray | None:
    """Per-window sum/mean/count/max/min/last of ``v[lo:hi]`` into ``out`` (NaN if empty).

    Returns None (``out`` untouched) when a window is too wide for a table; the caller then
    uses another algorithm.
    """
    sc = scratch or Scratch()
    n = sc.get("stat_n", lo.size, np.intp)
    np.subtract(hi, lo, out=n)
    width = int(n.max(initial=0))
    if how in ("sum", "mean", "max", "min") and (
        width > MAX_NETWORK_WIDTH or width * v.size > MAX_TABLE_CELLS
    ):
        return None
    empty = sc.get("stat_empty", lo.size, bool)
    np.equal(n, 0, out=empty)
    if how == "count":
        np.copyto(out, n, casting="unsafe")
    elif how == "last":
        if v.size:
            idx = sc.get("stat_idx", lo.size, np.intp)
            np.subtract(hi, 1, out=idx)
            np.take(v, idx, out=out, mode="clip")
    elif width > 0:
        first = _first_row(n)
        table = window_table(v, width, "sum" if how == "mean" else how, sc, first)
        offsets = _table_offsets(n, lo, v.size, first, sc)
        np.take(table.reshape(-1), offsets, out=out, mode="clip")
        if how == "mean":
            nf = sc.get("stat_nf", n.size)
            np.copyto(nf, n, casting="unsafe")  # float/float divides faster than float/int
            with np.errstate(invalid="ignore", divide="ignore"):  # empty windows: NaN below
                np.divide(out, nf, out=out)
    np.copyto(out, np.nan, where=empty)
    return out


def window_percentile_table(
    v: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q: float,
    out: np.ndarray,
    scratch: Scratch | None = None,
) -> np.ndarray | None:
    """Percentile ``q`` of ``v[lo:hi]`` per window into ``out``, or None if windows are wide.

    Point space, by insertion: after inserting ``v[i + w - 1]`` the ``w`` sorted columns hold,
    for every start ``i``, the sorted values of ``v[i:i+w]``; the interpolated percentile for
    windows of ``w`` points (rank, floor and fraction fixed by ``w``) becomes table row ``w-1``.
    """
    sc = scratch or Scratch()
    n = sc.get("pct_n", lo.size, np.intp)
    np.subtract(hi, lo, out=n)
    width = int(n.max(initial=0))
    size = v.size
    if width == 0 or size == 0:
        out[:] = np.nan
        return out
    if width > MAX_NETWORK_WIDTH or width * size > MAX_TABLE_CELLS:
        return None
    with np.errstate(invalid="ignore"):  # inf - inf in the padding past the last point
        return _percentile_table(v, lo, n, width, q, out, sc)


def _percentile_table(
    v: np.ndarray,
    lo: np.ndarray,
    n: np.ndarray,
    width: int,
    q: float,
    out: np.ndarray,
    sc: Scratch,
) -> np.ndarray:
    size = v.size
    pad = sc.get("table_pad", size + width)
    pad[:size] = v
    pad[size:] = np.inf
    cols = list(sc.table("pct_cols", width, size))
    spare = sc.get("pct_spare", size)
    first = _first_row(n)
    table = sc.table("table", width - first + 1, size)
    for w in range(1, width + 1):
        # insert x = v[i + w - 1] into the w - 1 sorted columns (compare-exchange from the top)
        x = pad[w - 1 : w - 1 + size]
        if w == 1:
            cols[0][:] = x
        else:
            cur = x
            for j in range(w - 2, -1, -1):
                # cols[j+1] = max(cols[j], cur); cur = min(cols[j], cur) (cur may be cols[j+1])
                np.minimum(cols[j], cur, out=spare)
                np.maximum(cols[j], cur, out=cols[j + 1])
                cols[j], spare = spare, cols[j]
                cur = cols[j]
        if w < first:
            continue
        rank = q / 100.0 * (w - 1)
        f = math.floor(rank)
        c = min(f + 1, w - 1)
        row = table[w - first]
        np.subtract(cols[c], cols[f], out=row)
        row *= rank - f
        row += cols[f]
    np.take(table.reshape(-1), _table_offsets(n, lo, size, first, sc), out=out, mode="clip")
    np.copyto(out, np.nan, where=n == 0)
    return out
