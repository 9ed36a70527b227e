"""SingleAgentView and the single-agent maze: Gymnasium and stable-baselines3 checks, other policies, registration."""

import itertools
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from multipower import envs
from multipower.envs.policies import TabularPolicy, stay_policy, uniform_policy
from multipower.envs import maze_v1
from multipower.envs.model import COLLISIONS
from multipower.envs.single_agent import SingleAgentView
from multipower.envs.single_maze import SingleMazeEnv

CASES = list(itertools.product(COLLISIONS, ("index", "vector"), ("H", "A")))


def _view(collision="none", obs_type="index", agent="H", layout="maze7x7", **kwargs):
    par = maze_v1.parallel_env(layout=layout, collision=collision, obs_type=obs_type, max_cycles=40, **kwargs)
    return SingleAgentView(par, agent=agent)


@pytest.mark.parametrize("collision,obs_type,agent", CASES)
def test_gymnasium_and_sb3_checkers(collision, obs_type, agent):
    view = gymnasium.make(
        f"multipower/JointMaze-{agent}-v1",
        layout="maze7x7",
        collision=collision,
        obs_type=obs_type,
        max_cycles=40,
        render_mode="rgb_array",
    ).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        gym_check_env(view, skip_render_check=False)
    sb3_check_env(_view(collision, obs_type, agent), warn=True)


@pytest.mark.parametrize("obs_type", ["index", "vector"])
def test_checkers_with_mask_in_observation(obs_type):
    gym_check_env(_view(obs_type=obs_type, action_mask_in_obs=True), skip_render_check=True)
    sb3_check_env(_view(obs_type=obs_type, action_mask_in_obs=True))


@pytest.mark.parametrize("obs_type", ["index", "vector"])
def test_single_maze_checkers(obs_type):
    env = gymnasium.make("multipower/Maze-v1", layout="maze7x7", obs_type=obs_type, render_mode="ansi").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env, skip_render_check=False)
    sb3_check_env(SingleMazeEnv(layout="maze7x7", obs_type=obs_type))


def test_view_steps_the_joint_env_with_the_other_policy():
    """The other agent's actions, drawn by the view, give the model's next state; rewards are the learner's."""
    par = maze_v1.parallel_env(layout="maze7x7", collision="crash", max_cycles=200)
    view = SingleAgentView(par, agent="A")
    model = par.model
    obs, info = view.reset(seed=1)
    steps = 0
    while True:
        s = view.joint_state
        assert np.array_equal(view.action_masks(), model.action_mask_A[s])
        action = int(view.action_space.sample(info["action_mask"]))
        obs, reward, terminated, truncated, info = view.step(action)
        other = info["other_action"]
        assert model.action_mask_H[s, other]  # uniform seed policy: only available moves
        assert view.joint_state == model.next_state[s, other, action]
        if terminated:
            assert reward == 0.0
        else:
            assert int(obs) == view.joint_state and reward == par.reward_tables["A"][view.joint_state]
        steps += 1
        if terminated or truncated:
            break
    assert steps == 200 or terminated


def test_default_other_policy_is_uniform_over_available_actions():
    view = _view(layout="grid3x3")
    view.reset(seed=0)
    corner = {"H": (1, 1), "A": (0, 0)}  # A in a corner: stay, down, right available
    n = 3000
    counts = np.zeros(5)
    for _ in range(n):
        view.reset(options={"cells": corner})
        counts[view.step(0)[4]["other_action"]] += 1
    assert counts[[1, 3]].sum() == 0
    p = 1 / 3
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts[[0, 2, 4]] / n - p) < 5 * se)


