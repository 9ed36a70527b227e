"""Ties between optimal actions at extreme discounts, and POWER without cancellation at small γ.

Sparse (Bernoulli) rewards make exact ties common. With collision ``none`` and an H reward that ignores A's
cell, H's problem is the single-agent one whatever A does: POWER_H must equal H's POWER against the seed and
H's single-agent POWER, per sample, at every γ. A tie tolerance that did not shrink with the value differences γ
makes visible would take every action as tied at small γ (the evaluated policy then differs from the optimum).
"""

import numpy as np
import pytest

from multipower.envs.model import joint_model, single_agent_model
from multipower.exact.solver import power_from_next, power_samples, solve_pairs, solve_single
from multipower.envs.problem import TwoStageProblem

GAMMAS = (1e-12, 1e-9, 1e-6, 1e-3, 0.1, 0.5, 0.9, 0.99, 0.999)


def _bernoulli_world(layout: str, K: int = 24, p: float = 0.3, seed: int = 0):
    model = joint_model(layout, "none")
    single = single_agent_model(layout)
    rng = np.random.default_rng(seed)
    r = (rng.random((K, single.n_states)) < p).astype(float)
    R_H = r[:, model.joint_cells[:, 0]]  # H's reward ignores A's position
    R_A = (rng.random((K, model.n_states)) < p).astype(float)
    return model, single, r, R_H, R_A


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_power_H_equals_single_agent_power_at_every_gamma(gamma, compiled):
    model, single, r, R_H, R_A = _bernoulli_world("grid3x3")
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma), compiled=compiled)
    power_H = power_from_next(sol.W_H, gamma)
    power_H_seed = power_from_next(sol.W_H_seed, gamma)
    power_single = power_from_next(solve_single(single, r, gamma).W, gamma)[:, model.joint_cells[:, 0]]
    np.testing.assert_allclose(power_H, power_H_seed, atol=1e-4, rtol=0)
    np.testing.assert_allclose(power_H, power_single, atol=1e-4, rtol=0)
    # H's optimal policy depends on H's cell only (states are H-major) and is the single-agent one, ties included.
    n = single.n_states
    policy_H = sol.policy_H.reshape(len(r), n, n, 5)
    np.testing.assert_array_equal(policy_H, np.broadcast_to(policy_H[:, :, :1], policy_H.shape))
    np.testing.assert_allclose(policy_H[:, :, 0], solve_single(single, r, gamma).policy, atol=1e-12)


@pytest.mark.parametrize("gamma", [1e-12, 1e-6, 0.5, 0.999])
def test_policy_is_uniform_over_exactly_the_best_moves(gamma):
    """Single agent: the optimal policy at small γ puts its mass on the moves into the best reachable reward."""
    single = single_agent_model("maze7x7")
    rng = np.random.default_rng(3)
    r = (rng.random((16, single.n_states)) < 0.2).astype(float)
    sol = solve_single(single, r, gamma)
    if gamma < 1e-3:  # values are rewards up to O(γ): the best next reward decides, ties included
        nxt = r[:, single.next_cell]  # (K, n, 5)
        best = np.where(single.action_mask, nxt, -np.inf).max(-1, keepdims=True)
        # among moves into the best reward, the ones whose own best continuation is largest win: check support
        assert ((sol.policy > 0) <= (single.action_mask & (nxt == best))).all()
    np.testing.assert_allclose(sol.policy.sum(-1), 1.0)
    positive = sol.policy[sol.policy > 0]
    # uniform over the tied set: every positive probability is 1/k for an integer k
    k = np.round(1.0 / positive)
    np.testing.assert_allclose(positive, 1.0 / k, rtol=1e-12)


def test_power_is_accurate_at_gamma_1e_minus_12():
    """POWER = (1 - γ)·E[V(s')] meets the 1e-4 guarantee at γ = 1e-12; (1 - γ)/γ·(V - R) loses digits there."""
    gamma = 1e-12
    single = single_agent_model("grid3x3")
    rng = np.random.default_rng(5)
    r = rng.random((64, single.n_states)) * 1e4  # large rewards make the cancellation in V - R visible
    sol = solve_single(single, r, gamma)
    nxt = np.where(single.action_mask, r[:, single.next_cell], -np.inf)
    reference = (1 - gamma) * nxt.max(-1)  # E[V(s')] = max_a R(s'_a) + O(γ · max R)
    assert np.abs(power_from_next(sol.W, gamma) - reference).max() <= 1e-4 * 1e4 * 1e-4  # relative 1e-8
    assert np.abs(power_samples(sol.V, r, gamma) - reference).max() > 1e-4  # the old formula's cancellation


# ------------------------------------------------------------------------------------------------------------
# The γ → 0 limit of two-stage POWER, by brute force on power series in γ.


