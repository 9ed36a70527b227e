"""``joint_graph_v0``: PettingZoo's API tests, and steps checked against the graph's tables and the layout env."""

import pickle

import numpy as np
import pytest
from pettingzoo.test import api_test, parallel_api_test

from multipower.envs import joint_graph_v0, maze_v1
from multipower.envs.joint_graph import joint_graph_text, parse_joint_graph
from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler


def test_pettingzoo_api_tests_pass_and_make_needs_no_argument():
    parallel_api_test(joint_graph_v0.parallel_env(), num_cycles=300)
    api_test(joint_graph_v0.env(), num_cycles=300)
    env = joint_graph_v0.parallel_env()
    assert env.graph.name == "joint_grid2x2_crash" and env.n_states == 12


def test_every_info_key_is_there_from_reset_on():
    env = joint_graph_v0.parallel_env()
    _, infos = env.reset(seed=0)
    for agent, info in infos.items():
        assert set(info) == {"action_mask", "invalid_action", "joint_state"}
        np.testing.assert_array_equal(info["action_mask"], env.graph.action_mask(agent)[info["joint_state"]])


def test_an_exported_layout_steps_as_the_layout_env():
    """The same layout as a graph and as maze_v1 (crash rule): the same joint states, rewards and moves."""
    model = joint_model("grid3x3", "crash")
    graph_env = joint_graph_v0.parallel_env(graph=joint_graph_text(model), reward_seed=3)
    maze = maze_v1.parallel_env(layout="grid3x3", collision="crash")
    maze.reset(seed=0, options={"rewards": graph_env.reward_tables})
    rng = np.random.default_rng(0)
    for _ in range(300):
        s = int(rng.integers(model.n_states))
        graph_env.reset(options={"joint_state": s})
        maze.reset(options={"joint_state": s})
        actions = {agent: int(rng.choice(np.flatnonzero(model.action_mask(agent)[s]))) for agent in "HA"}
        _, r_graph, term_graph, _, info_graph = graph_env.step(actions)
        _, r_maze, term_maze, _, info_maze = maze.step(actions)
        assert (info_graph["H"]["joint_state"] == info_maze["H"]["joint_state"]
                or (term_graph["H"] and info_graph["H"]["joint_state"] == model.n_states))
        assert r_graph == pytest.approx(r_maze) and term_graph == term_maze


def test_outcomes_follow_the_graph_probabilities():
    """A slippery layout exported as a graph: the frequencies of the outcomes of one joint action match the
    edge weights within 4 standard errors."""
    graph = parse_joint_graph(joint_graph_text(joint_model("grid3x3", "none", slip=0.3)))
    env = joint_graph_v0.parallel_env(graph=graph)
    env.reset(seed=5)
    s = 40  # a joint state where both agents have moves besides staying
    a_H, a_A = (int(np.flatnonzero(graph.action_mask(agent)[s])[1]) for agent in "HA")
    assert graph.allowed[s, a_H, a_A]
    counts = {}
    n = 4000
    for _ in range(n):
        env.reset(options={"joint_state": s})
        _, _, _, _, infos = env.step({"H": a_H, "A": a_A})
        counts[infos["H"]["joint_state"]] = counts.get(infos["H"]["joint_state"], 0) + 1
    expected = {}
    for state, p in zip(graph.next_state[s, a_H, a_A], graph.prob[s, a_H, a_A]):
        expected[int(state)] = expected.get(int(state), 0.0) + float(p)
    assert set(counts) <= {k for k, p in expected.items() if p > 0}
    for state, p in expected.items():
        se = np.sqrt(p * (1 - p) / n)
        assert abs(counts.get(state, 0) / n - p) <= 4 * se + 1e-12


def test_a_forbidden_combination_ends_the_episode_with_no_reward():
    graph = parse_joint_graph(joint_graph_text(joint_model("..\n..", "crash")))
    env = joint_graph_v0.parallel_env(graph=graph)
    both = graph.action_mask_H[:, :, None] & graph.action_mask_A[:, None, :]
    s, a_H, a_A = (int(x[0]) for x in np.nonzero(both & ~graph.allowed))
    env.reset(options={"joint_state": s})
    observations, rewards, terminations, truncations, infos = env.step({"H": a_H, "A": a_A})
    assert rewards == {"H": 0.0, "A": 0.0} and all(terminations.values()) and not any(truncations.values())
    assert infos["H"]["joint_state"] == graph.n_states and int(observations["H"]) == s and env.agents == []


