"""Compiled per-sample kernels of the exact two-stage solve (CPU path of ``multipower.exact.solver.solve_pairs``).

The same algorithm and certificate as the batched torch code of ``multipower.exact.solver`` (value iteration with
the MacQueen/Porteus bounds, midpoint re-centring, the crash safeguard, the tie rule), run one reward sample at
a time: a sample's tables (a few tens of kilobytes on maze7x7) stay in cache for all its sweeps, where the
batched code streams megabytes through memory every sweep. The solver's stopping rule is per sample already,
so the results are those of the batched code (values within the certified ``power_tol``; identical optimal
policies). Anderson acceleration and the exact warm starts of stages 2 and 3 are the torch code's, per sample
(the warm starts at every discount here: per sample they cost less than the sweeps they save).

Every expectation is a gather ``E[a, s] = Σ_j w[a, s, j] · V[idx[a, s, j]]`` over the successors of ``(s, a)``
(``a``: the optimising agent's 5 actions, or one slot for policy evaluation); ``V[S]`` is the crash terminal's 0.

With slip (docs/concepts.md#slip) the gather runs over the optimising agent's *effective* moves ``e``, the other
agent's policy replaced by the distribution of its effective moves, and the chosen move ``a`` mixes them. The slip
rule's row for an available ``a`` is ``(1 − p)·[e = a] + p/k`` over the ``k`` available moves, so the mix is
``E[a, s] = (1 − p)·E_eff[a, s] + (p/k)·Σ_e E_eff[e, s]`` (``_sweep_mixed``, the two weights per state in
``split``): one gather over effective moves plus two products per move, not a gather over every (chosen,
effective) pair nor a ``5 x 5`` product.

A world with slip has no deterministic chains to evaluate exactly, and value iteration from the Jacobi bounds
alone needs hundreds of sweeps at ``γ = 0.99``: values travel one step per sweep along the agents' paths, and a
slip rarely moves the agents between the places where their policies settle. Stages 2 and 3 are therefore
*preconditioned* by that chain (``_chain_step``): each iterate solves the residual equation ``(I − γP) y = Δ``
exactly along every state's most likely successor ``f(s)`` under the greedy move, ``y[s] = Δ[s] + γ·q[s]·y[f(s)]``
with ``q[s]`` that successor's probability, in one pass, and steps to ``V + y``. For a fixed policy this is a
regular splitting of ``I − γP`` (``q ≤ P`` entrywise), a convergent iteration (Varga, *Matrix Iterative
Analysis*, ch. 3); it is Anderson-accelerated as before and needs a quarter to a sixth of the sweeps on maze7x7.
Every sweep still yields the same bounds, so the certificate is unchanged.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_ACTIONS = 5
#: Anderson's history is dropped when the greedy action changes at this many states or more in one sweep: the
#: differences it stores belong to the previous policy's map, and mixing them into the new one stalls value
#: iteration while the policy settles. A handful of flips near ties are not worth a restart, and their number
#: grows with the world: the threshold is ``POLICY_RESET_FRACTION`` of the states where that is more (see
#: ``multipower.exact.solver.policy_reset``, the same rule for the torch code).
POLICY_RESET = 4
POLICY_RESET_FRACTION = 0.002
#: A preconditioned iteration (``_chain_step``) whose bound has not improved on its best for this many sweeps
#: continues with plain steps. Its span jumps while the greedy policy settles (up to ~60 times its best on
#: maze7x7 with slip) but improves again within ~12 sweeps; the fallback only guarantees the plain iteration's
#: convergence should a sample ever stall.
PRECONDITION_STALL = 50


@njit(nogil=True, cache=True, inline="always")
def _store_state(s, best, R, gamma, V, V_new, B, lo, hi):
    """Every sweep's last step at state ``s``: ``B[s] = best``, ``V_new[s] = R[s] + γ·best``, and the running
    ``(min Δ, max Δ)`` of ``Δ = V_new - V`` updated and returned."""
    B[s] = best
    v = R[s] + gamma * best
    V_new[s] = v
    d = v - V[s]
    return min(lo, d), max(hi, d)


@njit(nogil=True, cache=True)
def _sweep(idx, w, src, V, R, gamma, E, V_new, B):
    """One Bellman sweep from ``V`` (padded, ``V[S] = 0``): fills ``E[a, s] = Σ_j w[a, s, j] · src[idx[a, s, j]]``
    ``(A, S)``, ``B`` ``(S,)`` its maximum over the ``A`` slots (the expected next value under the greedy or
    evaluated policy) and ``V_new = R + γ B``. ``src`` is ``V`` itself or the intermediate table of
    ``_average``. Returns ``(min Δ, max Δ)``."""
    n_slots, S, J = idx.shape
    lo, hi = np.inf, -np.inf
    for s in range(S):
        best = -np.inf
        for a in range(n_slots):
            e = 0.0
            for j in range(J):
                e += w[a, s, j] * src[idx[a, s, j]]
            E[a, s] = e
            best = max(best, e)  # a select, not a branch: which slot wins is data-dependent
        lo, hi = _store_state(s, best, R, gamma, V, V_new, B, lo, hi)
    return lo, hi


@njit(nogil=True, cache=True)
def _sweep_unit(idx, src, V, R, gamma, E, V_new, B, mask, greedy):
    """``_sweep`` for tables of one successor with weight 1 (deterministic moves, the factored stage 1): the same
    values bit for bit (``0.0 + 1.0·x`` is ``0.0 + x``) without reading the weights. The usual slot counts (5:
    optimising, 1: evaluating) get loops of fixed length, which the compiler unrolls (~1.7× faster).

    With ``greedy`` ``(S,)`` (optimising, Anderson on) it also does ``_greedy_changes`` while the values are at
    hand. ``E`` with no columns: the action values are not written (``_fill_unit`` makes them when needed; on the
    robot face they are 2 MB a sweep). Returns ``(min Δ, max Δ, changes)`` (changes -1 without ``greedy``)."""
    n_slots = idx.shape[0]
    if n_slots == N_ACTIONS:
        if greedy.shape[0] > 0:
            return _sweep_unit_slots(idx, src, V, R, gamma, E, V_new, B, N_ACTIONS, mask, greedy, True)
        return _sweep_unit_slots(idx, src, V, R, gamma, E, V_new, B, N_ACTIONS, mask, greedy, False)
    if n_slots == 1:
        return _sweep_unit_slots(idx, src, V, R, gamma, E, V_new, B, 1, mask, greedy, False)
    return _sweep_unit_slots(idx, src, V, R, gamma, E, V_new, B, n_slots, mask, greedy, False)


@njit(nogil=True, cache=True, inline="always")
def _sweep_unit_slots(idx, src, V, R, gamma, E, V_new, B, n_slots, mask, greedy, track):
    S = idx.shape[1]
    store = E.shape[1] > 0
    lo, hi = np.inf, -np.inf
    changed = 0
    for s in range(S):
        best = -np.inf
        for a in range(n_slots):
            e = 0.0 + src[idx[a, s, 0]]
            if store:
                E[a, s] = e
            best = max(best, e)
        if track:  # _greedy_changes for this state
            arg = _first_best(E, mask, s)
            changed += np.int64(arg != greedy[s])
            greedy[s] = arg
        lo, hi = _store_state(s, best, R, gamma, V, V_new, B, lo, hi)
    return lo, hi, changed if track else -1


@njit(nogil=True, cache=True)
def _sweep_runs(idx, runs, src, V, R, gamma, V_new, B, greedy):
    """``_sweep_unit`` for 5 slots over *runs*: ranges of states ``s0 .. s0 + L - 1`` (``runs[r] = (s0, L)``) along
    which every slot's successor index rises by one (``multipower.exact.solver._consecutive_runs``). Each run reads
    five contiguous slices of ``src``, so the compiler vectorises the maximum, the greedy action and the new values
    (~2.5× faster than the gather on the robot face's stage 1, where a run is A's cells beside one H cell). The same
    values bit for bit; the action values ``E`` are not written (``_fill_runs``, ``_ambiguous_runs`` read them
    from ``src`` when needed). With ``greedy`` ``(S,)`` it also does ``_greedy_changes``. Returns
    ``(min Δ, max Δ, changes)`` (changes -1 without ``greedy``)."""
    if greedy.shape[0] > 0:
        return _runs_slots(idx, runs, src, V, R, gamma, V_new, B, greedy, True)
    return _runs_slots(idx, runs, src, V, R, gamma, V_new, B, greedy, False)


@njit(nogil=True, cache=True, inline="always")
def _run_slices(idx, src, s0, L):
    """The five slots' values ``E[a, s0 : s0 + L]`` of a run, as slices of ``src``."""
    return (src[idx[0, s0, 0]:][:L], src[idx[1, s0, 0]:][:L], src[idx[2, s0, 0]:][:L], src[idx[3, s0, 0]:][:L],
            src[idx[4, s0, 0]:][:L])


