"""BenchMARL: a task class for the maze, then one short MAPPO run.

BenchMARL builds its environments through TorchRL's ``PettingZooWrapper``: ``use_mask=True`` passes the
``action_mask`` observation (``action_mask_in_obs=True``) to the masked policies, and ``return_state=True`` adds
the global ``state()`` that centralised critics read; with ``strict=True`` the env raises on an unavailable
move, so a run that finishes took only available ones. The task class reuses BenchMARL's PettingZoo specs and
only says how to build the env.
"""

import tempfile

from benchmarl.algorithms import MappoConfig
from benchmarl.environments.pettingzoo.common import PettingZooClass
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
from torchrl.envs import PettingZooWrapper

from multipower.envs import maze_v1


class MazeTask(PettingZooClass):
    """The two-agent maze as a BenchMARL task; ``config`` holds ``maze_v1.parallel_env``'s arguments."""

    def get_env_fun(self, num_envs, continuous_actions, seed, device):
        config = dict(self.config)
        return lambda: PettingZooWrapper(
            maze_v1.parallel_env(obs_type="vector", action_mask_in_obs=True, strict=True, **config),
            categorical_actions=True, use_mask=True, return_state=True, seed=seed, device=device)

    def supports_continuous_actions(self):
        return False

    def supports_discrete_actions(self):
        return True

    def has_state(self):
        return True

    def max_steps(self, env):
        return self.config["max_cycles"]

    @staticmethod
    def env_name():
        return "multipower_maze"


task = MazeTask("maze7x7_crash", {"layout": "maze7x7", "collision": "crash", "max_cycles": 20, "reward_seed": 0})
config = ExperimentConfig.get_from_yaml()
config.save_folder = tempfile.mkdtemp()
config.loggers, config.create_json, config.checkpoint_at_end = [], False, False
config.on_policy_collected_frames_per_batch = 400
config.on_policy_n_envs_per_worker = 2
config.on_policy_n_minibatch_iters = 1
config.on_policy_minibatch_size = 100
config.max_n_frames = 800  # two iterations, to show the API
config.evaluation = False
config.train_device = config.sampling_device = "cpu"
experiment = Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(),
                        model_config=MlpConfig.get_from_yaml(), critic_model_config=MlpConfig.get_from_yaml(),
                        seed=0, config=config)
experiment.run()
print(f"BenchMARL MAPPO: {experiment.total_frames} frames collected, {experiment.n_iters_performed} iterations")
