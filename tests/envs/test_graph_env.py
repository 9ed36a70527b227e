"""The MDP-graph Gymnasium environment and tabular Q-learning on graphs, held to the exact solver."""

from pathlib import Path

import gymnasium
import numpy as np
from gymnasium.utils.env_checker import check_env

import multipower.envs  # noqa: F401  (registers the ids)
from multipower.agents.graph_qlearning import learn_graph_q
from multipower.envs.graph_mdp import load_graph_mdp
from multipower.envs.rewards import RewardSampler
from multipower.exact.solver import power_from_next, solve_mdp

FIXTURES = Path(__file__).resolve().parents[2] / "envs" / "graphs"  # the packaged example graphs


def test_registered_env_passes_check_env_and_follows_the_weights():
    env = gymnasium.make("multipower/GraphMDP-v0", mdp=str(FIXTURES / "three_states.gv"))
    check_env(env.unwrapped)
    obs, info = env.reset(seed=0, options={"state": 0})
    assert obs == 0 and info["action_mask"].tolist() == [1, 1]
    arrivals = []
    for _ in range(4000):  # "go" from a: b with 1/4, c with 3/4
        env.reset(options={"state": 0})
        arrivals.append(env.step(0)[0])
    share = np.mean(np.array(arrivals) == 1)
    assert abs(share - 0.25) <= 4 * np.sqrt(0.25 * 0.75 / 4000)
    env.reset(options={"state": 2})
    obs, reward, *_, info = env.step(1)  # c has one action: slot 1 is padding and acts as slot 0
    assert info["invalid_action"] and obs == 0 and reward == env.unwrapped.rewards[0]


def test_q_learning_matches_exact_power():
    mdp = load_graph_mdp(FIXTURES / "three_states.gv")
    R = RewardSampler(mdp.n_states, seed=0).pairs(0, 20)[0]
    learned = learn_graph_q(mdp, R, 0.6, n_steps=5000, seed=1).power
    exact = power_from_next(solve_mdp(mdp, R, 0.6).W, 0.6)
    # documented tolerance: 0.02 per sample and state after 5,000 steps of 16 walkers on this 3-state graph
    assert np.abs(learned - exact).max() <= 0.02
