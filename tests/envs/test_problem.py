"""TwoStageProblem and StageProblem: what a solve or a training run is about, checked once."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.envs.joint_graph import load_joint_graph
from multipower.envs.model import joint_model
from multipower.envs.policies import stay_policy, uniform_policy
from multipower.envs.problem import StageProblem, TwoStageProblem
from multipower.envs.rewards import RewardDraws, RewardSampler


@pytest.fixture
def crash():
    model = joint_model("grid3x3", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=4).pairs(0, 5)
    return model, R_H, R_A


def test_the_problem_holds_checked_values(crash):
    model, R_H, R_A = crash
    problem = TwoStageProblem(model, R_H.tolist(), R_A, 0.9)
    assert problem.gamma_A == 0.9 and problem.n_samples == 5 and problem.n_states == model.n_states
    assert isinstance(problem.R_H, np.ndarray) and problem.R_H.dtype == np.float64
    np.testing.assert_array_equal(problem.seed_table(), uniform_policy(model.action_mask_A))
    np.testing.assert_array_equal(TwoStageProblem(model, R_H, R_A, 0.9, seed_policy="stay").seed_table(),
                                  stay_policy(model.action_mask_A))
    one = TwoStageProblem(model, R_H[0], R_A[0], 0.5, 0.7)
    assert one.R_H.shape == (1, model.n_states) and one.gamma_A == 0.7


def test_the_seed_table_is_checked_once_and_kept_as_a_read_only_copy(crash):
    model, R_H, R_A = crash
    table = uniform_policy(model.action_mask_A)
    problem = TwoStageProblem(model, R_H, R_A, 0.9, seed_policy=table)
    table[:] = 0.0  # the caller's array changing later does not change the problem
    kept = problem.seed_table()
    assert kept is problem.seed_table() and not kept.flags.writeable
    np.testing.assert_array_equal(kept, uniform_policy(model.action_mask_A))


@pytest.mark.parametrize("change, name", [
    (dict(gamma_H=1.0), "gamma_H"), (dict(gamma_H=0.0), "gamma_H"), (dict(gamma_A=1.5), "gamma_A"),
    (dict(R_A="short"), "R_A"), (dict(R_H="nan"), "R_H"), (dict(R_A="rows"), "R_H and R_A must have the same shape"),
    (dict(seed_policy="random"), "seed_policy"), (dict(seed_policy=np.ones((3, 5)) / 5), "seed_policy"),
])
def test_a_bad_field_is_named(crash, change, name):
    model, R_H, R_A = crash
    values = dict(model=model, R_H=R_H, R_A=R_A, gamma_H=0.6)
    bad = {"short": R_A[:, :5], "nan": np.where(R_H > 0.5, np.nan, R_H), "rows": R_A[:3]}
    values.update({key: bad.get(value, value) if isinstance(value, str) and key.startswith("R_") else value
                   for key, value in change.items()})
    with pytest.raises(ValueError, match=name):
        TwoStageProblem(**values)


def test_rows_and_stages(crash):
    model, R_H, R_A = crash
    problem = TwoStageProblem(model, R_H, R_A, 0.6, 0.8, seed_policy="stay")
    part = problem.rows(1, 3)
    np.testing.assert_array_equal(part.R_A, R_A[1:3])
    assert (part.gamma_H, part.gamma_A, part.seed_policy) == (0.6, 0.8, "stay")
    h = problem.stage("H")
    assert (h.agent, h.other, h.gamma) == ("H", "A", 0.6)
    np.testing.assert_array_equal(h.other_policy, stay_policy(model.action_mask_A))
    frozen = np.broadcast_to(uniform_policy(model.action_mask_H), (5, model.n_states, 5))
    a = problem.stage("A", frozen)
    np.testing.assert_array_equal(a.rewards, R_A)
    assert a.gamma == 0.8 and a.rows(2, 4).other_policy.shape == (2, model.n_states, 5)
    with pytest.raises(ValueError, match="other_policy"):
        problem.stage("A")


def test_a_joint_graph_is_a_world_too():
    graph = load_joint_graph("joint_grid2x2_crash")
    R_H, R_A = RewardSampler(graph.n_states, seed=0).pairs(0, 2)
    problem = TwoStageProblem(graph, R_H, R_A, 0.9)
    assert problem.seed_table().shape == graph.action_mask_A.shape
    with pytest.raises(ValueError, match="seed_policy"):
        TwoStageProblem(graph, R_H, R_A, 0.9, seed_policy="sideways")


def test_a_stage_defaults_to_the_uniform_other_and_checks_its_fields(crash):
    model, R_H, _ = crash
    stage = StageProblem(model, R_H, 0.7)
    assert (stage.agent, stage.n_samples) == ("H", 5)
    np.testing.assert_array_equal(stage.other_policy, uniform_policy(model.action_mask_A))
    for values, name in ((dict(agent="B"), "agent"), (dict(gamma=2.0), "gamma"),
                         (dict(other_policy=np.ones((model.n_states, 5))), "other_policy"),
                         (dict(rewards=R_H[:, :3]), "rewards")):
        with pytest.raises(ValueError, match=name):
            StageProblem(**{"model": model, "rewards": R_H, "gamma": 0.7, **values})


def test_reward_draws_are_the_sampler_of_a_world():
    draws = RewardDraws(6, "beta", 0.5, seed=3)
    R_H, R_A = draws.sampler(81).pairs(0, 6)
    np.testing.assert_array_equal(R_H, RewardSampler(81, "beta", 0.5, 3).pairs(0, 6)[0])
    with pytest.raises(ValueError, match="correlation"):
        RewardDraws(correlation=2.0).sampler(81)
