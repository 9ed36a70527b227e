"""One agent alone in a layout (single-agent POWER) as a Gymnasium environment.

Registered as ``"multipower/Maze-v1"`` (``import multipower.envs`` or ``import multipower`` registers it)::

    import gymnasium, envs
    env = gymnasium.make("multipower/Maze-v1", layout="maze7x7")   # episodes of max_episode_steps=100
    obs, info = env.reset(seed=0)

Steps use the ``SingleAgentModel`` table ``next_cell[cell, action]``; the reward is ``R(s')``
of the cell arrived at. With ``slip`` (docs/concepts.md#slip) the action is first replaced, with that
probability, by a move drawn uniformly from the available ones (``multipower.envs.dynamics.effective_moves``, drawn from
the env's ``np_random``; ``info["effective_action"]`` says which happened); ``slip=0`` draws nothing. Episodes start on a uniformly random cell (exploring starts) unless
``reset(options={"cell": (row, col)})`` or ``{"state": index}`` places the agent. Under ``gymnasium.make`` they
are truncated after ``max_episode_steps`` (default 100); built directly, after ``max_cycles`` steps (default
``None``: never).

The reward table is the task, as in ``multipower.envs.maze_v1``: given as ``rewards`` (shape ``(n_cells,)``) or drawn
from ``reward_seed`` (default 0) and ``reward_distribution`` when the environment is built; ``reset(seed=...)``
does not change it. ``reset(options={"rewards": R})`` or ``reset(options={"reward_seed": n})`` swaps it.

Version history: v1 as ``multipower.envs.maze_v1`` v1 (reward table fixed at construction, ``reward_seed``,
``"human"`` rendering, no mask in ``info`` with ``action_mask_in_obs``),
and ``max_steps`` becomes ``max_cycles`` (default ``None``; the registered id's ``max_episode_steps`` is 100),
default layout ``"grid3x3"`` (was ``"maze7x7"``), as for the joint maze; later, the ``slip`` option (``slip=0``, the
default, behaves as before). v0: initial release.
"""

from __future__ import annotations

from typing import Any, Optional

import gymnasium
import numpy as np
from gymnasium import spaces

from multipower.envs.dynamics import effective_moves
from multipower.envs.layouts import N_ACTIONS, LayoutLike, load_layout
from multipower.envs.maze_v1 import DEFAULT_LAYOUT, RENDER_MODES, check_obs_type, check_render_mode
from multipower.envs.model import SingleAgentModel
from multipower.envs.rendering import DEFAULT_CELL_PX, check_cell_px, render_ansi, render_rgb
from multipower.envs.rewards import RewardSampler
from multipower.envs.slip import check_slip, slip_cdf
from multipower.envs.validation import check_action, check_max_cycles, check_reward_seed, check_reward_table



