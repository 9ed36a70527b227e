"""Exact dynamic-programming kernels on the tabular model, batched over reward samples (docs/concepts.md#exact-solver).

Numpy in, numpy out, float64. ``solve_pairs`` runs on the CPU by the compiled per-sample kernels of
``multipower.exact._vikernel`` (``COMPILED_CPU``) and otherwise by the batched torch code below (``device="cuda"``,
or ``compiled=False``); both implement the algorithm described here, and the tests hold them to each other.
The other kernels run in torch.

Conventions
-----------
* Values: ``V(s) = R(s) + γ E[V(s')]`` (reward of the state the agent is in; a crash leads to an
  absorbing terminal of value 0). Action values: ``Q(s, a) = R(s) + γ E[V(s') | a]``, the expectation over
  the other agent's action. ``Q`` is ``-inf`` on unavailable actions.
* An optimal policy is uniform over the available actions that tie for the maximum of ``Q``.

Accuracy guarantee
------------------
Every fixed point (optimal values and policy evaluation) is computed by value iteration with the
MacQueen/Porteus bounds. After a sweep ``V_{k+1} = T V_k`` with ``Δ = V_{k+1} - V_k`` (and, under
``crash``, the terminal's ``Δ = 0`` included), for each reward sample::

    V* ∈ [V_{k+1} + c·min Δ, V_{k+1} + c·max Δ],   c = γ / (1 - γ)

elementwise, for any ``V_k``. The midpoint of this interval is the value returned, so the
value error is at most ``c·span(Δ)/2`` and the POWER error ``(1-γ)/γ`` times that, i.e. ``span(Δ)/2``.
A sample stops when ``span(Δ)/2 <= power_tol`` (default ``5e-5``, half the required ``1e-4``),
whatever ``γ`` is: the stopping rule is on the POWER error itself, not on ``|ΔV|``. Each sweep also
re-centres the iterate on that midpoint (harmless without crashes, where it leaves ``span(Δ)`` unchanged;
under crash it is switched off for a sample as soon as its span stops shrinking, after which plain value
iteration contracts ``max|Δ|`` by ``γ`` per sweep). Where the policies are deterministic, stage 2 is
warm-started by policy iteration with exact evaluation of the deterministic chain, and stage 3 by exact
evaluation; the bounds above then certify the warm start in a sweep or two. From ``γ >= 0.9``
(``ANDERSON_GAMMA``) the next iterate is chosen by Anderson acceleration (``_Anderson``) instead of
the plain re-centred sweep; since the bounds hold for any ``V_k``, the certificate and the stopping rule
are those of a plain sweep from that iterate, and only the number of sweeps changes (3x to 10x fewer at
``γ = 0.99``).

Internally Q-values and policies are action-major ``(K, 5, S)`` (a gather over a flat index and a
reduction over the middle axis are several times faster on CPU); the public arrays are ``(K, S, 5)``
(for ``q`` and ``policy``, strided views of the action-major results).

Optimal policies must be the right ones, not just near-optimal. Actions are compared on the expected next
value ``E_a(s) = E[V(s') | a]`` (``Q = R + γ E``: ``R(s)`` is common to all actions, so ``Q`` gaps are ``γ`` times
``E`` gaps and vanish with ``γ``, while ``E`` gaps keep the size of the reward differences). The same bounds give
``|gap_est(a) - gap*(a)| <= e = span(Δ) / (1 - γ)`` for the gap ``max_b E_b(s) - E_a(s)`` of every action. A
sample also needs, at every state, either exactly one action with ``gap_est <= e`` (that action is then
provably the unique optimum) or ``e <= tie_tol / 2``, in which case the actions with ``gap_est <= tie_tol`` are
taken as tied: this set contains every optimal action, and any other action in it is within ``1.5·tie_tol``
of optimal in ``E`` (``1.5·γ·tie_tol`` in ``Q``). ``tie_tol = TIE_RTOL · max|R| / (1 - γ)`` per sample
(``TIE_RTOL = 1e-9``, a thousand times above float64 rounding of values of size ``max|R| / (1 - γ)`` after
thousands of sweeps). In ``Q`` units the tolerance is ``γ·tie_tol``: it shrinks with the action-value
differences that ``γ`` makes visible. Below ``LEX_GAMMA`` (``1e-3``), where sparse rewards leave actions that
differ only at order ``γ²`` or beyond, policies are chosen by comparing the value's coefficients in ``γ`` order by
order (``multipower.exact.lexicographic``, docs/concepts.md#small-discounts) wherever that choice is certified. A sample is frozen at the first sweep at which it qualifies, so results do not
depend on how the samples are chunked.

Slip
----
With slip (docs/concepts.md#slip) an agent's chosen move ``a`` becomes effective move ``e`` with probability
``P[s, a, e]`` (the model's slip matrix at its cell), independently of the other agent, and the next state is
``next_state[s, eH, eA]``. The expectation factorises: ``E[V(s') | aH] = Σ_eH P_H[s, aH, eH] · Σ_eA q_A(s, eA) ·
V(next_state[s, eH, eA])`` with ``q_A(s, eA) = Σ_aA π_A(s, aA) P_A[s, aA, eA]`` the distribution of the other
agent's effective moves. So every stage is the deterministic one over effective moves, with the other agent's
policy replaced by its effective-move distribution, followed (for the optimising agent) by a ``5 x 5`` mix per
state (``_MixedOperator``; the compiled ``multipower.exact._vikernel._sweep_mixed`` uses the rule's form
``(1 − p)·[e = a] + p/k`` for two products per move). Policies stay over chosen moves and the tie rule is unchanged.
No policy is deterministic in its effect any more, so the exact warm starts of stages 2 and 3 do not apply: the
compiled kernels precondition those stages by the chain of most likely moves (a quarter to a sixth of the sweeps,
``multipower.exact._vikernel``), the torch code iterates from ``R_A`` and stage 1's values; both stop at the same
certificate.

POWER from the solution is ``(1 - γ)·W`` with ``W = E[V(s')]`` under the policy (the ``W_*`` fields, the
midpoint of the same certified interval, ``power_from_next``): its error is at most ``span(Δ)/2 <= power_tol``
at every ``γ``, where ``(1 - γ)/γ·(V - R)`` would lose digits to cancellation at small ``γ``.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from multipower.envs.graph_mdp import GraphMDP
from multipower.envs.joint_graph import JointGraph
from multipower.envs.layouts import N_ACTIONS
from multipower.envs.model import JointModel, SingleAgentModel, check_agent
from multipower.envs.policies import check_policy
from multipower.envs.problem import TwoStageProblem
from multipower.envs.validation import check_device, check_gamma, check_rewards
from multipower.exact.lexicographic import LEX_GAMMA, lexicographic_policy

#: Default bound on the POWER error caused by stopping iteration, per sample (guarantee: < 1e-4).
POWER_TOL = 5e-5
#: Relative tie tolerance: actions whose expected next values ``E[V(s') | a]`` lie within
#: ``TIE_RTOL · max|R| / (1 - γ)`` of the best count as tied (``γ`` times that in ``Q``).
TIE_RTOL = 1e-9
#: Discounts from which the exact warm starts of stages 2 and 3 pay off in the batched torch code (below, a few
#: sweeps suffice). The compiled kernels warm-start from ``COMPILED_WARM_GAMMA`` (grid3x3 γ=0.6: 15 and 17
#: sweeps saved, 65 → 55 µs per sample; maze7x7 γ=0.1: only 4 each, 348 µs without, 389 µs with).
WARM_START_GAMMA = 0.7
COMPILED_WARM_GAMMA = 0.3
#: Discounts from which value iteration is Anderson-accelerated (``_Anderson``), its depth, and the
#: growth of ``span(Δ)`` over its best that restarts a sample's history.
ANDERSON_GAMMA = 0.9
ANDERSON_DEPTH = 5
ANDERSON_RESET = 10.0
#: Anderson's history is dropped when the greedy action changes at this many states or more in one sweep (its
#: differences belong to the previous policy's map; maze7x7 at γ = 0.99 with slip 0.1: A's response to frozen
#: H takes about 40 % fewer sweeps), or at ``POLICY_RESET_FRACTION`` of the states where that is more (the
#: flips near ties grow with the world: on robot_face20x20 at γ = 0.99, 96 instead of 4 takes about 17 % fewer
#: sweeps in stage 1). The compiled kernels' ``_vikernel`` constants are the same numbers.
POLICY_RESET = 4
POLICY_RESET_FRACTION = 0.002


def policy_reset(n_states: int) -> int:
    """Greedy-action changes in one sweep that clear Anderson's history in a world of ``n_states`` states."""
    return max(POLICY_RESET, int(POLICY_RESET_FRACTION * n_states))


