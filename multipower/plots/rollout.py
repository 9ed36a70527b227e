"""Greedy rollouts of both agents from one joint state, and their discounted returns (what ``animate`` draws).

A rollout follows the model's dynamics (``multipower.envs.dynamics.joint_step``): both agents act at once with their
greedy action, the next joint state is the model's table entry, and a crash (``crash`` collision rule) ends the
rollout. In a world with slip (docs/concepts.md#slip) each chosen move is replaced by the effective move drawn by
``multipower.envs.dynamics.slip_step`` from a generator seeded by ``seed``, so a rollout is one draw, reproducible by its
seed. Returns use the values' convention (docs/concepts.md#two-stage-training): an agent collects the reward
of the state it is in, so after ``t`` steps its return is::

    G_t = sum_{k=0..t} γ^k R(s_k),    R = 0 at the crash terminal,

and, as ``t`` grows, ``G_t`` tends to the value ``V(s_0)`` of the greedy policies (the solver's policy
evaluation), within ``γ^(t+1) max|R| / (1 - γ)``.

**Greedy action and ties.** The greedy action of a policy table is its most probable available action; where
several tie (the solver's optimal policies are uniform over tied optima, docs/concepts.md#optimal-policies-and-ties),
the lowest action number wins, in the order ``0 stay, 1 up, 2 down, 3 left, 4 right`` (docs/concepts.md#moves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multipower.envs.dynamics import joint_step, outcome_step, padded_rewards, slip_step
from multipower.envs.layouts import ACTION_NAMES
from multipower.envs.joint_graph import GraphGrid, JointGraph
from multipower.envs.policies import check_policy
from multipower.envs.problem import JointWorld
from multipower.envs.validation import check_seed
from multipower.envs.problem import TwoStageProblem

#: Most steps of one rollout (a trajectory is stepped in Python, one step at a time).
MAX_STEPS = 100_000


@dataclass(frozen=True)
class Rollout:
    """One greedy rollout of ``T`` steps (``T + 1`` joint states; fewer steps than asked if it crashed).

    Attributes:
        states: ``(T + 1,)`` joint states ``s_0 .. s_T``; ``s_T`` is ``model.terminal_state`` after a crash.
        cells: ``(T + 1, 2)`` cells of H and A; at a crash both hold the cell they collided on.
        actions_H, actions_A: ``(T,)`` the greedy action taken in ``s_0 .. s_{T-1}``.
        effective_H, effective_A: ``(T,)`` the moves that happened: the actions themselves without slip.
        rewards_H, rewards_A: ``(T + 1,)`` reward of each agent in ``s_t`` (0 at the crash terminal).
        returns_H, returns_A: ``(T + 1,)`` discounted returns so far, ``sum_{k<=t} γ^k R(s_k)``.
        crashed: True when the last step crashed.
        action_names: Each agent's action names by slot, H's then A's (the five moves; a joint graph's own).
    """

    states: np.ndarray
    cells: np.ndarray
    actions_H: np.ndarray
    actions_A: np.ndarray
    effective_H: np.ndarray
    effective_A: np.ndarray
    rewards_H: np.ndarray
    rewards_A: np.ndarray
    returns_H: np.ndarray
    returns_A: np.ndarray
    crashed: bool
    action_names: tuple = (ACTION_NAMES, ACTION_NAMES)

    @property
    def n_steps(self) -> int:
        return len(self.actions_H)

    def action_name(self, agent: str, t: int) -> str:
        """Name of the action ``agent`` takes at step ``t``, ``"-"`` at the last state."""
        actions = self.actions_H if agent == "H" else self.actions_A
        return self._names(agent)[actions[t]] if t < len(actions) else "-"

    def _names(self, agent: str) -> tuple:
        return self.action_names[0 if agent == "H" else 1]

    def move_text(self, agent: str, t: int) -> str:
        """``action_name``, followed by ``"→ <move>"`` when a slip replaced it by another move."""
        effective = self.effective_H if agent == "H" else self.effective_A
        chosen = self.action_name(agent, t)
        if t < len(effective) and self._names(agent)[effective[t]] != chosen:
            return f"{chosen} → {self._names(agent)[effective[t]]}"
        return chosen


def greedy_actions(policy: np.ndarray, action_mask: np.ndarray, name: str = "policy") -> np.ndarray:
    """``(S,)`` greedy action of a policy table ``(S, n)``: the most probable available action, the lowest
    action number among ties. ``ValueError`` naming ``name`` for a table that is not a policy of the mask."""
    probs = check_policy(policy, action_mask, name=name)
    if probs.ndim != 2:
        raise ValueError(f"{name} must have shape {action_mask.shape}, got {probs.shape}")
    return np.where(action_mask, probs, -np.inf).argmax(axis=-1)  # argmax returns the first of tied maxima


def greedy_rollout(
    problem: TwoStageProblem,
    policy_H: np.ndarray,
    policy_A: np.ndarray,
    start: int,
    steps: int,
    seed: int = 0,
) -> Rollout:
    """Roll both agents' greedy actions (module docstring) from joint state ``start`` for ``steps`` steps.

    Args:
        problem: The joint model (or a joint graph whose states are gridworld cells), one reward function per
            agent (``(S,)``, the reward of each joint state) and both discounts
            (``multipower.envs.problem.TwoStageProblem`` of one sample).
        policy_H, policy_A: ``(S, 5)`` action probabilities over joint states.
        start: Joint-state index in ``[0, S)``.
        steps: Steps to take, 1 to ``MAX_STEPS``; the rollout stops earlier at a crash.
        seed: Seeds the slip draws (``numpy.random.default_rng``; unused without slip): step ``t`` draws H's
            uniform, then A's; on a joint graph with several outcomes per joint action, one uniform per step
            draws the outcome.

    Returns:
        A ``Rollout``. Raises ``ValueError`` naming the bad argument.
    """
    model, gamma_H, gamma_A = problem.model, problem.gamma_H, problem.gamma_A
    if problem.n_samples != 1:
        raise ValueError(f"problem: a rollout is of one reward sample, got {problem.n_samples}")
    R_H, R_A = problem.R_H[0], problem.R_A[0]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in [1, {MAX_STEPS}], got {steps!r}")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < model.n_states:
        raise ValueError(f"start must be a joint state, an integer in [0, {model.n_states}), got {start!r}")
    seed = check_seed(seed)
    if isinstance(model, JointGraph):
        drawing_grid(model)  # a graph without cells has nothing to draw: refused before rolling out
    greedy_H = greedy_actions(policy_H, model.action_mask_H, "policy_H")
    greedy_A = greedy_actions(policy_A, model.action_mask_A, "policy_A")
    step = _step_function(model, seed)
    states, actions, moves = [int(start)], [], []
    for t in range(steps):  # a trajectory is sequential: one step of one walker per iteration
        state = np.asarray(states[-1])
        action_H, action_A = greedy_H[state], greedy_A[state]
        reached, terminated, effective_H, effective_A = step(state, action_H, action_A, t, steps)
        states.append(int(reached))
        actions.append((int(action_H), int(action_A)))
        moves.append((int(effective_H), int(effective_A)))
        if terminated:
            break
    states = np.array(states)
    actions_H, actions_A = np.array(actions, dtype=np.int64).reshape(-1, 2).T
    effective_H, effective_A = np.array(moves, dtype=np.int64).reshape(-1, 2).T
    crashed = bool(states[-1] == model.terminal_state)
    rewards_H, rewards_A = padded_rewards(R_H)[states], padded_rewards(R_A)[states]
    return Rollout(
        states, _cells(model, states, effective_H, crashed), actions_H, actions_A, effective_H, effective_A,
        rewards_H, rewards_A, np.cumsum(gamma_H ** np.arange(len(states)) * rewards_H),
        np.cumsum(gamma_A ** np.arange(len(states)) * rewards_A), crashed,
        (model.actions_H, model.actions_A) if isinstance(model, JointGraph) else (ACTION_NAMES, ACTION_NAMES),
    )


def _step_function(model: JointWorld, seed: int):
    """``step(state, action_H, action_A, t, steps) -> (reached, terminated, effective_H, effective_A)``: the
    model's joint step, with slip (or a joint graph's outcomes) drawn from ``default_rng(seed)``."""
    next_state, outcome_cdf = model.step_tables()
    rng = np.random.default_rng(seed)
    if outcome_cdf is not None:
        def step(state, action_H, action_A, t, steps):
            reached, terminated, _ = outcome_step(next_state, outcome_cdf, model.terminal_state, state,
                                                  (action_H, action_A), np.asarray(rng.random()), np.asarray(t), steps)
            return reached, terminated, action_H, action_A
        return step
    if model.slip == 0.0:
        def step(state, action_H, action_A, t, steps):
            reached, terminated, _ = joint_step(next_state, model.terminal_state, state, action_H, action_A,
                                               np.asarray(t), steps)
            return reached, terminated, action_H, action_A
        return step
    cdf_H, cdf_A = model.slip_cdf("H"), model.slip_cdf("A")

    def step(state, action_H, action_A, t, steps):
        u_H, u_A = rng.random(2)
        reached, terminated, _, effective_H, effective_A = slip_step(
            model.next_state, model.terminal_state, (cdf_H, cdf_A), state, (action_H, action_A),
            (np.asarray(u_H), np.asarray(u_A)), np.asarray(t), steps)
        return reached, terminated, effective_H, effective_A
    return step


def _cells(model: JointWorld, states, effective_H, crashed: bool) -> np.ndarray:
    """``(T + 1, 2)`` cells of each state; a crash is drawn where the moves that happened collided (on a joint
    graph, a forbidden joint action, where the agents were)."""
    alive = states[:-1] if crashed else states
    if isinstance(model, JointGraph):
        grid = drawing_grid(model)
        cells = grid.joint_cells[alive]
        return np.concatenate([cells, cells[-1:]]) if crashed else cells
    cells = model.joint_cells[alive]
    if crashed:
        # The crash cell is the target both moves share (the model's per-agent move table).
        collided = model.next_cell[model.joint_cells[states[-2], 0], effective_H[-1]]
        cells = np.concatenate([cells, [[collided, collided]]])
    return cells


def drawing_grid(model: JointGraph) -> GraphGrid:
    """The grid a joint graph's rollout is drawn on (``JointGraph.grid``); ``ValueError`` when its state names
    carry no cells."""
    grid = model.grid()
    if grid is None:
        raise ValueError(f"the joint graph {model.name!r} names its states without gridworld cells "
                         '("[(r, c)_H^(r, c)_A]"): there is no grid to draw its agents on')
    return grid


def optimal_policies(problem: TwoStageProblem) -> tuple[np.ndarray, np.ndarray]:
    """The exact two-stage policies ``(S, 5)`` of a problem of one reward pair
    (``multipower.exact.solver.solve_pairs``, docs/concepts.md#two-stage-training): H optimal against A's seed
    policy, A optimal against that frozen H, each uniform over its tied optima (a rollout then takes the lowest
    tied action number)."""
    from multipower.exact.accuracy import solve_problem  # loads torch: only optimal rollouts need it

    if problem.n_samples != 1:
        raise ValueError(f"problem: optimal policies are of one reward sample, got {problem.n_samples}")
    solved = solve_problem(problem)
    return solved.policy_H[0], solved.policy_A[0]
