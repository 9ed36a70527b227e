"""Slip: stochastic moves (docs/concepts.md#slip).

With slip probability ``p``, an agent's chosen move is replaced, with probability ``p``, by a move drawn uniformly
from the moves available at its cell (``stay`` and every open neighbour, the chosen move included), independently
for each agent. With ``k`` available moves, the chosen move happens with probability ``1 − p + p/k`` and each other
available move with ``p/k``. This is the noise rule of POWERplay's stochastic gridworlds. The collision rule then
applies to the moves that actually happen. ``p = 0`` is the deterministic world.

The rule is a matrix per cell, ``P[c, chosen, effective]``, which is all the model, the solver and the
environments need: the joint transition is ``P_H[h] ⊗ P_A[a]`` over effective move pairs, followed by the
deterministic joint table.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np


def check_slip(slip, name: str = "slip") -> float:
    """``slip`` as a float in ``[0, 1]``; ``ValueError`` naming ``name`` otherwise (nan, inf, non-numbers)."""
    if isinstance(slip, bool) or not isinstance(slip, Real) or not math.isfinite(float(slip)) or not 0.0 <= slip <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {slip!r}")
    return float(slip) + 0.0  # -0.0 is 0


def slip_cdf(P: np.ndarray) -> np.ndarray:
    """Cumulative slip probabilities ``(..., 5, 5)`` over the effective move, the last column exactly 1.

    The effective move of a uniform draw ``u`` in ``[0, 1)`` is the number of entries ``<= u``
    (``multipower.envs.dynamics.effective_moves``): a move of probability 0 is never drawn, and rounding never draws
    past the last move.
    """
    cdf = np.cumsum(P, axis=-1)
    cdf[..., -1] = 1.0
    return cdf


def slip_matrix(action_mask: np.ndarray, slip: float) -> np.ndarray:
    """The effective-move distribution of each cell and chosen move.

    Args:
        action_mask: ``(n, 5)`` bool, the moves available at each of ``n`` cells (``stay`` always available).
        slip: Slip probability ``p`` in ``[0, 1]``.

    Returns:
        ``(n, 5, 5)`` float64 ``P[c, chosen, effective]``: for an available ``chosen``, ``(1 − p)·[effective ==
        chosen] + p·mask[c, effective]/k_c`` with ``k_c`` the available moves at ``c``; each row sums to 1. Rows of
        unavailable chosen moves are the identity (they are never chosen; a row must still sum to 1).
    """
    slip = check_slip(slip)
    mask = np.asarray(action_mask, dtype=bool)
    n_moves = mask.sum(axis=1, keepdims=True)  # (n, 1), >= 1 since stay is always available
    uniform = mask / n_moves  # (n, 5)
    eye = np.eye(mask.shape[1])
    P = (1.0 - slip) * eye[None, :, :] + slip * uniform[:, None, :]
    return np.where(mask[:, :, None], P, eye[None, :, :])
