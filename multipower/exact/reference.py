"""A plain numpy two-stage solve: the independent reference of the tests and of ``benchmarks/bench_exact.py``.

Value iteration with numpy gathers over the joint model's tables and nothing of the solver (no compiled kernels,
no bounds, no acceleration, no tie rule): H optimal against A's seed policy, A optimal against H's greedy policy,
both evaluated. Slow by design (a peer to time the solver against, and to check it by); layouts without slip.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from multipower.envs.problem import TwoStageProblem


def plain_two_stage(problem: TwoStageProblem, tol: float = 1e-13) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample two-stage POWER ``(power_H, power_A)``, each ``(K, S)``, by plain value iteration.

    Args:
        problem: A joint model without slip, ``(K, S)`` rewards, both discounts and A's seed policy while H learns.
        tol: Iteration stops when no value moves by more than this.

    Returns:
        ``(1 − γ)/γ · (V − R)`` of each agent under the greedy policies, values ``V = R + γ E[V(s')]`` with 0 after
        a crash (docs/concepts.md#multi-agent-power).
    """
    model = problem.model
    if model.slip > 0.0:
        raise ValueError("plain_two_stage: a model without slip only")
    R_H, R_A, gamma_H, gamma_A = problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    S = model.n_states
    nxt = model.next_state  # (S, 5, 5): s' for (s, a_H, a_A); S is the crash terminal
    mask_H, mask_A = model.action_mask_H, model.action_mask_A
    seed = problem.seed_table()

    def padded(V):
        return np.concatenate([V, np.zeros((len(V), 1))], axis=1)

    def fixed_point(R, gamma, expected: Callable[[np.ndarray], np.ndarray]):
        """``V = R + γ · expected(V with the terminal's 0)``, iterated from ``R`` until it moves less than ``tol``."""
        V = R.copy()
        while True:
            V_new = R + gamma * expected(padded(V))
            if np.abs(V_new - V).max() < tol:
                return V_new
            V = V_new

    def q_H(Vp, pol_A):  # (K, S, 5) over H's moves: the expectation over A's moves
        Q = np.einsum("ksho,kso->ksh", Vp[:, nxt], np.broadcast_to(pol_A, (len(Vp), S, 5)))
        return np.where(mask_H, Q, -np.inf)

    def q_A(Vp, pol_H):
        return np.where(mask_A, np.einsum("ksho,ksh->kso", Vp[:, nxt], pol_H), -np.inf)

    V_H = fixed_point(R_H, gamma_H, lambda Vp: q_H(Vp, seed).max(-1))
    pol_H = np.eye(5)[q_H(padded(V_H), seed).argmax(-1)]
    V_A = fixed_point(R_A, gamma_A, lambda Vp: q_A(Vp, pol_H).max(-1))
    pol_A = np.eye(5)[q_A(padded(V_A), pol_H).argmax(-1)]

    def joint(Vp):
        return np.einsum("ksho,ksh,kso->ks", Vp[:, nxt], pol_H, pol_A)

    return ((1 - gamma_H) / gamma_H * (fixed_point(R_H, gamma_H, joint) - R_H),
            (1 - gamma_A) / gamma_A * (fixed_point(R_A, gamma_A, joint) - R_A))