@njit(nogil=True, cache=True, inline="always")
def _runs_slots(idx, runs, src, V, R, gamma, V_new, B, greedy, track):
    lo, hi = np.inf, -np.inf
    changed = 0
    for r in range(runs.shape[0]):
        s0, L = runs[r, 0], runs[r, 1]
        m0, m1, m2, m3, m4 = _run_slices(idx, src, s0, L)
        b, v_new, rr = B[s0:s0 + L], V_new[s0:s0 + L], R[s0:s0 + L]
        if track:
            g = greedy[s0:s0 + L]
            for i in range(L):
                e0, e1, e2, e3, e4 = 0.0 + m0[i], 0.0 + m1[i], 0.0 + m2[i], 0.0 + m3[i], 0.0 + m4[i]
                arg, top = 0, e0  # _first_best without the mask: an unavailable move's slot repeats stay's value
                arg, top = (1 if e1 > top else arg), max(top, e1)
                arg, top = (2 if e2 > top else arg), max(top, e2)
                arg, top = (3 if e3 > top else arg), max(top, e3)
                arg, top = (4 if e4 > top else arg), max(top, e4)
                changed += np.int64(arg != g[i])
                g[i] = arg
                b[i] = top
                v_new[i] = rr[i] + gamma * top
        else:
            for i in range(L):
                top = max(max(max(max(0.0 + m0[i], 0.0 + m1[i]), 0.0 + m2[i]), 0.0 + m3[i]), 0.0 + m4[i])
                b[i] = top
                v_new[i] = rr[i] + gamma * top
        lo, hi = _span_run(v_new, V[s0:s0 + L], lo, hi)
    return lo, hi, changed if track else -1


@njit(nogil=True, cache=True)
def _fill_runs(idx, runs, src, E):
    """``E[a, s] = src[idx[a, s, 0]]`` (``(5, S)``, the action values of ``_sweep_unit``) over the runs."""
    for r in range(runs.shape[0]):
        s0, L = runs[r, 0], runs[r, 1]
        m0, m1, m2, m3, m4 = _run_slices(idx, src, s0, L)
        for i in range(L):
            E[0, s0 + i], E[1, s0 + i], E[2, s0 + i] = 0.0 + m0[i], 0.0 + m1[i], 0.0 + m2[i]
            E[3, s0 + i], E[4, s0 + i] = 0.0 + m3[i], 0.0 + m4[i]


@njit(nogil=True, cache=True)
def _fill_unit(idx, src, E):
    """``E[a, s] = src[idx[a, s, 0]]`` ``(A, S)``: the action values of ``_sweep_unit`` (the same bytes)."""
    for a in range(idx.shape[0]):
        for s in range(idx.shape[1]):
            E[a, s] = 0.0 + src[idx[a, s, 0]]


@njit(nogil=True, cache=True)
def _ambiguous_runs(idx, runs, src, penalty, threshold, first, act_out):
    """``_ambiguous_state`` for the action values of ``_sweep_runs``, read from ``src`` rather than from ``E`` (no
    ``(5, S)`` table to write every sweep while the last near ties settle)."""
    S = idx.shape[1]
    if 0 <= first < S and _near_states(idx, src, penalty, first, 1, threshold, act_out) > 1:
        return first
    for r in range(runs.shape[0]):
        s0, L = runs[r, 0], runs[r, 1]
        if _near_states(idx, src, penalty, s0, L, threshold, act_out) > 1:
            for s in range(s0, s0 + L):
                if _near_states(idx, src, penalty, s, 1, threshold, act_out) > 1:
                    return s
    return -1


@njit(nogil=True, cache=True, inline="always")
def _near_states(idx, src, penalty, s0, L, threshold, act_out):
    """``_near_block`` of states ``s0 .. s0 + L - 1`` of a run (values ``src[idx[a, s, 0]]``)."""
    m0, m1, m2, m3, m4 = _run_slices(idx, src, s0, L)
    return _near_block(m0, m1, m2, m3, m4, penalty, s0, L, threshold, act_out[s0:s0 + L])


@njit(nogil=True, cache=True, inline="always")
def _near_block(v0, v1, v2, v3, v4, penalty, s0, L, threshold, act):
    """For the block of states ``s0 .. s0 + L - 1``, with action values ``v0 .. v4`` ``(L,)`` and ``penalty``
    ``(5, S)`` (``_penalty``): how many available ``a`` have a value within ``threshold`` of the best available
    one, at most over the block; ``act[i]`` the first of them. Arithmetic and selects only, so the compiler
    vectorises it (a loop per state with a branch per action made a full check of the robot face 4 times
    slower)."""
    p0, p1, p2 = penalty[0, s0:s0 + L], penalty[1, s0:s0 + L], penalty[2, s0:s0 + L]
    p3, p4 = penalty[3, s0:s0 + L], penalty[4, s0:s0 + L]
    most = 0
    for i in range(L):
        e0, e1, e2 = (0.0 + v0[i]) + p0[i], (0.0 + v1[i]) + p1[i], (0.0 + v2[i]) + p2[i]
        e3, e4 = (0.0 + v3[i]) + p3[i], (0.0 + v4[i]) + p4[i]
        limit = max(max(max(max(e0, e1), e2), e3), e4) - threshold
        n0, n1, n2, n3, n4 = e0 >= limit, e1 >= limit, e2 >= limit, e3 >= limit, e4 >= limit
        top = 4 if n4 else N_ACTIONS
        top = 3 if n3 else top
        top = 2 if n2 else top
        top = 1 if n1 else top
        act[i] = 0 if n0 else top
        most = max(most, np.int64(n0) + np.int64(n1) + np.int64(n2) + np.int64(n3) + np.int64(n4))
    return most


@njit(nogil=True, cache=True)
def _penalty(mask):
    """``(5, S)``: 0 where ``mask`` ``(S, 5)`` has the action available, ``-inf`` where not. Added to an action
    value it leaves an available action's value and puts an unavailable one below every other."""
    S = mask.shape[0]
    out = np.empty((N_ACTIONS, S))
    for a in range(N_ACTIONS):
        for s in range(S):
            out[a, s] = 0.0 if mask[s, a] else -np.inf
    return out


@njit(nogil=True, cache=True, inline="always")
def _span_run(v_new, v, lo, hi):
    """``(min(lo, min Δ), max(hi, max Δ))`` of ``Δ = v_new - v`` over a run, with four partial extremes (a min/max
    reduction in one chain keeps the compiler from vectorising; the extremes are the same in any order)."""
    n = len(v_new)
    l0 = l1 = l2 = l3 = lo
    h0 = h1 = h2 = h3 = hi
    i = 0
    while i + 4 <= n:
        d0, d1, d2, d3 = v_new[i] - v[i], v_new[i + 1] - v[i + 1], v_new[i + 2] - v[i + 2], v_new[i + 3] - v[i + 3]
        l0, l1, l2, l3 = min(l0, d0), min(l1, d1), min(l2, d2), min(l3, d3)
        h0, h1, h2, h3 = max(h0, d0), max(h1, d1), max(h2, d2), max(h3, d3)
        i += 4
    while i < n:
        d = v_new[i] - v[i]
        l0, h0 = min(l0, d), max(h0, d)
        i += 1
    return min(min(l0, l1), min(l2, l3)), max(max(h0, h1), max(h2, h3))


