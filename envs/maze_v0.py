"""``maze_v0``: two agents, H and A, in a gridworld, as a PettingZoo environment (docs/environments.md).

Build it with :func:`parallel_env` (a ``ParallelEnv``: both agents act at once) or :func:`env` (the same
environment as an AEC env through ``pettingzoo.utils.parallel_to_aec``)::

    from envs import maze_v0
    env = maze_v0.parallel_env(layout="maze7x7", collision="crash", max_cycles=50)
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample(infos[agent]["action_mask"]) for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

Conventions:

* **Dynamics** come from the :class:`~envs.model.JointModel` only: ``next = model.next_state[s, a_H, a_A]``.
  An unavailable action leaves its agent in place (the model maps it to ``stay``) and sets
  ``infos[agent]["invalid_action"] = True`` (``strict=True`` raises ``ValueError`` instead).
* **Rewards**: ``step()`` returns ``R_H(s')`` and ``R_A(s')`` of the joint state ``s'`` arrived at. Under
  ``collision="crash"`` a joint move that puts both agents on one cell returns 0 to both and terminates both.
* **Start**: by default every episode starts from a uniformly random joint state (exploring starts, which
  POWER needs: every joint state is a start state). ``reset(options={"joint_state": s})`` or
  ``reset(options={"cells": {"H": (r, c), "A": (r, c)}})`` places the agents instead.
* **Reward tables**: given as ``rewards={"H": R_H, "A": R_A}`` (each of shape ``(n_states,)``), or, when none
  are given, drawn from ``reward_distribution`` (uniform [0, 1] by default) with correlation
  ``reward_correlation`` from the environment's generator at the first reset and at every seeded reset; they
  then stay fixed across unseeded resets. ``reset(options={"rewards": {...}})`` swaps in new tables and
  ``reset(options={"resample_rewards": True})`` draws new ones, without rebuilding the environment.
* **Observations** (the same for both agents, fully observed): ``obs_type="index"`` gives the joint-state
  index (``Discrete(n_states)``, for tabular learners); ``obs_type="vector"`` gives a float32 vector, the
  one-hot of H's cell followed by the one-hot of A's cell (``2 * n_cells`` long). With
  ``action_mask_in_obs=True`` an observation is ``{"observation": ..., "action_mask": int8 (5,)}``.
  The mask is in ``infos[agent]["action_mask"]`` every step either way. After a crash the ``"index"``
  observation is the joint state the agents crashed from (no index exists for two agents on one cell);
  the ``"vector"`` observation shows both agents on the crash cell; ``infos[agent]["joint_state"]`` is
  ``model.terminal_state``.
* **Episodes** are truncated after ``max_cycles`` steps.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Mapping, Optional

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec

from envs.dynamics import joint_step, padded_rewards
from envs.layouts import N_ACTIONS, Layout, LayoutLike, load_layout, parse_layout
from envs.model import AGENTS, JointModel, check_agent, check_collision
from envs.rendering import DEFAULT_CELL_PX, render_ansi, render_rgb
from envs.rewards import RewardSampler

OBS_TYPES = ("index", "vector")
RENDER_MODES = ("ansi", "rgb_array")
DEFAULT_LAYOUT = "grid3x3"
DEFAULT_MAX_CYCLES = 100
_KNOWN_OPTIONS = ("joint_state", "cells", "rewards", "resample_rewards")


def check_obs_type(obs_type: str) -> str:
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    return obs_type


def check_render_mode(render_mode: Optional[str]) -> Optional[str]:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
    return render_mode


def check_max_cycles(max_cycles: int, name: str = "max_cycles") -> int:
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer)) or max_cycles < 1:
        raise ValueError(f"{name} must be a positive integer, got {max_cycles!r}")
    return int(max_cycles)


def check_action(action: Any, name: str = "action") -> int:
    """An action as an int in ``[0, N_ACTIONS)``; ``ValueError`` naming ``name`` otherwise."""
    if type(action) is int or isinstance(action, np.integer):
        value = int(action)
    else:
        array = np.asarray(action)
        if array.size != 1 or array.dtype.kind not in "iu":
            raise ValueError(f"{name} must be an integer in [0, {N_ACTIONS}), got {action!r}")
        value = int(array.reshape(()))
    if not 0 <= value < N_ACTIONS:
        raise ValueError(f"{name} must be an integer in [0, {N_ACTIONS}) (Discrete({N_ACTIONS})), got {value}")
    return value


def check_reward_table(table: Any, n_states: int, name: str) -> np.ndarray:
    """A finite float64 reward table of shape ``(n_states,)``; ``ValueError`` naming ``name`` otherwise."""
    array = np.asarray(table, dtype=np.float64)
    if array.shape != (n_states,):
        raise ValueError(f"{name} must have shape ({n_states},) (one reward per joint state), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    array = array.copy()
    array.flags.writeable = False
    return array


@functools.lru_cache(maxsize=8)
def _cached_model(text: str, name: str, collision: str) -> JointModel:
    with warnings.catch_warnings():  # load_layout already warned the caller about this layout
        warnings.simplefilter("ignore")
        return JointModel(parse_layout(text, name=name), collision)


def build_model(layout: LayoutLike, collision: str) -> JointModel:
    """The :class:`JointModel` of ``layout`` under ``collision``, cached so that copies of an env share it."""
    check_collision(collision)
    layout = load_layout(layout)
    return _cached_model(layout.to_text(), layout.name, collision)


class MazeParallelEnv(ParallelEnv):
    """Two agents, ``"H"`` and ``"A"``, acting at once in a gridworld (see the module docstring).

    Args:
        layout: A :class:`~envs.layouts.Layout`, a built-in name, a file path or layout text
            (default ``"grid3x3"``).
        collision: ``"none"`` (agents may overlap), ``"crash"`` (meeting on a cell ends the episode) or
            ``"bounce"`` (a move into an occupied cell fails); default ``"none"``.
        max_cycles: Steps after which an episode is truncated.
        obs_type: ``"index"`` (joint-state index, ``Discrete(n_states)``) or ``"vector"`` (float32 one-hots of
            H's and A's cells).
        action_mask_in_obs: Make each observation ``{"observation": ..., "action_mask": int8 (5,)}``.
        rewards: Reward tables ``{"H": (n_states,), "A": (n_states,)}`` over joint states; ``None`` draws them.
        reward_distribution: Distribution to draw rewards from when ``rewards`` is None: a name, a config dict
            or a :class:`~envs.rewards.RewardDistribution` (default uniform [0, 1]).
        reward_correlation: Correlation ``β`` of the drawn ``R_H`` and ``R_A`` (docs/concepts.md#reward-correlation).
        strict: Raise ``ValueError`` on an unavailable action instead of staying in place.
        render_mode: ``None``, ``"ansi"`` or ``"rgb_array"``.
        model: A prebuilt :class:`~envs.model.JointModel` to step by, instead of ``layout`` and ``collision``
            (which must then be left as None).
        cell_px: Pixels per cell side of ``"rgb_array"`` frames.
    """

    metadata = {"name": "maze_v0", "render_modes": list(RENDER_MODES), "is_parallelizable": True, "render_fps": 4}

    def __init__(
        self,
        layout: Optional[LayoutLike] = None,
        collision: Optional[str] = None,
        max_cycles: int = DEFAULT_MAX_CYCLES,
        obs_type: str = "index",
        action_mask_in_obs: bool = False,
        rewards: Optional[Mapping[str, Any]] = None,
        reward_distribution: Any = None,
        reward_correlation: float = 0.0,
        strict: bool = False,
        render_mode: Optional[str] = None,
        model: Optional[JointModel] = None,
        cell_px: int = DEFAULT_CELL_PX,
    ) -> None:
        if model is not None:
            if not isinstance(model, JointModel):
                raise ValueError(f"model must be a JointModel, got {type(model).__name__}")
            if layout is not None or collision is not None:
                raise ValueError("give either model or layout/collision, not both")
        else:
            model = build_model(DEFAULT_LAYOUT if layout is None else layout, collision or "none")
        self.model: JointModel = model
        self.layout: Layout = model.layout
        self.collision: str = model.collision
        self.max_cycles = check_max_cycles(max_cycles)
        self.obs_type = check_obs_type(obs_type)
        self.action_mask_in_obs = bool(action_mask_in_obs)
        self.strict = bool(strict)
        self.render_mode = check_render_mode(render_mode)
        self.cell_px = int(cell_px)
        self.reward_sampler = RewardSampler(model.n_states, reward_distribution, reward_correlation)

        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        n, n_states = model.n_cells, model.n_states
        base = spaces.Discrete(n_states) if obs_type == "index" else spaces.Box(0.0, 1.0, (2 * n,), np.float32)
        self.state_space = base
        self._observation_spaces = {
            agent: (
                spaces.Dict({"observation": base, "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8)})
                if self.action_mask_in_obs
                else base
            )
            for agent in AGENTS
        }
        self._action_spaces = {agent: spaces.Discrete(N_ACTIONS) for agent in AGENTS}

        # Hot-path tables (plain views of the model's arrays).
        self._next_state = model.next_state
        self._masks = {"H": model.action_mask_H.astype(np.int8), "A": model.action_mask_A.astype(np.int8)}
        self._bool_masks = {"H": model.action_mask_H, "A": model.action_mask_A}

        self._fixed_rewards = rewards is not None
        self._rewards: Optional[dict[str, np.ndarray]] = None
        self._padded_rewards: dict[str, np.ndarray] = {}  # (n_states + 1,): reward on arrival, 0 at the terminal
        if rewards is not None:
            self._use_rewards(self._check_rewards(rewards))
        self._np_random: Optional[np.random.Generator] = None
        self._np_random_seed: Optional[int] = None
        self._state = 0
        self._obs_state = 0  # the joint state observed: the state crashed from after a crash
        self._cells = (int(model.joint_cells[0, 0]), int(model.joint_cells[0, 1]))
        self._cycles = 0

    # ------------------------------------------------------------------ spaces and properties
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[check_agent(agent)]

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[check_agent(agent)]

    @property
    def np_random(self) -> np.random.Generator:
        """The environment's generator (seeded by ``reset(seed=...)``; created unseeded on first use)."""
        if self._np_random is None:
            self._np_random, self._np_random_seed = seeding.np_random()
        return self._np_random

    @property
    def n_states(self) -> int:
        return self.model.n_states

    @property
    def joint_state(self) -> int:
        """The current joint state (``model.terminal_state`` after a crash)."""
        return self._state

    @property
    def cells(self) -> dict[str, tuple[int, int]]:
        """``{"H": (row, col), "A": (row, col)}`` of the agents now."""
        cells = self.layout.cells
        return {"H": tuple(int(x) for x in cells[self._cells[0]]), "A": tuple(int(x) for x in cells[self._cells[1]])}

    @property
    def reward_tables(self) -> dict[str, np.ndarray]:
        """``{"H": R_H, "A": R_A}`` (read-only, ``(n_states,)``); drawn at the first reset if none were given."""
        if self._rewards is None:
            raise RuntimeError("no reward tables yet: they are drawn at the first reset()")
        return dict(self._rewards)

    def set_rewards(self, rewards: Mapping[str, Any]) -> None:
        """Use these reward tables ``{"H": (n_states,), "A": (n_states,)}`` from the next step on."""
        self._use_rewards(self._check_rewards(rewards))
        self._fixed_rewards = True

    def _use_rewards(self, rewards: dict[str, np.ndarray]) -> None:
        self._rewards = rewards
        self._padded_rewards = {agent: padded_rewards(table) for agent, table in rewards.items()}

    def _check_rewards(self, rewards: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if not isinstance(rewards, Mapping) or set(rewards) != set(AGENTS):
            keys = list(rewards) if isinstance(rewards, Mapping) else type(rewards).__name__
            raise ValueError(f"rewards must be a dict with keys {AGENTS} (one table per agent), got {keys}")
        return {agent: check_reward_table(rewards[agent], self.model.n_states, f"rewards[{agent!r}]") for agent in AGENTS}

    # ------------------------------------------------------------------ reset and step
    def reset(
        self, seed: Optional[int] = None, options: Optional[dict] = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        """Start an episode; see the module docstring for ``options``. Returns ``(observations, infos)``."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        options = dict(options or {})
        unknown = [key for key in options if key not in _KNOWN_OPTIONS]
        if unknown:
            warnings.warn(f"maze_v0 reset ignores unknown options {unknown}; known are {_KNOWN_OPTIONS}", stacklevel=2)
        if options.get("rewards") is not None:
            self.set_rewards(options["rewards"])
        elif not self._fixed_rewards and (self._rewards is None or seed is not None or options.get("resample_rewards")):
            r_h, r_a = self.reward_sampler.draw(self.np_random, 1)
            self._use_rewards({
                "H": check_reward_table(r_h[0], self.n_states, "rewards['H']"),
                "A": check_reward_table(r_a[0], self.n_states, "rewards['A']"),
            })
        elif options.get("resample_rewards"):
            raise ValueError("options['resample_rewards'] needs an env without fixed reward tables")
        self._state = self._obs_state = self._start_state(options)
        self._cells = (int(self.model.joint_cells[self._state, 0]), int(self.model.joint_cells[self._state, 1]))
        self._cycles = 0
        self.agents = list(AGENTS)
        obs = self._observe(self._state, self._cells)
        observations = {agent: self._with_mask(obs, agent, self._state) for agent in AGENTS}
        infos = {agent: self._info(agent, self._state, False) for agent in AGENTS}
        return observations, infos

    def _start_state(self, options: dict) -> int:
        joint_state, cells = options.get("joint_state"), options.get("cells")
        if joint_state is not None and cells is not None:
            raise ValueError("options: give 'joint_state' or 'cells', not both")
        if joint_state is not None:
            if isinstance(joint_state, bool) or not isinstance(joint_state, (int, np.integer)) or not (
                0 <= joint_state < self.n_states
            ):
                raise ValueError(
                    f"options['joint_state'] must be an integer in [0, {self.n_states}), got {joint_state!r}"
                )
            return int(joint_state)
        if cells is not None:
            if not isinstance(cells, Mapping) or set(cells) != set(AGENTS):
                raise ValueError(f"options['cells'] must be a dict {{'H': (row, col), 'A': (row, col)}}, got {cells!r}")
            h, a = (self.layout.cell_index(*map(int, cells[agent])) for agent in AGENTS)
            return self.model.joint_state(h, a)
        return int(self.np_random.integers(self.n_states))

    def step(self, actions: Mapping[str, Any]):
        """Apply both agents' actions at once. Returns ``(observations, rewards, terminations, truncations, infos)``."""
        if not self.agents:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        if not isinstance(actions, Mapping) or set(actions) != set(self.agents):
            keys = sorted(actions) if isinstance(actions, Mapping) else type(actions).__name__
            raise ValueError(f"actions must be a dict with one action for each of {self.agents}, got {keys}")
        a_h = check_action(actions["H"], "actions['H']")
        a_a = check_action(actions["A"], "actions['A']")
        state = self._state
        invalid_h = not self._bool_masks["H"][state, a_h]
        invalid_a = not self._bool_masks["A"][state, a_a]
        if self.strict and (invalid_h or invalid_a):
            bad = [f"{agent}: {act}" for agent, act, bad in (("H", a_h, invalid_h), ("A", a_a, invalid_a)) if bad]
            raise ValueError(f"unavailable action(s) {', '.join(bad)} at joint state {state} (strict=True)")
        reached, crashed, truncated = (
            x.item()
            for x in joint_step(
                self._next_state, self.model.terminal_state, np.asarray(state), np.asarray(a_h), np.asarray(a_a),
                np.asarray(self._cycles), self.max_cycles,
            )
        )
        nxt = int(reached)
        self._cycles += 1
        rewards = {agent: float(self._padded_rewards[agent][nxt]) for agent in AGENTS}
        if crashed:
            cell = int(self.model.next_cell[self._cells[0], a_h])  # where both meet
            self._cells = (cell, cell)
            self._state = nxt
            obs = self._observe(state, self._cells)  # no joint state has both agents on one cell
        else:
            self._state = self._obs_state = nxt
            self._cells = (int(self.model.joint_cells[nxt, 0]), int(self.model.joint_cells[nxt, 1]))
            obs = self._observe(nxt, self._cells)
        mask_state = state if crashed else nxt
        observations = {agent: self._with_mask(obs, agent, mask_state) for agent in AGENTS}
        terminations = {"H": crashed, "A": crashed}
        truncations = {"H": truncated, "A": truncated}
        infos = {
            "H": self._info("H", mask_state, invalid_h, crashed),
            "A": self._info("A", mask_state, invalid_a, crashed),
        }
        if crashed or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------ observations
    def _observe(self, state: int, cells: tuple[int, int]):
        if self.obs_type == "index":
            return np.int64(state)
        n = self.model.n_cells
        vector = np.zeros(2 * n, dtype=np.float32)
        vector[cells[0]] = 1.0
        vector[n + cells[1]] = 1.0
        return vector

    def _mask(self, agent: str, state: int) -> np.ndarray:
        return self._masks[agent][state].copy()

    def _with_mask(self, obs, agent: str, state: int):
        if not self.action_mask_in_obs:
            return obs.copy() if isinstance(obs, np.ndarray) else obs
        return {"observation": obs.copy() if isinstance(obs, np.ndarray) else obs, "action_mask": self._mask(agent, state)}

    def _info(self, agent: str, state: int, invalid: bool, crashed: bool = False) -> dict:
        return {
            "action_mask": self._mask(agent, state),
            "invalid_action": bool(invalid),
            "joint_state": self.model.terminal_state if crashed else int(state),
        }

    def observe_state(self, joint_state: int):
        """The observation (without mask) an agent gets in ``joint_state``: for rollouts from every state."""
        cells = (int(self.model.joint_cells[joint_state, 0]), int(self.model.joint_cells[joint_state, 1]))
        return self._observe(int(joint_state), cells)

    def state(self):
        """The global state: the same as an agent's observation without the mask (the world is fully observed)."""
        return self._observe(self._obs_state, self._cells)

    # ------------------------------------------------------------------ rendering
    def render(self):
        """``"ansi"``: a text grid (``X`` where the agents overlap); ``"rgb_array"``: a uint8 image."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        cells = {"H": self._cells[0], "A": self._cells[1]}
        if self.render_mode == "ansi":
            return render_ansi(self.layout, cells)
        return render_rgb(self.layout, cells, self.cell_px)

    def close(self) -> None:
        """Nothing to release."""

    def __str__(self) -> str:
        return "maze_v0"


def parallel_env(**kwargs) -> MazeParallelEnv:
    """The two-agent maze as a PettingZoo ``ParallelEnv``; keyword arguments as :class:`MazeParallelEnv`."""
    return MazeParallelEnv(**kwargs)


def env(**kwargs):
    """The two-agent maze as a PettingZoo AEC env (H acts, then A; the joint move applies after A)."""
    return parallel_to_aec(parallel_env(**kwargs))

