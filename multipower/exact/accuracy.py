"""The exact reference of the learners' accuracy: optimal action values by the exact solver.

``optimal_response_q`` is the ``multipower.agents.logging.ExactQ`` that callers in this package pass to the
learners (``reference=``), so that ``agents`` never imports the solver. It returns the environment's
convention (reward of the state arrived at)::

    Q_env(s, a) = E_{a_other ~ π_other(s)} [ R(s') + γ max_b Q_env(s', b) ],   s' = next_state[s, a, a_other],

with ``R = 0`` and no bootstrap after a crash; see ``multipower.agents.logging`` for which optimum each agent is
measured against.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multipower.envs.joint_graph import JointGraph
from multipower.envs.model import check_agent
from multipower.envs.policies import check_policy_batch
from multipower.envs.problem import JointWorld, TwoStageProblem
from multipower.envs.validation import check_rewards
from multipower.exact.joint_graph import evaluate_on_graph, respond_on_graph, solve_joint_graph
from multipower.exact.solver import POWER_TOL, SolvedPairs, evaluate_policies, optimal_response, solve_pairs


def optimal_values(model: JointWorld, R: np.ndarray, gamma: float, agent: str, other_policy: np.ndarray,
                   power_tol: float = POWER_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Optimal values ``(K, S)`` and action values ``(K, S, n)`` (solver convention) of ``agent`` against the other's
    fixed policy, on a layout (``multipower.exact.solver.optimal_response``) or a joint graph
    (``multipower.exact.joint_graph.respond_on_graph``)."""
    if isinstance(model, JointGraph):
        return respond_on_graph(model, R, gamma, agent, other_policy, power_tol=power_tol)
    return optimal_response(model, R, gamma, agent, other_policy, power_tol=power_tol)


def policy_values(problem: TwoStageProblem, policy_H: np.ndarray, policy_A: np.ndarray,
                  power_tol: float = POWER_TOL) -> tuple[np.ndarray, ...]:
    """``(V_H, V_A, W_H, W_A)`` of the given joint policies, evaluated exactly on a layout
    (``multipower.exact.solver.evaluate_policies``) or a joint graph (``multipower.exact.joint_graph.evaluate_on_graph``)."""
    if isinstance(problem.model, JointGraph):
        return evaluate_on_graph(problem, policy_H, policy_A, power_tol=power_tol)
    return evaluate_policies(problem, policy_H, policy_A, power_tol=power_tol, next_values=True)


def solve_problem(problem: TwoStageProblem) -> SolvedPairs:
    """The exact two-stage solve of ``problem`` on a layout (``multipower.exact.solver.solve_pairs``) or a joint graph
    (``multipower.exact.joint_graph.solve_joint_graph``)."""
    if isinstance(problem.model, JointGraph):
        return solve_joint_graph(problem)
    return solve_pairs(problem)


def optimal_response_q(
    model: JointWorld,
    rewards: np.ndarray,
    gamma: float,
    agent: str,
    other_policy: np.ndarray,
    tol: float = 1e-10,
) -> np.ndarray:
    """Optimal ``Q_env`` ``(K, S, 5)`` of ``agent`` for ``rewards`` ``(K, S)`` against a fixed ``other_policy``.

    Args:
        model: The joint world (a layout's ``JointModel`` or a ``JointGraph``).
        rewards: ``(K, S)`` reward of each state for ``agent``.
        gamma: Discount in ``(0, 1)``.
        agent: ``"H"`` or ``"A"``: whose actions are optimised.
        other_policy: ``(S, 5)`` or ``(K, S, 5)`` policy of the other agent.
        tol: Certified bound on the error of the optimal values (the exact solver's stopping rule).

    Returns:
        ``Q_env`` in the environment's convention, ``-inf`` on unavailable actions.
    """
    agent = check_agent(agent)
    rewards = check_rewards(rewards, model.n_states, "rewards")
    n_samples = len(rewards)
    other = check_policy_batch(other_policy, model.action_mask("A" if agent == "H" else "H"), n_samples, "other_policy")
    # The exact solver's certified iteration: values within ``tol`` (POWER tolerance (1-γ)/γ · tol).
    _, q = optimal_values(model, rewards, gamma, agent, other, power_tol=tol * (1.0 - gamma) / gamma)
    # Solver convention R(s) + γ Q_env(s, a) back to the environment's Q_env.
    return np.where(np.isfinite(q), (q - rewards[..., None]) / gamma, -np.inf)


