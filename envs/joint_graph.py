"""Two-agent MDPs and seed policies given as DOT graphs, in POWERplay's joint format (docs/graphs.md#joint-graphs).

**Joint MDP graph.** The stochastic single-agent form of ``multipower.envs.graph_mdp`` whose actions are joint:
state nodes (for gridworlds ``"[(r, c)_H^(r, c)_A]"``, H's cell then A's), edges from each state to joint-action
nodes ``"[ACTION_H^ACTION_A]__STATE"``, and weighted edges from those to outcome nodes
``"NEXT__[ACTION_H^ACTION_A]__STATE"``. H's available actions at a state are the H parts of its joint actions, A's
likewise. A combination of an available H action and an available A action that the graph leaves out is
*forbidden*: it leads nowhere, so the episode ends there with no further reward (the terminal of the ``crash``
rule; POWERplay's no-overlap maze is written this way).

**Policy graph** (A's seed policy). State nodes as in the MDP, and edges from each state to ``"[ACTION]__STATE"``
nodes with ``weight=p``, the probability that A takes ``ACTION`` there. An action the MDP does not give A at that
state is ignored when its weight is 0 and refused otherwise.

States are numbered in order of first appearance in the file; reward sample ``j`` assigns its values in that
order (as for every graph). Action slots are the five gridworld moves in ``ACTION_NAMES`` order when the
graph's actions are among them, else in order of first appearance.

``joint_graph_text`` and ``policy_graph_text`` write a layout's joint model and a seed policy in these
formats (states in the model's joint-state order), so a layout can be edited as a graph and solved again.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from multipower.envs.dot import DotError, parse_dot
from multipower.envs.graph_mdp import WEIGHT_TOL, GraphMDP, cell_name, parse_graph_mdp, read_graph_text
from multipower.envs.layouts import ACTION_NAMES, Layout
from multipower.envs.policies import cumulative_probabilities

#: ``[X_H^Y_A]`` with no ``^`` inside either part (so ``[a_H^b_H^c_A]`` is refused, not split at a guess).
_JOINT_ACTION = re.compile(r"\[([^\^\[\]]+)_H\^([^\^\[\]]+)_A\]")
#: What marks an action label as meant to be joint (then it must split).
_JOINT_LOOK = re.compile(r"_H\^|\^.*_A\]|_A\^")
_GRID_STATE = re.compile(r"\[\((\d+), (\d+)\)_H\^\((\d+), (\d+)\)_A\]")


@dataclass(frozen=True, eq=False)
class JointGraph:
    """A two-agent MDP as padded arrays (``S`` joint states, ``nH``/``nA`` action slots, ``K`` outcomes).

    Attributes:
        name: The graph's name (or the file's stem).
        states: ``(S,)`` state names, in graph order.
        actions_H, actions_A: Each agent's action labels, one per slot.
        action_mask_H, action_mask_A: ``(S, nH)``, ``(S, nA)`` available actions.
        next_state: ``(S, nH, nA, K)`` next joint states; forbidden and padding combinations lead to ``S``, the
            terminal (value 0).
        prob: ``(S, nH, nA, K)`` outcome probabilities (each allowed combination's sum to 1; forbidden ones have
            all their mass on the terminal).
        allowed: ``(S, nH, nA)`` the combinations the graph gives.
        cells: ``(S, 4)`` ``(h_row, h_col, a_row, a_col)`` where every state name is a gridworld pair, else None.
        text: The DOT source.
    """

    name: str
    states: tuple
    actions_H: tuple
    actions_A: tuple
    action_mask_H: np.ndarray
    action_mask_A: np.ndarray
    next_state: np.ndarray
    prob: np.ndarray
    allowed: np.ndarray
    cells: Optional[np.ndarray]
    text: str

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def absorbing(self) -> bool:
        """Whether some available combination is forbidden (mass then leaves at the terminal)."""
        both = self.action_mask_H[:, :, None] & self.action_mask_A[:, None, :]
        return bool((both & ~self.allowed).any())

    def action_mask(self, agent: str) -> np.ndarray:
        return {"H": self.action_mask_H, "A": self.action_mask_A}[agent]

    def state_labels(self) -> np.ndarray:
        """``(S, 1)`` the state names (the labels of ``power.csv``)."""
        return np.array(self.states, dtype=object)[:, None]

    # The learners' steppers read a world through ``terminal_state``, ``slip``, ``action_mask`` and
    # ``step_tables`` (``multipower.envs.model.JointModel`` has the same).

    @property
    def terminal_state(self) -> int:
        """``S``: where a forbidden combination leads (value 0, the episode ends), as for a layout's crash."""
        return self.n_states

    @property
    def slip(self) -> float:
        """0: a graph's outcome probabilities are its own (no slip rule is applied on top)."""
        return 0.0

    @property
    def deterministic(self) -> bool:
        """Whether every combination has a single outcome."""
        return bool(((self.prob > 0).sum(-1) <= 1).all())

    def step_tables(self) -> tuple:
        """``(next_state, outcome_cdf)`` as the steppers draw transitions (``multipower.envs.dynamics.outcome_step``):
        for a deterministic graph the ``(S, nH, nA)`` table of next states and ``None`` (no draw is made); else
        ``next_state`` ``(S, nH, nA, K)`` and the cumulative outcome probabilities of the same shape, ``inf`` from
        each combination's last outcome of positive probability on (rounding never draws an impossible one)."""
        if self.deterministic:
            first = self.prob.argmax(-1)[..., None]
            return np.take_along_axis(self.next_state, first, -1)[..., 0], None
        return self.next_state, cumulative_probabilities(self.prob)

    def grid(self) -> Optional["GraphGrid"]:
        """The gridworld its state names carry (``graph_grid``), or None when a name is not a cell pair."""
        return graph_grid(self.cells, self.name)

    def with_slots(self, n_slots: Optional[int] = None) -> "JointGraph":
        """The same graph with ``n_slots`` action slots for each agent (default: the larger of the two agents'
        counts): the learners hold one slot count for both agents. Slots past an agent's own are never available.

        Raises:
            ValueError: naming the graph, when an agent has more than ``n_slots`` actions.
        """
        nH, nA = len(self.actions_H), len(self.actions_A)
        n_slots = max(nH, nA) if n_slots is None else n_slots
        if nH == nA == n_slots:
            return self
        for agent, actions in (("H", self.actions_H), ("A", self.actions_A)):
            if len(actions) > n_slots:
                raise ValueError(f"mdp: {n_slots} action slots are too few for graph {self.name!r}, which gives "
                                 f"agent {agent} {len(actions)} actions ({', '.join(actions)})")
        S, K = self.n_states, self.next_state.shape[-1]
        shape = (S, n_slots, n_slots)
        allowed = np.zeros(shape, dtype=bool)
        next_state = np.full(shape + (K,), S, dtype=np.int64)
        prob = np.zeros(shape + (K,))
        prob[..., 0] = 1.0
        allowed[:, :nH, :nA], next_state[:, :nH, :nA], prob[:, :nH, :nA] = self.allowed, self.next_state, self.prob
        pad = lambda actions: actions + tuple(f"(slot {i})" for i in range(len(actions), n_slots))  # noqa: E731
        return replace(self, actions_H=pad(self.actions_H), actions_A=pad(self.actions_A),
                       action_mask_H=allowed.any(2), action_mask_A=allowed.any(1), next_state=next_state, prob=prob,
                       allowed=allowed)


