"""The two-stage problem on a joint MDP graph (``multipower.envs.joint_graph.JointGraph``).

The same three stages and certificate as ``multipower.exact.solver.solve_pairs`` (H against the seed, A
against frozen H, both evaluated, and A following the seed against frozen H), by the batched torch value
iteration with general gathers: a joint graph's outcomes are any distribution per joint action, and forbidden
joint actions send their mass to the terminal. At discounts up to ``LEX_GAMMA`` the policies are compared order by
order in ``γ`` as for layouts (``multipower.exact.lexicographic``).
"""

from __future__ import annotations


import numpy as np
import torch

from multipower.envs.joint_graph import JointGraph
from multipower.envs.problem import TwoStageProblem
from multipower.exact.lexicographic import LEX_GAMMA, lexicographic_policy
from multipower.exact.solver import (
    POWER_TOL,
    SolvedPairs,
    _device,
    _GatherOperator,
    _iterate,
    _np_actions,
    _t,
)

#: Bytes per sample, joint state and (H action, A action, outcome) slot of the solve's working set: the per-sample
#: weights of stages 2 to 4 and their products in the gathers (float64, a few copies).
BYTES_PER_SAMPLE_SLOT = 48


def solve_joint_graph(
    problem: TwoStageProblem,
    device: str = "cpu",
    power_tol: float = POWER_TOL,
) -> SolvedPairs:
    """Solve the two-stage problem on a joint graph exactly for ``K`` reward pairs.

    Args:
        problem: The joint graph as the model, ``(K, S)`` rewards over its states (in graph order), both
            discounts and A's seed policy (``multipower.envs.joint_graph.graph_seed_table``).
        device: Torch device.
        power_tol: Per-sample bound on the POWER error caused by stopping iteration.

    Returns:
        A ``SolvedPairs`` whose action axes are the graph's slots (``nH`` for
        ``q_H``/``policy_H``, ``nA`` for ``q_A``/``policy_A``).
    """
    graph, R_H, R_A, gamma_H, gamma_A = problem.model, problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    if not isinstance(graph, JointGraph):
        raise ValueError(f"problem.model: must be a JointGraph, got {type(graph).__name__}")
    seed = problem.seed_table()
    dev = _device(device)
    S, nH, nA, K = graph.next_state.shape
    absorbing = graph.absorbing
    rh, ra = _t(R_H, dev), _t(R_A, dev)
    nxt = torch.as_tensor(graph.next_state, device=dev)  # (S, nH, nA, K)
    prob = _t(graph.prob, dev)
    mask_H = torch.as_tensor(graph.action_mask_H, device=dev)
    mask_A = torch.as_tensor(graph.action_mask_A, device=dev)
    seed_t = _t(seed, dev)
    sweeps = {}

    # Stage 1: H against the seed: slots (A's action, outcome) per H action. The solver's maximum runs over every
    # slot, so an unavailable action repeats an available one's backup (as GraphMDP pads its slots).
    lex = max(gamma_H, gamma_A) <= LEX_GAMMA
    nxt1, prob1 = _pad(nxt, prob, graph.action_mask_H, 1)
    w1 = seed_t[:, None, :, None] * prob1  # (S, nH, nA, K)
    op1 = _op(nxt1.reshape(S, nH, nA * K), w1.reshape(S, nH, nA * K))
    V_H_seed, q_H, pol_H, sweeps["H"], W_H_seed = _iterate(op1, rh, gamma_H, rh, mask_H, absorbing, power_tol)
    if lex:
        pol_H = _lexicographic(pol_H, nxt1.reshape(S, nH, nA * K), w1.reshape(S, nH, nA * K)[None], R_H,
                               graph.action_mask_H, gamma_H, absorbing)
    pH = pol_H.transpose(1, 2)  # (K, S, nH)

    # Stage 2: A against frozen H: slots (H's action, outcome) per A action, weights per sample.
    nxt2, prob2 = _pad(nxt, prob, graph.action_mask_A, 2)
    nxt_A = nxt2.permute(0, 2, 1, 3).reshape(S, nA, nH * K)
    w2 = (pH[:, :, None, :, None] * prob2.permute(0, 2, 1, 3)[None]).reshape(-1, S, nA, nH * K)
    V_A, q_A, pol_A, sweeps["A"], W_A = _iterate(_op(nxt_A, w2), ra, gamma_A, ra, mask_A, absorbing, power_tol)
    if lex:
        pol_A = _lexicographic(pol_A, nxt_A, w2, R_A, graph.action_mask_A, gamma_A, absorbing)
    pA = pol_A.transpose(1, 2)  # (K, S, nA)

    # Stage 3: both policies evaluated; A's value when it follows the seed against frozen H.
    flat = nxt.reshape(S, 1, nH * nA * K)
    w3 = (pH[:, :, :, None, None] * pA[:, :, None, :, None] * prob[None]).reshape(-1, S, 1, nH * nA * K)
    V_H, _, _, sweeps["H_eval"], W_H = _iterate(_op(flat, w3), rh, gamma_H, V_H_seed, None, absorbing, power_tol)
    w4 = (pH[:, :, :, None, None] * seed_t[None, :, None, :, None] * prob[None]).reshape(-1, S, 1, nH * nA * K)
    V_A_seed, _, _, sweeps["A_seed"], W_A_seed = _iterate(_op(flat, w4), ra, gamma_A, V_A, None, absorbing,
                                                          power_tol)
    n = lambda x: x.cpu().numpy()  # noqa: E731
    return SolvedPairs(_np_actions(q_H), _np_actions(pol_H), _np_actions(q_A),
                       _np_actions(pol_A), n(V_H), n(V_A), n(V_H_seed), n(V_A_seed), sweeps, n(W_H), n(W_A),
                       n(W_H_seed), n(W_A_seed))


