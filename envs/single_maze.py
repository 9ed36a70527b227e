"""One agent alone in a layout (Part 1's single-agent POWER) as a Gymnasium environment.

Registered as ``"multipower/Maze-v0"``::

    import gymnasium, envs
    env = gymnasium.make("multipower/Maze-v0", layout="maze7x7")
    obs, info = env.reset(seed=0)

Steps use the :class:`~envs.model.SingleAgentModel` table ``next_cell[cell, action]``; the reward is ``R(s')``
of the cell arrived at. Episodes start on a uniformly random cell (exploring starts) unless
``reset(options={"cell": (row, col)})`` or ``{"state": index}`` places the agent, and are truncated after
``max_steps``. Reward tables work as in :mod:`envs.maze_v0`: given as ``rewards`` (shape ``(n_cells,)``), or
drawn from ``reward_distribution`` at the first and at every seeded reset; ``reset(options={"rewards": R})``
swaps them.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces

from envs.layouts import N_ACTIONS, LayoutLike, load_layout
from envs.maze_v0 import (
    DEFAULT_MAX_CYCLES,
    check_action,
    check_max_cycles,
    check_obs_type,
    check_render_mode,
    check_reward_table,
)
from envs.model import SingleAgentModel
from envs.rendering import DEFAULT_CELL_PX, render_ansi, render_rgb
from envs.rewards import RewardSampler

_KNOWN_OPTIONS = ("state", "cell", "rewards", "resample_rewards")


class SingleMazeEnv(gymnasium.Env):
    """One agent alone in a gridworld.

    Args:
        layout: A :class:`~envs.layouts.Layout`, built-in name, file path or layout text (default ``"maze7x7"``).
        max_steps: Steps after which an episode is truncated.
        obs_type: ``"index"`` (the cell index, ``Discrete(n_cells)``) or ``"vector"`` (float32 one-hot of the cell).
        action_mask_in_obs: Make each observation ``{"observation": ..., "action_mask": int8 (5,)}``.
        rewards: Reward table ``(n_cells,)``; ``None`` draws one from ``reward_distribution``.
        reward_distribution: Name, config dict or distribution (default uniform [0, 1]).
        strict: Raise ``ValueError`` on an unavailable action instead of staying in place.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``.
        cell_px: Pixels per cell side of ``"rgb_array"`` frames.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        layout: LayoutLike = "maze7x7",
        max_steps: int = DEFAULT_MAX_CYCLES,
        obs_type: str = "index",
        action_mask_in_obs: bool = False,
        rewards: Any = None,
        reward_distribution: Any = None,
        strict: bool = False,
        render_mode: Optional[str] = None,
        cell_px: int = DEFAULT_CELL_PX,
    ) -> None:
        self.model = SingleAgentModel(load_layout(layout))
        self.layout = self.model.layout
        self.max_steps = check_max_cycles(max_steps, "max_steps")
        self.obs_type = check_obs_type(obs_type)
        self.action_mask_in_obs = bool(action_mask_in_obs)
        self.strict = bool(strict)
        self.render_mode = check_render_mode(render_mode)
        self.cell_px = int(cell_px)
        self.reward_sampler = RewardSampler(self.model.n_states, reward_distribution)
        n = self.model.n_states
        base = spaces.Discrete(n) if obs_type == "index" else spaces.Box(0.0, 1.0, (n,), np.float32)
        self.observation_space = (
            spaces.Dict({"observation": base, "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8)})
            if self.action_mask_in_obs
            else base
        )
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._masks = self.model.action_mask.astype(np.int8)
        self._fixed_rewards = rewards is not None
        self._rewards = check_reward_table(rewards, n, "rewards") if rewards is not None else None
        self._cell = 0
        self._steps = 0

    @property
    def cell(self) -> int:
        """Index of the agent's cell."""
        return self._cell

    @property
    def reward_table(self) -> np.ndarray:
        if self._rewards is None:
            raise RuntimeError("no reward table yet: it is drawn at the first reset()")
        return self._rewards

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = [key for key in options if key not in _KNOWN_OPTIONS]
        if unknown:
            warnings.warn(f"Maze-v0 reset ignores unknown options {unknown}; known are {_KNOWN_OPTIONS}", stacklevel=2)
        n = self.model.n_states
        if options.get("rewards") is not None:
            self._rewards = check_reward_table(options["rewards"], n, "options['rewards']")
            self._fixed_rewards = True
        elif not self._fixed_rewards and (self._rewards is None or seed is not None or options.get("resample_rewards")):
            self._rewards = check_reward_table(self.reward_sampler.draw(self.np_random, 1)[0][0], n, "rewards")
        if options.get("state") is not None and options.get("cell") is not None:
            raise ValueError("options: give 'state' or 'cell', not both")
        if options.get("state") is not None:
            state = options["state"]
            if isinstance(state, bool) or not isinstance(state, (int, np.integer)) or not 0 <= state < n:
                raise ValueError(f"options['state'] must be an integer in [0, {n}), got {state!r}")
            self._cell = int(state)
        elif options.get("cell") is not None:
            self._cell = self.layout.cell_index(*map(int, options["cell"]))
        else:
            self._cell = int(self.np_random.integers(n))
        self._steps = 0
        return self._obs(), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        action = check_action(action, "action")
        invalid = not self._masks[self._cell, action]
        if invalid and self.strict:
            raise ValueError(f"unavailable action {action} at cell {tuple(self.layout.cells[self._cell])} (strict=True)")
        self._cell = int(self.model.next_cell[self._cell, action])
        self._steps += 1
        return self._obs(), float(self._rewards[self._cell]), False, self._steps >= self.max_steps, self._info(invalid)

    def _obs(self):
        if self.obs_type == "index":
            obs = np.int64(self._cell)
        else:
            obs = np.zeros(self.model.n_states, dtype=np.float32)
            obs[self._cell] = 1.0
        if self.action_mask_in_obs:
            return {"observation": obs, "action_mask": self._masks[self._cell].copy()}
        return obs

    def _info(self, invalid: bool) -> dict:
        return {"action_mask": self._masks[self._cell].copy(), "invalid_action": bool(invalid), "state": self._cell}

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the available actions now (read by sb3-contrib's ``MaskablePPO``)."""
        return self.model.action_mask[self._cell].copy()

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self.render_mode == "ansi":
            return render_ansi(self.layout, {"@": self._cell})
        return render_rgb(self.layout, {"H": self._cell}, self.cell_px)