class SingleMazeEnv(gymnasium.Env):
    """One agent alone in a gridworld.

    Args:
        layout: A ``Layout``, built-in name, file path or layout text (default ``"grid3x3"``).
        max_cycles: Steps after which an episode is truncated; ``None`` (default) never truncates
            (``gymnasium.make`` adds a ``TimeLimit`` of ``max_episode_steps``).
        obs_type: ``"index"`` (the cell index, ``Discrete(n_cells)``) or ``"vector"`` (float32 one-hot of the cell).
        action_mask_in_obs: Make each observation ``{"observation": ..., "action_mask": int8 (5,)}``.
        rewards: Reward table ``(n_cells,)``; ``None`` draws one from ``reward_seed`` and ``reward_distribution``.
        reward_seed: Seed of the drawn table (default 0); giving it with ``rewards`` is an error.
        reward_distribution: Name, config dict or distribution (default uniform [0, 1]).
        strict: Raise ``ValueError`` on an unavailable action instead of staying in place.
        render_mode: ``None``, ``"human"``, ``"ansi"`` or ``"rgb_array"``.
        cell_px: Pixels per cell side of ``"rgb_array"`` frames.
        slip: Slip probability in [0, 1] (default 0; docs/concepts.md#slip).
    """

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 4}

    def __init__(
        self,
        layout: LayoutLike = DEFAULT_LAYOUT,
        max_cycles: Optional[int] = None,
        obs_type: str = "index",
        action_mask_in_obs: bool = False,
        rewards: Any = None,
        reward_seed: Optional[int] = None,
        reward_distribution: Any = None,
        strict: bool = False,
        render_mode: Optional[str] = None,
        cell_px: int = DEFAULT_CELL_PX,
        slip: float = 0.0,
    ) -> None:
        self.model = SingleAgentModel(load_layout(layout), check_slip(slip))
        self._slip_cdf = slip_cdf(self.model.slip_matrix) if self.model.slip > 0.0 else None
        self.layout = self.model.layout
        self.max_cycles = check_max_cycles(max_cycles)
        self.obs_type = check_obs_type(obs_type)
        self.action_mask_in_obs = bool(action_mask_in_obs)
        self.strict = bool(strict)
        self.render_mode = check_render_mode(render_mode)
        self.cell_px = check_cell_px(cell_px, self.layout)
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
        self.reward_seed: Optional[int] = None
        if rewards is not None and reward_seed is not None:
            raise ValueError("give rewards or reward_seed, not both: rewards fixes the table, reward_seed draws it")
        if rewards is not None:
            self._rewards = check_reward_table(rewards, n, "rewards")
        else:
            self.set_reward_seed(0 if reward_seed is None else reward_seed)
        self._cell = 0
        self._steps = 0

    @property
    def cell(self) -> int:
        """Index of the agent's cell."""
        return self._cell

    @property
    def reward_table(self) -> np.ndarray:
        """The reward table in use (read-only, ``(n_cells,)``)."""
        return self._rewards

    def set_reward_seed(self, reward_seed: int) -> None:
        """Draw the reward table of ``reward_seed`` and use it."""
        rng = np.random.default_rng(check_reward_seed(reward_seed))
        self._rewards = check_reward_table(self.reward_sampler.draw(rng, 1)[0][0], self.model.n_states, "rewards")
        self.reward_seed = int(reward_seed)

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        if "resample_rewards" in options:
            raise ValueError(
                "options['resample_rewards'] was removed in Maze-v1: pass options={'reward_seed': n} or {'rewards': R}"
            )
        # Options it does not use are ignored, as Gymnasium does; those it uses are checked.
        n = self.model.n_states
        if options.get("rewards") is not None and options.get("reward_seed") is not None:
            raise ValueError("options: give 'rewards' or 'reward_seed', not both")
        if options.get("rewards") is not None:
            self._rewards = check_reward_table(options["rewards"], n, "options['rewards']")
            self.reward_seed = None
        elif options.get("reward_seed") is not None:
            check_reward_seed(options["reward_seed"], "options['reward_seed']")
            self.set_reward_seed(options["reward_seed"])
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
        if self.render_mode == "human":
            self.render()
        return self._obs(), self._info(False)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        action = check_action(action, "action")
        invalid = not self._masks[self._cell, action]
        if invalid and self.strict:
            raise ValueError(f"unavailable action {action} at cell {tuple(self.layout.cells[self._cell])} (strict=True)")
        effective = action
        if self._slip_cdf is not None:
            u = np.asarray(self.np_random.random())
            effective = int(effective_moves(self._slip_cdf, np.asarray(self._cell), np.asarray(action), u))
        self._cell = int(self.model.next_cell[self._cell, effective])
        self._steps += 1
        truncated = self.max_cycles is not None and self._steps >= self.max_cycles
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(self._rewards[self._cell]), False, truncated, self._info(invalid, effective)

    def _obs(self):
        if self.obs_type == "index":
            obs = np.int64(self._cell)  # Gymnasium's form for Discrete (maze_v1, a PettingZoo env, gives a 0-d array)
        else:
            obs = np.zeros(self.model.n_states, dtype=np.float32)
            obs[self._cell] = 1.0
        if self.action_mask_in_obs:
            return {"observation": obs, "action_mask": self._masks[self._cell].copy()}
        return obs

    def _info(self, invalid: bool, effective: int = -1) -> dict:
        """The same keys with the same types from ``reset()`` on: with slip, ``effective_action`` is -1 at reset."""
        info = {"invalid_action": bool(invalid), "state": self._cell}
        if not self.action_mask_in_obs:
            info["action_mask"] = self._masks[self._cell].copy()
        if self._slip_cdf is not None:
            info["effective_action"] = np.int64(effective)
        return info

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the available actions now (read by sb3-contrib's ``MaskablePPO``)."""
        return self.model.action_mask[self._cell].copy()

    def render(self):
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='human', 'ansi' or 'rgb_array'")
            return None
        if self.render_mode == "rgb_array":
            return render_rgb(self.layout, {"H": self._cell}, self.cell_px)
        text = render_ansi(self.layout, {"@": self._cell})
        if self.render_mode == "human":
            print(text, end="\n\n", flush=True)
            return None
        return text
