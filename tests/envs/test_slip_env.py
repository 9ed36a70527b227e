"""The environments' slip (docs/concepts.md#slip): sampled moves follow the model's transition distribution."""

import numpy as np
import pytest

from multipower.envs import maze_v1
from multipower.envs.dynamics import effective_moves, slip_step
from multipower.envs.model import joint_model
from multipower.envs.single_maze import SingleMazeEnv

N = 4000
Z = 4.5  # per-outcome z-score bound; with a fixed seed the test is deterministic


def model_distribution(model, s, a_H, a_A):
    """Next-state probabilities ``(S + 1,)`` (the last: crash terminal) of chosen moves at ``s``."""
    weights = model.transition_weights(np.asarray(s), np.asarray(a_H), np.asarray(a_A))
    out = np.zeros(model.n_states + 1)
    np.add.at(out, model.next_state[s].ravel(), weights.ravel())
    return out


def assert_frequencies(counts, probs):
    freq = counts / counts.sum()
    se = np.sqrt(np.maximum(probs * (1 - probs), 1e-12) / counts.sum())
    assert np.all(np.abs(freq - probs) <= Z * se), (freq, probs)
    assert not counts[probs == 0].any()  # an impossible outcome never happens


@pytest.mark.parametrize("collision", ["none", "crash", "bounce"])
def test_parallel_env_transition_frequencies_match_the_model(collision):
    env = maze_v1.parallel_env(layout="grid3x3", collision=collision, slip=0.4)
    model = env.model
    s = model.joint_state(3, 4)  # H at the left edge, A in the centre: neighbours, collisions possible
    env.reset(seed=0)
    for a_H, a_A in ((4, 3), (0, 2)):
        counts = np.zeros(model.n_states + 1)
        for _ in range(N):
            env.reset(options={"joint_state": s})
            _, _, terms, _, infos = env.step({"H": a_H, "A": a_A})
            counts[infos["H"]["joint_state"]] += 1
            assert terms["H"] == (infos["H"]["joint_state"] == model.terminal_state)
        assert_frequencies(counts, model_distribution(model, s, a_H, a_A))


def test_single_maze_transition_frequencies_match_the_model():
    env = SingleMazeEnv(layout="grid3x3", slip=0.6)
    env.reset(seed=1)
    P = env.model.slip_matrix[0, 4]  # corner (0, 0), choosing right
    probs = np.zeros(env.model.n_states)
    np.add.at(probs, env.model.next_cell[0], P)
    counts = np.zeros(env.model.n_states)
    for _ in range(N):
        env.reset(options={"state": 0})
        obs, *_ = env.step(4)
        counts[int(obs)] += 1
    assert_frequencies(counts, probs)


def test_slip_step_is_one_rule_for_numpy_and_torch():
    torch = pytest.importorskip("torch")
    model = joint_model("grid3x3", "crash", 0.5)
    rng = np.random.default_rng(2)
    S = model.n_states
    state, a_H, a_A = rng.integers(S, size=500), rng.integers(5, size=500), rng.integers(5, size=500)
    u_H, u_A, t = rng.random(500), rng.random(500), np.zeros(500, dtype=np.int64)
    cdf_H, cdf_A = model.slip_cdf("H"), model.slip_cdf("A")
    out_np = slip_step(model.next_state, S, (cdf_H, cdf_A), state, (a_H, a_A), (u_H, u_A), t, 10)
    t_ = torch.as_tensor
    out_t = slip_step(t_(model.next_state), S, (t_(cdf_H), t_(cdf_A)), t_(state), (t_(a_H), t_(a_A)),
                      (t_(u_H), t_(u_A)), t_(t), 10)
    for x, y in zip(out_np, out_t):
        np.testing.assert_array_equal(x, y.numpy())
    # Effective moves are always available, and the chosen one at u = 0 when it is (its mass comes first only
    # for stay, so check the distribution instead): each draw lands on a move of positive probability.
    e = effective_moves(cdf_H, state, a_H, u_H)
    assert model.slip_of("H")[state, a_H, e].min() > 0


def test_slip_zero_draws_nothing_and_steps_as_before():
    env = maze_v1.parallel_env(layout="grid3x3", collision="crash", slip=0.0)
    env.reset(seed=3)
    before = env.np_random.bit_generator.state
    _, _, _, _, infos = env.step({"H": 4, "A": 1})
    assert env.np_random.bit_generator.state == before and "effective_action" not in infos["H"]
    with pytest.raises(ValueError, match=r"slip must be a number in \[0, 1\]"):
        maze_v1.parallel_env(layout="grid3x3", slip=2.0)


def test_every_info_key_is_there_from_reset_on_with_one_type():
    """TorchRL and BenchMARL build their info layout from the reset infos: with slip, ``effective_action`` is
    an int64 -1 at reset, in the parallel and AEC forms and in both Gymnasium views."""
    import gymnasium

    from multipower.envs import maze_v1

    par = maze_v1.parallel_env(obs_type="vector", slip=0.2)
    _, reset_infos = par.reset(seed=0)
    _, _, _, _, step_infos = par.step({"H": 1, "A": 2})
    for agent in ("H", "A"):
        assert set(reset_infos[agent]) == set(step_infos[agent])
        assert reset_infos[agent]["effective_action"] == -1
        assert type(reset_infos[agent]["effective_action"]) is type(step_infos[agent]["effective_action"]) is np.int64
    aec = maze_v1.env(slip=0.2)
    aec.reset(seed=0)
    assert aec.infos["H"]["effective_action"] == -1
    for env_id, kwargs in (("multipower/JointMaze-H-v1", {"slip": 0.2}), ("multipower/Maze-v1", {"slip": 0.2})):
        env = gymnasium.make(env_id, **kwargs)
        _, info = env.reset(seed=0)
        _, _, _, _, after = env.step(0)
        assert set(info) == set(after) and all(type(info[k]) is type(after[k]) for k in info), env_id