def test_rewards_are_sample_zero_of_the_exact_run():
    env = joint_graph_v0.parallel_env(reward_seed=7)
    R_H, R_A = RewardSampler(env.n_states, seed=7).pairs(0, 1)
    np.testing.assert_array_equal(env.reward_tables["H"], R_H[0])
    np.testing.assert_array_equal(env.reward_tables["A"], R_A[0])


def test_unavailable_actions_strict_render_and_pickle():
    env = joint_graph_v0.parallel_env(render_mode="ansi")
    env.reset(options={"joint_state": 0})
    unavailable = int(np.flatnonzero(env.graph.action_mask_H[0] == 0)[0])
    _, _, _, _, infos = env.step({"H": unavailable, "A": 0})
    assert infos["H"]["invalid_action"] and not infos["A"]["invalid_action"]
    env.reset(options={"joint_state": 0})
    text = env.render()
    grid = "".join(text.splitlines()[:-1])
    assert grid.count("H") == 1 and grid.count("A") == 1 and text.endswith(env.graph.states[0])
    strict = joint_graph_v0.parallel_env(strict=True)
    strict.reset(options={"joint_state": 0})
    with pytest.raises(ValueError, match="is not available at"):
        strict.step({"H": unavailable, "A": 0})
    copy = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(copy.reward_tables["H"], env.reward_tables["H"])


@pytest.mark.parametrize("kwargs, message", [
    ({"graph": "no_such_graph.gv"}, "no_such_graph.gv"),
    ({"max_cycles": 0}, "max_cycles must be a positive integer or None"),
    ({"render_mode": "rgb_array"}, "render_mode must be None or one of"),
    ({"rewards": {"H": [0.0]}}, "rewards must be"),
    ({"reward_seed": -1}, "reward_seed must be a non-negative integer"),
])
def test_bad_arguments_get_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        joint_graph_v0.parallel_env(**kwargs)


def test_bad_steps_get_one_line():
    env = joint_graph_v0.parallel_env()
    with pytest.raises(ValueError, match="joint_state must be an integer in"):
        env.reset(options={"joint_state": 99})
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\['H'\] must be an integer in \[0, 5\)"):
        env.step({"H": 7, "A": 0})


@pytest.mark.parametrize("agent", ["H", "A"])
def test_the_gymnasium_views_pass_check_env_and_follow_the_other_policy(agent):
    import gymnasium
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make(f"multipower/JointGraph-{agent}-v0")
    check_env(env.unwrapped)
    view = env.unwrapped
    other = "A" if agent == "H" else "H"
    stay = np.zeros(view.model.action_mask(other).shape)
    stay[:, 0] = 1.0  # every state of the packaged graph lets both agents stay
    view.set_other_policy(stay)
    _, info = env.reset(seed=3)
    assert set(info) == {"action_mask", "invalid_action", "joint_state", "other_action"}
    for _ in range(20):
        _, _, terminated, truncated, info = env.step(int(np.flatnonzero(info["action_mask"])[0]))
        assert info["other_action"] == 0
        if terminated or truncated:
            _, info = env.reset()


def test_a_refused_reset_changes_nothing_and_bad_graphs_name_graph():
    env = joint_graph_v0.parallel_env()
    env.reset(seed=0)
    before = env.reward_tables["H"].copy()
    with pytest.raises(ValueError, match="joint_state must be an integer"):
        env.reset(options={"reward_seed": 5, "joint_state": -1})
    np.testing.assert_array_equal(env.reward_tables["H"], before)
    env.reset(options={"joint_state": np.array(2)})
    assert env.joint_state == 2
    with pytest.raises(ValueError, match="actions must be a dict"):
        env.step([0, 0])
    for graph in (None, 5, ""):
        with pytest.raises(ValueError, match="graph must be a JointGraph"):
            joint_graph_v0.parallel_env(graph=graph)
    with pytest.raises(ValueError, match="^graph: cannot read"):
        joint_graph_v0.parallel_env(graph="no_such_graph.gv")
