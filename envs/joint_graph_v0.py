"""``joint_graph_v0``: two agents, H and A, in any joint MDP graph (POWERplay's format), as a PettingZoo environment.

.. list-table::

   * - Import
     - ``from multipower.envs import joint_graph_v0``
   * - Actions
     - Discrete
   * - Parallel API
     - Yes (native); AEC through ``env()``
   * - Agents
     - ``agents = ["H", "A"]``
   * - Action values
     - ``Discrete(n_H)`` for H, ``Discrete(n_A)`` for A: the graph's action slots (``graph.actions_H``,
       ``graph.actions_A``; the five gridworld moves in their usual order where the graph's actions are among them)
   * - Observation values
     - ``Discrete(n_states)``: the joint state's index in graph order (names in ``graph.states``), a 0-d int64 array
   * - State values
     - as an observation

Both agents act at once; the joint action ``(a_H, a_A)`` leads to the graph's outcome states with the
probabilities on its edges, drawn with the environment's ``np_random``. Each agent earns its own reward for the
joint state it arrives in. A combination of available actions that the graph leaves out is *forbidden*: it ends
the episode for both with reward 0 (the ``crash`` rule of the mazes; POWERplay's no-overlap mazes are written
this way). The joint graph format: docs/graphs.md#joint-graphs.

Build it with ``parallel_env`` (a ``ParallelEnv``), ``env`` (the AEC form, H then A, with PettingZoo's
out-of-bounds and order-enforcing wrappers) or ``raw_env`` (the AEC form without them)::

    from multipower.envs import joint_graph_v0
    env = joint_graph_v0.parallel_env(graph="joint_grid2x2_crash", max_cycles=50)
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample(infos[agent]["action_mask"]) for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

Arguments
---------

* ``graph`` (default ``"joint_grid2x2_crash"``, a packaged graph): a ``JointGraph``, a packaged graph's name, a
  DOT file path, or DOT text (anything containing ``{``). ``multipower export-mdp --layout L --joint`` writes
  any layout's joint graph.
* ``max_cycles`` (default 100): steps after which the episode is truncated; ``None`` never truncates.
* ``rewards``: the reward tables ``{"H": R_H, "A": R_A}``, one number per joint state in graph order.
* ``reward_seed`` (default 0): when ``rewards`` is not given, the tables are reward sample 0 of a
  ``RewardSampler`` over the graph's states with this seed (uniform [0, 1]): the tables that sample 0 of
  ``multipower exact --mdp GRAPH --seed reward_seed`` uses.
* ``strict`` (default ``False``): raise ``ValueError`` on an unavailable action instead of taking the agent's
  first available one.
* ``render_mode``: ``None``, ``"ansi"`` (the grid with ``H`` and ``A`` where the state names are gridworld cells,
  else the state's name) or ``"human"`` (prints it at each reset and step).

Dynamics, rewards, episodes
---------------------------

* ``step()`` returns each agent's reward for the joint state arrived at, ``R_H(s')`` and ``R_A(s')``; a forbidden
  combination returns 0 to both and terminates both.
* An unavailable action is replaced by the agent's first available action at that state and sets
  ``infos[agent]["invalid_action"] = True``.
* Every episode starts from a uniformly random joint state unless ``reset(options={"joint_state": s})``;
  ``reset(options={"rewards": {...}})`` or ``reset(options={"reward_seed": n})`` replace the reward tables.
* ``infos[agent]`` holds, from ``reset()`` on, ``"action_mask"`` (int8, the agent's action slots),
  ``"invalid_action"`` and ``"joint_state"`` (``n_states`` after a forbidden combination, when the observation
  stays the state it was taken from).

Version history
---------------

* v0: Initial release.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils import wrappers
from pettingzoo.utils.conversions import parallel_to_aec_wrapper

from multipower.envs.joint_graph import JointGraph, load_joint_graph, parse_joint_graph
from multipower.envs.model import AGENTS, check_agent
from multipower.envs.rewards import RewardSampler
from multipower.envs.validation import check_action, check_max_cycles, check_reward_seed, check_reward_tables

DEFAULT_GRAPH = "joint_grid2x2_crash"
RENDER_MODES = ("human", "ansi")
_NO_LIMIT = np.iinfo(np.int64).max


def as_joint_graph(graph: Union[JointGraph, str]) -> JointGraph:
    """A ``JointGraph``, a packaged graph's name, a path to a DOT file, or DOT text (anything containing ``{``)."""
    if isinstance(graph, JointGraph):
        return graph
    if not isinstance(graph, str) or not graph:
        raise ValueError(f"graph must be a JointGraph, a packaged graph's name, a .gv file or DOT text, got {graph!r}")
    try:
        return parse_joint_graph(graph) if "{" in graph else load_joint_graph(graph)
    except ValueError as error:  # the graph readers name their argument "mdp"
        message = str(error)
        raise ValueError(f"graph: {message[5:]}" if message.startswith("mdp: ") else message) from None


