"""PPO: policies read off the model, frozen policies plugged into the single-agent view."""

import numpy as np
import pytest

from multipower.agents.sb3_ppo import SB3PPOConfig, frozen_policy, policy_table, state_observations, train_sb3_ppo
from multipower.envs import maze_v1
from multipower.envs.model import joint_model
from multipower.envs.single_agent import SingleAgentView
from multipower.envs.rewards import RewardSampler
from multipower.exact.accuracy import optimal_response_q
from multipower.envs.problem import StageProblem, TwoStageProblem


def test_state_observations_match_env():
    model = joint_model("grid3x3", "crash")
    env = maze_v1.parallel_env(model=model, obs_type="vector")
    obs = state_observations(model)
    for s in (0, 17, model.n_states - 1):
        observations, _ = env.reset(options={"joint_state": s})
        np.testing.assert_array_equal(observations["H"], obs[s])


def test_index_observations_match_env_and_train():
    """``observation="index"``: the joint-state index, which SB3 one-hot encodes; the policy reads off alike."""
    model = joint_model("grid3x3", "crash")
    env = maze_v1.parallel_env(model=model, obs_type="index")
    obs = state_observations(model, "index")
    for s in (0, 17, model.n_states - 1):
        observations, _ = env.reset(options={"joint_state": s})
        assert observations["A"] == obs[s]
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    config = SB3PPOConfig(total_timesteps=256, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, observation="index")
    ppo = train_sb3_ppo(StageProblem(model, R_A[0], 0.6, "A"), config, seed=0)
    assert ppo.observation_space.n == model.n_states
    table = policy_table(ppo, model, "A")
    assert (table[~model.action_mask_A] == 0).all() and np.allclose(table.sum(1), 1)


@pytest.mark.parametrize("anneal", [True, False])
def test_ppo_learning_rate_schedule(anneal):
    """``anneal_lr``: SB3 is given a rate falling linearly from ``learning_rate`` to 0 over training."""
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    config = SB3PPOConfig(total_timesteps=128, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, anneal_lr=anneal,
                       learning_rate=2e-3)
    ppo = train_sb3_ppo(StageProblem(model, R_H[0], 0.6, "H"), config, seed=0)
    for remaining in (1.0, 0.25, 0.0):  # SB3's progress_remaining
        assert ppo.lr_schedule(remaining) == pytest.approx(2e-3 * (remaining if anneal else 1.0))


@pytest.mark.parametrize("anneal", [True, False])
def test_ppo_entropy_schedule(anneal, monkeypatch):
    """``anneal_ent``: each update uses ``ent_coef`` times the fraction of training left after its rollout."""
    from sb3_contrib import MaskablePPO

    used = []
    train = MaskablePPO.train
    monkeypatch.setattr(MaskablePPO, "train", lambda self: (used.append(self.ent_coef), train(self))[1])
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    config = SB3PPOConfig(total_timesteps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, anneal_ent=anneal,
                       ent_coef=0.2)
    train_sb3_ppo(StageProblem(model, R_H[0], 0.6, "H"), config, seed=0)
    expected = [0.15, 0.1, 0.05, 0.0] if anneal else [0.2] * 4  # 4 rollouts of 128 steps
    assert used == pytest.approx(expected)


def test_ppo_tensorboard_curves(tmp_path):
    """SB3's curves plus the accuracy against the exact optimum and the entropy coefficient in use."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from multipower.exact.accuracy import optimal_response_q
    from multipower.envs.policies import uniform_policy

    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    exact_q = optimal_response_q(model, R_H, 0.6, "H", uniform_policy(model.action_mask_A))[0]
    config = SB3PPOConfig(total_timesteps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=1, eval_every=128)
    train_sb3_ppo(StageProblem(model, R_H[0], 0.6, "H"), config, 0, str(tmp_path), exact_q, "run")
    (run,) = tmp_path.glob("run_*")
    events = EventAccumulator(str(run))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"accuracy/greedy_optimal_fraction", "accuracy/value_gap", "train/ent_coef", "train/entropy_loss"} <= tags
    fractions = [e.value for e in events.Scalars("accuracy/greedy_optimal_fraction")]
    assert len(fractions) >= 3 and all(0.0 <= f <= 1.0 for f in fractions)
    assert [e.value for e in events.Scalars("train/ent_coef")] == pytest.approx([0.075, 0.05, 0.025, 0.0])


def test_bad_ppo_config_raises():
    with pytest.raises(ValueError, match="observation must be one of"):
        SB3PPOConfig(observation="pixels")
    with pytest.raises(ValueError, match="total_timesteps"):
        SB3PPOConfig(total_timesteps=0)


def test_ppo_policy_read_off_and_frozen_into_view():
    model = joint_model("grid3x3", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    config = SB3PPOConfig(total_timesteps=512, n_envs=2, n_steps=64, batch_size=64, n_epochs=2)
    ppo = train_sb3_ppo(StageProblem(model, R_H[0], 0.6, "H"), config, seed=0)
    table = policy_table(ppo, model, "H")
    assert table.shape == (model.n_states, 5)
    assert (table[~model.action_mask_H] == 0).all() and np.allclose(table.sum(1), 1)
    # The frozen policy plugs into the view as the other agent, and is what A then faces.
    frozen = frozen_policy(ppo, model, "H")
    view = SingleAgentView(maze_v1.parallel_env(model=model, obs_type="vector", rewards={"H": R_H[0], "A": R_A[0]}),
                           agent="A", other_policy=frozen)
    _, info = view.reset(seed=1)
    for _ in range(10):
        s = view.joint_state
        _, _, term, trunc, info = view.step(int(np.flatnonzero(view.action_masks())[0]))
        assert info["other_action"] == int(table[s].argmax())
        if term or trunc:
            view.reset()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # about 25 minutes on 2 cores
def test_ppo_grid3x3_target():
    """PPO, grid3x3, γ = 0.6, 16 samples: H's greedy policy optimal in >= 90% of (sample, state) pairs."""
    from multipower.envs.model import joint_model
    from multipower.envs.rewards import RewardSampler
    from multipower.learned import train_agents

    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 16)
    agents = train_agents("sb3-ppo", TwoStageProblem(model, R_H, R_A, 0.6, 0.6), seed=0, reference=optimal_response_q)
    assert agents.config["metrics"]["greedy_optimal_H"] >= 0.90
