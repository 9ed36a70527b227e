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
from multipower.envs.model import check_agent
from multipower.envs.policies import check_policy_batch
from multipower.envs.problem import TwoStageProblem
from multipower.envs.validation import check_gamma, check_rewards
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
    world = _Tables(graph, _device(device))
    rh, ra = _t(R_H, world.dev), _t(R_A, world.dev)
    seed_t = _t(problem.seed_table(), world.dev)
    sweeps = {}
    lex = max(gamma_H, gamma_A) <= LEX_GAMMA  # policies compared order by order in γ where certified

    # Stage 1: H against the seed; stage 2: A against frozen H.
    idx1, w1 = world.response("H", seed_t[None])
    V_H_seed, q_H, pol_H, sweeps["H"], W_H_seed = _iterate(_op(idx1, w1), rh, gamma_H, rh, world.mask["H"],
                                                           world.absorbing, power_tol)
    if lex:
        pol_H = _lexicographic(pol_H, idx1, w1, R_H, graph.action_mask_H, gamma_H, world.absorbing)
    pH = pol_H.transpose(1, 2)  # (K, S, nH)
    idx2, w2 = world.response("A", pH)
    V_A, q_A, pol_A, sweeps["A"], W_A = _iterate(_op(idx2, w2), ra, gamma_A, ra, world.mask["A"], world.absorbing,
                                                 power_tol)
    if lex:
        pol_A = _lexicographic(pol_A, idx2, w2, R_A, graph.action_mask_A, gamma_A, world.absorbing)
    pA = pol_A.transpose(1, 2)  # (K, S, nA)

    # Stage 3: both policies evaluated; A's value when it follows the seed against frozen H.
    V_H, _, _, sweeps["H_eval"], W_H = _iterate(world.joint(pH, pA), rh, gamma_H, V_H_seed, None, world.absorbing,
                                                power_tol)
    V_A_seed, _, _, sweeps["A_seed"], W_A_seed = _iterate(world.joint(pH, seed_t[None]), ra, gamma_A, V_A, None,
                                                          world.absorbing, power_tol)
    n = lambda x: x.cpu().numpy()  # noqa: E731
    return SolvedPairs(_np_actions(q_H), _np_actions(pol_H), _np_actions(q_A),
                       _np_actions(pol_A), n(V_H), n(V_A), n(V_H_seed), n(V_A_seed), sweeps, n(W_H), n(W_A),
                       n(W_H_seed), n(W_A_seed))