def policy_gap(
    model: JointWorld,
    rewards: np.ndarray,
    gamma: float,
    agent: str,
    policy: np.ndarray,
    other_policy: np.ndarray,
    power_tol: float = 1e-6,
    optimal_q: Optional[np.ndarray] = None,
) -> np.ndarray:
    """POWER lost at each joint state by following ``policy`` instead of the optimal response to ``other_policy``.

    ``gap(s) = (1 − γ)/γ · (V*(s) − V^π(s))``, with ``V*`` the optimal values of ``agent`` against the fixed
    ``other_policy`` and ``V^π`` the values of ``policy`` against it (the solver's convention, so the factor
    turns a value difference into a POWER difference: docs/concepts.md#power). A learned agent's Monte-Carlo
    POWER at ``s`` falls short of the exact POWER of its problem by exactly this gap on average over samples.

    Args:
        model: The joint world (a layout's ``JointModel`` or a ``JointGraph``).
        rewards: ``(K, S)`` rewards of ``agent``.
        gamma: ``agent``'s discount in ``(0, 1)``.
        agent: ``"H"`` or ``"A"``.
        policy: ``(K, S, 5)`` (or one ``(S, 5)``) policy of ``agent``, e.g. a learned greedy policy.
        other_policy: ``(K, S, 5)`` or ``(S, 5)`` fixed policy of the other agent (A's seed policy for H; the
            learned frozen H for A).
        power_tol: Bound on the POWER error of each of the two exact computations.
        optimal_q: The optimal ``Q_env`` ``(K, S, 5)`` of ``agent`` against ``other_policy`` when the caller has
            it already (``optimal_response_q``, ``-inf`` where unavailable): ``V* = R + γ max Q_env`` then
            needs no second solve.

    Returns:
        ``(K, S)`` gaps, each ``>= 0`` (differences below ``2 · power_tol``, the two certificates' slack, read 0).
    """
    agent = check_agent(agent)
    rewards = check_rewards(rewards, model.n_states, "rewards")
    if optimal_q is None:
        V_star, _ = optimal_values(model, rewards, gamma, agent, other_policy, power_tol=power_tol)
    else:
        V_star = rewards + gamma * np.asarray(optimal_q).max(axis=-1)
    pair = (policy, other_policy) if agent == "H" else (other_policy, policy)
    values = policy_values(TwoStageProblem(model, rewards, rewards, gamma), *pair, power_tol=power_tol)
    V_pi = values[0 if agent == "H" else 1]
    gap = (1.0 - gamma) / gamma * (V_star - V_pi)
    return np.where(gap < 2 * power_tol, 0.0, gap)


def policy_gaps(problem: TwoStageProblem, policy_H: np.ndarray, policy_A: np.ndarray,
                optimal_q: Optional[dict] = None) -> dict:
    """The POWER the learned policies lose, per joint state averaged over the samples (what a learned POWER map
    misses there): ``policy_gap_H``/``policy_gap_A``, the mean over joint states, and ``policy_gap_H_max``/
    ``policy_gap_A_max``, the largest. H is measured against its optimal response to ``seed_policy``, A against
    its optimal response to the learned ``policy_H`` it trained against (``policy_gap``), on the world, rewards
    and discounts of ``problem``, ``seed_policy`` being the problem's; ``optimal_q``
    (``{"H": ..., "A": ...}``, either may be missing) holds those optimal ``Q_env`` where already computed."""
    optimal_q, model = optimal_q or {}, problem.model
    per_state_H = policy_gap(model, problem.R_H, problem.gamma_H, "H", policy_H, problem.seed_table(),
                             optimal_q=optimal_q.get("H")).mean(0)
    per_state_A = policy_gap(model, problem.R_A, problem.gamma_A, "A", policy_A, policy_H,
                             optimal_q=optimal_q.get("A")).mean(0)
    return {"policy_gap_H": float(per_state_H.mean()), "policy_gap_H_max": float(per_state_H.max()),
            "policy_gap_A": float(per_state_A.mean()), "policy_gap_A_max": float(per_state_A.max())}
