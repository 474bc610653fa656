"""Condition state and incident runs of the evaluator, compiled with numba (one pass per group).

:func:`condition_state` is the duration/missing-data/auto_close state machine documented in
:mod:`ctscan_ops.alerting.engine.evaluator` ("Condition state per group"), walked tick by tick
per group: a run length of violating ticks replaces the rolling "all k ticks" window, a carried
flag the NO_OP look-back, a count of ticks without data the auto_close hold. One read of the
values and one write of the state matrices, nothing per tick materialised; in numpy the same
took a dozen whole-matrix operations. :func:`met_runs` lists the runs of met ticks (incidents).
Compiled like :mod:`ctscan_ops.alerting.engine.windows` (see "Compilation" there).
"""

from __future__ import annotations

import numpy as np

from ctscan_ops.alerting.engine.jit import kernel

__all__ = ["MODES", "condition_state", "met_runs"]

#: missing-data modes of :func:`condition_state`
MODES = {
    "EVALUATION_MISSING_DATA_INACTIVE": 0,
    "EVALUATION_MISSING_DATA_ACTIVE": 1,
    "EVALUATION_MISSING_DATA_NO_OP": 2,
}


@kernel
def _state_kernel(
    v2: np.ndarray,
    threshold: float,
    is_gt: bool,
    k: int,
    mode: int,
    hold: int,
    met: np.ndarray,
    closed: np.ndarray,
) -> None:  # pragma: no cover - compiled (tested through condition_met against the reference)
    n_g, n_t = v2.shape
    for g in range(n_g):
        run = 0  # violating (or, ACTIVE/NO_OP, no-data) ticks ending here
        carried = False  # NO_OP: state at the last tick with data
        no_data = 0  # ticks without data ending here
        seen = False  # some tick with data so far
        for t in range(n_t):
            x = v2[g, t]
            has = x == x
            p = (x > threshold) if is_gt else (x < threshold)  # False for NaN
            if mode != 0 and not has:
                p = True
            run = run + 1 if p else 0
            m = run >= k
            if mode == 2:
                if has:
                    carried = m
                m = carried
            if mode != 0:
                no_data = 0 if has else no_data + 1
                # held closed: no data in (t - hold, t] and some data at or before t - hold
                c = hold > 0 and no_data >= hold and seen
                closed[g, t] = c
                m = m and not c
            seen = seen or has
            met[g, t] = m


def condition_state(
    values: np.ndarray, threshold: float, is_gt: bool, k: int, mode: str, hold: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(met, closed)`` for ``values`` (groups x ticks): met = the ``k`` ticks ending here all
    violate (per the missing-data ``mode``) and not held closed; ``closed`` = the auto_close
    hold of ``hold`` ticks (0: none), None for INACTIVE (it never changes ``met`` there)."""
    v2 = np.ascontiguousarray(values, dtype=np.float64)
    code = MODES[mode]
    met = np.empty(v2.shape, dtype=np.bool_)
    closed = np.empty(v2.shape if code else (0, 0), dtype=np.bool_)
    _state_kernel(v2, float(threshold), bool(is_gt), int(k), code, int(hold), met, closed)
    return met, (closed if code else None)


@kernel
def _runs_kernel(
    met: np.ndarray, grp: np.ndarray, opens: np.ndarray, closes: np.ndarray
) -> int:  # pragma: no cover - compiled (tested through met_runs against a scan)
    # records the runs while they fit in the arrays; returns their number in any case
    n_g, n_t = met.shape
    cap = grp.size
    n = 0
    for g in range(n_g):
        prev = False
        for t in range(n_t):
            x = met[g, t]
            if x != prev:
                if n < cap:
                    if x:
                        grp[n] = g
                        opens[n] = t
                    else:
                        closes[n] = t
                n += not x
                prev = x
        if prev:
            if n < cap:
                closes[n] = n_t
            n += 1
    return n


def met_runs(met: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True per row of ``met`` (groups x ticks): ``(group, open tick, close tick)``,
    by group then time; the close tick is the first tick after the run (``n_ticks`` if the
    run lasts to the end)."""
    m = np.ascontiguousarray(met, dtype=np.bool_)
    cap = 1024 + 8 * m.shape[0]
    while True:  # one pass unless there are more than `cap` runs
        grp = np.empty(cap, dtype=np.int64)
        opens = np.empty(cap, dtype=np.int64)
        closes = np.empty(cap, dtype=np.int64)
        n = _runs_kernel(m, grp, opens, closes)
        if n <= cap:
            return grp[:n], opens[:n], closes[:n]
        cap = n
