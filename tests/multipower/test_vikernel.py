"""The compiled kernels' exact pieces, against dense linear algebra."""

import numpy as np
import pytest

from multipower import _vikernel


@pytest.mark.parametrize("gamma", [0.1, 0.6, 0.99, 0.999])
def test_evaluate_chain_solves_the_linear_system(gamma):
    """Random functional graphs (cycles, self-loops, paths into the terminal ``S``): ``V = R + γ V[f]``."""
    rng = np.random.default_rng(int(gamma * 1000))
    for trial in range(200):
        S = int(rng.integers(1, 30))
        f = rng.integers(0, S + (trial % 2), S)  # odd trials may lead into the terminal
        R = rng.random(S)
        out = np.empty(S)
        _vikernel.evaluate_chain(f, R, gamma, out)
        P = np.zeros((S, S + 1))
        P[np.arange(S), f] = 1.0
        expected = np.linalg.solve(np.eye(S) - gamma * P[:, :S], R)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12 / (1 - gamma))


def test_policy_iteration_is_the_bellman_fixed_point():
    """Deterministic dynamics: the result satisfies ``V = R + γ max_a V[next[s, a]]`` over available actions."""
    rng = np.random.default_rng(3)
    S, gamma = 40, 0.9
    nxt = rng.integers(0, S + 1, (S, 5))
    mask = rng.random((S, 5)) < 0.7
    mask[:, 0] = True
    R = rng.random(S)
    out = np.empty(S)
    _vikernel.policy_iteration(nxt, R, gamma, mask, out)
    V = np.append(out, 0.0)
    backup = R + gamma * np.where(mask, V[nxt], -np.inf).max(1)
    np.testing.assert_allclose(out, backup, rtol=0, atol=1e-12)
