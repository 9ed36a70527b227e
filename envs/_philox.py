"""Philox4x64-10 doubles for many keys at once, bit for bit those of ``numpy.random.Philox``.

``doubles(key0, start, K, n)`` fills row ``k`` with the first ``n`` values of
``numpy.random.Generator(numpy.random.Philox(key=[key0, start + k])).random(n)``: the reward sampler's
per-sample streams, drawn in one compiled loop instead of one generator reset per sample, ``LANES`` blocks at a
time (tests hold the two to each other).
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


#: Blocks computed side by side: independent lanes the compiler turns into SIMD arithmetic (at 32, about 5 times
#: faster than one block at a time on AVX-512; at 8 it is not vectorised).
LANES = 32


@njit(cache=True, nogil=True)
def _blocks(key0, key1, first, c0, c1, c2, c3):
    """The ``LANES`` blocks after counter ``first`` of the stream keyed ``(key0, key1)``: their four words in
    ``c0``..``c3`` ``(LANES,)``."""
    for j in range(LANES):
        c0[j] = first + np.uint64(j) + _ONE  # numpy increments the counter before each block of four
        c1[j] = np.uint64(0)
        c2[j] = np.uint64(0)
        c3[j] = np.uint64(0)
    k0, k1 = key0, key1
    for r in range(10):
        if r > 0:
            k0 += _W0
            k1 += _W1
        for j in range(LANES):
            hi0, lo0 = _mulhilo(_M0, c0[j])
            hi1, lo1 = _mulhilo(_M1, c2[j])
            x0, x2 = hi1 ^ c1[j] ^ k0, hi0 ^ c3[j] ^ k1
            c0[j], c1[j], c2[j], c3[j] = x0, lo1, x2, lo0


@njit(cache=True, nogil=True)
def doubles(key0, start, K, n):
    """``(K, n)`` uniform doubles in [0, 1): row ``k`` from Philox keyed ``(key0, start + k)``, counter 0."""
    out = np.empty((K, n))
    key0 = np.uint64(key0)
    c0 = np.empty(LANES, dtype=np.uint64)
    c1, c2, c3 = np.empty_like(c0), np.empty_like(c0), np.empty_like(c0)
    per = 4 * LANES  # doubles per call of _blocks
    for k in range(K):
        key1 = np.uint64(start) + np.uint64(k)
        row = out[k]
        for i0 in range(0, n, per):
            _blocks(key0, key1, np.uint64(i0 // 4), c0, c1, c2, c3)
            if i0 + per <= n:  # whole: no bounds test in the loop, which keeps it vectorised
                for j in range(LANES):
                    i = i0 + 4 * j
                    row[i] = float(c0[j] >> _S11) * _INV53
                    row[i + 1] = float(c1[j] >> _S11) * _INV53
                    row[i + 2] = float(c2[j] >> _S11) * _INV53
                    row[i + 3] = float(c3[j] >> _S11) * _INV53
            else:
                for i in range(i0, n):
                    j, q = divmod(i - i0, 4)
                    word = c0[j] if q == 0 else (c1[j] if q == 1 else (c2[j] if q == 2 else c3[j]))
                    row[i] = float(word >> _S11) * _INV53
    return out
