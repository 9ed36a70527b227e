"""Figures of POWER results (docs/reproductions.md#figures), drawn with matplotlib on the Agg backend (no display).

* ``plot_joint_heatmap`` — the posts' main figure: a grid of small grids. The outer position is A's
  cell (outlined in red inside its block); inside a block each cell is H's position, coloured (and, for
  small worlds, annotated) with one agent's POWER. Walls and forbidden states (``h == a`` under
  ``crash``/``bounce``) are left blank.
* ``plot_single_heatmap`` — single-agent POWER over the layout.
* ``plot_alignment`` — POWER_H against POWER_A, one point per joint state, α_HA in the title.
* ``plot_alpha_sweep`` — α_HA against the swept parameter (β, γ, ...), with the α = 0 line.
* ``plot_learned_vs_exact`` — re-exported from ``multipower.plots.compare``.

Every function returns the ``Figure``; ``save_figure`` writes a PNG (optionally
palette-compressed, for the README gallery) and closes it. ``plot_result`` draws every figure of one
``PowerResult``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from multipower.envs.layouts import Layout  # noqa: E402
from multipower.envs.model import single_agent_model  # noqa: E402
from multipower.plots.compare import comparison_figure, plot_learned_vs_exact  # noqa: E402,F401
from multipower.plots.heatmaps import joint_image, plot_joint_heatmap, plot_single_heatmap  # noqa: E402,F401
from multipower.plots.style import (  # noqa: E402,F401
    ANNOTATE_MAX_SQUARES,
    BLOCK_GAP,
    CMAP,
    PathLike,
    _figure,
    _fmt_number,
    describe,
    samples_text,
)
from multipower.runs.configs import load_config, load_result, load_sweep, parameter_symbol  # noqa: E402
from multipower.runs.results import PowerResult, pearson, zero_crossing  # noqa: E402,F401
from multipower.plots.views import JOINT_MAP_MAX_CELLS  # noqa: E402

def _available_moves(layout: Layout) -> np.ndarray:
    """Available moves (excluding ``stay``) of each cell: 1 dead end, 2 corridor, 3+ junction."""
    return single_agent_model(layout).moves_per_cell()


def plot_alignment(result: PowerResult, title: Optional[str] = None, column_H: str = "power_H", column_A: str = "power_A"):
    """Alignment plot: POWER_H (x) against POWER_A (y), one point per joint state, α_HA in the title.

    Points are coloured by how many moves A has at its cell (dead end, corridor, junction), which shows
    the bands of "A's POWER depends on A's cell" at a glance.
    """
    if result.kind not in ("joint", "joint_graph"):
        raise ValueError(f"plot_alignment needs a two-agent result, got kind {result.kind!r}")
    x, y = result[column_H], result[column_A]
    alpha = pearson(x, y)
    if result.kind == "joint_graph":  # states without cells: one colour
        fig, ax = plt.subplots(figsize=(5.6, 5.2))
        ax.scatter(x, y, s=10 if len(x) > 200 else 22, alpha=0.75, color="tab:blue", linewidths=0)
        ax.set_xlabel("POWER_H")
        ax.set_ylabel("POWER_A")
        ax.grid(alpha=0.3)
        head = title or f"Alignment: {describe({**result.config, 'layout': result.config.get('mdp', 'graph')})}"
        ax.set_title(f"{_wrap(head)}\nα_HA = {alpha:.3f}", fontsize=9)
        fig.tight_layout()
        return fig
    layout = result.layout
    index = np.full(layout.shape, -1)
    index[layout.cells[:, 0], layout.cells[:, 1]] = np.arange(layout.n_cells)
    a_cells = index[result.labels[:, 2], result.labels[:, 3]]
    moves = _available_moves(layout)[a_cells]
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    names = {1: "A at a dead end", 2: "A in a corridor", 3: "A at a 3-way junction", 4: "A at a 4-way junction"}
    for k, colour in zip(sorted(np.unique(moves)), ("tab:blue", "tab:green", "tab:orange", "tab:red")):
        chosen = moves == k
        ax.scatter(x[chosen], y[chosen], s=10 if len(x) > 200 else 22, alpha=0.75, color=colour,
                   label=names.get(int(k), f"A with {k} moves"), linewidths=0)
    ax.set_xlabel("POWER_H")
    ax.set_ylabel("POWER_A")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    head = title or f"Alignment: {describe(result.config)}"
    se = result.stats.get("alpha_se") if (column_H, column_A) == ("power_H", "power_A") else None
    ax.set_title(f"{_wrap(head)}\nα_HA = {alpha:.3f}" + (f" ± {se:.3f} (jackknife SE)" if se is not None else ""),
                 fontsize=9)
    fig.tight_layout()
    return fig


def _wrap(text: str, width: int = 60) -> str:
    if len(text) <= width:
        return text
    parts, line, lines = text.split(", "), "", []
    for part in parts:
        candidate = f"{line}, {part}" if line else part
        if len(candidate) > width and line:
            lines.append(line + ",")
            line = part
        else:
            line = candidate
    lines.append(line)
    return "\n".join(lines)


def plot_alpha_sweep(
    values: Sequence[float],
    alphas: Sequence[float],
    parameter: str = "correlation",
    alpha_se: Optional[Sequence[float]] = None,
    title: str = "",
    published: Optional[Sequence[tuple]] = None,
):
    """α_HA against a swept parameter, with the α = 0 line and the interpolated zero crossing.

    Args:
        values: Swept values (β for ``parameter="correlation"``, γ for ``"gamma"``).
        alphas: α_HA at each value.
        parameter: Name of the swept parameter (x-axis label).
        alpha_se: Optional error bars.
        title: First title line (e.g. ``describe`` of the base config).
        published: Optional ``(value, alpha)`` points to draw as published references.
    """
    x, y = np.asarray(values, float), np.asarray(alphas, float)
    order = np.argsort(x)
    x, y = x[order], y[order]
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    if alpha_se is not None:
        ax.errorbar(x, y, yerr=np.asarray(alpha_se, float)[order], fmt="o-", ms=4, capsize=2, color="tab:blue", label="α_HA")
    else:
        ax.plot(x, y, "o-", ms=4, color="tab:blue", label="α_HA")
    ax.axhline(0.0, color="k", lw=0.9, ls="--", label="α_HA = 0")
    crossing = zero_crossing(x, y)
    if crossing is not None:
        ax.axvline(crossing, color="0.5", lw=0.8, ls=":")
        ax.annotate(f"α = 0 at {parameter_symbol(parameter)} ≈ {crossing:.3f}", (crossing, 0), textcoords="offset points",
                    xytext=(6, -14), fontsize=8, color="0.3")
    if published:
        px, py = zip(*published)
        ax.scatter(px, py, marker="x", s=50, color="tab:red", zorder=3, label="published")
    ax.set_xlabel(f"{parameter_symbol(parameter)} ({parameter})" if parameter in ("correlation", "gamma") else parameter)
    ax.set_ylabel("α_HA (POWER correlation)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_wrap(title or f"α_HA against {parameter}"), fontsize=9)
    fig.tight_layout()
    return fig


def plot_series(
    values: Sequence[float],
    series: Mapping[str, Sequence[float]],
    parameter: str,
    ylabel: str,
    title: str = "",
    errors: Optional[Mapping[str, Sequence[float]]] = None,
):
    """Several named curves against one swept parameter (e.g. A's POWER at blocking states against γ)."""
    x = np.asarray(values, float)
    order = np.argsort(x)
    fig, ax = plt.subplots(figsize=(6.0, 4.4))
    for name, ys in series.items():
        ys = np.asarray(ys, float)[order]
        err = None if not errors or name not in errors else np.asarray(errors[name], float)[order]
        ax.errorbar(x[order], ys, yerr=err, fmt="o-", ms=4, capsize=2, label=name)
    ax.set_xlabel(f"{parameter_symbol(parameter)} ({parameter})" if parameter in ("correlation", "gamma") else parameter)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(_wrap(title), fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- saving
#: Resolution bounds of a PNG: below ``MIN_DPI`` text is unreadable; ``MAX_PIXELS`` (about 400 MB of RGBA
#: while rendering) keeps a large world at a high dpi from exhausting memory.
MIN_DPI, MAX_DPI = 20, 1200
MAX_PIXELS = 100_000_000


def check_dpi(dpi) -> int:
    """``dpi`` as an integer in ``[MIN_DPI, MAX_DPI]``; ``ValueError`` naming it otherwise."""
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be an integer from {MIN_DPI} to {MAX_DPI}, got {dpi!r}")
    return int(dpi)


def check_size(size_inches, dpi) -> None:
    """Refuse a figure of more than ``MAX_PIXELS`` pixels at ``dpi`` before it is rendered."""
    width, height = (float(v) * check_dpi(dpi) for v in size_inches)
    if width * height > MAX_PIXELS:
        raise ValueError(f"dpi: a {size_inches[0]:.0f} x {size_inches[1]:.0f} inch figure at dpi {dpi} is "
                         f"{width:,.0f} x {height:,.0f} pixels, more than {MAX_PIXELS:,}; lower the dpi")


def save_figure(fig, path: PathLike, dpi: int = 110, palette: bool = False) -> Path:
    """Write ``fig`` as PNG to ``path`` and close it.

    Args:
        palette: Re-encode with an adaptive 256-colour palette (several times smaller; used for the
            README gallery, where each image must stay under 200 KB).
    """
    path = Path(path)
    try:
        check_size(fig.get_size_inches(), dpi)
    except ValueError:
        plt.close(fig)
        raise
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed over: a link planted at ``path`` is replaced, never written through.
    from multipower.envs.serialization import atomic_path

    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", facecolor="white", format="png")
    finally:
        plt.close(fig)
    if palette:
        compress_png(path)
    return path


def compress_png(path: PathLike) -> Path:
    """Re-encode a PNG in place with an adaptive 256-colour palette (typically 3-4 times smaller)."""
    from PIL import Image

    path = Path(path)
    with Image.open(path) as image:
        quantised = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    quantised.save(path, optimize=True)
    return path


def plot_result(
    result: PowerResult,
    out_dir: PathLike,
    prefix: str = "",
    highlight: Sequence[tuple] = (),
    diagnostics: bool = False,
    dpi: int = 110,
) -> list:
    """Draw every figure of one result into ``out_dir``; return the PNG paths.

    Joint: ``heatmap_H.png``, ``heatmap_A.png``, ``alignment.png`` (and with ``diagnostics`` the heat maps
    of H's POWER against the seed and A's POWER following the seed, where present); a joint graph whose states
    are gridworld pairs likewise, on the grid of its cells. A layout of more than ``JOINT_MAP_MAX_CELLS`` open
    cells gets the views of ``multipower.plots.views`` instead of the joint heat maps: ``marginals.png``,
    ``H_given_A.png``, ``A_given_H.png``, ``peaks.png`` and ``alignment.png``. Single:
    ``heatmap.png``. Graph: ``power.png`` (``multipower.plots.graph.plot_graph_power``).
    """
    out_dir = Path(out_dir)
    paths = []
    if result.kind == "graph":
        from multipower.plots.graph import plot_graph_power

        return [save_figure(plot_graph_power(result), out_dir / f"{prefix}power.png", dpi)]
    if result.kind == "single":
        paths.append(save_figure(plot_single_heatmap(result), out_dir / f"{prefix}heatmap.png", dpi))
        return paths
    if result.kind == "joint_graph":  # drawn on the grid its state names carry
        from multipower.plots.graph import joint_graph_on_grid

        on_grid = joint_graph_on_grid(result)
        if on_grid is None:  # no grid for heat maps: the alignment plot only
            return [save_figure(plot_alignment(result), out_dir / f"{prefix}alignment.png", dpi)]
        result = on_grid
    if result.kind == "joint" and result.layout.n_cells > JOINT_MAP_MAX_CELLS:  # too large for a joint heat map
        return _large_world_views(result, out_dir, prefix, dpi)
    for agent in ("H", "A"):
        paths.append(save_figure(plot_joint_heatmap(result, agent, highlight=highlight), out_dir / f"{prefix}heatmap_{agent}.png", dpi))
    paths.append(save_figure(plot_alignment(result), out_dir / f"{prefix}alignment.png", dpi))
    if diagnostics:
        for column in ("power_H_seed", "power_A_seed"):
            if column in result.arrays:
                paths.append(save_figure(plot_joint_heatmap(result, column=column), out_dir / f"{prefix}heatmap_{column[6:]}.png", dpi))
    return paths


def _large_world_views(result: PowerResult, out_dir: Path, prefix: str, dpi: int) -> list:
    from multipower.plots import views

    figures = {"marginals": views.plot_marginal_maps(result), "H_given_A": views.plot_given_other(result, "H"),
               "A_given_H": views.plot_given_other(result, "A"), "peaks": views.plot_peaks(result),
               "alignment": plot_alignment(result)}
    return [save_figure(fig, out_dir / f"{prefix}{name}.png", dpi) for name, fig in figures.items()]


def image_variance(path: PathLike) -> float:
    """Pixel variance of a PNG (0 for a blank image); used by the tests and the gallery check."""
    image = plt.imread(str(path))
    return float(np.var(image[..., :3] if image.ndim == 3 else image))


def highlight_states(entries: Iterable[Mapping]) -> list:
    """``(label, h_cell, a_cell)`` for each published entry that names one joint state ``{H: .., A: ..}``."""
    out = []
    for i, entry in enumerate(entries):
        state = entry.get("state") or {}
        if "H" in state and "A" in state and _is_cell(state["H"]) and _is_cell(state["A"]):
            out.append((entry.get("label", f"s{i + 1}"), tuple(state["H"]), tuple(state["A"])))
    return out


def _is_cell(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value)


# --------------------------------------------------------------------------------------------- folders
def plot_sweep(summary: Mapping, results: Mapping, config: Mapping, out_dir: PathLike, dpi: int = 110) -> list:
    """Figures of a sweep: α_HA against the swept parameter, and (with a corridor analysis) A's POWER
    excess at the corridor-blocking states against it. Returns the PNG paths."""
    out_dir = Path(out_dir)
    parameter = summary["parameter"]
    base = {k: v for k, v in config.items() if k != parameter}
    title = f"α_HA against {parameter_symbol(parameter)}: {describe(base)}"
    published = [(e["at"], e["value"]) for e in config.get("published", ()) if e.get("quantity") == "alpha" and "compare" not in e]
    paths = [save_figure(plot_alpha_sweep(summary["values"], summary["alpha"], parameter, title=title, published=published),
                         out_dir / f"alpha_vs_{parameter}.png", dpi)]
    blocking = summary.get("blocking")
    if blocking:
        per = blocking["per_value"]
        values = [float(v) for v in per]
        excess = [per[v]["excess"] for v in per]
        background = [per[v]["background"] for v in per]
        errors = {"H in the corridor (max over states)": [per[v]["excess_se"] for v in per]}
        corridor = ", ".join(f"({r},{c})" for r, c in blocking["corridor"])
        fig = plot_series(values, {"H in the corridor (max over states)": excess, "H elsewhere (max |excess|)": background},
                          parameter, "POWER_A − mean over H's cells at A's cell",
                          title=f"Corridor blocking: A's POWER excess with H in {corridor}: {describe(base)}", errors=errors)
        paths.append(save_figure(fig, out_dir / f"blocking_vs_{parameter}.png", dpi))
    return paths


def learned_result(result: PowerResult, which: str = "learned") -> PowerResult:
    """A joint (or joint-graph) result whose ``power_H``/``power_A`` are a comparison's ``power_X_<which>``
    columns."""
    arrays = {}
    for agent in ("H", "A"):
        arrays[f"power_{agent}"] = result[f"power_{agent}_{which}"]
        se = f"power_{agent}_{which}_se"
        arrays[f"power_{agent}_se"] = result[se] if se in result.arrays else np.zeros(result.n_states)
    return PowerResult(result.kind, result.labels, arrays, {**result.config}, {}, {})


def plot_comparison_dir(directory: PathLike, out_dir: PathLike, prefix: str = "", dpi: int = 110,
                        highlight: Sequence[tuple] = ()) -> list:
    """Figures of a saved learned-versus-exact comparison: the four-panel comparison figure and the
    learned heat maps (``highlight``: states to circle, as ``plot_joint_heatmap``) and alignment plot; past
    ``JOINT_MAP_MAX_CELLS`` open cells, the learned POWER's large-world views instead of the heat maps."""
    result = load_result(directory, columns=tuple(f"power_{a}_{w}" for a in "HA" for w in ("learned", "exact")))
    out_dir = Path(out_dir)
    algo = result.config.get("algo", "learned")
    fig = comparison_figure(
        result["power_H_learned"], result["power_A_learned"], result["power_H_exact"], result["power_A_exact"],
        learned_H_se=result.arrays.get("power_H_error_se"), learned_A_se=result.arrays.get("power_A_error_se"),
        suptitle=f"{algo} vs exact: {describe(result.config)}",
    )
    paths = [save_figure(fig, out_dir / f"{prefix}learned_vs_exact.png", dpi)]
    learned = learned_result(result)
    if learned.kind == "joint_graph":  # drawn on the grid its state names carry, else the alignment plot only
        from multipower.plots.graph import joint_graph_on_grid

        on_grid = joint_graph_on_grid(learned)
        if on_grid is None:
            return paths + [save_figure(plot_alignment(learned, title=f"{algo} (learned): {describe(result.config)}"),
                                        out_dir / f"{prefix}alignment.png", dpi)]
        learned = on_grid
    if learned.layout.n_cells > JOINT_MAP_MAX_CELLS:  # too large for joint heat maps: the views
        return paths + _large_world_views(learned, out_dir, prefix, dpi)
    for agent in ("H", "A"):
        title = f"{algo} (learned) POWER_{agent}\n{describe(result.config)}"
        paths.append(save_figure(plot_joint_heatmap(learned, agent, title=title, highlight=highlight),
                                 out_dir / f"{prefix}heatmap_{agent}.png", dpi))
    paths.append(save_figure(plot_alignment(learned, title=f"{algo} (learned): {describe(result.config)}"),
                             out_dir / f"{prefix}alignment.png", dpi))
    return paths


def _summary_kind(directory: Path) -> Optional[str]:
    """The result kind saved in ``directory/summary.json`` (None if unreadable: the loader then says why)."""
    try:
        return json.loads((directory / "summary.json").read_text()).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def plot_single_comparison_dir(directory: PathLike, out_dir: PathLike, dpi: int = 110) -> list:
    """Figures of a saved ``compare --single`` folder: the comparison figure (``learned_vs_exact.png``; the saved
    ``comparison.png`` is left as its manifest lists it) and the graph coloured by learned POWER."""
    from multipower.plots.compare import single_comparison_figure
    from multipower.plots.graph import plot_graph_power

    result = load_result(directory, columns=("learned", "exact"))
    out_dir = Path(out_dir)
    cfg = result.config
    title = f"learned POWER on {cfg.get('mdp', 'graph')}: γ = {cfg.get('gamma')}, {cfg.get('n_samples')} samples"
    return [save_figure(single_comparison_figure(result), out_dir / "learned_vs_exact.png", dpi),
            save_figure(plot_graph_power(result, "learned", title=title), out_dir / "power_learned.png", dpi)]


def check_intact(directory: Path) -> None:
    """Refuse (``ValueError``, one line) a folder whose files do not match its manifest (an edited file, or a run
    killed while writing); a folder without a manifest (written by an older version) is drawn as it is."""
    from multipower.runs import rundir

    problem = rundir.check_files(directory)
    unfinished_result = bool(problem) and (directory / "power.csv").exists()
    if unfinished_result or problem.endswith("does not match its manifest"):
        raise ValueError(f"directory {str(directory)!r}: {problem}; rerun the command that wrote it")


def plot_directory(directory: PathLike, out_dir: Optional[PathLike] = None, dpi: int = 110) -> list:
    """Draw the figures of any saved result folder into ``out_dir`` (default: the folder itself).

    Recognises a comparison (``comparison.json``), a sweep (``sweep.json``), a reproduction (``config.yaml``
    with ``exact/``) and a plain result (``summary.json`` + ``power.csv``). Returns the PNG paths.
    """
    directory = Path(directory)
    out_dir = Path(out_dir) if out_dir is not None else directory
    check_dpi(dpi)
    if not directory.is_dir():
        raise ValueError(f"directory {str(directory)!r} does not exist")
    check_intact(directory)
    if (directory / "sweep.json").is_file():
        summary, results = load_sweep(directory)
        config_path = directory / "config.yaml"
        config = load_config(config_path) if config_path.is_file() \
            else {"published": [], **next(iter(results.values())).config}
        return plot_sweep(summary, results, config, out_dir, dpi)
    if (directory / "comparison.json").is_file():
        if _summary_kind(directory) == "graph":
            return plot_single_comparison_dir(directory, out_dir, dpi=dpi)
        return plot_comparison_dir(directory, out_dir, dpi=dpi)
    if (directory / "summary.json").is_file():
        return plot_result(load_result(directory), out_dir, diagnostics=True, dpi=dpi)
    paths = []
    if (directory / "config.yaml").is_file() and (directory / "exact" / "summary.json").is_file():
        config = load_config(directory / "config.yaml")  # a reproduction: circle its published states
        paths += plot_result(load_result(directory / "exact"), out_dir, highlight=highlight_states(config["published"]),
                             diagnostics=True, dpi=dpi)
    for sub in sorted(p for p in directory.iterdir() if p.is_dir() and not (paths and p.name == "exact")):
        if any((sub / f).is_file() for f in ("sweep.json", "comparison.json", "summary.json")):
            paths += plot_directory(sub, out_dir if sub.name == "exact" else out_dir / sub.name, dpi)
    if not paths:
        raise ValueError(f"no saved result in {str(directory)!r} (expected summary.json, sweep.json or comparison.json)")
    return paths
