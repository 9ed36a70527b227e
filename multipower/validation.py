"""Checks of numeric parameters shared by the solver, the learners and the estimator."""

from __future__ import annotations

import os


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
