"""Optimal policies at small discounts, by comparing action values order by order in ``γ``.

At a small discount an action's expected next value is a power series in ``γ``,
``E_a(s) = E[V(s') | a] = e_0(s, a) + γ·e_1(s, a) + γ²·e_2(s, a) + …``, where ``e_0`` is the expected next reward
and each later coefficient is the expected reward one step further on under the optimal policy. With sparse
rewards (Bernoulli, or any distribution with atoms) actions often tie exactly in ``e_0`` and are told apart only
by ``e_1``, ``e_2``, …: gaps of size ``γ^n`` that fall below any floating-point tie tolerance once ``γ`` is small
(at ``γ = 1e-9``, ``e_2``'s share of ``E_a`` is ``1e-18`` of it). In the two-stage problem such a tie matters at
full size: A best-responds to the support of H's policy, so choosing between two actions that differ only at
order ``γ²`` moves both agents' POWER by ``O(1)`` (docs/concepts.md#small-discounts).

``lexicographic_policy`` therefore compares actions on the coefficients themselves: first ``e_0``, then, among
the actions tied there, ``e_1``, and so on for ``LEX_ORDERS`` orders. The coefficients of the optimal value follow
one order at a time (``c_0 = R``, ``c_{n+1}(s) = max over the actions still tied of e_n(s, a)``, with
``e_n = E[c_n(s')]``), each a single Bellman-like sweep, so the cost is ``LEX_ORDERS`` sweeps per agent.

The order-by-order choice is the optimal choice at the given ``γ`` when every decision it makes is certified:
the later coefficients of a gap are bounded by the span of the rewards (``|e_j(s, a) − e_j(s, b)| <= span``, with
0 included under ``crash``), so a gap ``d_n`` at the first order where two actions differ decides the comparison
when ``d_n > tol + span·γ / (1 − γ)``. A sample with any decision that falls between ``tol`` and that bound is
reported uncertified, and the caller keeps the floating-point solver's policies for it. Actions that agree at all
``LEX_ORDERS`` orders are taken as tied.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

#: Discounts (both agents') at or below which ``multipower.exact.solver.solve_pairs`` compares actions order
#: by order. Above it the float tie tolerance resolves what matters and most samples would not certify.
LEX_GAMMA = 1e-3
#: Orders of ``γ`` compared (with the 1/5 probabilities of a uniform seed, order ``n`` gaps are multiples of about
#: ``5^-n``: 12 orders reach 1e-8, far above the rounding tolerance, and deeper ties were not seen on the built-in worlds).
LEX_ORDERS = 12
#: Tolerance on each coefficient gap, relative to ``max|R|`` (coefficients are sums of a few dozen products, each
#: rounded to ``1e-16``).
LEX_RTOL = 1e-12
#: Samples per batch, so that the ``(K, S, 5, 5)`` gathers stay near 32 MB.
_BATCH_FLOATS = 1 << 22


def lexicographic_policy(
    next_state: np.ndarray,
    weights: np.ndarray,
    R: np.ndarray,
    mask: np.ndarray,
    gamma: float,
    absorbing: bool = False,
    mix: Optional[np.ndarray] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An optimal policy for ``K`` reward functions, comparing actions order by order in ``γ``.

    The expected next value of action (or effective move) ``a`` at ``s`` is
    ``Σ_j weights[k, s, a, j] · V[next_state[s, a, j]]``: for a joint model, ``j`` runs over the other agent's
    effective moves (``next_state[s, own, other]``, ``weights[k, s, a, j]`` the other's move probabilities, the same
    for every ``a``); for a single agent ``J = 1`` and weight 1; for an MDP graph the graph's outcomes.

    Args:
        next_state: ``(S, A, J)`` successor states; ``S`` is the terminal (value 0) of a crash.
        weights: ``(K, S, A, J)`` or ``(S, A, J)`` successor probabilities (broadcast over the leading axes).
        R: ``(K, S)`` rewards.
        mask: ``(S, A)`` available actions.
        gamma: The discount (the certificate's tail bound uses it).
        absorbing: Whether mass leaves at crashes (0 is then among the values the coefficients can take).
        mix: ``(S, A, A)`` slip matrices ``P[s, chosen, effective]`` applied after the expectation over
            effective moves, or ``None`` without slip.

    Returns:
        ``(policy, certified)``: ``(K, S, A)`` uniform over the actions tied at every order, and ``(K,)`` whether
        every decision of the sample is certified at ``gamma`` (module docstring).
    """
    K, S = R.shape
    weights = np.broadcast_to(weights, (K,) + next_state.shape)
    step = max(1, _BATCH_FLOATS // next_state.size)
    parts = [_batch(next_state, weights[i:i + step], R[i:i + step], mask, gamma, absorbing, mix)
             for i in range(0, K, step)]
    return np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts])


def _batch(next_state, weights, R, mask, gamma, absorbing, mix):
    # Sample-last layout: the gathers over successor states then copy contiguous rows of K values.
    K, S = R.shape
    weights = np.ascontiguousarray(np.moveaxis(weights, 0, -1))  # (S, A, J, K)
    tol = LEX_RTOL * np.maximum(np.abs(R).max(1), 1e-300)
    low, high = R.min(1), R.max(1)
    if absorbing:
        low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)
    tail = (high - low) * gamma / (1.0 - gamma)
    tied = np.repeat(mask[:, :, None], K, axis=2)  # (S, A, K)
    certified = np.ones(K, dtype=bool)
    c = np.ascontiguousarray(R.T)
    for _ in range(LEX_ORDERS):
        e = _expect(c, next_state, weights, mix)
        e[~tied] = -np.inf
        best = e.max(1)
        gap = best[:, None, :] - e
        dropped = tied & (gap > tol)
        certified &= ~(dropped & (gap <= tol + tail)).any((0, 1))
        tied &= ~dropped
        c = best
    policy = tied / tied.sum(1, keepdims=True)
    return policy.transpose(2, 0, 1), certified


def _expect(c: np.ndarray, next_state: np.ndarray, weights: np.ndarray, mix: Optional[np.ndarray]) -> np.ndarray:
    """``E[c(s') | action]`` ``(S, A, K)`` for coefficients ``c`` ``(S, K)`` (0 at the terminal ``S``)."""
    padded = np.concatenate([c, np.zeros((1, c.shape[1]))])
    e = np.einsum("sajk,sajk->sak", padded[next_state], weights)
    return e if mix is None else np.einsum("sae,sek->sak", mix, e)
