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
from multipower.envs.model import JointModel
from multipower.envs.policies import (
    uniform_policy,
)
from multipower.envs.validation import check_gamma


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


def learned_metrics(
    model: JointModel,
    R_H: np.ndarray,
    R_A: np.ndarray,
    gamma_H: float,
    gamma_A: float,
    q_H: np.ndarray,
    q_A: np.ndarray,
    policy_H: np.ndarray,
    seed_policy: Optional[np.ndarray] = None,
    *,
    reference: ExactQ,
) -> dict:
    """Greedy-optimal fractions and value gaps of learned ``Q_env`` tables against the exact optimum.

    H is measured against its exact optimal response to the seed policy; A against its exact optimal response
    to the *learned* frozen ``policy_H`` it trained against (see ``multipower.agents.logging``). ``reference`` computes
    those exact action values.
    """
    seed_policy = uniform_policy(model.action_mask_A) if seed_policy is None else seed_policy
    exact_H = reference(model, R_H, gamma_H, "H", seed_policy)
    exact_A = reference(model, R_A, gamma_A, "A", policy_H)
    return {
        "greedy_optimal_H": greedy_optimal_fraction(q_H, exact_H, model.action_mask_H),
        "greedy_optimal_A": greedy_optimal_fraction(q_A, exact_A, model.action_mask_A),
        "value_gap_H": value_gap(q_H, exact_H, model.action_mask_H),
        "value_gap_A": value_gap(q_A, exact_A, model.action_mask_A),
    }


def train_two_stage(
    model: JointModel,
    R_H: np.ndarray,
    R_A: np.ndarray,
    gamma_H: float,
    gamma_A: Optional[float] = None,
    seed_policy: Optional[np.ndarray] = None,
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
        model: Joint model.
        R_H, R_A: ``(K, S)`` reward functions (from ``RewardSampler.pairs``).
        gamma_H, gamma_A: Discounts (``gamma_A`` defaults to ``gamma_H``).
        seed_policy: ``(S, 5)`` seed policy of A in stage 1 (default uniform over available actions).
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
    gamma_H = check_gamma(gamma_H, "gamma_H")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    R_H = np.atleast_2d(np.asarray(R_H, dtype=np.float64))
    R_A = np.atleast_2d(np.asarray(R_A, dtype=np.float64))
    if seed_policy is None:
        seed_policy = uniform_policy(model.action_mask_A)
    log_exact = reference is not None and logger is not None and logger.enabled
    exact_H = reference(model, R_H, gamma_H, "H", seed_policy) if log_exact else None
    result_H = train_q(model, R_H, gamma_H, "H", seed_policy, config_H, seed, logger, exact_H, progress=progress,
                       sample_offset=sample_offset)
    policy_H = result_H.greedy(model.action_mask_H)
    exact_A = reference(model, R_A, gamma_A, "A", policy_H) if log_exact else None
    result_A = train_q(model, R_A, gamma_A, "A", policy_H, config_A, seed, logger, exact_A, progress=progress,
                       sample_offset=sample_offset)
    policy_A = result_A.greedy(model.action_mask_A)
    metrics = {}
    if reference is not None:
        metrics = learned_metrics(
            model, R_H, R_A, gamma_H, gamma_A, result_H.q, result_A.q, policy_H, seed_policy, reference=reference
        )
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
            task.model, task.R_H, task.R_A, task.gamma_H, task.gamma_A, task.seed_policy, config_H, config_A,
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