def _series_optimum(P, R, mask, orders):
    """Lexicographically optimal policy (uniform over ties) for dense ``P[s, a, s']`` (``s' = S`` the crash
    terminal): value iteration on the coefficient vectors of ``V = Σ_n γ^n c_n``, all orders at once."""
    S = len(R)
    V = np.zeros((S + 1, orders))
    for _ in range(orders + 1):
        E = np.einsum("sat,tn->san", P, V)  # (S, A, orders)
        tied = mask.copy()
        for n in range(orders):
            col = np.where(tied, E[:, :, n], -np.inf)
            tied &= col >= col.max(1, keepdims=True) - 1e-10
        best = E[np.arange(S), tied.argmax(1)]
        V[:S, 0], V[:S, 1:] = R, best[:, :-1]
    return tied / tied.sum(1, keepdims=True)


def _dense(model, own, other_effective):
    """``P[s, chosen, s']`` of one agent against the other's effective-move distribution ``(S, 5)``."""
    S = model.n_states
    nxt = model.next_state if own == "H" else model.next_state.transpose(0, 2, 1)
    slip = model.slip_of(own)
    P = np.zeros((S, 5, S + 1))
    for e in range(5):
        for o in range(5):
            np.add.at(P, (np.arange(S)[:, None], np.arange(5)[None], nxt[:, e, o][:, None]),
                      slip[:, :, e] * other_effective[:, o : o + 1])
    return P


def _limit_power(model, R_H, R_A, orders=12):
    """POWER_H, POWER_A ``(K, S)`` as γ → 0: ``E[R(s')]`` under the lexicographically optimal two-stage policies."""
    seed = model.effective_policy(model.action_mask_A / model.action_mask_A.sum(1, keepdims=True), "A")
    out_H, out_A = [], []
    for rH, rA in zip(R_H, R_A):
        pol_H = _series_optimum(_dense(model, "H", seed), rH, model.action_mask_H, orders)
        pol_A = _series_optimum(_dense(model, "A", model.effective_policy(pol_H, "H")), rA, model.action_mask_A,
                                orders)
        joint = np.einsum("sa,sat->st", pol_H, _dense(model, "H", model.effective_policy(pol_A, "A")))
        out_H.append(joint @ np.append(rH, 0.0))
        out_A.append(joint @ np.append(rA, 0.0))
    return np.array(out_H), np.array(out_A)


@pytest.mark.parametrize("world", [("grid3x3", "crash", 0.0), ("grid3x3", "none", 0.0), ("grid3x3", "bounce", 0.0),
                                   ("grid3x3", "crash", 0.2)], ids=lambda w: f"{w[1]}-slip{w[2]}")
@pytest.mark.parametrize("gamma", [1e-12, 1e-9, 1e-6])
def test_power_at_small_gamma_is_its_limit_per_state(world, gamma):
    """Sparse rewards tie actions at order 1 (and 2, 3, ...) in γ; A responds to the support of H's policy, so a tie
    broken at order γ³ moves POWER by O(1). Per state and sample, POWER must be the γ → 0 limit up to O(γ)
    (a tie tolerance on E[V(s')] alone gave per-state means 0.09 away from it on this world)."""
    layout, rule, slip = world
    model = joint_model(layout, rule, slip=slip)
    rng = np.random.default_rng(0)
    R_H = (rng.random((32, model.n_states)) < 0.3).astype(float)
    R_A = (rng.random((32, model.n_states)) < 0.3).astype(float)
    limit_H, limit_A = _limit_power(model, R_H, R_A)
    for compiled in (True, False):
        sol = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma), compiled=compiled)
        bound = 1e-4 + 2 * gamma  # the certificate plus the O(γ) distance from the limit (rewards in [0, 1])
        assert np.abs(power_from_next(sol.W_H, gamma) - limit_H).max() <= bound
        assert np.abs(power_from_next(sol.W_A, gamma) - limit_A).max() <= bound


def test_small_gamma_results_do_not_depend_on_the_batch():
    model = joint_model("grid3x3", "crash")
    rng = np.random.default_rng(4)
    R_H, R_A = rng.random((40, model.n_states)), (rng.random((40, model.n_states)) < 0.3).astype(float)
    whole = solve_pairs(TwoStageProblem(model, R_H, R_A, 1e-3, 1e-3))
    parts = [solve_pairs(TwoStageProblem(model, R_H[i:i + 7], R_A[i:i + 7], 1e-3, 1e-3)) for i in range(0, 40, 7)]
    for name in ("W_H", "W_A", "W_A_seed", "policy_H", "policy_A", "q_A"):
        np.testing.assert_array_equal(getattr(whole, name), np.concatenate([getattr(p, name) for p in parts]))
