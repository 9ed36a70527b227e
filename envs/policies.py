"""Tabular policies: action probabilities per state, shared by every part of the package.

A policy is an array ``probs`` of shape ``(..., n_states, n_actions)`` (a leading batch axis holds one
policy per reward sample; ``n_actions`` is the world's action slots, the five moves of a layout); every row sums
to one and puts no mass on an unavailable action.
``TabularPolicy`` wraps one such table as a callable for the environments.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from multipower.envs.layouts import N_ACTIONS

#: Named seed policies of A (the policy H learns against in stage 1).
SEED_POLICIES = ("uniform", "stay")
SeedPolicy = Union[str, np.ndarray]


def _row_sums(probs: np.ndarray) -> np.ndarray:
    """``probs.sum(axis=-1)`` column by column: numpy's reduction over a short last axis costs ~10 ns a row,
    which made checking the seed table ``(48400, 5)`` of a large world cost a millisecond a solver call."""
    sums = np.zeros(probs.shape[:-1])
    for j in range(probs.shape[-1]):
        sums += probs[..., j]
    return sums


def uniform_policy(action_mask: np.ndarray) -> np.ndarray:
    """Uniform over the available actions (the default seed policy, docs/concepts.md#seed-policy)."""
    mask = np.asarray(action_mask, dtype=np.float64)
    return mask / _row_sums(mask)[..., None]


def stay_policy(action_mask: np.ndarray) -> np.ndarray:
    """Always ``stay`` (action 0), which is always available."""
    probs = np.zeros(np.shape(action_mask), dtype=np.float64)
    probs[..., 0] = 1.0
    return probs


def greedy_policy(q_values: np.ndarray, action_mask: np.ndarray, atol: float = 1e-9) -> np.ndarray:
    """Uniform over the available actions whose value is within ``atol`` of the best (docs/concepts.md#optimal-policies-and-ties)."""
    q = np.where(action_mask, q_values, -np.inf)
    best = q.max(axis=-1, keepdims=True)
    ties = (q >= best - atol) & action_mask
    return ties / ties.sum(axis=-1, keepdims=True)


def check_policy(probs, action_mask: np.ndarray, name: str = "policy", atol: float = 1e-6) -> np.ndarray:
    """Validate a policy table against ``action_mask`` ``(n_states, n_actions)``; return it as float64.

    Accepts ``(n_states, n_actions)`` or a batch ``(K, n_states, n_actions)``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    n_states, n_actions = action_mask.shape
    if probs.shape[-2:] != (n_states, n_actions) or probs.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape ({n_states}, {n_actions}) or (K, {n_states}, {n_actions}), got {probs.shape}"
        )
    sums_to_one = np.abs(_row_sums(probs) - 1.0) <= atol + 1e-5  # np.allclose(sums, 1.0, atol=atol)
    if (probs < -atol).any() or not sums_to_one.all():
        raise ValueError(f"{name} rows must be probabilities that sum to 1")
    if (np.where(action_mask, 0.0, probs) > atol).any():
        raise ValueError(f"{name} puts probability on unavailable actions")
    return probs


def seed_policy_table(model, seed_policy: SeedPolicy = "uniform") -> np.ndarray:
    """A's seed policy as an ``(S, 5)`` table over joint states.

    Args:
        model: The joint model.
        seed_policy: ``"uniform"`` (over A's available actions), ``"stay"``, or an ``(S, 5)`` table.
    """
    if isinstance(seed_policy, str):
        if seed_policy == "uniform":
            return uniform_policy(model.action_mask_A)
        if seed_policy == "stay":
            return stay_policy(model.action_mask_A)
        raise ValueError(f"seed_policy must be one of {SEED_POLICIES} or an (S, 5) array, got {seed_policy!r}")
    probs = check_policy(seed_policy, model.action_mask_A, name="seed_policy")
    if probs.ndim != 2:
        raise ValueError(f"seed_policy must have shape ({model.n_states}, {N_ACTIONS}), got {probs.shape}")
    return probs


def check_policy_batch(policy, action_mask: np.ndarray, n_samples: int, name: str = "policy") -> np.ndarray:
    """``check_policy`` for one policy per reward sample: ``(n_samples, n_states, n_actions)`` float64.

    A single table ``(n_states, n_actions)`` is broadcast to all samples; ``ValueError`` naming ``name`` for
    another number of samples.
    """
    n_states, n_actions = action_mask.shape
    expected = f"({n_samples}, {n_states}, {n_actions}) (samples, joint states, actions) or ({n_states}, {n_actions})"
    if np.ndim(policy) not in (2, 3) or (np.ndim(policy) == 3 and np.shape(policy)[0] != n_samples):
        raise ValueError(f"{name} must have shape {expected}, got {np.shape(policy)}")
    probs = check_policy(policy, action_mask, name)
    return np.broadcast_to(probs, (n_samples, n_states, n_actions)) if probs.ndim == 2 else probs


def is_deterministic(policy: np.ndarray, atol: float = 1e-9) -> bool:
    """True when every row of ``policy`` ``(..., n_actions)`` puts all its mass on one action."""
    return bool((np.asarray(policy).max(axis=-1) >= 1.0 - atol).all())


def cumulative_probabilities(probs: np.ndarray, normalise: bool = False) -> np.ndarray:
    """Cumulative probabilities ``(..., n_actions)`` for inverse-CDF sampling (``action = #{j : u >= cum_j}``).

    Entries from the last action of positive probability on are ``inf``, so rounding can never select an action
    after it. ``normalise`` divides by the row sums first (rows that sum to one only up to rounding).
    """
    cumulative = np.cumsum(probs, axis=-1)
    if normalise:
        cumulative = cumulative / probs.sum(axis=-1, keepdims=True)
    n_actions = probs.shape[-1]
    last = n_actions - 1 - np.argmax(probs[..., ::-1] > 0, axis=-1)
    cumulative[np.arange(n_actions) >= last[..., None]] = np.inf
    return cumulative


class TabularPolicy:
    """A frozen policy over states; ``policy(state, rng)`` samples an action.

    Args:
        probs: ``(n_states, N_ACTIONS)`` action probabilities.
        action_mask: Optional ``(n_states, N_ACTIONS)`` mask to validate against.
    """

    def __init__(self, probs: np.ndarray, action_mask: Optional[np.ndarray] = None) -> None:
        probs = np.asarray(probs, dtype=np.float64)
        if action_mask is not None:
            probs = check_policy(probs, action_mask)
        elif probs.ndim != 2 or probs.shape[1] != N_ACTIONS:
            raise ValueError(f"probs must have shape (n_states, {N_ACTIONS}), got {probs.shape}")
        self.probs = probs
        self._cumulative = cumulative_probabilities(probs, normalise=True)

    @property
    def n_states(self) -> int:
        return self.probs.shape[0]

    def sample(self, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One action per state in ``states`` (vectorised)."""
        u = rng.random(np.shape(states))[..., None]
        return (u >= self._cumulative[states]).sum(axis=-1)

    def __call__(self, state: int, rng: np.random.Generator) -> int:
        return int(self.sample(np.asarray(state), rng))

    def greedy_action(self, state: int) -> int:
        return int(np.argmax(self.probs[state]))
