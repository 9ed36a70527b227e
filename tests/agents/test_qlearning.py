"""Batched tabular Q-learning: transitions equal the environment's, accuracy against the exact optimum."""

import numpy as np
import pytest

from multipower.agents.logging import greedy_optimal_fraction
from multipower.exact.accuracy import optimal_response_q
from multipower.envs.policies import greedy_policy, uniform_policy
from multipower.agents.qlearning import _ChunkLearner, train_q
from multipower.agents.qlearning_config import QLearningConfig, default_config
from multipower.agents.qlearning_stages import train_two_stage
from multipower.envs import maze_v1
from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler
from multipower.envs.problem import StageProblem, TwoStageProblem


def test_transition_rows_equal_env_steps():
    """The learner's transition rows are what the PettingZoo env does for every (state, own, other) action."""
    model = joint_model("maze7x7", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=3).pairs(0, 1)
    learner = _ChunkLearner(model, R_H, 0.5, "H", uniform_policy(model.action_mask_A), default_config(0.5), 4,
                            np.random.SeedSequence(0))
    env = maze_v1.parallel_env(model=model, rewards={"H": R_H[0], "A": R_A[0]})
    for s in np.random.default_rng(1).choice(model.n_states, 40, replace=False):
        for a_other in np.flatnonzero(model.action_mask_A[s]):
            for a_h in np.flatnonzero(model.action_mask_H[s]):
                env.reset(options={"joint_state": int(s)})
                _, rewards, terms, _, infos = env.step({"H": int(a_h), "A": int(a_other)})
                expected = infos["H"]["joint_state"]
                assert learner.next_rows[s * 5 + a_other, a_h, 0] == expected
                assert terms["H"] == (expected == model.terminal_state)
                r = 0.0 if expected == model.terminal_state else R_H[0, expected]
                assert rewards["H"] == pytest.approx(r)


def test_kernel_steps_are_reachable_transitions():
    """Each walker step of the compiled kernel lands on a successor the model allows (or restarts an episode)."""
    model = joint_model("maze7x7", "crash")
    R_H, _ = RewardSampler(model.n_states, seed=3).pairs(0, 3)
    config = default_config(0.5, walkers=64, episode_length=10**6)
    seed_policy = uniform_policy(model.action_mask_A)
    learner = _ChunkLearner(model, R_H, 0.5, "H", seed_policy, config, 64, np.random.SeedSequence(0))
    moved_to = set()
    for _ in range(20):
        before = learner.state.copy()
        learner.run(1)
        for s, s2 in zip(before, learner.state):
            successors = {learner.next_rows[s * 5 + o, a, 0] for o in np.flatnonzero(seed_policy[s] > 0)
                          for a in np.flatnonzero(model.action_mask_H[s])}
            # A crash ends the episode and the walker restarts at a uniformly random state.
            assert s2 in successors or model.terminal_state in successors
            moved_to.add(int(s2))
    assert len(moved_to) > 100  # the walkers really explore


def test_exact_reference_matches_definition():
    """optimal_response_q satisfies the Bellman optimality equation with reward on arrival, crash -> 0."""
    model = joint_model("grid3x3", "crash")
    R = RewardSampler(model.n_states, seed=1).pairs(0, 3)[0]
    gamma = 0.7
    pi = uniform_policy(model.action_mask_A)
    q = optimal_response_q(model, R, gamma, "H", pi)
    v = np.concatenate([q.max(-1), np.zeros((3, 1))], axis=1)
    r = np.concatenate([R, np.zeros((3, 1))], axis=1)
    backup = r + gamma * v
    backup[:, -1] = 0.0
    expected = np.einsum("ksab,sb->ksa", backup[:, model.next_state], pi)
    np.testing.assert_allclose(np.where(model.action_mask_H, q, 0), np.where(model.action_mask_H, expected, 0), atol=1e-8)


