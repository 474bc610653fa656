"""Rolling-window kernels of the evaluator, compiled with numba (a few passes per series).

The aligned value at tick ``t`` is a statistic of the points with end time in ``(t - P, t]``
(see :mod:`ctscan_ops.alerting.engine.evaluator`). Per series, compiled loops over memory that
stays in cache write the statistic straight into the caller's output row (in numpy the same
took ~15 whole-array passes, each a memory round trip; hence numba):

Window bounds (:func:`window_bounds`)
    ``[lo, hi)`` index ranges of the sorted points. On a regular grid of integral, epoch-like
    ticks with ``P`` a multiple of the step, point ``x`` lies in segment
    ``ceil((x - (t_0 - P)) / step)`` and window ``k`` is segments ``k+1 .. k+m``: one count per
    segment and a running total give ``lo = C[k]``, ``hi = C[k+m]`` (no search).
    ``x - (t_0 - P)`` is exact (Sterbenz) and a segment edge an exact multiple of the step, so
    this decides ``t - P < x <= t`` exactly as the reference's comparisons. Any other ascending
    grid walks two pointers with those comparisons.

Statistics (:func:`align_scalar`)
    COUNT and NEXT_OLDER read the bounds. SUM/MEAN (DELTA and RATE are sums) and MAX/MIN: most
    windows of a series hold the same number ``m`` of points (one per minute, 5 minutes...);
    the statistic of every run of ``m`` consecutive points is built for all start points with
    ``m - 1`` vectorised steps, accumulated left to right, and such a window reads it at ``lo``
    (branch-free; the other windows are listed on the way). A window of ``m + 1`` points adds
    its last point to the run, one of ``m - 1`` reads the step before; any other window of up
    to :data:`DIRECT_POINTS` points is reduced directly, left to right. Sums are therefore
    bit-identical to the reference's ``sum()``. Wider windows keep a running sum (add entering
    points, subtract leaving ones), recomputed directly once it has seen as many updates as the
    window has points: exact for integer and dyadic values, otherwise within about
    ``3 n eps max|partial sum|`` of the direct sum; MAX/MIN over them keep a monotonic deque.
    Percentiles of the common size sort the ``m`` columns of all start points together with a
    compare-exchange network (min/max over whole columns); other windows of up to
    :data:`DIRECT_POINTS` points sort by insertion, wider ones keep the window sorted (remove
    leaving, insert entering points); all interpolate with the reference's float operations.

Clean input (:func:`align_series`)
    The kernels check, in the loops that read the points anyway, that times are finite and
    strictly increasing and values finite; the evaluator hands them series unchecked and
    prepares (sorts, de-duplicates, drops non-finite points of) only those that are not.

Compilation: :func:`ctscan_ops.alerting.engine.jit.kernel` (numba, cached on disk). The first
call of a process loads the machine code from numba's cache (``__pycache__`` next to this file,
or ``NUMBA_CACHE_DIR`` when set); without a cache every process compiles the kernels once.
:func:`ctscan_ops.alerting.engine.evaluator.warm_kernels` fills the cache (an image build runs
it). Figures in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math

import numpy as np

from ctscan_ops.alerting.engine.jit import kernel

__all__ = [
    "DIRECT_POINTS",
    "HOW",
    "WindowScratch",
    "align_scalar",
    "align_series",
    "is_clean",
    "window_bounds",
]

#: windows of at most this many points are reduced directly (sums bit-identical to ``sum()``)
DIRECT_POINTS = 16

#: statistic codes of :func:`align_scalar`
HOW = {"count": 0, "last": 1, "sum": 2, "mean": 3, "max": 4, "min": 5, "percentile": 6, "rate": 7}
_COUNT, _LAST, _SUM, _MEAN, _MAX, _MIN, _PCT, _RATE = range(8)


class WindowScratch:
    """Buffers reused across the series of one evaluation (a fresh array per series would pay
    its page faults every time)."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}
        self._steps: dict[tuple[int, float], tuple[np.ndarray, float | None]] = {}
        self._kit: tuple[np.ndarray, ...] | None = None

    def grid_step(self, ticks: np.ndarray, period: float) -> float | None:
        """:func:`_integral_grid` of ``ticks``, checked once per tick array and period."""
        if ticks.size == 0:
            return None
        key = (id(ticks), float(period))
        hit = self._steps.get(key)
        if hit is None or hit[0] is not ticks:  # (the array is kept: its id is not reused)
            hit = self._steps[key] = (ticks, _integral_grid(ticks, float(period)))
        return hit[1]

    def stat_buffers(self, n: int, n_t: int) -> tuple[np.ndarray, ...]:
        """The statistic kernels' buffers for ``n`` points and ``n_t`` windows (at least that
        large; the kernels index only what they need): 3 float and 1 int64 of ``n``, the
        window list (int32) of ``n_t``, the window-size histogram."""
        kit = self._kit
        if kit is None or kit[0].size < n or kit[3].size < n_t:
            n, n_t = max(n, 16), max(n_t, 16)
            kit = self._kit = (
                np.empty(n),
                np.empty(n),
                np.empty(n),
                np.empty(n_t, dtype=np.int32),
                np.empty(n, dtype=np.int64),
                np.empty(DIRECT_POINTS + 2, dtype=np.int64),
            )
        return kit

    def get(self, name: str, n: int, dtype: type = np.float64) -> np.ndarray:
        """Buffer ``name`` (always of the same ``dtype``) as an array of ``n`` items."""
        buf = self._bufs.get(name)
        if buf is None or buf.size < n:
            buf = self._bufs[name] = np.empty(max(n, 16), dtype=dtype)
        return buf[:n]


