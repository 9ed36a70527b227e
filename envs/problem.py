"""The two-stage problem as one value: the world, a batch of reward pairs, the discounts and A's seed policy.

Every exact solve and every training run of the two-stage setting (docs/concepts.md#two-stage-training) is about
the same five things. ``TwoStageProblem`` holds them, checked once, so that the solver, the learners, the
estimator and the comparisons take one argument for *what* is computed and keep their own arguments for *how*
(device, tolerances, workers):

    >>> from multipower.envs.model import joint_model
    >>> from multipower.envs.rewards import RewardSampler
    >>> model = joint_model("grid3x3", "crash")
    >>> R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 8)
    >>> problem = TwoStageProblem(model, R_H, R_A, gamma_H=0.9)
    >>> problem.n_samples, problem.gamma_A
    (8, 0.9)

The world is anything the solvers read: a ``JointModel`` (a layout with a collision rule, possibly slippery) or a
``JointGraph`` (a joint MDP read from a graph file).

Each stage of the two is itself a problem, ``StageProblem``: one agent learns, for each reward function, against the
other agent's fixed policy (H against the seed policy, then A against frozen H). ``TwoStageProblem.stage("H")``
gives the first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Optional, Union

import numpy as np

from multipower.envs.joint_graph import JointGraph, graph_seed_table
from multipower.envs.model import JointModel, check_agent
from multipower.envs.policies import SeedPolicy, check_policy_batch, seed_policy_table, uniform_policy
from multipower.envs.validation import check_gamma, check_rewards

#: What the solvers read: a layout's joint model or a joint graph.
JointWorld = Union[JointModel, JointGraph]


@dataclass(frozen=True, eq=False)
class TwoStageProblem:
    """What a two-stage computation is about; checked when made.

    Attributes:
        model: The joint world (``JointModel`` or ``JointGraph``), ``S`` joint states.
        R_H: ``(K, S)`` H's reward tables, one per sample (one ``(S,)`` table becomes ``K = 1``).
        R_A: ``(K, S)`` A's reward tables, sample ``k`` paired with ``R_H[k]``.
        gamma_H: H's discount in (0, 1).
        gamma_A: A's discount in (0, 1); ``None`` gives ``gamma_H``.
        seed_policy: A's seed policy, which H learns against: ``"uniform"`` (over A's available actions),
            ``"stay"``, or an ``(S, 5)`` table of action probabilities.

    Raises:
        ValueError: naming the field, for a model of another type, a discount outside (0, 1), rewards of another
            shape, not finite or with no rows, ``R_H`` and ``R_A`` of different shapes, or a seed policy that is
            not one of the above.
    """

    model: JointWorld
    R_H: np.ndarray
    R_A: np.ndarray
    gamma_H: float
    gamma_A: Optional[float] = None
    seed_policy: SeedPolicy = "uniform"

    def __post_init__(self) -> None:
        _check_world(self.model, (JointModel, JointGraph), "a JointModel (joint_model) or a JointGraph")
        gamma_H = check_gamma(self.gamma_H, "gamma_H")
        gamma_A = gamma_H if self.gamma_A is None else check_gamma(self.gamma_A, "gamma_A")
        n_states = self.model.n_states
        R_H, R_A = check_rewards(self.R_H, n_states, "R_H"), check_rewards(self.R_A, n_states, "R_A")
        if R_H.shape != R_A.shape:
            raise ValueError(f"R_H and R_A must have the same shape, got {R_H.shape} and {R_A.shape}")
        if len(R_H) == 0:
            raise ValueError("R_H, R_A: need at least one reward sample (row), got 0")
        for name, value in (("gamma_H", gamma_H), ("gamma_A", gamma_A), ("R_H", R_H), ("R_A", R_A)):
            object.__setattr__(self, name, value)
        # Checked once (a bad name or table fails here, naming seed_policy), then read by every solver call.
        table = np.array(seed_table(self.model, self.seed_policy))
        table.flags.writeable = False
        object.__setattr__(self, "_seed_table", table)

    @property
    def n_samples(self) -> int:
        """``K``, the reward pairs."""
        return self.R_H.shape[0]

    @property
    def n_states(self) -> int:
        """``S``, the joint states."""
        return self.model.n_states

    def seed_table(self) -> np.ndarray:
        """A's seed policy as a table over joint states and A's actions: ``(S, 5)`` on a layout
        (``multipower.envs.policies.seed_policy_table``), ``(S, nA)`` on a joint graph
        (``multipower.envs.joint_graph.graph_seed_table``); a read-only copy, made when the problem was."""
        return self._seed_table

    def rows(self, start: int, stop: int) -> "TwoStageProblem":
        """The same problem on reward pairs ``start:stop`` (a chunk of the batch)."""
        return replace(self, R_H=self.R_H[start:stop], R_A=self.R_A[start:stop])

    def stage(self, agent: str = "H", other_policy: Optional[np.ndarray] = None) -> "StageProblem":
        """One stage: ``"H"`` against the seed policy, or ``"A"`` against ``other_policy`` (H's frozen policy,
        ``(S, 5)`` or ``(K, S, 5)``, required for A)."""
        agent = check_agent(agent)
        if agent == "H":
            return StageProblem(self.model, self.R_H, self.gamma_H, "H", self.seed_table())
        if other_policy is None:
            raise ValueError("other_policy: stage 'A' learns against H's frozen policy; give it")
        return StageProblem(self.model, self.R_A, self.gamma_A, "A", other_policy)


@dataclass(frozen=True, eq=False)
class StageProblem:
    """One stage of the two-stage setting: ``agent`` learns, for each of ``K`` reward functions, against the other
    agent's fixed policy; checked when made.

    Attributes:
        model: The joint world, ``S`` joint states: a ``JointModel``, or a ``JointGraph`` with as many action slots
            for one agent as for the other (``JointGraph.with_slots()``).
        rewards: ``(K, S)`` the learner's reward tables (one ``(S,)`` table becomes ``K = 1``).
        gamma: The learner's discount in (0, 1).
        agent: ``"H"`` or ``"A"``, the learner.
        other_policy: The other agent's fixed policy, ``(S, n)`` (shared, e.g. the seed policy) or ``(K, S, n)``
            (one per sample, e.g. frozen H); ``None``: uniform over its available actions.

    Raises:
        ValueError: naming the field, for a model that is neither (or a graph of other slots), an unknown agent,
            a discount outside (0, 1), rewards of another shape, not finite or with no rows, or another agent's
            policy that is not a probability table over its available actions.
    """

    model: JointWorld
    rewards: np.ndarray
    gamma: float
    agent: str = "H"
    other_policy: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        _check_world(self.model, (JointModel, JointGraph), "a JointModel (joint_model) or a JointGraph")
        if isinstance(self.model, JointGraph) and self.model.action_mask_H.shape != self.model.action_mask_A.shape:
            raise ValueError(f"model: the learners hold one action-slot count for both agents; give the joint graph "
                             f"{self.model.name!r} as graph.with_slots()")
        agent = check_agent(self.agent)
        gamma = check_gamma(self.gamma)
        rewards = check_rewards(self.rewards, self.model.n_states, "rewards")
        if len(rewards) == 0:
            raise ValueError("rewards: need at least one reward function (row), got 0")
        other_mask = self.model.action_mask(self.other)
        other = uniform_policy(other_mask) if self.other_policy is None else self.other_policy
        check_policy_batch(other, other_mask, rewards.shape[0], "other_policy")
        for name, value in (("agent", agent), ("gamma", gamma), ("rewards", rewards),
                            ("other_policy", np.asarray(other, dtype=np.float64))):
            object.__setattr__(self, name, value)

    @property
    def other(self) -> str:
        """The agent that does not learn."""
        return "A" if self.agent == "H" else "H"

    @property
    def n_samples(self) -> int:
        """``K``, the reward functions."""
        return self.rewards.shape[0]

    def rows(self, start: int, stop: int) -> "StageProblem":
        """The same stage on reward functions ``start:stop`` (a per-sample other policy is cut too)."""
        other = self.other_policy[start:stop] if self.other_policy.ndim == 3 else self.other_policy
        return replace(self, rewards=self.rewards[start:stop], other_policy=other)


def seed_table(model: JointWorld, seed_policy: SeedPolicy) -> np.ndarray:
    """A's seed policy as a table over joint states and A's actions: ``(S, 5)`` on a layout
    (``multipower.envs.policies.seed_policy_table``), ``(S, nA)`` on a joint graph
    (``multipower.envs.joint_graph.graph_seed_table``)."""
    if isinstance(model, JointGraph):
        return graph_seed_table(model, seed_policy)
    return seed_policy_table(model, seed_policy)


def world_config(model: JointWorld, source: bool = True) -> dict:
    """The world's keys in a saved configuration: a layout's ``layout``, ``layout_text``, ``collision`` and ``slip``,
    or a joint graph's ``mdp`` (its name) and ``mdp_text`` (its DOT source, from which it is rebuilt; with
    ``source=False`` its SHA-256, ``mdp_sha256``, where the folder keeps the source once, in ``spec.json``: a
    graph of POWERplay's maze is 2.5 MB)."""
    if isinstance(model, JointGraph):
        if not source:
            return {"mdp": model.name, "mdp_sha256": hashlib.sha256(model.text.encode()).hexdigest()}
        return {"mdp": model.name, "mdp_text": model.text}
    return {"layout": model.layout.name, "layout_text": model.layout.to_text(), "collision": model.collision,
            "slip": model.slip}


def _check_world(model, kinds: tuple, allowed: str) -> None:
    if not isinstance(model, kinds):
        raise ValueError(f"model: must be {allowed}, got {type(model).__name__}")