@njit(nogil=True, cache=True)
def _sweep_mixed(idx, w, count, src, V, R, gamma, split, mask, eff, E, V_new, B):
    """``_sweep`` when the slots of ``idx`` are the optimising agent's effective moves: ``E[a, s] =
    split[s, 0]·E_eff[a, s] + split[s, 1]·Σ_e E_eff[e, s]`` for an available chosen move ``a``, with ``E_eff[e, s] =
    Σ_j w[e, s, j] · src[idx[e, s, j]]`` and ``split`` ``(S, 2)`` the slip rule's weights ``(1 − p, p/k)``
    (``multipower.exact.solver._slip_split``); choosing an unavailable move is choosing ``stay`` (slot 0). ``eff``
    ``(5,)`` scratch. Only the available moves ``mask[s]`` and the ``count[e, s]`` used successors are read."""
    n_slots, S, J = idx.shape
    lo, hi = np.inf, -np.inf
    for s in range(S):
        total = 0.0
        for e in range(n_slots):
            if mask[s, e]:
                t = 0.0
                for j in range(count[e, s]):
                    t += w[e, s, j] * src[idx[e, s, j]]
                eff[e] = t
                total += t
        shared = split[s, 1] * total
        best = -np.inf
        for a in range(n_slots):
            t = split[s, 0] * eff[a] + shared if mask[s, a] else E[0, s]
            E[a, s] = t
            best = max(best, t)
        lo, hi = _store_state(s, best, R, gamma, V, V_new, B, lo, hi)
    return lo, hi


@njit(nogil=True, cache=True)
def _sweep_ragged(idx, w, count, src, V, R, gamma, E, V_new, B):
    """``_sweep`` reading only the ``count[a, s]`` used successors of each slot (tables of slipped policies
    have up to 25 successors at a junction and a few in a corridor)."""
    n_slots, S, J = idx.shape
    lo, hi = np.inf, -np.inf
    for s in range(S):
        best = -np.inf
        for a in range(n_slots):
            e = 0.0
            for j in range(count[a, s]):
                e += w[a, s, j] * src[idx[a, s, j]]
            E[a, s] = e
            best = max(best, e)  # a select, not a branch: which slot wins is data-dependent
        lo, hi = _store_state(s, best, R, gamma, V, V_new, B, lo, hi)
    return lo, hi


@njit(nogil=True, cache=True)
def _unit_weights():
    """The weights ``w`` of tables with one successor of weight 1 per slot: no rows, which ``iterate`` reads as
    all ones (no ``(A, S, 1)`` array of ones to allocate and check at every stage)."""
    return np.ones((0, 0, 1))


@njit(nogil=True, cache=True)
def _all_ones(w):
    """Whether every weight of ``w`` is exactly 1."""
    for x in w.ravel():
        if x != 1.0:
            return False
    return True


@njit(nogil=True, cache=True)
def _counts(w):
    """``(A, S)`` number of leading successors with positive weight in tables ``w`` ``(A, S, J)`` (the table
    builders fill each slot's successors first and pad with weight 0)."""
    n_slots, S, J = w.shape
    out = np.zeros((n_slots, S), dtype=np.int64)
    for a in range(n_slots):
        for s in range(S):
            n = 0
            while n < J and w[a, s, n] > 0.0:
                n += 1
            out[a, s] = n
    return out


@njit(nogil=True, cache=True)
def _average(pre_idx, pre_w, V, M):
    """``M[p] = Σ_j pre_w[p, j] · V[pre_idx[p, j]]`` over the cell pairs ``p``: H's backup against a seed that
    depends on A's cell only takes A's average once per cell pair, then H's move (``E[a, s] = M[idx[a, s, 0]]``)
    instead of once per H action."""
    J = pre_idx.shape[1]
    if J == 5:  # a fixed-length loop for the usual supports (a uniform seed: 2 to 5 moves), unrolled: ~1.4× faster
        _average_j(pre_idx, pre_w, V, M, 5)
    elif J == 4:
        _average_j(pre_idx, pre_w, V, M, 4)
    else:
        _average_j(pre_idx, pre_w, V, M, J)


@njit(nogil=True, cache=True, inline="always")
def _average_j(pre_idx, pre_w, V, M, J):
    for p in range(pre_idx.shape[0]):
        m = 0.0
        for j in range(J):
            m += pre_w[p, j] * V[pre_idx[p, j]]
        M[p] = m


@njit(nogil=True, cache=True)
def _ambiguous_state(E, penalty, threshold, first, act_out):
    """A state with two or more available ``a`` with ``E[a, s] >= max_b E[b, s] - threshold`` (``first`` is
    tried before the others; ``penalty``: ``_penalty`` of the action mask), or -1 if there is none. ``act_out[s]``
    is the first such ``a`` of each state looked at: of every state when it returns -1 (the certified greedy
    policy, ``_write_policy``'s ``act_out``)."""
    S = E.shape[1]
    if 0 <= first < S and _near_columns(E, penalty, first, 1, threshold, act_out) > 1:
        return first
    for s0 in range(0, S, 256):  # blocks of states, each checked without branches, then searched if it fails
        L = min(256, S - s0)
        if _near_columns(E, penalty, s0, L, threshold, act_out) > 1:
            for s in range(s0, s0 + L):
                if _near_columns(E, penalty, s, 1, threshold, act_out) > 1:
                    return s
    return -1


@njit(nogil=True, cache=True, inline="always")
def _near_columns(E, penalty, s0, L, threshold, act_out):
    """``_near_block`` of the states ``s0 .. s0 + L - 1`` of ``E`` ``(5, S)``."""
    return _near_block(E[0, s0:s0 + L], E[1, s0:s0 + L], E[2, s0:s0 + L], E[3, s0:s0 + L], E[4, s0:s0 + L], penalty,
                       s0, L, threshold, act_out[s0:s0 + L])


@njit(nogil=True, cache=True)
def _write_policy(E, mask, threshold, R, gamma, shift, Q_out, pol_out, act_out):
    """The certified greedy policy from ``E`` ``(5, S)``: ``pol_out[a, s]`` uniform over the near set (the
    available ``a`` with ``E[a, s] >= max_b E[b, s] - threshold``), ``act_out[s]`` the first of
    them, and ``Q_out[a, s] = R[s] + γ·E[a, s] + shift`` (``-inf`` where unavailable; not written when ``Q_out``
    has no columns). Returns whether every state has exactly one such action."""
    want_q = Q_out.shape[1] > 0
    det = True
    for s in range(E.shape[1]):
        best = -np.inf
        for a in range(N_ACTIONS):
            best = max(best, E[a, s] if mask[s, a] else -np.inf)
        limit = best - threshold
        count = 0
        first = N_ACTIONS
        for a in range(N_ACTIONS):
            near = mask[s, a] & (E[a, s] >= limit)
            count += near
            first = min(first, a if near else N_ACTIONS)
        for a in range(N_ACTIONS):
            pol_out[a, s] = (mask[s, a] & (E[a, s] >= limit)) / count
            if want_q:
                Q_out[a, s] = R[s] + gamma * E[a, s] + shift if mask[s, a] else -np.inf
        act_out[s] = first
        det = det & (count == 1)
    return det


@njit(nogil=True, cache=True)
def _greedy_changes(E, mask, greedy):
    """Number of states whose first maximising available action of ``E`` ``(A, S)`` differs from ``greedy``
    ``(S,)``, which is updated to it. Written without branches on the values (a mispredicted branch per action
    cost ~7 times this loop on the robot face)."""
    changed = 0
    for s in range(E.shape[1]):
        arg = _first_best(E, mask, s)
        changed += np.int64(arg != greedy[s])
        greedy[s] = arg
    return changed


@njit(nogil=True, cache=True, inline="always")
def _first_best(E, mask, s):
    """The first available action of largest ``E[a, s]`` (stay, action 0, is always available), chosen with
    selects rather than branches on the values."""
    arg = 0
    top = E[0, s]
    for a in range(1, N_ACTIONS):
        e = E[a, s] if mask[s, a] else -np.inf
        better = np.int64(e > top)
        arg += better * (a - arg)
        top = max(top, e)
    return arg


