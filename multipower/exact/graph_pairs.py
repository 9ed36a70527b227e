"""Exact multi-agent POWER on a joint MDP graph (docs/graphs.md#joint-graphs), as a resumable block run.

The same runs as ``multipower.exact.power.exact_power`` (blocks, resume, backends, the memory check, the
certificate), solved by ``multipower.exact.joint_graph.solve_joint_graph`` over the graph's joint states.
"""

from __future__ import annotations

from typing import Mapping, Optional, Union

import numpy as np

from multipower.envs.joint_graph import JointGraph
from multipower.envs.memory import MemoryLike
from multipower.envs.rewards import RewardSampler, make_distribution
from multipower.envs.validation import check_gamma
from multipower.envs.joint_graph import graph_seed_table
from multipower.exact.joint_graph import BYTES_PER_SAMPLE_SLOT
from multipower.exact.power import (
    TORCH_BYTES_PER_SAMPLE_STATE,
    PathLike,
    _check_draws,
    _check_samples,
    _fit_memory,
    _job,
    _run,
    _seed_config,
    check_power_tol,
    joint_result_maker,
)
from multipower.runs.backends import Backend
from multipower.runs.results import PowerResult


def joint_graph_power(
    graph: JointGraph,
    gamma: float,
    gamma_A: Optional[float] = None,
    n_samples: int = 10_000,
    correlation: float = 0.0,
    distribution=None,
    seed_policy: Union[str, np.ndarray] = "uniform",
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
    """Exact POWER of H and A at every joint state of a joint MDP graph, the two-stage definition of
    ``multipower.exact.power.exact_power`` (docs/concepts.md#multi-agent-power) on any joint MDP.

    Rewards are those of a ``RewardSampler`` over the graph's states in graph order,
    so a layout exported as a joint graph (``multipower.envs.joint_graph.joint_graph_text``, states in the
    layout model's order) gets the layout's reward draws, sample by sample.

    Args:
        graph: The joint MDP (``multipower.envs.joint_graph.load_joint_graph``).
        seed_policy: A's seed policy: ``"uniform"`` (over A's available actions), ``"stay"`` or an ``(S, nA)``
            table (``multipower.envs.joint_graph.load_policy_graph``).
        Others: as for ``exact_power``.

    Returns:
        A ``"joint_graph"`` ``PowerResult`` labelled by state name, with the columns
        and statistics of ``exact_power``; its config holds the DOT source (``mdp_text``).

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    gamma_H = check_gamma(gamma, "gamma")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    power_tol = check_power_tol(power_tol)
    n_samples = _check_samples(n_samples)
    _check_draws(distribution, correlation, seed, device)
    table = graph_seed_table(graph, seed_policy)
    seed_value = seed_policy if isinstance(seed_policy, str) else table
    # The working set grows with the (H action, A action, outcome) slots per state: count it in layout states.
    slots = int(np.prod(graph.next_state.shape[1:]))
    weight = max(1, -(-slots * BYTES_PER_SAMPLE_SLOT // TORCH_BYTES_PER_SAMPLE_STATE))
    size, jobs, _ = _fit_memory(graph.n_states * weight, None, chunk_size, jobs, n_samples, device, max_memory,
                                f"exact POWER on joint graph {graph.name!r}")
    sampler = RewardSampler(graph.n_states, make_distribution(distribution), correlation, seed, redraw_constant)
    sampler.pairs(0, 1)  # a distribution that cannot give a non-constant function (--redraw-constant) fails here,
    # before the run folder is made
    job = _job("joint_graph", graph, sampler, _seed_config(seed_value), gamma_H, gamma_A, device, power_tol, size,
               n_samples)
    config = {
        "kind": "exact_joint_graph", "mdp": graph.name, "mdp_text": graph.text, "gamma": gamma_H,
        "gamma_H": gamma_H, "gamma_A": gamma_A, "n_samples": n_samples, **sampler.to_config(),
        "seed_policy": _seed_config(seed_value), "device": str(device), "chunk_size": job.chunk,
        "block_size": job.block, "jobs": jobs, "power_tol": power_tol,
    }
    make_result = joint_result_maker("joint_graph", graph.state_labels(), config)
    return _run(job, make_result, out_dir, restart, overwrite, files, jobs, backend, progress,
                f"joint graph {graph.name}")