#: Tikhonov regularisation of the mixing least squares, relative to the trace of the history's Gram matrix.
ANDERSON_REG = 1e-8
#: Safety cap on sweeps; reaching it raises (it means γ is extremely close to 1).
MAX_SWEEPS = 1_000_000

#: Torch CPU threads used by the kernels. One thread: on a shared 2-core machine two threads ran the
#: small per-sweep operations ~10x slower (threads spin waiting for each other); raise it on a quiet
#: many-core machine (``multipower.exact.solver.CPU_THREADS = 4``).
CPU_THREADS = 1

#: ``solve_pairs`` on the CPU uses the compiled per-sample kernels (one sample's tables stay in cache for
#: all its sweeps: ~3x faster than the batched torch code on grid3x3 and maze7x7). Set False to use torch.
COMPILED_CPU = True

DTYPE = torch.float64


# --------------------------------------------------------------------------------------------------
# Results


class NotConverged(ValueError):
    """Value iteration reached ``MAX_SWEEPS`` without meeting the certificate (a discount too close to 1, or rewards
    so large that the values overflow): one line naming the discount, for the command line."""

    def __init__(self, gamma: float) -> None:
        super().__init__(f"gamma: value iteration did not converge in {MAX_SWEEPS:,} sweeps at gamma={gamma!r} "
                         f"(a horizon of {1.0 / (1.0 - gamma):.3g} steps, or rewards too large to add up); "
                         "use a smaller gamma or smaller rewards")


@dataclass
class SolvedPairs:
    """The two-stage solution for ``K`` reward pairs on a joint model (arrays ``(K, S)`` or ``(K, S, 5)``).

    Attributes:
        q_H: H's optimal action values against the seed policy (``-inf`` on unavailable actions).
        policy_H: H's optimal policy against the seed (uniform over tied maxima).
        q_A: A's optimal action values against frozen ``policy_H``.
        policy_A: A's optimal policy against frozen ``policy_H``.
        V_H: value of ``policy_H`` for ``R_H`` while A follows ``policy_A`` (discount ``gamma_H``).
        V_A: value of ``policy_A`` for ``R_A`` while H follows ``policy_H`` (discount ``gamma_A``).
        V_H_seed: H's optimal value against the seed (stage 1).
        V_A_seed: value for ``R_A`` when A follows the seed and H follows ``policy_H``.
        sweeps: Bellman sweeps per stage (max over the batch).
        W_H, W_A, W_H_seed, W_A_seed: the expected next values ``E[V(s')]`` under the policies of ``V_H``,
            ``V_A``, ``V_H_seed``, ``V_A_seed`` (``V = R + γ W``); POWER is ``(1 - γ)·W`` (``power_from_next``),
            exact to the certificate at any ``γ``, where ``(1 - γ)/γ·(V - R)`` loses digits at small ``γ``.

    ``q_H``, ``policy_H``, ``q_A``, ``policy_A`` are ``None`` when solved with ``values_only=True``.
    """

    q_H: Optional[np.ndarray]
    policy_H: Optional[np.ndarray]
    q_A: Optional[np.ndarray]
    policy_A: Optional[np.ndarray]
    V_H: np.ndarray
    V_A: np.ndarray
    V_H_seed: np.ndarray
    V_A_seed: np.ndarray
    sweeps: dict
    W_H: Optional[np.ndarray] = None
    W_A: Optional[np.ndarray] = None
    W_H_seed: Optional[np.ndarray] = None
    W_A_seed: Optional[np.ndarray] = None
    #: Mean Bellman sweeps per stage over the batch (compiled kernels only; ``None`` otherwise).
    sweeps_mean: Optional[dict] = None


@dataclass
class SolvedSingle:
    """Single-agent solution for ``K`` reward functions: ``q`` and ``policy`` ``(K, n, A)`` (``A = 5`` on layouts,
    the action slots of an MDP graph), ``V`` ``(K, n)``, and
    ``W`` ``(K, n)``, the expected next value ``E[V*(s')]`` under the optimal policy (POWER is ``(1 - γ)·W``)."""

    q: np.ndarray
    policy: np.ndarray
    V: np.ndarray
    sweeps: int
    W: Optional[np.ndarray] = None


# --------------------------------------------------------------------------------------------------
# Bellman operators: expected next value per (sample, state, own action)


class _GatherOperator:
    """``E[V(s') | a] = Σ_j w[b, a, j, s] · Vp[k, idx[b, a, j, s]]`` with ``Vp`` the values padded by the
    terminal's 0.

    ``B`` is 1 (shared by all samples) or ``K`` (one table per sample); ``a`` ranges over the optimising
    agent's actions (5) or is a single slot for policy evaluation; ``j`` over the supported actions of
    the other agent(s). ``w`` is None when every weight is one (deterministic, ``J == 1``).
    ``expect`` returns ``(K, A, S)`` (action-major: one gather over a flat index and a reduction over a
    middle axis are several times faster on CPU than ``index_select`` and a reduction over a last axis of 5).
    """

    def __init__(self, idx: torch.Tensor, w: Optional[torch.Tensor]) -> None:
        if w is not None and idx.shape[2] == 1 and bool((w == 1).all()):
            w = None
        B, A, J, S = idx.shape
        self.shape = (B, S, A, J)
        self._flat = idx.reshape(B, -1)  # (B, A*J*S)
        self.w = None if w is None else w.contiguous()

    def expect(self, Vp: torch.Tensor) -> torch.Tensor:
        K = Vp.shape[0]
        B, S, A, J = self.shape
        flat = self._flat.expand(K, -1) if B == 1 else self._flat
        G = Vp.gather(1, flat).view(K, A, J, S)
        if self.w is None:
            return G.view(K, A, S)
        return (G * self.w).sum(2)

    def subset(self, keep: torch.Tensor) -> "_GatherOperator":
        if self.shape[0] == 1:
            return self
        out = _GatherOperator.__new__(_GatherOperator)
        out._flat = self._flat[keep]
        out.shape = (out._flat.shape[0],) + self.shape[1:]
        out.w = None if self.w is None else (self.w[keep] if self.w.shape[0] > 1 else self.w)
        return out


class _FactorisedOperator:
    """H's backup when A's action distribution depends only on A's cell and collisions are ``none``
    or ``crash``: ``E[V(h', a') | aH] = (V_full @ P^T)[hmove[h, aH], a]`` with ``V_full`` the values over
    cell pairs, zero on the diagonal under crash (the absorbing terminal)."""

    def __init__(self, model: JointModel, cell_probs: np.ndarray, device: torch.device) -> None:
        n = model.n_cells
        moves = model.next_cell
        P = np.zeros((n, n))
        np.add.at(P, (np.repeat(np.arange(n), N_ACTIONS), moves.ravel()), cell_probs.ravel())
        h, a = model.joint_cells[:, 0], model.joint_cells[:, 1]
        self.n = n
        self.PT = torch.as_tensor(P.T.copy(), dtype=DTYPE, device=device)
        self.dense = model.n_states == n * n  # states are exactly the cell pairs, in order
        # cell pair -> padded state index (the terminal's S, value 0, for pairs that are not states)
        pair_state = np.full(n * n, model.n_states)
        pair_state[h * n + a] = np.arange(model.n_states)
        self.pair_state = torch.as_tensor(pair_state, device=device).unsqueeze(0)
        self.idx = torch.as_tensor((moves[h] * n + a[:, None]).T.reshape(-1), device=device)  # action-major

    def expect(self, Vp: torch.Tensor) -> torch.Tensor:
        K, S = Vp.shape[0], Vp.shape[1] - 1
        n = self.n
        if self.dense:
            full = Vp[:, :S].unflatten(1, (n, n))
        else:
            full = Vp.gather(1, self.pair_state.expand(K, -1)).view(K, n, n)
        M = torch.matmul(full, self.PT).view(K, n * n)
        if self.idx.dim() == 2:  # per-sample deterministic H (policy evaluation)
            return M.gather(1, self.idx).view(K, 1, S)
        return M.gather(1, self.idx.expand(K, -1)).view(K, N_ACTIONS, S)

    def subset(self, keep: torch.Tensor) -> "_FactorisedOperator":
        if self.idx.dim() == 1:
            return self
        out = _FactorisedOperator.__new__(_FactorisedOperator)
        out.__dict__.update(self.__dict__)
        out.idx = self.idx[keep]
        return out

    def following(self, model: JointModel, actions_H: torch.Tensor) -> "_FactorisedOperator":
        """The policy-evaluation backup when H plays deterministic ``actions_H`` ``(K, S)``: one gather
        ``(V_full @ P^T)[hmove[h, π_H(s)], a]`` per state."""
        moves = torch.as_tensor(model.next_cell, device=actions_H.device)
        h = torch.as_tensor(model.joint_cells[:, 0], device=actions_H.device)
        a = torch.as_tensor(model.joint_cells[:, 1], device=actions_H.device)
        out = _FactorisedOperator.__new__(_FactorisedOperator)
        out.__dict__.update(self.__dict__)
        out.idx = moves[h.unsqueeze(0), actions_H] * self.n + a.unsqueeze(0)
        return out


