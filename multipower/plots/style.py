"""What every figure shares: the matplotlib backend (Agg, no display), the colour map, and the one-line
description of a run that titles carry."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CMAP = "viridis"  # the posts: highest values in yellow, lowest in blue
#: Worlds with at most this many grid squares (rows × cols) get their values written in the cells.
ANNOTATE_MAX_SQUARES = 49
BLOCK_GAP = 0.35  # blank space between blocks of the joint heat map, in cells
PathLike = Union[str, Path]


# --------------------------------------------------------------------------------------------- titles
def describe(config: Mapping, with_samples: bool = True) -> str:
    """One line naming the world, γ, collision, β, the reward distribution and seed policy, and samples."""
    world = config.get("layout") or config.get("mdp") or "custom"  # a layout, or a joint graph by name
    gamma_H = config.get("gamma_H", config.get("gamma"))
    gamma_A = config.get("gamma_A")
    parts = [str(world)]
    if gamma_H is not None:
        parts.append(f"γ = {_fmt_number(gamma_H)}")
    if gamma_A is not None and gamma_H is not None and float(gamma_A) != float(gamma_H):
        parts[-1] = f"γ_H = {_fmt_number(gamma_H)}, γ_A = {_fmt_number(gamma_A)}"
    if "collision" in config:
        parts.append(f"collision {config['collision']}")
    if "correlation" in config and "collision" in config:  # β only means something for two agents
        parts.append(f"β = {_fmt_number(config['correlation'])}")
    distribution = config.get("distribution")
    name = distribution.get("name") if isinstance(distribution, Mapping) else distribution
    if name not in (None, "uniform"):
        params = {k: v for k, v in distribution.items() if k != "name"} if isinstance(distribution, Mapping) else {}
        parts.append(f"{name} rewards" + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else ""))
    seed_policy = config.get("seed_policy")
    if seed_policy not in (None, "uniform"):
        parts.append("seed policy from a table" if isinstance(seed_policy, Mapping) else f"seed policy {seed_policy}")
    if with_samples and config.get("n_samples") is not None:
        parts.append(samples_text(config))
    return ", ".join(parts)


def samples_text(config: Mapping) -> str:
    """``"10,000 samples"``, or for a partial result ``"30,057 of 100,000 samples (partial)"``."""
    requested = int(config.get("samples_requested", config["n_samples"]))
    done = int(config.get("samples_done", requested))
    if done < requested or config.get("complete") is False:
        return f"{done:,} of {requested:,} samples (partial)"
    return f"{done:,} samples"


def _fmt_number(value) -> str:
    return f"{float(value):g}"


def _figure(width: float, height: float):
    return plt.figure(figsize=(width, height))
