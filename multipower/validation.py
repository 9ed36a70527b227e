"""Checks of numeric parameters shared by the solver, the learners and the estimator."""

from __future__ import annotations


def check_gamma(gamma: float, name: str = "gamma") -> float:
    """``gamma`` as a float in the open interval (0, 1); ``ValueError`` naming ``name`` otherwise."""
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in (0, 1), got {gamma!r}") from None
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in the open interval (0, 1), got {gamma!r}")
    return value