def respond_on_graph(
    graph: JointGraph,
    R: np.ndarray,
    gamma: float,
    agent: str,
    other_policy: np.ndarray,
    power_tol: float = POWER_TOL,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Optimal response of ``agent`` to the other agent's fixed policy on a joint graph: what
    ``multipower.exact.solver.optimal_response`` gives on a layout.

    Args:
        graph: The joint graph, ``S`` states.
        R: ``(K, S)`` rewards of ``agent``.
        gamma: ``agent``'s discount in (0, 1).
        agent: ``"H"`` or ``"A"``.
        other_policy: The other agent's policy over its slots, ``(S, n)`` or ``(K, S, n)``.
        power_tol: Per-sample bound on the POWER error caused by stopping iteration.
        device: Torch device.

    Returns:
        ``V`` ``(K, S)`` and ``Q`` ``(K, S, n_agent)`` in the solver's convention ``R(s) + γ E[V(s')]``, ``-inf``
        where unavailable.
    """
    agent = check_agent(agent)
    other_mask = graph.action_mask("A" if agent == "H" else "H")
    R = check_rewards(R, graph.n_states, "R")
    other = check_policy_batch(other_policy, other_mask, len(R), "other_policy")
    world = _Tables(graph, _device(device))
    other_t = _t(np.array(other if other.ndim == 3 else other[None]), world.dev)  # a writable copy for torch
    r = _t(R, world.dev)
    V, q, _, _, _ = _iterate(_op(*world.response(agent, other_t)), r, check_gamma(gamma), r, world.mask[agent],
                             world.absorbing, power_tol)
    return V.cpu().numpy(), np.ascontiguousarray(_np_actions(q))


def evaluate_on_graph(
    problem: TwoStageProblem,
    policy_H: np.ndarray,
    policy_A: np.ndarray,
    power_tol: float = POWER_TOL,
    device: str = "cpu",
) -> tuple[np.ndarray, ...]:
    """Exact values of arbitrary joint policies on a joint graph: what ``multipower.exact.solver.evaluate_policies``
    (with ``next_values=True``) gives on a layout.

    Args:
        problem: The joint graph as the model, ``K`` reward pairs and both discounts (its seed policy is not used).
        policy_H, policy_A: ``(K, S, n)`` (or shared ``(S, n)``) action probabilities over each agent's slots.
        power_tol: Per-sample bound on the POWER error caused by stopping iteration.
        device: Torch device.

    Returns:
        ``(V_H, V_A, W_H, W_A)``, each ``(K, S)``: the values ``V(s) = R(s) + γ E[V(s')]`` and the expected next
        values ``W = E[V(s')]`` (POWER is ``(1 − γ)·W``).
    """
    graph, K = problem.model, problem.n_samples
    if not isinstance(graph, JointGraph):
        raise ValueError(f"problem.model: must be a JointGraph, got {type(graph).__name__}")
    world = _Tables(graph, _device(device))
    pH, pA = (_t(np.array(p if p.ndim == 3 else p[None]), world.dev) for p in (  # writable copies for torch
        check_policy_batch(policy_H, graph.action_mask_H, K, "policy_H"),
        check_policy_batch(policy_A, graph.action_mask_A, K, "policy_A")))
    op = world.joint(pH, pA)
    out = []
    for R, gamma in ((problem.R_H, problem.gamma_H), (problem.R_A, problem.gamma_A)):
        r = _t(R, world.dev)
        V, _, _, _, W = _iterate(op, r, gamma, r, None, world.absorbing, power_tol)
        out.append((V.cpu().numpy(), W.cpu().numpy()))
    return out[0][0], out[1][0], out[0][1], out[1][1]


class _Tables:
    """A joint graph's tables as tensors, and the gather backups of its stages."""

    def __init__(self, graph: JointGraph, dev: torch.device) -> None:
        self.graph, self.dev = graph, dev
        self.next_state = torch.as_tensor(graph.next_state, device=dev)  # (S, nH, nA, K)
        self.prob = _t(graph.prob, dev)
        self.mask = {agent: torch.as_tensor(graph.action_mask(agent), device=dev) for agent in ("H", "A")}
        self.absorbing = graph.absorbing

    def response(self, agent: str, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Slots ``(other's action, outcome)`` per action of ``agent`` against ``other`` ``(B, S, n_other)``:
        ``(next_state (S, n, m), weights (B, S, n, m))``. The solver's maximum runs over every slot, so an
        unavailable action repeats an available one's backup (as ``GraphMDP`` pads its slots)."""
        axis = 1 if agent == "H" else 2
        nxt, prob = _pad(self.next_state, self.prob, self.graph.action_mask(agent), axis)
        if agent == "A":
            nxt, prob = nxt.permute(0, 2, 1, 3), prob.permute(0, 2, 1, 3)
        S, n, m, K = nxt.shape
        weights = other[:, :, None, :, None] * prob[None]
        return nxt.reshape(S, n, m * K), weights.reshape(-1, S, n, m * K)

    def joint(self, pH: torch.Tensor, pA: torch.Tensor) -> _GatherOperator:
        """The backup of the joint policy ``pH`` ``(B, S, nH)``, ``pA`` ``(B, S, nA)``: one slot per
        ``(H action, A action, outcome)``."""
        S = self.graph.n_states
        flat = self.next_state.reshape(S, 1, -1)
        weights = pH[:, :, :, None, None] * pA[:, :, None, :, None] * self.prob[None]
        return _op(flat, weights.reshape(weights.shape[0], S, 1, -1))


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
    """The order-by-order policy where certified, else ``policy`` (action-major ``(K, A, S)``); ``weights``
    ``(B, S, A, J)``."""
    w = weights.cpu().numpy() if isinstance(weights, torch.Tensor) else weights
    lex, ok = lexicographic_policy(next_state.cpu().numpy(), w, R, mask, gamma, absorbing)
    out = policy.clone()
    keep = torch.as_tensor(np.flatnonzero(ok), device=policy.device)
    out[keep] = torch.as_tensor(lex[ok].transpose(0, 2, 1).copy(), dtype=policy.dtype, device=policy.device)
    return out
