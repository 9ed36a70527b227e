"""The two-stage scheme with batched Q-learning (docs/concepts.md#two-stage-training): H learns against A's seed
policy, then A learns against frozen greedy H, one Q-table per reward sample (``multipower.agents.qlearning``
trains one stage); accuracy against exact action values when a reference is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from multipower.agents.logging import (
    ExactQ,
    TrainingLogger,
    greedy_optimal_fraction,
    solver_convention,
    value_gap,
)
from multipower.agents.qlearning import QLearningResult, train_q
from multipower.agents.qlearning_config import (
    QLearningConfig,
    check_memory,
    default_config,
)
from multipower.agents.storage import TrainedAgents
from multipower.envs.model import JointModel, joint_model
from multipower.envs.policies import (
    SeedPolicy,
    is_deterministic,
    seed_policy_table,
    uniform_policy,
)
from multipower.envs.rewards import RewardSampler
from multipower.envs.validation import available_cores, check_gamma


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
    n_jobs: Optional[int] = 1,
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
        n_jobs: Worker processes (see ``train_q``; results do not depend on it).
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
                       n_jobs=n_jobs, sample_offset=sample_offset)
    policy_H = result_H.greedy(model.action_mask_H)
    exact_A = reference(model, R_A, gamma_A, "A", policy_H) if log_exact else None
    result_A = train_q(model, R_A, gamma_A, "A", policy_H, config_A, seed, logger, exact_A, progress=progress,
                       n_jobs=n_jobs, sample_offset=sample_offset)
    policy_A = result_A.greedy(model.action_mask_A)
    metrics = {}
    if reference is not None:
        metrics = learned_metrics(
            model, R_H, R_A, gamma_H, gamma_A, result_H.q, result_A.q, policy_H, seed_policy, reference=reference
        )
    return TwoStageResult(result_H, result_A, policy_H, policy_A, metrics)


def learn_qlearning(
    layout,
    gamma: float,
    gamma_A: Optional[float] = None,
    samples: int = 100,
    collision: str = "none",
    correlation: float = 0.0,
    distribution=None,
    seed: int = 0,
    config_H: Optional[QLearningConfig] = None,
    config_A: Optional[QLearningConfig] = None,
    tensorboard: Optional[str] = None,
    reference: Optional[ExactQ] = None,
    progress: Optional[Callable[[int], None]] = None,
    sample_range: Optional[tuple[int, int]] = None,
    n_jobs: Optional[int] = None,
    max_memory=None,
    seed_policy: SeedPolicy = "uniform",
    slip: float = 0.0,
) -> TrainedAgents:
    """Train both agents with batched Q-learning on the reward functions of ``RewardSampler(seed)``.

    ``sample_range=(start, stop)`` trains only the samples with indices in ``range(start, stop)``, so a long run
    can be done, and kept, in chunks: sample ``k``'s agents are the same whichever range, chunk or ``n_jobs``
    (default: the available cores) it is trained in. ``max_memory``: the memory budget (see
    ``check_memory``), checked before the model is built. ``reference`` (exact action values, see ``train_two_stage``) adds accuracy metrics.
    ``seed_policy``: A's seed policy in stage 1 (``"uniform"``, ``"stay"`` or an ``(S, 5)`` table). ``slip``: the
    world's slip probability (docs/concepts.md#slip).

    Returns a ``multipower.agents.storage.TrainedAgents`` (``q_H``/``q_A`` in the solver's convention) whose
    ``config`` holds everything needed to reproduce the run, timings and metrics; save it with
    ``multipower.agents.storage.save_agents``.
    """
    gamma_H = check_gamma(gamma, "gamma")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    if int(samples) < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    start, stop = sample_range if sample_range is not None else (0, int(samples))
    n_jobs = available_cores() if n_jobs is None else int(n_jobs)
    check_memory(layout, collision, int(stop - start), max_memory, n_jobs)
    model = joint_model(layout, collision, slip)
    seed_table = seed_policy_table(model, seed_policy)
    sampler = RewardSampler(model.n_states, distribution, correlation, seed)
    R_H, R_A = sampler.pairs(int(start), int(stop))
    logger = TrainingLogger(tensorboard)
    try:
        run = train_two_stage(
            model, R_H, R_A, gamma_H, gamma_A, seed_table, config_H, config_A, int(seed), logger, reference, progress,
            n_jobs, sample_offset=int(start),
        )
        if logger.enabled and run.metrics:
            logger.scalars("qlearning/final", run.metrics, 0)
    finally:
        logger.close()
    config = {
        "algo": "qlearning",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "gamma_H": gamma_H,
        "gamma_A": gamma_A,
        "collision": collision,
        "slip": model.slip,
        "correlation": sampler.correlation,
        "distribution": sampler.distribution.to_config(),
        "seed": int(seed),
        "samples": int(stop - start),
        "sample_start": int(start),
        "seed_policy": seed_policy if isinstance(seed_policy, str) else "custom",
        "q_convention": "solver: R(s) + gamma * Q_env(s, a)",
        "hyperparameters": {
            "H": (config_H or default_config(gamma_H, deterministic_other=model.slip == 0.0
                                             and is_deterministic(seed_table))).to_dict(),
            "A": (config_A or default_config(gamma_A, deterministic_other=model.slip == 0.0
                                             and is_deterministic(run.policy_H))).to_dict(),
        },
        "timings": {"H_seconds": run.H.seconds, "A_seconds": run.A.seconds},
        "n_jobs": int(n_jobs),
        "transitions": {"H": run.H.transitions, "A": run.A.transitions},
        "metrics": run.metrics,
    }
    return TrainedAgents(
        run.policy_H,
        run.policy_A,
        R_H,
        R_A,
        config,
        solver_convention(run.H.q, R_H, gamma_H),
        solver_convention(run.A.q, R_A, gamma_A),
    )