def is_joint_graph(mdp: GraphMDP) -> bool:
    """Whether a (stochastic) graph means its actions to be joint: one of them is (or looks like) ``[X_H^Y_A]``.
    ``joint_graph_from`` then refuses, naming the node, any action that does not split into H's and A's."""
    labels = mdp.action_names[mdp.action_mask]
    return mdp.stochastic and any(_JOINT_ACTION.fullmatch(label) or _JOINT_LOOK.search(label) for label in labels)


def load_joint_graph(source: Union[str, Path]) -> JointGraph:
    """Read a joint MDP graph file (module docstring). Raises ``ValueError`` in one line naming the file and the
    node at fault (besides the checks of ``multipower.envs.graph_mdp.load_graph_mdp``)."""
    text, name, where = read_graph_text(source)
    return parse_joint_graph(text, name, where)


def parse_joint_graph(text: str, name: str = "graph", where: str = "graph") -> JointGraph:
    """A ``JointGraph`` from DOT source; errors as ``load_joint_graph``."""
    return joint_graph_from(parse_graph_mdp(text, name, where), where)


def joint_graph_from(mdp: GraphMDP, where: str = "graph") -> JointGraph:
    """The joint reading of a stochastic ``GraphMDP`` whose actions are ``[X_H^Y_A]``."""
    S, n_slots, K = mdp.next_state.shape
    pairs = np.full((S, n_slots, 2), "", dtype=object)
    for s, a in zip(*np.nonzero(mdp.action_mask)):
        label = mdp.action_names[s, a]
        match = _JOINT_ACTION.fullmatch(label)
        if match is None:
            raise ValueError(f'mdp: {where}: action node "{label}__{mdp.states[s]}" cannot be split into H\'s and A\'s '
                             'actions; joint actions are named "[ACTION_H^ACTION_A]" (no "^" inside either)')
        pairs[s, a] = match.groups()
    actions_H = _slots(pairs[..., 0][mdp.action_mask])
    actions_A = _slots(pairs[..., 1][mdp.action_mask])
    index_H = {a: i for i, a in enumerate(actions_H)}
    index_A = {a: i for i, a in enumerate(actions_A)}
    shape = (S, len(actions_H), len(actions_A))
    allowed = np.zeros(shape, dtype=bool)
    next_state = np.full(shape + (K,), S, dtype=np.int64)
    prob = np.zeros(shape + (K,))
    prob[..., 0] = 1.0  # forbidden: all mass on the terminal
    for s, a in zip(*np.nonzero(mdp.action_mask)):
        h, o = index_H[pairs[s, a, 0]], index_A[pairs[s, a, 1]]
        allowed[s, h, o] = True
        next_state[s, h, o], prob[s, h, o] = mdp.next_state[s, a], mdp.prob[s, a]
    return JointGraph(mdp.name, mdp.states, actions_H, actions_A, allowed.any(2), allowed.any(1), next_state,
                      prob, allowed, grid_cells(mdp.states), mdp.text)


