"""Heat maps of POWER: the joint heat map of the posts (a grid of small grids: the outer position is A's cell,
inside a block each cell is H's position) and the single-agent heat map over the layout, with the coordinates of
both agents on the axes."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle

from multipower.envs.layouts import Layout
from multipower.plots.style import ANNOTATE_MAX_SQUARES, BLOCK_GAP, CMAP, _figure, describe, plt
from multipower.runs.results import PowerResult


#: What the diagnostic ``_seed`` columns are, said in their heat maps' titles.
_SEED_TITLES = {"power_H_seed": "POWER_H_seed: H's POWER against A's seed policy (stage 1, before A learns)",
                "power_A_seed": "POWER_A_seed: A's POWER following its seed policy (H as in stage 1)"}


# --------------------------------------------------------------------------------------------- heat maps
def _edges(n_blocks: int, block: int, gap: float) -> np.ndarray:
    """Edges of ``n_blocks`` blocks of ``block`` unit cells separated by one gap column of width ``gap``."""
    widths = np.tile(np.append(np.ones(block), gap), n_blocks)[:-1]
    return np.concatenate([[0.0], np.cumsum(widths)])


def _coordinate_ticks(ax, x_edges: np.ndarray, y_edges: np.ndarray, rows: int, cols: int) -> None:
    """Coordinates on a joint heat map: A's cell on the outer axes (bottom: A's column, left: A's row, one tick
    per block), H's cell on the inner ones (top: H's column, right: H's row, along the first block)."""
    def centres(edges, first, last):
        return (edges[first] + edges[last + 1]) / 2

    block_x = [centres(x_edges, b * (cols + 1), b * (cols + 1) + cols - 1) for b in range(cols)]
    block_y = [centres(y_edges, b * (rows + 1), b * (rows + 1) + rows - 1) for b in range(rows)]
    size = 6 if max(rows, cols) <= 10 else 4
    ax.set_xticks(block_x, [str(c) for c in range(cols)], fontsize=size)
    ax.set_yticks(block_y, [str(r) for r in range(rows)], fontsize=size)
    ax.set_xlabel("A's column (block)", fontsize=7, labelpad=1)
    ax.set_ylabel("A's row (block)", fontsize=7, labelpad=1)
    top, right = ax.secondary_xaxis("top"), ax.secondary_yaxis("right")
    top.set_xticks([centres(x_edges, c, c) for c in range(cols)], [str(c) for c in range(cols)], fontsize=size)
    right.set_yticks([centres(y_edges, r, r) for r in range(rows)], [str(r) for r in range(rows)], fontsize=size)
    top.set_xlabel("H's column (cell in the block)", fontsize=7, labelpad=1)
    right.set_ylabel("H's row", fontsize=7, labelpad=1)
    for axis in (ax, top, right):
        axis.tick_params(length=1.5, pad=1)
        for spine in axis.spines.values():
            spine.set_visible(False)


def _text_colours(values: np.ndarray, norm, cmap) -> np.ndarray:
    rgba = cmap(norm(values))
    luminance = 0.299 * rgba[:, 0] + 0.587 * rgba[:, 1] + 0.114 * rgba[:, 2]
    return np.where(luminance > 0.5, "black", "white")


def _decimals(layout: Layout) -> int:
    return 4 if layout.n_cells <= 9 else 3


#: A figure scaled to a page's text width (16 cm) must keep its values at least this large, in points, or drop them.
PAGE_INCHES = 16 / 2.54
MIN_PRINTED_POINTS = 6.0


def _should_annotate(layout: Layout, annotate: Optional[bool]) -> bool:
    return layout.grid.size <= ANNOTATE_MAX_SQUARES if annotate is None else bool(annotate)


def joint_image(result: PowerResult, column: str) -> tuple:
    """The joint heat map as one array with gap rows/columns: ``(values, row_index, col_index)``.

    ``values`` has NaN wherever nothing is drawn (walls, forbidden states, gaps); ``row_index`` and
    ``col_index`` give each state's position in it (vectorised over states).
    """
    layout = result.layout
    rows, cols = layout.shape
    labels = result.labels
    row_index = labels[:, 2] * (rows + 1) + labels[:, 0]  # A's row picks the block, H's row the cell
    col_index = labels[:, 3] * (cols + 1) + labels[:, 1]
    image = np.full((rows * (rows + 1) - 1, cols * (cols + 1) - 1), np.nan)
    image[row_index, col_index] = result[column]
    return image, row_index, col_index


