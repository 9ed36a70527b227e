"""Single-agent MDPs given as DOT graphs, in POWERplay's format (docs/graphs.md).

Two forms are read:

* **Deterministic**: every node is a state and every edge ``s -> t`` is one action of ``s``, leading to ``t``
  with probability 1 (a self-loop ``s -> s`` is the action of staying).
* **Stochastic**: state nodes (names without ``__``), action nodes ``ACTION__STATE`` linked from their state,
  and outcome nodes ``NEXT__ACTION__STATE`` linked from their action node by an edge with ``weight="p"``, the
  probability that the action leads to state ``NEXT``. A graph is stochastic as soon as one node name contains
  ``__`` or one edge has a weight; every edge must then follow this pattern.

States are numbered in order of first appearance in the file, in a node statement or an edge (in DOT an edge
declares its nodes). A state's actions are numbered in the order of
its edges. Everything is checked when the file is read; a malformed graph raises one ``ValueError`` line that
names the node or edge at fault. Weights of an action must sum to 1 within ``WEIGHT_TOL`` and are then
divided by their sum, so each distribution sums to 1 to rounding.

The result, ``GraphMDP``, is plain padded arrays: ``next_state[s, a, k]`` and ``prob[s, a, k]`` over
outcomes ``k``, with ``action_mask[s, a]``. Padding action slots repeat the state's first action (so a maximum
over all slots equals the maximum over the available ones) and padding outcome slots have probability 0.

``layout_to_dot`` writes a gridworld layout in this format (states ``"(r, c)"``, action nodes
``"down__(0, 0)"``, outcome nodes ``"(1, 0)__down__(0, 0)"``), with slip (docs/concepts.md#slip) in the
stochastic form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np

from multipower.envs.dot import DotError, parse_dot
from multipower.envs.layouts import ACTION_NAMES, LayoutLike, load_layout
from multipower.envs.serialization import read_bounded
from multipower.envs.slip import check_slip, slip_matrix

#: Largest accepted ``|Σ weights - 1|`` over the outcomes of one action node.
WEIGHT_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class GraphMDP:
    """A finite single-agent MDP as padded arrays (``n`` states, up to ``A`` actions, up to ``K`` outcomes).

    Attributes:
        name: The graph's name (or the file's stem).
        states: ``(n,)`` state names, in graph order (module docstring).
        action_names: ``(n, A)`` action labels (the action node's ``ACTION`` part; the target state's name in the
            deterministic form); ``""`` in padding slots.
        action_mask: ``(n, A)`` bool, True on available actions.
        next_state: ``(n, A, K)`` int64 next-state indices.
        prob: ``(n, A, K)`` float64 outcome probabilities; each available action's row sums to 1.
        stochastic: Whether the graph was in the stochastic form.
        text: The DOT source (saved with results so a run can be rebuilt).
    """

    name: str
    states: tuple
    action_names: np.ndarray
    action_mask: np.ndarray
    next_state: np.ndarray
    prob: np.ndarray
    stochastic: bool
    text: str

    @property
    def n_states(self) -> int:
        return len(self.states)

    @property
    def n_actions(self) -> int:
        """Action slots per state (the most actions of any state)."""
        return self.action_mask.shape[1]

    def transition_matrix(self) -> np.ndarray:
        """Dense ``(n, A, n)`` transition probabilities ``P[s, a, s']`` (padding slots repeat action 0)."""
        n, A, K = self.next_state.shape
        P = np.zeros((n, A, n))
        s, a = np.meshgrid(np.arange(n), np.arange(A), indexing="ij")
        np.add.at(P, (np.repeat(s[..., None], K, 2), np.repeat(a[..., None], K, 2), self.next_state), self.prob)
        return P

    def index(self, state: str) -> int:
        """Index of the state named ``state``; ``ValueError`` naming it if there is none."""
        try:
            return self.states.index(state)
        except ValueError:
            raise ValueError(f"state {state!r} is not in graph {self.name!r}") from None


# --------------------------------------------------------------------------------------------------
# Reading


#: Example graphs shipped with the package, loaded by name (``load_graph_mdp("figure1")``, ``--mdp figure1``):
#: ``figure1``, the 8-state MDP of Figure 1 of "Optimal policies tend to seek power" (deterministic form), and
#: ``three_states``, a 3-state MDP in the stochastic form.
BUILTIN_GRAPHS = ("figure1", "three_states", "joint_grid2x2_crash")


def load_graph_mdp(source: Union[str, Path]) -> GraphMDP:
    """Read a DOT file (``.gv``/``.dot``), or a built-in graph by name (``BUILTIN_GRAPHS``), as a ``GraphMDP``.

    A name in ``BUILTIN_GRAPHS`` reads the packaged graph unless a file of that name exists in the working
    directory.

    Raises:
        ValueError: one line naming the file and the node or edge at fault: a file that is missing, binary or
            not DOT, an undirected graph, subgraphs, an empty graph, a dead end (a state with no action, an action
            node with no outcome), an edge to an undeclared node, mixed forms, a missing, non-numeric, non-finite
            or negative weight, or weights that do not sum to 1 within ``WEIGHT_TOL``.
    """
    text, name, where = read_graph_text(source)
    return parse_graph_mdp(text, name=name, where=where)


def read_graph_text(source: Union[str, Path], param: str = "mdp") -> tuple[str, str, str]:
    """``(DOT text, name, where)`` of a graph file or a built-in graph's name (``BUILTIN_GRAPHS``); ``where``
    names it in errors. ``ValueError("<param>: ...")`` for a file that is missing, not a regular file, too large
    (``multipower.envs.serialization.read_bounded``), binary or not UTF-8."""
    path = Path(source)
    if str(source) in BUILTIN_GRAPHS and not path.exists():
        text = resources.files("multipower.envs").joinpath("graphs", f"{source}.gv").read_text()
        return text, str(source), f"built-in graph {source!r}"
    data = read_bounded(path, param)
    if b"\0" in data:
        raise ValueError(f"{param}: {path} is a binary file, not a DOT graph")
    try:
        return data.decode("utf-8").removeprefix("\ufeff"), path.stem, str(path)  # a byte-order mark is not DOT
    except UnicodeDecodeError:
        raise ValueError(f"{param}: {path} is not UTF-8 text, not a DOT graph") from None


def parse_graph_mdp(text: str, name: str = "graph", where: str = "graph") -> GraphMDP:
    """A ``GraphMDP`` from DOT source ``text``; ``where`` names it in errors. Errors as ``load_graph_mdp``."""
    nodes, _, edges, title = _read_dot(text, where)
    if not nodes:
        raise ValueError(f"mdp: {where} is an empty graph (no nodes)")
    stochastic = any("__" in n for n in nodes) or any("weight" in attrs for _, _, attrs in edges)
    build = _stochastic if stochastic else _deterministic
    states, actions = build(nodes, edges, where)
    return _arrays(title or name, states, actions, stochastic, text)


def _read_dot(text: str, where: str) -> tuple[list, set, list, str]:
    """``(nodes in order of first appearance, declared nodes, edges (src, dst, attrs), graph name)`` of a DOT
    digraph (``multipower.envs.dot``)."""
    try:
        graph = parse_dot(text)
    except DotError as error:
        raise ValueError(f"mdp: {where} is not a DOT graph we read ({error})") from None
    if not graph.directed:
        raise ValueError(f"mdp: {where} is an undirected graph; an MDP graph is a digraph")
    return graph.nodes, graph.declared, graph.edges, graph.name


def _unquote(name: str) -> str:
    """A DOT identifier as written, without its quotes."""
    name = str(name)
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1].replace('\\"', '"')
    return name


