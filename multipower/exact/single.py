"""Exact single-agent POWER: one agent alone in a layout (Part 1), or in an MDP graph in POWERplay's format.

The same resumable block runs as ``multipower.exact.power.exact_power`` (blocks, backends, the memory
check, the certificate), over the states of one agent instead of joint states.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from multipower.envs.graph_mdp import GraphMDP
from multipower.envs.layouts import LayoutLike, load_layout
from multipower.envs.model import single_agent_model
from multipower.envs.rewards import RewardDraws
from multipower.envs.slip import check_slip
from multipower.envs.validation import check_device, check_gamma
from multipower.exact.power import (
    _check_how,
    _fit_memory,
    _job,
    _progress_config,
    _run,
    check_power_tol,
)
from multipower.runs.execution import Execution, Storage
from multipower.runs.results import PowerResult


def single_agent_power(
    layout: LayoutLike,
    gamma: float,
    *,
    rewards: Optional[RewardDraws] = None,
    slip: float = 0.0,
    power_tol: Optional[float] = None,
    execution: Optional[Execution] = None,
    storage: Optional[Storage] = None,
) -> PowerResult:
    """Exact single-agent POWER ``(1-γ)/γ · E[V*(s) - R(s)]`` at every cell (docs/concepts.md#single-agent-power).

    Rewards are ``R_H`` of a ``RewardSampler`` over the cells, so sample ``i`` is
    reproducible.

    Args:
        layout: A ``Layout``, a built-in name, a file path or layout text.
        gamma: The discount in (0, 1).
        rewards: The reward draws (``multipower.envs.rewards.RewardDraws``; default 10,000 uniform samples,
            seed 0); ``correlation`` must be 0 (one agent).
        slip: Slip probability in [0, 1] (docs/concepts.md#slip).
        power_tol, execution, storage: As for ``multipower.exact.power.exact_power`` (run folder, resuming,
            interruptions).

    Returns:
        A ``"single"`` ``PowerResult`` with ``power`` and ``power_se``.

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    gamma = check_gamma(gamma, "gamma")
    power_tol = check_power_tol(power_tol)
    draws = _one_agent_draws(rewards)
    execution, storage = _check_how(execution, storage)
    device, n_samples = check_device(execution.device_or("cpu")), draws.n_samples  # draws: checked when made
    grid, slip = load_layout(layout), check_slip(slip)
    size, jobs, _ = _fit_memory(grid.n_cells, None, execution.chunk_size, execution.jobs, n_samples, device,
                                execution.max_memory, f"single-agent POWER on {grid.name!r}")
    model = single_agent_model(grid, slip)
    sampler = draws.sampler(model.n_states)
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

    return _run(job, make_result, storage, jobs, execution, f"single {model.layout.name}")


def graph_power(
    mdp: GraphMDP,
    gamma: float,
    *,
    rewards: Optional[RewardDraws] = None,
    power_tol: Optional[float] = None,
    execution: Optional[Execution] = None,
    storage: Optional[Storage] = None,
) -> PowerResult:
    """Exact POWER ``(1-γ)·E[V*(s')]`` at every state of an MDP graph (docs/graphs.md), the
    definition of ``single_agent_power`` (docs/concepts.md#single-agent-power) on any tabular MDP.

    Rewards are ``R_H`` of a ``RewardSampler`` over the graph's states in graph order, so
    sample ``i`` is reproducible and a graph written from a layout (``multipower.envs.graph_mdp.layout_to_dot``) gets
    the layout's rewards. The POWER error of each sample is at most ``power_tol``.

    Args:
        mdp: The MDP graph (``multipower.envs.graph_mdp.load_graph_mdp``).
        gamma: The discount in (0, 1).
        rewards: The reward draws (``multipower.envs.rewards.RewardDraws``; default 10,000 uniform samples,
            seed 0); ``correlation`` must be 0 (one agent).
        power_tol, execution, storage: As for ``multipower.exact.power.exact_power`` (run folder, resuming,
            interruptions).

    Returns:
        A ``"graph"`` ``PowerResult`` labelled by state name, with ``power`` and
        ``power_se``; its config holds the DOT source (``mdp_text``).

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    if not isinstance(mdp, GraphMDP):
        raise ValueError(f"mdp: must be a GraphMDP (multipower.envs.graph_mdp.load_graph_mdp), got "
                         f"{type(mdp).__name__}")
    gamma = check_gamma(gamma, "gamma")
    power_tol = check_power_tol(power_tol)
    draws = _one_agent_draws(rewards)
    execution, storage = _check_how(execution, storage)
    device, n_samples = check_device(execution.device_or("cpu")), draws.n_samples  # draws: checked when made
    # the working set grows with action slots × outcomes, as a layout's does with its 5 moves
    weight = max(1, mdp.next_state.shape[1] * mdp.next_state.shape[2] // 5)
    size, jobs, _ = _fit_memory(mdp.n_states * weight, None, execution.chunk_size, execution.jobs, n_samples, device,
                                execution.max_memory, f"POWER on graph {mdp.name!r}")
    sampler = draws.sampler(mdp.n_states)
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

    return _run(job, make_result, storage, jobs, execution, f"graph {mdp.name}")


def _one_agent_draws(rewards) -> RewardDraws:
    """``rewards``, or the default draws; one line for another type or a correlation (one agent has no pair)."""
    draws = RewardDraws() if rewards is None else rewards
    if not isinstance(draws, RewardDraws):
        raise ValueError(f"rewards: must be a multipower.envs.rewards.RewardDraws, got {type(draws).__name__}")
    if draws.correlation != 0.0:
        raise ValueError(f"rewards.correlation: must be 0 for one agent, got {draws.correlation!r}")
    return draws
