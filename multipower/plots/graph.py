"""The figure of POWER on an MDP graph: states drawn as a directed graph, coloured and labelled by POWER.

Nodes are the states; an arrow ``s -> s'`` means some action of ``s`` reaches ``s'`` with positive probability.
Graphs whose state names are all gridworld cells ``"(r, c)"`` are drawn on their grid; others in columns by
distance (fewest steps) from the first state.
"""

from __future__ import annotations

import re
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from multipower.envs.graph_mdp import GraphMDP, parse_graph_mdp  # noqa: E402
from multipower.runs.results import PowerResult  # noqa: E402

_CELL = re.compile(r"\((-?\d+), (-?\d+)\)")
#: Above this many states the nodes are drawn without text (it would not be readable).
MAX_LABELLED = 60


def result_mdp(result: PowerResult) -> GraphMDP:
    """The MDP graph a ``"graph"`` result was computed on (rebuilt from the DOT source in its config)."""
    if result.kind != "graph" or "mdp_text" not in result.config:
        raise ValueError(f"result must be a 'graph' result with the graph's DOT source, got kind {result.kind!r}")
    return parse_graph_mdp(result.config["mdp_text"], name=result.config.get("mdp", "graph"))


def state_positions(mdp: GraphMDP, graph) -> dict:
    """Node positions: ``(col, -row)`` when every state is named ``"(r, c)"``, else columns by distance from the
    first state (``networkx.multipartite_layout``)."""
    import networkx as nx

    cells = [_CELL.fullmatch(s) for s in mdp.states]
    if all(cells):
        return {s: (int(m.group(2)), -int(m.group(1))) for s, m in zip(mdp.states, cells)}
    # layers by distance from the first state (states it cannot reach form one last layer), left to right
    depth = nx.single_source_shortest_path_length(graph, mdp.states[0])
    last = max(depth.values()) + 1
    for state in mdp.states:
        graph.nodes[state]["layer"] = depth.get(state, last)
    return nx.multipartite_layout(graph, subset_key="layer", align="vertical")


def plot_graph_power(result: PowerResult, column: str = "power", title: Optional[str] = None, ax=None):
    """Draw the graph of a ``"graph"`` result with each state coloured by ``column`` (and labelled with it, up to
    ``MAX_LABELLED`` states). Returns the figure."""
    import networkx as nx

    mdp = result_mdp(result)
    values = result[column]
    n = mdp.n_states
    reach = np.zeros((n, n), dtype=bool)
    s = np.broadcast_to(np.arange(n)[:, None, None], mdp.next_state.shape)
    live = (mdp.prob > 0) & mdp.action_mask[:, :, None]
    reach[s[live], mdp.next_state[live]] = True
    graph = nx.DiGraph()
    graph.add_nodes_from(mdp.states)
    graph.add_edges_from((mdp.states[i], mdp.states[j]) for i, j in zip(*np.nonzero(reach)))
    pos = state_positions(mdp, graph)
    size = max(4.0, min(12.0, 1.2 * np.sqrt(n) + 2.5))
    fig, ax = (plt.subplots(figsize=(size + 1.2, size)) if ax is None else (ax.figure, ax))
    cmap = plt.get_cmap("viridis")
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1e-9)
    node_size = 1400 if n <= 12 else (700 if n <= MAX_LABELLED else 120)
    nx.draw_networkx_edges(graph, pos, ax=ax, node_size=node_size, arrowsize=12, edge_color="0.55",
                           connectionstyle="arc3,rad=0.12")
    nodes = nx.draw_networkx_nodes(graph, pos, ax=ax, node_size=node_size, node_color=values, cmap=cmap,
                                   vmin=norm.vmin, vmax=norm.vmax, edgecolors="0.2")
    if n <= MAX_LABELLED:
        dark = np.array([sum(cmap(norm(v))[:3]) < 1.5 for v in values])
        for i, state in enumerate(mdp.states):
            x, y = pos[state]
            ax.text(x, y, f"{state}\n{values[i]:.3f}", ha="center", va="center", fontsize=7 if n > 12 else 9,
                    color="white" if dark[i] else "black")
    fig.colorbar(nodes, ax=ax, shrink=0.8, label=column.replace("_", " "))
    cfg = result.config
    ax.set_title(title or f"POWER on {cfg.get('mdp', 'graph')}: γ = {cfg.get('gamma')}, "
                          f"{cfg.get('samples_done', cfg.get('n_samples'))} reward samples", fontsize=10)
    ax.set_axis_off()
    fig.tight_layout()
    return fig


def joint_graph_on_grid(result: PowerResult) -> Optional[PowerResult]:
    """A joint graph's result as a gridworld ``"joint"`` result (cell labels, the grid of the cells its state names
    carry, open where a cell appears, empty rows and columns of a sparse one left out:
    ``multipower.envs.joint_graph.graph_grid``) so the joint heat maps and the
    alignment plot draw it; None when a state name is not a gridworld pair ``"[(r, c)_H^(r, c)_A]"``."""
    from multipower.envs.joint_graph import graph_grid, grid_cells

    cells = grid_cells(tuple(result.labels[:, 0]))
    grid = graph_grid(cells, result.config.get("mdp", "joint graph"))
    if grid is None:
        return None
    config = {**result.config, "layout": grid.layout.name, "layout_text": grid.layout.to_text(), "drawing_grid": True}
    return PowerResult("joint", grid.grid_labels(), result.arrays, config, result.stats, result.timings)
