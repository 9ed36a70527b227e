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
    sol = solve_pairs(model, R_H, R_A, gamma, gamma, compiled=compiled)
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
