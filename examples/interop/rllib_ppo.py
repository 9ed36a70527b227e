"""RLlib (new API stack): PPO with one policy per agent on the parallel env.

RLlib's ``ParallelPettingZooEnv`` wraps the parallel env; each agent maps to its own policy, so no agent
indicator is needed. RLlib's default modules take no mask: unavailable moves leave an agent in place, so PPO
learns to avoid them (for masked logits, give ``action_mask_in_obs=True`` to an action-masking RLModule).
Ray builds the env in each worker from ``env_config``, and the rewards follow from it (``reward_seed``), so every
worker plays the same task.
"""

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.tune.registry import register_env

from multipower.envs import maze_v1

register_env("multipower_maze_v1", lambda env_config: ParallelPettingZooEnv(maze_v1.parallel_env(**env_config)))

ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
config = (
    PPOConfig()
    .environment("multipower_maze_v1",
                 env_config={"layout": "grid3x3", "obs_type": "vector", "max_cycles": 20, "reward_seed": 0})
    .multi_agent(policies={"H", "A"}, policy_mapping_fn=lambda agent_id, episode, **kwargs: agent_id)
    .env_runners(num_env_runners=0)
    .training(train_batch_size_per_learner=200, minibatch_size=50, num_epochs=1)  # tiny, to show the API
)
algo = config.build_algo()
result = algo.train()
returns = result["env_runners"]["agent_episode_returns_mean"]
print("RLlib PPO, mean episode return per agent:", {agent: round(float(r), 2) for agent, r in returns.items()})
algo.stop()
ray.shutdown()
