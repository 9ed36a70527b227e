"""Exact single-agent POWER: one agent alone in a layout (Part 1), or in an MDP graph in POWERplay's format.

The same resumable block runs as ``multipower.exact.power.exact_power`` (blocks, backends, the memory
check, the certificate), over the states of one agent instead of joint states.
"""

from __future__ import annotations

from typing import Mapping, Optional, Union

import numpy as np

from multipower.envs.graph_mdp import GraphMDP
from multipower.envs.layouts import LayoutLike, load_layout
from multipower.envs.memory import MemoryLike
from multipower.envs.model import single_agent_model
from multipower.envs.rewards import RewardSampler, make_distribution
from multipower.envs.slip import check_slip
from multipower.envs.validation import check_gamma
from multipower.exact.power import (
    PathLike,
    _check_draws,
    _check_samples,
    _fit_memory,
    _job,
    _progress_config,
    _run,
    check_power_tol,
)
from multipower.runs.backends import Backend
from multipower.runs.results import PowerResult


def single_agent_power(
    layout: LayoutLike,
    gamma: float,
    n_samples: int = 10_000,
    distribution=None,
    seed: int = 0,
    redraw_constant: bool = False,
    device: str = "cpu",
    chunk_size: Optional[int] = None,
    progress: bool = True,
    power_tol: Optional[float] = None,
    jobs: Optional[int] = None,
    max_memory: MemoryLike = None,
    slip: float = 0.0,
    out_dir: Optional[PathLike] = None,
    restart: bool = False,
    overwrite: bool = False,
    files: Optional[Mapping[str, str]] = None,
    backend: Union[str, Backend, None] = None,
) -> PowerResult:
    """Exact single-agent POWER ``(1-γ)/γ · E[V*(s) - R(s)]`` at every cell (docs/concepts.md#single-agent-power).

    Rewards are ``R_H`` of a ``RewardSampler`` over the cells, so sample ``i`` is
    reproducible. Arguments (run folder, resuming, interruptions) as for ``exact_power``.

    Returns:
        A ``"single"`` ``PowerResult`` with ``power`` and ``power_se``.

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    gamma = check_gamma(gamma, "gamma")
    power_tol = check_power_tol(power_tol)
    n_samples = _check_samples(n_samples)
    _check_draws(distribution, 0.0, seed, device)
    grid, slip = load_layout(layout), check_slip(slip)
    size, jobs, _ = _fit_memory(grid.n_cells, None, chunk_size, jobs, n_samples, device, max_memory,
                                f"single-agent POWER on {grid.name!r}")
    model = single_agent_model(grid, slip)
    sampler = RewardSampler(model.n_states, make_distribution(distribution), 0.0, seed, redraw_constant)
    job = _job("single", model, sampler, None, gamma, gamma, device, power_tol, size, n_samples)
    config = {
        "kind": "exact_single",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "slip": slip,
        "gamma": gamma,
        "n_samples": n_samples,
        **sampler.to_config(),
        "device": str(device),
        "chunk_size": job.chunk,
        "block_size": job.block,
        "jobs": jobs,
        "power_tol": power_tol,
    }

    def make_result(totals, timings: dict, complete: bool) -> PowerResult:
        arrays = {"power": totals.mean[0], "power_se": totals.se()[0]}
        return PowerResult("single", model.state_labels(), arrays, _progress_config(config, totals, complete), {},
                           timings)

    return _run(job, make_result, out_dir, restart, overwrite, files, jobs, backend, progress,
                f"single {model.layout.name}")


def graph_power(
    mdp: GraphMDP,
    gamma: float,
    n_samples: int = 10_000,
    distribution=None,
    seed: int = 0,
    redraw_constant: bool = False,
    device: str = "cpu",
    chunk_size: Optional[int] = None,
    progress: bool = True,
    power_tol: Optional[float] = None,
    jobs: Optional[int] = None,
    max_memory: MemoryLike = None,
    out_dir: Optional[PathLike] = None,
    restart: bool = False,
    overwrite: bool = False,
    files: Optional[Mapping[str, str]] = None,
    backend: Union[str, Backend, None] = None,
) -> PowerResult:
    """Exact POWER ``(1-γ)·E[V*(s')]`` at every state of an MDP graph (docs/graphs.md), the
    definition of ``single_agent_power`` (docs/concepts.md#single-agent-power) on any tabular MDP.

    Rewards are ``R_H`` of a ``RewardSampler`` over the graph's states in graph order, so
    sample ``i`` is reproducible and a graph written from a layout (``multipower.envs.graph_mdp.layout_to_dot``) gets
    the layout's rewards. Arguments (run folder, resuming, interruptions) as for ``exact_power``; the POWER
    error of each sample is at most ``power_tol``.

    Returns:
        A ``"graph"`` ``PowerResult`` labelled by state name, with ``power`` and
        ``power_se``; its config holds the DOT source (``mdp_text``).

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    gamma = check_gamma(gamma, "gamma")
    power_tol = check_power_tol(power_tol)
    n_samples = _check_samples(n_samples)
    # the working set grows with action slots × outcomes, as a layout's does with its 5 moves
    weight = max(1, mdp.next_state.shape[1] * mdp.next_state.shape[2] // 5)
    size, jobs, _ = _fit_memory(mdp.n_states * weight, None, chunk_size, jobs, n_samples, device, max_memory,
                                f"POWER on graph {mdp.name!r}")
    sampler = RewardSampler(mdp.n_states, make_distribution(distribution), 0.0, seed, redraw_constant)
    job = _job("graph", mdp, sampler, None, gamma, gamma, device, power_tol, size, n_samples)
    config = {
        "kind": "exact_graph", "mdp": mdp.name, "mdp_text": mdp.text, "gamma": gamma, "n_samples": n_samples,
        **sampler.to_config(), "device": str(device), "chunk_size": job.chunk, "block_size": job.block,
        "jobs": jobs, "power_tol": power_tol,
    }
    labels = np.array(mdp.states, dtype=object)[:, None]

    def make_result(totals, timings: dict, complete: bool) -> PowerResult:
        arrays = {"power": totals.mean[0], "power_se": totals.se()[0]}
        return PowerResult("graph", labels, arrays, _progress_config(config, totals, complete), {}, timings)

    return _run(job, make_result, out_dir, restart, overwrite, files, jobs, backend, progress, f"graph {mdp.name}")