@njit(nogil=True, cache=True)
def _clear_history(dF, dG, gram, state):
    """Forget Anderson's history: the next step is a plain one and starts a new history."""
    dF[:] = 0.0
    dG[:] = 0.0
    gram[:] = 0.0
    state[1] = 0.0


@njit(nogil=True, cache=True)
def _solve_small(A, x):
    """``A y = x`` for a small matrix by Gaussian elimination with partial pivoting (no LAPACK needed), in place:
    ``x`` becomes ``y`` (zeros where the system is singular), ``A`` is overwritten. No allocation: on maze7x7 the
    copies and temporaries of an allocating version cost a tenth of a sweep."""
    n = len(x)
    for i in range(n):
        p, top = i, abs(A[i, i])  # the first row of largest |A[r, i]| (np.argmax's choice)
        for r in range(i + 1, n):
            if abs(A[r, i]) > top:
                p, top = r, abs(A[r, i])
        if A[p, i] == 0.0:
            x[:] = 0.0
            return
        if p != i:
            for j in range(n):
                A[i, j], A[p, j] = A[p, j], A[i, j]
            x[i], x[p] = x[p], x[i]
        for r in range(i + 1, n):
            f = A[r, i] / A[i, i]
            for j in range(i, n):
                A[r, j] -= f * A[i, j]
            x[r] -= f * x[i]
    for i in range(n - 1, -1, -1):
        t = x[i]
        for j in range(i + 1, n):
            t -= A[i, j] * x[j]
        x[i] = t / A[i, i]
    for i in range(n):
        if not np.isfinite(x[i]):
            x[:] = 0.0
            return


@njit(nogil=True, cache=True)
def _anderson_step(x, g, shift, span, dF, dG, gram, prev_f, prev_g, state, reset_factor, reg, out, work):
    """One step of ``multipower.exact.solver._Anderson`` for one sample: the next iterate ``out`` (may be ``x``)
    from the iterate ``x`` and its plain image ``g + shift`` (both ``(S,)``; the shift is added here rather than in a
    pass of its own; ``shift`` None: ``g`` itself). ``state`` = [slot, has_previous, best span];
    ``work`` ``(m + 2, m)`` scratch (the regularised Gram matrix, the right-hand side, the new Gram column).

    Written as loops without temporaries: on the robot face each ``(S,)`` temporary is a fresh page-faulted
    allocation every sweep. The sums run over ``s`` in order, as the array form does."""
    m, S = dF.shape
    reset = span > reset_factor * state[2]
    state[2] = min(state[2], span)
    j = int(state[0])
    new_column = state[1] > 0.0
    for s in range(S):  # the residual f = g - x, the new history column, and the previous step
        gs = g[s] if shift is None else g[s] + shift
        f = gs - x[s]
        if new_column:
            dF[j, s] = f - prev_f[s]
            dG[j, s] = gs - prev_g[s]
        prev_f[s] = f
        prev_g[s] = gs
    if new_column:
        state[0] = (j + 1) % m
    state[1] = 1.0
    if reset:
        dF[:] = 0.0
        dG[:] = 0.0
        gram[:] = 0.0
        state[2] = span
    A, b, u = work[:m], work[m], work[m + 1]
    if m == 5:  # the default depth: all the sums in one pass
        _dots5(dF, prev_f, j, b, u)
    else:
        for i in range(m):
            b[i], u[i] = _dot_pair(dF[i], prev_f, dF[j], new_column)
    if new_column:  # the new Gram column
        for i in range(m):
            gram[i, j] = u[i]
            gram[j, i] = u[i]
    ridge = reg * np.trace(gram) + 1e-300
    for i in range(m):  # gram + ridge · I, entry by entry as the array expression adds them
        for k in range(m):
            A[i, k] = gram[i, k] + (ridge if i == k else 0.0)
    _solve_small(A, b)
    coef = b
    if m == 5:
        c0, c1, c2, c3, c4 = coef[0], coef[1], coef[2], coef[3], coef[4]
        for s in range(S):
            gs = g[s] if shift is None else g[s] + shift
            out[s] = gs - c0 * dG[0, s] - c1 * dG[1, s] - c2 * dG[2, s] - c3 * dG[3, s] - c4 * dG[4, s]
    else:
        for s in range(S):
            t = g[s] if shift is None else g[s] + shift
            for i in range(m):
                t -= coef[i] * dG[i, s]
            out[s] = t


@njit(nogil=True, cache=True)
def _dots5(dF, f, j, b, u):
    """``b[i] = dF[i]·f`` and ``u[i] = dF[i]·dF[j]`` for a history of 5 rows in one pass, each sum in order (the
    ten sums side by side: a third of the time of one row at a time on the robot face)."""
    r0, r1, r2, r3, r4, rj = dF[0], dF[1], dF[2], dF[3], dF[4], dF[j]
    t0 = t1 = t2 = t3 = t4 = 0.0
    u0 = u1 = u2 = u3 = u4 = 0.0
    for s in range(len(f)):
        x, y = f[s], rj[s]
        t0 += r0[s] * x
        u0 += r0[s] * y
        t1 += r1[s] * x
        u1 += r1[s] * y
        t2 += r2[s] * x
        u2 += r2[s] * y
        t3 += r3[s] * x
        u3 += r3[s] * y
        t4 += r4[s] * x
        u4 += r4[s] * y
    b[0], b[1], b[2], b[3], b[4] = t0, t1, t2, t3, t4
    u[0], u[1], u[2], u[3], u[4] = u0, u1, u2, u3, u4


@njit(nogil=True, cache=True)
def _dot_pair(u, f, v, both):
    """``(u·f, u·v)``, each summed in order (``u·v`` only if ``both``, else 0)."""
    t, w = 0.0, 0.0
    if both:
        for s in range(len(u)):
            t += u[s] * f[s]
            w += u[s] * v[s]
    else:
        for s in range(len(u)):
            t += u[s] * f[s]
    return t, w


