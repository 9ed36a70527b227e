"""The DP kernels against brute force (numpy.linalg.solve on the model), and their guarantees."""

import numpy as np
import pytest
import torch

from multipower.envs.policies import uniform_policy
from multipower.envs.layouts import parse_layout
from multipower.envs.model import joint_model, single_agent_model
from multipower.exact import solver
from multipower.envs.rewards import RewardSampler
from multipower.envs.policies import seed_policy_table
from multipower.runs.results import MeanAccumulator
from multipower.exact.solver import (
    POWER_TOL,
    evaluate_policies,
    evaluate_single,
    solve_pairs,
    solve_single,
)
from multipower.envs.problem import TwoStageProblem


def transition(model, policy_H, policy_A):
    """Brute-force (S, S) transition matrix of a joint policy (crash mass leaves the matrix)."""
    S = model.n_states
    P = np.zeros((S, S + 1))
    for i in range(5):
        for j in range(5):
            np.add.at(P, (np.arange(S), model.next_state[:, i, j]), policy_H[:, i] * policy_A[:, j])
    return P[:, :S]


def solve_linear(P, R, gamma):
    return np.linalg.solve(np.eye(len(R)) - gamma * P, R)


def optimal_brute(next_dist, R, gamma, mask):
    """Exact optimal values by policy iteration with linear solves; next_dist (S, 5, S)."""
    S = len(R)
    pol = np.zeros(S, dtype=int)
    while True:
        P = next_dist[np.arange(S), pol]
        V = solve_linear(P, R, gamma)
        Q = np.where(mask, R[:, None] + gamma * next_dist @ V, -np.inf)
        new = np.where(Q.max(1) > Q[np.arange(S), pol] + 1e-12, Q.argmax(1), pol)
        if (new == pol).all():
            return V, Q
        pol = new


def value_bound(gamma):
    """Value error implied by the POWER bound (POWER error = (1-γ)/γ · value error), plus rounding."""
    return POWER_TOL * gamma / (1 - gamma) + 1e-10


@pytest.mark.parametrize("compiled", [False, True], ids=["torch", "compiled"])
@pytest.mark.parametrize("collision", ["none", "crash", "bounce"])
def test_solve_pairs_matches_brute_force(collision, compiled):
    model = joint_model("grid3x3", collision)
    S, K, gH, gA = model.n_states, 12, 0.9, 0.8
    R_H, R_A = RewardSampler(S, seed=3).pairs(0, K)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, gH, gA), compiled=compiled)
    seed = seed_policy_table(model)
    ns = model.next_state
    for k in range(K):
        # Stage 1: H's optimal value and policy against the uniform seed.
        dist_H = np.zeros((S, 5, S + 1))
        for j in range(5):
            np.add.at(dist_H, (np.arange(S)[:, None], np.arange(5)[None], ns[:, :, j]), seed[:, j : j + 1])
        V1, Q1 = optimal_brute(dist_H[:, :, :S], R_H[k], gH, model.action_mask_H)
        assert np.abs(sol.V_H_seed[k] - V1).max() <= value_bound(gH)
        optimal = np.isclose(Q1, Q1.max(1, keepdims=True), atol=1e-9, rtol=0)
        np.testing.assert_array_equal(sol.policy_H[k] > 0, optimal)
        finite = np.isfinite(Q1)
        np.testing.assert_array_equal(np.isfinite(sol.q_H[k]), finite)
        assert np.abs(sol.q_H[k][finite] - Q1[finite]).max() <= value_bound(gH)
        # Stage 2: A's optimal value and policy against frozen policy_H.
        dist_A = np.zeros((S, 5, S + 1))
        for i in range(5):
            np.add.at(dist_A, (np.arange(S)[:, None], np.arange(5)[None], ns[:, i, :]), sol.policy_H[k][:, i : i + 1])
        V2, Q2 = optimal_brute(dist_A[:, :, :S], R_A[k], gA, model.action_mask_A)
        assert np.abs(sol.V_A[k] - V2).max() <= value_bound(gA)
        np.testing.assert_array_equal(sol.policy_A[k] > 0, np.isclose(Q2, Q2.max(1, keepdims=True), atol=1e-9, rtol=0))
        # Stage 3 and the seed diagnostic: exact policy evaluation.
        P = transition(model, sol.policy_H[k], sol.policy_A[k])
        assert np.abs(sol.V_H[k] - solve_linear(P, R_H[k], gH)).max() <= value_bound(gH)
        P_seed = transition(model, sol.policy_H[k], seed)
        assert np.abs(sol.V_A_seed[k] - solve_linear(P_seed, R_A[k], gA)).max() <= value_bound(gA)