class _MixedOperator:
    """Slip: ``E[V(s') | a] = Σ_e mix[s, a, e] · E_eff[e]`` with ``E_eff`` the expectation ``op`` computes over the
    optimising agent's effective moves and ``mix`` ``(S, 5, 5)`` its slip matrices (unavailable rows equal to
    ``stay``'s, so a maximum over all five needs no mask)."""

    def __init__(self, op, mix: torch.Tensor) -> None:
        self.op, self.mix = op, mix

    def expect(self, Vp: torch.Tensor) -> torch.Tensor:
        return torch.einsum("kes,sae->kas", self.op.expect(Vp), self.mix)

    def subset(self, keep: torch.Tensor) -> "_MixedOperator":
        return _MixedOperator(self.op.subset(keep), self.mix)


def _choice_mix(P: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Slip matrices ``(S, 5, 5)`` with the rows of unavailable moves replaced by ``stay``'s row: choosing an
    unavailable move is choosing ``stay`` (its target), so the Bellman maximum over all five needs no mask."""
    return np.ascontiguousarray(np.where(mask[:, :, None], P, P[:, :1, :]))


def _slip_split(P: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The compiled kernels' form ``(S, 2)`` of an agent's slip matrices ``P`` ``(S, 5, 5)``: every available chosen
    move's row is ``split[s, 0]·[e = a] + split[s, 1]·mask[s, e]`` (``1 − p`` and ``p/k``, multipower.envs.slip.slip_matrix),
    read off ``stay``'s row (``stay`` is always available) and checked against every row."""
    others = mask.copy()
    others[:, 0] = False
    alone = ~others.any(1)  # only stay: its row is [1, 0, ...] whatever the split
    share = np.where(alone, P[:, 0, 0], np.where(others, P[:, 0, :], 0.0).max(1))
    split = np.stack([P[:, 0, 0] - share, share], axis=1)
    rows = split[:, :1, None] * np.eye(N_ACTIONS) + split[:, 1:, None] * mask[:, None, :]
    if not np.allclose(np.where(mask[:, :, None], rows, P), P, rtol=0.0, atol=1e-12):
        raise ValueError("slip matrices must have the rows (1 - p)·[e = a] + p/k of multipower.envs.slip.slip_matrix")
    return np.ascontiguousarray(split)


def _slip_weights(model: JointModel, agent: str) -> np.ndarray:
    """``agent``'s slip weights for the compiled kernels (``_slip_split``); no rows in a deterministic world."""
    if model.slip == 0.0:
        return np.empty((0, 2))
    return _slip_split(model.slip_of(agent), model.action_mask(agent))


def _effective_t(policy: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
    """Effective-move distribution ``(B, 5, S)`` of action-major ``policy`` ``(B, 5, S)`` under ``mix`` ``(S, 5, 5)``."""
    return torch.einsum("bas,sae->bes", policy, mix)


# --------------------------------------------------------------------------------------------------
# Value iteration with certified stopping


def _iterate(
    op,
    R: torch.Tensor,
    gamma: float,
    V0: torch.Tensor,
    mask: Optional[torch.Tensor],
    absorbing: bool,
    power_tol: float,
) -> tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor], int, torch.Tensor]:
    """Value iteration (``mask`` given: optimal control over its actions) or policy evaluation.

    ``mask`` is ``(S, A)`` (``A = 5`` in gridworlds). Returns ``V`` (K, S), ``Q`` (K, A, S) or None, the policy
    (K, A, S) or None
    (action-major, see ``_np_actions``), the sweeps used, and ``W`` (K, S), the expected next value
    ``E[V(s')]`` under the optimal (or evaluated) policy, certified like ``V`` (POWER is ``(1 - γ)·W``).
    See the module docstring for the stopping rule.
    """
    K, S = R.shape
    c = gamma / (1.0 - gamma)
    control = mask is not None
    tie_tol = TIE_RTOL * R.abs().amax(1).clamp_min(1e-300) / (1.0 - gamma)
    V_out = torch.empty_like(R)
    W_out = torch.empty_like(R)
    n_act = mask.shape[1] if control else 1  # 5 in gridworlds; any number in MDP graphs
    Q_out = R.new_empty(K, n_act, S) if control else None
    pol_out = R.new_empty(K, n_act, S) if control else None
    unavailable = ~mask.t() if control else None
    active = torch.arange(K, device=R.device)  # samples still in the batch
    pending = torch.ones(K, dtype=torch.bool, device=R.device)  # ... of which not yet finished
    Vp = torch.cat([V0, V0.new_zeros(K, 1)], dim=1)
    Ru = R.unsqueeze(1)
    extrap = torch.ones(K, dtype=torch.bool, device=R.device)
    prev_span = torch.full((K,), torch.inf, dtype=R.dtype, device=R.device)
    accel = _Anderson(K, S, R) if gamma >= ANDERSON_GAMMA else None
    greedy = torch.full((K, S), -1, dtype=torch.long, device=R.device) if control else None
    sweeps = 0
    while len(active):
        sweeps += 1
        if sweeps > MAX_SWEEPS:
            raise NotConverged(gamma)
        E = op.expect(Vp)
        # An unavailable move leads where ``stay`` leads (checked by _check_unavailable_stay; in MDP graphs
        # padding slots repeat action 0), so the maximum needs no mask; the mask matters only for Q and ties, built below for finished samples.
        E_best = E.amax(1) if control else E[:, 0].clone()
        V_new = torch.add(Ru[:, 0], E_best, alpha=gamma)
        delta = V_new - Vp[:, :S]
        lo, hi = delta.amin(1), delta.amax(1)
        if absorbing:
            lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)
        shift = (c * 0.5) * (lo + hi)
        next_shift = (0.5 / (1.0 - gamma)) * (lo + hi)  # shift / γ, without dividing by a tiny γ
        span = hi - lo
        if absorbing:  # safeguard: the re-centred iterate is not a contraction when mass leaves
            extrap &= span <= prev_span
            prev_span = span
            nxt = V_new + torch.where(extrap, shift, 0.0).unsqueeze(1)
        else:
            nxt = V_new + shift.unsqueeze(1)
        clear = None
        if control and accel is not None:  # a new greedy policy: Anderson's history is the old map's
            arg = E.argmax(1)  # the first maximum: an unavailable move repeats an earlier one (stay)
            clear = (arg != greedy).sum(1) >= policy_reset(S)
            greedy = arg
        Vp[:, :S] = nxt if accel is None else accel.step(Vp[:, :S], nxt, span, clear)
        done = (0.5 * span <= power_tol) & pending
        if not bool(done.any()):
            continue
        every = bool(done.all())  # the whole active batch finishes: no row selection needed
        if control:  # optimal policies must be identified too (module docstring)
            # In place on E (fresh each sweep): R(s) is common to all actions, so the gaps are
            # gamma * (max E - E) and the near-optimal sets are E >= max E - threshold / gamma.
            cand = None if every else done.nonzero().squeeze(1)
            pick = _rows(cand)
            e_next = pick(span / (1.0 - gamma))  # bound on the error of every gap of E (e_Q / γ)
            Ec = pick(E).masked_fill_(unavailable, -torch.inf)
            best = Ec.amax(1, keepdim=True)
            near = Ec >= best - e_next.view(-1, 1, 1)  # always holds the best action
            unique = (near.sum(1, dtype=torch.uint8) == 1).all(1)
            floor = e_next <= 0.5 * pick(tie_tol)
            ok = unique | floor
            if cand is None:
                done = ok
            else:
                done[cand] = ok
            if not bool(ok.any()):
                continue
            every = every and bool(ok.all())
            sel = _rows(None if bool(ok.all()) else ok)
            ties = sel(near)
            if bool(floor.any()):  # floor samples take the ties within tie_tol
                fl = sel(floor)
                thr = sel(pick(tie_tol))[fl]
                ties[fl] = sel(Ec)[fl] >= sel(best)[fl] - thr.view(-1, 1, 1)
            ids = sel(pick(active))
            Q_new = sel(Ec).mul_(gamma).add_(sel(pick(Ru)) + sel(pick(shift)).view(-1, 1, 1))
            pol_new = ties.to(R.dtype)
            pol_new.div_(pol_new.sum(1, keepdim=True))
            if len(ids) == K:  # ids is sorted and unique: every sample at once
                Q_out, pol_out = Q_new, pol_new
            else:
                Q_out[ids], pol_out[ids] = Q_new, pol_new
        if every and len(active) == K:
            V_out = V_new.add_(shift.unsqueeze(1))
            W_out = E_best.add_(next_shift.unsqueeze(1))
        else:
            V_out[active[done]] = V_new[done] + shift[done].unsqueeze(1)
            W_out[active[done]] = E_best[done] + next_shift[done].unsqueeze(1)
        pending &= ~done
        n_pending = int(pending.sum())
        if 2 * n_pending <= len(active):  # compact once half the batch has finished
            keep = pending
            active, Vp, Ru, tie_tol, pending = active[keep], Vp[keep], Ru[keep], tie_tol[keep], pending[keep]
            extrap, prev_span = extrap[keep], prev_span[keep]
            greedy = greedy[keep] if control else None
            if accel is not None:
                accel.subset(keep)
            op = op.subset(keep)
    return V_out, Q_out, pol_out, sweeps, W_out