def _pad(nxt: torch.Tensor, prob: torch.Tensor, mask: np.ndarray, axis: int) -> tuple:
    """``nxt``, ``prob`` ``(S, nH, nA, K)`` with each unavailable action along ``axis`` (1: H's, 2: A's) replaced
    by the state's first available one."""
    first = torch.as_tensor(mask.argmax(1), device=nxt.device)  # (S,)
    keep = torch.as_tensor(mask, device=nxt.device)
    shape = [nxt.shape[0], 1, 1, 1]
    shape[axis] = mask.shape[1]
    index = torch.where(keep, torch.arange(mask.shape[1], device=nxt.device)[None], first[:, None]).view(shape)
    index = index.expand(-1, *(n if i + 1 != axis else -1 for i, n in enumerate(nxt.shape[1:])))
    return nxt.gather(axis, index), prob.gather(axis, index)


def _op(next_state: torch.Tensor, weights: torch.Tensor) -> _GatherOperator:
    """Gather backup over slots ``j``: ``next_state`` ``(S, A, J)``, ``weights`` ``(S, A, J)`` or ``(B, S, A, J)``."""
    if weights.dim() == 3:
        weights = weights.unsqueeze(0)
    idx = next_state.permute(1, 2, 0).unsqueeze(0)
    # per-sample weights need per-sample indices: the solver drops finished samples from both
    return _GatherOperator(idx.expand(weights.shape[0], -1, -1, -1), weights.permute(0, 2, 3, 1))


def _lexicographic(policy: torch.Tensor, next_state, weights, R, mask, gamma, absorbing) -> torch.Tensor:
    """The order-by-order policy where certified, else ``policy`` (action-major ``(K, A, S)``)."""
    w = weights.cpu().numpy() if isinstance(weights, torch.Tensor) else weights
    lex, ok = lexicographic_policy(next_state.cpu().numpy(), w, R, mask, gamma, absorbing)
    out = policy.clone()
    keep = torch.as_tensor(np.flatnonzero(ok), device=policy.device)
    out[keep] = torch.as_tensor(lex[ok].transpose(0, 2, 1).copy(), dtype=policy.dtype, device=policy.device)
    return out
