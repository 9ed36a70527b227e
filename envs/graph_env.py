"""An MDP graph (``multipower.envs.graph_mdp``) as a Gymnasium environment, registered as ``"multipower/GraphMDP-v0"``::

    import gymnasium, multipower
    env = gymnasium.make("multipower/GraphMDP-v0", mdp="figure1")   # a built-in graph, or a .gv file
    obs, info = env.reset(seed=0)          # obs: the state's index in graph order; info["action_mask"]

Observations are ``Discrete(n_states)`` (state indices in graph order, names in ``env.mdp.states``), actions
``Discrete(A)`` with ``A`` the most actions of any state; ``info["action_mask"]`` (int8 ``(A,)``) marks the
current state's actions, and an unavailable slot acts as the state's first action (``info["invalid_action"]``).
A step draws the next state from the action's outcome distribution with the environment's ``np_random``; the
reward is ``R(s')`` of the state arrived at, as in ``"multipower/Maze-v1"``. Episodes start in a uniformly
random state unless ``reset(options={"state": index})``. The reward table is given as ``rewards`` ``(n_states,)``
or is reward sample 0 of a ``RewardSampler`` over the states with seed ``reward_seed``
(uniform [0, 1]), the table that sample 0 of an exact run with ``--seed reward_seed`` uses.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import gymnasium
import numpy as np
from gymnasium import spaces

from multipower.envs.graph_mdp import GraphMDP, load_graph_mdp, parse_graph_mdp
from multipower.envs.rewards import RewardSampler


def as_graph_mdp(mdp: Union[GraphMDP, str]) -> GraphMDP:
    """A ``GraphMDP``, a built-in graph's name, a path to a DOT file, or DOT text (anything containing ``{``)."""
    if isinstance(mdp, GraphMDP):
        return mdp
    text = str(mdp)
    return parse_graph_mdp(text) if "{" in text else load_graph_mdp(text)


class GraphMDPEnv(gymnasium.Env):
    """One agent in an MDP graph.

    Args:
        mdp: A ``GraphMDP``, a built-in graph's name
            (``BUILTIN_GRAPHS``), a DOT file path, or DOT text. Default
            ``"figure1"``, so that ``gymnasium.make("multipower/GraphMDP-v0")`` needs no argument.
        rewards: ``(n_states,)`` reward of each state; default: drawn from ``reward_seed``.
        reward_seed: Seed of the uniform [0, 1] reward table when ``rewards`` is not given.
        max_cycles: Steps after which an episode is truncated; ``None`` never (``gymnasium.make`` adds a
            ``TimeLimit`` of ``max_episode_steps``).
    """

    metadata = {"render_modes": []}

    def __init__(self, mdp: Union[GraphMDP, str] = "figure1", rewards: Optional[np.ndarray] = None, reward_seed: int = 0,
                 max_cycles: Optional[int] = None) -> None:
        self.mdp = as_graph_mdp(mdp)
        n = self.mdp.n_states
        if rewards is None:
            rewards = RewardSampler(n, seed=int(reward_seed)).pairs(0, 1)[0][0]
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (n,) or not np.isfinite(rewards).all():
            raise ValueError(f"rewards must be {n} finite numbers (one per state), got shape {rewards.shape}")
        if max_cycles is not None and (int(max_cycles) != max_cycles or max_cycles < 1):
            raise ValueError(f"max_cycles must be a positive integer or None, got {max_cycles!r}")
        self.rewards, self.max_cycles = rewards, max_cycles
        self.observation_space = spaces.Discrete(n)
        self.action_space = spaces.Discrete(self.mdp.n_actions)
        self._masks = self.mdp.action_mask.astype(np.int8)
        self._cum = np.cumsum(self.mdp.prob, axis=2)
        self._state, self._steps = 0, 0

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"state"}
        if unknown:
            raise ValueError(f"reset options must be among ('state',), got {sorted(unknown)}")
        if "state" in options:
            state = options["state"]
            if isinstance(state, bool) or int(state) != state or not 0 <= state < self.mdp.n_states:
                raise ValueError(f"state must be an index in [0, {self.mdp.n_states}), got {state!r}")
            self._state = int(state)
        else:
            self._state = int(self.np_random.integers(self.mdp.n_states))
        self._steps = 0
        return self._state, self._info(False)

    def step(self, action: Any) -> tuple[int, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an integer in [0, {self.mdp.n_actions}), got {action!r}")
        s, a = self._state, int(action)
        invalid = not self._masks[s, a]
        k = int(np.searchsorted(self._cum[s, a], self.np_random.random() * self._cum[s, a, -1], side="right"))
        k = min(k, self._cum.shape[2] - 1)
        self._state = int(self.mdp.next_state[s, a, k])
        self._steps += 1
        truncated = self.max_cycles is not None and self._steps >= self.max_cycles
        return self._state, float(self.rewards[self._state]), False, truncated, self._info(invalid)

    def _info(self, invalid: bool) -> dict:
        return {"action_mask": self._masks[self._state].copy(), "invalid_action": bool(invalid),
                "state_name": self.mdp.states[self._state]}

    def action_masks(self) -> np.ndarray:
        """The current state's available actions (bool ``(A,)``), for maskable learners."""
        return self.mdp.action_mask[self._state].copy()
