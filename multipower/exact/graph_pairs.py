"""Exact multi-agent POWER on a joint MDP graph (docs/graphs.md#joint-graphs), as a resumable block run.

The same runs as ``multipower.exact.power.exact_power`` (blocks, resume, backends, the memory check, the
certificate), solved by ``multipower.exact.joint_graph.solve_joint_graph`` over the graph's joint states.
"""

from __future__ import annotations

from typing import Optional, Union

import numpy as np

from multipower.envs.joint_graph import JointGraph
from multipower.envs.rewards import RewardDraws
from multipower.envs.validation import check_device, check_gamma
from multipower.envs.joint_graph import graph_seed_table
from multipower.exact.joint_graph import BYTES_PER_SAMPLE_SLOT
from multipower.exact.power import (
    TORCH_BYTES_PER_SAMPLE_STATE,
    _check_how,
    _fit_memory,
    _job,
    _run,
    _seed_config,
    check_power_tol,
    joint_result_maker,
)
from multipower.runs.execution import Execution, Storage
from multipower.runs.results import PowerResult


def joint_graph_power(
    graph: JointGraph,
    gamma: float,
    gamma_A: Optional[float] = None,
    *,
    rewards: Optional[RewardDraws] = None,
    seed_policy: Union[str, np.ndarray] = "uniform",
    power_tol: Optional[float] = None,
    execution: Optional[Execution] = None,
    storage: Optional[Storage] = None,
) -> PowerResult:
    """Exact POWER of H and A at every joint state of a joint MDP graph, the two-stage definition of
    ``multipower.exact.power.exact_power`` (docs/concepts.md#multi-agent-power) on any joint MDP.

    Rewards are those of a ``RewardSampler`` over the graph's states in graph order,
    so a layout exported as a joint graph (``multipower.envs.joint_graph.joint_graph_text``, states in the
    layout model's order) gets the layout's reward draws, sample by sample.

    Args:
        graph: The joint MDP (``multipower.envs.joint_graph.load_joint_graph``).
        gamma: H's discount in (0, 1).
        gamma_A: A's discount (default: ``gamma``).
        rewards: The reward pair draws (``multipower.envs.rewards.RewardDraws``: ``n_samples``, ``distribution``,
            ``correlation``, ``seed``, ``redraw_constant``; default 10,000 uniform pairs, seed 0).
        seed_policy: A's seed policy: ``"uniform"`` (over A's available actions), ``"stay"`` or an ``(S, nA)``
            table (``multipower.envs.joint_graph.load_policy_graph``).
        power_tol, execution, storage: As for ``multipower.exact.power.exact_power``.

    Returns:
        A ``"joint_graph"`` ``PowerResult`` labelled by state name, with the columns
        and statistics of ``exact_power``; its config holds the DOT source (``mdp_text``).

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished blocks.
    """
    if not isinstance(graph, JointGraph):
        raise ValueError(f"graph: must be a JointGraph (multipower.envs.joint_graph.load_joint_graph), got "
                         f"{type(graph).__name__}")
    gamma_H = check_gamma(gamma, "gamma")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    power_tol = check_power_tol(power_tol)
    draws = RewardDraws() if rewards is None else rewards
    if not isinstance(draws, RewardDraws):
        raise ValueError(f"rewards: must be a multipower.envs.rewards.RewardDraws, got {type(draws).__name__}")
    execution, storage = _check_how(execution, storage)
    device, n_samples = check_device(execution.device_or("cpu")), draws.n_samples  # draws: checked when made
    table = graph_seed_table(graph, seed_policy)
    seed_value = seed_policy if isinstance(seed_policy, str) else table
    # The working set grows with the (H action, A action, outcome) slots per state: count it in layout states.
    slots = int(np.prod(graph.next_state.shape[1:]))
    weight = max(1, -(-slots * BYTES_PER_SAMPLE_SLOT // TORCH_BYTES_PER_SAMPLE_STATE))
    size, jobs, _ = _fit_memory(graph.n_states * weight, None, execution.chunk_size, execution.jobs, n_samples,
                                device, execution.max_memory, f"exact POWER on joint graph {graph.name!r}")
    sampler = draws.sampler(graph.n_states)
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
    return _run(job, make_result, storage, jobs, execution, f"joint graph {graph.name}")