@njit(nogil=True, cache=True)
def iterate(idx, w, pre_idx, pre_w, R, gamma, V0, mask, control, absorbing, power_tol, tie_tol, max_sweeps,
            anderson_depth, anderson_reset, anderson_reg, V_out, Q_out, pol_out, W_out, split, count, precondition,
            act_out, runs, penalty):
    """Certified value iteration for one sample (optimal control if ``control``, else policy evaluation).

    ``split`` ``(S, 2)``: the optimising agent's slip weights (``_sweep_mixed``; slots of ``idx`` are then
    effective moves), or no rows for none. ``count`` ``(A, S)``: the used successors of each slot
    (``_counts``; needed with ``split``), or no rows to read all ``J``. ``precondition``: step by the chain of
    most likely successors (``_chain_step``; not with ``pre_idx``) while the bound's span has improved on its
    best within the last ``precondition`` sweeps, plain steps from then on (``PRECONDITION_STALL``; 0: plain
    steps throughout). ``runs`` ``(R, 2)``: the runs of ``_sweep_runs`` for unit tables of 5 slots (stage 1's
    factored table; ``multipower.exact.solver._consecutive_runs``), or no rows for the plain gather.
    ``penalty`` ``(5, S)``: ``_penalty(mask)``, which the certificate's check reads (made once per chunk by the
    callers: ~70 µs on the robot face, per control stage), or no columns to make it when first needed.

    ``idx``/``w`` ``(A, S, J)``, into the intermediate table of ``_average`` when ``pre_idx`` has rows (``w`` with
    no rows: one successor of weight 1, ``_unit_weights``);
    ``R``, ``V0``, ``V_out`` ``(S,)``; ``mask`` ``(S, 5)``;
    ``W_out`` ``(S,)``: the expected next value ``E[V(s')]`` under the optimal (or evaluated) policy, certified
    like ``V_out`` but free of the cancellation in ``(V - R)/γ`` (POWER is ``(1 - γ)·W``). ``tie_tol`` is in
    units of ``E[V(s')]`` (see ``multipower.exact.solver``);
    ``Q_out``, ``pol_out`` ``(5, S)``, ``act_out`` ``(S,)`` (filled when ``control``: ``_write_policy``; ``Q_out``
    with no columns is skipped, and so is ``pol_out`` then where the policy is deterministic: ``act_out`` is it).
    ``anderson_depth > 0``: the next iterate is chosen by Anderson acceleration (``_anderson_step``), its history
    cleared when the greedy policy changes at ``max(POLICY_RESET, POLICY_RESET_FRACTION · S)`` states or more
    (control only). Returns ``(sweeps, det)``: the sweeps used (-1 if ``max_sweeps`` was reached) and whether the
    optimal policy is deterministic everywhere (always true when evaluating).
    """
    n_slots, S, J = idx.shape
    factored = pre_idx.shape[0] > 0
    mixed = split.shape[0] > 0
    ragged = count.shape[0] > 0
    unit = J == 1 and (w.shape[0] == 0 or _all_ones(w))
    by_runs = runs.shape[0] > 0
    reset_at = max(POLICY_RESET, int(POLICY_RESET_FRACTION * S))
    eff = np.empty(n_slots)
    M = np.empty(pre_idx.shape[0])
    c = gamma / (1.0 - gamma)
    V = np.zeros(S + 1)
    V[:S] = V0
    V_new = np.empty(S)
    B = np.empty(S)
    E = np.empty((n_slots, S))
    extrap = True
    prev_span = np.inf
    m = max(anderson_depth, 1)
    S_a = S if anderson_depth > 0 else 0  # Anderson's history, only when it is used
    dF, dG = np.zeros((m, S_a)), np.zeros((m, S_a))
    gram = np.zeros((m, m))
    work = np.empty((m + 2, m))  # _anderson_step's scratch
    prev_f, prev_g = np.empty(S_a), np.empty(S_a)
    state = np.array([0.0, 0.0, np.inf])
    greedy = np.full(S if control and anderson_depth > 0 else 0, -1, dtype=np.int64)
    chain = _chain_scratch(S if precondition > 0 else 0)
    main_f, main_p = _main_successors(idx, w, count, split, mask, precondition > 0)
    best_span, best_at = np.inf, 0
    hint = 0  # where the greedy action was last found uncertified
    # The unit sweep writes E only where a sweep reads it (greedy changes, the preconditioner); a control stage's
    # check and policy otherwise read it once, filled from the last sweep's values (_fill_unit).
    lazy_E = unit and not (mixed or ragged or by_runs) and greedy.shape[0] == 0 and precondition == 0
    no_E = np.empty((n_slots, 0))
    for sweep in range(1, max_sweeps + 1):
        if factored:
            _average(pre_idx, pre_w, V, M)
        src = M if factored else V
        if mixed:
            lo, hi = _sweep_mixed(idx, w, count, src, V, R, gamma, split, mask, eff, E, V_new, B)
            changed = -1
        elif ragged:
            lo, hi = _sweep_ragged(idx, w, count, src, V, R, gamma, E, V_new, B)
            changed = -1
        elif by_runs:
            lo, hi, changed = _sweep_runs(idx, runs, src, V, R, gamma, V_new, B, greedy)
        elif unit:
            lo, hi, changed = _sweep_unit(idx, src, V, R, gamma, no_E if lazy_E else E, V_new, B, mask, greedy)
        else:
            lo, hi = _sweep(idx, w, src, V, R, gamma, E, V_new, B)
            changed = -1
        if absorbing:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        shift = 0.5 * c * (lo + hi)
        span = hi - lo
        if absorbing:  # the re-centred iterate is not a contraction when mass leaves
            extrap = extrap and span <= prev_span
            prev_span = span
        step = shift if (extrap or not absorbing) else 0.0
        if 0.5 * span <= power_tol:
            next_shift = 0.5 * (lo + hi) / (1.0 - gamma)  # shift / γ, without dividing by a tiny γ
            if not control:
                V_out[:] = V_new + shift
                W_out[:] = B + next_shift
                return sweep, True
            e_next = span / (1.0 - gamma)  # bound on the error of every E[a, s] gap (e_Q / γ)
            # Whether every greedy action is certified: checked first where it failed last (near ties settle
            # over tens of sweeps at γ = 0.99; a full scan each time cost ~40 % of those sweeps).
            if penalty.shape[1] != S:
                penalty = _penalty(mask)
            if by_runs:
                hint = _ambiguous_runs(idx, runs, src, penalty, e_next, hint, act_out)
            else:
                if lazy_E:
                    _fill_unit(idx, src, E)
                hint = _ambiguous_state(E, penalty, e_next, hint, act_out)
            unique = hint < 0
            floor = e_next <= 0.5 * tie_tol
            if unique or floor:
                det = True  # unique: act_out is the policy; values only (no Q_out columns) need no pol_out then
                if not unique or Q_out.shape[1] > 0:
                    if by_runs:
                        _fill_runs(idx, runs, src, E)
                    det = _write_policy(E, mask, e_next if unique else tie_tol, R, gamma, shift, Q_out, pol_out,
                                        act_out)
                V_out[:] = V_new + shift
                W_out[:] = B + next_shift
                return sweep, det
        if span < best_span:
            best_span, best_at = span, sweep
        chained = sweep - best_at < precondition
        if chained:
            _chain_step(E, mask, control, main_f, main_p, gamma, V, V_new, chain)
        if anderson_depth > 0:  # from chain[3], or from V_new + step
            if control and changed < 0:  # not counted by the sweep
                changed = _greedy_changes(E, mask, greedy)
            if control and changed >= reset_at:
                _clear_history(dF, dG, gram, state)
            if chained:
                _anderson_step(V[:S], chain[3], None, span, dF, dG, gram, prev_f, prev_g, state, anderson_reset,
                               anderson_reg, V[:S], work)
            else:
                _anderson_step(V[:S], V_new, step, span, dF, dG, gram, prev_f, prev_g, state, anderson_reset,
                               anderson_reg, V[:S], work)
        elif chained:
            V[:S] = chain[3]
        else:
            for s in range(S):
                V[s] = V_new[s] + step
    return -1, False


@njit(nogil=True, cache=True)
def evaluate_chain(f, R, gamma, out):
    """Value ``out[s] = R[s] + γ · out[f[s]]`` of the deterministic chain ``s -> f[s]`` (``f[s] = S``: the zero
    terminal) in one pass (``_solve_chain``). A warm start only: ``iterate`` certifies it (as
    ``multipower.exact.solver._evaluate_functional``, which doubles pointers on the GPU)."""
    S = len(R)
    _solve_chain(f, np.full(S, gamma), R, out, np.empty(S, dtype=np.int8), np.empty(S, dtype=np.int64),
                 np.empty(S, dtype=np.int64))


@njit(nogil=True, cache=True)
def _solve_chain(f, factor, r, out, status, pos, path):
    """``out[s] = r[s] + factor[s] · out[f[s]]`` (``f[s] = S``: the zero terminal; every ``factor < 1``) in one pass
    over the functional graph: each path is followed until it meets a known value, the terminal, or closes a cycle
    (whose values are geometric sums), then unwound. ``status``, ``pos``, ``path`` ``(S,)`` scratch."""
    S = len(r)
    status[:] = 0  # 0 unseen, 1 on the current path, 2 done
    for start in range(S):
        n = 0
        u = start
        while u < S and status[u] == 0:
            status[u] = 1
            pos[u] = n
            path[n] = u
            n += 1
            u = f[u]
        if u < S and status[u] == 1:  # the path closed a cycle path[pos[u]:n]
            first = pos[u]
            total, discount = 0.0, 1.0
            for i in range(first, n):
                total += discount * r[path[i]]
                discount *= factor[path[i]]
            value = total / (1.0 - discount)  # value of path[first]
            out[path[first]] = value
            status[path[first]] = 2
            nxt = value  # path[n - 1] -> path[first]
            for i in range(n - 1, first, -1):
                nxt = r[path[i]] + factor[path[i]] * nxt
                out[path[i]] = nxt
                status[path[i]] = 2
            n = first
            u = path[first]
        value = 0.0 if u >= S else out[u]
        for i in range(n - 1, -1, -1):
            value = r[path[i]] + factor[path[i]] * value
            out[path[i]] = value
            status[path[i]] = 2


