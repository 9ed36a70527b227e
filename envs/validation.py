"""Checks of the numbers every layer shares: discounts, reward tables, and the cores a run may use.

They live with the world (``envs``) so that learners and the solver validate alike without importing each
other. Each raises ``ValueError`` with one line naming the parameter and what is allowed.
"""

from __future__ import annotations

import os

import numpy as np


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity and container CPU sets, unlike ``os.cpu_count``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """``gamma`` as a float in the open interval (0, 1); ``ValueError`` naming ``name`` otherwise."""
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {gamma!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {gamma!r}")
    return value


def check_rewards(rewards, n_states: int, name: str = "rewards") -> np.ndarray:
    """A batch of reward tables ``(K, n_states)`` as finite float64 (one table ``(n_states,)`` becomes ``K = 1``).

    Raises ``ValueError`` naming ``name`` for another shape or a non-finite value.
    """
    array = np.asarray(rewards, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != n_states:
        raise ValueError(f"{name} must have shape (K, {n_states}), got {np.shape(rewards)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array