def _slots(labels) -> tuple:
    seen = tuple(dict.fromkeys(labels))
    return ACTION_NAMES if set(seen) <= set(ACTION_NAMES) else seen


#: A graph's cells are drawn on their bounding grid unless it holds more than this many times as many cells as the
#: states use; then its empty rows and columns are left out (state names far apart would ask for a huge figure).
SPARSE_GRID = 4


@dataclass(frozen=True, eq=False)
class GraphGrid:
    """Where a joint graph's states are on a grid, for drawing: ``layout`` open where some state puts an agent
    (walls elsewhere), and ``joint_cells`` ``(S, 2)`` the cells (indices into ``layout.cells``) of H and A.
    ``rows``, ``cols``: the state names' row and column of each grid row and column (the grid leaves out empty
    rows and columns of a sparse graph, ``SPARSE_GRID``)."""

    layout: Layout
    joint_cells: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    def cell_index(self, row: int, col: int) -> int:
        """The cell that the state names call ``(row, col)``; ``ValueError`` when no state puts an agent there."""
        i, j = np.flatnonzero(self.rows == row), np.flatnonzero(self.cols == col)
        if len(i) == 0 or len(j) == 0 or not self.layout.grid[i[0], j[0]]:
            raise ValueError(f"cell ({row}, {col}) is not a cell of the graph {self.layout.name!r}")
        return self.layout.cell_index(int(i[0]), int(j[0]))

    def joint_state(self, h_cell: int, a_cell: int) -> int:
        """The state with H on ``h_cell`` and A on ``a_cell``; ``ValueError`` if the graph has none."""
        match = np.flatnonzero((self.joint_cells == (h_cell, a_cell)).all(axis=1))
        if len(match) == 0:
            h, a = ((int(self.rows[r]), int(self.cols[c])) for r, c in self.layout.cells[[h_cell, a_cell]])
            raise ValueError(f"the graph has no state with H on cell {h} and A on cell {a}")
        return int(match[0])

    def grid_labels(self) -> np.ndarray:
        """``(S, 4)`` each state's cells of H and A as ``(row, col)`` on the drawn grid."""
        return self.layout.cells[self.joint_cells].reshape(-1, 4)


