"""Bad arguments to the environments' Python API: one ``ValueError`` naming the argument, never a silent wrong
answer (a negative index read from the end, a seed dropped, a size rounded) nor an ``AssertionError``."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.envs import maze_v1
from multipower.envs.single_maze import SingleMazeEnv


@pytest.mark.parametrize("state", [-1, 10**6, 2.0, True, "3"])
def test_observe_state_takes_a_joint_state_only(state):
    env = maze_v1.parallel_env()
    with pytest.raises(ValueError, match="joint_state must be an integer in \\[0, 81\\)"):
        env.observe_state(state)
    assert env.observe_state(80) is not None


def test_rewards_and_reward_seed_together_are_refused():
    tables = {"H": np.zeros(81), "A": np.zeros(81)}
    with pytest.raises(ValueError, match="rewards or reward_seed, not both"):
        maze_v1.parallel_env(rewards=tables, reward_seed=3)
    with pytest.raises(ValueError, match="rewards or reward_seed, not both"):
        SingleMazeEnv(rewards=np.zeros(9), reward_seed=3)
    assert maze_v1.parallel_env(rewards=tables).reward_seed is None
    assert maze_v1.parallel_env().reward_seed == 0


@pytest.mark.parametrize("cell_px", [2.5, 2, True, "8", 10**6])
def test_cell_px_is_a_fitting_integer(cell_px):
    with pytest.raises(ValueError, match="cell_px must be"):
        maze_v1.parallel_env(cell_px=cell_px)
    with pytest.raises(ValueError, match="cell_px must be"):
        SingleMazeEnv(cell_px=cell_px)


def test_aec_step_none_for_a_live_agent_is_one_clear_error():
    env = maze_v1.env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="None is only for an agent that is done; H is live"):
        env.step(None)
    with pytest.raises(ValueError, match="action of H must be an integer in \\[0, 5\\)"):
        env.step(7)
    env.step(4)  # a valid action still goes through
    assert env.agent_selection == "A"
