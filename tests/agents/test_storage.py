"""Saving and loading trained agents."""

import json

import numpy as np
import pytest

from multipower.agents.storage import TrainedAgents, load_agents, save_agents
from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler
from multipower.learned import train_agents
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution


def test_learn_save_load_roundtrip(tmp_path):
    from multipower.exact.accuracy import optimal_response_q

    R_H, R_A = RewardSampler(81, seed=5).pairs(0, 3)
    agents = train_agents("qlearning", TwoStageProblem(joint_model("grid3x3"), R_H, R_A, 0.5, 0.5), seed=5,
                          options={"min_visits": 50}, execution=Execution(jobs=1), tensorboard=str(tmp_path / "tb"),
                          reference=optimal_response_q)
    np.testing.assert_array_equal(agents.R_H, R_H)
    np.testing.assert_array_equal(agents.R_A, R_A)
    save_agents(tmp_path / "run", agents)
    loaded = load_agents(tmp_path / "run")
    for name in ("policy_H", "policy_A", "R_H", "R_A", "q_H", "q_A"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(agents, name))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    for key in ("algo", "train_seed", "train_options", "hyperparameters", "n_jobs", "chunk", "timings", "metrics"):
        assert key in config
    assert config["algo"] == "qlearning" and 0.0 <= config["metrics"]["greedy_optimal_H"] <= 1.0
    assert list((tmp_path / "tb").iterdir())  # TensorBoard events were written
    # Solver convention: q = R(s) + γ Q_env, and the policy is greedy in it.
    greedy = np.where(loaded.policy_H > 0, 1, 0).argmax(-1)
    assert (greedy == np.nan_to_num(loaded.q_H, neginf=-1e9).argmax(-1)).mean() > 0.99


def test_save_validates(tmp_path):
    policy = np.full((2, 4, 5), 0.2)
    with pytest.raises(ValueError, match="missing"):
        save_agents(tmp_path, policy, policy, np.zeros((2, 4)), np.zeros((2, 4)), {"algo": "qlearning"})
    with pytest.raises(ValueError, match="R_A"):
        TrainedAgents(policy, policy, np.zeros((2, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="not a saved-agents"):
        load_agents(tmp_path / "nothing")