def graph_grid(cells: Optional[np.ndarray], name: str = "graph") -> Optional[GraphGrid]:
    """The ``GraphGrid`` of states at ``cells`` ``(S, 4)`` (``grid_cells``), named ``name``; None without cells."""
    if cells is None:
        return None
    rows, cols = np.arange(cells[:, 0::2].max() + 1), np.arange(cells[:, 1::2].max() + 1)
    used = np.unique(np.concatenate([cells[:, :2], cells[:, 2:]]), axis=0)
    if len(rows) * len(cols) > SPARSE_GRID * len(used):
        rows, cols = np.unique(cells[:, 0::2]), np.unique(cells[:, 1::2])
    r, c = np.searchsorted(rows, cells[:, 0::2]), np.searchsorted(cols, cells[:, 1::2])  # (S, 2) each: H, A
    open_ = np.zeros((len(rows), len(cols)), dtype=bool)
    open_[r, c] = True
    layout = Layout(name, open_)
    index = np.full(open_.shape, -1, dtype=np.int64)
    index[layout.cells[:, 0], layout.cells[:, 1]] = np.arange(layout.n_cells)
    return GraphGrid(layout, index[r, c], rows, cols)


def grid_cells(states: tuple) -> Optional[np.ndarray]:
    """``(S, 4)`` ``(h_row, h_col, a_row, a_col)`` from gridworld state names ``"[(r, c)_H^(r, c)_A]"``, or None
    when a name is not one."""
    matches = [_GRID_STATE.fullmatch(s) for s in states]
    if not all(matches):
        return None
    return np.array([[int(x) for x in m.groups()] for m in matches], dtype=np.int64)


def load_policy_graph(source: Union[str, Path], graph: JointGraph) -> np.ndarray:
    """A's seed policy ``(S, nA)`` from a policy graph file (module docstring), over ``graph``'s states and slots.

    Raises:
        ValueError: one line naming the file and the node at fault: states that are not the MDP's (or MDP states
            the policy leaves out), an edge that is not ``STATE -> [ACTION]__STATE`` with a weight, a weight that
            is not a probability, weights of a state that do not sum to 1, or a positive weight on an action
            the MDP does not give A there.
    """
    text, _, where = read_graph_text(source, "seed_policy")
    try:
        dot = parse_dot(text)
    except DotError as error:
        raise ValueError(f"seed_policy: {where} is not a DOT graph we read ({error})") from None
    index = {s: i for i, s in enumerate(graph.states)}
    slot = {a: i for i, a in enumerate(graph.actions_A)}
    table = np.zeros((graph.n_states, len(graph.actions_A)))
    totals = np.zeros(graph.n_states)
    for node in dot.nodes:
        if "__" not in node and node not in index:
            raise ValueError(f'seed_policy: {where}: state "{node}" is not a state of the MDP {graph.name!r}')
    for src, dst, attrs in dot.edges:
        edge = f'edge "{src}" -> "{dst}"'
        if src not in index or not dst.endswith("__" + src) or not re.fullmatch(r"\[.+\]", dst[: -len(src) - 2]):
            raise ValueError(f'seed_policy: {where}: {edge}: a policy edge leads from a state to "[ACTION]__STATE"')
        p = _probability(attrs, edge, where)
        action = dst[1: -len(src) - 3]
        s = index[src]
        if action not in slot or not graph.action_mask_A[s, slot[action]]:
            if p > 0:
                raise ValueError(f"seed_policy: {where}: {edge} gives probability {p:g} to {action!r}, which the MDP "
                                 f'does not give agent A at "{src}"')
            continue
        table[s, slot[action]] += p
        totals[s] += p
    for s in np.flatnonzero(np.abs(totals - 1.0) > WEIGHT_TOL):
        raise ValueError(f'seed_policy: {where}: the weights of state "{graph.states[s]}" sum to {totals[s]:.9g}, '
                         f"not 1 (a state the policy leaves out sums to 0)")
    return table / totals[:, None]


def _probability(attrs: dict, edge: str, where: str) -> float:
    try:
        p = float(attrs["weight"])
    except KeyError:
        raise ValueError(f"seed_policy: {where}: {edge} has no weight") from None
    except ValueError:
        raise ValueError(f"seed_policy: {where}: {edge} has weight {attrs['weight']!r}, not a number") from None
    if not math.isfinite(p) or not 0.0 <= p <= 1.0 + WEIGHT_TOL:
        raise ValueError(f"seed_policy: {where}: {edge} has weight {attrs['weight']!r}; weights are probabilities "
                         "in [0, 1]")
    return p


# --------------------------------------------------------------------------------------------------
# Writing


