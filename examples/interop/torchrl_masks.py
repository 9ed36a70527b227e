"""TorchRL: the parallel env with the mask in the observation.

TorchRL's ``PettingZooWrapper`` reads the available moves from the observation dict and outputs them as
``("H", "action_mask")`` / ``("A", "action_mask")``; its random actions respect them, and a masked
distribution (``torchrl.modules.MaskedCategorical``) can use them in training. Each agent is its own group.
"""

import torch
from torchrl.envs import PettingZooWrapper

from multipower.envs import maze_v1

env = PettingZooWrapper(
    env=maze_v1.parallel_env(layout="maze7x7", collision="crash", obs_type="vector", action_mask_in_obs=True,
                             max_cycles=30, reward_seed=0),
    use_mask=True,
    categorical_actions=True,
    seed=0,
)
print("groups:", env.group_map)
td = env.reset()
rollout = env.rollout(max_steps=30)  # random actions within each agent's mask
for group in env.group_map:
    masks, actions = rollout[group, "action_mask"], rollout[group, "action"]
    chosen = masks.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    assert bool(chosen.all()), "a random action fell outside its mask"
print(f"TorchRL rollout of {rollout.batch_size[0]} steps; rewards of H: {rollout['next', 'H', 'reward'].sum():.2f}")
