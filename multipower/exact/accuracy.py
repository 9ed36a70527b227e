"""The exact reference of the learners' accuracy: optimal action values by the exact solver.

:func:`optimal_response_q` is the :data:`multipower.agents.logging.ExactQ` that callers in this package pass to the
learners (``reference=``), so that ``agents`` never imports the solver. It returns the environment's
convention (reward of the state arrived at)::

    Q_env(s, a) = E_{a_other ~ π_other(s)} [ R(s') + γ max_b Q_env(s', b) ],   s' = next_state[s, a, a_other],

with ``R = 0`` and no bootstrap after a crash; see :mod:`multipower.agents.logging` for which optimum each agent is
measured against.
"""

from __future__ import annotations

import numpy as np

from multipower.envs.model import JointModel, check_agent
from multipower.envs.policies import check_policy_batch
from multipower.envs.validation import check_rewards
from multipower.exact.solver import optimal_response


def optimal_response_q(
    model: JointModel,
    rewards: np.ndarray,
    gamma: float,
    agent: str,
    other_policy: np.ndarray,
    tol: float = 1e-10,
) -> np.ndarray:
    """Optimal ``Q_env`` ``(K, S, 5)`` of ``agent`` for ``rewards`` ``(K, S)`` against a fixed ``other_policy``.

    Args:
        model: The joint model.
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
    _, q = optimal_response(model, rewards, gamma, agent, other, power_tol=tol * (1.0 - gamma) / gamma)
    # Solver convention R(s) + γ Q_env(s, a) back to the environment's Q_env.
    return np.where(np.isfinite(q), (q - rewards[..., None]) / gamma, -np.inf)