def plot_joint_heatmap(
    result: PowerResult,
    agent: str = "H",
    column: Optional[str] = None,
    annotate: Optional[bool] = None,
    highlight: Sequence[tuple] = (),
    title: Optional[str] = None,
    cell_inches: Optional[float] = None,
):
    """Joint heat map of one agent's POWER (the posts' main figure).

    Args:
        result: A ``"joint"`` ``PowerResult``.
        agent: ``"H"`` or ``"A"``; picks the column ``power_<agent>`` unless ``column`` is given.
        column: Any per-state column to draw instead (e.g. ``power_H_seed``).
        annotate: Write each value in its cell; default: for worlds of at most ``ANNOTATE_MAX_SQUARES`` grid
            squares, and only where the values stay at least ``MIN_PRINTED_POINTS`` (6 pt) high when the figure is
            scaled to a page's 16 cm (grid3x3 keeps them; maze7x7 drops them for the colour bar).
        highlight: States to circle, each ``(label, (h_row, h_col), (a_row, a_col))``.
        title: Figure title; default names the column and ``describe`` of the config.
        cell_inches: Size of one cell in inches (default from the world's size).
    """
    if result.kind != "joint":
        raise ValueError(f"plot_joint_heatmap needs a joint result, got kind {result.kind!r}")
    if agent not in ("H", "A"):
        raise ValueError(f"agent must be 'H' or 'A', got {agent!r}")
    column = column or f"power_{agent}"
    if column not in result.arrays:
        raise ValueError(f"column must be one of {tuple(result.arrays)}, got {column!r}")
    layout = result.layout
    rows, cols = layout.shape
    auto = annotate is None
    annotate = _should_annotate(layout, annotate)
    image, row_index, col_index = joint_image(result, column)
    x_edges = _edges(cols, cols, BLOCK_GAP)
    y_edges = _edges(rows, rows, BLOCK_GAP)
    if cell_inches is None:
        cell_inches = 0.55 if layout.n_cells <= 9 else (0.32 if annotate else max(0.035, 9.0 / x_edges[-1]))
    width, height = x_edges[-1] * cell_inches, y_edges[-1] * cell_inches
    # room around the map for the coordinates (A's: bottom and left; H's: top and right) and the colour bar
    fig_w, fig_h = width + 2.1, height + 1.3
    fontsize = max(3.0, min(9.0, cell_inches * 72 * 0.27))
    if auto and annotate and fontsize * min(1.0, PAGE_INCHES / fig_w) < MIN_PRINTED_POINTS:
        annotate = False  # values too small to read on a page: the colour bar tells them
    fig = _figure(fig_w, fig_h)
    ax = fig.add_axes([0.5 / fig_w, 0.4 / fig_h, width / fig_w, height / fig_h])
    cax = fig.add_axes([(width + 1.0) / fig_w, 0.4 / fig_h, 0.18 / fig_w, height / fig_h])
    values = result[column]
    cmap = plt.get_cmap(CMAP)
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(image), cmap=cmap, vmin=values.min(), vmax=values.max())
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(y_edges[-1], y_edges[0])
    ax.set_aspect("equal")
    _coordinate_ticks(ax, x_edges, y_edges, rows, cols)
    # A thin frame around every block whose A-cell is open, and A's own cell outlined in red inside it.
    a_cells = layout.cells
    block_x = x_edges[a_cells[:, 1] * (cols + 1)]
    block_y = y_edges[a_cells[:, 0] * (rows + 1)]
    frames = [Rectangle((x, y), cols, rows) for x, y in zip(block_x, block_y)]
    ax.add_collection(PatchCollection(frames, facecolor="none", edgecolor="0.75", linewidth=0.5))
    own = [Rectangle((x + c, y + r), 1, 1) for x, y, (r, c) in zip(block_x, block_y, a_cells)]
    ax.add_collection(PatchCollection(own, facecolor="none", edgecolor="red", linewidth=1.6 if annotate else 0.8))
    if annotate:
        norm = mesh.norm
        colours = _text_colours(values, norm, cmap)
        decimals = _decimals(layout)
        x_centres = (x_edges[col_index] + x_edges[col_index + 1]) / 2
        y_centres = (y_edges[row_index] + y_edges[row_index + 1]) / 2
        for x, y, v, c in zip(x_centres, y_centres, values, colours):
            ax.text(x, y, f"{v:.{decimals}f}", ha="center", va="center", fontsize=fontsize, color=c)
    for label, h_cell, a_cell in highlight:
        (hr, hc), (ar, ac) = h_cell, a_cell
        i, j = ar * (rows + 1) + hr, ac * (cols + 1) + hc
        x, y = (x_edges[j] + x_edges[j + 1]) / 2, (y_edges[i] + y_edges[i + 1]) / 2
        ax.add_patch(plt.Circle((x, y), 0.62, fill=False, edgecolor="magenta", linewidth=1.8))
        ax.text(x + 0.55, y - 0.55, str(label), color="magenta", fontsize=8, fontweight="bold", ha="left", va="bottom")
    if highlight:  # the legend of the circles: which joint state each label is (the posts name them s1, s2, ...)
        legend = "; ".join(f"{label}: H ({h[0]},{h[1]}), A ({a[0]},{a[1]})" for label, h, a in highlight)
        fig.text(0.5 / fig_w, 0.08 / fig_h, f"circled (published states): {legend}", color="magenta", fontsize=7,
                 ha="left", va="bottom")
    fig.colorbar(mesh, cax=cax, label=column.replace("power_", "POWER_"))
    if title is None:
        name = _SEED_TITLES.get(column, column.replace("power_", "POWER_"))
        title = f"{name} (block: A's cell, red; cell in block: H's cell)\n{describe(result.config)}"
    fig.suptitle(title, fontsize=10, y=1 - 0.06 / fig_h, va="top")
    return fig