def joint_state_names(model) -> list:
    """POWERplay's names ``"[(r, c)_H^(r, c)_A]"`` of a ``JointModel``'s joint states."""
    cells = model.layout.cells
    return [f"[{cell_name(*cells[h])}_H^{cell_name(*cells[a])}_A]" for h, a in model.joint_cells]


def joint_graph_text(model) -> str:
    """A layout's joint model as a joint MDP graph (module docstring), states in the model's joint-state order.

    Raises:
        ValueError: for ``crash`` with slip: a joint action that crashes with a probability strictly between 0
            and 1 has no form in this format (forbidden combinations end the episode for certain).
    """
    if model.collision == "crash" and model.slip > 0.0:
        raise ValueError("collision: a crash that happens with some probability (slip > 0) cannot be written as a "
                         "joint graph, whose forbidden joint actions end the episode for certain; use slip 0 or "
                         "collision none or bounce")
    names = joint_state_names(model)
    nodes, lines = [], []  # as POWERplay writes them: every node declared, then the edges
    for s, state in enumerate(names):
        nodes.append(f"{_quote(state)};")
        for h in np.flatnonzero(model.action_mask_H[s]):
            for a in np.flatnonzero(model.action_mask_A[s]):
                weights = model.transition_weights(np.array(s), np.array(h), np.array(a))  # (5, 5)
                outcomes = {}
                for eh, ea in zip(*np.nonzero(weights)):
                    nxt = int(model.next_state[s, eh, ea])
                    outcomes[nxt] = outcomes.get(nxt, 0.0) + float(weights[eh, ea])
                if model.n_states in outcomes:  # a certain crash: the combination is forbidden
                    continue
                action = f"[{ACTION_NAMES[h]}_H^{ACTION_NAMES[a]}_A]__{state}"
                nodes.append(f"{_quote(action)};")
                lines.append(f"{_quote(state)} -> {_quote(action)};")
                for nxt, p in outcomes.items():
                    outcome = _quote(f"{names[nxt]}__{action}")
                    nodes.append(f"{outcome};")
                    lines.append(f'{_quote(action)} -> {outcome} [weight="{p!r}"];')
    return "\n".join([f"strict digraph {_quote(model.layout.name)} {{", *nodes, *lines, "}"]) + "\n"


def policy_graph_text(model, table: np.ndarray) -> str:
    """A's seed policy ``(S, 5)`` over a joint model as a policy graph (every available move, weight 0 included)."""
    names = joint_state_names(model)
    lines = [f"strict digraph {_quote(model.layout.name + '_agent_A')} {{"]
    for s, state in enumerate(names):
        lines.append(f"{_quote(state)};")
        for a in np.flatnonzero(model.action_mask_A[s]):
            action = f"[{ACTION_NAMES[a]}]__{state}"
            lines.append(f'{_quote(state)} -> {_quote(action)} [weight="{float(table[s, a])!r}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '\\"') + '"'


def graph_seed_table(graph: JointGraph, seed_policy: Union[str, np.ndarray]) -> np.ndarray:
    """A's seed policy ``(S, nA)``: ``"uniform"`` over A's available actions, ``"stay"`` (where A may stay at
    every state), or a table (e.g. from ``multipower.envs.joint_graph.load_policy_graph``), checked."""
    mask = graph.action_mask_A
    if isinstance(seed_policy, str):
        if seed_policy == "uniform":
            return mask / mask.sum(1, keepdims=True)
        if seed_policy == "stay":
            if "stay" not in graph.actions_A or not mask[:, graph.actions_A.index("stay")].all():
                raise ValueError(f"seed_policy: 'stay' needs agent A to have the action 'stay' at every state of "
                                 f"{graph.name!r}; give 'uniform' or a policy graph")
            table = np.zeros(mask.shape)
            table[:, graph.actions_A.index("stay")] = 1.0
            return table
        raise ValueError(f"seed_policy: must be 'uniform', 'stay' or a policy graph (.gv) for a joint graph, got "
                         f"{seed_policy!r}")
    table = np.asarray(seed_policy, dtype=np.float64)
    if table.shape != mask.shape or not np.isfinite(table).all() or (table < 0).any() or (table[~mask] > 0).any() \
            or not np.allclose(table.sum(1), 1.0, atol=1e-9):
        raise ValueError(f"seed_policy: must be a table {mask.shape} of probabilities over agent A's available "
                         f"actions, rows summing to 1")
    return table
