"""Philox4x64-10 doubles for many keys at once, bit for bit those of ``numpy.random.Philox``.

``doubles(key0, start, K, n)`` fills row ``k`` with the first ``n`` values of
``numpy.random.Generator(numpy.random.Philox(key=[key0, start + k])).random(n)``: the reward sampler's
per-sample streams, drawn in one compiled loop instead of one generator reset per sample (tests hold the two
to each other).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_LOW32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_INV53 = 1.0 / 9007199254740992.0  # 2^-53, as numpy's next_double


@njit(inline="always")
def _mulhilo(a, b):
    a_lo, a_hi = a & _LOW32, a >> _S32
    b_lo, b_hi = b & _LOW32, b >> _S32
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    mid = (p0 >> _S32) + (p1 & _LOW32) + (p2 & _LOW32)
    return p3 + (p1 >> _S32) + (p2 >> _S32) + (mid >> _S32), a * b


@njit(cache=True, nogil=True)
def doubles(key0, start, K, n):
    """``(K, n)`` uniform doubles in [0, 1): row ``k`` from Philox keyed ``(key0, start + k)``, counter 0."""
    out = np.empty((K, n))
    key0 = np.uint64(key0)
    for k in range(K):
        key1 = np.uint64(start) + np.uint64(k)
        block = np.uint64(0)
        i = 0
        while i < n:
            block += _ONE  # numpy increments the counter before each block of four
            c0, c1, c2, c3 = block, np.uint64(0), np.uint64(0), np.uint64(0)
            k0, k1 = key0, key1
            for r in range(10):
                if r > 0:
                    k0 += _W0
                    k1 += _W1
                hi0, lo0 = _mulhilo(_M0, c0)
                hi1, lo1 = _mulhilo(_M1, c2)
                c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
            for word in (c0, c1, c2, c3):
                if i < n:
                    out[k, i] = float(word >> _S11) * _INV53
                    i += 1
    return out
