"""The two-agent PettingZoo environment: API conformance, agreement with the model, options, errors."""

import itertools
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from envs import maze_v0
from envs.model import COLLISIONS, joint_model

OBS_TYPES = ("index", "vector")
CASES = list(itertools.product(COLLISIONS, OBS_TYPES))


@pytest.fixture(autouse=True)
def _quiet_pettingzoo_advice():
    # PettingZoo's tests warn about style advice (agent names like "player_0", non-array observations).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(recommend|NumPy array|single number|probably should be).*")
        # Their API tests reset with options={"options": 1}, which the env warns it ignores.
        warnings.filterwarnings("ignore", message=r".*unknown options \['options'\]")
        yield


@pytest.mark.parametrize("collision,obs_type", CASES)
@pytest.mark.parametrize("mask_in_obs", [False, True])
def test_parallel_api(collision, obs_type, mask_in_obs):
    env = maze_v0.parallel_env(layout="maze7x7", collision=collision, obs_type=obs_type, action_mask_in_obs=mask_in_obs)
    parallel_api_test(env, num_cycles=200)


@pytest.mark.parametrize("collision,obs_type", CASES)
@pytest.mark.parametrize("mask_in_obs", [False, True])
def test_aec_api(collision, obs_type, mask_in_obs):
    env = maze_v0.env(
        layout="grid3x3", collision=collision, obs_type=obs_type, action_mask_in_obs=mask_in_obs, max_cycles=30
    )
    api_test(env, num_cycles=200)


@pytest.mark.parametrize("collision,obs_type", CASES)
def test_seeding(collision, obs_type):
    kwargs = dict(layout="maze7x7", collision=collision, obs_type=obs_type, max_cycles=60)
    parallel_seed_test(lambda: maze_v0.parallel_env(**kwargs), num_cycles=60)
    seed_test(lambda: maze_v0.env(**kwargs), num_cycles=60)


def test_same_seed_same_episode_and_different_seed_differs():
    def episode(seed):
        env = maze_v0.parallel_env(layout="maze7x7", max_cycles=20)
        obs, infos = env.reset(seed=seed)
        for space in (env.action_space("H"), env.action_space("A")):
            space.seed(seed)
        states, rewards = [int(obs["H"])], []
        while env.agents:
            obs, rew, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            states.append(int(obs["H"]))
            rewards.append(rew["H"])
        return states, rewards, env.reward_tables["H"]

    a, b, c = episode(3), episode(3), episode(4)
    assert a[0] == b[0] and a[1] == b[1] and np.array_equal(a[2], b[2])
    assert not np.array_equal(a[2], c[2])


@pytest.mark.parametrize("collision", COLLISIONS)
@pytest.mark.parametrize("layout", ["grid3x3", "maze7x7"])
def test_steps_follow_model_tables_from_every_state(collision, layout):
    """Every joint state, several random joint actions: next state, reward, termination, masks as in the model."""
    model = joint_model(layout, collision)
    rng = np.random.default_rng(0)
    r_h, r_a = rng.random(model.n_states), rng.random(model.n_states)
    env = maze_v0.parallel_env(model=model, rewards={"H": r_h, "A": r_a})
    checked_crash = 0
    for s in range(model.n_states):
        for a_h, a_a in rng.integers(0, 5, size=(4, 2)):
            obs, infos = env.reset(options={"joint_state": s})
            assert int(obs["H"]) == s and int(obs["A"]) == s
            assert np.array_equal(infos["H"]["action_mask"], model.action_mask_H[s])
            assert np.array_equal(infos["A"]["action_mask"], model.action_mask_A[s])
            obs, rew, term, trunc, infos = env.step({"H": a_h, "A": a_a})
            nxt = model.next_state[s, a_h, a_a]
            assert infos["H"]["invalid_action"] == (not model.action_mask_H[s, a_h])
            assert infos["A"]["invalid_action"] == (not model.action_mask_A[s, a_a])
            if nxt == model.terminal_state:
                checked_crash += 1
                assert term == {"H": True, "A": True} and rew == {"H": 0.0, "A": 0.0}
                assert infos["H"]["joint_state"] == model.terminal_state and env.agents == []
            else:
                assert int(obs["H"]) == nxt and env.joint_state == nxt
                assert rew == {"H": r_h[nxt], "A": r_a[nxt]}
                assert term == {"H": False, "A": False}
                assert np.array_equal(infos["H"]["action_mask"], model.action_mask_H[nxt])
    assert (checked_crash > 0) == (collision == "crash")


