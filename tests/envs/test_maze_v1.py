"""The two-agent PettingZoo environment: API conformance, agreement with the model, options, errors."""

import itertools
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, render_test, seed_test

from multipower.envs import maze_v1
from multipower.envs.model import COLLISIONS, joint_model
from multipower.envs.rewards import joint_rewards

OBS_TYPES = ("index", "vector")
CASES = list(itertools.product(COLLISIONS, OBS_TYPES))
#: The api_test warnings that stay, as the module docstring of maze_v1 says why.
KEPT_WARNINGS = (
    "We recommend agents to be named",  # "H" and "A" are the research's names
    "Observation is not a NumPy array",  # action_mask_in_obs: a dict, PettingZoo's convention for masks
    "Observation space for each agent probably should be",  # ... whose space is a Dict
    "Observation numpy array is all zeros",  # the "index" observation of joint state 0
)


@pytest.fixture(autouse=True)
def _only_kept_warnings():
    """Any warning of PettingZoo's tests other than the documented ones fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for message in KEPT_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield  # their API tests reset with options={"options": 1}: ignored without a warning, as Gymnasium does


@pytest.mark.parametrize("collision,obs_type", CASES)
@pytest.mark.parametrize("mask_in_obs,indicator", [(False, False), (True, False), (False, True)])
def test_parallel_api(collision, obs_type, mask_in_obs, indicator):
    env = maze_v1.parallel_env(layout="maze7x7", collision=collision, obs_type=obs_type,
                               action_mask_in_obs=mask_in_obs, agent_indicator=indicator)
    parallel_api_test(env, num_cycles=200)


@pytest.mark.parametrize("collision,obs_type", CASES)
@pytest.mark.parametrize("mask_in_obs,indicator", [(False, False), (True, False), (False, True)])
def test_aec_api(collision, obs_type, mask_in_obs, indicator):
    env = maze_v1.env(layout="grid3x3", collision=collision, obs_type=obs_type, action_mask_in_obs=mask_in_obs,
                      agent_indicator=indicator, max_cycles=30)
    api_test(env, num_cycles=200)


@pytest.mark.parametrize("collision,obs_type", CASES)
def test_seeding(collision, obs_type):
    kwargs = dict(layout="maze7x7", collision=collision, obs_type=obs_type, max_cycles=60)
    parallel_seed_test(lambda: maze_v1.parallel_env(**kwargs), num_cycles=60)
    seed_test(lambda: maze_v1.env(**kwargs), num_cycles=60)


@pytest.mark.parametrize("collision,obs_type", CASES)
def test_max_cycles(collision, obs_type):
    def seeded(env):
        # max_cycles_test resets unseeded and plays random actions; seeding first makes that play repeatable, so
        # that under "crash" it is a play known not to crash within max_cycles (a crash ends an episode early).
        env.reset(seed=0)
        for agent in env.possible_agents:
            env.action_space(agent).seed(0)
        return env

    class Module:  # max_cycles_test calls module.parallel_env(max_cycles=...) and module.env(max_cycles=...)
        @staticmethod
        def parallel_env(**kwargs):
            return seeded(maze_v1.parallel_env(layout="maze7x7", collision=collision, obs_type=obs_type, **kwargs))

        @staticmethod
        def env(**kwargs):
            return seeded(maze_v1.env(layout="maze7x7", collision=collision, obs_type=obs_type, **kwargs))

    max_cycles_test(Module)
    if collision == "none":
        max_cycles_test(maze_v1)  # the module itself, as PettingZoo's own tests call it


def test_crash_episodes_truncate_at_max_cycles_when_nobody_moves():
    env = maze_v1.parallel_env(layout="maze7x7", collision="crash", max_cycles=4)
    env.reset(seed=0)
    for t in range(4):
        _, _, term, trunc, _ = env.step({"H": 0, "A": 0})
        assert trunc == {"H": t == 3, "A": t == 3} and not any(term.values())


@pytest.mark.parametrize("collision,obs_type", CASES)
def test_render(collision, obs_type, capsys):
    render_test(lambda render_mode=None: maze_v1.env(layout="maze7x7", collision=collision, obs_type=obs_type,
                                                     render_mode=render_mode))
    assert "H" in capsys.readouterr().out  # "human" printed the grid


def test_human_render_prints_the_grid_at_reset_and_step(capsys):
    env = maze_v1.parallel_env(layout="grid3x3", render_mode="human")
    env.reset(options={"cells": {"H": (0, 0), "A": (2, 2)}})
    assert env.render() is None
    env.step({"H": 4, "A": 0})
    printed = capsys.readouterr().out.split("\n\n")
    assert printed[:3] == ["H..\n...\n..A", "H..\n...\n..A", ".H.\n...\n..A"]


def test_same_seed_same_episode_and_different_seed_differs():
    def episode(seed):
        env = maze_v1.parallel_env(layout="maze7x7", max_cycles=20)
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
    assert a[0] != c[0]
    assert np.array_equal(a[2], c[2])  # the episode seed does not change the task


@pytest.mark.parametrize("collision", COLLISIONS)
@pytest.mark.parametrize("layout", ["grid3x3", "maze7x7"])
def test_steps_follow_model_tables_from_every_state(collision, layout):
    """Every joint state, several random joint actions: next state, reward, termination, masks as in the model."""
    model = joint_model(layout, collision)
    rng = np.random.default_rng(0)
    r_h, r_a = rng.random(model.n_states), rng.random(model.n_states)
    env = maze_v1.parallel_env(model=model, rewards={"H": r_h, "A": r_a})
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
    env = maze_v1.parallel_env(layout="maze7x7", obs_type="vector")
    obs, _ = env.reset(options={"cells": {"H": (0, 3), "A": (6, 0)}})
    n = env.model.n_cells
    vec = obs["H"]
    assert vec.dtype == np.float32 and vec.shape == (2 * n,) and vec.sum() == 2
    assert np.flatnonzero(vec[:n]) == [env.layout.cell_index(0, 3)]
    assert np.flatnonzero(vec[n:]) == [env.layout.cell_index(6, 0)]
    assert np.array_equal(env.observe_state(env.joint_state), vec)
    assert np.array_equal(env.state(), vec)


def test_crash_vector_observation_shows_both_on_the_crash_cell():
    env = maze_v1.parallel_env(layout="grid3x3", collision="crash", obs_type="vector", render_mode="ansi")
    env.reset(options={"cells": {"H": (1, 0), "A": (1, 2)}})
    obs, rew, term, *_ = env.step({"H": 4, "A": 3})  # both move to the centre
    centre = env.layout.cell_index(1, 1)
    assert term["H"] and obs["H"][centre] == 1 and obs["H"][9 + centre] == 1
    assert env.render() == "...\n.X.\n..."


def test_invalid_action_stays_and_strict_raises():
    env = maze_v1.parallel_env(layout="grid3x3")
    env.reset(options={"cells": {"H": (0, 0), "A": (2, 2)}})
    obs, _, _, _, infos = env.step({"H": 1, "A": 2})  # both walk into the outer wall
    assert env.cells == {"H": (0, 0), "A": (2, 2)}
    assert infos["H"]["invalid_action"] and infos["A"]["invalid_action"]
    strict = maze_v1.parallel_env(layout="grid3x3", strict=True)
    strict.reset(options={"cells": {"H": (0, 0), "A": (2, 2)}})
    with pytest.raises(ValueError, match="unavailable"):
        strict.step({"H": 1, "A": 0})


def test_truncation_at_max_cycles():
    env = maze_v1.parallel_env(layout="grid3x3", max_cycles=3)
    env.reset(seed=0)
    for t in range(3):
        _, _, term, trunc, _ = env.step({"H": 0, "A": 0})
        assert trunc == {"H": t == 2, "A": t == 2} and not any(term.values())
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"H": 0, "A": 0})


def test_default_start_is_uniform_over_joint_states():
    env = maze_v1.parallel_env(layout="grid3x3", collision="crash")
    env.reset(seed=1)
    n = 7200
    counts = np.bincount([env.reset()[1]["H"]["joint_state"] for _ in range(n)], minlength=72)
    expected = n / 72
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 71 + 5 * np.sqrt(2 * 71)  # mean 71, sd sqrt(142): 5 sd


def test_rewards_are_fixed_by_the_arguments_not_by_reset_seeds():
    env = maze_v1.parallel_env(layout="grid3x3", reward_distribution={"name": "bernoulli", "p": 0.5})
    first = env.reward_tables  # drawn when the env is built
    assert set(np.unique(first["H"])) <= {0.0, 1.0} and env.reward_seed == 0
    for seed in (0, 1, None):
        env.reset(seed=seed)
        assert env.reward_tables["H"] is first["H"] and env.reward_tables["A"] is first["A"]
    copy = maze_v1.parallel_env(layout="grid3x3", reward_distribution={"name": "bernoulli", "p": 0.5})
    copy.reset(seed=99)
    assert all(np.array_equal(copy.reward_tables[a], first[a]) for a in "HA")  # copies share the task
    other = maze_v1.parallel_env(layout="grid3x3", reward_distribution={"name": "bernoulli", "p": 0.5}, reward_seed=1)
    assert not np.array_equal(other.reward_tables["H"], first["H"])
    env.reset(options={"reward_seed": 1})  # new tables only on request ...
    assert np.array_equal(env.reward_tables["H"], other.reward_tables["H"]) and env.reward_seed == 1
    env.reset(seed=3)  # ... and they stay
    assert np.array_equal(env.reward_tables["H"], other.reward_tables["H"])
    new = {"H": np.arange(81.0), "A": -np.arange(81.0)}
    obs, _ = env.reset(options={"rewards": new, "joint_state": 0})
    assert env.reward_seed is None
    _, rew, *_ = env.step({"H": 0, "A": 0})
    assert rew == {"H": 0.0, "A": 0.0}
    _, rew, *_ = env.step({"H": 0, "A": 4})  # A moves right: joint state (0, 1) = 1
    assert rew == {"H": 1.0, "A": -1.0}
    env.reset(seed=5)  # given tables stay given
    assert np.array_equal(env.reward_tables["H"], new["H"])
    given = maze_v1.parallel_env(layout="grid3x3", rewards=new)
    assert np.array_equal(given.reward_tables["A"], new["A"]) and given.reward_seed is None
    with pytest.raises(ValueError, match="reward_seed"):
        env.reset(options={"resample_rewards": True})
    with pytest.raises(ValueError, match="not both"):
        env.reset(options={"rewards": new, "reward_seed": 2})
    with pytest.raises(ValueError, match="reward_seed"):
        env.reset(options={"reward_seed": -1})


def test_default_reward_seed_is_zero_and_tables_are_the_samplers_draw():
    from multipower.envs.rewards import RewardSampler

    env = maze_v1.parallel_env(layout="grid3x3", collision="crash", reward_correlation=0.5)
    r_h, r_a = RewardSampler(72, None, 0.5).draw(np.random.default_rng(0), 1)
    assert np.array_equal(env.reward_tables["H"], r_h[0]) and np.array_equal(env.reward_tables["A"], r_a[0])


def test_vector_envs_share_the_task():
    import gymnasium
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env("multipower/JointMaze-H-v1", n_envs=4, seed=0)
    tables = [e.unwrapped.par_env.reward_tables["H"] for e in vec.envs]
    assert all(np.array_equal(t, tables[0]) for t in tables)
    gym_vec = gymnasium.make_vec("multipower/JointMaze-H-v1", num_envs=3, vectorization_mode="sync")
    gym_vec.reset(seed=[1, 2, 3])
    assert all(np.array_equal(par.reward_tables["H"], tables[0]) for par in gym_vec.get_attr("par_env"))


def test_index_observation_is_a_0d_int64_array():
    env = maze_v1.parallel_env()
    obs, _ = env.reset(seed=0)
    assert isinstance(obs["H"], np.ndarray) and obs["H"].shape == () and obs["H"].dtype == np.int64
    assert env.observation_space("H").contains(obs["H"]) and isinstance(env.state(), np.ndarray)


def test_env_checks_actions_and_order_at_once():
    aec = maze_v1.env()
    with pytest.raises(Exception, match="reset"):
        aec.step(0)  # OrderEnforcingWrapper
    aec.reset(seed=0)
    with pytest.raises(ValueError, match="action of H must be an integer"):
        aec.step(7)  # CheckedActions, at the first agent's step
    raw = maze_v1.raw_env()
    assert type(raw).__name__ == "parallel_to_aec_wrapper" and raw.unwrapped is raw.env.unwrapped
    assert str(maze_v1.env()) == "maze_v1"


def test_agent_indicator():
    env = maze_v1.parallel_env(layout="grid3x3", obs_type="vector", agent_indicator=True)
    obs, _ = env.reset(options={"cells": {"H": (0, 0), "A": (1, 1)}})
    assert obs["H"].shape == (20,) and list(obs["H"][-2:]) == [1, 0] and list(obs["A"][-2:]) == [0, 1]
    assert np.array_equal(obs["H"][:-2], obs["A"][:-2]) and np.array_equal(env.state(), obs["H"][:-2])
    index = maze_v1.parallel_env(layout="grid3x3", agent_indicator=True)
    obs, _ = index.reset(options={"joint_state": 5})
    assert int(obs["H"]) == 5 and int(obs["A"]) == 81 + 5 and index.observation_space("A").n == 162
    assert int(index.observe_state(5, "A")) == 86 and int(index.state()) == 5
    with pytest.raises(ValueError, match="agent"):
        index.observe_state(5)
    plain = maze_v1.parallel_env(layout="grid3x3")
    obs, _ = plain.reset(options={"joint_state": 5})
    assert int(obs["H"]) == int(obs["A"])  # without the indicator both agents see the same


def test_max_cycles_none_never_truncates():
    env = maze_v1.parallel_env(layout="grid3x3", max_cycles=None)
    env.reset(seed=0)
    for _ in range(500):
        _, _, term, trunc, _ = env.step({"H": 0, "A": 0})
        assert not any(trunc.values()) and not any(term.values())


def test_joint_rewards_from_cells_and_functions():
    for collision, n_states in (("none", 81), ("crash", 72)):
        model = joint_model("grid3x3", collision)
        per_cell = np.arange(9.0)
        tables = joint_rewards(model, H=per_cell, A=10 * per_cell)
        h, a = model.joint_cells[:, 0], model.joint_cells[:, 1]
        assert tables["H"].shape == tables["A"].shape == (n_states,)
        assert np.array_equal(tables["H"], per_cell[h]) and np.array_equal(tables["A"], 10 * per_cell[a])
        pair = np.arange(81.0).reshape(9, 9)
        fn = joint_rewards(model, H=lambda hc, ac: float(hc == (1, 1)), A=pair)
        assert np.array_equal(fn["H"], (h == 4).astype(float)) and np.array_equal(fn["A"], pair[h, a])
        env = maze_v1.parallel_env(model=model, rewards=joint_rewards(model, H=1.0, A=per_cell))
        assert np.array_equal(joint_rewards(env, H=1.0, A=0)["H"], np.ones(n_states))
    with pytest.raises(ValueError, match="per-cell"):
        joint_rewards(model, H=np.zeros(8), A=0)
    with pytest.raises(ValueError, match="JointModel"):
        joint_rewards("grid3x3", H=0, A=0)


def test_correlation_one_gives_equal_rewards():
    env = maze_v1.parallel_env(layout="grid3x3", reward_correlation=1.0)
    env.reset(seed=2)
    assert np.array_equal(env.reward_tables["H"], env.reward_tables["A"])


def test_mask_in_observation():
    env = maze_v1.parallel_env(layout="grid3x3", action_mask_in_obs=True)
    obs, infos = env.reset(options={"cells": {"H": (0, 0), "A": (1, 1)}})
    assert "action_mask" not in infos["H"]  # one place only (TorchRL reads observations and infos alike)
    assert np.array_equal(obs["H"]["action_mask"], [1, 0, 1, 0, 1])
    assert obs["A"]["action_mask"].dtype == np.int8 and obs["A"]["action_mask"].all()
    assert env.observation_space("H").contains(obs["H"])


def test_render_modes():
    env = maze_v1.parallel_env(layout="maze7x7", render_mode="ansi")
    env.reset(options={"cells": {"H": (0, 0), "A": (0, 3)}})
    text = env.render()
    assert text.splitlines()[0] == "H..A..." and text.splitlines()[1] == ".##.###"
    env = maze_v1.parallel_env(layout="grid3x3", render_mode="rgb_array", cell_px=6)
    env.reset(options={"cells": {"H": (0, 0), "A": (0, 0)}})
    image = env.render()
    assert image.dtype == np.uint8 and image.shape == (18, 18, 3)
    block = image[:6, :6].reshape(-1, 3)
    colours = {tuple(c) for c in block}
    assert {(40, 110, 230), (225, 60, 45)} <= colours  # both agents drawn on the shared cell
    env = maze_v1.parallel_env(layout="maze7x7", render_mode="rgb_array", cell_px=4)
    env.reset()
    image = env.render()
    assert image[1 * 4 + 1, 1 * 4 + 1].max() < 60  # (1, 1) is a wall: dark
    with pytest.warns(UserWarning, match="render_mode"):
        assert maze_v1.parallel_env().render() is None


def test_metadata_and_spaces():
    env = maze_v1.parallel_env(layout="maze7x7", collision="crash", max_cycles=7)
    assert env.metadata["name"] == "maze_v1" and env.metadata["is_parallelizable"]
    assert set(env.metadata["render_modes"]) == {"human", "ansi", "rgb_array"}
    assert env.max_cycles == 7 and env.render_mode is None
    assert env.observation_space("H").n == 930 and env.action_space("A").n == 5
    assert maze_v1.parallel_env(layout="maze7x7", obs_type="vector").observation_space("A").shape == (62,)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(collision="bump"), "collision"),
        (dict(obs_type="image"), "obs_type"),
        (dict(max_cycles=0), "max_cycles"),
        (dict(render_mode="video"), "render_mode"),
        (dict(reward_seed=-1), "reward_seed"),
        (dict(reward_seed=1.5), "reward_seed"),
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
        maze_v1.parallel_env(**kwargs)


def test_bad_step_and_reset_inputs():
    env = maze_v1.parallel_env(layout="grid3x3")
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
    crash = maze_v1.parallel_env(layout="grid3x3", collision="crash")
    with pytest.raises(ValueError, match="does not exist"):
        crash.reset(options={"cells": {"H": (0, 0), "A": (0, 0)}})
    with pytest.raises(ValueError, match=r"rewards\['H'\]"):
        env.reset(options={"rewards": {"H": np.zeros(9), "A": np.zeros(81)}})
    with pytest.raises(ValueError, match="model"):
        maze_v1.parallel_env(model=joint_model("grid3x3"), layout="grid3x3")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env.reset(options={"other_library_option": 3})  # ignored, as Gymnasium envs do


def test_models_are_shared_between_copies():
    a = maze_v1.parallel_env(layout="maze7x7", collision="crash")
    b = maze_v1.parallel_env(layout="maze7x7", collision="crash")
    assert a.model is b.model and a.model is not maze_v1.parallel_env(layout="maze7x7").model
