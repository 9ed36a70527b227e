"""``maze_v1``: two agents, H (a "human") and A (an "AI"), in a gridworld, as a PettingZoo environment.

.. list-table::

   * - Import
     - ``from multipower.envs import maze_v1``
   * - Actions
     - Discrete
   * - Parallel API
     - Yes (native); AEC through ``env()``
   * - Manual control
     - No
   * - Agents
     - ``agents = ["H", "A"]``
   * - Number of agents
     - 2
   * - Action shape
     - ``(1,)``: one of 5 moves
   * - Action values
     - ``Discrete(5)``: 0 stay, 1 up, 2 down, 3 left, 4 right
   * - Observation shape
     - ``()`` (``obs_type="index"``) or ``(2 * n_cells,)`` (``obs_type="vector"``); one longer by agent under
       ``agent_indicator``
   * - Observation values
     - ``Discrete(n_states)`` (``"index"``; ``Discrete(2 * n_states)`` with ``agent_indicator``) or
       ``Box(0, 1, float32)`` one-hots (``"vector"``)
   * - State shape
     - as an observation without mask or indicator
   * - State values
     - as an observation without mask or indicator

Both agents act at once on the joint state ``(h, a)``, the cells of H and A. Each has five moves; a move into a
wall is *unavailable* (the action mask says which are available). Each agent earns its own reward for the joint
state it arrives in.

Build it with ``parallel_env`` (a ``ParallelEnv``: both agents act at once), ``env`` (the AEC form,
H then A, wrapped as PettingZoo's built-in environments are: actions are checked against the action space
and calls in the wrong order raise) or ``raw_env`` (the AEC form without those wrappers)::

    from multipower.envs import maze_v1
    env = maze_v1.parallel_env(layout="maze7x7", collision="crash", max_cycles=50)
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample(infos[agent]["action_mask"]) for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

Arguments
---------

``parallel_env``, ``env`` and ``raw_env`` take the same keyword arguments:

* ``layout`` (default ``"grid3x3"``): a built-in name (``"grid3x3"``, ``"maze7x7"``, ``"robot_face20x20"``), a
  file path, layout text (``.`` open, ``#`` wall) or a ``Layout``.
* ``collision`` (default ``"none"``): what happens when both agents would end on one cell. ``"none"``: they
  may overlap (``n_cells ** 2`` joint states). ``"crash"``: the move ends the episode, zero reward to both
  (``n_cells * (n_cells - 1)`` joint states). ``"bounce"``: a move into an occupied cell fails.
* ``slip`` (default 0): probability in ``[0, 1]`` that an agent's chosen move is replaced by a move drawn
  uniformly from its available moves (docs/concepts.md#slip), independently per agent, drawn from the env's
  ``np_random``; the collision rule applies to the moves that happen. 0 is the deterministic world (no draws).
* ``max_cycles`` (default 100): steps after which the episode is truncated; ``None`` never truncates.
* ``obs_type`` (default ``"index"``): ``"index"``, the joint-state index, for tabular learners; ``"vector"``,
  the float32 one-hot of H's cell followed by the one-hot of A's cell.
* ``action_mask_in_obs`` (default ``False``): each observation becomes ``{"observation": ...,
  "action_mask": int8 (5,)}``, and the mask leaves ``infos`` (one place only: TorchRL reads both).
* ``agent_indicator`` (default ``False``): tell the agents apart in their observations. Both agents see the
  whole world, so without it H and A receive identical observations; a policy shared by both agents (one
  network for every agent, as in the SuperSuit + SB3 recipe) then cannot tell whom it is playing, though the
  agents' rewards differ. With it, ``"vector"`` observations end in ``[1, 0]`` for H and ``[0, 1]`` for A, and
  an ``"index"`` observation is ``joint_state`` for H and ``n_states + joint_state`` for A. Learners with one
  policy per agent do not need it.
* ``rewards``: the reward tables ``{"H": R_H, "A": R_A}``, each one number per joint state, shape
  ``(n_states,)``. ``multipower.envs.rewards.joint_rewards`` builds them from per-cell values or a function of both
  cells.
* ``reward_seed`` (default 0), ``reward_distribution`` (default uniform on [0, 1]; a name such as
  ``"bernoulli"``, a dict ``{"name": "beta", "a": 2, "b": 2}`` or a ``RewardDistribution``),
  ``reward_correlation`` (default 0; ``β`` in [-1, 1]: per joint state, with probability ``|β|`` A's reward is
  H's, otherwise drawn afresh): when ``rewards`` is not given, the tables are drawn from these when the
  environment is built.
* ``strict`` (default ``False``): raise ``ValueError`` on an unavailable action instead of staying in place.
* ``render_mode``: ``None``, ``"human"`` (prints the text grid at each reset and step), ``"ansi"`` (the text
  grid as a string) or ``"rgb_array"`` (a uint8 image, ``cell_px`` pixels per cell).
* ``model``: a prebuilt ``JointModel`` instead of ``layout`` and ``collision``.

Rewards are the task
--------------------

The reward tables are fixed by the arguments: given as ``rewards``, or drawn from ``reward_seed`` when the
environment is built. ``reset(seed=...)`` never changes them, so every copy made with the same arguments (the
sub-environments of a vector env, an evaluation env with another seed) plays the same task. New tables come only
on request: ``reset(options={"rewards": {"H": ..., "A": ...}})`` or ``reset(options={"reward_seed": n})``; they
stay until the next such request. ``env.reward_tables`` holds the tables in use.

Dynamics, rewards, episodes
---------------------------

* The next joint state is ``model.next_state[s, a_H, a_A]`` of the ``JointModel`` (the
  collision rule is in the table). An unavailable action leaves its agent in place and sets
  ``infos[agent]["invalid_action"] = True``. With ``slip``, ``a_H`` and ``a_A`` are the effective moves drawn
  from the chosen ones (``multipower.envs.dynamics.slip_step``), reported as ``infos[agent]["effective_action"]``.
* ``step()`` returns each agent's reward for the joint state arrived at, ``R_H(s')`` and ``R_A(s')``. Under
  ``collision="crash"`` a move that puts both agents on one cell returns 0 to both and terminates both.
* Every episode starts from a uniformly random joint state (exploring starts) unless
  ``reset(options={"joint_state": s})`` or ``reset(options={"cells": {"H": (r, c), "A": (r, c)}})`` places the
  agents.
* ``infos[agent]`` holds ``"action_mask"`` (int8, 5; not when ``action_mask_in_obs``), ``"invalid_action"`` and
  ``"joint_state"`` (``model.terminal_state`` after a crash). After a crash the ``"index"`` observation is the
  joint state crashed from (no index exists for two agents on one cell); the ``"vector"`` observation shows
  both agents on the crash cell.

Warnings of ``pettingzoo.test.api_test`` that stay
--------------------------------------------------

* The agents are named ``"H"`` and ``"A"``, not ``"player_0"``: the names are the research's.
* With ``action_mask_in_obs`` the observation space is a ``Dict`` and an observation is not an array: that is
  PettingZoo's own convention for masks in observations.
* An ``"index"`` observation of joint state 0 is "all zeros": it is a valid state.

Version history
---------------

* v1 (later): ``slip`` option (stochastic moves; ``slip=0``, the default, behaves exactly as before).
* v1: The reward tables are the task: fixed by ``rewards`` or ``reward_seed`` (default 0) when the environment
  is built, no longer redrawn by ``reset(seed=...)``; ``options={"reward_seed": n}`` replaces
  ``options={"resample_rewards": True}``. ``"index"`` observations are 0-d int64 NumPy arrays (were NumPy
  scalars). ``env()`` adds the out-of-bounds and order-enforcing wrappers; ``raw_env()`` added.
  ``render_mode="human"``. ``agent_indicator`` option. With ``action_mask_in_obs`` the mask is no longer also in
  ``infos``. ``max_cycles=None`` for no truncation. Environments pickle.
* v0: Initial release.
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
from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from multipower.envs.dynamics import joint_step, padded_rewards, slip_step
from multipower.envs.layouts import N_ACTIONS, Layout, LayoutLike, load_layout, parse_layout
from multipower.envs.model import AGENTS, JointModel, check_agent, check_collision
from multipower.envs.rendering import DEFAULT_CELL_PX, check_cell_px, render_ansi, render_rgb
from multipower.envs.rewards import RewardSampler
from multipower.envs.slip import check_slip
from multipower.envs.validation import (check_action, check_cell, check_max_cycles, check_reward_seed, check_reward_table,
                                        check_reward_tables)

OBS_TYPES = ("index", "vector")
RENDER_MODES = ("human", "ansi", "rgb_array")
DEFAULT_LAYOUT = "grid3x3"
DEFAULT_MAX_CYCLES = 100
NO_LIMIT = np.iinfo(np.int64).max  # ``max_cycles=None``: the step count never reaches it


def check_obs_type(obs_type: str) -> str:
    if obs_type not in OBS_TYPES:
        raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {obs_type!r}")
    return obs_type


def check_render_mode(render_mode: Optional[str]) -> Optional[str]:
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
    return render_mode


def draw_reward_tables(sampler: RewardSampler, reward_seed: int) -> tuple[np.ndarray, ...]:
    """The reward tables of ``reward_seed``: ``sampler.draw(np.random.default_rng(reward_seed))``, one pair."""
    r_h, r_a = sampler.draw(np.random.default_rng(check_reward_seed(reward_seed)), 1)
    return r_h[0], r_a[0]


@functools.lru_cache(maxsize=8)
def _cached_model(text: str, name: str, collision: str, slip: float = 0.0) -> JointModel:
    with warnings.catch_warnings():  # load_layout already warned the caller about this layout
        warnings.simplefilter("ignore")
        return JointModel(parse_layout(text, name=name), collision, slip)


def build_model(layout: LayoutLike, collision: str, slip: float = 0.0) -> JointModel:
    """The ``JointModel`` of ``layout`` under ``collision`` and ``slip``, cached so that copies of an env
    share it."""
    check_collision(collision)
    slip = check_slip(slip)
    layout = load_layout(layout)
    return _cached_model(layout.to_text(), layout.name, collision, slip)


class MazeParallelEnv(ParallelEnv):
    """Two agents, ``"H"`` and ``"A"``, acting at once in a gridworld (arguments in the module docstring).

    Args:
        layout: A ``Layout``, a built-in name, a file path or layout text
            (default ``"grid3x3"``).
        collision: ``"none"`` (default), ``"crash"`` or ``"bounce"``.
        slip: Slip probability in [0, 1] (default 0; docs/concepts.md#slip).
        max_cycles: Steps after which an episode is truncated (default 100); ``None`` never truncates.
        obs_type: ``"index"`` (joint-state index) or ``"vector"`` (float32 one-hots of H's and A's cells).
        action_mask_in_obs: Make each observation ``{"observation": ..., "action_mask": int8 (5,)}`` (the mask then
            is not in ``infos``).
        agent_indicator: Tell the agents apart in their observations (for a policy shared by both).
        rewards: Reward tables ``{"H": (n_states,), "A": (n_states,)}`` over joint states.
        reward_seed: Seed of the reward tables drawn when ``rewards`` is not given (default 0); giving both is an
            error.
        reward_distribution: Distribution of the drawn rewards: a name, a config dict or a
            ``RewardDistribution`` (default uniform [0, 1]).
        reward_correlation: Correlation ``β`` in [-1, 1] of the drawn ``R_H`` and ``R_A``.
        strict: Raise ``ValueError`` on an unavailable action instead of staying in place.
        render_mode: ``None``, ``"human"``, ``"ansi"`` or ``"rgb_array"``.
        model: A prebuilt ``JointModel`` to step by, instead of ``layout``, ``collision`` and
            ``slip`` (which must then be left as None).
        cell_px: Pixels per cell side of ``"rgb_array"`` frames: an integer of at least 3, with frames of at most
            ``MAX_FRAME_BYTES``.
    """

    metadata = {"name": "maze_v1", "render_modes": list(RENDER_MODES), "is_parallelizable": True, "render_fps": 4}

    def __init__(
        self,
        layout: Optional[LayoutLike] = None,
        collision: Optional[str] = None,
        max_cycles: Optional[int] = DEFAULT_MAX_CYCLES,
        obs_type: str = "index",
        action_mask_in_obs: bool = False,
        agent_indicator: bool = False,
        rewards: Optional[Mapping[str, Any]] = None,
        reward_seed: Optional[int] = None,
        reward_distribution: Any = None,
        reward_correlation: float = 0.0,
        strict: bool = False,
        render_mode: Optional[str] = None,
        model: Optional[JointModel] = None,
        cell_px: int = DEFAULT_CELL_PX,
        slip: Optional[float] = None,
    ) -> None:
        if model is not None:
            if not isinstance(model, JointModel):
                raise ValueError(f"model must be a JointModel, got {type(model).__name__}")
            if layout is not None or collision is not None or slip is not None:
                raise ValueError("give either model or layout/collision/slip, not both")
        else:
            model = build_model(DEFAULT_LAYOUT if layout is None else layout, collision or "none",
                                0.0 if slip is None else slip)
        self.model: JointModel = model
        self.layout: Layout = model.layout
        self.collision: str = model.collision
        self.max_cycles = check_max_cycles(max_cycles)
        self.obs_type = check_obs_type(obs_type)
        self.action_mask_in_obs = bool(action_mask_in_obs)
        self.agent_indicator = bool(agent_indicator)
        self.strict = bool(strict)
        self.render_mode = check_render_mode(render_mode)
        self.cell_px = check_cell_px(cell_px, model.layout)
        self.reward_sampler = RewardSampler(model.n_states, reward_distribution, reward_correlation)

        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        n, n_states = model.n_cells, model.n_states
        if obs_type == "index":
            base = spaces.Discrete(n_states)
            seen = spaces.Discrete(2 * n_states) if self.agent_indicator else base
        else:
            base = spaces.Box(0.0, 1.0, (2 * n,), np.float32)
            seen = spaces.Box(0.0, 1.0, (2 * n + 2,), np.float32) if self.agent_indicator else base
        self.state_space = base
        self._observation_spaces = {
            agent: (
                spaces.Dict({"observation": seen, "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8)})
                if self.action_mask_in_obs
                else seen
            )
            for agent in AGENTS
        }
        self._action_spaces = {agent: spaces.Discrete(N_ACTIONS) for agent in AGENTS}

        # Hot-path tables (plain views of the model's arrays).
        self._next_state = model.next_state
        self._masks = {"H": model.action_mask_H.astype(np.int8), "A": model.action_mask_A.astype(np.int8)}
        self._bool_masks = {"H": model.action_mask_H, "A": model.action_mask_A}
        self._limit = NO_LIMIT if self.max_cycles is None else self.max_cycles
        self._slip_cdf = (model.slip_cdf("H"), model.slip_cdf("A")) if model.slip > 0.0 else None

        self._rewards: dict[str, np.ndarray] = {}
        self._padded_rewards: dict[str, np.ndarray] = {}  # (n_states + 1,): reward on arrival, 0 at the terminal
        self.reward_seed: Optional[int] = None  # the seed of the tables in use; None for given tables
        if rewards is not None and reward_seed is not None:
            raise ValueError("give rewards or reward_seed, not both: rewards fixes the tables, reward_seed draws them")
        if rewards is not None:
            self.set_rewards(rewards)
        else:
            self.set_reward_seed(0 if reward_seed is None else reward_seed)
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
        """``{"H": R_H, "A": R_A}`` in use (read-only arrays, ``(n_states,)``)."""
        return dict(self._rewards)

    def set_rewards(self, rewards: Mapping[str, Any]) -> None:
        """Use these reward tables ``{"H": (n_states,), "A": (n_states,)}`` from the next step on."""
        self._use_rewards(check_reward_tables(rewards, self.model.n_states, AGENTS), None)

    def set_reward_seed(self, reward_seed: int) -> None:
        """Draw the reward tables of ``reward_seed`` (from the env's distribution and correlation) and use them."""
        r_h, r_a = draw_reward_tables(self.reward_sampler, reward_seed)
        n = self.model.n_states
        self._use_rewards(
            {"H": check_reward_table(r_h, n, "rewards['H']"), "A": check_reward_table(r_a, n, "rewards['A']")},
            int(reward_seed),
        )

    def _use_rewards(self, rewards: dict[str, np.ndarray], reward_seed: Optional[int]) -> None:
        self._rewards = rewards
        self._padded_rewards = {agent: padded_rewards(table) for agent, table in rewards.items()}
        self.reward_seed = reward_seed

    # ------------------------------------------------------------------ reset and step
    def reset(
        self, seed: Optional[int] = None, options: Optional[dict] = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        """Start an episode; see the module docstring for ``options``. Returns ``(observations, infos)``."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
        options = dict(options or {})
        if "resample_rewards" in options:
            raise ValueError(
                "options['resample_rewards'] was removed in maze_v1 (reset(seed=...) no longer draws rewards): "
                "pass options={'reward_seed': n} for the tables of seed n, or options={'rewards': {...}}"
            )
        # Options it does not use are ignored, as Gymnasium does (PettingZoo's API test passes some); those it
        # uses are checked.
        if options.get("rewards") is not None and options.get("reward_seed") is not None:
            raise ValueError("options: give 'rewards' or 'reward_seed', not both")
        if options.get("rewards") is not None:
            self.set_rewards(options["rewards"])
        elif options.get("reward_seed") is not None:
            check_reward_seed(options["reward_seed"], "options['reward_seed']")
            self.set_reward_seed(options["reward_seed"])
        self._state = self._obs_state = self._start_state(options)
        self._cells = (int(self.model.joint_cells[self._state, 0]), int(self.model.joint_cells[self._state, 1]))
        self._cycles = 0
        self.agents = list(AGENTS)
        observations = {agent: self._observation(agent, self._state) for agent in AGENTS}
        infos = {agent: self._info(agent, self._state, False) for agent in AGENTS}
        if self.render_mode == "human":
            self.render()
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
            h, a = (self.layout.cell_index(*check_cell(cells[agent], f"options['cells'][{agent!r}]")) for agent in AGENTS)
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
        if self._slip_cdf is None:
            reached, crashed, truncated = (
                x.item()
                for x in joint_step(
                    self._next_state, self.model.terminal_state, np.asarray(state), np.asarray(a_h), np.asarray(a_a),
                    np.asarray(self._cycles), self._limit,
                )
            )
            e_h, e_a = a_h, a_a
        else:
            u = self.np_random.random(2)
            reached, crashed, truncated, e_h, e_a = (
                x.item()
                for x in slip_step(
                    self._next_state, self.model.terminal_state, self._slip_cdf, np.asarray(state),
                    (np.asarray(a_h), np.asarray(a_a)), (np.asarray(u[0]), np.asarray(u[1])), np.asarray(self._cycles),
                    self._limit,
                )
            )
        nxt = int(reached)
        self._cycles += 1
        rewards = {agent: float(self._padded_rewards[agent][nxt]) for agent in AGENTS}
        if crashed:
            cell = int(self.model.next_cell[self._cells[0], e_h])  # where both meet
            self._cells = (cell, cell)
            self._state = nxt
            mask_state = state  # no joint state has both agents on one cell: observe the state crashed from
        else:
            self._state = self._obs_state = nxt
            self._cells = (int(self.model.joint_cells[nxt, 0]), int(self.model.joint_cells[nxt, 1]))
            mask_state = nxt
        observations = {agent: self._observation(agent, mask_state) for agent in AGENTS}
        terminations = {"H": crashed, "A": crashed}
        truncations = {"H": truncated, "A": truncated}
        infos = {
            "H": self._info("H", mask_state, invalid_h, crashed, int(e_h)),
            "A": self._info("A", mask_state, invalid_a, crashed, int(e_a)),
        }
        if crashed or truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terminations, truncations, infos

    # ------------------------------------------------------------------ observations
    def _observe(self, state: int, cells: tuple[int, int], agent: Optional[str] = None) -> np.ndarray:
        """The observation without mask; with ``agent_indicator``, ``agent``'s (None: the global state)."""
        indicator = self.agent_indicator and agent is not None
        if self.obs_type == "index":
            return np.array(state + (self.model.n_states if indicator and agent == "A" else 0), dtype=np.int64)
        n = self.model.n_cells
        vector = np.zeros(2 * n + (2 if indicator else 0), dtype=np.float32)
        vector[cells[0]] = 1.0
        vector[n + cells[1]] = 1.0
        if indicator:
            vector[2 * n + AGENTS.index(agent)] = 1.0
        return vector

    def _observation(self, agent: str, mask_state: int):
        obs = self._observe(self._obs_state, self._cells, agent)
        if not self.action_mask_in_obs:
            return obs
        return {"observation": obs, "action_mask": self._masks[agent][mask_state].copy()}

    def _info(self, agent: str, state: int, invalid: bool, crashed: bool = False, effective: int = -1) -> dict:
        """The same keys with the same types from ``reset()`` on (clients such as TorchRL build their layout from
        the reset infos): with slip, ``effective_action`` is -1 at reset."""
        info = {
            "invalid_action": bool(invalid),
            "joint_state": self.model.terminal_state if crashed else int(state),
        }
        if not self.action_mask_in_obs:
            info["action_mask"] = self._masks[agent][state].copy()
        if self._slip_cdf is not None:
            info["effective_action"] = np.int64(effective)
        return info

    def observe_state(self, joint_state: int, agent: Optional[str] = None) -> np.ndarray:
        """The observation (without mask) ``agent`` gets in ``joint_state``: for rollouts from every state.

        ``agent`` is needed only with ``agent_indicator``; without it (None) this is the global state.
        """
        if self.agent_indicator and agent is None:
            raise ValueError("observe_state needs agent= ('H' or 'A') when agent_indicator is on")
        if isinstance(joint_state, bool) or not isinstance(joint_state, (int, np.integer)) \
                or not 0 <= joint_state < self.model.n_states:
            raise ValueError(f"joint_state must be an integer in [0, {self.model.n_states}), got {joint_state!r}")
        cells = (int(self.model.joint_cells[joint_state, 0]), int(self.model.joint_cells[joint_state, 1]))
        return self._observe(int(joint_state), cells, None if agent is None else check_agent(agent))

    def state(self) -> np.ndarray:
        """The global state: an agent's observation without the mask and the agent indicator (fully observed)."""
        return self._observe(self._obs_state, self._cells)

    # ------------------------------------------------------------------ rendering
    def render(self):
        """``"human"``: print the text grid (returns None); ``"ansi"``: the text grid (``X`` where the agents
        overlap); ``"rgb_array"``: a uint8 image."""
        if self.render_mode is None:
            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='human', 'ansi' or 'rgb_array'")
            return None
        cells = {"H": self._cells[0], "A": self._cells[1]}
        if self.render_mode == "rgb_array":
            return render_rgb(self.layout, cells, self.cell_px)
        text = render_ansi(self.layout, cells)
        if self.render_mode == "human":
            print(text, end="\n\n", flush=True)
            return None
        return text

    def close(self) -> None:
        """Nothing to release."""

    def __str__(self) -> str:
        return "maze_v1"


def parallel_env(**kwargs) -> MazeParallelEnv:
    """The two-agent maze as a PettingZoo ``ParallelEnv``; keyword arguments as ``MazeParallelEnv``."""
    return MazeParallelEnv(**kwargs)


def raw_env(**kwargs):
    """The two-agent maze as a PettingZoo AEC env without wrappers (H acts, then A; the joint move applies after A)."""
    return parallel_to_aec_wrapper(parallel_env(**kwargs))


def env(**kwargs):
    """The two-agent maze as a PettingZoo AEC env, wrapped as PettingZoo's built-in environments are.

    ``CheckedActions`` rejects an action outside ``Discrete(5)`` at once, and ``OrderEnforcingWrapper``
    raises on ``step`` before ``reset``; keyword arguments as ``MazeParallelEnv``.
    """
    aec = raw_env(**kwargs)
    aec = CheckedActions(aec)
    return wrappers.OrderEnforcingWrapper(aec)


class CheckedActions(wrappers.BaseWrapper):
    """PettingZoo's ``AssertOutOfBoundsWrapper`` with one clear ``ValueError`` instead of an ``AssertionError``:
    an action must be an integer in ``[0, 5)``, and ``None`` is for an agent that is done only."""

    def step(self, action) -> None:
        agent = self.agent_selection
        if action is None:
            if not (self.terminations.get(agent) or self.truncations.get(agent)):
                raise ValueError(f"action: None is only for an agent that is done; {agent} is live, so give an "
                                 f"integer in [0, {N_ACTIONS})")
        else:
            check_action(action, f"action of {agent}")
        super().step(action)

    def __str__(self) -> str:
        return str(self.env)