@njit(nogil=True, cache=True)
def _chain_scratch(S):
    """Arrays of ``_chain_step`` for ``S`` states: successor, factor, residual, result and ``_solve_chain``'s
    scratch (``S = 0``: none, when not preconditioning)."""
    return (np.empty(S, dtype=np.int64), np.empty(S), np.empty(S), np.empty(S), np.empty(S, dtype=np.int8),
            np.empty(S, dtype=np.int64), np.empty(S, dtype=np.int64))


@njit(nogil=True, cache=True)
def _main_successors(idx, w, count, split, mask, needed):
    """``(main_f, main_p)`` ``(A, S)``: the most likely successor of each slot (or, with ``split``, chosen move)
    ``a`` at ``s`` and its probability. With slip the chosen move is the most likely effective move (probability
    ``1 − p + p/k``), and within a slot the successor of largest weight (the other agent's most likely move).
    Empty unless ``needed``."""
    n_slots, S, J = idx.shape
    main_f = np.full((n_slots if needed else 0, S), S, dtype=np.int64)
    main_p = np.zeros((n_slots if needed else 0, S))
    if not needed:
        return main_f, main_p
    mixed = split.shape[0] > 0
    for a in range(n_slots):
        for s in range(S):
            if mixed and not mask[s, a]:
                continue  # never greedy
            n = count[a, s] if count.shape[0] > 0 else J
            best = 0
            for j in range(1, n):
                if w[a, s, j] > w[a, s, best]:
                    best = j
            main_f[a, s] = idx[a, s, best]
            main_p[a, s] = w[a, s, best] * (split[s, 0] + split[s, 1] if mixed else 1.0)
    return main_f, main_p


@njit(nogil=True, cache=True)
def _chain_step(E, mask, control, main_f, main_p, gamma, V, V_new, chain):
    """The preconditioned step (module docstring): ``chain[3] = V + y`` with ``y = (I − γF)⁻¹ (V_new − V)`` and
    ``F`` each state's most likely successor ``main_f`` with its probability ``main_p`` under the greedy move of
    ``E`` (``control``) or the evaluated policy (slot 0)."""
    f, factor, r, out, status, pos, path = chain
    S = len(f)
    for s in range(S):
        a = 0
        if control:
            for b in range(1, N_ACTIONS):
                if mask[s, b] and E[b, s] > E[a, s]:
                    a = b
        f[s] = main_f[a, s]
        factor[s] = gamma * main_p[a, s]
        r[s] = V_new[s] - V[s]
    _solve_chain(f, factor, r, out, status, pos, path)
    for s in range(S):
        out[s] += V[s]


@njit(nogil=True, cache=True)
def policy_iteration(next_own, R, gamma, mask, out, max_iter=200):
    """Optimal values for deterministic dynamics ``next_own`` ``(S, 5)`` by policy iteration with exact
    evaluation (a warm start, as ``multipower.exact.solver._policy_iteration``)."""
    S = len(R)
    V = np.zeros(S + 1)
    V[:S] = R
    pol = np.full(S, -1, dtype=np.int64)
    f = np.empty(S, dtype=np.int64)
    for iteration in range(max_iter):
        changed = False
        for s in range(S):  # greedy improvement; keep the current action unless another is clearly better
            best, arg = -np.inf, 0
            for a in range(N_ACTIONS):  # the first best available move, without branches on the values
                x = V[next_own[s, a]] if mask[s, a] else -np.inf
                better = np.int64(x > best)
                arg += better * (a - arg)
                best = max(best, x)
            if pol[s] < 0 or best > V[next_own[s, pol[s]]] + 1e-12 * (1.0 + abs(R[s] + gamma * best)):
                changed = changed or pol[s] >= 0
                pol[s] = arg
            f[s] = next_own[s, pol[s]]
        if iteration > 0 and not changed:
            break
        evaluate_chain(f, R, gamma, V[:S])
    out[:] = V[:S]


@njit(nogil=True, cache=True)
def _empty_tables(n_slots, S, J):
    """``idx``, ``w`` ``(n_slots, S, J)`` with every slot on the terminal (value 0) with weight 0."""
    return np.full((n_slots, S, J), S, dtype=np.int64), np.zeros((n_slots, S, J))


@njit(nogil=True, cache=True)
def other_agent_tables(next_own, other):
    """Backup tables ``idx``, ``w`` ``(5, S, J)`` of an agent optimising against the other's policy ``other``
    ``(S, 5)``; ``next_own[s, own, other]`` is the next state. Unused slots point at the terminal with weight 0."""
    S = next_own.shape[0]
    idx, w = _empty_tables(N_ACTIONS, S, _support(other))
    for s in range(S):
        j = 0
        for b in range(N_ACTIONS):
            p = other[s, b]
            if p > 0.0:
                for a in range(N_ACTIONS):
                    idx[a, s, j] = next_own[s, a, b]
                    w[a, s, j] = p
                j += 1
    return idx, w


@njit(nogil=True, cache=True)
def joint_tables(next_state, pol_H, pol_A):
    """Policy-evaluation tables ``idx``, ``w`` ``(1, S, J)`` of the joint policy ``pol_H``, ``pol_A`` ``(S, 5)``."""
    S = next_state.shape[0]
    idx, w = _empty_tables(1, S, _support(pol_H) * _support(pol_A))
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
    return idx, w


