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
            delta = x[i, j] - mean[j]
            mean[j] += delta / count
            m2[j] += delta * (x[i, j] - mean[j])
    return count
