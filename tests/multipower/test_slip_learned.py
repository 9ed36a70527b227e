"""Slip (docs/concepts.md#slip) in the learners and the learned estimator: they sample the moves the model's
transition distribution gives, so their estimates agree with the exact solver within their noise."""

import numpy as np
import pytest

from multipower.agents.qlearning import train_q
from multipower.agents.qlearning_config import QLearningConfig
from multipower.envs.model import joint_model
from multipower.envs.policies import uniform_policy
from multipower.exact.accuracy import optimal_response_q
from multipower.learned.compare import compare
from multipower.learned.estimator import PolicyRollout
from multipower.exact.solver import evaluate_policies
from multipower.envs.problem import StageProblem, TwoStageProblem
from multipower.learned.estimator import Rollouts
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec


def test_rollouts_with_slip_match_exact_evaluation_within_standard_errors():
    model = joint_model("grid3x3", "crash", 0.3)
    rng = np.random.default_rng(0)
    K = 40  # copies of one task: the per-copy rollout means are iid, so their spread is the rollout noise
    R_H, R_A = np.tile(rng.random(model.n_states), (K, 1)), np.tile(rng.random(model.n_states), (K, 1))
    pol_H = np.eye(5)[np.where(model.action_mask_H[:, 4], 4, 0)]  # deterministic: right where possible, else stay
    pol_A = uniform_policy(model.action_mask_A)
    rollout = PolicyRollout(TwoStageProblem(model, R_H, R_A, 0.6), pol_H, pol_A, rollouts=Rollouts(seed=1))
    assert rollout.plan.n_rollouts > 1  # slip makes even deterministic policies' rollouts random
    power_H, power_A = rollout.per_sample()
    V_H, V_A = evaluate_policies(TwoStageProblem(model, R_H[:1], R_A[:1], 0.6, 0.6), pol_H, pol_A)
    for samples, V, R in ((power_H, V_H, R_H), (power_A, V_A, R_A)):
        exact = 0.4 / 0.6 * (V[0] - R[0])
        se = samples.std(0, ddof=1) / np.sqrt(K)
        assert np.all(np.abs(samples.mean(0) - exact) <= 4.5 * se + rollout.plan.truncation_H + 1e-4)


def test_qlearning_learns_the_slipped_action_values():
    model = joint_model("grid3x3", "none", 0.5)
    R = np.random.default_rng(2).random((2, model.n_states))
    seed = uniform_policy(model.action_mask_A)
    config = QLearningConfig(min_visits=4000, max_steps=60_000, episode_length=5)
    learned = train_q(StageProblem(model, R, 0.6, "H", seed), config, seed=3).q
    exact = optimal_response_q(model, R, 0.6, "H", seed)
    deterministic = optimal_response_q(joint_model("grid3x3", "none"), R, 0.6, "H", seed)
    mask = np.broadcast_to(model.action_mask_H, learned.shape)
    error = np.abs(learned[mask] - exact[mask]).max()
    assert error < 0.03
    assert np.abs(deterministic[mask] - exact[mask]).max() > 5 * error  # the test tells the two worlds apart


def test_compare_with_slip_at_small_scale():
    spec = RunSpec("grid3x3", gamma_H=0.6, learner="qlearning", n_samples=4, collision="crash", slip=0.2)
    comparison = compare(spec, rollouts=Rollouts(n_rollouts=32), execution=Execution(jobs=1))
    m = comparison.metrics
    assert comparison.config["slip"] == 0.2
    for agent in "HA":
        assert m[f"mean_abs_learning_error_{agent}"] < 0.01
        assert m[f"mean_abs_rollout_noise_{agent}"] < 0.03


def test_batched_ppo_steps_by_the_slipped_model():
    torch = pytest.importorskip("torch")
    from multipower.agents.ppo import Batch

    model = joint_model("grid3x3", "bounce", 0.5)
    batch = Batch(model, np.zeros((1, model.n_states)), "H", None, "index", torch.device("cpu"))
    E, s = 20_000, model.joint_state(3, 4)
    gen = torch.Generator().manual_seed(0)
    states = torch.full((1, E), s)
    actions, other = torch.full((1, E), 4), torch.full((1, E), 3)
    reached, *_ = batch.step(states, actions, other, torch.zeros((1, E), dtype=torch.int64), 100,
                             torch.rand((1, E), generator=gen), torch.rand((1, E), generator=gen))
    counts = np.bincount(reached.numpy().ravel(), minlength=model.n_states + 1)
    probs = np.zeros(model.n_states + 1)
    np.add.at(probs, model.next_state[s].ravel(), model.transition_weights(np.asarray(s), np.asarray(4),
                                                                           np.asarray(3)).ravel())
    se = np.sqrt(probs * (1 - probs) / E) + 1e-12
    assert np.all(np.abs(counts / E - probs) <= 4.5 * se) and not counts[probs == 0].any()
