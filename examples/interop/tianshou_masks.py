"""Tianshou (2.x): the AEC env with the mask in the observation, one policy per agent.

Tianshou's ``PettingZooEnv`` reads the available moves only from an observation
``{"observation": ..., "action_mask": ...}`` and hands them to the policies as ``batch.obs.mask``; so build the
env with ``action_mask_in_obs=True``. The policies here are Tianshou's masked random policies; put a DQN or PPO
policy per agent in their place to learn (a policy shared by both agents needs ``agent_indicator=True``).
"""

from tianshou.algorithm.multiagent.marl import MultiAgentPolicy
from tianshou.algorithm.random import MARLRandomDiscreteMaskedOffPolicyAlgorithm
from tianshou.data import Collector
from tianshou.env import DummyVectorEnv, PettingZooEnv

from multipower.envs import maze_v1


def make_env():
    return PettingZooEnv(maze_v1.env(layout="maze7x7", collision="crash", obs_type="vector",
                                     action_mask_in_obs=True, max_cycles=30, reward_seed=0))


env = make_env()
policies = {agent: MARLRandomDiscreteMaskedOffPolicyAlgorithm(env.action_space).policy for agent in env.agents}
policy = MultiAgentPolicy(policies)
train_envs = DummyVectorEnv([make_env for _ in range(2)])
collector = Collector(policy, train_envs)
collector.reset()
stats = collector.collect(n_episode=4, reset_before_collect=True)
print(f"Tianshou collected {stats.n_collected_episodes} episodes, {stats.n_collected_steps} agent steps")
