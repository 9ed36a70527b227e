"""Animated GIFs of a greedy rollout (``multipower.plots.rollout``): the maze with both agents, frame by frame.

Each frame ``t`` shows joint state ``s_t`` drawn by ``multipower.envs.rendering.render_rgb`` (walls dark, H blue, A red,
agents sharing a cell split its square), each agent's path so far, and a side panel with each agent's reward
``R(s_t)``, its discounted return so far ``G_t`` and the move it takes next (``up → left`` where a slip replaced
it). A rollout of ``T`` steps gives
``T + 1`` frames. Written by matplotlib's Pillow writer (no ffmpeg needed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.animation import PillowWriter  # noqa: E402

from multipower.envs.joint_graph import JointGraph  # noqa: E402
from multipower.envs.problem import JointWorld  # noqa: E402
from multipower.envs.rendering import AGENT_COLOURS, render_rgb  # noqa: E402
from multipower.envs.serialization import atomic_path  # noqa: E402
from multipower.plots.rollout import Rollout, drawing_grid  # noqa: E402

PathLike = Union[str, Path]
#: Pixels per cell of the rendered maze (matplotlib rescales it to the figure).
CELL_PX = 24
AGENTS = ("H", "A")
COLOUR_NAMES = {"H": "blue", "A": "red"}


def check_gif_path(path: PathLike, name: str = "--out") -> Path:
    """``path`` as a ``Path`` if it ends in ``.gif`` and its folder exists and is writable; else
    ``ValueError`` naming ``name``."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"{name} must be a file name ending in .gif, got {str(path)!r}")
    folder = path.parent
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ValueError(f"{name}: {str(path)!r} exists and is not a regular file (a link or a device); refusing to "
                         "replace it")
    if not folder.is_dir():
        raise ValueError(f"{name}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: folder {str(folder)!r} is not writable")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder, not a file")
    return path


def save_rollout_gif(
    model: JointWorld,
    rollout: Rollout,
    path: PathLike,
    gamma_H: float,
    gamma_A: float,
    fps: float = 2.0,
    title: str = "",
    dpi: int = 80,
) -> Path:
    """Write the rollout as an animated GIF of ``rollout.n_steps + 1`` frames; returns the path.

    The file is written to a temporary name in the same folder and renamed into place, so ``path`` is either
    the old file or the whole new one.

    Args:
        model: The joint model the rollout ran in (or a joint graph, drawn on the grid of its states' cells).
        rollout: From ``multipower.plots.rollout.greedy_rollout``.
        path: Output ``.gif`` (checked by ``check_gif_path``).
        gamma_H, gamma_A: The discounts of the returns (shown in the panel).
        fps: Frames per second in ``[0.01, 100]``.
        title: Line above the maze (the world and the policies).
        dpi: Resolution (the figure is 6.4 x 3.4 inches).
    """
    path = check_gif_path(path, "path")
    if not 0.01 <= fps <= 100:  # a GIF frame lasts 10 ms to 655 s
        raise ValueError(f"fps must be in [0.01, 100], got {fps}")
    fig, draw = _figure(model, rollout, gamma_H, gamma_A, title)
    writer = PillowWriter(fps=fps)
    # The temporary name ends in .gif (Pillow picks the format by it) and Pillow creates the file itself, so it
    # gets the usual permissions.
    try:
        with atomic_path(path) as tmp, writer.saving(fig, tmp, dpi):  # one draw per frame (FuncAnimation.save draws each twice)
            for t in range(len(rollout.states)):
                draw(t)
                writer.grab_frame()
    finally:
        plt.close(fig)
    return path


def _figure(model: JointWorld, rollout: Rollout, gamma_H: float, gamma_A: float, title: str):
    """The figure and ``draw(t)``, which updates it to frame ``t``."""
    layout = drawing_grid(model).layout if isinstance(model, JointGraph) else model.layout
    rows, cols = layout.shape
    fig = plt.figure(figsize=(6.4, 3.4))
    maze = fig.add_axes((0.02, 0.04, 0.5, 0.8))
    panel = fig.add_axes((0.55, 0.04, 0.43, 0.8))
    panel.axis("off")
    maze.set_xticks([])
    maze.set_yticks([])
    maze.set_xticks([x - 0.5 for x in range(1, cols)], minor=True)  # cell borders: open mazes have no walls
    maze.set_yticks([y - 0.5 for y in range(1, rows)], minor=True)
    maze.grid(which="minor", color="#b8b8b0", lw=1)
    maze.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    fig.suptitle(title, fontsize=9)
    extent = (-0.5, cols - 0.5, rows - 0.5, -0.5)  # data coordinates are (col, row) of cells
    image = maze.imshow(render_rgb(layout, {}, CELL_PX), extent=extent, interpolation="nearest")
    xy = layout.cells[rollout.cells]  # (T + 1, 2 agents, (row, col))
    colours = {agent: AGENT_COLOURS[agent] / 255.0 for agent in AGENTS}
    trails = {agent: maze.plot([], [], "-", color=colours[agent], lw=2, alpha=0.45)[0] for agent in AGENTS}
    labels = {agent: maze.text(0, 0, agent, ha="center", va="center", color="white", fontsize=10, weight="bold")
              for agent in AGENTS}
    text = panel.text(0.0, 1.0, "", va="top", ha="left", family="monospace", fontsize=8.5, transform=panel.transAxes)
    last = len(rollout.states) - 1

    def draw(t: int):
        h, a = rollout.cells[t]
        image.set_data(render_rgb(layout, {"H": h, "A": a}, CELL_PX))
        shared = h == a  # render_rgb splits a shared cell: H on the left half, A on the right
        for i, agent in enumerate(AGENTS):
            row, col = xy[t, i]
            labels[agent].set_position((col + (0.25 * (2 * i - 1) if shared else 0.0), row))
            offset = 0.08 * (2 * i - 1)  # H's path a little up-left of A's, so shared paths show both
            trails[agent].set_data(xy[: t + 1, i, 1] + offset, xy[: t + 1, i, 0] + offset)
        crash = "  (crash)" if rollout.crashed and t == last else ""
        maze.set_title(f"step {t} of {rollout.n_steps}{crash}", fontsize=10)
        text.set_text(_panel_text(rollout, t, gamma_H, gamma_A))
        return [image, text, *trails.values(), *labels.values()]

    return fig, draw


def _panel_text(rollout: Rollout, t: int, gamma_H: float, gamma_A: float) -> str:
    lines = []
    for agent, gamma in (("H", gamma_H), ("A", gamma_A)):
        reward = (rollout.rewards_H if agent == "H" else rollout.rewards_A)[t]
        ret = (rollout.returns_H if agent == "H" else rollout.returns_A)[t]
        lines += [
            f"{agent} ({COLOUR_NAMES[agent]}), γ_{agent} = {gamma:g}",
            f"  reward R_{agent}(s_t)  {reward:8.4f}",
            f"  return G_{agent}       {ret:8.4f}",
            f"  next move  {rollout.move_text(agent, t):>14}",
            "",
        ]
    lines.append("G_t = Σ γᵏ R(s_k) over k ≤ t")
    return "\n".join(lines)
