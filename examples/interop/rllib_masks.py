"""RLlib (new API stack): PPO with RLlib's action-masking module, one policy per agent, on the parallel env.

RLlib's ``ParallelPettingZooEnv`` wraps the parallel env; each agent maps to its own policy, so no agent
indicator is needed. RLlib's ``ActionMaskingTorchRLModule`` reads a dict observation
``{"observations": ..., "action_mask": ...}``: the env gives PettingZoo's ``{"observation", "action_mask"}`` with
``action_mask_in_obs=True``, and the small wrapper below renames the key. With ``strict=True`` the env raises on an
unavailable move, so a run that finishes took only available ones. Ray builds the env in each worker from
``env_config``, and the rewards follow from it (``reward_seed``), so every worker plays the same task.
"""

import ray
from gymnasium import spaces
from pettingzoo.utils import BaseParallelWrapper
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
from ray.rllib.examples.rl_modules.classes.action_masking_rlm import ActionMaskingTorchRLModule
from ray.tune.registry import register_env

from multipower.envs import maze_v1


class RLlibMasks(BaseParallelWrapper):
    """PettingZoo's ``{"observation", "action_mask"}`` as RLlib's ``{"observations", "action_mask"}``."""

    def observation_space(self, agent):
        space = self.env.observation_space(agent)
        return spaces.Dict({"observations": space["observation"], "action_mask": space["action_mask"]})

    def reset(self, seed=None, options=None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._rename(observations), infos

    def step(self, actions):
        observations, *rest = self.env.step(actions)
        return (self._rename(observations), *rest)

    @staticmethod
    def _rename(observations):
        return {agent: {"observations": o["observation"], "action_mask": o["action_mask"]}
                for agent, o in observations.items()}


def make_env(env_config):
    return ParallelPettingZooEnv(RLlibMasks(maze_v1.parallel_env(action_mask_in_obs=True, strict=True, **env_config)))


register_env("multipower_maze_v1", make_env)
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
masked = RLModuleSpec(module_class=ActionMaskingTorchRLModule)
config = (
    PPOConfig()
    .environment("multipower_maze_v1",  # RLlib's env check steps random, unmasked moves: strict=True refuses them
                 env_config={"layout": "maze7x7", "obs_type": "vector", "max_cycles": 20, "reward_seed": 0},
                 disable_env_checking=True)
    .multi_agent(policies={"H", "A"}, policy_mapping_fn=lambda agent_id, episode, **kwargs: agent_id)
    .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"H": masked, "A": masked}))
    .env_runners(num_env_runners=0)
    .training(train_batch_size_per_learner=400, minibatch_size=100, num_epochs=1)  # tiny, to show the API
)
algo = config.build_algo()
for _ in range(2):
    result = algo.train()
returns = result["env_runners"]["agent_episode_returns_mean"]
print("RLlib PPO with masked moves, mean episode return per agent:",
      {agent: round(float(r), 2) for agent, r in returns.items()})
algo.stop()
ray.shutdown()
