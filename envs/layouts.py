"""Gridworld layouts: ASCII text with ``.`` for an open cell and ``#`` for a wall.

Cells are named ``(row, col)`` and numbered row-major over the open cells (docs/concepts.md#layouts).
A layout is accepted everywhere as a ``Layout``, a built-in name, a file path or raw text.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Union

import numpy as np

from multipower.envs.serialization import read_bounded

OPEN, WALL = ".", "#"
BUILTIN_LAYOUTS = ("grid3x3", "maze7x7", "robot_face20x20")

#: Moves as (d_row, d_col), in action order.
ACTION_NAMES = ("stay", "up", "down", "left", "right")
ACTION_DELTAS = np.array([(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)], dtype=np.int64)
N_ACTIONS = len(ACTION_NAMES)


@dataclass(frozen=True, eq=False)
class Layout:
    """An immutable parsed layout.

    Attributes:
        name: A label (built-in name, file stem, or ``"custom"``).
        grid: Boolean array ``(rows, cols)``, True where the cell is open.
        cells: Integer array ``(n_cells, 2)`` of ``(row, col)`` of each open cell, row-major.
    """

    name: str
    grid: np.ndarray
    cells: np.ndarray = field(init=False)
    _index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cells = np.argwhere(self.grid)
        index = np.full(self.grid.shape, -1, dtype=np.int64)
        index[cells[:, 0], cells[:, 1]] = np.arange(len(cells))
        object.__setattr__(self, "cells", cells)
        object.__setattr__(self, "_index", index)

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape  # type: ignore[return-value]

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def cell_index(self, row: int, col: int) -> int:
        """Index of the open cell at ``(row, col)``; ``ValueError`` for a wall or outside the grid."""
        rows, cols = self.shape
        if not (0 <= row < rows and 0 <= col < cols) or self._index[row, col] < 0:
            raise ValueError(f"cell ({row}, {col}) is not an open cell of layout {self.name!r}")
        return int(self._index[row, col])

    def move_table(self) -> np.ndarray:
        """``(n_cells, N_ACTIONS)`` target cell of each move; an unavailable move stays in place."""
        targets = self.cells[:, None, :] + ACTION_DELTAS[None, :, :]
        rows, cols = self.shape
        inside = (targets[..., 0] >= 0) & (targets[..., 0] < rows) & (targets[..., 1] >= 0) & (targets[..., 1] < cols)
        clipped = np.where(inside[..., None], targets, 0)
        target_index = np.where(inside, self._index[clipped[..., 0], clipped[..., 1]], -1)
        stay = np.arange(self.n_cells)[:, None]
        return np.where(target_index >= 0, target_index, stay)

    def action_mask(self) -> np.ndarray:
        """``(n_cells, N_ACTIONS)`` bool: the move's target is open (``stay`` is always available)."""
        mask = self.move_table() != np.arange(self.n_cells)[:, None]
        mask[:, 0] = True
        return mask

    def is_connected(self) -> bool:
        """Whether every open cell is reachable from every other (a search that visits each cell once: linear
        time, so a 100,000-cell corridor is checked at once)."""
        moves = self.move_table().tolist()
        seen = [False] * self.n_cells
        seen[0], stack, count = True, [0], 1
        while stack:
            for nxt in moves[stack.pop()]:
                if not seen[nxt]:
                    seen[nxt] = True
                    count += 1
                    stack.append(nxt)
        return count == self.n_cells

    def to_text(self) -> str:
        return "\n".join("".join(OPEN if c else WALL for c in row) for row in self.grid)

    def __repr__(self) -> str:
        return f"Layout(name={self.name!r}, shape={self.shape}, n_cells={self.n_cells})"


def parse_layout(text: str, name: str = "custom") -> Layout:
    """Parse layout text; raise ``ValueError`` naming the problem and where it is."""
    lines = [line.rstrip("\r") for line in text.strip("\n").split("\n")]
    lines = [line.rstrip() for line in lines]
    if not any(lines):
        raise ValueError(f"layout {name!r} is empty: give one line per row, '.' open and '#' wall")
    width = len(lines[0])
    for r, line in enumerate(lines):
        if len(line) != width:
            raise ValueError(
                f"layout {name!r} has ragged rows: row {r} has {len(line)} characters, row 0 has {width}"
            )
        for c, char in enumerate(line):
            if char not in (OPEN, WALL):
                raise ValueError(
                    f"layout {name!r} has unknown character {char!r} at (row {r}, column {c}); "
                    f"allowed are '{OPEN}' (open) and '{WALL}' (wall)"
                )
    grid = np.array([[char == OPEN for char in line] for line in lines], dtype=bool)
    if not grid.any():
        raise ValueError(f"layout {name!r} has no open cell ('{OPEN}')")
    layout = Layout(name=name, grid=grid)
    if not layout.is_connected():
        warnings.warn(f"layout {name!r}: its open cells are not all connected", stacklevel=2)
    return layout


LayoutLike = Union[Layout, str, Path]

#: Largest layout file read (a 1,000 x 1,000 grid is far beyond what the solver can hold anyway).
MAX_LAYOUT_BYTES = 1 << 20


def _read_text(path: Path) -> str:
    """A layout file's text; ``ValueError`` naming the file when it is too large, unreadable or not text."""
    try:
        if path.is_file() and path.stat().st_size > MAX_LAYOUT_BYTES:
            raise ValueError(f"layout file {str(path)!r} is larger than {MAX_LAYOUT_BYTES:,} bytes; is it a layout?")
        return read_bounded(path, "layout").decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"layout file {str(path)!r} is not text (it is binary or not UTF-8); a layout is lines of "
                         f"'{OPEN}' (open) and '{WALL}' (wall)") from None
    except OSError as error:
        raise ValueError(f"layout file {str(path)!r} cannot be read: {error.strerror or error}") from None


def load_layout(layout: LayoutLike) -> Layout:
    """A ``Layout`` from a Layout, a built-in name, a file path, or layout text."""
    if isinstance(layout, Layout):
        return layout
    looks_like_text = isinstance(layout, str) and ("\n" in layout or set(layout) <= {OPEN, WALL})
    if isinstance(layout, Path) or (isinstance(layout, str) and not looks_like_text):
        text_name = str(layout)
        if text_name in BUILTIN_LAYOUTS:
            text = resources.files("multipower.envs").joinpath("layouts", f"{text_name}.txt").read_text()
            return parse_layout(text, name=text_name)
        path = Path(layout)
        if path.is_file():
            return parse_layout(_read_text(path), name=path.stem)
        raise ValueError(
            f"layout {text_name!r} is neither a built-in ({', '.join(BUILTIN_LAYOUTS)}) nor an existing file"
        )
    if isinstance(layout, str):
        return parse_layout(layout)
    raise TypeError(f"layout must be a Layout, a built-in name, a path or layout text, not {type(layout).__name__}")
