"""Tianshou (2.x): the research's two stages as single-agent problems, H against the seed policy of A.

Each stage is one agent learning while the other follows a fixed policy, which is a single-agent problem: the
Gymnasium view ``multipower/JointMaze-H-v1`` (A on its uniform seed policy; ``JointMaze-A-v1`` with
``other_policy=`` H's frozen policy for the second stage). Tianshou reads action masks from an observation
``{"obs": ..., "mask": ...}``, so a small wrapper renames the view's ``{"observation", "action_mask"}``.

(Tianshou's multi-agent ``PettingZooEnv`` is not used: it steps an AEC env turn by turn and hands each agent the
rewards of its own turn, while the simultaneous-move maze pays both agents only after A's move, so H's
transitions there carry zero reward.)
"""

import gymnasium
import numpy as np
import torch
from tianshou.algorithm.modelfree.dqn import DQN, DiscreteQLearningPolicy
from tianshou.algorithm.optim import AdamOptimizerFactory
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.trainer import OffPolicyTrainerParams
from tianshou.utils.net.common import Net

import multipower  # noqa: F401  (registers the multipower/ Gymnasium ids)


class TianshouMask(gymnasium.ObservationWrapper):
    """The view's ``{"observation", "action_mask"}`` as Tianshou's ``{"obs", "mask"}``."""

    def __init__(self, env):
        super().__init__(env)
        space = env.observation_space
        self.observation_space = gymnasium.spaces.Dict({"obs": space["observation"], "mask": space["action_mask"]})

    def observation(self, observation):
        return {"obs": observation["observation"], "mask": observation["action_mask"].astype(bool)}


def make_env():
    return TianshouMask(gymnasium.make("multipower/JointMaze-H-v1", layout="maze7x7", collision="crash",
                                       obs_type="vector", action_mask_in_obs=True, reward_seed=0,
                                       max_episode_steps=30))


torch.manual_seed(0)
env = make_env()
net = Net(state_shape=env.observation_space["obs"].shape, action_shape=env.action_space.n, hidden_sizes=[64])
policy = DiscreteQLearningPolicy(model=net, action_space=env.action_space, eps_training=0.3)
algorithm = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.9, target_update_freq=50)
train_envs = DummyVectorEnv([make_env for _ in range(4)])
train_envs.seed(0)
buffer = VectorReplayBuffer(20_000, len(train_envs))
collector = Collector(algorithm, train_envs, buffer, exploration_noise=True)
algorithm.run_training(OffPolicyTrainerParams(
    training_collector=collector, max_epochs=2, epoch_num_steps=4_000, collection_step_num_env_steps=400,
    update_step_num_gradient_steps_per_sample=0.1, batch_size=64, test_collector=None, show_progress=False,
))
rewards = buffer.rew[: len(buffer)]
print(f"Tianshou DQN, H against the seed: {len(buffer)} transitions, mean reward {rewards.mean():.3f}, "
      f"{np.mean(rewards != 0):.0%} of them non-zero")
