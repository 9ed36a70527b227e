"""The episode rules, once, for every stepper (docs/concepts.md#joint-dynamics).

The joint model's tables are the dynamics; these functions apply the rules around them: reward ``R(s')`` on
arrival, a crash (the model's terminal sentinel) ends the episode, and the time limit truncates it. They use
only indexing and comparisons, so the same code steps NumPy arrays (the environments, the estimator) and torch
tensors (the batched PPO stepper).
"""

from __future__ import annotations


def joint_step(next_state, terminal_state: int, state, action_H, action_A, t, max_cycles: int):
    """One step of every environment in a batch.

    :param next_state: ``(S, 5, 5)`` the model's next joint state of ``(s, action_H, action_A)``.
    :param terminal_state: The model's crash sentinel (``model.terminal_state == S``).
    :param state, action_H, action_A, t: Arrays of one shape: joint states, actions, and the steps taken so far
        in each episode.
    :param max_cycles: Episode length.
    :returns: ``(reached, terminated, truncated)``: the joint states reached, whether the step crashed, and
        whether the episode reached its time limit without crashing.
    """
    reached = next_state[state, action_H, action_A]
    terminated = reached == terminal_state
    truncated = (t + 1 >= max_cycles) & ~terminated
    return reached, terminated, truncated


def padded_rewards(R):
    """Reward tables ``(..., S)`` padded to ``(..., S + 1)`` with 0 for the crash sentinel, so that the reward
    on arrival is ``padded[..., reached]`` for every reached state, a crash included."""
    import numpy as np

    R = np.asarray(R, dtype=np.float64)
    return np.concatenate([R, np.zeros(R.shape[:-1] + (1,))], axis=-1)