# --------------------------------------------------------------------------- clean-up check


@kernel
def _is_clean(times: np.ndarray, values: np.ndarray) -> bool:  # pragma: no cover - compiled
    n = times.size
    ok = True
    for i in range(n):
        # finite: x - x is 0 for finite x, NaN for NaN and +-inf (branch-free: vectorised)
        ok &= (times[i] - times[i] == 0.0) & (values[i] - values[i] == 0.0)
    for i in range(1, n):
        ok &= times[i] > times[i - 1]
    return ok


def is_clean(times: np.ndarray, values: np.ndarray) -> bool:
    """Whether every time and value is finite and the times strictly increase (one pass)."""
    return bool(
        _is_clean(
            np.ascontiguousarray(times, dtype=np.float64),
            np.ascontiguousarray(values, dtype=np.float64),
        )
    )


# --------------------------------------------------------------------------- window bounds


@kernel
def _segment_bounds(
    times: np.ndarray, base: float, step: float, top: int, seg: np.ndarray, c: np.ndarray
) -> bool:  # pragma: no cover - compiled (tested through window_bounds)
    # c[j] = points in segments <= j (segment 0: at or before base; top: after the last tick)
    # segment j is (base + (j-1) step, base + j step]: s = ceil((x - base) / step) by a
    # multiplication, corrected by exact comparisons with the segment's edges (integral values).
    # Returns whether the times are finite and strictly increasing (the bounds are only valid
    # then; any input stays in bounds: a NaN time counts in segment 0).
    n = times.size
    inv = 1.0 / step
    ftop = float(top)
    ok = True
    for i in range(n):  # (branch-free: vectorised)
        d = times[i] - base
        ok &= d - d == 0.0
        s = math.ceil(d * inv)
        s -= 1.0 if d <= (s - 1.0) * step else 0.0
        s += 1.0 if d > s * step else 0.0
        s = s if s == s else 0.0
        seg[i] = np.int32(min(max(s, 0.0), ftop))
    for i in range(1, n):
        ok &= times[i] > times[i - 1]
    c[:] = 0
    for i in range(n):
        c[seg[i]] += 1
    acc = 0
    for j in range(top + 1):
        acc += c[j]
        c[j] = acc
    return ok


@kernel
def _pointer_bounds(
    times: np.ndarray, ticks: np.ndarray, period: float, lo: np.ndarray, hi: np.ndarray
) -> bool:  # pragma: no cover - compiled (tested through window_bounds)
    # returns whether the times are finite and strictly increasing, as _segment_bounds
    n = times.size
    ok = True
    for i in range(n):
        ok &= times[i] - times[i] == 0.0
    for i in range(1, n):
        ok &= times[i] > times[i - 1]
    a = 0
    b = 0
    for k in range(ticks.size):
        t = ticks[k]
        start = t - period
        while b < n and times[b] <= t:
            b += 1
        while a < b and times[a] <= start:
            a += 1
        lo[k] = a
        hi[k] = b
    return ok