def _deterministic(nodes: list, edges: list, where: str) -> tuple[list, list]:
    """States and, per state, its actions ``(label, [(next, p)])``: one action per edge."""
    index = {s: i for i, s in enumerate(nodes)}
    actions = [[] for _ in nodes]
    for src, dst, _ in edges:
        actions[index[src]].append((dst, [(index[dst], 1.0)]))
    return nodes, actions


def _stochastic(nodes: list, edges: list, where: str) -> tuple[list, list]:
    """States and their actions from state -> action node -> outcome node edges (module docstring)."""
    states = [n for n in nodes if "__" not in n]
    index = {s: i for i, s in enumerate(states)}
    action_of = {}  # action node -> (state index, label)
    for src, dst, attrs in edges:
        if src not in index:
            continue
        edge = f'edge "{src}" -> "{dst}"'
        if dst in index:
            raise ValueError(f"mdp: {where}: {edge} joins two states in a stochastic graph (mixed forms): link a state "
                             f"to action nodes ACTION__STATE, and those to outcome nodes NEXT__ACTION__STATE")
        if not dst.endswith("__" + src) or len(dst) == len(src) + 2:
            raise ValueError(f'mdp: {where}: {edge}: an action node of state "{src}" must be named "ACTION__{src}"')
        if "weight" in attrs:
            raise ValueError(f"mdp: {where}: {edge} has a weight; weights belong on action -> outcome edges")
        if dst in action_of:
            raise ValueError(f"mdp: {where}: {edge} is repeated")
        action_of[dst] = (index[src], dst[: -len(src) - 2])
    outcomes = {a: [] for a in action_of}
    for src, dst, attrs in edges:
        if src in index:
            continue
        edge = f'edge "{src}" -> "{dst}"'
        if src not in action_of:
            raise ValueError(f'mdp: {where}: {edge} leaves "{src}", which is neither a state nor an action node '
                             f"linked from its state")
        if not dst.endswith("__" + src):
            raise ValueError(f'mdp: {where}: {edge}: an outcome node of "{src}" must be named "NEXT__{src}"')
        nxt = dst[: -len(src) - 2]
        if nxt not in index:
            raise ValueError(f'mdp: {where}: {edge}: outcome "{dst}" leads to "{nxt}", which is not a state node')
        outcomes[src].append((index[nxt], _weight(attrs, edge, where)))
    linked = set(action_of) | {f"{states[i]}__{a}" for a, pairs in outcomes.items() for i, _ in pairs}
    for node in nodes:
        if "__" in node and node not in linked:
            raise ValueError(f'mdp: {where}: node "{node}" is neither an action node linked from its state nor an '
                             f"outcome node linked from its action node")
    actions = [[] for _ in states]
    for node, (s, label) in action_of.items():
        pairs = outcomes[node]
        if not pairs:
            raise ValueError(f'mdp: {where}: action node "{node}" has no outcome (a dead end)')
        total = math.fsum(p for _, p in pairs)
        if abs(total - 1.0) > WEIGHT_TOL:
            raise ValueError(f'mdp: {where}: the weights of action node "{node}" sum to {total:.9g}, not 1 '
                             f"(tolerance {WEIGHT_TOL:g})")
        actions[s].append((label, [(j, p / total) for j, p in pairs]))
    return states, actions