def test_vector_observation_is_one_hot_of_both_cells():
    env = maze_v0.parallel_env(layout="maze7x7", obs_type="vector")
    obs, _ = env.reset(options={"cells": {"H": (0, 3), "A": (6, 0)}})
    n = env.model.n_cells
    vec = obs["H"]
    assert vec.dtype == np.float32 and vec.shape == (2 * n,) and vec.sum() == 2
    assert np.flatnonzero(vec[:n]) == [env.layout.cell_index(0, 3)]
    assert np.flatnonzero(vec[n:]) == [env.layout.cell_index(6, 0)]
    assert np.array_equal(env.observe_state(env.joint_state), vec)
    assert np.array_equal(env.state(), vec)


def test_crash_vector_observation_shows_both_on_the_crash_cell():
    env = maze_v0.parallel_env(layout="grid3x3", collision="crash", obs_type="vector", render_mode="ansi")
    env.reset(options={"cells": {"H": (1, 0), "A": (1, 2)}})
    obs, rew, term, *_ = env.step({"H": 4, "A": 3})  # both move to the centre
    centre = env.layout.cell_index(1, 1)
    assert term["H"] and obs["H"][centre] == 1 and obs["H"][9 + centre] == 1
    assert env.render() == "...\n.X.\n..."


def test_invalid_action_stays_and_strict_raises():
    env = maze_v0.parallel_env(layout="grid3x3")
    env.reset(options={"cells": {"H": (0, 0), "A": (2, 2)}})
    obs, _, _, _, infos = env.step({"H": 1, "A": 2})  # both walk into the outer wall
    assert env.cells == {"H": (0, 0), "A": (2, 2)}
    assert infos["H"]["invalid_action"] and infos["A"]["invalid_action"]
    strict = maze_v0.parallel_env(layout="grid3x3", strict=True)
    strict.reset(options={"cells": {"H": (0, 0), "A": (2, 2)}})
    with pytest.raises(ValueError, match="unavailable"):
        strict.step({"H": 1, "A": 0})


def test_truncation_at_max_cycles():
    env = maze_v0.parallel_env(layout="grid3x3", max_cycles=3)
    env.reset(seed=0)
    for t in range(3):
        _, _, term, trunc, _ = env.step({"H": 0, "A": 0})
        assert trunc == {"H": t == 2, "A": t == 2} and not any(term.values())
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"H": 0, "A": 0})


def test_default_start_is_uniform_over_joint_states():
    env = maze_v0.parallel_env(layout="grid3x3", collision="crash")
    env.reset(seed=1)
    n = 7200
    counts = np.bincount([env.reset()[1]["H"]["joint_state"] for _ in range(n)], minlength=72)
    expected = n / 72
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 71 + 5 * np.sqrt(2 * 71)  # mean 71, sd sqrt(142): 5 sd


def test_rewards_drawn_once_then_fixed_and_swappable():
    env = maze_v0.parallel_env(layout="grid3x3", reward_distribution={"name": "bernoulli", "p": 0.5})
    env.reset(seed=0)
    first = env.reward_tables
    assert set(np.unique(first["H"])) <= {0.0, 1.0}
    env.reset()
    assert env.reward_tables["H"] is first["H"]  # unseeded resets keep the tables
    env.reset(options={"resample_rewards": True})
    assert not np.array_equal(env.reward_tables["H"], first["H"])
    new = {"H": np.arange(81.0), "A": -np.arange(81.0)}
    obs, _ = env.reset(options={"rewards": new, "joint_state": 0})
    _, rew, *_ = env.step({"H": 0, "A": 0})
    assert rew == {"H": 0.0, "A": 0.0}
    _, rew, *_ = env.step({"H": 0, "A": 4})  # A moves right: joint state (0, 1) = 1
    assert rew == {"H": 1.0, "A": -1.0}
    env.reset(seed=5)  # given tables stay given
    assert np.array_equal(env.reward_tables["H"], new["H"])


def test_correlation_one_gives_equal_rewards():
    env = maze_v0.parallel_env(layout="grid3x3", reward_correlation=1.0)
    env.reset(seed=2)
    assert np.array_equal(env.reward_tables["H"], env.reward_tables["A"])


def test_mask_in_observation():
    env = maze_v0.parallel_env(layout="grid3x3", action_mask_in_obs=True)
    obs, infos = env.reset(options={"cells": {"H": (0, 0), "A": (1, 1)}})
    assert np.array_equal(obs["H"]["action_mask"], [1, 0, 1, 0, 1])
    assert obs["A"]["action_mask"].dtype == np.int8 and obs["A"]["action_mask"].all()
    assert env.observation_space("H").contains(obs["H"])