@pytest.mark.parametrize("compiled", [False, True], ids=["torch", "compiled"])
def test_policies_are_uniform_over_available_maxima(compiled):
    model = joint_model("grid3x3", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 20)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.7, 0.7), compiled=compiled)
    for pol, mask in ((sol.policy_H, model.action_mask_H), (sol.policy_A, model.action_mask_A)):
        np.testing.assert_allclose(pol.sum(-1), 1.0)
        assert (pol[:, ~mask] == 0).all()
        positive = pol > 0
        np.testing.assert_allclose(pol[positive], np.broadcast_to(1 / positive.sum(-1, keepdims=True), pol.shape)[positive])
    assert np.isneginf(sol.q_H[:, ~model.action_mask_H]).all()
    assert not np.isnan(sol.q_H).any() and not np.isnan(sol.q_A).any()


def test_exact_ties_are_found():
    """A symmetric corridor: from the centre, left and right tie exactly and share the probability."""
    model = single_agent_model(parse_layout("...", name="corridor"))
    R = np.array([[1.0, 0.0, 1.0], [0.3, 0.1, 0.3]])
    for gamma in (0.5, 0.99):
        sol = solve_single(model, R, gamma)
        np.testing.assert_allclose(sol.policy[:, 1], [[0, 0, 0, 0.5, 0.5]] * 2)


def test_factorised_stage_one_equals_general_gather():
    for collision in ("none", "crash"):
        model = joint_model("maze7x7", collision)
        seed = seed_policy_table(model)
        cell = solver._cell_policy(model, seed)
        assert cell is not None
        fact = solver._FactorisedOperator(model, cell, torch.device("cpu"))
        gen = solver._other_agent_operator(torch.as_tensor(model.next_state), torch.as_tensor(seed.T).unsqueeze(0))
        V = torch.rand(3, model.n_states + 1, dtype=torch.float64)
        V[:, -1] = 0
        torch.testing.assert_close(fact.expect(V), gen.expect(V))


def test_the_kernels_read_next_state_with_h_move_first_in_32_bits_made_once_per_model():
    model = joint_model("maze7x7", "crash")
    table = solver._next_by_H(model)
    assert table is solver._next_by_H(model) and table.dtype == np.int32 and table.flags.c_contiguous
    np.testing.assert_array_equal(table, model.next_state.transpose(1, 0, 2))


@pytest.mark.parametrize("compiled", [False, True], ids=["torch", "compiled"])
def test_seed_policy_depending_on_both_cells_uses_general_path(compiled):
    model = joint_model("grid3x3")
    rng = np.random.default_rng(0)
    table = rng.random((model.n_states, 5)) * model.action_mask_A
    table /= table.sum(1, keepdims=True)
    assert solver._cell_policy(model, table) is None
    assert len(solver._factored_tables(model, table)[0]) == 0
    R_H, R_A = RewardSampler(model.n_states, seed=1).pairs(0, 3)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.8, 0.8, seed_policy=table), compiled=compiled)
    dist = np.zeros((model.n_states, 5, model.n_states + 1))
    for j in range(5):
        np.add.at(dist, (np.arange(model.n_states)[:, None], np.arange(5)[None], model.next_state[:, :, j]), table[:, j : j + 1])
    for k in range(3):
        V, _ = optimal_brute(dist[:, :, :-1], R_H[k], 0.8, model.action_mask_H)
        assert np.abs(sol.V_H_seed[k] - V).max() <= value_bound(0.8)


