"""Tests of the learned POWER estimator (rollouts of frozen tabular policies)."""

import math

import numpy as np
import pytest

from multipower.envs.model import joint_model
from multipower.envs.policies import greedy_policy, is_deterministic, uniform_policy
from multipower.envs.validation import check_gamma
from multipower.learned.estimator import PolicyRollout, estimate_power, horizon_for, truncation_bound
from multipower.runs.results import PowerResult, pearson
from multipower.envs.rewards import RewardSampler
from multipower.learned.estimator import Rollouts
from multipower.envs.problem import TwoStageProblem


def reference_power(model, policy_H, policy_A, R, gamma):
    """Exact POWER of fixed policies by a dense linear solve (independent of the package's solver)."""
    K, S = R.shape
    joint = np.einsum("ksi,ksj->ksij", policy_H, policy_A)  # (K, S, 5, 5)
    P = np.zeros((K, S, S + 1))
    k, s = np.meshgrid(np.arange(K), np.arange(S), indexing="ij")
    for i in range(5):
        for j in range(5):
            np.add.at(P, (k, s, np.broadcast_to(model.next_state[:, i, j], (K, S))), joint[:, :, i, j])
    V = np.linalg.solve(np.eye(S) - gamma * P[:, :, :S], R[..., None])[..., 0]
    return (1 - gamma) / gamma * (V - R)


def random_greedy(model, K, seed):
    """Deterministic policies: greedy (first maximiser) of random Q tables."""
    rng = np.random.default_rng(seed)
    policies = []
    for mask in (model.action_mask_H, model.action_mask_A):
        q = np.where(mask, rng.random((K, *mask.shape)), -np.inf)
        policies.append(np.eye(5)[q.argmax(-1)])
    return policies


@pytest.mark.parametrize("collision", ["none", "crash"])
@pytest.mark.parametrize("gamma", [0.3, 0.9])
def test_deterministic_rollout_equals_exact_evaluation(collision, gamma):
    model = joint_model("grid3x3", collision)
    K = 12
    R_H, R_A = RewardSampler(model.n_states, seed=3).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=1)
    rollout = PolicyRollout(TwoStageProblem(model, R_H, R_A, gamma, gamma), policy_H, policy_A)
    assert rollout.plan.n_rollouts == 1 and rollout.plan.deterministic_H and rollout.plan.deterministic_A
    assert rollout.plan.truncation_H <= 1e-4
    power_H, power_A = rollout.per_sample()
    exact_H = reference_power(model, policy_H, policy_A, R_H, gamma)
    exact_A = reference_power(model, policy_H, policy_A, R_A, gamma)
    # Rewards are >= 0, so truncation can only lower the rollout value, by at most the bound.
    for rolled, exact, bound in ((power_H, exact_H, rollout.plan.truncation_H), (power_A, exact_A, rollout.plan.truncation_A)):
        assert np.all(rolled <= exact + 1e-12)
        assert np.all(exact - rolled <= bound + 1e-12)
    if collision == "crash":  # some start states crash within the horizon: check the terminal is absorbing
        assert (model.next_state == model.terminal_state).any()


def test_separate_discounts_and_explicit_horizon():
    model = joint_model("grid3x3")
    K = 6
    R_H, R_A = RewardSampler(model.n_states, seed=5).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=2)
    rollout = PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.5, 0.95), policy_H, policy_A)
    power_H, power_A = rollout.per_sample()
    np.testing.assert_allclose(power_H, reference_power(model, policy_H, policy_A, R_H, 0.5), atol=1e-4)
    np.testing.assert_allclose(power_A, reference_power(model, policy_H, policy_A, R_A, 0.95), atol=1e-4)
    # A horizon of one step counts only the reward of the state arrived at: (1-γ)·R(s_1).
    one = PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.5, 0.95), policy_H, policy_A, rollouts=Rollouts(horizon=1))
    h1, _ = one.per_sample()
    a_h, a_a = policy_H.argmax(-1), policy_A.argmax(-1)
    s1 = model.next_state[np.arange(model.n_states)[None], a_h, a_a]
    np.testing.assert_allclose(h1, 0.5 * np.take_along_axis(R_H, s1, axis=1))


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_stochastic_rollout_within_standard_errors(collision):
    model = joint_model("grid3x3", collision)
    K, gamma = 40, 0.6
    R_H, R_A = RewardSampler(model.n_states, seed=7).pairs(0, K)
    rng = np.random.default_rng(0)
    policy_H = np.broadcast_to(uniform_policy(model.action_mask_H), (K, model.n_states, 5)).copy()
    policy_A = greedy_policy(np.round(rng.random((K, model.n_states, 5)), 1), model.action_mask_A)  # with ties
    assert not is_deterministic(policy_H) and not is_deterministic(policy_A)
    rollout = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, gamma), policy_H, policy_A, rollouts=Rollouts(n_rollouts=8, seed=11)
    )
    assert rollout.plan.n_rollouts == 8
    power_H, power_A = rollout.per_sample()
    for rolled, R in ((power_H, R_H), (power_A, R_A)):
        diff = rolled - reference_power(model, policy_H, policy_A, R, gamma)
        se = diff.std(axis=0, ddof=1) / math.sqrt(K)
        assert np.all(se > 0)
        assert np.all(np.abs(diff.mean(axis=0)) <= 4.5 * se + 1e-4)
        # The noise is real: per-sample rollouts differ from the exact values.
        assert np.abs(diff).max() > 1e-3