def test_other_policy_forms():
    par = maze_v1.parallel_env(layout="grid3x3")
    mask_a = par.model.action_mask_A
    stay = stay_policy(mask_a)
    for policy in (stay, TabularPolicy(stay, mask_a), lambda state, rng: 0):
        view = SingleAgentView(par, agent="H", other_policy=policy)
        view.reset(seed=0)
        cells = par.cells["A"]
        for _ in range(5):
            assert view.step(int(view.action_space.sample(view.action_masks().astype(np.int8))))[4]["other_action"] == 0
        assert par.cells["A"] == cells
    view.set_other_policy(uniform_policy(mask_a))
    view.reset(seed=0)
    assert {view.step(0)[4]["other_action"] for _ in range(30)} != {0}


def test_bad_other_policies_and_actions():
    par = maze_v1.parallel_env(layout="grid3x3")
    with pytest.raises(ValueError, match="other_policy"):
        SingleAgentView(par, other_policy=np.full((81, 5), 0.2))  # mass on walls
    with pytest.raises(ValueError, match="other_policy"):
        SingleAgentView(par, other_policy=np.full((9, 5), 0.2))
    with pytest.raises(ValueError, match="other_policy"):
        SingleAgentView(par, other_policy=TabularPolicy(np.full((9, 5), 0.2)))
    with pytest.raises(ValueError, match="other_policy"):
        SingleAgentView(par, other_policy="random")
    with pytest.raises(ValueError, match="agent"):
        SingleAgentView(par, agent="B")
    with pytest.raises(ValueError, match="parallel_env"):
        SingleAgentView(maze_v1.env(), agent="H")
    view = SingleAgentView(par, other_policy=lambda s, rng: 7)
    view.reset(seed=0)
    with pytest.raises(ValueError, match="other_policy's action"):
        view.step(0)
    view = SingleAgentView(par)
    view.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        view.step(5)


def test_seeded_view_episodes_repeat():
    def run(seed):
        view = _view(collision="crash")
        obs, info = view.reset(seed=seed)
        out = [int(obs)]
        for t in range(30):
            obs, r, term, trunc, info = view.step(t % 5)
            out.append((int(obs), r, info["other_action"]))
            if term or trunc:
                break
        return out

    assert run(7) == run(7) and run(7) != run(8)


def test_registered_ids():
    assert set(envs.ENV_IDS) <= set(gymnasium.registry)
    maze = gymnasium.make("multipower/Maze-v1", layout="grid3x3", max_episode_steps=5)
    obs, info = maze.reset(seed=0)
    assert maze.observation_space.n == 9 and 0 <= obs < 9
    for agent in ("H", "A"):
        env = gymnasium.make(f"multipower/JointMaze-{agent}-v1", layout="maze7x7", collision="crash", obs_type="vector")
        obs, info = env.reset(seed=0)
        assert obs.shape == (62,) and env.unwrapped.agent == agent
        assert env.unwrapped.action_masks().dtype == bool
        gym_check_env(env.unwrapped)


def test_single_maze_dynamics_and_rewards():
    env = SingleMazeEnv(layout="maze7x7", rewards=np.arange(31.0), max_cycles=3, render_mode="ansi")
    obs, info = env.reset(options={"cell": (0, 0)})
    assert int(obs) == 0 and np.array_equal(info["action_mask"], [1, 0, 1, 0, 1])
    obs, reward, term, trunc, info = env.step(4)  # right
    assert env.layout.cells[int(obs)].tolist() == [0, 1] and reward == 1.0 and not trunc
    obs, reward, term, trunc, info = env.step(1)  # up into the edge: invalid, stays
    assert info["invalid_action"] and reward == 1.0
    _, _, term, trunc, _ = env.step(0)
    assert trunc and not term
    assert env.render().splitlines()[0] == ".@....."
    strict = SingleMazeEnv(layout="maze7x7", strict=True)
    strict.reset(options={"state": 0})
    with pytest.raises(ValueError, match="unavailable"):
        strict.step(1)
    with pytest.raises(ValueError, match="rewards"):
        SingleMazeEnv(layout="grid3x3", rewards=np.zeros(8))
    with pytest.raises(ValueError, match="state"):
        strict.reset(options={"state": 31})
