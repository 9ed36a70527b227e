"""Stable-Baselines3 and sb3-contrib's MaskablePPO on one agent of the joint maze.

A Gymnasium id is one agent (here H) while the other moves at random over its available moves. Every
sub-env of a vector env gets the same reward tables (``reward_seed=0`` unless told otherwise), whatever the
reset seeds, so they are copies of one task. MaskablePPO reads the available moves from ``action_masks()``.
"""

import gymnasium
import numpy as np
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import multipower  # noqa: F401  (registers the multipower/ ids)

# Plain PPO on four copies of one task (layout, collision rule and rewards pass through gymnasium.make).
kwargs = dict(layout="grid3x3", collision="crash", obs_type="vector", reward_seed=7)
vec_env = make_vec_env("multipower/JointMaze-H-v1", n_envs=4, seed=0, env_kwargs=kwargs)
tables = vec_env.get_attr("par_env")
assert all(np.array_equal(t.reward_tables["H"], tables[0].reward_tables["H"]) for t in tables)
ppo = PPO("MlpPolicy", vec_env, n_steps=64, batch_size=64, seed=0, verbose=0)
ppo.learn(total_timesteps=512)  # tiny, to show the API

# MaskablePPO: the mask comes from env.action_masks(); the evaluation env has the same task (same kwargs).
env = gymnasium.make("multipower/JointMaze-H-v1", max_episode_steps=20, **kwargs)
model = MaskablePPO("MlpPolicy", env, n_steps=128, batch_size=64, seed=0, verbose=0)
model.learn(total_timesteps=256)
eval_env = gymnasium.make("multipower/JointMaze-H-v1", max_episode_steps=20, **kwargs)
obs, info = eval_env.reset(seed=123)
episode_return, done = 0.0, False
while not done:
    action, _ = model.predict(obs, action_masks=eval_env.unwrapped.action_masks(), deterministic=True)
    obs, reward, terminated, truncated, info = eval_env.step(action)
    episode_return += reward
    done = terminated or truncated
print(f"MaskablePPO return of H over one episode: {episode_return:.2f}")