def test_rollouts_are_seeded_and_chunking_does_not_matter_for_deterministic_policies():
    model = joint_model("grid3x3")
    K = 10
    R_H, R_A = RewardSampler(model.n_states, seed=1).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=4)
    whole = PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.8), policy_H, policy_A).per_sample()
    chunked_rollout = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, 0.8), policy_H, policy_A, rollouts=Rollouts(max_walkers=3 * model.n_states)
    )
    assert chunked_rollout.plan.chunk_samples == 3
    chunked = chunked_rollout.per_sample()
    np.testing.assert_allclose(whole[0], chunked[0])
    stochastic_H = np.broadcast_to(uniform_policy(model.action_mask_H), policy_H.shape)
    a = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, 0.8), stochastic_H, policy_A, rollouts=Rollouts(n_rollouts=2, seed=9)
    ).per_sample()
    b = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, 0.8), stochastic_H, policy_A, rollouts=Rollouts(n_rollouts=2, seed=9)
    ).per_sample()
    c = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, 0.8), stochastic_H, policy_A, rollouts=Rollouts(n_rollouts=2, seed=10)
    ).per_sample()
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])


def test_horizon_meets_truncation_tolerance_with_unbounded_rewards():
    for gamma, r_max in ((0.6, 1.0), (0.99, 1.0), (0.99, 250.0), (0.1, 3.0)):
        T = horizon_for(gamma, r_max, 1e-4)
        assert truncation_bound(gamma, r_max, T) <= 1e-4 < truncation_bound(gamma, r_max, T - 1) or T == 1
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, distribution={"name": "pareto", "alpha": 1.5}, seed=0).pairs(0, 5)
    policy_H, policy_A = random_greedy(model, 5, seed=0)
    rollout = PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.9), policy_H, policy_A)
    assert rollout.plan.r_max_H == pytest.approx(np.abs(R_H).max())
    assert rollout.plan.horizon == max(horizon_for(0.9, np.abs(R_H).max()), horizon_for(0.9, np.abs(R_A).max()))
    power_H, _ = rollout.per_sample()
    exact_H = reference_power(model, policy_H, policy_A, R_H, 0.9)
    assert np.abs(power_H - exact_H).max() <= 1e-4


def test_estimate_power_result_and_exact_evaluation_columns():
    pytest.importorskip("multipower.exact.solver")
    model = joint_model("grid3x3")
    K, gamma = 16, 0.6
    R_H, R_A = RewardSampler(model.n_states, seed=2).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=3)
    result = estimate_power(TwoStageProblem(model, R_H, R_A, gamma), policy_H, policy_A, config={"algo": "test"})
    assert isinstance(result, PowerResult) and result.kind == "joint"
    for name in ("power_H", "power_H_se", "power_A", "power_A_se", "power_H_eval", "power_A_eval_se"):
        assert result[name].shape == (model.n_states,)
    exact_H = reference_power(model, policy_H, policy_A, R_H, gamma)
    np.testing.assert_allclose(result["power_H_eval"], exact_H.mean(0), atol=1e-4)  # solver stops at 1e-4
    np.testing.assert_allclose(result["power_H"], result["power_H_eval"], atol=2e-4)
    np.testing.assert_allclose(result["power_H_se"], exact_H.std(0, ddof=1) / math.sqrt(K), atol=1e-4)
    assert result.stats["alpha"] == pytest.approx(pearson(result["power_H"], result["power_A"]))
    assert result.stats["max_abs_rollout_noise_H"] <= 2e-4
    assert result.config["algo"] == "test" and result.config["n_rollouts"] == 1


