"""Batched PPO's joint-action critic (``PPOConfig.joint_critic``): when it is on, what it learns against the exact
solver, its advantages against a direct computation, per-sample independence, and the worlds it refuses."""

import numpy as np
import pytest
import torch

from multipower.agents.ppo import JointCritic, PPOConfig, Rollout, greedy_tables, sample_keys, train_agents
from multipower.envs.model import joint_model
from multipower.envs.problem import StageProblem

TINY = dict(total_timesteps=4096, n_envs=8, n_steps=32, batch_size=64, n_epochs=2, net_arch=())


def uniform(mask):
    return mask / mask.sum(axis=-1, keepdims=True)


def test_on_at_long_horizons_in_worlds_of_one_outcome_per_move():
    assert PPOConfig().for_gamma(0.99).joint_critic is True
    assert PPOConfig().for_gamma(0.995).joint_critic is True
    assert PPOConfig().for_gamma(0.9).joint_critic is False
    assert PPOConfig().for_gamma(0.99, deterministic_moves=False).joint_critic is False
    assert PPOConfig(joint_critic=False).for_gamma(0.99).joint_critic is False
    assert PPOConfig(joint_critic=True).for_gamma(0.1).joint_critic is True
    # Saved settings name it only when it is on (runs without it keep their settings).
    assert "joint_critic" not in PPOConfig().for_gamma(0.1).to_dict()
    assert PPOConfig().for_gamma(0.99).to_dict()["joint_critic"] is True


def test_bad_values_get_one_line():
    with pytest.raises(ValueError, match="joint_critic: must be true or false, got 2"):
        PPOConfig(joint_critic=2)
    with pytest.raises(ValueError, match="joint_critic: needs a world where every joint move has one outcome"):
        PPOConfig(joint_critic=True).for_gamma(0.99, deterministic_moves=False)
    from multipower.learned.training import SpecError, learner_settings  # as `--option joint_critic=yes` reaches it

    model = joint_model("grid3x3")
    with pytest.raises(SpecError, match="^--option joint_critic: must be true or false, got 'yes'$"):
        learner_settings("ppo", {"joint_critic": "yes"}, 0.99, 0.99, uniform(model.action_mask_A), model)


def test_slip_worlds_keep_the_value_network():
    from multipower.learned.training import SpecError, learner_settings

    model = joint_model("grid3x3", "crash", 0.1)
    seed = uniform(model.action_mask_A)
    config = learner_settings("ppo", {}, 0.99, 0.99, seed, model)
    assert config.joint_critic is False and "joint_critic" not in config.for_gamma(0.99).to_dict()
    with pytest.raises(SpecError, match="^--option joint_critic: needs a world where every joint move has one"):
        learner_settings("ppo", {"joint_critic": True}, 0.99, 0.99, seed, model)
    # The Python API with the defaults: GAE and the value network, no error.
    nets = train_agents(StageProblem(model, np.random.default_rng(0).random((1, model.n_states)), 0.99, "H", seed),
                        sample_keys(0, [0], "H"), PPOConfig(**TINY))
    assert nets.critic is None


def test_critic_learns_the_optimal_joint_values():
    """The table's targets carry no noise, so on a small world it reaches ``Σ_o π_o(o|s) Q*(s, a, o)``, the optimal
    action values against the seed agent, at each state's optimal move and hence ``V*``: within 1e-4 in POWER
    units ``(1 − γ)·Q`` (measured 1.5e-5: 1,024 sweeps leave ``γ^1024 ≈ 3e-5`` of the start), against values of
    about 1/(1 − γ). Moves the actor has given up keep the values of when it last took them."""
    from multipower.exact.accuracy import optimal_response_q

    model = joint_model("grid3x3", "crash")
    R = np.random.default_rng(3).random((2, model.n_states))
    seed = uniform(model.action_mask_A)
    # 64 updates of 16 sweeps (2 epochs of 8 minibatches)
    config = PPOConfig(**{**TINY, "total_timesteps": 131_072, "n_envs": 32, "n_steps": 64, "batch_size": 256})
    nets = train_agents(StageProblem(model, R, 0.99, "H", seed), sample_keys(1, range(2), "H"), config)
    assert nets.critic is not None  # on by default at γ = 0.99
    q = optimal_response_q(model, R, 0.99, "H", seed)
    q = np.where(model.action_mask_H, q, -np.inf)
    best = q.argmax(-1)[..., None]
    learned = np.take_along_axis(nets.critic.joint_values().numpy(), best, -1)[..., 0]
    assert 0.01 * np.abs(learned - np.take_along_axis(q, best, -1)[..., 0]).max() < 1e-4
    assert 0.01 * np.abs(nets.critic.state_values().numpy() - q.max(-1)).max() < 1e-4
    # And the actor learned from it: its greedy move is optimal nearly everywhere.
    greedy = greedy_tables(nets, model, "H", "index").argmax(-1)[..., None]
    assert (np.take_along_axis(q, greedy, -1)[..., 0] >= q.max(-1) - 1e-6).mean() >= 0.95


def test_advantages_are_conditioned_on_the_others_move():
    """``Q(s, a, o) − Σ_a' π(a'|s) Q(s, a', o)`` for each transition, against a direct loop."""
    model = joint_model("grid3x3", "none")
    rng = np.random.default_rng(7)
    K, T, E, S = 2, 3, 4, model.n_states
    seed = uniform(model.action_mask_A)

    class _Batch:  # what JointCritic reads from a Batch
        other_probs = torch.tensor(np.broadcast_to(seed, (K, S, 5)).copy(), dtype=torch.float32)
        mask = torch.as_tensor(model.action_mask_H)
        n_actions, device = 5, torch.device("cpu")

    critic = JointCritic(_Batch())
    critic.q = torch.as_tensor(rng.random((K, S, 5, 5)), dtype=torch.float32)
    logits = np.where(model.action_mask_H, rng.normal(size=(K, S, 5)), -np.inf)
    log_probs = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float32), dim=-1)
    states, actions, others = (torch.as_tensor(rng.integers(0, n, (T, K, E))) for n in (S, 5, 5))
    rollout = Rollout(states, actions, None, None, None, None, others=others)
    got = critic.advantages(rollout, log_probs).numpy()
    q, p = critic.q.numpy(), log_probs.exp().numpy()
    for t, k, e in np.ndindex(T, K, E):
        s, a, o = int(states[t, k, e]), int(actions[t, k, e]), int(others[t, k, e])
        assert got[t, k, e] == pytest.approx(q[k, s, a, o] - (p[k, s] * q[k, s, :, o]).sum(), abs=1e-5)


def test_sample_trains_the_same_alone_or_in_a_batch():
    model = joint_model("grid3x3", "crash")
    K = 5
    R = np.random.default_rng(0).random((K, model.n_states))
    problem = lambda rows: StageProblem(model, R[rows], 0.99, "H", uniform(model.action_mask_A))  # noqa: E731
    together = train_agents(problem(slice(None)), sample_keys(5, range(K), "H"), PPOConfig(**TINY))
    for k in (0, 3):
        alone = train_agents(problem(slice(k, k + 1)), sample_keys(5, [k], "H"), PPOConfig(**TINY))
        assert torch.allclose(together.critic.q[k : k + 1], alone.critic.q, atol=1e-4, rtol=1e-5)
        assert torch.allclose(together.pi[0][0][k : k + 1], alone.pi[0][0], atol=1e-5, rtol=1e-4)
        greedy = greedy_tables(together, model, "H", "index")[k]
        assert np.array_equal(greedy, greedy_tables(alone, model, "H", "index")[0])
