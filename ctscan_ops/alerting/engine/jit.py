"""The one way the evaluator's kernels are compiled: ``numba.njit`` with an on-disk cache.

``cache=True`` stores the machine code under ``__pycache__`` next to the module, or under
``NUMBA_CACHE_DIR`` when set, so a new process loads it (~0.3 s for numba's JIT start, a few
ms per kernel) instead of compiling (~4 s for all kernels). Where neither location is writable
(a read-only package and no ``NUMBA_CACHE_DIR``: numba would refuse to import the module) the
kernels are compiled in every process instead, with a warning naming the fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numba

__all__ = ["kernel"]

_warned = False


def kernel(fn: Callable[..., Any]) -> Any:
    """``numba.njit(cache=True, nogil=True, error_model="numpy")`` (NaN/inf arithmetic as
    numpy, no ZeroDivisionError checks in the loops); without a writable cache, no cache."""
    global _warned
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        if not _warned:
            _warned = True
            warnings.warn(
                f"numba cannot cache {fn.__qualname__} ({exc}); every process compiles the "
                "evaluator's kernels (~4 s): set NUMBA_CACHE_DIR to a writable directory",
                RuntimeWarning,
                stacklevel=2,
            )
        return numba.njit(nogil=True, error_model="numpy")(fn)
