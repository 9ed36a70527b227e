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
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

import numpy as np

from multipower.envs.joint_graph import JointGraph, graph_seed_table
from multipower.envs.model import JointModel
from multipower.envs.policies import SeedPolicy, seed_policy_table
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
        ValueError: naming the field, for a discount outside (0, 1), rewards of another shape or not finite,
            ``R_H`` and ``R_A`` of different shapes, or a seed policy that is not one of the above.
    """

    model: JointWorld
    R_H: np.ndarray
    R_A: np.ndarray
    gamma_H: float
    gamma_A: Optional[float] = None
    seed_policy: SeedPolicy = "uniform"

    def __post_init__(self) -> None:
        gamma_H = check_gamma(self.gamma_H, "gamma_H")
        gamma_A = gamma_H if self.gamma_A is None else check_gamma(self.gamma_A, "gamma_A")
        n_states = self.model.n_states
        R_H, R_A = check_rewards(self.R_H, n_states, "R_H"), check_rewards(self.R_A, n_states, "R_A")
        if R_H.shape != R_A.shape:
            raise ValueError(f"R_H and R_A must have the same shape, got {R_H.shape} and {R_A.shape}")
        for name, value in (("gamma_H", gamma_H), ("gamma_A", gamma_A), ("R_H", R_H), ("R_A", R_A)):
            object.__setattr__(self, name, value)
        self.seed_table()  # a bad name or table fails here, naming seed_policy

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
        (``multipower.envs.joint_graph.graph_seed_table``)."""
        if isinstance(self.model, JointGraph):
            return graph_seed_table(self.model, self.seed_policy)
        return seed_policy_table(self.model, self.seed_policy)

    def rows(self, start: int, stop: int) -> "TwoStageProblem":
        """The same problem on reward pairs ``start:stop`` (a chunk of the batch)."""
        return replace(self, R_H=self.R_H[start:stop], R_A=self.R_A[start:stop])