@njit(nogil=True, cache=True)
def _tie_tol(R, gamma, tie_rtol):
    """The solver's tie tolerance ``TIE_RTOL · max|R| / (1 - γ)`` for one sample, in units of ``E[V(s')]``."""
    top = 1e-300
    for s in range(len(R)):
        top = max(top, abs(R[s]))
    return tie_rtol * top / (1.0 - gamma)


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
def solve_pairs_chunk(next_state, next_by_H, seed, stage1_pre_idx, stage1_pre_w, stage1_idx, stage1_runs, mask_H,
                      mask_A, R_H, R_A, gamma_H, gamma_A, absorbing, power_tol, tie_rtol, max_sweeps, warm_H, warm_A,
                      depth_H, depth_A, anderson_reset, anderson_reg,
                      q_H, pol_H, q_A, pol_A, V_H, V_A, V_H_seed, V_A_seed, W_H, W_A, W_H_seed, W_A_seed, sweeps,
                      split_H, split_A):
    """The two-stage solve (docs/concepts.md#two-stage-training) for every sample ``k`` of a chunk (outputs
    preallocated, action-major ``(K, 5, S)`` for ``q``/``pol``, or ``(1, 5, S)`` to keep values only, reusing one
    slot; ``W_*`` ``(K, S)``: the expected next values ``E[V(s')]`` under each stage's policy (see
    ``iterate``); ``sweeps``
    ``(K, 4)``: H, A, H_eval, A_seed; -1 where ``max_sweeps`` hit). ``next_by_H`` ``(5, S, 5)``: ``next_state``
    with H's move first (``next_state.transpose(1, 0, 2)``, contiguous, any integer type), from which A's
    successors under H's moves are read in five streams (``multipower.exact.solver._next_by_H``).

    ``stage1_*``: H's factored backup against the seed (see ``_average``; ``stage1_runs``: the runs of
    ``stage1_idx`` for ``_sweep_runs``, or no rows), or ``stage1_pre_idx`` with no rows for the plain gather of
    ``other_agent_tables``. ``warm_H``/``warm_A``: start stages 3 and 2
    exactly where the policies are deterministic (``evaluate_chain``, ``policy_iteration``);
    ``depth_H``/``depth_A``: Anderson depth for each agent's discount (0: plain iteration).

    ``split_H``/``split_A`` ``(S, 2)``: each agent's slip weights (``_sweep_mixed``), or no rows for a
    deterministic world. With slip, ``seed`` and the ``stage1_*`` tables are over A's effective
    moves, each stage gathers over effective moves (the other agent's policy replaced by its effective-move
    distribution, ``_effective``), and stages 2 and 3 iterate preconditioned by the chain of most likely moves
    (``_chain_step``; no deterministic chains to warm-start from exactly)."""
    if split_H.shape[0] > 0:
        _solve_pairs_slip(next_state, seed, stage1_pre_idx, stage1_pre_w, stage1_idx, mask_H, mask_A, R_H, R_A,
                          gamma_H, gamma_A, absorbing, power_tol, tie_rtol, max_sweeps, depth_H, depth_A,
                          anderson_reset, anderson_reg, q_H, pol_H, q_A, pol_A, V_H, V_A, V_H_seed, V_A_seed,
                          W_H, W_A, W_H_seed, W_A_seed, sweeps, split_H, split_A)
        return
    K, S = R_H.shape
    next_A = np.empty((0, N_ACTIONS, N_ACTIONS), dtype=next_state.dtype)  # next_A[s, own=A, other=H], when needed
    no_pre = np.empty((0, 1), dtype=np.int64)
    no_pre_w = np.empty((0, 1))
    no_runs = np.empty((0, 2), dtype=np.int64)
    no_penalty = np.empty((N_ACTIONS, 0))
    penalty_H, penalty_A = _penalty(mask_H), _penalty(mask_A)  # the certificate's, once per chunk
    no_split = np.empty((0, 2))
    no_count = np.empty((0, 0), dtype=np.int64)
    if stage1_pre_idx.shape[0] > 0:
        idx1, w1 = stage1_idx, _unit_weights()
    else:
        idx1, w1 = other_agent_tables(next_state, seed)
    scratch_q = np.empty((N_ACTIONS, S))
    scratch_p = np.empty((N_ACTIONS, S))
    no_q = np.empty((N_ACTIONS, 0))  # values only: the action values are not written
    no_act = np.empty(0, dtype=np.int64)
    act_H, act_A = np.empty(S, dtype=np.int64), np.empty(S, dtype=np.int64)
    V0 = np.empty(S)
    next_det = np.empty((N_ACTIONS, S), dtype=np.int64)  # A's successors under H's (first tied) moves
    chain = np.empty((1, S), dtype=np.int64)
    factored = stage1_pre_idx.shape[0] > 0
    keep = q_H.shape[0] == K
    for k in range(K):
        slot = k if keep else 0
        tie_H, tie_A = _tie_tol(R_H[k], gamma_H, tie_rtol), _tie_tol(R_A[k], gamma_A, tie_rtol)
        # Stage 1: H against the seed.
        sweeps[k, 0], det_H = iterate(idx1, w1, stage1_pre_idx, stage1_pre_w, R_H[k], gamma_H, R_H[k], mask_H, True,
                                      absorbing, power_tol, tie_H, max_sweeps, depth_H, anderson_reset, anderson_reg,
                                      V_H_seed[k], q_H[slot] if keep else no_q, pol_H[slot], W_H_seed[k], no_split,
                                      no_count, 0, act_H, stage1_runs, penalty_H)
        if sweeps[k, 0] < 0:  # not converged (the caller raises): no policy to go on from
            sweeps[k, 1:] = -1
            continue
        # Stage 2: A against frozen H. Where pi_H is deterministic, so are A's dynamics: tables without
        # the other's average, and an exact warm start by policy iteration.
        # Where pi_H ties somewhere (a near-tie within the tie tolerance), the warm start is A's optimum against
        # H's first tied moves: exact but at those states, hundreds of sweeps fewer than from the rewards.
        V0[:] = R_A[k]
        for s in range(S):
            row = next_by_H[act_H[s], s]
            for a in range(N_ACTIONS):
                next_det[a, s] = row[a]
        if warm_A:
            policy_iteration(next_det.T, R_A[k], gamma_A, mask_A, V0)
        if det_H:
            idx2, w2 = next_det.reshape((N_ACTIONS, S, 1)), _unit_weights()
        else:
            if next_A.shape[0] == 0:  # a transposed copy of next_state (10 MB on the robot face): only if used
                next_A = next_state.transpose(0, 2, 1).copy()
            idx2, w2 = other_agent_tables(next_A, pol_H[slot].T.copy())
        sweeps[k, 1], det_A = iterate(idx2, w2, no_pre, no_pre_w, R_A[k], gamma_A, V0, mask_A, True, absorbing,
                                      power_tol, tie_A, max_sweeps, depth_A, anderson_reset, anderson_reg,
                                      V_A[k], q_A[slot] if keep else no_q, pol_A[slot], W_A[k], no_split, no_count, 0,
                                      act_A, no_runs, penalty_A)
        if sweeps[k, 1] < 0:
            sweeps[k, 2:] = -1
            continue
        if not keep:  # values only: iterate gave a deterministic policy as act_* alone; the tables below may read it
            if det_H and not (det_A and factored):
                _one_hot(act_H, pol_H[slot])
            if det_A and not det_H:
                _one_hot(act_A, pol_A[slot])
        # Stage 3: H under the joint policy (a deterministic chain where both are: exact warm start).
        # Where either ties somewhere, the chain of the first tied moves is the warm start (as with slip).
        V0[:] = V_H_seed[k]
        for s in range(S):
            chain[0, s] = next_det[act_A[s], s]  # next_state[s, act_H[s], act_A[s]], read in five streams
        if warm_H:
            evaluate_chain(chain[0], R_H[k], gamma_H, V0)
        if det_H and det_A:
            idx3, w3 = chain.reshape((1, S, 1)), _unit_weights()
        else:
            idx3, w3 = joint_tables(next_state, pol_H[slot].T.copy(), pol_A[slot].T.copy())
        sweeps[k, 2] = iterate(idx3, w3, no_pre, no_pre_w, R_H[k], gamma_H, V0, mask_H, False, absorbing,
                               power_tol, tie_H, max_sweeps, depth_H, anderson_reset, anderson_reg,
                               V_H[k], scratch_q, scratch_p, W_H[k], no_split, no_count, 0, no_act, no_runs,
                               no_penalty)[0]
        # A following the seed while H follows pi_H: stage 1's factored average where pi_H is deterministic.
        if det_H and factored:
            for s in range(S):
                chain[0, s] = stage1_idx[act_H[s], s, 0]
            idx4, w4 = chain.reshape((1, S, 1)), _unit_weights()
            pre4, pre4_w = stage1_pre_idx, stage1_pre_w
        else:
            idx4, w4 = joint_tables(next_state, pol_H[slot].T.copy(), seed)
            pre4, pre4_w = no_pre, no_pre_w
        sweeps[k, 3] = iterate(idx4, w4, pre4, pre4_w, R_A[k], gamma_A, V_A[k], mask_A, False, absorbing,
                               power_tol, tie_A, max_sweeps, depth_A, anderson_reset, anderson_reg,
                               V_A_seed[k], scratch_q, scratch_p, W_A_seed[k], no_split, no_count, 0, no_act,
                               no_runs, no_penalty)[0]


@njit(nogil=True, cache=True)
def _one_hot(act, pol):
    """``pol[a, s] = [a = act[s]]``: the policy table ``(5, S)`` of the deterministic policy ``act`` ``(S,)`` (what
    ``_write_policy`` writes where the policy is deterministic)."""
    for a in range(N_ACTIONS):
        for s in range(len(act)):
            pol[a, s] = 1.0 if act[s] == a else 0.0