def plot_single_heatmap(result: PowerResult, column: str = "power", annotate: Optional[bool] = None, title: Optional[str] = None):
    """Single-agent POWER over the layout; walls blank, values written in the cells of small worlds."""
    if result.kind != "single":
        raise ValueError(f"plot_single_heatmap needs a single-agent result, got kind {result.kind!r}")
    if column not in result.arrays:
        raise ValueError(f"column must be one of {tuple(result.arrays)}, got {column!r}")
    layout = result.layout
    rows, cols = layout.shape
    annotate = layout.grid.size <= 400 if annotate is None else annotate
    image = np.full((rows, cols), np.nan)
    values = result[column]
    image[result.labels[:, 0], result.labels[:, 1]] = values
    cell = 0.6 if cols <= 10 else 0.45
    fig, ax = plt.subplots(figsize=(cols * cell + 1.8, rows * cell + 1.2))
    cmap = plt.get_cmap(CMAP)
    span = values.max() - values.min()
    vmin, vmax = (values.min(), values.max()) if span > 0 else (values.min() - 1e-3, values.max() + 1e-3)
    mesh = ax.pcolormesh(np.ma.masked_invalid(image), cmap=cmap, vmin=vmin, vmax=vmax, edgecolors="0.85", linewidth=0.5)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(cols) + 0.5, [str(c) for c in range(cols)])
    ax.set_yticks(np.arange(rows) + 0.5, [str(r) for r in range(rows)])
    ax.tick_params(length=0, labelsize=7)
    if annotate:
        colours = _text_colours(values, mesh.norm, cmap)
        size = 8 if cols <= 10 else 5
        for (r, c), v, colour in zip(result.labels, values, colours):
            ax.text(c + 0.5, r + 0.5, f"{v:.3f}", ha="center", va="center", fontsize=size, color=colour)
    fig.colorbar(mesh, ax=ax, label=column.replace("power", "POWER"), shrink=0.85)
    ax.set_title(title or f"Single-agent POWER\n{describe(result.config)}", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- scatter plots
