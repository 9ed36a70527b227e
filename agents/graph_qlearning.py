"""Tabular Q-learning on an MDP graph (``multipower.envs.graph_mdp``), vectorised over reward samples and walkers.

``K`` reward functions are learned at once, each by ``W`` walkers that act uniformly at random over the
available actions (off-policy Q-learning needs no greedy behaviour) and restart in a uniformly random state
every ``episode_length`` steps, so every state-action pair keeps being visited. Each step is one numpy
update of all ``K × W`` walkers: the sampled transition ``s -a-> s'`` moves ``Q(s, a)`` towards
``R(s) + γ max_b Q(s', b)`` (the solver's convention ``Q = R + γ E[V(s')]``) with step size
``1 / (1 + (1 - γ)·n)`` after ``n`` earlier updates of the pair. Learned POWER is
``(1 - γ)/γ · (max_a Q(s, a) - R(s))`` (docs/concepts.md#single-agent-power).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multipower.envs.graph_mdp import GraphMDP


@dataclass
class GraphQResult:
    """``q`` ``(K, n, A)`` (``-inf`` on unavailable slots), ``visits`` ``(K, n, A)`` and ``power`` ``(K, n)``."""

    q: np.ndarray
    visits: np.ndarray
    power: np.ndarray


def learn_graph_q(mdp: GraphMDP, R: np.ndarray, gamma: float, n_steps: int = 20_000, walkers: int = 16,
                  episode_length: int = 5, seed: int = 0) -> GraphQResult:
    """Learn ``Q`` for reward functions ``R`` ``(K, n)`` at discount ``gamma`` in ``(0, 1)``.

    Raises:
        ValueError: naming the parameter, for a bad ``gamma``, ``R`` shape or count.
    """
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma!r}")
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] != mdp.n_states:
        raise ValueError(f"R must have shape (K, {mdp.n_states}), got {R.shape}")
    for name, value in (("n_steps", n_steps), ("walkers", walkers), ("episode_length", episode_length)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    K, n, A = R.shape[0], mdp.n_states, mdp.n_actions
    rng = np.random.default_rng(seed)
    mask = mdp.action_mask
    n_avail = mask.sum(1)
    avail = np.argsort(~mask, axis=1, kind="stable")  # available slots packed left
    cum = np.cumsum(mdp.prob, axis=2)
    q = np.where(mask, R[:, :, None] / (1.0 - gamma), -np.inf)  # any start converges; this one is bounded
    visits = np.zeros((K, n, A), dtype=np.int64)
    k = np.repeat(np.arange(K), walkers)
    s = rng.integers(n, size=K * walkers)
    c = 1.0 - gamma
    for step in range(int(n_steps)):
        a = avail[s, (rng.random(s.shape) * n_avail[s]).astype(np.int64)]
        out = (rng.random(s.shape)[:, None] >= cum[s, a]).sum(1).clip(max=cum.shape[2] - 1)
        s2 = mdp.next_state[s, a, out]
        target = R[k, s] + gamma * q[k, s2].max(1)
        alpha = 1.0 / (1.0 + c * visits[k, s, a])
        np.add.at(q, (k, s, a), alpha * (target - q[k, s, a]))
        np.add.at(visits, (k, s, a), 1)
        s = s2 if (step + 1) % episode_length else rng.integers(n, size=s.shape)
    power = (1.0 - gamma) / gamma * (q.max(2) - R)
    return GraphQResult(q, visits, power)
