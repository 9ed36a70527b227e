"""One agent of the joint maze (or of a joint MDP graph) as a Gymnasium environment, the other agent following a
fixed policy.

This is how a single-agent learner (tabular Q-learning, stable-baselines3 PPO, sb3-contrib MaskablePPO)
trains one agent in the two stages (docs/concepts.md#two-stage-training): H against A's seed, then A against frozen H::

    from multipower.envs import maze_v1
    from multipower.envs.single_agent import SingleAgentView
    view = SingleAgentView(maze_v1.parallel_env(layout="grid3x3"), agent="H")   # A uniform random
    obs, info = view.reset(seed=0)
    obs, reward, terminated, truncated, info = view.step(view.action_space.sample(info["action_mask"]))
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import gymnasium
import numpy as np
from gymnasium import spaces

from multipower.envs.policies import TabularPolicy, check_policy, uniform_policy
from multipower.envs import joint_graph_v0
from multipower.envs.maze_v1 import DEFAULT_MAX_CYCLES, MazeParallelEnv, parallel_env
from multipower.envs.model import AGENTS, check_agent
from multipower.envs.validation import check_action

#: ``policy(joint_state, rng) -> action``.
PolicyFn = Callable[[int, np.random.Generator], int]
OtherPolicy = Union[None, PolicyFn, TabularPolicy, np.ndarray]


def as_policy(policy: OtherPolicy, action_mask: np.ndarray, name: str = "other_policy") -> PolicyFn:
    """Turn any accepted policy form into a callable ``policy(joint_state, rng) -> action``.

    Args:
        policy: ``None`` (uniform over the available actions of ``action_mask``), a
            ``TabularPolicy``, a ``(n_states, 5)`` probability table, or any callable
            ``policy(joint_state, rng) -> action``.
        action_mask: ``(n_states, 5)`` availability of the agent that follows the policy.
        name: Parameter name for error messages.
    """
    n_states = action_mask.shape[0]
    if policy is None:
        return TabularPolicy(uniform_policy(action_mask))
    if isinstance(policy, TabularPolicy):
        if policy.n_states != n_states:
            raise ValueError(f"{name} covers {policy.n_states} states, the environment has {n_states}")
        check_policy(policy.probs, action_mask, name=name)
        return policy
    if isinstance(policy, (np.ndarray, list, tuple)):
        probs = np.asarray(policy, dtype=np.float64)
        if probs.shape != action_mask.shape:
            raise ValueError(f"{name} as a table must have shape {action_mask.shape}, got {probs.shape}")
        return TabularPolicy(check_policy(probs, action_mask, name=name))
    if callable(policy):
        return policy
    raise ValueError(
        f"{name} must be None, a TabularPolicy, a ({n_states}, 5) probability table or a callable "
        f"policy(joint_state, rng) -> action; got {type(policy).__name__}"
    )


class SingleAgentView(gymnasium.Env):
    """A Gymnasium env for ``agent`` of a ``MazeParallelEnv`` (or a ``joint_graph_v0`` environment); the other
    agent follows a policy.

    The other agent acts at the same time as the learner, on the same joint state, and its action is drawn
    from ``other_policy`` with this view's generator (seeded by ``reset(seed=...)``), so a seeded episode is
    reproducible. Observations, rewards (the learner's ``R(s')``), terminations (a crash) and truncations
    (``max_cycles``) are the parallel env's for ``agent``; an ``"index"`` observation is an ``np.int64``, as
    Gymnasium expects of ``Discrete`` spaces (the PettingZoo env gives a 0-d array).

    Args:
        parallel_env: The two-agent environment (its world, observation type, rewards and episode length apply):
            a ``maze_v1`` or a ``joint_graph_v0`` parallel environment.
        agent: ``"H"`` or ``"A"``: the agent this view controls.
        other_policy: How the other agent acts:

            * ``None`` (default): uniform over its available actions (the seed policy, docs/concepts.md#seed-policy);
            * a ``TabularPolicy`` over the joint states (e.g. a frozen learned policy);
            * a ``(n_states, n_actions)`` array of action probabilities (rows sum to 1, no mass on unavailable
              moves);
            * any callable ``policy(joint_state, rng) -> action`` (``rng`` is a ``numpy.random.Generator``).

            Swap it later with ``set_other_policy``.

    The current action mask is in ``info["action_mask"]`` (in the observation instead with
    ``action_mask_in_obs``) and from ``action_masks`` (the method sb3-contrib's ``MaskablePPO`` calls);
    ``info["other_action"]`` is the other agent's action. Under the parallel env's ``slip`` both agents' moves
    slip there, drawn from its generator (seeded from this view's on ``reset(seed=...)``).

    The reward tables are the parallel env's (fixed by its ``rewards`` or ``reward_seed``; ``reset(seed=...)``
    does not change them). To change them, call ``view.par_env.set_rewards({"H": R_H, "A": R_A})`` or reset with
    ``options={"rewards": {...}}`` or ``options={"reward_seed": n}``; the tables then stay until changed. ``reset(options=...)`` also takes ``joint_state`` / ``cells`` to place
    the agents (by default every episode starts from a uniformly random joint state).
    """

    metadata = {"render_modes": ["human", "ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, parallel_env: MazeParallelEnv, agent: str = "H", other_policy: OtherPolicy = None) -> None:
        if not isinstance(parallel_env, (MazeParallelEnv, joint_graph_v0.JointGraphParallelEnv)):
            raise ValueError("parallel_env must be a maze_v1 MazeParallelEnv or a joint_graph_v0 "
                             f"JointGraphParallelEnv, got {type(parallel_env).__name__}")
        self.par_env = parallel_env
        self.agent = check_agent(agent)
        self.other = AGENTS[1 - AGENTS.index(self.agent)]
        self.observation_space = parallel_env.observation_space(self.agent)
        self.action_space = spaces.Discrete(parallel_env.action_space(self.agent).n)
        self.render_mode = parallel_env.render_mode
        self._mask = np.ones(self.action_space.n, dtype=np.int8)
        self._done = True
        self.set_other_policy(other_policy)

    @property
    def model(self):
        """The ``JointModel`` the environment steps by (a ``JointGraph`` for a joint graph's environment)."""
        return getattr(self.par_env, "model", None) or self.par_env.graph

    @property
    def joint_state(self) -> int:
        return self.par_env.joint_state

    def set_other_policy(self, other_policy: OtherPolicy) -> None:
        """Use ``other_policy`` (any form accepted by the constructor) for the other agent from now on."""
        self.other_policy = as_policy(other_policy, self.model.action_mask(self.other))

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[Any, dict]:
        """Reset the parallel env (``options`` pass to it: ``joint_state``, ``cells``, ``rewards``, ``reward_seed``)."""
        super().reset(seed=seed)
        par_seed = None if seed is None else int(self.np_random.integers(2**31))
        observations, infos = self.par_env.reset(seed=par_seed, options=options)
        self._mask = self._current_mask(observations, infos)
        self._done = False
        info = infos[self.agent]
        info["other_action"] = np.int64(-1)  # every info key from reset() on, as after step()
        return self._gym_obs(observations[self.agent]), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        if self._done:
            raise RuntimeError("the episode is over (or never started): call reset() before step()")
        action = check_action(action, "action", self.action_space.n)
        other_action = check_action(self.other_policy(self.par_env.joint_state, self.np_random),
                                    "other_policy's action", self.par_env.action_space(self.other).n)
        observations, rewards, terminations, truncations, infos = self.par_env.step(
            {self.agent: action, self.other: other_action}
        )
        info = infos[self.agent]
        info["other_action"] = np.int64(other_action)
        self._mask = self._current_mask(observations, infos)
        terminated, truncated = terminations[self.agent], truncations[self.agent]
        self._done = terminated or truncated
        return self._gym_obs(observations[self.agent]), rewards[self.agent], terminated, truncated, info

    def _gym_obs(self, obs):
        """An ``"index"`` observation as ``np.int64`` (Gymnasium's form for ``Discrete``; PettingZoo's is a 0-d array)."""
        if getattr(self.par_env, "obs_type", "index") != "index":
            return obs
        if isinstance(obs, dict):
            return {**obs, "observation": np.int64(obs["observation"])}
        return np.int64(obs)

    def _current_mask(self, observations: dict, infos: dict) -> np.ndarray:
        if getattr(self.par_env, "action_mask_in_obs", False):
            return observations[self.agent]["action_mask"]
        return infos[self.agent]["action_mask"]

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the available actions now (read by sb3-contrib's ``MaskablePPO``)."""
        return self._mask.astype(bool)

    def render(self):
        return self.par_env.render()

    def close(self) -> None:
        self.par_env.close()


class JointMazeEnv(SingleAgentView):
    """A ``SingleAgentView`` of a new ``maze_v1.parallel_env(**kwargs)``: the entry point of the Gymnasium
    ids ``"multipower/JointMaze-H-v1"`` and ``"multipower/JointMaze-A-v1"``.

    Under ``gymnasium.make`` the episode length is ``max_episode_steps`` (default 100, Gymnasium's
    ``TimeLimit``), so ``max_cycles`` defaults to ``None`` here; built directly, pass ``max_cycles``.
    Other keyword arguments (``layout``, ``collision``, ``obs_type``, ``rewards``, ``reward_seed``, ...) are the
    parallel env's.
    """

    def __init__(self, agent: str = "H", other_policy: OtherPolicy = None, max_cycles: Optional[int] = None, **kwargs):
        super().__init__(parallel_env(max_cycles=max_cycles, **kwargs), agent=agent, other_policy=other_policy)


def joint_maze_view(agent: str = "H", other_policy: OtherPolicy = None, **kwargs) -> SingleAgentView:
    """A ``SingleAgentView`` of a new ``maze_v1.parallel_env(**kwargs)`` (episodes of ``max_cycles``, default
    100, steps)."""
    kwargs.setdefault("max_cycles", DEFAULT_MAX_CYCLES)
    return SingleAgentView(parallel_env(**kwargs), agent=agent, other_policy=other_policy)


class JointGraphEnv(SingleAgentView):
    """A ``SingleAgentView`` of a new ``joint_graph_v0.parallel_env(**kwargs)``: the entry point of the Gymnasium
    ids ``"multipower/JointGraph-H-v0"`` and ``"multipower/JointGraph-A-v0"``.

    As ``JointMazeEnv``: ``max_cycles`` defaults to ``None`` (Gymnasium's ``TimeLimit`` of ``max_episode_steps``
    ends episodes); other keyword arguments (``graph``, ``rewards``, ``reward_seed``, ...) are the parallel env's,
    ``graph`` defaulting to the packaged ``joint_grid2x2_crash``.
    """

    metadata = {"render_modes": list(joint_graph_v0.RENDER_MODES), "render_fps": 4}

    def __init__(self, agent: str = "H", other_policy: OtherPolicy = None, max_cycles: Optional[int] = None, **kwargs):
        super().__init__(joint_graph_v0.parallel_env(max_cycles=max_cycles, **kwargs), agent=agent,
                         other_policy=other_policy)
