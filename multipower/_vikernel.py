"""Compiled per-sample kernels of the exact two-stage solve (CPU path of :func:`multipower.solver.solve_pairs`).

The same algorithm and certificate as the batched torch code of :mod:`multipower.solver` (value iteration with
the MacQueen/Porteus bounds, midpoint re-centring, the crash safeguard, the tie rule), run one reward sample at
a time: a sample's tables (a few tens of kilobytes on maze7x7) stay in cache for all its sweeps, where the
batched code streams megabytes through memory every sweep. The solver's stopping rule is per sample already,
so the results are those of the batched code (values within the certified ``power_tol``; identical optimal
policies). Plain iteration only (no Anderson acceleration, no exact warm starts): the solver uses this path for
discounts below ``ANDERSON_GAMMA``.

Every expectation is a gather ``E[a, s] = Σ_j w[a, s, j] · V[idx[a, s, j]]`` over the successors of ``(s, a)``
(``a``: the optimising agent's 5 actions, or one slot for policy evaluation); ``V[S]`` is the crash terminal's 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_ACTIONS = 5


@njit(nogil=True, cache=True)
def _sweep(idx, w, V, R, gamma, E, V_new):
    """One Bellman sweep from ``V`` (padded, ``V[S] = 0``): fills ``E`` ``(A, S)`` and ``V_new`` ``(S,)``
    (the maximum over the ``A`` slots). Returns ``(min Δ, max Δ)``."""
    n_slots, S, J = idx.shape
    lo, hi = np.inf, -np.inf
    for s in range(S):
        best = -np.inf
        for a in range(n_slots):
            e = 0.0
            for j in range(J):
                e += w[a, s, j] * V[idx[a, s, j]]
            E[a, s] = e
            if e > best:
                best = e
        v = R[s] + gamma * best
        V_new[s] = v
        d = v - V[s]
        lo = min(lo, d)
        hi = max(hi, d)
    return lo, hi


@njit(nogil=True, cache=True)
def _sweep_factored(pre_idx, pre_w, idx, V, R, gamma, M, E, V_new):
    """:func:`_sweep` through an intermediate table: ``M[p] = Σ_j pre_w[p, j] · V[pre_idx[p, j]]`` over the
    cell pairs ``p``, then ``E[a, s] = M[idx[a, s, 0]]`` (H's backup against a seed that depends on A's cell
    only: A's average is taken once per cell pair, not once per H action)."""
    n_slots, S, _ = idx.shape
    P, J = pre_idx.shape
    for p in range(P):
        m = 0.0
        for j in range(J):
            m += pre_w[p, j] * V[pre_idx[p, j]]
        M[p] = m
    lo, hi = np.inf, -np.inf
    for s in range(S):
        best = -np.inf
        for a in range(n_slots):
            e = M[idx[a, s, 0]]
            E[a, s] = e
            if e > best:
                best = e
        v = R[s] + gamma * best
        V_new[s] = v
        d = v - V[s]
        lo = min(lo, d)
        hi = max(hi, d)
    return lo, hi


@njit(nogil=True, cache=True)
def _near_set(E, mask, threshold, ties):
    """``ties[a, s]``: available ``a`` with ``E[a, s] >= max_b E[b, s] - threshold``. Returns whether every
    state has exactly one such action."""
    S = E.shape[1]
    unique = True
    for s in range(S):
        best = -np.inf
        for a in range(N_ACTIONS):
            if mask[s, a] and E[a, s] > best:
                best = E[a, s]
        count = 0
        for a in range(N_ACTIONS):
            ties[a, s] = mask[s, a] and E[a, s] >= best - threshold
            count += ties[a, s]
        if count != 1:
            unique = False
    return unique


@njit(nogil=True, cache=True)
def iterate(idx, w, pre_idx, pre_w, R, gamma, V0, mask, control, absorbing, power_tol, tie_tol, max_sweeps,
            V_out, Q_out, pol_out):
    """Certified value iteration for one sample (optimal control if ``control``, else policy evaluation).

    ``idx``/``w`` ``(A, S, J)``, or, when ``pre_idx`` has rows, ``idx`` ``(A, S, 1)`` into the intermediate
    table of :func:`_sweep_factored` (``w`` unused); ``R``, ``V0``, ``V_out`` ``(S,)``; ``mask`` ``(S, 5)``;
    ``Q_out``, ``pol_out`` ``(5, S)`` (filled when ``control``). Returns the sweeps used, or -1 if
    ``max_sweeps`` was reached.
    """
    n_slots, S, J = idx.shape
    factored = pre_idx.shape[0] > 0
    M = np.empty(pre_idx.shape[0])
    c = gamma / (1.0 - gamma)
    V = np.zeros(S + 1)
    V[:S] = V0
    V_new = np.empty(S)
    E = np.empty((n_slots, S))
    ties = np.empty((N_ACTIONS, S), dtype=np.bool_)
    extrap = True
    prev_span = np.inf
    for sweep in range(1, max_sweeps + 1):
        if factored:
            lo, hi = _sweep_factored(pre_idx, pre_w, idx, V, R, gamma, M, E, V_new)
        else:
            lo, hi = _sweep(idx, w, V, R, gamma, E, V_new)
        if absorbing:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        shift = 0.5 * c * (lo + hi)
        span = hi - lo
        if absorbing:  # the re-centred iterate is not a contraction when mass leaves
            extrap = extrap and span <= prev_span
            prev_span = span
        step = shift if (extrap or not absorbing) else 0.0
        if 0.5 * span <= power_tol:
            if not control:
                V_out[:] = V_new + shift
                return sweep
            e_q = c * span
            unique = _near_set(E, mask, e_q / gamma, ties)
            floor = e_q <= 0.5 * tie_tol
            if unique or floor:
                if floor and not unique:
                    _near_set(E, mask, tie_tol / gamma, ties)
                for s in range(S):
                    count = 0
                    for a in range(N_ACTIONS):
                        count += ties[a, s]
                    for a in range(N_ACTIONS):
                        Q_out[a, s] = R[s] + gamma * E[a, s] + shift if mask[s, a] else -np.inf
                        pol_out[a, s] = ties[a, s] / count
                V_out[:] = V_new + shift
                return sweep
        for s in range(S):
            V[s] = V_new[s] + step
    return -1


@njit(nogil=True, cache=True)
def other_agent_tables(next_own, other, idx, w):
    """Backup tables ``(5, S, J)`` of an agent optimising against the other's policy ``other`` ``(S, 5)``;
    ``next_own[s, own, other]`` is the next state. Unused slots point at the terminal with weight 0."""
    S = next_own.shape[0]
    idx[:] = S
    w[:] = 0.0
    for s in range(S):
        j = 0
        for b in range(N_ACTIONS):
            p = other[s, b]
            if p > 0.0:
                for a in range(N_ACTIONS):
                    idx[a, s, j] = next_own[s, a, b]
                    w[a, s, j] = p
                j += 1


@njit(nogil=True, cache=True)
def joint_tables(next_state, pol_H, pol_A, idx, w):
    """Policy-evaluation tables ``(1, S, J)`` of the joint policy ``pol_H``, ``pol_A`` ``(S, 5)`` each."""
    S = next_state.shape[0]
    idx[:] = S
    w[:] = 0.0
    for s in range(S):
        j = 0
        for h in range(N_ACTIONS):
            if pol_H[s, h] > 0.0:
                for a in range(N_ACTIONS):
                    p = pol_H[s, h] * pol_A[s, a]
                    if p > 0.0:
                        idx[0, s, j] = next_state[s, h, a]
                        w[0, s, j] = p
                        j += 1


@njit(nogil=True, cache=True)
def _support(pol):
    """Largest number of actions with positive probability at any state."""
    m = 1
    for s in range(pol.shape[0]):
        n = 0
        for a in range(N_ACTIONS):
            n += pol[s, a] > 0.0
        m = max(m, n)
    return m


@njit(nogil=True, cache=True)
def solve_pairs_chunk(next_state, seed, stage1_pre_idx, stage1_pre_w, stage1_idx, mask_H, mask_A, R_H, R_A,
                      gamma_H, gamma_A, absorbing, power_tol, tie_rtol, max_sweeps,
                      q_H, pol_H, q_A, pol_A, V_H, V_A, V_H_seed, V_A_seed, sweeps):
    """The two-stage solve of SPEC §4 for every sample ``k`` of a chunk (outputs preallocated, action-major
    ``(K, 5, S)`` for ``q``/``pol``; ``sweeps`` ``(K, 4)``: H, A, H_eval, A_seed; -1 where ``max_sweeps`` hit).

    ``stage1_*``: H's factored backup against the seed (see :func:`_sweep_factored`), or ``stage1_pre_idx``
    with no rows for the plain gather of :func:`other_agent_tables`."""
    K, S = R_H.shape
    next_A = next_state.transpose(0, 2, 1).copy()  # next_A[s, own=A, other=H]
    J1 = _support(seed)
    no_pre = np.empty((0, 1), dtype=np.int64)
    no_pre_w = np.empty((0, 1))
    if stage1_pre_idx.shape[0] > 0:
        idx1, w1 = stage1_idx, np.empty((N_ACTIONS, S, 1))
    else:
        idx1 = np.empty((N_ACTIONS, S, J1), dtype=np.int64)
        w1 = np.empty((N_ACTIONS, S, J1))
        other_agent_tables(next_state, seed, idx1, w1)
    scratch_q = np.empty((N_ACTIONS, S))
    scratch_p = np.empty((N_ACTIONS, S))
    for k in range(K):
        tie_H = tie_rtol * max(np.abs(R_H[k]).max(), 1e-300) / (1.0 - gamma_H)
        tie_A = tie_rtol * max(np.abs(R_A[k]).max(), 1e-300) / (1.0 - gamma_A)
        # Stage 1: H against the seed.
        sweeps[k, 0] = iterate(idx1, w1, stage1_pre_idx, stage1_pre_w, R_H[k], gamma_H, R_H[k], mask_H, True, absorbing, power_tol, tie_H,
                               max_sweeps, V_H_seed[k], q_H[k], pol_H[k])
        ph = pol_H[k].T.copy()
        # Stage 2: A against frozen H.
        J2 = _support(ph)
        idx2 = np.empty((N_ACTIONS, S, J2), dtype=np.int64)
        w2 = np.empty((N_ACTIONS, S, J2))
        other_agent_tables(next_A, ph, idx2, w2)
        sweeps[k, 1] = iterate(idx2, w2, no_pre, no_pre_w, R_A[k], gamma_A, R_A[k], mask_A, True, absorbing, power_tol, tie_A,
                               max_sweeps, V_A[k], q_A[k], pol_A[k])
        pa = pol_A[k].T.copy()
        # Stage 3: H under the joint policy; A when it follows the seed.
        J3 = J2 * _support(pa)
        idx3 = np.empty((1, S, J3), dtype=np.int64)
        w3 = np.empty((1, S, J3))
        joint_tables(next_state, ph, pa, idx3, w3)
        sweeps[k, 2] = iterate(idx3, w3, no_pre, no_pre_w, R_H[k], gamma_H, V_H_seed[k], mask_H, False, absorbing, power_tol,
                               tie_H, max_sweeps, V_H[k], scratch_q, scratch_p)
        J4 = J2 * J1
        idx4 = np.empty((1, S, J4), dtype=np.int64)
        w4 = np.empty((1, S, J4))
        joint_tables(next_state, ph, seed, idx4, w4)
        sweeps[k, 3] = iterate(idx4, w4, no_pre, no_pre_w, R_A[k], gamma_A, V_A[k], mask_A, False, absorbing, power_tol, tie_A,
                               max_sweeps, V_A_seed[k], scratch_q, scratch_p)