@pytest.mark.parametrize(
    "layout, collision, seed_policy, gamma",
    [("maze7x7", "none", "uniform", 0.1), ("maze7x7", "crash", "uniform", 0.1), ("grid3x3", "none", "stay", 0.6),
     ("grid3x3", "bounce", "uniform", 0.6), ("grid3x3", "crash", "uniform", 0.85), ("maze7x7", "none", "uniform", 0.99),
     ("maze7x7", "crash", "uniform", 0.95), ("maze7x7", "bounce", "uniform", 0.9)],
)
def test_compiled_kernels_equal_batched_torch(layout, collision, seed_policy, gamma):
    """Same algorithm and certificate: identical policies, values within the certified bound of each other
    (the two warm-start from different discounts); ``values_only`` changes nothing but what is returned."""
    model = joint_model(layout, collision)
    R_H, R_A = RewardSampler(model.n_states, seed=4).pairs(0, 6)
    fast = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma, seed_policy=seed_policy), compiled=True)
    ref = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma, seed_policy=seed_policy), compiled=False)
    for name in ("policy_H", "policy_A"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name))
    for name in ("q_H", "q_A", "V_H", "V_A", "V_H_seed", "V_A_seed"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), rtol=0, atol=2 * value_bound(gamma))
    lean = solve_pairs(
        TwoStageProblem(model, R_H, R_A, gamma, gamma, seed_policy=seed_policy), compiled=True, values_only=True
    )
    assert lean.q_H is None and lean.policy_A is None
    for name in ("V_H", "V_A", "V_H_seed", "V_A_seed", "W_H", "W_A", "W_H_seed", "W_A_seed"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(fast, name))
    # Stage 1 starts from R in both and is not accelerated below ANDERSON_GAMMA: the same iterates.
    if gamma < solver.ANDERSON_GAMMA:
        assert fast.sweeps["H"] == ref.sweeps["H"]
        np.testing.assert_allclose(fast.V_H_seed, ref.V_H_seed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_optimal_response_equals_the_stages_of_solve_pairs(collision):
    """H's response to the seed is stage 1; A's response to the solved policy_H is stage 2."""
    model = joint_model("grid3x3", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=6).pairs(0, 4)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.95, 0.7))
    V_H, q_H = solver.optimal_response(model, R_H, 0.95, "H", seed_policy_table(model))
    V_A, q_A = solver.optimal_response(model, R_A, 0.7, "A", sol.policy_H)
    for got, want, gamma in ((V_H, sol.V_H_seed, 0.95), (q_H, sol.q_H, 0.95), (q_A, sol.q_A, 0.7)):
        np.testing.assert_allclose(got, want, rtol=0, atol=2 * value_bound(gamma))


def test_optimal_response_bad_input_raises():
    model = joint_model("grid3x3")
    R = RewardSampler(model.n_states, seed=0).pairs(0, 1)[0]
    with pytest.raises(ValueError, match="agent"):
        solver.optimal_response(model, R, 0.6, "robot", seed_policy_table(model))
    with pytest.raises(ValueError, match="gamma"):
        solver.optimal_response(model, R, 1.0, "H", seed_policy_table(model))
    with pytest.raises(ValueError, match="other_policy"):
        solver.optimal_response(model, R, 0.6, "H", np.ones((3, 5)))


def test_compiled_kernels_are_the_cpu_default(monkeypatch):
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 2)
    calls = []
    real = solver._solve_pairs_compiled
    monkeypatch.setattr(solver, "_solve_pairs_compiled", lambda *a: calls.append(a) or real(*a))
    solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.95))
    assert len(calls) == 1
    solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.95), compiled=False)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):  # checked before any work
        solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.6), device="meta", compiled=True)
    with pytest.raises(ValueError, match="power_tol must be a number in"):
        solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.6), power_tol=0)
    with pytest.raises(ValueError, match="values_only must be True or False"):
        solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.6), values_only="no")
    with pytest.raises(ValueError, match="problem: must be a multipower.envs.problem.TwoStageProblem"):
        solve_pairs({})


def test_evaluate_policies_matches_linear_solve():
    model = joint_model("grid3x3", "crash")
    S, K = model.n_states, 4
    rng = np.random.default_rng(2)
    pH = rng.random((K, S, 5)) * model.action_mask_H
    pH /= pH.sum(-1, keepdims=True)
    pA = uniform_policy(model.action_mask_A)  # shared (S, 5) table, broadcast over samples
    R_H, R_A = RewardSampler(S, seed=5).pairs(0, K)
    V_H, V_A = evaluate_policies(TwoStageProblem(model, R_H, R_A, 0.95, 0.6), pH, pA)
    for k in range(K):
        P = transition(model, pH[k], pA)
        assert np.abs(V_H[k] - solve_linear(P, R_H[k], 0.95)).max() <= value_bound(0.95)
        assert np.abs(V_A[k] - solve_linear(P, R_A[k], 0.6)).max() <= value_bound(0.6)


