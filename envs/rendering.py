"""Drawing a layout with agents on it: text (``"ansi"``) and images (``"rgb_array"``).

Shared by the joint maze (``multipower.envs.maze_v1``) and the single-agent maze (``multipower.envs.single_maze``).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from multipower.envs.layouts import OPEN, WALL, Layout

#: Colours (RGB) of the image renderer.
WALL_COLOUR = np.array([40, 40, 48], dtype=np.uint8)
FLOOR_COLOUR = np.array([235, 235, 228], dtype=np.uint8)
AGENT_COLOURS = {
    "H": np.array([40, 110, 230], dtype=np.uint8),  # blue
    "A": np.array([225, 60, 45], dtype=np.uint8),  # red
}
OVERLAP_CHAR = "X"
DEFAULT_CELL_PX = 8
#: Largest ``"rgb_array"`` frame, in bytes (64 MiB: a 20×20 layout at 1,000 pixels per cell is 1.2 GB).
MAX_FRAME_BYTES = 1 << 26


def check_cell_px(cell_px, layout: Layout) -> int:
    """``cell_px`` as an int: an integer of at least 3 whose frames of ``layout`` fit ``MAX_FRAME_BYTES``;
    ``ValueError`` naming ``cell_px`` otherwise (checked when the environment is built, not at the first frame)."""
    if isinstance(cell_px, bool) or not isinstance(cell_px, (int, np.integer)) or cell_px < 3:
        raise ValueError(f"cell_px must be an integer of at least 3, got {cell_px!r}")
    rows, cols = layout.shape
    if rows * cols * int(cell_px) ** 2 * 3 > MAX_FRAME_BYTES:
        largest = int((MAX_FRAME_BYTES / (3 * rows * cols)) ** 0.5)
        raise ValueError(f"cell_px must be at most {largest} for a {rows}x{cols} layout (frames of at most "
                         f"{MAX_FRAME_BYTES >> 20} MiB), got {cell_px}")
    return int(cell_px)


def render_ansi(layout: Layout, cells: Mapping[str, int]) -> str:
    """Text grid: ``#`` walls, ``.`` open cells, each agent's name on its cell, ``X`` where agents overlap.

    Args:
        layout: The layout.
        cells: Agent name (one character) -> cell index.
    """
    grid = [[OPEN if c else WALL for c in row] for row in layout.grid]
    seen: dict[int, str] = {}
    for name, cell in cells.items():
        row, col = layout.cells[cell]
        grid[row][col] = OVERLAP_CHAR if cell in seen else name
        seen[cell] = name
    return "\n".join("".join(row) for row in grid)


def render_rgb(layout: Layout, cells: Mapping[str, int], cell_px: int = DEFAULT_CELL_PX) -> np.ndarray:
    """``(rows * cell_px, cols * cell_px, 3)`` uint8 image: walls dark, floor light, agents as coloured squares.

    Overlapping agents share their cell: the first drawn fills the left half of the square, the next the right.

    Args:
        layout: The layout.
        cells: Agent name -> cell index; a name in ``AGENT_COLOURS`` gets its colour, others grey.
        cell_px: Pixels per cell side (at least 3).
    """
    if cell_px < 3:
        raise ValueError(f"cell_px must be at least 3, got {cell_px}")
    tiles = np.where(layout.grid[..., None], FLOOR_COLOUR, WALL_COLOUR)
    image = np.repeat(np.repeat(tiles, cell_px, axis=0), cell_px, axis=1)
    margin = max(1, cell_px // 6)
    by_cell: dict[int, list[str]] = {}
    for name, cell in cells.items():
        by_cell.setdefault(int(cell), []).append(name)
    for cell, names in by_cell.items():
        row, col = layout.cells[cell]
        top, left = row * cell_px + margin, col * cell_px + margin
        size = cell_px - 2 * margin
        edges = np.linspace(0, size, len(names) + 1).round().astype(int)
        for name, start, stop in zip(names, edges[:-1], edges[1:]):
            colour = AGENT_COLOURS.get(name, np.array([128, 128, 128], dtype=np.uint8))
            image[top : top + size, left + start : left + stop] = colour
    return image
