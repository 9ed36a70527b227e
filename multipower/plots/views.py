"""Views of joint POWER for worlds too large for a joint heat map (the 20×20 robot face has 48,400 joint states).

A joint heat map draws one block per cell of A: at 220 cells it is 220 blocks of 220 cells, unreadable. These
views reduce the joint state to what a reader compares, each on the layout's own grid:

* ``plot_marginal_maps`` — each agent's POWER averaged over the other agent's positions: where a cell is worth
  holding whoever the other agent is.
* ``plot_given_other`` — one agent's POWER over its own cell, with the other agent held at a few cells (by
  default where each agent's POWER peaks and where the other agent's own marginal is highest and lowest).
* ``plot_peaks`` — the joint states where each agent's POWER is highest, drawn as H and A on the grid.

With ``plot_alignment`` (``multipower.plots.figures``) they are the figures ``plot_result`` draws for a joint
result whose layout has more than ``JOINT_MAP_MAX_CELLS`` open cells.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from multipower.plots.style import CMAP, _figure, describe
from multipower.runs.results import PowerResult

#: Joint results of layouts with more open cells than this get these views instead of joint heat maps (maze7x7
#: has 31 open cells, the robot face 220).
JOINT_MAP_MAX_CELLS = 64
AGENTS = ("H", "A")


def cell_map(result: PowerResult, values: np.ndarray, agent: str) -> np.ndarray:
    """``(rows, cols)`` the mean of ``values`` (one per joint state) over the joint states where ``agent`` is at each
    cell; NaN at walls (and at cells no joint state puts the agent on)."""
    rows, cols = result.layout.shape
    labels = np.asarray(result.labels, dtype=np.int64)
    r, c = (labels[:, 0], labels[:, 1]) if agent == "H" else (labels[:, 2], labels[:, 3])
    flat = r * cols + c
    total = np.bincount(flat, weights=values, minlength=rows * cols)
    count = np.bincount(flat, minlength=rows * cols)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).reshape(rows, cols)


def given_other(result: PowerResult, agent: str, other_cell: tuple) -> np.ndarray:
    """``(rows, cols)`` ``agent``'s POWER over its own cell with the other agent at ``other_cell``; NaN where
    ``agent`` cannot be (walls; the other agent's cell under the no-overlap rules)."""
    rows, cols = result.layout.shape
    labels = np.asarray(result.labels, dtype=np.int64)
    own, other = (labels[:, :2], labels[:, 2:]) if agent == "H" else (labels[:, 2:], labels[:, :2])
    at = (other[:, 0] == other_cell[0]) & (other[:, 1] == other_cell[1])
    if not at.any():
        raise ValueError(f"other_cell: {tuple(other_cell)} is not a cell the other agent can occupy")
    image = np.full((rows, cols), np.nan)
    image[own[at, 0], own[at, 1]] = result[f"power_{agent}"][at]
    return image


def peak_indices(result: PowerResult, agent: str, k: int = 3) -> np.ndarray:
    """``(k,)`` the joint states where ``agent``'s POWER is highest, highest first (ties: lowest index first)."""
    return np.argsort(-result[f"power_{agent}"], kind="stable")[:k]


def peak_states(result: PowerResult, agent: str, k: int = 3) -> np.ndarray:
    """``(k, 4)`` the cells ``(h_row, h_col, a_row, a_col)`` of ``peak_indices``' joint states."""
    return np.asarray(result.labels, dtype=np.int64)[peak_indices(result, agent, k)]


def default_positions(result: PowerResult, agent: str) -> list[tuple]:
    """The other agent's cells that ``plot_given_other`` holds by default: at the peak of ``agent``'s POWER, at the
    peak of the other agent's POWER, and where the other agent's marginal POWER is highest and lowest."""
    other = "A" if agent == "H" else "H"
    at_other = slice(2, 4) if agent == "H" else slice(0, 2)
    cells = [tuple(peak_states(result, agent, 1)[0][at_other]), tuple(peak_states(result, other, 1)[0][at_other])]
    marginal = cell_map(result, result[f"power_{other}"], other)
    for pick in (np.nanargmax, np.nanargmin):
        cells.append(tuple(int(v) for v in np.unravel_index(pick(marginal), marginal.shape)))
    unique = []
    for cell in cells:
        cell = (int(cell[0]), int(cell[1]))
        if cell not in unique:
            unique.append(cell)
    return unique


def plot_marginal_maps(result: PowerResult, title: Optional[str] = None):
    """Two maps: POWER_H averaged over A's positions (on H's cell), POWER_A averaged over H's (on A's cell)."""
    _check(result)
    fig, axes = _panels(result, 2)
    for ax, agent in zip(axes, AGENTS):
        other = "A" if agent == "H" else "H"
        image = cell_map(result, result[f"power_{agent}"], agent)
        _draw(fig, ax, image, f"POWER_{agent} on {agent}'s cell, mean over {other}'s cells")
    fig.suptitle(title or f"Each agent's POWER, averaged over the other's position\n{describe(result.config)}",
                 fontsize=10)
    return _tight(fig)


def plot_given_other(result: PowerResult, agent: str = "H", positions: Optional[Sequence[tuple]] = None,
                     title: Optional[str] = None):
    """``agent``'s POWER over its own cell, one panel per cell of the other agent (``positions``, default
    ``default_positions``), the other agent marked. One colour scale for all panels."""
    _check(result)
    if agent not in AGENTS:
        raise ValueError(f"agent must be 'H' or 'A', got {agent!r}")
    other = "A" if agent == "H" else "H"
    positions = list(positions) if positions is not None else default_positions(result, agent)
    images = [given_other(result, agent, cell) for cell in positions]
    low, high = np.nanmin(images), np.nanmax(images)
    fig, axes = _panels(result, len(images))
    for ax, image, cell in zip(axes, images, positions):
        _draw(fig, ax, image, f"{other} at ({cell[0]}, {cell[1]})", low, high)
        ax.text(cell[1], cell[0], other, ha="center", va="center", color="red", fontsize=9, fontweight="bold")
    fig.suptitle(title or f"POWER_{agent} over {agent}'s cell with {other} held in place\n{describe(result.config)}",
                 fontsize=10)
    return _tight(fig)


def plot_peaks(result: PowerResult, k: int = 3, title: Optional[str] = None):
    """The ``k`` joint states where each agent's POWER is highest: H (blue) and A (red) on the layout, one panel
    per agent, the states numbered from the highest."""
    _check(result)
    fig, axes = _panels(result, 2)
    open_cells = cell_map(result, np.zeros(len(result.labels)), "H")
    for ax, agent in zip(axes, AGENTS):
        ax.imshow(np.where(np.isnan(open_cells), 0.25, 0.95), cmap="gray", vmin=0, vmax=1)  # walls dark
        lines = []
        labels = np.asarray(result.labels, dtype=np.int64)
        for rank, i in enumerate(peak_indices(result, agent, k), start=1):
            hr, hc, ar, ac = labels[i]
            ax.plot([hc, ac], [hr, ar], color="0.4", linewidth=0.8)
            ax.text(hc, hr, f"H{rank}", ha="center", va="center", color="tab:blue", fontsize=8, fontweight="bold")
            ax.text(ac, ar, f"A{rank}", ha="center", va="center", color="tab:red", fontsize=8, fontweight="bold")
            value = result[f"power_{agent}"][i]
            lines.append(f"{rank}: H ({hr},{hc}), A ({ar},{ac}): {value:.3f}")
        ax.set_title(f"highest POWER_{agent}", fontsize=8)
        ax.set_xlabel("\n".join(lines), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"Where each agent's POWER peaks\n{describe(result.config)}", fontsize=10)
    return _tight(fig)


def _tight(fig):
    """Panels laid out below the two-line title."""
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def _check(result: PowerResult) -> None:
    if result.kind != "joint":
        raise ValueError(f"needs a joint result on a layout, got kind {result.kind!r}")


def _panels(result: PowerResult, n: int):
    rows, cols = result.layout.shape
    per_row = min(n, 2 if n <= 4 else 3)
    grid_rows = -(-n // per_row)
    side = 3.2 if max(rows, cols) > 10 else 2.4
    fig = _figure(per_row * (side + 0.8), grid_rows * side * rows / cols + 1.2)
    axes = [fig.add_subplot(grid_rows, per_row, i + 1) for i in range(n)]
    return fig, axes


def _draw(fig, ax, image: np.ndarray, label: str, low: Optional[float] = None, high: Optional[float] = None) -> None:
    shown = ax.imshow(np.ma.masked_invalid(image), cmap=CMAP, vmin=low, vmax=high)
    ax.set_facecolor("0.25")  # walls and cells the agent cannot take
    ax.set_title(label, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)


__all__ = ["JOINT_MAP_MAX_CELLS", "cell_map", "default_positions", "given_other", "peak_indices", "peak_states",
           "plot_given_other", "plot_marginal_maps", "plot_peaks"]