def test_single_agent_solve_and_evaluate_match_brute_force():
    model = single_agent_model("maze7x7")
    n = model.n_states
    R = RewardSampler(n, seed=4).pairs(0, 5)[0]
    dist = np.zeros((n, 5, n))
    dist[np.arange(n)[:, None], np.arange(5)[None], model.next_cell] = 1.0
    sol = solve_single(model, R, 0.9)
    for k in range(5):
        V, Q = optimal_brute(dist, R[k], 0.9, model.action_mask)
        assert np.abs(sol.V[k] - V).max() <= value_bound(0.9)
    policy = uniform_policy(model.action_mask)
    V = evaluate_single(model, policy, R, 0.9)
    P = np.einsum("sa,sat->st", policy, dist)
    for k in range(5):
        assert np.abs(V[k] - solve_linear(P, R[k], 0.9)).max() <= value_bound(0.9)


def test_accuracy_bound_holds_at_high_gamma():
    """The POWER error bound holds whatever γ: check γ = 0.99 against the linear solve."""
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=9).pairs(0, 4)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.99, 0.99))
    for k in range(4):
        P = transition(model, sol.policy_H[k], sol.policy_A[k])
        err_power = (0.01 / 0.99) * np.abs(sol.V_H[k] - solve_linear(P, R_H[k], 0.99)).max()
        assert err_power <= POWER_TOL + 1e-12


def test_mean_accumulator_matches_numpy():
    x = np.random.default_rng(0).random((101, 7))
    acc = MeanAccumulator()
    for lo in range(0, 101, 13):
        acc.add(x[lo : lo + 13])
    np.testing.assert_allclose(acc.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(acc.se, x.std(0, ddof=1) / np.sqrt(101), rtol=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 1.0, -0.5, 1.5])
def test_bad_gamma_raises(gamma):
    model = joint_model("grid3x3")
    R = np.zeros((1, model.n_states))
    with pytest.raises(ValueError, match="gamma_H"):
        solve_pairs(TwoStageProblem(model, R, R, gamma, 0.5))
    with pytest.raises(ValueError, match="gamma_A"):
        solve_pairs(TwoStageProblem(model, R, R, 0.5, gamma))


def test_bad_shapes_raise():
    model = joint_model("grid3x3")
    R = np.zeros((2, model.n_states))
    with pytest.raises(ValueError, match="R_A"):
        solve_pairs(TwoStageProblem(model, R, R[:, :5], 0.5, 0.5))
    with pytest.raises(ValueError, match="seed_policy"):
        solve_pairs(TwoStageProblem(model, R, R, 0.5, 0.5, seed_policy=np.ones((5, 5)) / 5))
    with pytest.raises(ValueError, match="seed_policy"):
        solve_pairs(TwoStageProblem(model, R, R, 0.5, 0.5, seed_policy="random"))
    with pytest.raises(ValueError, match="policy_H"):
        evaluate_policies(
            TwoStageProblem(model, R, R, 0.5, 0.5), np.ones((2, 3, 5)) / 5, uniform_policy(model.action_mask_A)
        )


@pytest.mark.parametrize("compiled", [False, True], ids=["torch", "compiled"])
@pytest.mark.parametrize("collision", ["none", "crash"])
def test_anderson_acceleration_agrees_with_plain_value_iteration(collision, compiled, monkeypatch):
    """The accelerated iterates carry the same certificate: values within the guarantee, same policies,
    far fewer sweeps, and per-sample results independent of the batch they were solved in."""
    model = joint_model("maze7x7", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=3).pairs(0, 4)
    gamma = 0.99
    fast = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma), compiled=compiled)
    part = solve_pairs(TwoStageProblem(model, R_H[:2], R_A[:2], gamma, gamma), compiled=compiled)
    monkeypatch.setattr(solver, "ANDERSON_GAMMA", 2.0)  # off
    plain = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma), compiled=compiled)
    assert fast.sweeps["H"] < plain.sweeps["H"] / 2
    assert fast.sweeps["A_seed"] < plain.sweeps["A_seed"] / 2
    to_power = (1 - gamma) / gamma
    for name in ("V_H", "V_A", "V_H_seed", "V_A_seed"):
        err = to_power * np.abs(getattr(fast, name) - getattr(plain, name)).max()
        assert err <= 2 * POWER_TOL, name
        np.testing.assert_allclose(getattr(part, name), getattr(fast, name)[:2], rtol=0, atol=1e-9)
    for name in ("policy_H", "policy_A"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name))
        np.testing.assert_array_equal(getattr(part, name), getattr(fast, name)[:2])