@njit(nogil=True, cache=True)
def respond_chunk(next_own, other, mask, R, gamma, absorbing, power_tol, tie_rtol, max_sweeps, depth,
                  anderson_reset, anderson_reg, V_out, Q_out, split):
    """Optimal response of one agent to a fixed policy of the other, per sample: ``next_own[s, own, other]``,
    ``other`` ``(K, S, 5)``, ``R`` ``(K, S)``; fills ``V_out`` ``(K, S)`` and ``Q_out`` ``(K, 5, S)`` (solver
    convention). With slip, ``other`` is the other's effective-move distribution and ``split`` ``(S, 2)`` the
    agent's slip weights (no rows: none; iteration then preconditioned as stage 2 of ``solve_pairs_chunk``).
    Returns the most sweeps any sample used, or -1 if one reached ``max_sweeps``."""
    K, S = R.shape
    no_pre = np.empty((0, 1), dtype=np.int64)
    no_pre_w = np.empty((0, 1))
    no_runs = np.empty((0, 2), dtype=np.int64)
    penalty = _penalty(mask)  # the certificate's, once per chunk
    pol = np.empty((N_ACTIONS, S))
    act = np.empty(S, dtype=np.int64)
    W = np.empty(S)
    most = 0
    slip = split.shape[0] > 0
    stall = PRECONDITION_STALL if slip else 0
    for k in range(K):
        idx, w = other_agent_tables(next_own, other[k])
        count = _counts(w) if slip else np.empty((0, 0), dtype=np.int64)
        n = iterate(idx, w, no_pre, no_pre_w, R[k], gamma, R[k], mask, True, absorbing, power_tol,
                    _tie_tol(R[k], gamma, tie_rtol), max_sweeps, depth, anderson_reset, anderson_reg, V_out[k],
                    Q_out[k], pol, W, split, count, stall, act, no_runs, penalty)[0]
        if n < 0:
            return -1
        most = max(most, n)
    return most


@njit(nogil=True, cache=True)
def _effective(pol, split, mask, out):
    """``out[s, e] = split[s, 0]·pol[s, e] + split[s, 1]·mask[s, e]``: the distribution of an agent's effective moves
    when it chooses by ``pol`` ``(S, 5)`` (zero on unavailable moves, rows summing to 1) under its slip weights
    ``split`` ``(S, 2)`` (``_sweep_mixed``)."""
    for s in range(pol.shape[0]):
        for e in range(N_ACTIONS):
            out[s, e] = split[s, 0] * pol[s, e] + (split[s, 1] if mask[s, e] else 0.0)


@njit(nogil=True, cache=True)
def _mixture_tables(targets, probs):
    """Policy-evaluation tables ``idx``, ``w`` ``(1, S, J)`` of successors ``targets[e, s]`` ``(5, S)`` taken with
    probabilities ``probs[s, e]`` ``(S, 5)`` (H's effective moves into stage 1's averaged table)."""
    S = probs.shape[0]
    idx, w = _empty_tables(1, S, _support(probs))
    for s in range(S):
        j = 0
        for e in range(N_ACTIONS):
            if probs[s, e] > 0.0:
                idx[0, s, j] = targets[e, s]
                w[0, s, j] = probs[s, e]
                j += 1
    return idx, w


@njit(nogil=True, cache=True)
def _solve_pairs_slip(next_state, seed, stage1_pre_idx, stage1_pre_w, stage1_idx, mask_H, mask_A, R_H, R_A,
                      gamma_H, gamma_A, absorbing, power_tol, tie_rtol, max_sweeps, depth_H, depth_A,
                      anderson_reset, anderson_reg, q_H, pol_H, q_A, pol_A, V_H, V_A, V_H_seed, V_A_seed,
                      W_H, W_A, W_H_seed, W_A_seed, sweeps, split_H, split_A):
    """``solve_pairs_chunk`` with slip (same arguments; ``seed`` already over A's effective moves)."""
    K, S = R_H.shape
    next_A = next_state.transpose(0, 2, 1).copy()
    no_pre = np.empty((0, 1), dtype=np.int64)
    no_pre_w = np.empty((0, 1))
    no_runs = np.empty((0, 2), dtype=np.int64)
    no_penalty = np.empty((N_ACTIONS, 0))
    penalty_H, penalty_A = _penalty(mask_H), _penalty(mask_A)
    no_split = np.empty((0, 2))
    factored = stage1_pre_idx.shape[0] > 0
    if factored:
        idx1, w1 = stage1_idx, np.ones((N_ACTIONS, S, 1))
    else:
        idx1, w1 = other_agent_tables(next_state, seed)
    count1 = _counts(w1)  # 1 everywhere for the factored table
    targets4 = stage1_idx[:, :, 0].copy() if factored else np.empty((N_ACTIONS, 0), dtype=np.int64)
    scratch_q = np.empty((N_ACTIONS, S))
    scratch_p = np.empty((N_ACTIONS, S))
    eff_H, eff_A = np.empty((S, N_ACTIONS)), np.empty((S, N_ACTIONS))
    act_H, act_A = np.empty(S, dtype=np.int64), np.empty(S, dtype=np.int64)
    V0 = np.empty(S)
    chain = np.empty((1, S), dtype=np.int64)
    keep = q_H.shape[0] == K
    for k in range(K):
        slot = k if keep else 0
        tie_H, tie_A = _tie_tol(R_H[k], gamma_H, tie_rtol), _tie_tol(R_A[k], gamma_A, tie_rtol)
        # Stage 1: H's chosen move mixes its effective moves against the seed's effective moves.
        sweeps[k, 0] = iterate(idx1, w1, stage1_pre_idx, stage1_pre_w, R_H[k], gamma_H, R_H[k], mask_H, True,
                               absorbing, power_tol, tie_H, max_sweeps, depth_H, anderson_reset, anderson_reg,
                               V_H_seed[k], q_H[slot], pol_H[slot], W_H_seed[k], split_H, count1, 0, act_H, no_runs,
                               penalty_H)[0]
        if sweeps[k, 0] < 0:  # not converged (the caller raises): no policy to go on from
            sweeps[k, 1:] = -1
            continue
        _effective(pol_H[slot].T.copy(), split_H, mask_H, eff_H)
        # Stage 2: A against H's effective moves under the frozen pi_H, preconditioned (module docstring).
        idx2, w2 = other_agent_tables(next_A, eff_H)
        count2 = _counts(w2)
        sweeps[k, 1] = iterate(idx2, w2, no_pre, no_pre_w, R_A[k], gamma_A, R_A[k], mask_A, True, absorbing,
                               power_tol, tie_A, max_sweeps, depth_A, anderson_reset, anderson_reg,
                               V_A[k], q_A[slot], pol_A[slot], W_A[k], split_A, count2, PRECONDITION_STALL,
                               act_A, no_runs, penalty_A)[0]
        if sweeps[k, 1] < 0:
            sweeps[k, 2:] = -1
            continue
        _effective(pol_A[slot].T.copy(), split_A, mask_A, eff_A)
        # Warm start: the chain of the most probable moves, evaluated exactly (fewer sweeps than from stage 1's);
        # the preconditioner then solves along the same chain with its probabilities.
        for s in range(S):
            chain[0, s] = next_state[s, act_H[s], act_A[s]]
        evaluate_chain(chain[0], R_H[k], gamma_H, V0)
        # Stage 3: H under the joint effective-move distribution.
        idx3, w3 = joint_tables(next_state, eff_H, eff_A)
        count3 = _counts(w3)
        sweeps[k, 2] = iterate(idx3, w3, no_pre, no_pre_w, R_H[k], gamma_H, V0, mask_H, False, absorbing,
                               power_tol, tie_H, max_sweeps, depth_H, anderson_reset, anderson_reg,
                               V_H[k], scratch_q, scratch_p, W_H[k], no_split, count3, PRECONDITION_STALL,
                               act_H[:0], no_runs, no_penalty)[0]
        # A following the seed while H follows pi_H: H's effective moves into stage 1's averaged table.
        if factored:
            idx4, w4 = _mixture_tables(targets4, eff_H)
            pre4, pre4_w = stage1_pre_idx, stage1_pre_w
        else:
            idx4, w4 = joint_tables(next_state, eff_H, seed)
            pre4, pre4_w = no_pre, no_pre_w
        count4 = _counts(w4)
        sweeps[k, 3] = iterate(idx4, w4, pre4, pre4_w, R_A[k], gamma_A, V_A[k], mask_A, False, absorbing,
                               power_tol, tie_A, max_sweeps, depth_A, anderson_reset, anderson_reg,
                               V_A_seed[k], scratch_q, scratch_p, W_A_seed[k], no_split, count4, 0, act_H[:0],
                               no_runs, no_penalty)[0]
