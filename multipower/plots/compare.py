"""Figures of the learned-versus-exact comparison (docs/comparison.md): scatter of learned against exact POWER per
state with the error figures, and the alignment plot (POWER_H against POWER_A, α_HA in the title).

Matplotlib with the Agg backend (no display needed). Each function draws on a given ``Axes`` (or a new
figure) and returns the ``Axes``; ``comparison_figure`` puts the four panels together and saves them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from multipower.runs.results import pearson  # noqa: E402


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    return ax


def plot_learned_vs_exact(
    learned: np.ndarray,
    exact: np.ndarray,
    agent: str = "H",
    ax=None,
    learned_se: Optional[np.ndarray] = None,
    label: str = "learned",
):
    """Scatter of learned against exact POWER, one point per joint state, with the ``y = x`` line.

    The panel shows max |learned − exact|, mean |learned − exact| and the Pearson correlation.

    Args:
        learned, exact: ``(n_states,)`` POWER of one agent.
        agent: ``"H"`` or ``"A"`` (for the labels).
        ax: Axes to draw on (a new figure if None).
        learned_se: Optional standard errors (e.g. of the paired error learned − exact), drawn as
            vertical error bars.
        label: What "learned" is called on the y axis.
    """
    ax = _axes(ax)
    learned, exact = np.asarray(learned, float), np.asarray(exact, float)
    if learned_se is not None:
        ax.errorbar(exact, learned, yerr=learned_se, fmt="none", ecolor="0.7", elinewidth=0.8, zorder=1)
    ax.scatter(exact, learned, s=12, alpha=0.8, color="tab:blue" if agent == "H" else "tab:orange", zorder=2)
    lo = float(min(learned.min(), exact.min()))
    hi = float(max(learned.max(), exact.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="k", lw=0.8, ls="--", zorder=0)
    error = np.abs(learned - exact)
    text = f"max |err| = {error.max():.4f}\nmean |err| = {error.mean():.4f}\nPearson r = {pearson(learned, exact):.3f}"
    ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"})
    ax.set_xlabel(f"exact POWER_{agent}")
    ax.set_ylabel(f"{label} POWER_{agent}")
    ax.set_title(f"Agent {agent}: {label} vs exact")
    return ax


def plot_alignment(power_H: np.ndarray, power_A: np.ndarray, ax=None, title: str = "", alpha: Optional[float] = None):
    """Alignment plot: POWER_H against POWER_A, one point per joint state, α_HA in the title."""
    ax = _axes(ax)
    power_H, power_A = np.asarray(power_H, float), np.asarray(power_A, float)
    alpha = pearson(power_H, power_A) if alpha is None else alpha
    ax.scatter(power_H, power_A, s=12, alpha=0.8, color="tab:purple")
    ax.set_xlabel("POWER_H")
    ax.set_ylabel("POWER_A")
    ax.set_title(f"{title + ': ' if title else ''}α_HA = {alpha:.3f}")
    return ax


def comparison_figure(
    learned_H: np.ndarray,
    learned_A: np.ndarray,
    exact_H: np.ndarray,
    exact_A: np.ndarray,
    path: Optional[Union[str, Path]] = None,
    learned_H_se: Optional[np.ndarray] = None,
    learned_A_se: Optional[np.ndarray] = None,
    suptitle: str = "",
):
    """The four panels: learned vs exact for H and A (top), alignment learned and exact (bottom).

    Saves to ``path`` when given; returns the figure.
    """
    fig, axes = plt.subplots(2, 2, figsize=(10, 9.5))
    plot_learned_vs_exact(learned_H, exact_H, "H", axes[0, 0], learned_H_se)
    plot_learned_vs_exact(learned_A, exact_A, "A", axes[0, 1], learned_A_se)
    plot_alignment(learned_H, learned_A, axes[1, 0], "learned")
    plot_alignment(exact_H, exact_A, axes[1, 1], "exact")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def single_comparison_figure(result, suptitle: Optional[str] = None):
    """Learned against exact single-agent POWER (a ``compare --single`` result, ``multipower.learned.single``):
    the scatter per state with the error figures (left) and per-state bars of both with their standard errors
    (right, states in graph order, named up to 40 states). Returns the figure."""
    learned, exact = result["learned"], result["exact"]
    n = len(learned)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [1, 1.6]})
    plot_learned_vs_exact(learned, exact, "", left, result.arrays.get("difference_se"))
    left.set_xlabel("exact POWER")
    left.set_ylabel("learned POWER (learned policy, evaluated on the model)")
    left.set_title("learned vs exact, one point per state")
    x = np.arange(n)
    width = 0.4
    right.bar(x - width / 2, exact, width, yerr=result.arrays.get("exact_se"), label="exact", color="tab:gray",
              error_kw={"elinewidth": 0.8})
    right.bar(x + width / 2, learned, width, yerr=result.arrays.get("learned_se"), label="learned", color="tab:blue",
              error_kw={"elinewidth": 0.8})
    states = [str(s) for s in result.labels[:, 0]]
    if n <= 40:
        right.set_xticks(x, states, rotation=60 if n > 8 else 0, ha="right" if n > 8 else "center", fontsize=8)
    else:
        right.set_xlabel("state (graph order)")
    right.set_ylabel("POWER")
    right.set_title("POWER per state (± standard error over reward samples)")
    right.legend(loc="lower right")
    cfg = result.config
    optimal = result.stats.get("optimal_policy_fraction")
    optimal = "" if optimal is None else f"; learned policy optimal on {100 * optimal:.0f}% of samples"
    fig.suptitle(suptitle or f"{cfg.get('algo', 'learned')} vs exact on {cfg.get('mdp', 'graph')}: "
                             f"γ = {cfg.get('gamma')}, {cfg.get('n_samples')} reward samples{optimal}")
    fig.tight_layout()
    return fig