@pytest.mark.parametrize("collision", ["none", pytest.param("crash", marks=pytest.mark.slow)])
def test_two_stage_grid3x3_accuracy(collision):
    """Grid3x3, γ = 0.6, 50 samples: greedy policies optimal in >= 97% of (sample, state) pairs."""
    model = joint_model("grid3x3", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 50)
    run = train_two_stage(
        TwoStageProblem(model, R_H, R_A, 0.6),
        config_H=default_config(0.6, min_visits=250),
        seed=0,
        reference=optimal_response_q,
    )
    assert run.metrics["greedy_optimal_H"] >= 0.97
    assert run.metrics["greedy_optimal_A"] >= 0.97
    assert run.H.stopped.all() and run.A.stopped.all()
    # A is judged against its optimal response to the learned H it trained against.
    exact_A = optimal_response_q(model, R_A, 0.6, "A", run.policy_H)
    assert greedy_optimal_fraction(run.A.q, exact_A, model.action_mask_A) == run.metrics["greedy_optimal_A"]


def test_single_action_updates_learn_too():
    """Plain Q-learning (only the taken action updated) also converges on a small problem."""
    model = joint_model("grid3x3")
    R_H, _ = RewardSampler(model.n_states, seed=2).pairs(0, 5)
    config = default_config(0.3, all_actions=False, min_visits=200, epsilon_end=1.0)
    res = train_q(StageProblem(model, R_H, 0.3, "H"), config=config, seed=0)
    exact = optimal_response_q(model, R_H, 0.3, "H", uniform_policy(model.action_mask_A))
    assert greedy_optimal_fraction(res.q, exact, model.action_mask_H) >= 0.9


def test_deterministic_opponent_converges_exactly():
    """Against a deterministic other agent transitions are deterministic: values converge to the optimum."""
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=4).pairs(0, 5)
    stay = np.zeros((model.n_states, 5))
    stay[:, 0] = 1.0
    res = train_q(StageProblem(model, R_A, 0.5, "A", stay), seed=0)
    exact = optimal_response_q(model, R_A, 0.5, "A", stay)
    assert greedy_optimal_fraction(res.q, exact, model.action_mask_A) >= 0.98
    np.testing.assert_allclose(res.q.max(-1), exact.max(-1), atol=2e-2)


def test_seed_fixes_everything():
    model = joint_model("grid3x3")
    R_H, _ = RewardSampler(model.n_states, seed=0).pairs(0, 3)
    config = default_config(0.6, max_steps=300, min_visits=10**9)
    a = train_q(StageProblem(model, R_H, 0.6), config=config, seed=7)
    b = train_q(StageProblem(model, R_H, 0.6), config=config, seed=7)
    c = train_q(StageProblem(model, R_H, 0.6), config=config, seed=8)
    np.testing.assert_array_equal(a.q, b.q)
    assert not np.array_equal(a.q, c.q)


def test_config_validation():
    with pytest.raises(ValueError, match="lr_omega"):
        QLearningConfig(lr_omega=0.4)
    with pytest.raises(ValueError, match="dtype"):
        QLearningConfig(dtype="float16")
    with pytest.raises(ValueError, match="gamma"):
        default_config(1.0)
    model = joint_model("grid3x3")
    with pytest.raises(ValueError, match="rewards"):
        train_q(StageProblem(model, np.zeros((2, 5)), 0.5))


def test_greedy_policy_of_result_is_valid():
    model = joint_model("grid3x3", "crash")
    R_H, _ = RewardSampler(model.n_states, seed=0).pairs(0, 2)
    res = train_q(StageProblem(model, R_H, 0.5), config=default_config(0.5, max_steps=200, min_visits=10**9), seed=0)
    policy = res.greedy(model.action_mask_H)
    assert policy.shape == (2, model.n_states, 5)
    np.testing.assert_allclose(policy.sum(-1), 1.0)
    assert (policy[:, ~model.action_mask_H] == 0).all()
    np.testing.assert_array_equal(policy, greedy_policy(res.q, model.action_mask_H))


def test_epsilon_schedule():
    """ε falls linearly from epsilon_start to epsilon_end over the decay horizon, then stays (kernel and logs)."""
    from multipower.agents._qkernel import epsilon_at

    assert [epsilon_at(step, 1.0, 0.8, 100.0) for step in (0, 50, 100, 400)] == pytest.approx([1.0, 0.9, 0.8, 0.8])
    assert epsilon_at(0, 1.0, 0.8, 0.0) == 0.8  # no decay horizon: epsilon_end from the start
