"""The episode rules, written once: where a joint move leads, when an episode ends, what is earned.

Every stepper reads the model's tables (``multipower.envs.model.JointModel``) through these functions: the
PettingZoo env, the estimator's rollouts, and any batched stepper. The rules:

* the next joint state is ``next_state[state, action_H, action_A]`` (the collision rule is in the table), or on
  a joint graph one of its outcomes, drawn (``outcome_step``);
* reaching ``terminal_state`` (a crash) *terminates* the episode: zero reward, no bootstrap after it;
* an episode that has taken ``max_cycles`` steps without crashing is *truncated* (the time limit is not part of
  the task, so learners bootstrap from the state reached);
* the reward of a step is the reward of the state arrived at, zero at the terminal sentinel.

The functions use only indexing, comparisons and ``&``/``~`` on boolean arrays, so the same code runs on numpy
arrays and on torch tensors (of one device). Plain Python scalars are not supported for ``state``, ``t`` and
the actions: ``~`` on a Python ``bool`` is an integer; pass 0-d arrays instead.
"""

from __future__ import annotations

import numpy as np


def joint_step(next_state, terminal_state: int, state, action_H, action_A, t, max_cycles: int):
    """One step of every walker.

    Args:
        next_state: ``(S, 5, 5)`` the model's next-state table (``terminal_state`` where the move crashes),
            or the same table with extra absorbing rows (e.g. ``S + 1`` rows for walkers already at the terminal).
        terminal_state: ``model.terminal_state`` (``S``).
        state, action_H, action_A, t: Integer arrays of one shape: joint states, actions, and the steps taken
            before this one.
        max_cycles: Steps after which an episode is truncated.

    Returns:
        ``(reached, terminated, truncated)``, arrays of that shape: the next joint states, ``reached ==
        terminal_state`` (a crash), and ``(t + 1 >= max_cycles) & ~terminated``.
    """
    return _arrive(next_state[state, action_H, action_A], terminal_state, t, max_cycles)


def _arrive(reached, terminal_state: int, t, max_cycles: int):
    """``(reached, terminated, truncated)``: a crash terminates; otherwise ``max_cycles`` steps truncate."""
    terminated = reached == terminal_state
    truncated = (t + 1 >= max_cycles) & ~terminated
    return reached, terminated, truncated


def outcome_step(next_state, cdf, terminal_state: int, state, actions: tuple, u, t, max_cycles: int):
    """``joint_step`` on a world whose joint actions have several outcomes (a joint MDP graph,
    ``multipower.envs.joint_graph.JointGraph.step_tables``): ``next_state`` and ``cdf`` ``(S, n, n, K)`` the outcomes
    and their cumulative probabilities, ``actions`` the pair ``(action_H, action_A)``; the outcome of each walker is
    the number of entries of its ``cdf`` row at or below its uniform draw ``u`` in ``[0, 1)`` (same shape as
    ``state``). Returns what ``joint_step`` returns."""
    action_H, action_A = actions
    outcome = (u[..., None] >= cdf[state, action_H, action_A]).sum(-1)
    return _arrive(next_state[state, action_H, action_A, outcome], terminal_state, t, max_cycles)


def effective_moves(cdf, state, action, u):
    """Effective moves under slip (docs/concepts.md#slip): ``cdf`` ``(S, 5, 5)`` the cumulative slip
    probabilities of one agent per state (``multipower.envs.model.JointModel.slip_cdf``), ``state``, ``action`` integer
    arrays and ``u`` uniform draws in ``[0, 1)`` of one shape. Returns the effective moves, that shape."""
    return (u[..., None] >= cdf[state, action]).sum(-1)


def slip_step(next_state, terminal_state: int, cdfs: tuple, state, actions: tuple, draws: tuple, t, max_cycles: int):
    """``joint_step`` with slip: each agent's chosen move is replaced by an effective move drawn by
    ``effective_moves`` from its uniform draws (independent per agent), and the collision rule of ``next_state``
    applies to the effective moves. ``cdfs``, ``actions`` and ``draws`` are pairs, H's then A's: the agents'
    cumulative slip tables (``JointModel.slip_cdf``), their chosen moves and their uniform draws in ``[0, 1)``.

    Returns:
        ``(reached, terminated, truncated, effective_H, effective_A)``.
    """
    (cdf_H, cdf_A), (action_H, action_A), (u_H, u_A) = cdfs, actions, draws
    effective_H = effective_moves(cdf_H, state, action_H, u_H)
    effective_A = effective_moves(cdf_A, state, action_A, u_A)
    return (*joint_step(next_state, terminal_state, state, effective_H, effective_A, t, max_cycles), effective_H,
            effective_A)


def padded_rewards(rewards):
    """Reward tables ``(..., S)`` as ``(..., S + 1)`` with a zero for the terminal sentinel.

    The reward of arriving in ``reached`` (from ``joint_step``) is then ``padded[..., reached]``, a crash
    included.
    """
    if isinstance(rewards, np.ndarray) or not hasattr(rewards, "new_zeros"):
        rewards = np.asarray(rewards)
        return np.concatenate([rewards, np.zeros((*rewards.shape[:-1], 1), rewards.dtype)], axis=-1)
    import torch  # only reached with a tensor, so torch is already loaded

    return torch.cat([rewards, rewards.new_zeros((*rewards.shape[:-1], 1))], dim=-1)
