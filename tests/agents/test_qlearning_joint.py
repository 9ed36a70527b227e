"""Joint-action values: Q-learning that learns Q(s, a, o) over the other agent's moves and acts on their expectation
under the other agent's fixed policy (multipower.agents.qlearning, "Joint-action values"), the default at long
horizons where every move has one outcome."""

from dataclasses import replace

import numpy as np
import pytest

from multipower.agents.logging import greedy_optimal_fraction, value_gap
from multipower.agents.qlearning import train_q
from multipower.agents.qlearning_config import QLearningConfig, default_config
from multipower.envs.model import joint_model
from multipower.envs.policies import uniform_policy
from multipower.envs.problem import StageProblem
from multipower.envs.rewards import RewardSampler
from multipower.exact.accuracy import optimal_response_q


def test_long_horizon_defaults_follow_the_world():
    joint = default_config(0.99, deterministic_moves=True)
    assert joint.joint_values and joint.vr_start == 0 and joint.min_visits == 2000 and joint.lr_scale == 0.0
    # a world whose moves may slip keeps the variance-reduced targets
    noisy = default_config(0.99)
    assert not noisy.joint_values and noisy.vr_start == 2000 and noisy.min_visits == 15_000
    # against a deterministic other agent, and at shorter horizons, nothing changes
    frozen = default_config(0.99, deterministic_other=True, deterministic_moves=True)  # A against greedy H
    assert not frozen.joint_values and frozen.lr_scale == 0.0 and frozen.min_visits == 3000
    assert default_config(0.99, deterministic_other=True).lr_scale is None
    assert default_config(0.9, deterministic_moves=True) == default_config(0.9)
    # asking for variance reduction, or for no joint values, gives the variance-reduced defaults
    assert not default_config(0.99, deterministic_moves=True, vr_start=1000).joint_values
    assert default_config(0.99, deterministic_moves=True, joint_values=False) == noisy
    # joint values asked for where variance reduction is the default turn it off; both at once are refused
    asked = default_config(0.99, joint_values=True)
    assert asked.joint_values and asked.vr_start == 0 and asked.min_visits == 15_000
    with pytest.raises(ValueError, match=r"^joint_values must be true or false, and false with vr_start > 0"):
        QLearningConfig(joint_values=True, vr_start=100)
    with pytest.raises(ValueError, match=r"^joint_values must be true or false"):
        QLearningConfig(joint_values=1)


def test_saved_settings_without_joint_values_are_unchanged():
    """Runs saved before the field existed keep their settings (and chunk keys): it is written only when on."""
    assert "joint_values" not in default_config(0.6).to_dict()
    assert default_config(0.99, deterministic_moves=True).to_dict()["joint_values"] is True
    assert QLearningConfig(**default_config(0.99, deterministic_moves=True).to_dict()).joint_values


@pytest.mark.parametrize("collision", ["none", "crash"])
def test_joint_values_learn_the_exact_values_against_the_random_seed(collision):
    """grid3x3 at γ = 0.99 against the uniform seed: the defaults (joint values) find H's optimal action at every
    joint state and its values to 0.05 on a scale of up to 100 (rewards in [0, 1]); variance-reduced targets at
    the same number of steps are far less exact."""
    model = joint_model("grid3x3", collision)
    R, _ = RewardSampler(model.n_states, seed=3).pairs(0, 4)
    problem = StageProblem(model, R, 0.99, "H", uniform_policy(model.action_mask_A))
    exact_env = optimal_response_q(model, R, 0.99, "H", uniform_policy(model.action_mask_A))  # Q_env, as learned
    learned = train_q(problem, seed=1)  # the defaults of this world and discount
    assert learned.stopped.all()
    assert greedy_optimal_fraction(learned.q, exact_env, model.action_mask_H) == 1.0
    gap = value_gap(learned.q, exact_env, model.action_mask_H)
    assert gap <= 0.05, gap
    steps = int(learned.steps.max())
    vr = default_config(0.99, min_visits=0, max_steps=steps, check_every=steps)
    recentred = train_q(problem, config=vr, seed=1)
    assert value_gap(recentred.q, exact_env, model.action_mask_H) > 3 * gap


def test_joint_value_runs_do_not_depend_on_the_split():
    model = joint_model("grid3x3", "crash")
    R, _ = RewardSampler(model.n_states, seed=7).pairs(0, 3)
    config = default_config(0.99, deterministic_moves=True, min_visits=200, max_steps=2000, check_every=25)
    problem = StageProblem(model, R, 0.99)
    together = train_q(problem, config=config, seed=2)
    apart = train_q(problem, config=replace(config, chunk_size=1), seed=2)
    np.testing.assert_array_equal(together.q, apart.q)
    assert not np.array_equal(together.q, train_q(problem, config=replace(config, joint_values=False), seed=2).q)


def test_slip_keeps_the_variance_reduced_defaults():
    """A move that may slip has several outcomes: the targets stay noisy, so the defaults keep variance reduction
    (joint values alone measured worse there: docs/learning.md#q-learning)."""
    from multipower.learned.training import learner_settings

    model = joint_model("grid3x3", "crash", slip=0.1)
    seed = uniform_policy(model.action_mask_A)
    config_H, config_A = learner_settings("qlearning", {"max_steps": 10}, 0.99, 0.99, seed, model)
    assert not config_H.joint_values and config_H.vr_start > 0
    config_H, _ = learner_settings("qlearning", {"max_steps": 10}, 0.99, 0.99, seed, joint_model("grid3x3"))
    assert config_H.joint_values


def test_a_bad_joint_values_option_gets_one_line():
    from multipower.learned.training import learner_settings
    from multipower.runs.spec import SpecError

    model = joint_model("grid3x3")
    with pytest.raises(SpecError, match=r"^--option joint_values must be true or false"):
        learner_settings("qlearning", {"joint_values": 2}, 0.99, 0.99, uniform_policy(model.action_mask_A), model)
    with pytest.raises(SpecError, match=r"^--option lr_scale must be >= 0 or None, got -1"):
        learner_settings("qlearning", {"lr_scale": -1}, 0.99, 0.99, uniform_policy(model.action_mask_A), model)
