"""The environments as other libraries use them: pickling (process pools, clusters), Gymnasium's and
stable-baselines3's checkers on every registered id, registration on ``import multipower``."""

import pickle
import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from multipower import envs
from multipower.envs import maze_v1
from multipower.envs.maze_v1 import DEFAULT_MAX_CYCLES
from multipower.envs.model import COLLISIONS
from multipower.envs.registration import MAX_EPISODE_STEPS
from multipower.envs.single_agent import SingleAgentView
from multipower.envs.single_maze import SingleMazeEnv

PETTINGZOO_FORMS = {
    "parallel_env": lambda **kw: maze_v1.parallel_env(**kw),
    "env": lambda **kw: maze_v1.env(**kw),
    "raw_env": lambda **kw: maze_v1.raw_env(**kw),
}


def _play_parallel(env, steps, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        if not env.agents:
            out.append(("reset", env.reset()[1]["H"]["joint_state"]))
            continue
        actions = {agent: int(rng.integers(5)) for agent in env.agents}
        obs, rew, term, trunc, info = env.step(actions)
        out.append((info["H"]["joint_state"], rew["H"], rew["A"], term["H"], trunc["H"]))
    return out


def _play_aec(env, steps, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        if not env.agents:
            env.reset()
        obs, reward, term, trunc, info = env.last()
        env.step(None if term or trunc else int(rng.integers(5)))
        out.append((env.agent_selection, float(reward), bool(term), bool(trunc), info.get("joint_state")))
    return out


def _play_gym(env, steps, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        obs, reward, term, trunc, info = env.step(int(rng.integers(5)))
        out.append((np.asarray(obs).tolist(), reward, term, trunc))
        if term or trunc:
            out.append(np.asarray(env.reset()[0]).tolist())
    return out


@pytest.mark.parametrize("form", list(PETTINGZOO_FORMS))
@pytest.mark.parametrize("collision", COLLISIONS)
@pytest.mark.parametrize("obs_type", ["index", "vector"])
def test_pettingzoo_forms_pickle_to_an_equal_env(form, collision, obs_type):
    env = PETTINGZOO_FORMS[form](layout="maze7x7", collision=collision, obs_type=obs_type, max_cycles=15,
                                 reward_distribution={"name": "beta", "a": 2, "b": 2}, reward_correlation=-0.5)
    fresh = pickle.loads(pickle.dumps(env))  # before any reset
    assert type(fresh) is type(env)
    env.reset(seed=3)
    fresh.reset(seed=3)
    play = _play_parallel if form == "parallel_env" else _play_aec
    play(env, 7, 0)
    play(fresh, 7, 0)
    copy = pickle.loads(pickle.dumps(env))  # mid-episode: the same state and generator
    for a in "HA":
        assert np.array_equal(env.unwrapped.reward_tables[a], copy.unwrapped.reward_tables[a])
    assert play(copy, 60, 1) == play(env, 60, 1) == play(fresh, 60, 1)


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_registered_ids_pickle_to_an_equal_env(env_id):
    env = gymnasium.make(env_id, layout="maze7x7", obs_type="vector", render_mode="rgb_array_list")
    env.reset(seed=0)
    _play_gym(env, 5, 0)
    copy = pickle.loads(pickle.dumps(env))
    assert str(copy) == str(env)
    assert _play_gym(copy, 150, 1) == _play_gym(env, 150, 1)
    assert len(copy.render()) == len(env.render()) > 0


def test_direct_gymnasium_envs_pickle():
    for env in (SingleMazeEnv(layout="maze7x7", max_cycles=20),
                SingleAgentView(maze_v1.parallel_env(collision="crash", max_cycles=20), agent="A")):
        env.reset(seed=1)
        copy = pickle.loads(pickle.dumps(env))
        assert _play_gym(copy, 50, 2) == _play_gym(env, 50, 2)


def test_reward_distributions_pickle_and_compare_equal():
    from multipower.envs.rewards import DISTRIBUTIONS, make_distribution

    for name in DISTRIBUTIONS:
        dist = make_distribution(name)
        assert pickle.loads(pickle.dumps(dist)) == dist == make_distribution(name)
        rng_a, rng_b = np.random.default_rng(0), np.random.default_rng(0)
        assert np.array_equal(dist.sample(rng_a, (3, 4)), pickle.loads(pickle.dumps(dist)).sample(rng_b, (3, 4)))


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("render_mode", [None, "human", "ansi", "rgb_array", "rgb_array_list"])
def test_checkers_on_every_registered_id(env_id, render_mode, capsys):
    env = gymnasium.make(env_id, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning fails the test
        warnings.filterwarnings("ignore", message=".*environment .* is different from the unwrapped version")
        gym_check_env(env.unwrapped, skip_render_check=render_mode is None)
        # Gymnasium's render check remakes the env with the spec's render mode, which for "rgb_array_list" is
        # the unwrapped env's "rgb_array" under RenderCollection (checked above); the frames are checked below.
        gym_check_env(env, skip_render_check=render_mode in (None, "rgb_array_list"))
    sb3_check_env(env, warn=True)
    env.reset(seed=0)
    env.step(0)
    frame = env.render() if render_mode else None
    if render_mode == "rgb_array_list":
        assert isinstance(frame, list) and frame[-1].dtype == np.uint8 and frame[-1].ndim == 3
    elif render_mode == "human":
        assert frame is None and "." in capsys.readouterr().out


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
@pytest.mark.parametrize("obs_type", ["index", "vector"])
@pytest.mark.parametrize("collision", COLLISIONS)
def test_checkers_on_every_registered_id_and_option(env_id, obs_type, collision):
    kwargs = dict(layout="maze7x7", obs_type=obs_type)
    if "Joint" in env_id:
        kwargs.update(collision=collision, agent_indicator=collision == "bounce", action_mask_in_obs=collision == "crash")
    elif collision != "none":
        pytest.skip("one agent alone has no collision rule")
    env = gymnasium.make(env_id, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)
    sb3_check_env(env.unwrapped, warn=True)


def test_episode_length_is_max_episode_steps_by_default():
    assert MAX_EPISODE_STEPS == DEFAULT_MAX_CYCLES
    for env_id in envs.ENV_IDS:
        assert gymnasium.spec(env_id).max_episode_steps == MAX_EPISODE_STEPS
        env = gymnasium.make(env_id, max_episode_steps=7, layout="maze7x7")
        env.reset(seed=0)
        steps = 0
        while True:
            _, _, term, trunc, _ = env.step(0)
            steps += 1
            if term or trunc:
                break
        assert steps == 7 and trunc


def test_the_same_default_layout_everywhere():
    assert maze_v1.parallel_env().layout.name == gymnasium.make("multipower/Maze-v1").unwrapped.layout.name == "grid3x3"


def test_old_ids_say_which_version_to_use():
    with pytest.raises(gymnasium.error.Error, match="v1"), pytest.warns(DeprecationWarning, match="v1"):
        gymnasium.make("multipower/Maze-v0")


@pytest.mark.parametrize(
    "code",
    [
        "import multipower, gymnasium; gymnasium.make('multipower/JointMaze-H-v1').reset(seed=0)",
        "import gymnasium; gymnasium.make('multipower:multipower/Maze-v1').reset(seed=0)",
        "import multipower, sys; assert 'torch' not in sys.modules and 'pettingzoo' not in sys.modules",
    ],
)
def test_registration_without_importing_envs_first(code):
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