class JointGraphParallelEnv(ParallelEnv):
    """Two agents, ``"H"`` and ``"A"``, acting at once in a joint MDP graph (arguments in the module docstring).

    Args:
        graph: A ``JointGraph``, a packaged graph's name, a DOT file path or DOT text.
        max_cycles: Steps after which an episode is truncated (default 100); ``None`` never truncates.
        rewards: Reward tables ``{"H": (n_states,), "A": (n_states,)}`` in graph order.
        reward_seed: Seed of the reward tables when ``rewards`` is not given (default 0); giving both is an error.
        strict: Raise ``ValueError`` on an unavailable action.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.
    """

    metadata = {"name": "joint_graph_v0", "render_modes": list(RENDER_MODES), "is_parallelizable": True,
                "render_fps": 4}

    def __init__(self, graph: Union[JointGraph, str] = DEFAULT_GRAPH, max_cycles: Optional[int] = 100,
                 rewards: Optional[Mapping[str, Any]] = None, reward_seed: Optional[int] = None,
                 strict: bool = False, render_mode: Optional[str] = None) -> None:
        self.graph = as_joint_graph(graph)
        self.max_cycles = check_max_cycles(max_cycles)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}")
        self.render_mode = render_mode
        self.strict = bool(strict)
        n = self.graph.n_states
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.state_space = spaces.Discrete(n)
        self._action_spaces = {"H": spaces.Discrete(len(self.graph.actions_H)),
                               "A": spaces.Discrete(len(self.graph.actions_A))}
        self._masks = {agent: self.graph.action_mask(agent).astype(np.int8) for agent in AGENTS}
        self._first = {agent: self.graph.action_mask(agent).argmax(axis=1) for agent in AGENTS}
        self._cdf = np.cumsum(self.graph.prob, axis=-1)
        self._limit = _NO_LIMIT if self.max_cycles is None else self.max_cycles
        if rewards is not None and reward_seed is not None:
            raise ValueError("give rewards or reward_seed, not both: rewards fixes the tables, reward_seed draws them")
        self.reward_tables: dict[str, np.ndarray] = {}
        if rewards is not None:
            self.set_rewards(rewards)
        else:
            self.set_reward_seed(0 if reward_seed is None else reward_seed)
        self._np_random: Optional[np.random.Generator] = None
        self._state = self._obs_state = 0
        self._cycles = 0

    def observation_space(self, agent: str) -> spaces.Space:
        check_agent(agent)
        return self.state_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[check_agent(agent)]

    @property
    def np_random(self) -> np.random.Generator:
        """The environment's generator (seeded by ``reset(seed=...)``; created unseeded on first use)."""
        if self._np_random is None:
            self._np_random, _ = seeding.np_random()
        return self._np_random

    @property
    def n_states(self) -> int:
        return self.graph.n_states

    @property
    def joint_state(self) -> int:
        """The current joint state (``n_states`` after a forbidden combination)."""
        return self._state

    def set_rewards(self, rewards: Mapping[str, Any]) -> None:
        """Use the reward tables ``{"H": (n_states,), "A": (n_states,)}`` from now on."""
        self.reward_tables = check_reward_tables(rewards, self.n_states, AGENTS)

    def set_reward_seed(self, reward_seed: int) -> None:
        """Use reward sample 0 of ``RewardSampler(n_states, seed=reward_seed)`` from now on."""
        r_h, r_a = RewardSampler(self.n_states, seed=check_reward_seed(reward_seed)).pairs(0, 1)
        self.set_rewards({"H": r_h[0], "A": r_a[0]})

    def state(self) -> np.ndarray:
        return np.asarray(self._obs_state, dtype=np.int64)

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        options = dict(options or {})  # other options are ignored, as PettingZoo's own envs do
        start = options.get("joint_state")
        if start is not None:  # checked before anything changes
            array = np.asarray(start)
            if (isinstance(start, bool) or array.shape != () or array.dtype.kind not in "iu"
                    or not 0 <= int(array) < self.n_states):
                raise ValueError(f"joint_state must be an integer in [0, {self.n_states}), got {start!r}")
            start = int(array)
        if seed is not None:
            self._np_random, _ = seeding.np_random(seed)
        if "rewards" in options:
            self.set_rewards(options["rewards"])
        if "reward_seed" in options:
            self.set_reward_seed(options["reward_seed"])
        if start is None:
            start = int(self.np_random.integers(self.n_states))
        self.agents = list(self.possible_agents)
        self._state = self._obs_state = int(start)
        self._cycles = 0
        infos = {agent: self._info(agent, False) for agent in self.agents}
        if self.render_mode == "human":
            print(self._text())
        return self._observations(), infos

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called before reset() or after the episode ended: call reset() first")
        if not isinstance(actions, Mapping):
            raise ValueError(f'actions must be a dict {{"H": action, "A": action}}, got {type(actions).__name__}')
        s = self._state
        chosen, invalid = {}, {}
        for agent in AGENTS:
            action = check_action(actions.get(agent), f"actions[{agent!r}]", self._action_spaces[agent].n)
            invalid[agent] = not self._masks[agent][s, action]
            if invalid[agent] and self.strict:
                name = (self.graph.actions_H if agent == "H" else self.graph.actions_A)[action]
                raise ValueError(f"action {action} ({name!r}) of {agent} is not available at {self.graph.states[s]!r}")
            chosen[agent] = int(self._first[agent][s]) if invalid[agent] else action
        cdf = self._cdf[s, chosen["H"], chosen["A"]]
        outcome = min(int(np.searchsorted(cdf, self.np_random.random() * cdf[-1], side="right")), len(cdf) - 1)
        reached = int(self.graph.next_state[s, chosen["H"], chosen["A"], outcome])
        forbidden = reached == self.n_states
        self._state = reached
        if not forbidden:
            self._obs_state = reached
        self._cycles += 1
        rewards = {agent: 0.0 if forbidden else float(self.reward_tables[agent][reached]) for agent in AGENTS}
        truncated = not forbidden and self._cycles >= self._limit
        terminations = {agent: forbidden for agent in AGENTS}
        truncations = {agent: truncated for agent in AGENTS}
        infos = {agent: self._info(agent, invalid[agent]) for agent in AGENTS}
        observations = self._observations()
        if forbidden or truncated:
            self.agents = []
        if self.render_mode == "human":
            print(self._text())
        return observations, rewards, terminations, truncations, infos

    def render(self) -> Optional[str]:
        """``"ansi"``: the text (module docstring); ``"human"``: print it and return ``None``."""
        if self.render_mode == "human":
            print(self._text())
        return self._text() if self.render_mode == "ansi" else None

    def _text(self) -> str:
        cells = self.graph.cells
        name = "forbidden joint action: episode over" if self._state == self.n_states else self.graph.states[self._state]
        if cells is None:
            return f"state {name}"
        rows, cols = cells[:, 0::2].max() + 1, cells[:, 1::2].max() + 1
        grid = [["#"] * int(cols) for _ in range(int(rows))]
        for r, c in np.concatenate([cells[:, :2], cells[:, 2:]]):
            grid[r][c] = "."
        h_row, h_col, a_row, a_col = cells[self._obs_state]
        grid[h_row][h_col] = "H"
        grid[a_row][a_col] = "X" if (h_row, h_col) == (a_row, a_col) else "A"
        return "\n".join("".join(row) for row in grid) + f"\n{name}"

    def close(self) -> None:
        pass

    def _observations(self) -> dict:
        return {agent: np.asarray(self._obs_state, dtype=np.int64) for agent in AGENTS}

    def _info(self, agent: str, invalid: bool) -> dict:
        return {"action_mask": self._masks[agent][self._obs_state].copy(), "invalid_action": invalid,
                "joint_state": self._state}


def parallel_env(**kwargs) -> JointGraphParallelEnv:
    """The parallel environment (keyword arguments in the module docstring)."""
    return JointGraphParallelEnv(**kwargs)


def raw_env(**kwargs):
    """The AEC form (H then A) without wrappers."""
    return parallel_to_aec_wrapper(parallel_env(**kwargs))


def env(**kwargs):
    """The AEC form with PettingZoo's out-of-bounds and order-enforcing wrappers."""
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(raw_env(**kwargs)))
