"""PettingZoo's SuperSuit + Stable-Baselines3 pattern: one PPO policy shared by both agents.

SuperSuit turns the parallel env into a vector env with one slot per agent, so a single network plays H and A.
Both agents see the whole world, so their observations are identical; ``agent_indicator=True`` appends who is
acting (``[1, 0]`` for H, ``[0, 1]`` for A), without which the shared policy could not serve two agents that are
paid differently.
"""

import supersuit as ss
from stable_baselines3 import PPO

from multipower.envs import maze_v1

env = maze_v1.parallel_env(layout="grid3x3", collision="crash", obs_type="vector", agent_indicator=True,
                           max_cycles=25, reward_seed=3)
vec_env = ss.pettingzoo_env_to_vec_env_v1(env)  # 2 slots: H and A
vec_env = ss.concat_vec_envs_v1(vec_env, 2, num_cpus=0, base_class="stable_baselines3")  # 2 copies of the task
# No seed= here: SB3 would call vec_env.seed(), which SuperSuit 3.11's ConcatVecEnv does not have.
model = PPO("MlpPolicy", vec_env, n_steps=64, batch_size=64, verbose=0)
model.learn(total_timesteps=512)  # tiny, to show the API

# Play both agents with the shared policy. Unavailable moves leave an agent in place (the env's rule).
env = maze_v1.parallel_env(layout="grid3x3", collision="crash", obs_type="vector", agent_indicator=True,
                           max_cycles=25, reward_seed=3)
observations, infos = env.reset(seed=1)
returns = {agent: 0.0 for agent in env.agents}
while env.agents:
    actions = {agent: int(model.predict(observations[agent], deterministic=True)[0]) for agent in env.agents}
    observations, rewards, terminations, truncations, infos = env.step(actions)
    for agent, reward in rewards.items():
        returns[agent] += reward
print("returns with one shared policy:", {agent: round(r, 2) for agent, r in returns.items()})
