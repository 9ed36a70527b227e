"""Accuracy metrics of learned agents against exact action values, and TensorBoard logging.

The learners are judged against the truth the model knows, which only the exact solver computes. The learners
do not import it: a caller that wants accuracy passes an ``ExactQ`` (``multipower.exact.accuracy.optimal_response_q``),
which for one agent ("me") facing a fixed policy of the other agent returns the optimal action values, batched
over reward samples, in the environment's convention (reward of the state arrived at)::

    Q_env(s, a) = E_{a_other ~ π_other(s)} [ R(s') + γ max_b Q_env(s', b) ],   s' = next_state[s, a, a_other],

with ``R = 0`` and no bootstrap after a crash. The solver's convention (docs/concepts.md#two-stage-training)
is ``Q(s, a) = R(s) + γ Q_env(s, a)``: the same argmax, so "greedy action optimal" is the same in both.

**Which optimum A is measured against.** A learns against the *learned*, frozen H (that is the problem A
faces), so A's accuracy is measured against A's optimal response to that learned H, not to the exact
``π_H``: otherwise H's learning errors would be charged to A. The solver's ``q_A`` (response to the exact
``π_H``) is the right reference only for the end-to-end pipeline comparison that the POWER estimators make.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from multipower.envs.model import JointModel
from multipower.envs.problem import TwoStageProblem

#: ``reference(model, rewards, gamma, agent, other_policy) -> Q_env``: the exact optimal action values ``(K, S, 5)``
#: of ``agent`` for ``rewards`` ``(K, S)`` against ``other_policy`` ``(S, 5)`` or ``(K, S, 5)``, ``-inf`` where
#: unavailable. Passed in by the caller so that learning never depends on the solver.
ExactQ = Callable[[JointModel, np.ndarray, float, str, np.ndarray], np.ndarray]

#: Tolerance on exact action values within which actions count as tied for the maximum.
OPTIMAL_ATOL = 1e-6


def solver_convention(q_env: np.ndarray, rewards: np.ndarray, gamma: float) -> np.ndarray:
    """``R(s) + γ Q_env(s, a)``: action values in the exact solver's convention (same argmax)."""
    return np.asarray(rewards)[..., None] + gamma * np.asarray(q_env)


def greedy_optimal_fraction(
    q_learned: np.ndarray, q_exact: np.ndarray, mask: np.ndarray, atol: float = OPTIMAL_ATOL
) -> float:
    """Fraction of ``(sample, state)`` pairs whose learned greedy action is an exact optimal action.

    The learned greedy action is the available argmax of ``q_learned``; it is optimal when its exact value is
    within ``atol`` of the exact maximum (exact ties all count as optimal).
    """
    return float(optimal_mask(q_learned, q_exact, mask, atol).mean())


def optimal_mask(q_learned: np.ndarray, q_exact: np.ndarray, mask: np.ndarray, atol: float = OPTIMAL_ATOL) -> np.ndarray:
    """``(K, S)`` True where the learned greedy action is among the exact optimal actions."""
    greedy = np.where(mask, q_learned, -np.inf).argmax(axis=-1)
    exact = np.where(mask, q_exact, -np.inf)
    chosen = np.take_along_axis(exact, greedy[..., None], axis=-1)[..., 0]
    return chosen >= exact.max(axis=-1) - atol


def policy_optimal_fraction(policy: np.ndarray, q_exact: np.ndarray, mask: np.ndarray, atol: float = OPTIMAL_ATOL) -> float:
    """Fraction of ``(sample, state)`` pairs where ``policy`` puts all its mass on exact optimal actions."""
    exact = np.where(mask, q_exact, -np.inf)
    optimal = exact >= exact.max(axis=-1, keepdims=True) - atol
    return float((np.where(optimal, 0.0, policy).sum(axis=-1) < 1e-9).mean())


def policy_metrics(problem: TwoStageProblem, policy_H: np.ndarray, policy_A: np.ndarray, reference: ExactQ) -> dict:
    """Greedy-optimal fractions of frozen policies ``(K, S, 5)``: H against its exact optimal response to the
    problem's seed policy, A against its exact optimal response to the learned ``policy_H`` it trained against."""
    model = problem.model
    exact_H = reference(model, problem.R_H, problem.gamma_H, "H", problem.seed_table())
    exact_A = reference(model, problem.R_A, problem.gamma_A, "A", policy_H)
    return {
        "greedy_optimal_H": policy_optimal_fraction(policy_H, exact_H, model.action_mask_H),
        "greedy_optimal_A": policy_optimal_fraction(policy_A, exact_A, model.action_mask_A),
    }


def value_gap(q_learned: np.ndarray, q_exact: np.ndarray, mask: np.ndarray) -> float:
    """Mean over ``(sample, state)`` of ``|max Q_learned - max Q_exact|`` (environment convention)."""
    learned = np.where(mask, q_learned, -np.inf).max(axis=-1)
    exact = np.where(mask, q_exact, -np.inf).max(axis=-1)
    return float(np.abs(learned - exact).mean())


class TrainingLogger:
    """A thin wrapper of ``torch.utils.tensorboard.SummaryWriter`` that does nothing without a directory.

    Args:
        log_dir: TensorBoard directory, or ``None`` to log nothing.
    """

    def __init__(self, log_dir: Optional[str] = None) -> None:
        self.log_dir = log_dir
        self._writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), int(step))

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        for key, value in values.items():
            self.scalar(f"{prefix}/{key}", value, step)

    def text(self, tag: str, text: str) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "TrainingLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
