"""Running mean and sum of squared deviations of one sample block, added one sample at a time (compiled).

Welford's update is sequential, so a block's statistics do not depend on how its samples were split into
solver calls, and a block stopped after ``c`` samples continues to the same bytes as one solved at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def welford(x: np.ndarray, mean: np.ndarray, m2: np.ndarray, count: int) -> int:
    """Add the rows of ``x`` ``(k, n)``, in order, to ``mean`` and ``m2`` ``(n,)`` (updated in place).

    ``count`` samples are already in ``mean``/``m2``; returns ``count + k``. Welford (1962):
    ``δ = x - mean; mean += δ / count; m2 += δ · (x - mean)``.
    """
    for i in range(x.shape[0]):
        count += 1
        for j in range(x.shape[1]):
            _add(x[i, j], j, mean, m2, count)
    return count


@njit(nogil=True, cache=True, inline="always")
def _add(x, at, mean, m2, count):
    """Welford's update of entry ``at`` with the value ``x``, the ``count``-th sample."""
    delta = x - mean[at]
    mean[at] += delta / count
    m2[at] += delta * (x - mean[at])


@njit(nogil=True, cache=True)
def welford_columns(columns, scales, mean, m2, count: int) -> int:
    """``welford`` of the rows ``x[i] = (scales[0]·columns[0][i], scales[1]·columns[1][i], ...)`` without
    building them: ``columns`` a tuple of ``(k, n)`` arrays, ``scales`` ``(C,)``, ``mean`` and ``m2`` ``(C·n,)``.
    The same bytes as ``welford`` of the scaled, concatenated rows (each product is the one numpy would form)."""
    n = columns[0].shape[1]
    for i in range(columns[0].shape[0]):
        count += 1
        for c in range(len(columns)):
            column, scale = columns[c], scales[c]
            for j in range(n):
                _add(column[i, j] * scale, c * n + j, mean, m2, count)
    return count