class _Anderson:
    """Anderson acceleration (type II, depth ``ANDERSON_DEPTH``) of the fixed-point map ``x -> g(x)`` (one
    sweep plus re-centring), per sample. It only chooses the next iterate: the certificate of
    ``_iterate`` holds for any iterate, so it changes how many sweeps are needed, never the guarantee.
    The Gram matrix of the history (differences of successive ``f = g - x`` and ``g``) is updated one
    column per sweep, in the same pass over the history as the right-hand side. (A float32 history halves
    the memory traffic but, the Gram matrix being ill-conditioned, took up to 3x more sweeps.) A sample
    whose ``span(Δ)`` grows past ``ANDERSON_RESET`` times its best so far restarts from a plain step with an
    empty history, and so does one whose greedy policy changed at ``policy_reset(S)`` states or more (``clear``).
    Every operation is per sample, so results do not depend on chunking."""

    def __init__(self, K: int, S: int, like: torch.Tensor) -> None:
        m = ANDERSON_DEPTH
        self.dF = like.new_zeros(K, m, S)
        self.dG = like.new_zeros(K, m, S)
        self.gram = like.new_zeros(K, m, m)
        self.prev_f: Optional[torch.Tensor] = None
        self.prev_g: Optional[torch.Tensor] = None
        self.best = like.new_full((K,), torch.inf)
        self.slot = 0

    def step(self, x: torch.Tensor, g: torch.Tensor, span: torch.Tensor, clear: Optional[torch.Tensor] = None
             ) -> torch.Tensor:
        f = g - x
        reset = span > ANDERSON_RESET * self.best
        self.best = torch.minimum(self.best, span)
        cols = [f]
        j = self.slot
        if self.prev_f is not None:
            torch.sub(f, self.prev_f, out=self.dF[:, j])
            torch.sub(g, self.prev_g, out=self.dG[:, j])
            self.slot = (j + 1) % ANDERSON_DEPTH
            cols.insert(0, self.dF[:, j])
        self.prev_f, self.prev_g = f, g
        if bool(reset.any()):
            self.dF[reset] = 0.0
            self.dG[reset] = 0.0
            self.gram[reset] = 0.0
            self.best = torch.where(reset, span, self.best)
        if clear is not None and bool(clear.any()):  # a plain step, the history (this column too) dropped
            self.dF[clear] = 0.0
            self.dG[clear] = 0.0
            self.gram[clear] = 0.0
        # one pass over the history: the new Gram column and the right-hand side together
        prod = torch.bmm(self.dF, torch.stack(cols, dim=2))
        if len(cols) == 2:
            self.gram[:, :, j] = prod[:, :, 0]
            self.gram[:, j, :] = prod[:, :, 0]
        b = prod[:, :, -1:]
        trace = self.gram.diagonal(dim1=1, dim2=2).sum(1)
        eye = torch.eye(ANDERSON_DEPTH, dtype=x.dtype, device=x.device)
        A = self.gram + (ANDERSON_REG * trace + 1e-300).view(-1, 1, 1) * eye
        coef = torch.nan_to_num(torch.linalg.solve(A, b), nan=0.0, posinf=0.0, neginf=0.0)
        return torch.baddbmm(g.unsqueeze(1), coef.transpose(1, 2), self.dG, alpha=-1.0).squeeze(1)

    def subset(self, keep: torch.Tensor) -> None:
        self.dF, self.dG, self.gram, self.best = self.dF[keep], self.dG[keep], self.gram[keep], self.best[keep]
        self.prev_f, self.prev_g = self.prev_f[keep], self.prev_g[keep]


def _rows(sel: Optional[torch.Tensor]):
    """Row selector: identity when ``sel`` is None (all rows), else ``x[sel]``."""
    if sel is None:
        return lambda x: x
    return lambda x: x[sel]


# --------------------------------------------------------------------------------------------------
# Warm starts for deterministic policies (exact, then certified by ``_iterate``)


def _evaluate_functional(f: torch.Tensor, R: torch.Tensor, gamma: float) -> torch.Tensor:
    """Value of a deterministic chain ``s -> f[k, s]`` (``S`` is the absorbing zero terminal) by pointer
    doubling: ``V = Σ_t γ^t R(f^t(s))`` summed over ``2^J`` steps in ``J`` gathers, until ``γ^(2^J)`` is
    below ``1e-18``; the result is then handed to ``_iterate``, which certifies it."""
    K, S = R.shape
    f = torch.cat([f, f.new_full((K, 1), S)], dim=1)
    A = torch.cat([R, R.new_zeros(K, 1)], dim=1)
    g = gamma
    while g > 1e-18:
        A = A + g * A.gather(1, f)
        f = f.gather(1, f)
        g = g * g
    return A[:, :S]


