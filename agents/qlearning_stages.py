"""The two-stage scheme with batched Q-learning (docs/concepts.md#two-stage-training): H learns against A's seed
policy, then A learns against frozen greedy H, one Q-table per reward sample (``multipower.agents.qlearning``
trains one stage); accuracy against exact action values when a reference is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from multipower.agents.chunk import ChunkTask, Progress, per_sample_seconds
from multipower.agents.logging import (
    ExactQ,
    TrainingLogger,
    greedy_optimal_fraction,
    value_gap,
)
from multipower.agents.qlearning import QLearningResult, train_q
from multipower.agents.qlearning_config import (
    QLearningConfig,
)
from multipower.envs.problem import StageProblem, TwoStageProblem


@dataclass
class TwoStageResult:
    """Both stages of the two-stage scheme for a batch of reward samples (docs/concepts.md#two-stage-training).

    Attributes:
        H, A: The ``QLearningResult`` of each stage (``Q_env`` values).
        policy_H, policy_A: ``(K, S, 5)`` frozen greedy policies (uniform over ties of the learned values).
        metrics: Accuracy against the exact optimum, when computed (see ``learned_metrics``).
    """

    H: QLearningResult
    A: QLearningResult
    policy_H: np.ndarray
    policy_A: np.ndarray
    metrics: dict = field(default_factory=dict)


def learned_metrics(problem: TwoStageProblem, q_H: np.ndarray, q_A: np.ndarray, policy_H: np.ndarray, *,
                    reference: ExactQ) -> dict:
    """Greedy-optimal fractions and value gaps of learned ``Q_env`` tables ``(K, S, 5)`` against the exact optimum.

    H is measured against its exact optimal response to the problem's seed policy; A against its exact optimal
    response to the *learned* frozen ``policy_H`` it trained against (see ``multipower.agents.logging``).
    ``reference`` computes those exact action values.
    """
    model = problem.model
    exact_H = reference(model, problem.R_H, problem.gamma_H, "H", problem.seed_table())
    exact_A = reference(model, problem.R_A, problem.gamma_A, "A", policy_H)
    return {
        "greedy_optimal_H": greedy_optimal_fraction(q_H, exact_H, model.action_mask_H),
        "greedy_optimal_A": greedy_optimal_fraction(q_A, exact_A, model.action_mask_A),
        "value_gap_H": value_gap(q_H, exact_H, model.action_mask_H),
        "value_gap_A": value_gap(q_A, exact_A, model.action_mask_A),
    }


def train_two_stage(
    problem: TwoStageProblem,
    config_H: Optional[QLearningConfig] = None,
    config_A: Optional[QLearningConfig] = None,
    seed: int = 0,
    logger: Optional[TrainingLogger] = None,
    reference: Optional[ExactQ] = None,
    progress: Optional[Callable[[int], None]] = None,
    sample_offset: int = 0,
) -> TwoStageResult:
    """H learns against the seed policy; then A learns against frozen greedy H. One Q-table per sample.

    Args:
        problem: The joint model, the ``(K, S)`` reward functions (from ``RewardSampler.pairs``), the discounts
            and A's seed policy in stage 1 (``multipower.envs.problem.TwoStageProblem``).
        config_H, config_A: Hyperparameters (defaults per γ; stage 2 uses the deterministic-opponent defaults
            when frozen H is deterministic).
        seed: Fixes every random draw of both stages.
        logger: Optional TensorBoard logger; with ``reference`` it also logs accuracy against the exact optimum
            on the first chunk of samples as training proceeds.
        reference: Exact action values (an ``multipower.agents.logging.ExactQ``); given, ``learned_metrics`` is
            computed at the end (and exact values feed the logger); ``None``: no accuracy is measured.
        progress: Called with the number of samples finished (per stage).
        sample_offset: Index in the whole run of the first sample (see ``train_q``).
    """
    model, R_H, R_A, gamma_H, gamma_A = problem.model, problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    seed_policy = problem.seed_table()
    log_exact = reference is not None and logger is not None and logger.enabled
    exact_H = reference(model, R_H, gamma_H, "H", seed_policy) if log_exact else None
    result_H = train_q(StageProblem(model, R_H, gamma_H, "H", seed_policy), config_H, seed, logger, exact_H,
                       progress=progress, sample_offset=sample_offset)
    policy_H = result_H.greedy(model.action_mask_H)
    exact_A = reference(model, R_A, gamma_A, "A", policy_H) if log_exact else None
    result_A = train_q(StageProblem(model, R_A, gamma_A, "A", policy_H), config_A, seed, logger, exact_A,
                       progress=progress, sample_offset=sample_offset)
    policy_A = result_A.greedy(model.action_mask_A)
    metrics = {}
    if reference is not None:
        metrics = learned_metrics(problem, result_H.q, result_A.q, policy_H, reference=reference)
    return TwoStageResult(result_H, result_A, policy_H, policy_A, metrics)


def train_chunk(task: ChunkTask, progress: Optional[Progress] = None) -> dict[str, np.ndarray]:
    """Both stages of the chunk's samples (``train_two_stage``), for the training driver.

    Args:
        task: The chunk; ``task.settings`` is ``(config_H, config_A)`` (``None``: the per-sample defaults). With
            ``task.tensorboard``, both stages log there (tags ``qlearning/H/...``, ``qlearning/A/...``), with the
            accuracy against ``task.reference`` when given.
        progress: Called with the chunk's number of samples when both stages are done.

    Returns:
        ``policy_H``, ``policy_A`` ``(k, S, 5)``, ``q_env_H``, ``q_env_A`` ``(k, S, 5)`` (environment
        convention), ``steps`` ``(k, 2)`` (steps per walker of each stage) and ``seconds`` ``(k, 2)``.
    """
    config_H, config_A = task.settings
    logger = TrainingLogger(task.tensorboard)
    try:
        run = train_two_stage(
            task.problem, config_H, config_A,
            seed=task.seed, logger=logger, reference=task.reference if logger.enabled else None,
            sample_offset=task.start,
        )
    finally:
        logger.close()
    if progress is not None:
        progress(len(task.R_H))
    return {
        "policy_H": run.policy_H, "policy_A": run.policy_A, "q_env_H": run.H.q, "q_env_A": run.A.q,
        "steps": np.stack([run.H.steps, run.A.steps], axis=1),
        "seconds": per_sample_seconds(len(task.R_H), run.H.seconds, run.A.seconds),
    }
