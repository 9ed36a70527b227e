"""Former home of the reward distributions; they now live in :mod:`multipower.envs.rewards` (kept for one version)."""

from multipower.envs.rewards import (
    DISTRIBUTIONS,
    RewardDistribution,
    RewardSampler,
    bernoulli,
    beta,
    check_correlation,
    custom,
    make_distribution,
    pareto,
    uniform,
)

__all__ = [
    "DISTRIBUTIONS", "RewardDistribution", "RewardSampler", "bernoulli", "beta", "check_correlation", "custom",
    "make_distribution", "pareto", "uniform",
]
