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


def test_greedy_changes_counts_new_first_maxima_of_available_actions():
    from multipower import _vikernel
    from multipower.solver import POLICY_RESET

    assert _vikernel.POLICY_RESET == POLICY_RESET  # the compiled and torch code restart Anderson alike
    rng = np.random.default_rng(0)
    S = 50
    E = rng.integers(0, 3, size=(5, S)).astype(float)  # many exact ties: the first maximum must win
    mask = rng.random((S, 5)) < 0.7
    mask[:, 0] = True
    expected = np.where(mask.T, E, -np.inf).argmax(0)
    greedy = np.full(S, -1, dtype=np.int64)
    assert _vikernel._greedy_changes(E, mask, greedy) == S
    np.testing.assert_array_equal(greedy, expected)
    greedy[:7] = (greedy[:7] + 1) % 5
    assert _vikernel._greedy_changes(E, mask, greedy) == 7
    np.testing.assert_array_equal(greedy, expected)
