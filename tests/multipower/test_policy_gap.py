"""The POWER a learned policy loses (``policy_gap``) against a direct dense computation, and the warning that
``multipower train`` prints when learned agents are not good enough."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.cli import main
from multipower.envs.model import joint_model
from multipower.envs.policies import greedy_policy, uniform_policy
from multipower.exact.accuracy import policy_gap

GAMMA = 0.6


def _dense_values(model, R, gamma, policy_H, policy_A):
    """``V = R + γ P V`` solved directly: ``P[s, s']`` from the joint policy, crashes to a zero-value end."""
    S = model.n_states
    P = np.zeros((S, S + 1))
    for a_h in range(5):
        for a_a in range(5):
            w = policy_H[:, a_h] * policy_A[:, a_a]
            np.add.at(P, (np.arange(S), model.next_state[:, a_h, a_a]), w)
    return np.linalg.solve(np.eye(S) - gamma * P[:, :S], R)


def _dense_optimum(model, R, gamma, agent, other):
    """Optimal values of ``agent`` against ``other`` by value iteration to machine precision."""
    S = model.n_states
    V = np.zeros(S + 1)
    mask = model.action_mask(agent)
    nxt = model.next_state if agent == "H" else model.next_state.transpose(0, 2, 1)
    for _ in range(200):  # 0.6**200 ~ 1e-45
        q = (other[:, None, :] * V[nxt]).sum(axis=-1)  # (S, own action)
        V[:S] = R + gamma * np.where(mask, q, -np.inf).max(axis=1)
    return V[:S]


@pytest.mark.parametrize("collision", ["none", "crash"])
@pytest.mark.parametrize("agent", ["H", "A"])
def test_policy_gap_equals_a_direct_computation(collision, agent):
    model = joint_model("grid3x3", collision)
    rng = np.random.default_rng(3)
    R = rng.uniform(size=(3, model.n_states))
    own_mask, other_mask = model.action_mask(agent), model.action_mask("A" if agent == "H" else "H")
    policy = rng.uniform(size=(3, model.n_states, 5)) * own_mask  # stochastic, arbitrary
    policy /= policy.sum(axis=-1, keepdims=True)
    other = uniform_policy(other_mask)
    gap = policy_gap(model, R, GAMMA, agent, policy, other)
    for k in range(3):
        pair = (policy[k], other) if agent == "H" else (other, policy[k])
        V_pi = _dense_values(model, R[k], GAMMA, *pair)
        V_star = _dense_optimum(model, R[k], GAMMA, agent, other)
        np.testing.assert_allclose(gap[k], (1 - GAMMA) / GAMMA * (V_star - V_pi), atol=1e-5)
    assert (gap > 0.01).mean() > 0.5  # a random policy loses POWER almost everywhere


def test_an_optimal_policy_loses_nothing():
    model = joint_model("grid3x3", "crash")
    R = np.random.default_rng(0).uniform(size=(2, model.n_states))
    other = uniform_policy(model.action_mask_A)
    V = np.stack([_dense_optimum(model, r, GAMMA, "H", other) for r in R])
    q = np.stack([(other[:, None, :] * np.append(v, 0.0)[model.next_state]).sum(-1) for v in V])
    best = greedy_policy(np.where(model.action_mask_H, q, -np.inf), model.action_mask_H)
    np.testing.assert_array_equal(policy_gap(model, R, GAMMA, "H", best, other), 0.0)


def test_train_warns_when_the_agents_are_under_trained(tmp_path, capsys):
    assert main(["train", "--algo", "ppo", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "2",
                 "--timesteps", "2048", "--jobs", "1", "--out", str(tmp_path / "ppo")]) == 0
    captured = capsys.readouterr()
    assert "policy_gap_H:" in captured.out and "policy_gap_A_max:" in captured.out
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: the learned agents")]
    assert len(warnings) == 1 and "--timesteps" in warnings[0]


def test_no_warning_for_qlearning_at_its_defaults(tmp_path, capsys):
    assert main(["train", "--algo", "qlearning", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "8",
                 "--jobs", "1", "--out", str(tmp_path / "q")]) == 0
    captured = capsys.readouterr()
    assert "policy_gap_H:" in captured.out and "warning" not in captured.err


def test_no_eval_says_the_accuracy_is_unchecked(tmp_path, capsys):
    assert main(["train", "--algo", "qlearning", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "2",
                 "--no-eval", "--jobs", "1", "--out", str(tmp_path / "q")]) == 0
    captured = capsys.readouterr()
    assert "policy_gap" not in captured.out
    assert [line for line in captured.err.splitlines() if line.startswith("accuracy unchecked: --no-eval")]


def test_a_given_optimum_gives_the_same_gap():
    """``optimal_q`` from the learners' reference saves the second solve and changes nothing."""
    from multipower.exact.accuracy import optimal_response_q

    model = joint_model("grid3x3", "crash")
    rng = np.random.default_rng(4)
    R = rng.uniform(size=(2, model.n_states))
    policy = rng.uniform(size=(2, model.n_states, 5)) * model.action_mask_H
    policy /= policy.sum(axis=-1, keepdims=True)
    seed = uniform_policy(model.action_mask_A)
    q = optimal_response_q(model, R, GAMMA, "H", seed)
    np.testing.assert_allclose(policy_gap(model, R, GAMMA, "H", policy, seed, optimal_q=q),
                               policy_gap(model, R, GAMMA, "H", policy, seed), atol=1e-5)