def _weight(attrs: dict, edge: str, where: str) -> float:
    if "weight" not in attrs:
        raise ValueError(f'mdp: {where}: {edge} has no weight; every action -> outcome edge needs weight="p" '
                         f"(mixed forms)")
    try:
        p = float(attrs["weight"])
    except ValueError:
        raise ValueError(f"mdp: {where}: {edge} has weight {attrs['weight']!r}, not a number") from None
    if not math.isfinite(p) or p < 0 or p > 1 + WEIGHT_TOL:
        raise ValueError(f"mdp: {where}: {edge} has weight {attrs['weight']!r}; weights are probabilities in [0, 1]")
    return p


def _arrays(name: str, states: list, actions: list, stochastic: bool, text: str) -> GraphMDP:
    for s, acts in zip(states, actions):
        if not acts:
            raise ValueError(f'mdp: graph {name!r}: state "{s}" has no action (a dead end); give it an outgoing edge '
                             f'(a self-loop "{s}" -> "{s}" to stay)')
    n = len(states)
    A = max(len(a) for a in actions)
    K = max(len(pairs) for acts in actions for _, pairs in acts)
    names = np.full((n, A), "", dtype=object)
    mask = np.zeros((n, A), dtype=bool)
    nxt = np.zeros((n, A, K), dtype=np.int64)
    prob = np.zeros((n, A, K))
    for s, acts in enumerate(actions):
        for a, (label, pairs) in enumerate(acts):
            names[s, a], mask[s, a] = label, True
            for k, (j, p) in enumerate(pairs):
                nxt[s, a, k], prob[s, a, k] = j, p
            nxt[s, a, len(pairs):] = pairs[0][0]
    first = np.broadcast_to(nxt[:, :1], nxt.shape)
    nxt = np.where(mask[:, :, None], nxt, first)  # padding actions repeat action 0
    prob = np.where(mask[:, :, None], prob, np.broadcast_to(prob[:, :1], prob.shape))
    return GraphMDP(name, tuple(states), names, mask, nxt, prob, stochastic, text)


# --------------------------------------------------------------------------------------------------
# Writing


def cell_name(row: int, col: int) -> str:
    """POWERplay's gridworld state name ``"(r, c)"``."""
    return f"({row}, {col})"


def layout_to_dot(layout: LayoutLike, slip: float = 0.0) -> str:
    """A layout's single-agent MDP as DOT text: deterministic form when ``slip == 0``, else stochastic.

    States are ``"(r, c)"`` in the layout's cell order (declared first, so ``parse_graph_mdp`` numbers them
    as the layout does); every node is declared, as POWERplay's files do. Deterministic: one edge per available move (``stay`` is the self-loop). Stochastic:
    action node ``"MOVE__(r, c)"`` per available move (``stay``, ``up``, ``down``, ``left``, ``right``) and an
    outcome node ``"(r', c')__MOVE__(r, c)"`` per effective move of positive probability, weighted by
    ``multipower.envs.slip.slip_matrix`` (docs/concepts.md#slip).
    """
    grid = load_layout(layout)
    slip = check_slip(slip)
    names = [cell_name(int(r), int(c)) for r, c in grid.cells]
    moves, mask = grid.move_table(), grid.action_mask()
    title = grid.name if slip == 0 else f"{grid.name} slip {slip:g}"
    lines = [f"digraph {_quote(title)} {{"] + [f"{_quote(s)};" for s in names]
    if slip == 0:
        lines += [f"{_quote(names[c])} -> {_quote(names[moves[c, a]])};" for c, a in zip(*np.nonzero(mask))]
        return "\n".join(lines + ["}"]) + "\n"
    P = slip_matrix(mask, slip)
    for c, a in zip(*np.nonzero(mask)):
        action = f"{ACTION_NAMES[a]}__{names[c]}"
        lines += [f"{_quote(action)};", f"{_quote(names[c])} -> {_quote(action)};"]
        for e in np.flatnonzero(P[c, a] > 0):
            outcome = f"{names[moves[c, e]]}__{action}"
            lines += [f"{_quote(outcome)};", f'{_quote(action)} -> {_quote(outcome)} [weight="{float(P[c, a, e])!r}"];']
    return "\n".join(lines + ["}"]) + "\n"


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '\\"') + '"'
