"""Former home of the tabular policies; they now live in :mod:`multipower.envs.policies` (kept for one version)."""

from multipower.envs.policies import TabularPolicy, check_policy, greedy_policy, is_deterministic, stay_policy, uniform_policy

__all__ = ["TabularPolicy", "check_policy", "greedy_policy", "is_deterministic", "stay_policy", "uniform_policy"]
