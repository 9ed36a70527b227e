"""The tabular model of a layout: the one source of truth for the dynamics (docs/concepts.md#joint-dynamics).

The exact solver reads these tables and the environments step by them; nothing else derives moves.

Joint states are pairs ``(h, a)`` of cell indices, ordered H-major (all states with H on cell 0 first,
then A's cell ascending). Under ``crash`` and ``bounce`` the pairs with ``h == a`` do not exist.
Joint actions are pairs ``(action_H, action_A)``. A transition that crashes leads to the sentinel
``model.terminal_state == model.n_states``: an absorbing state of value zero, so a value vector padded
with one trailing zero can be indexed by ``next_state`` directly.

With slip ``p > 0`` (docs/concepts.md#slip) the transition distribution is held as arrays, never per state:
``next_state[s, eH, eA]`` is the deterministic joint table over the *effective* moves (the moves that actually
happen, collision rule applied), and ``slip_matrix[c, chosen, effective]`` (``multipower.envs.slip.slip_matrix``) the
per-cell distribution of each agent's effective move. The probability of ``s -> next_state[s, eH, eA]`` under
chosen moves ``(aH, aA)`` is ``slip_matrix[h, aH, eH] · slip_matrix[a, aA, eA]``. At ``p = 0`` the slip
matrices are identities and ``next_state`` is the transition itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multipower.envs.layouts import N_ACTIONS, Layout, LayoutLike, load_layout
from multipower.envs.memory import check_budget, default_budget, joint_state_count, model_bytes
from multipower.envs.slip import check_slip, slip_cdf, slip_matrix

COLLISIONS = ("none", "crash", "bounce")
AGENTS = ("H", "A")


def check_collision(collision: str) -> str:
    if collision not in COLLISIONS:
        raise ValueError(f"collision must be one of {COLLISIONS}, got {collision!r}")
    return collision


@dataclass(frozen=True, eq=False)
class SingleAgentModel:
    """One agent alone in a layout.

    Attributes:
        slip: Slip probability in ``[0, 1]`` (docs/concepts.md#slip).
        next_cell: ``(n_cells, N_ACTIONS)`` cell reached by each effective move (unavailable moves stay).
        action_mask: ``(n_cells, N_ACTIONS)`` available actions.
        slip_matrix: ``(n_cells, N_ACTIONS, N_ACTIONS)`` ``P[c, chosen, effective]``.
    """

    layout: Layout
    slip: float = 0.0
    next_cell: np.ndarray = field(init=False)
    action_mask: np.ndarray = field(init=False)
    slip_matrix: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slip", check_slip(self.slip))
        object.__setattr__(self, "next_cell", self.layout.move_table())
        object.__setattr__(self, "action_mask", self.layout.action_mask())
        object.__setattr__(self, "slip_matrix", slip_matrix(self.action_mask, self.slip))

    @property
    def n_states(self) -> int:
        return self.layout.n_cells

    def moves_per_cell(self) -> np.ndarray:
        """``(n_cells,)`` available moves besides ``stay``: 1 at a dead end, 2 in a corridor, 3+ at a junction."""
        return self.action_mask[:, 1:].sum(axis=1)

    def state_labels(self) -> np.ndarray:
        """``(n_states, 2)`` ``(row, col)`` of each state."""
        return self.layout.cells.copy()


@dataclass(frozen=True, eq=False)
class JointModel:
    """Two agents, H and A, acting at once in one layout.

    Attributes:
        layout: The layout.
        collision: ``"none"``, ``"crash"`` or ``"bounce"`` (docs/concepts.md#collision-rules).
        joint_cells: ``(n_states, 2)`` the cells ``(h, a)`` of each joint state.
        state_index: ``(n_cells, n_cells)`` joint state of ``(h, a)``, ``-1`` where it does not exist.
        next_state: ``(n_states, N_ACTIONS, N_ACTIONS)`` next joint state for ``(action_H, action_A)``;
            ``terminal_state`` where the move crashes.
        action_mask_H, action_mask_A: ``(n_states, N_ACTIONS)`` available actions of each agent.
        next_cell: ``(n_cells, N_ACTIONS)`` the cell one agent's move targets (unavailable moves stay), before
            the collision rule: what the joint table is built from, and what factorised solvers need.
        slip: Slip probability in ``[0, 1]`` (docs/concepts.md#slip); ``next_state`` is then indexed by the
            effective moves.
        slip_matrix: ``(n_cells, N_ACTIONS, N_ACTIONS)`` ``P[c, chosen, effective]`` of either agent at cell ``c``.
    """

    layout: Layout
    collision: str = "none"
    slip: float = 0.0
    slip_matrix: np.ndarray = field(init=False)
    next_cell: np.ndarray = field(init=False)
    joint_cells: np.ndarray = field(init=False)
    state_index: np.ndarray = field(init=False)
    next_state: np.ndarray = field(init=False)
    action_mask_H: np.ndarray = field(init=False)
    action_mask_A: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        check_collision(self.collision)
        object.__setattr__(self, "slip", check_slip(self.slip))
        n = self.layout.n_cells
        # Before anything is allocated: a world whose tables cannot fit is refused in one line, not by numpy.
        n_states = joint_state_count(self.layout, self.collision)
        check_budget(model_bytes(n_states, self.collision), default_budget(), f"the joint model of {self.layout.name!r}",
                     n_states)
        h, a = np.divmod(np.arange(n * n), n)
        if self.collision != "none":
            h, a = h[h != a], a[h != a]
        state_index = np.full((n, n), -1, dtype=np.int64)
        state_index[h, a] = np.arange(len(h))
        moves, mask = self.layout.move_table(), self.layout.action_mask()
        h_next, a_next = self._resolve(h, a, moves[h][:, :, None], moves[a][:, None, :])
        next_state = state_index[h_next, a_next]
        if self.collision == "crash":
            next_state = np.where(h_next == a_next, len(h), next_state)
        for name, value in (
            ("next_cell", moves),
            ("joint_cells", np.stack([h, a], axis=1)),
            ("state_index", state_index),
            ("next_state", next_state),
            ("action_mask_H", mask[h]),
            ("action_mask_A", mask[a]),
            ("slip_matrix", slip_matrix(mask, self.slip)),
        ):
            object.__setattr__(self, name, value)

    def _resolve(self, h, a, h_target, a_target):
        """Apply the collision rule to targets broadcast as ``(S, N_ACTIONS, N_ACTIONS)``."""
        h = np.broadcast_to(h[:, None, None], (len(h), N_ACTIONS, N_ACTIONS))
        a = np.broadcast_to(a[:, None, None], h.shape)
        h_next, a_next = np.broadcast_to(h_target, h.shape), np.broadcast_to(a_target, h.shape)
        if self.collision != "bounce":
            return h_next, a_next
        swap = (h_next == a) & (a_next == h)
        clash = h_next == a_next
        failed = swap | clash
        h_next, a_next = np.where(failed, h, h_next), np.where(failed, a, a_next)
        # A failed move leaves its agent in place, which can block the other agent following into it.
        h_next = np.where(h_next == a_next, h, h_next)
        a_next = np.where(h_next == a_next, a, a_next)
        return h_next, a_next

    @property
    def n_cells(self) -> int:
        return self.layout.n_cells

    @property
    def n_states(self) -> int:
        return len(self.joint_cells)

    @property
    def terminal_state(self) -> int:
        return self.n_states

    @property
    def terminal(self) -> np.ndarray:
        """``(n_states, N_ACTIONS, N_ACTIONS)`` True where the joint move ends the episode (crash)."""
        return self.next_state == self.terminal_state

    def action_mask(self, agent: str) -> np.ndarray:
        return {"H": self.action_mask_H, "A": self.action_mask_A}[check_agent(agent)]

    @property
    def deterministic(self) -> bool:
        """Whether every joint move has a single outcome: no slip (as ``JointGraph.deterministic``)."""
        return self.slip == 0.0

    def step_tables(self) -> tuple:
        """``(next_state, None)``: the steppers' transition table (no outcome draw; slip draws effective moves
        instead). A joint graph's ``multipower.envs.joint_graph.JointGraph.step_tables`` may add outcome draws."""
        return self.next_state, None

    def slip_of(self, agent: str) -> np.ndarray:
        """``(n_states, N_ACTIONS, N_ACTIONS)`` ``P[s, chosen, effective]`` of ``agent`` at each joint state."""
        return self.slip_matrix[self.joint_cells[:, AGENTS.index(check_agent(agent))]]

    def slip_cdf(self, agent: str, rows: int = 0) -> np.ndarray:
        """``(n_states + rows, 5, 5)`` cumulative ``slip_of`` for sampling effective moves
        (``multipower.envs.dynamics.slip_step``); ``rows`` extra rows (absorbing walkers) keep the chosen move."""
        P = self.slip_of(agent)
        if rows:
            P = np.concatenate([P, np.broadcast_to(np.eye(N_ACTIONS), (rows, N_ACTIONS, N_ACTIONS))])
        return slip_cdf(P)

    def effective_policy(self, policy: np.ndarray, agent: str) -> np.ndarray:
        """The distribution of ``agent``'s effective moves when it chooses by ``policy`` ``(..., n_states, 5)``:
        ``Σ_chosen policy[..., s, chosen] · P[s, chosen, effective]``, same shape. ``policy`` itself at slip 0."""
        if self.slip == 0.0:
            return np.asarray(policy, dtype=float)
        return np.einsum("...sc,sce->...se", policy, self.slip_of(agent))

    def transition_weights(self, s: np.ndarray, action_H: np.ndarray, action_A: np.ndarray) -> np.ndarray:
        """``(..., 5, 5)`` probability of each effective move pair ``(eH, eA)`` for chosen moves at states ``s``
        (arrays of one shape): ``P[h, aH, eH] · P[a, aA, eA]``; the next state is ``next_state[s, eH, eA]``."""
        h, a = self.joint_cells[s, 0], self.joint_cells[s, 1]
        return self.slip_matrix[h, action_H][..., :, None] * self.slip_matrix[a, action_A][..., None, :]

    def joint_state(self, h_cell: int, a_cell: int) -> int:
        """Joint-state index of cells ``(h_cell, a_cell)``; ``ValueError`` if it does not exist."""
        n = self.n_cells
        if not (0 <= h_cell < n and 0 <= a_cell < n) or self.state_index[h_cell, a_cell] < 0:
            raise ValueError(
                f"joint state (h={h_cell}, a={a_cell}) does not exist under collision={self.collision!r} "
                f"with {n} cells"
            )
        return int(self.state_index[h_cell, a_cell])

    def state_labels(self) -> np.ndarray:
        """``(n_states, 4)`` ``(h_row, h_col, a_row, a_col)`` of each joint state."""
        cells = self.layout.cells
        return np.concatenate([cells[self.joint_cells[:, 0]], cells[self.joint_cells[:, 1]]], axis=1)


def check_agent(agent: str) -> str:
    if agent not in AGENTS:
        raise ValueError(f"agent must be one of {AGENTS}, got {agent!r}")
    return agent


def joint_model(layout: LayoutLike, collision: str = "none", slip: float = 0.0) -> JointModel:
    """Build the ``JointModel`` of a layout (a Layout, built-in name, file path or text).

    ``slip``: probability in ``[0, 1]`` that a chosen move is replaced by a uniform available one
    (docs/concepts.md#slip); ``ValueError`` naming ``slip`` otherwise."""
    return JointModel(load_layout(layout), check_collision(collision), check_slip(slip))


def single_agent_model(layout: LayoutLike, slip: float = 0.0) -> SingleAgentModel:
    return SingleAgentModel(load_layout(layout), check_slip(slip))