def _deterministic(policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: whether action-major ``policy`` ``(K, 5, S)`` is deterministic everywhere, and its
    argmax actions ``(K, S)``."""
    top, arg = policy.max(1)
    return (top == 1).all(1), arg


def _policy_iteration(
    next_own: torch.Tensor, R: torch.Tensor, gamma: float, mask: torch.Tensor, max_iter: int = 200
) -> torch.Tensor:
    """Optimal values for deterministic dynamics ``next_own`` ``(K, S, 5)`` by policy iteration with exact
    evaluation (``_evaluate_functional``). Used as a warm start only: ``_iterate`` certifies it."""
    K, S = R.shape
    unavailable = ~mask
    V_out = R.clone()
    rows = torch.arange(K, device=R.device)  # samples whose policy still improves
    nxt, Rk, V, pol = next_own, R, R, None
    for _ in range(max_iter):
        k = len(rows)
        Vp = torch.cat([V, V.new_zeros(k, 1)], dim=1)
        Q = (Rk.unsqueeze(-1) + gamma * Vp.gather(1, nxt.reshape(k, -1)).view(k, S, N_ACTIONS)).masked_fill_(
            unavailable, -torch.inf
        )
        best, arg = Q.max(-1)
        if pol is None:
            pol = arg
        else:
            current = Q.gather(2, pol.unsqueeze(-1)).squeeze(-1)
            improve = best > current + 1e-12 * (1.0 + best.abs())
            changed = improve.any(1)
            if not bool(changed.all()):  # finished samples keep their last evaluation
                V_out[rows[~changed]] = V[~changed]
                rows, nxt, Rk, pol = rows[changed], nxt[changed], Rk[changed], pol[changed]
                improve, arg = improve[changed], arg[changed]
                if not len(rows):
                    return V_out
            pol = torch.where(improve, arg, pol)
        V = _evaluate_functional(nxt.gather(2, pol.unsqueeze(-1)).squeeze(-1), Rk, gamma)
    V_out[rows] = V
    return V_out


# --------------------------------------------------------------------------------------------------
# Helpers


def _device(device) -> torch.device:
    return torch.device(device)


_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


def _cpu_threads(fn):
    """Run ``fn`` with ``CPU_THREADS`` torch threads, restoring the caller's setting after the last concurrent call.

    ``torch.set_num_threads`` is process-wide, so concurrent calls (an ``exact_power`` with ``Execution(jobs=...)``)
    share one save/restore: the first entrant saves the setting, the last one out restores it.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _threads_users, _threads_before
        with _threads_lock:
            if _threads_users == 0:
                _threads_before = torch.get_num_threads()
                torch.set_num_threads(CPU_THREADS)
            _threads_users += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _threads_lock:
                _threads_users -= 1
                if _threads_users == 0:
                    torch.set_num_threads(_threads_before)

    return wrapper


def _t(x, device, dtype=DTYPE) -> torch.Tensor:
    """``x`` as a tensor, sharing its memory where it can; a read-only array (a problem's seed table) is copied,
    as torch cannot share memory it may not write."""
    arr = np.asarray(x)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def _cell_policy(model: JointModel, table: np.ndarray) -> Optional[np.ndarray]:
    """``(n_cells, 5)`` A-action probabilities if ``table`` depends only on A's cell, else None."""
    n = model.n_cells
    a = model.joint_cells[:, 1]
    cell = np.full((n, N_ACTIONS), np.nan)
    cell[a] = table  # any representative
    return cell if np.allclose(cell[a], table, atol=0, rtol=0) else None


def _check_unavailable_stay(next_table: np.ndarray, mask: np.ndarray) -> None:
    """Every unavailable action must lead exactly where ``stay`` leads (the models guarantee it)."""
    same = (next_table == next_table[:, :1]).reshape(len(next_table), N_ACTIONS, -1).all(-1)
    if not (same | mask).all():
        raise ValueError("model: an unavailable action does not lead where 'stay' leads")


#: Joint models already checked by ``_check_joint_model`` (models are frozen; the check costs ~8 ms a call on
#: robot_face20x20, more than solving a sample at γ = 0.1, and a run solves thousands of chunks on one model).
_CHECKED_MODELS: "weakref.WeakSet[JointModel]" = weakref.WeakSet()


def _check_joint_model(model: JointModel) -> None:
    """``_check_unavailable_stay`` for both agents of ``model``, once per model object."""
    if model not in _CHECKED_MODELS:
        _check_unavailable_stay(model.next_state, model.action_mask_H)
        _check_unavailable_stay(model.next_state.transpose(0, 2, 1), model.action_mask_A)
        _CHECKED_MODELS.add(model)


def _support(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compress action-major ``(B, 5, S)`` probabilities to the ``m`` largest: indices, weights ``(B, m, S)``."""
    m = max(1, int((probs > 0).sum(1).max()))
    if m == 1:
        w, idx = probs.max(1, keepdim=True)
        return idx, w
    w, idx = probs.topk(m, dim=1)
    return idx, w


def _other_agent_operator(next_T: torch.Tensor, other: torch.Tensor) -> _GatherOperator:
    """Backup for an agent optimising against the other agent's policy.

    ``next_T`` is ``(S, 5_own, 5_other)``; ``other`` action-major ``(B, 5_other, S)``.
    """
    idx_o, w_o = _support(other)
    B, m, S = idx_o.shape
    nxt = next_T.permute(1, 2, 0).unsqueeze(0).expand(B, N_ACTIONS, N_ACTIONS, S)
    idx = nxt.gather(2, idx_o.unsqueeze(1).expand(B, N_ACTIONS, m, S))
    return _GatherOperator(idx, w_o.unsqueeze(1))


def _joint_operator(next_state: torch.Tensor, pol_H: torch.Tensor, pol_A: torch.Tensor) -> _GatherOperator:
    """Policy-evaluation backup for action-major joint policies ``(B, 5, S)`` each (B broadcast between them)."""
    B = max(pol_H.shape[0], pol_A.shape[0])
    S = next_state.shape[0]
    iH, wH = _support(pol_H)
    iA, wA = _support(pol_A)
    mH, mA = iH.shape[1], iA.shape[1]
    flat = (iH.unsqueeze(2) * N_ACTIONS + iA.unsqueeze(1)).expand(B, mH, mA, S).reshape(B, mH * mA, S)
    idx = next_state.reshape(S, -1).t().unsqueeze(0).expand(B, N_ACTIONS * N_ACTIONS, S).gather(1, flat)
    w = (wH.unsqueeze(2) * wA.unsqueeze(1)).expand(B, mH, mA, S).reshape(B, mH * mA, S)
    return _GatherOperator(idx.unsqueeze(1), w.unsqueeze(1))


def _np_actions(x: torch.Tensor) -> np.ndarray:
    """Action-major ``(K, 5, S)`` tensor as the public ``(K, S, 5)`` numpy array (a strided view, no copy)."""
    return x.cpu().numpy().transpose(0, 2, 1)


def _policy_tensor(policy, mask: np.ndarray, name: str, device) -> torch.Tensor:
    """Checked policy table(s) as an action-major ``(B, 5, S)`` tensor."""
    probs = check_policy(policy, mask, name=name)
    if probs.ndim == 2:
        probs = probs[None]
    return _t(np.ascontiguousarray(probs.transpose(0, 2, 1)), device)


# --------------------------------------------------------------------------------------------------
# Public kernels: joint model


@_cpu_threads
def solve_pairs(
    problem: TwoStageProblem,
    device: str = "cpu",
    power_tol: float = POWER_TOL,
    compiled: Optional[bool] = None,
    values_only: bool = False,
) -> SolvedPairs:
    """Solve the two-stage problem (docs/concepts.md#two-stage-training) exactly for ``K`` reward pairs.

    Stage 1: H's optimal policy against the seed policy of A. Stage 2: A's optimal policy against frozen
    ``policy_H``. Stage 3: both policies evaluated. See the module docstring for conventions and accuracy.

    Args:
        problem: The joint model (any collision rule), ``K`` reward pairs, both discounts and A's seed policy. A
            problem on a ``JointGraph`` goes to ``multipower.exact.joint_graph.solve_joint_graph`` instead (the
            same programme on the graph's action slots).
        device: Torch device for the computation.
        power_tol: Per-sample bound on the POWER error caused by stopping iteration.
        compiled: Use the compiled per-sample kernels of ``multipower.exact._vikernel`` (CPU only; the same
            algorithm and certificate). Default: ``COMPILED_CPU`` on the CPU. ``False``: the batched torch
            code (any device).
        values_only: Leave ``q_H``, ``policy_H``, ``q_A``, ``policy_A`` as ``None`` (the compiled kernels then
            skip writing them: ``exact_power`` needs the values only).

    Returns:
        A ``SolvedPairs`` of numpy arrays.
    """
    _check_call(problem, device, power_tol, compiled=compiled, values_only=values_only)
    model, R_H, R_A, gamma_H, gamma_A = problem.model, problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    seed = problem.seed_table()
    dev = _device(device)
    _check_joint_model(model)
    if _use_compiled(dev, compiled):
        sol = _solve_pairs_compiled(model, R_H, R_A, gamma_H, gamma_A, seed, power_tol, values_only)
    else:
        sol = _solve_pairs_torch(model, R_H, R_A, gamma_H, gamma_A, seed, dev, power_tol, values_only)
    if max(gamma_H, gamma_A) <= LEX_GAMMA:
        _resolve_small_gamma(model, sol, R_H, R_A, gamma_H, gamma_A, seed, device, power_tol)
    return sol


def _solve_pairs_torch(model: JointModel, R_H, R_A, gamma_H, gamma_A, seed: np.ndarray, dev, power_tol: float,
                       values_only: bool) -> SolvedPairs:
    """``solve_pairs`` by the batched torch code (arguments already checked)."""
    rh, ra = _t(R_H, dev), _t(R_A, dev)
    next_state = torch.as_tensor(model.next_state, device=dev)
    mask_H = torch.as_tensor(model.action_mask_H, device=dev)
    mask_A = torch.as_tensor(model.action_mask_A, device=dev)
    absorbing = model.collision == "crash"
    slip = model.slip > 0.0
    seed = model.effective_policy(seed, "A")  # what A's seed moves actually are (itself without slip)
    seed_t = _t(np.ascontiguousarray(seed.T), dev).unsqueeze(0)  # action-major (1, 5, S)
    mix_H = _t(_choice_mix(model.slip_of("H"), model.action_mask_H), dev) if slip else None
    mix_A = _t(_choice_mix(model.slip_of("A"), model.action_mask_A), dev) if slip else None
    mixed = (lambda op, mix: _MixedOperator(op, mix)) if slip else (lambda op, mix: op)  # noqa: E731
    effective = (lambda pol, mix: _effective_t(pol, mix)) if slip else (lambda pol, mix: pol)  # noqa: E731
    sweeps = {}

    # Stage 1: H against the seed.
    cell = _cell_policy(model, seed) if model.collision in ("none", "crash") else None
    op1 = _FactorisedOperator(model, cell, dev) if cell is not None else _other_agent_operator(next_state, seed_t)
    V_H_seed, q_H, pol_H, sweeps["H"], W_H_seed = _iterate(mixed(op1, mix_H), rh, gamma_H, rh, mask_H, absorbing,
                                                           power_tol)
    eff_H = effective(pol_H, mix_H)

    # Stage 2: A against frozen H. Where pi_H is deterministic, A's dynamics are too: warm-start by
    # policy iteration with exact evaluation (certified by _iterate like any start).
    det_H, act_H = _deterministic(pol_H)
    V0_A = ra.clone()
    if not slip and gamma_A >= WARM_START_GAMMA and bool(det_H.any()):
        d = det_H.nonzero().squeeze(1)
        nxt_A = next_state.unsqueeze(0).expand(len(d), -1, -1, -1).gather(
            2, act_H[d].view(len(d), -1, 1, 1).expand(-1, -1, 1, N_ACTIONS)
        ).squeeze(2)
        V0_A[d] = _policy_iteration(nxt_A, ra[d], gamma_A, mask_A)
    op2 = mixed(_other_agent_operator(next_state.transpose(1, 2), eff_H), mix_A)
    V_A, q_A, pol_A, sweeps["A"], W_A = _iterate(op2, ra, gamma_A, V0_A, mask_A, absorbing, power_tol)

    # Stage 3: H's value under the joint policy (exact warm start where both are deterministic);
    # A's value when it follows the seed.
    det_A, act_A = _deterministic(pol_A)
    V0_H = V_H_seed.clone()
    both = det_H & det_A
    if not slip and gamma_H >= WARM_START_GAMMA and bool(both.any()):
        d = both.nonzero().squeeze(1)
        f = next_state.view(-1)[
            (torch.arange(model.n_states, device=dev) * N_ACTIONS + act_H[d]) * N_ACTIONS + act_A[d]
        ]
        V0_H[d] = _evaluate_functional(f, rh[d], gamma_H)
    op3 = _joint_operator(next_state, eff_H, effective(pol_A, mix_A))
    V_H, _, _, sweeps["H_eval"], W_H = _iterate(op3, rh, gamma_H, V0_H, None, absorbing, power_tol)
    if not slip and isinstance(op1, _FactorisedOperator) and bool(det_H.all()):
        op4 = op1.following(model, act_H)
    else:
        op4 = _joint_operator(next_state, eff_H, seed_t)
    V_A_seed, _, _, sweeps["A_seed"], W_A_seed = _iterate(op4, ra, gamma_A, V_A, None, absorbing, power_tol)

    np_ = lambda x: x.cpu().numpy()  # noqa: E731
    policies = (None,) * 4 if values_only else (_np_actions(q_H), _np_actions(pol_H), _np_actions(q_A), _np_actions(pol_A))
    return SolvedPairs(
        *policies,
        np_(V_H),
        np_(V_A),
        np_(V_H_seed),
        np_(V_A_seed),
        sweeps,
        np_(W_H),
        np_(W_A),
        np_(W_H_seed),
        np_(W_A_seed),
    )


def _resolve_small_gamma(model: JointModel, sol: SolvedPairs, R_H, R_A, gamma_H, gamma_A, seed: np.ndarray, device,
                         power_tol: float) -> None:
    """At discounts up to ``LEX_GAMMA``, replace each sample's policies by those compared order by order in ``γ``
    (``multipower.exact.lexicographic``) where every decision is certified, and recompute what depends on them:
    A's response and both evaluations. Stage 1's values (``V_H_seed``, ``q_H``) do not depend on ties."""
    absorbing = model.collision == "crash"
    slip = model.slip > 0.0
    mix_H, mix_A = (model.slip_of("H"), model.slip_of("A")) if slip else (None, None)
    other = model.effective_policy(seed, "A")[:, None, :]  # the same for each of H's moves
    pol_H, ok_H = lexicographic_policy(model.next_state, other, R_H, model.action_mask_H, gamma_H, absorbing, mix_H)
    next_A = np.ascontiguousarray(model.next_state.transpose(0, 2, 1))
    other = model.effective_policy(pol_H, "H")[:, :, None, :]
    pol_A, ok_A = lexicographic_policy(next_A, other, R_A, model.action_mask_A, gamma_A, absorbing, mix_A)
    k = np.flatnonzero(ok_H & ok_A)
    if len(k) == 0:
        return
    problem = TwoStageProblem(model, R_H[k], R_A[k], gamma_H, gamma_A)
    sol.V_H[k], sol.V_A[k], sol.W_H[k], sol.W_A[k] = evaluate_policies(problem, pol_H[k], pol_A[k], device, power_tol,
                                                                         next_values=True)
    _, sol.V_A_seed[k], _, sol.W_A_seed[k] = evaluate_policies(problem, pol_H[k], seed, device, power_tol,
                                                               next_values=True)
    if sol.policy_H is not None:
        sol.policy_H[k], sol.policy_A[k] = pol_H[k], pol_A[k]
        sol.q_A[k] = optimal_response(model, R_A[k], gamma_A, "A", pol_H[k], power_tol)[1]


def _check_call(problem, device, power_tol, **flags) -> None:
    """The arguments of a two-stage solve, checked before any work: one ``ValueError`` naming the argument."""
    if not isinstance(problem, TwoStageProblem) or not isinstance(problem.model, JointModel):
        kind = "a JointGraph: solve it with multipower.exact.joint_graph.solve_joint_graph" \
            if isinstance(getattr(problem, "model", None), JointGraph) else type(problem).__name__
        raise ValueError(f"problem: must be a multipower.envs.problem.TwoStageProblem on a JointModel, got {kind}")
    check_device(device)
    if isinstance(power_tol, bool) or not isinstance(power_tol, (int, float, np.integer, np.floating)) \
            or not 0 < power_tol < 1:
        raise ValueError(f"power_tol must be a number in (0, 1) (a bound on each sample's POWER error), got "
                         f"{power_tol!r}")
    for name, value in flags.items():
        if not (isinstance(value, bool) or (name == "compiled" and value is None)):
            raise ValueError(f"{name} must be True or False, got {value!r}")


def _use_compiled(dev: torch.device, compiled: Optional[bool]) -> bool:
    if compiled is None:
        return COMPILED_CPU and dev.type == "cpu"
    if compiled and dev.type != "cpu":
        raise ValueError(f"compiled=True needs device='cpu', got device={str(dev)!r}")
    return bool(compiled)


def _anderson_depth(gamma: float) -> int:
    """History depth of the compiled kernels' Anderson acceleration at ``gamma`` (0: plain iteration)."""
    return ANDERSON_DEPTH if gamma >= ANDERSON_GAMMA else 0


#: The last stage-1 tables built for each model, with the seed they were built for (a run solves every chunk
#: against one seed; building them costs ~8 ms on robot_face20x20).
_FACTORED_CACHE: "weakref.WeakKeyDictionary[JointModel, tuple]" = weakref.WeakKeyDictionary()
_FACTORED_LOCK = threading.Lock()


_BY_H_CACHE: "weakref.WeakKeyDictionary[JointModel, np.ndarray]" = weakref.WeakKeyDictionary()


def _next_by_H(model: JointModel) -> np.ndarray:
    """``model.next_state`` with H's move first, ``(5, S, 5)`` contiguous (``_vikernel.solve_pairs_chunk``), made
    once per model. In 32 bits: on robot_face20x20 the table (5 MB) then mostly stays in the processor's cache
    between samples; at 64 bits reading A's successors cost ~0.5 ms a sample, against ~0.2 ms."""
    with _FACTORED_LOCK:
        table = _BY_H_CACHE.get(model)
        if table is None:
            by_H = model.next_state.transpose(1, 0, 2)
            dtype = np.int32 if model.n_states < np.iinfo(np.int32).max else np.int64
            table = _BY_H_CACHE[model] = np.ascontiguousarray(by_H, dtype=dtype)
    return table


def _factored_tables(model: JointModel, seed: np.ndarray) -> tuple[np.ndarray, ...]:
    """``_build_factored_tables``, reused while the model and the seed's values are the same."""
    with _FACTORED_LOCK:
        cached = _FACTORED_CACHE.get(model)
    if cached is not None and cached[0].shape == seed.shape and np.array_equal(cached[0], seed):
        return cached[1]
    tables = _build_factored_tables(model, seed)  # shared by later calls: the kernels only read them
    with _FACTORED_LOCK:
        _FACTORED_CACHE[model] = (np.array(seed, copy=True), tables)
    return tables


def _build_factored_tables(model: JointModel, seed: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stage-1 tables of ``multipower.exact._vikernel._average`` (as ``_FactorisedOperator``): the
    seed's average over A's moves once per cell pair ``(h', a)``, then H's move, with that table's
    ``_consecutive_runs``. Empty tables when the seed depends on more than A's cell or collisions are ``bounce``."""
    cell = _cell_policy(model, seed) if model.collision in ("none", "crash") else None
    if cell is None:
        return (np.empty((0, 1), np.int64), np.empty((0, 1)), np.empty((N_ACTIONS, model.n_states, 1), np.int64),
                np.empty((0, 2), np.int64))
    n, moves = model.n_cells, model.next_cell
    J = int((cell > 0).sum(1).max())
    order = np.argsort(-cell, axis=1, kind="stable")[:, :J]  # A's supported moves per cell, first
    w = np.take_along_axis(cell, order, 1)  # (n, J)
    pair_state = np.full((n, n), model.n_states)  # cell pairs that are not states: the terminal (value 0)
    pair_state[model.joint_cells[:, 0], model.joint_cells[:, 1]] = np.arange(model.n_states)
    a_next = np.take_along_axis(moves, order, 1)  # (n, J)
    pre_idx = pair_state[:, a_next].reshape(n * n, J)  # p = h' * n + a
    pre_w = np.broadcast_to(w, (n, n, J)).reshape(n * n, J)
    h, a = model.joint_cells[:, 0], model.joint_cells[:, 1]
    idx = np.ascontiguousarray((moves[h] * n + a[:, None]).T[:, :, None])  # (5, S, 1)
    return np.ascontiguousarray(pre_idx), np.ascontiguousarray(pre_w), idx, _consecutive_runs(idx[:, :, 0])


#: Runs shorter than this on average are not worth ``_sweep_runs``'s per-run setup (measured, whole runs at γ = 0.99:
#: maze7x7 crash, ~18 states a run, 13 % less time than the gather; grid3x3 crash, ~4.5 a run, ~7 % more. On
#: robot_face20x20, ~140 a run, a stage-1 sweep takes 2.5 times less).
MIN_MEAN_RUN = 12


def _consecutive_runs(targets: np.ndarray) -> np.ndarray:
    """``(R, 2)`` runs ``(s0, L)`` of ``targets`` ``(5, S)`` (successor indices of H's 5 moves at each state): maximal
    ranges of states along which every move's successor index rises by one, for
    ``multipower.exact._vikernel._sweep_runs``. With the states in ``(h, a)`` order and the stage-1 table's
    successor ``(h', a)`` (pair index ``h' · n + a``), a run is A's cells beside H's cell ``h`` (two on either side
    of ``a = h`` when that pair is not a state). No rows when the runs are too short on average
    (``MIN_MEAN_RUN``).

    The sweep takes the greedy move without the action mask: an unavailable move must target what ``stay`` does
    (it does: a blocked move stays), so that it never beats ``stay``."""
    S = targets.shape[1]
    step = (np.diff(targets, axis=1) == 1).all(axis=0)  # (S - 1,): s + 1 continues the run of s
    starts = np.flatnonzero(np.r_[True, ~step])
    runs = np.stack([starts, np.diff(np.r_[starts, S])], axis=1).astype(np.int64)
    if S == 0 or S / len(runs) < MIN_MEAN_RUN:
        return np.empty((0, 2), np.int64)
    return runs


def _solve_pairs_compiled(model: JointModel, R_H, R_A, gamma_H, gamma_A, seed: np.ndarray, power_tol: float,
                          values_only: bool):
    """``solve_pairs`` by the compiled per-sample kernels (arguments already checked)."""
    from multipower.exact import _vikernel

    K, S = R_H.shape
    seed = model.effective_policy(seed, "A")  # what A's seed moves actually are (itself without slip)
    # Values only: one reused slot, not ~4·K·5·S fresh floats per chunk (their page faults cost ~10 % here).
    q_H, pol_H, q_A, pol_A = np.empty((4, 1 if values_only else K, N_ACTIONS, S))
    # One allocation for the eight value arrays: on the robot face a chunk's 25 MB in one block is mapped in huge
    # pages, eight blocks of 3 MB mostly in small ones, whose first touches cost ~8 % of a run at γ = 0.1.
    V_H, V_A, V_H_seed, V_A_seed, W_H, W_A, W_H_seed, W_A_seed = np.empty((8, K, S))
    sweeps = np.zeros((K, 4), dtype=np.int64)
    _vikernel.solve_pairs_chunk(
        model.next_state, _next_by_H(model), np.ascontiguousarray(seed),
        *_factored_tables(model, seed),  # with stage 1's runs
        model.action_mask_H, model.action_mask_A,
        np.ascontiguousarray(R_H), np.ascontiguousarray(R_A), gamma_H, gamma_A, model.collision == "crash",
        power_tol, TIE_RTOL, MAX_SWEEPS, gamma_H >= COMPILED_WARM_GAMMA, gamma_A >= COMPILED_WARM_GAMMA,
        _anderson_depth(gamma_H), _anderson_depth(gamma_A), ANDERSON_RESET, ANDERSON_REG, q_H, pol_H, q_A, pol_A, V_H, V_A, V_H_seed, V_A_seed,
        W_H, W_A, W_H_seed, W_A_seed, sweeps, _slip_weights(model, "H"), _slip_weights(model, "A"),
    )
    if (sweeps < 0).any():
        raise NotConverged(max(gamma_H, gamma_A))
    tr = lambda x: x.transpose(0, 2, 1)  # noqa: E731  (action-major to the public (K, S, 5))
    stages = ("H", "A", "H_eval", "A_seed")
    counts = dict(zip(stages, (int(n) for n in sweeps.max(0))))
    means = dict(zip(stages, (float(n) for n in sweeps.mean(0))))
    policies = (None,) * 4 if values_only else (tr(q_H), tr(pol_H), tr(q_A), tr(pol_A))
    return SolvedPairs(*policies, V_H, V_A, V_H_seed, V_A_seed, counts, W_H, W_A, W_H_seed, W_A_seed, means)


def optimal_response(
    model: JointModel, R: np.ndarray, gamma: float, agent: str, other_policy: np.ndarray, power_tol: float = POWER_TOL
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values ``(K, S)`` and action values ``(K, S, 5)`` (``-inf`` where unavailable) of ``agent`` for
    rewards ``R`` ``(K, S)`` against the other agent's fixed policies ``other_policy`` ``(K, S, 5)`` (or one
    ``(S, 5)``), by the compiled kernels (CPU) with the certificate of the module docstring."""
    from multipower.exact import _vikernel

    gamma = check_gamma(gamma)
    agent = check_agent(agent)
    R = check_rewards(R, model.n_states, "R")
    K, S = R.shape
    next_own = model.next_state if agent == "H" else np.ascontiguousarray(model.next_state.transpose(0, 2, 1))
    other = check_policy(other_policy, model.action_mask("A" if agent == "H" else "H"), name="other_policy")
    other = model.effective_policy(np.broadcast_to(other, (K, S, N_ACTIONS)), "A" if agent == "H" else "H")
    other = np.ascontiguousarray(other)
    V, Q = np.empty((K, S)), np.empty((K, N_ACTIONS, S))
    done = _vikernel.respond_chunk(next_own, other, model.action_mask(agent), R, gamma, model.collision == "crash",
                                   power_tol, TIE_RTOL, MAX_SWEEPS, _anderson_depth(gamma), ANDERSON_RESET,
                                   ANDERSON_REG, V, Q, _slip_weights(model, agent))
    if done < 0:
        raise NotConverged(gamma)
    return V, Q.transpose(0, 2, 1)


@_cpu_threads
def evaluate_policies(
    problem: TwoStageProblem,
    policy_H: np.ndarray,
    policy_A: np.ndarray,
    device: str = "cpu",
    power_tol: float = POWER_TOL,
    next_values: bool = False,
) -> tuple[np.ndarray, ...]:
    """Exact values of arbitrary joint policies on the model (policy evaluation).

    Args:
        problem: The joint model, ``K`` reward pairs and both discounts (its seed policy is not used).
        policy_H, policy_A: ``(K, S, 5)`` (or shared ``(S, 5)``) action probabilities of each agent.
        device: Torch device.
        power_tol: Per-sample bound on the POWER error caused by stopping iteration.

        next_values: Also return ``W_H, W_A``, the expected next values ``E[V(s')]`` (POWER is ``(1 − γ)·W``,
            free of the cancellation of ``(V − R)/γ`` at small ``γ``).

    Returns:
        ``(V_H, V_A)``, each ``(K, S)``, with ``V(s) = R(s) + γ E[V(s')]`` under the joint policy; with
        ``next_values``, ``(V_H, V_A, W_H, W_A)``.
    """
    _check_call(problem, device, power_tol, next_values=next_values)
    model, R_H, R_A, gamma_H, gamma_A = problem.model, problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    dev = _device(device)
    pH = _policy_tensor(policy_H, model.action_mask_H, "policy_H", dev)
    pA = _policy_tensor(policy_A, model.action_mask_A, "policy_A", dev)
    K = R_H.shape[0]
    for name, p in (("policy_H", pH), ("policy_A", pA)):
        if p.shape[0] not in (1, K):
            raise ValueError(f"{name} has {p.shape[0]} policies for {K} reward samples")
    if model.slip > 0.0:  # what the agents' moves actually are
        pH = _effective_t(pH, _t(model.slip_of("H"), dev))
        pA = _effective_t(pA, _t(model.slip_of("A"), dev))
    op = _joint_operator(torch.as_tensor(model.next_state, device=dev), pH, pA)
    absorbing = model.collision == "crash"
    rh, ra = _t(R_H, dev), _t(R_A, dev)
    V_H, _, _, _, W_H = _iterate(op, rh, gamma_H, rh, None, absorbing, power_tol)
    V_A, _, _, _, W_A = _iterate(op, ra, gamma_A, ra, None, absorbing, power_tol)
    if next_values:
        return V_H.cpu().numpy(), V_A.cpu().numpy(), W_H.cpu().numpy(), W_A.cpu().numpy()
    return V_H.cpu().numpy(), V_A.cpu().numpy()


# --------------------------------------------------------------------------------------------------
# Public kernels: single agent


def _single_operator(model: SingleAgentModel, dev):
    idx = torch.as_tensor(model.next_cell, device=dev).t().reshape(1, N_ACTIONS, 1, model.n_states)
    if model.slip == 0.0:
        return _GatherOperator(idx, None)
    return _MixedOperator(_GatherOperator(idx, None), _t(_choice_mix(model.slip_matrix, model.action_mask), dev))


@_cpu_threads
def solve_single(
    model: SingleAgentModel, R: np.ndarray, gamma: float, device: str = "cpu", power_tol: float = POWER_TOL
) -> SolvedSingle:
    """Optimal ``q``, ``policy`` (uniform over tied maxima) and ``V`` for ``K`` reward functions ``(K, n)``."""
    gamma = check_gamma(gamma)
    R = check_rewards(R, model.n_states, "R")
    dev = _device(device)
    r = _t(R, dev)
    mask = torch.as_tensor(model.action_mask, device=dev)
    _check_unavailable_stay(model.next_cell, model.action_mask)
    V, q, pol, sweeps, W = _iterate(_single_operator(model, dev), r, gamma, r, mask, False, power_tol)
    sol = SolvedSingle(_np_actions(q), _np_actions(pol), V.cpu().numpy(), sweeps, W.cpu().numpy())
    if gamma <= LEX_GAMMA:
        mix = model.slip_matrix if model.slip > 0.0 else None
        _resolve_policy(sol, model.next_cell[:, :, None], np.ones((1, 1, 1)), R, model.action_mask, gamma, mix)
    return sol


@_cpu_threads
def evaluate_single(
    model: SingleAgentModel,
    policy: np.ndarray,
    R: np.ndarray,
    gamma: float,
    device: str = "cpu",
    power_tol: float = POWER_TOL,
) -> np.ndarray:
    """Exact value ``(K, n)`` of single-agent policies ``(K, n, 5)`` (or one shared ``(n, 5)``)."""
    gamma = check_gamma(gamma)
    R = check_rewards(R, model.n_states, "R")
    dev = _device(device)
    p = _policy_tensor(policy, model.action_mask, "policy", dev)
    if p.shape[0] not in (1, R.shape[0]):
        raise ValueError(f"policy has {p.shape[0]} tables for {R.shape[0]} reward samples")
    if model.slip > 0.0:  # what the agent's moves actually are
        p = _effective_t(p, _t(model.slip_matrix, dev))
    nxt = torch.as_tensor(model.next_cell, device=dev).t().unsqueeze(0).expand(p.shape[0], -1, -1)
    idx_a, w = _support(p)
    op = _GatherOperator(nxt.gather(1, idx_a).unsqueeze(1), w.unsqueeze(1))
    r = _t(R, dev)
    return _iterate(op, r, gamma, r, None, False, power_tol)[0].cpu().numpy()


# --------------------------------------------------------------------------------------------------
# Public kernels: MDP graphs


def _graph_operator(mdp: GraphMDP, dev) -> _GatherOperator:
    """``E[V(s') | a] = Σ_k prob[s, a, k] · V[next_state[s, a, k]]`` as an action-major gather ``(1, A, K, S)``."""
    idx = torch.as_tensor(np.ascontiguousarray(mdp.next_state.transpose(1, 2, 0)), device=dev).unsqueeze(0)
    return _GatherOperator(idx, _t(np.ascontiguousarray(mdp.prob.transpose(1, 2, 0)), dev).unsqueeze(0))


@_cpu_threads
def solve_mdp(
    mdp: GraphMDP, R: np.ndarray, gamma: float, device: str = "cpu", power_tol: float = POWER_TOL
) -> SolvedSingle:
    """Optimal ``q`` and ``policy`` ``(K, n, A)`` (uniform over tied maxima), ``V`` and ``W`` ``(K, n)`` of a
    stochastic tabular MDP (``multipower.envs.graph_mdp.GraphMDP``) for ``K`` reward functions ``R`` ``(K, n)``.

    Same algorithm and certificate as ``solve_single`` (module docstring): the POWER error
    ``(1 - γ)·|W - W*|`` is at most ``power_tol`` per sample and state, and tied actions are identified as there.
    """
    gamma = check_gamma(gamma)
    R = check_rewards(R, mdp.n_states, "R")
    dev = _device(device)
    r = _t(R, dev)
    mask = torch.as_tensor(mdp.action_mask, device=dev)
    V, q, pol, sweeps, W = _iterate(_graph_operator(mdp, dev), r, gamma, r, mask, False, power_tol)
    sol = SolvedSingle(_np_actions(q), _np_actions(pol), V.cpu().numpy(), sweeps, W.cpu().numpy())
    if gamma <= LEX_GAMMA:
        _resolve_policy(sol, mdp.next_state, mdp.prob, R, mdp.action_mask, gamma, None)
    return sol


def _resolve_policy(sol: SolvedSingle, next_state, weights, R, mask, gamma: float, mix) -> None:
    """At ``γ <= LEX_GAMMA``, the single-agent policy compared order by order in ``γ`` (as ``solve_pairs``),
    for the samples whose decisions are all certified; the values do not depend on ties."""
    policy, ok = lexicographic_policy(next_state, weights, R, mask, gamma, False, mix)
    sol.policy[ok] = policy[ok]


# --------------------------------------------------------------------------------------------------
# POWER from values


def power_samples(V: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Per-sample POWER contributions ``(1 - γ)/γ · (V - R)``; their mean over samples is POWER.

    At small ``γ`` the difference ``V - R`` (of size ``γ``) loses digits to cancellation; where the solver's
    expected next values ``W`` are at hand, ``power_from_next`` is exact to the certificate at any ``γ``.
    """
    return (1.0 - gamma) / gamma * (np.asarray(V) - np.asarray(R))


def power_from_next(W: np.ndarray, gamma: float) -> np.ndarray:
    """Per-sample POWER contributions ``(1 - γ) · E[V(s')]`` from the expected next values ``W`` (the solvers'
    ``W_*``): the same quantity as ``power_samples``, without its cancellation at small ``γ``."""
    return (1.0 - gamma) * np.asarray(W)