def _integral_grid(ticks: np.ndarray, period: float) -> float | None:
    """The step when ticks are ``t_0 + k * step`` with integral ``t_0``, ``step`` and
    ``period = m * step``, and epoch-like (``0 < t_0 - period``, last tick below twice that):
    the segment path is exact there. Otherwise None."""
    if ticks.size == 0 or period <= 0:
        return None
    t0 = float(ticks[0])
    step = float(ticks[1] - ticks[0]) if ticks.size > 1 else float(period)
    if step <= 0 or not (t0.is_integer() and step.is_integer() and abs(t0) < 2.0**52):
        return None
    if (period / step) != int(period / step) or not float(period).is_integer():
        return None
    base, last = t0 - period, t0 + step * (ticks.size - 1)
    if not 0 < base < last < 2 * base:
        return None  # x - base is exact (Sterbenz) only for x in [base / 2, 2 base]
    if ticks.size > 1 and not np.array_equal(ticks, t0 + step * np.arange(ticks.size)):
        return None
    return step


def _bounds(
    times: np.ndarray, ticks: np.ndarray, period: float, sc: WindowScratch, step: float | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`window_bounds` and whether ``times`` were finite and strictly increasing."""
    t = np.ascontiguousarray(times, dtype=np.float64)
    tk = np.ascontiguousarray(ticks, dtype=np.float64)
    n_t = tk.size
    if step is None:
        step = sc.grid_step(tk, float(period))
    if step:
        m = round(period / step)
        top = n_t + m
        c = sc.get("bounds_c", top + 1, np.int64)
        seg = sc.get("bounds_seg", t.size, np.int32)
        ok = _segment_bounds(t, float(tk[0]) - float(period), float(step), top, seg, c)
        return c[:n_t], c[m : m + n_t], ok
    if tk.size > 1 and bool(np.any(tk[1:] < tk[:-1])):
        raise ValueError("window_bounds: ticks must be ascending")
    lo = sc.get("bounds_lo", n_t, np.int64)
    hi = sc.get("bounds_hi", n_t, np.int64)
    ok = _pointer_bounds(t, tk, float(period), lo, hi)
    return lo, hi, ok


def window_bounds(
    times: np.ndarray,
    ticks: np.ndarray,
    period: float,
    scratch: WindowScratch | None = None,
    step: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)``: index range of the points with end time in ``(t - period, t]`` per tick.

    ``times`` finite and strictly increasing (ValueError otherwise), ``ticks`` ascending.
    ``step`` is the result of the grid check (computed when None; pass ``0`` to force the
    pointer walk). The arrays are views of ``scratch`` buffers when it is given (valid until
    its next use).
    """
    lo, hi, ok = _bounds(times, ticks, period, scratch or WindowScratch(), step)
    if not ok:
        raise ValueError("window_bounds: times must be finite and strictly increasing")
    return lo, hi


# --------------------------------------------------------------------------- statistics


@kernel
def _common_count(
    lo: np.ndarray, hi: np.ndarray, direct: int, hist: np.ndarray
) -> int:  # pragma: no cover - compiled
    # the most frequent number of points among windows of 1 .. direct points (0: none), from
    # every 32nd window (a hint for speed only: any answer gives the same values)
    hist[:] = 0
    for k in range(0, lo.size, 32):
        hist[min(hi[k] - lo[k], direct + 1)] += 1
    best = 0
    best_n = 0
    for w in range(1, direct + 1):
        if hist[w] > best_n:
            best = w
            best_n = hist[w]
    return best


@kernel
def _runs_of(
    values: np.ndarray,
    m: int,
    how: int,
    run: np.ndarray,
    prev: np.ndarray,
    mean: np.ndarray,
    period: float,
) -> bool:  # pragma: no cover - compiled
    # run[i] = sum/max/min of values[i : i + m], accumulated left to right (vectorised loops),
    # prev[i] the same of m - 1 points (the step before), and for MEAN mean[i] = run[i] / m
    # (the same division as sum / count, once per start point), for RATE run[i] / period.
    # The first loop also checks that every value is finite: False (nothing else computed)
    # if not.
    n = values.size
    ok = True
    for i in range(n):
        x = values[i]
        run[i] = x
        ok &= x - x == 0.0
    if not ok:
        return False
    for j in range(1, m):
        if j == m - 1:
            for i in range(n - m + 2):
                prev[i] = run[i]
        if how == _MAX:
            for i in range(n - j):
                run[i] = max(run[i], values[i + j])
        elif how == _MIN:
            for i in range(n - j):
                run[i] = min(run[i], values[i + j])
        else:
            for i in range(n - j):
                run[i] += values[i + j]
    if how == _MEAN:
        for i in range(n - m + 1):
            mean[i] = run[i] / m
    elif how == _RATE:
        for i in range(n - m + 1):
            mean[i] = run[i] / period
    return True


@kernel
def _align_kernel(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    how: int,
    q: float,
    direct: int,
    out: np.ndarray,
    buf: np.ndarray,
    deque: np.ndarray,
    hist: np.ndarray,
    exc: np.ndarray,
    work: np.ndarray,
    buf2: np.ndarray,
    verify: bool,
) -> bool:  # pragma: no cover - compiled (tested through align_scalar against brute force)
    # returns False, out undefined, if verify and some value is not finite (else True)
    n_t = lo.size
    nan = np.nan
    if how in (_SUM, _MEAN, _RATE, _MAX, _MIN):
        m = _common_count(lo, hi, direct, hist)  # (0: no runs, every window reduced apart)
        if m > 0:
            if not _runs_of(values, m, how, buf, work, buf2, q):  # (checks while copying)
                return False
        elif verify and not _all_finite(values):
            return False
        if how in (_MAX, _MIN):
            _extremes(values, lo, hi, how == _MAX, m, direct, out, buf, work, deque, exc)
        else:
            _sums(values, lo, hi, m, direct, how, q, out, buf, work, buf2, exc)
        return True
    if verify and not _all_finite(values):
        return False
    if how == _COUNT:
        for k in range(n_t):
            w = hi[k] - lo[k]
            out[k] = w if w > 0 else nan
    elif how == _LAST:
        for k in range(n_t):
            b = hi[k]
            out[k] = values[b - 1] if b > lo[k] else nan
    else:
        _percentiles(values, lo, hi, q, direct, out, buf, work, hist, exc, _NET_A, _NET_B, _NET_OFF)
    return True


@kernel
def _all_finite(values: np.ndarray) -> bool:  # pragma: no cover - compiled
    ok = True
    for i in range(values.size):  # (branch-free: vectorised)
        ok &= values[i] - values[i] == 0.0
    return ok


@kernel
def _common_windows(
    lo: np.ndarray,
    hi: np.ndarray,
    m: int,
    n_values: int,
    buf: np.ndarray,
    out: np.ndarray,
    exc: np.ndarray,
) -> int:  # pragma: no cover - compiled
    # out[k] = buf[lo[k]] for the windows of m points; the others are listed in exc[:count]
    # (branch-free: irregular data would make a branch per window mispredict)
    count = 0
    if m == 0 or n_values < m:
        for k in range(lo.size):
            exc[k] = k
        return lo.size
    last = n_values - m
    for k in range(lo.size):
        a = lo[k]
        out[k] = buf[min(a, last)]
        exc[count] = k
        count += hi[k] - a != m
    return count


@kernel
def _sums(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    m: int,
    direct: int,
    how: int,
    period: float,
    out: np.ndarray,
    run: np.ndarray,
    prev: np.ndarray,
    means: np.ndarray,
    exc: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # windows of m points read run (means: MEAN and RATE); m + 1 points: run + the next point
    # (the same left-to-right additions); m - 1 points: prev; others are summed here. MEAN
    # divides a window's sum by its count, RATE by the period (as sum, then / period)
    acc = 0.0  # wide windows: running sum of values[s_a:s_b], updates since recomputed
    s_a = 0
    s_b = 0
    updates = 0
    divided = means if how in (_MEAN, _RATE) else run
    for j in range(_common_windows(lo, hi, m, values.size, divided, out, exc)):
        k = exc[j]
        a = lo[k]
        b = hi[k]
        w = b - a
        if w == 0:
            s = np.nan
        elif m > 0 and w == m + 1:
            s = run[a] + values[a + m]
        elif m > 1 and w == m - 1:
            s = prev[a]
        elif w <= direct:
            s = values[a]
            for i in range(a + 1, b):
                s += values[i]
        else:
            if a >= s_b or updates >= w:  # disjoint or drifted: recompute directly
                acc = 0.0
                for i in range(a, b):
                    acc += values[i]
                updates = 0
            else:
                for i in range(s_b, b):
                    acc += values[i]
                for i in range(s_a, a):
                    acc -= values[i]
                updates += (b - s_b) + (a - s_a)
            s_a = a
            s_b = b
            s = acc
        if how == _MEAN:
            s /= w
        elif how == _RATE:
            s /= period
        out[k] = s


@kernel
def _extremes(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    is_max: bool,
    m: int,
    direct: int,
    out: np.ndarray,
    run: np.ndarray,
    prev: np.ndarray,
    deque: np.ndarray,
    exc: np.ndarray,
) -> None:  # pragma: no cover - compiled
    # as _sums: windows of m, m + 1 and m - 1 points read the runs
    head = 0  # wide windows: deque[head:tail] = indices of decreasing (MAX) candidates
    tail = 0
    pushed = 0
    for j in range(_common_windows(lo, hi, m, values.size, run, out, exc)):
        k = exc[j]
        a = lo[k]
        b = hi[k]
        w = b - a
        if w == 0:
            s = np.nan
        elif m > 0 and w == m + 1:
            s = max(run[a], values[a + m]) if is_max else min(run[a], values[a + m])
        elif m > 1 and w == m - 1:
            s = prev[a]
        elif w <= direct:
            s = values[a]
            for i in range(a + 1, b):
                s = max(s, values[i]) if is_max else min(s, values[i])
        else:
            if pushed < a:
                head = 0
                tail = 0
                pushed = a
            while pushed < b:
                x = values[pushed]
                if is_max:
                    while tail > head and values[deque[tail - 1]] < x:
                        tail -= 1
                else:
                    while tail > head and values[deque[tail - 1]] > x:
                        tail -= 1
                deque[tail] = pushed
                tail += 1
                pushed += 1
            while deque[head] < a:
                head += 1
            s = values[deque[head]]
        out[k] = s


@kernel
def _interp(srt: np.ndarray, w: int, q: float) -> float:  # pragma: no cover - compiled
    rank = q / 100.0 * (w - 1)
    f = math.floor(rank)
    c = min(f + 1, w - 1)
    return srt[f] + (srt[c] - srt[f]) * (rank - f)


def _sorting_network(n: int) -> list[tuple[int, int]]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort for ``n`` inputs.

    Built for the next power of two; comparators touching an index ``>= n`` are dropped,
    which is valid as if the missing inputs were ``+inf`` (such a comparator never swaps).
    """
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
    return out


def _networks(direct: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorting networks for 0 .. direct inputs, flattened: network ``n`` is the comparators
    ``(net_a[i], net_b[i])`` for ``i`` in ``offsets[n] .. offsets[n + 1] - 1``."""
    nets = [_sorting_network(n) for n in range(direct + 1)]
    offsets = np.cumsum([0] + [len(x) for x in nets]).astype(np.int64)
    flat = [c for net in nets for c in net]
    net_a = np.array([c[0] for c in flat], dtype=np.int64)
    net_b = np.array([c[1] for c in flat], dtype=np.int64)
    return net_a, net_b, offsets


#: (numba freezes global arrays into the compiled code as constants)
_NET_A, _NET_B, _NET_OFF = _networks(DIRECT_POINTS)

#: start points per block of the sorted columns (m x block values stay in cache)
_BLOCK = 1024


@kernel
def _percentile_runs(
    values: np.ndarray, m: int, q: float, net_a: np.ndarray, net_b: np.ndarray, buf: np.ndarray
) -> None:  # pragma: no cover - compiled
    # buf[i] = percentile q of values[i : i + m]: the m points of every start i as m columns,
    # sorted together by a compare-exchange network (min/max over whole columns: vectorised,
    # and it only moves values, so the order statistics are exact), then interpolated with
    # the reference's float operations
    n_out = values.size - m + 1
    rank = q / 100.0 * (m - 1)
    f = math.floor(rank)
    c = min(f + 1, m - 1)
    frac = rank - f
    cols = np.empty((m, _BLOCK))
    for i0 in range(0, n_out, _BLOCK):
        n_b = min(_BLOCK, n_out - i0)
        for j in range(m):
            col = cols[j]
            for i in range(n_b):
                col[i] = values[i0 + i + j]
        for ci in range(net_a.size):
            ra = cols[net_a[ci]]
            rb = cols[net_b[ci]]
            for i in range(n_b):
                x = ra[i]
                y = rb[i]
                ra[i] = min(x, y)
                rb[i] = max(x, y)
        rf = cols[f]
        rc = cols[c]
        for i in range(n_b):
            buf[i0 + i] = rf[i] + (rc[i] - rf[i]) * frac


@kernel
def _percentiles(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    q: float,
    direct: int,
    out: np.ndarray,
    buf: np.ndarray,
    work: np.ndarray,
    hist: np.ndarray,
    exc: np.ndarray,
    net_a: np.ndarray,
    net_b: np.ndarray,
    net_off: np.ndarray,
) -> None:  # pragma: no cover - compiled
    m = _common_count(lo, hi, direct, hist)
    if m > 0 and values.size >= m:
        lo_net, hi_net = net_off[m], net_off[m + 1]
        _percentile_runs(values, m, q, net_a[lo_net:hi_net], net_b[lo_net:hi_net], buf)
    small = np.empty(direct)
    n_sorted = 0  # wide windows: work[:n_sorted] holds values[p_a:p_b] sorted
    p_a = 0
    p_b = 0
    for e in range(_common_windows(lo, hi, m, values.size, buf, out, exc)):
        k = exc[e]
        a = lo[k]
        b = hi[k]
        w = b - a
        if w == 0:
            out[k] = np.nan
        elif w <= direct:
            for i in range(w):  # insertion sort of the window
                x = values[a + i]
                j = i
                while j > 0 and small[j - 1] > x:
                    small[j] = small[j - 1]
                    j -= 1
                small[j] = x
            out[k] = _interp(small, w, q)
        else:
            if a >= p_b:  # disjoint from the sorted window: start again from [a, a)
                n_sorted = 0
                p_a = a
                p_b = a
            for i in range(p_a, a):  # remove the leaving points
                x = values[i]
                j = 0
                while work[j] < x:
                    j += 1
                for r in range(j, n_sorted - 1):
                    work[r] = work[r + 1]
                n_sorted -= 1
            for i in range(p_b, b):  # insert the entering points
                x = values[i]
                j = n_sorted
                while j > 0 and work[j - 1] > x:
                    work[j] = work[j - 1]
                    j -= 1
                work[j] = x
                n_sorted += 1
            p_a = a
            p_b = b
            out[k] = _interp(work, w, q)


def align_scalar(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    how: str,
    out: np.ndarray,
    q: float = 0.0,
    scratch: WindowScratch | None = None,
) -> np.ndarray:
    """Statistic ``how`` (see :data:`HOW`) of ``values[lo[k]:hi[k]]`` per window ``k``, into
    ``out`` (NaN where the window is empty). ``lo`` and ``hi`` ascending (as
    :func:`window_bounds` gives them for ascending ticks), ``values`` finite; ``q`` is the
    percentile for ``how="percentile"`` and the period (seconds) for ``how="rate"`` (the sum
    divided by it, as ALIGN_RATE)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    if out.shape != lo.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError("align_scalar: out must be a contiguous float64 array shaped as lo")
    if (
        lo.shape != hi.shape
        or int(np.max(hi, initial=0)) > v.size
        or int(np.min(lo, initial=0)) < 0
    ):
        raise ValueError("align_scalar: lo/hi must be index ranges of values")
    lo = np.ascontiguousarray(lo, dtype=np.int64)
    hi = np.ascontiguousarray(hi, dtype=np.int64)
    if not _statistic(v, lo, hi, how, q, out, scratch or WindowScratch()):
        raise ValueError("align_scalar: values must be finite")
    return out


def _statistic(
    v: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    how: str,
    q: float,
    out: np.ndarray,
    sc: WindowScratch,
) -> bool:
    """The statistic kernel over windows ``[lo, hi)`` of ``v`` into ``out`` with ``sc``'s
    buffers; False if a value it read is not finite."""
    run, work, means, exc, deque, hist = sc.stat_buffers(v.size, lo.size)
    return bool(
        _align_kernel(
            v,
            lo,
            hi,
            HOW[how],
            float(q),
            DIRECT_POINTS,
            out,
            run,
            deque,
            hist,
            exc,
            work,
            means,
            True,
        )
    )


def align_series(
    times: np.ndarray,
    values: np.ndarray,
    ticks: np.ndarray,
    period: float,
    how: str,
    out: np.ndarray,
    q: float = 0.0,
    scratch: WindowScratch | None = None,
) -> bool:
    """:func:`window_bounds` and :func:`align_scalar` of one series into ``out``, checking on
    the way (for the cost of a few comparisons in loops that read the points anyway) that the
    times are finite and strictly increasing and the values finite: False (``out``
    undefined) if not, for a caller that has not cleaned the series yet."""
    sc = scratch or WindowScratch()
    lo, hi, ok = _bounds(times, ticks, period, sc, None)
    if not ok:
        return False
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.size != np.size(times):
        raise ValueError(f"align_series: {v.size} values for {np.size(times)} times")
    if out.shape != lo.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
        raise ValueError("align_series: out must be a contiguous float64 array shaped as ticks")
    return _statistic(v, lo, hi, how, q, out, sc)