def test_render_modes():
    env = maze_v0.parallel_env(layout="maze7x7", render_mode="ansi")
    env.reset(options={"cells": {"H": (0, 0), "A": (0, 3)}})
    text = env.render()
    assert text.splitlines()[0] == "H..A..." and text.splitlines()[1] == ".##.###"
    env = maze_v0.parallel_env(layout="grid3x3", render_mode="rgb_array", cell_px=6)
    env.reset(options={"cells": {"H": (0, 0), "A": (0, 0)}})
    image = env.render()
    assert image.dtype == np.uint8 and image.shape == (18, 18, 3)
    block = image[:6, :6].reshape(-1, 3)
    colours = {tuple(c) for c in block}
    assert {(40, 110, 230), (225, 60, 45)} <= colours  # both agents drawn on the shared cell
    env = maze_v0.parallel_env(layout="maze7x7", render_mode="rgb_array", cell_px=4)
    env.reset()
    image = env.render()
    assert image[1 * 4 + 1, 1 * 4 + 1].max() < 60  # (1, 1) is a wall: dark
    with pytest.warns(UserWarning, match="render_mode"):
        assert maze_v0.parallel_env().render() is None


def test_metadata_and_spaces():
    env = maze_v0.parallel_env(layout="maze7x7", collision="crash", max_cycles=7)
    assert env.metadata["name"] == "maze_v0" and env.metadata["is_parallelizable"]
    assert set(env.metadata["render_modes"]) == {"ansi", "rgb_array"}
    assert env.max_cycles == 7 and env.render_mode is None
    assert env.observation_space("H").n == 930 and env.action_space("A").n == 5
    assert maze_v0.parallel_env(layout="maze7x7", obs_type="vector").observation_space("A").shape == (62,)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(collision="bump"), "collision"),
        (dict(obs_type="image"), "obs_type"),
        (dict(max_cycles=0), "max_cycles"),
        (dict(render_mode="human"), "render_mode"),
        (dict(rewards={"H": np.zeros(81)}), "rewards"),
        (dict(rewards={"H": np.zeros(81), "A": np.zeros(80)}), r"rewards\['A'\]"),
        (dict(rewards={"H": np.zeros(81), "A": np.full(81, np.nan)}), r"rewards\['A'\]"),
        (dict(reward_distribution="cauchy"), "reward distribution"),
        (dict(reward_correlation=2.0), "correlation"),
        (dict(layout="nowhere"), "layout"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        maze_v0.parallel_env(**kwargs)


def test_bad_step_and_reset_inputs():
    env = maze_v0.parallel_env(layout="grid3x3")
    env.reset(seed=0)
    for actions, match in [
        ({"H": 5, "A": 0}, r"actions\['H'\]"),
        ({"H": 0, "A": -1}, r"actions\['A'\]"),
        ({"H": 0.5, "A": 0}, r"actions\['H'\]"),
        ({"H": 0, "B": 0}, "actions"),
        ({"H": 0}, "actions"),
    ]:
        with pytest.raises(ValueError, match=match):
            env.step(actions)
    with pytest.raises(ValueError, match="agent"):
        env.action_space("B")
    with pytest.raises(ValueError, match="agent"):
        env.observation_space("human")
    with pytest.raises(ValueError, match="joint_state"):
        env.reset(options={"joint_state": 81})
    with pytest.raises(ValueError, match="not an open cell"):
        env.reset(options={"cells": {"H": (3, 0), "A": (0, 0)}})
    crash = maze_v0.parallel_env(layout="grid3x3", collision="crash")
    with pytest.raises(ValueError, match="does not exist"):
        crash.reset(options={"cells": {"H": (0, 0), "A": (0, 0)}})
    with pytest.raises(ValueError, match=r"rewards\['H'\]"):
        env.reset(options={"rewards": {"H": np.zeros(9), "A": np.zeros(81)}})
    with pytest.raises(ValueError, match="model"):
        maze_v0.parallel_env(model=joint_model("grid3x3"), layout="grid3x3")
    with pytest.warns(UserWarning, match="unknown options"):
        env.reset(options={"joint_sate": 3})


def test_models_are_shared_between_copies():
    a = maze_v0.parallel_env(layout="maze7x7", collision="crash")
    b = maze_v0.parallel_env(layout="maze7x7", collision="crash")
    assert a.model is b.model and a.model is not maze_v0.parallel_env(layout="maze7x7").model