def test_estimate_power_without_exact_evaluation_and_running_callback():
    model = joint_model("grid3x3", "crash")
    K = 9
    R_H, R_A = RewardSampler(model.n_states, seed=2).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=3)
    seen = []
    result = estimate_power(
        TwoStageProblem(model, R_H, R_A, 0.7), policy_H, policy_A, exact_eval=False,
        rollouts=Rollouts(max_walkers=4 * model.n_states),
        on_chunk=lambda n, running: seen.append((n, running["power_H"].copy())),
    )
    assert [n for n, _ in seen] == [4, 8, 9]
    np.testing.assert_allclose(seen[-1][1], result["power_H"])
    assert "power_H_eval" not in result.arrays
    np.testing.assert_allclose(result["power_H"], reference_power(model, policy_H, policy_A, R_H, 0.7).mean(0), atol=1e-4)


def test_bad_input_raises_clear_errors():
    model = joint_model("grid3x3")
    K, S = 3, model.n_states
    R_H, R_A = RewardSampler(S, seed=0).pairs(0, K)
    policy_H, policy_A = random_greedy(model, K, seed=0)
    with pytest.raises(ValueError, match="policy_H must have shape"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), policy_H[:, :-1], policy_A)
    with pytest.raises(ValueError, match="policy_A must have shape"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), policy_H, policy_A[:2])
    bad = policy_H.copy()
    bad[:, 0] = 0.0
    bad[:, 0, 1] = 1.0  # "up" from the top-left corner
    with pytest.raises(ValueError, match="unavailable"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), bad, policy_A)
    with pytest.raises(ValueError, match="sum to 1"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), policy_H * 0.5, policy_A)
    for gamma in (0.0, 1.0, 1.5, -0.2, "x"):
        with pytest.raises(ValueError, match="gamma_H must be"):
            PolicyRollout(TwoStageProblem(model, R_H, R_A, gamma), policy_H, policy_A)
    with pytest.raises(ValueError, match="gamma_A must be"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6, 1.0), policy_H, policy_A)
    with pytest.raises(ValueError, match="R_A must have shape"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A[:, :5], 0.6), policy_H, policy_A)
    with pytest.raises(ValueError, match="n_rollouts"):
        PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), policy_H, policy_A, rollouts=Rollouts(n_rollouts=0))
    with pytest.raises(ValueError, match="gamma must be in"):
        check_gamma(2)


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_policy_power_keeps_its_digits_at_tiny_discounts(collision):
    """At γ → 0 the POWER of any policies tends to the expected reward of the next state, E[R(s')]: the
    one-step average over the agents' action pairs, computed here by brute force from the model's table.
    ``(1-γ)/γ·(V - R)`` loses about 1e-6 to cancellation at γ = 1e-10; ``(1-γ)·E[V(s')]`` keeps every digit."""
    from multipower.learned.estimator import exact_policy_power

    model = joint_model("grid3x3", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=4).pairs(0, 3)
    pH, pA = uniform_policy(model.action_mask_H), uniform_policy(model.action_mask_A)
    gamma = 1e-10
    power_H, power_A = exact_policy_power(TwoStageProblem(model, R_H, R_A, gamma, gamma), pH, pA)
    weights = pH[:, :, None] * pA[:, None, :]  # (S, 5, 5)
    padded_H = np.concatenate([R_H, np.zeros((3, 1))], axis=1)  # the crash terminal earns nothing
    padded_A = np.concatenate([R_A, np.zeros((3, 1))], axis=1)
    one_step_H = (weights[None] * padded_H[:, model.next_state]).sum((2, 3))
    one_step_A = (weights[None] * padded_A[:, model.next_state]).sum((2, 3))
    np.testing.assert_allclose(power_H, one_step_H, atol=1e-8)
    np.testing.assert_allclose(power_A, one_step_A, atol=1e-8)
