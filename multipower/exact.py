"""Exact multi-agent and single-agent POWER by dynamic programming on the known model (SPEC §4).

Reward samples are processed in chunks (memory stays bounded for any world); per-state means and standard
errors are accumulated over chunks. Sample ``i`` is always the same reward pair
(:class:`multipower.rewards.RewardSampler`), so results do not depend on ``chunk_size``.

Accuracy: the POWER error caused by stopping iteration is at most ``power_tol`` (default ``1e-6``) per
sample and so for the mean, whatever ``γ`` is; see :mod:`multipower.solver` for the certificate and for
how ties between optimal actions are identified.
"""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from envs.layouts import LayoutLike, load_layout
from envs.model import JointModel, check_collision, joint_model, single_agent_model
from multipower.results import PowerResult, pearson
from multipower.rewards import RewardSampler, make_distribution
from multipower.solver import (
    POWER_TOL,
    MeanAccumulator,
    SeedPolicy,
    check_gamma,
    power_samples,
    seed_policy_table,
    solve_pairs,
    solve_single,
)

#: Elements (samples × states × actions) per chunk when ``chunk_size`` is not given.
CHUNK_ELEMENTS = 4_000_000
#: Largest default chunk (small worlds: fewer, larger batches amortise the per-chunk overhead).
MAX_CHUNK = 8192


class Interrupted(KeyboardInterrupt):
    """Raised on Ctrl-C during a run; ``result`` holds the POWER over the chunks finished (or None)."""

    def __init__(self, result: Optional[PowerResult]) -> None:
        super().__init__("interrupted")
        self.result = result


def _check_samples(n_samples) -> int:
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    return int(n_samples)


def _chunk_size(chunk_size: Optional[int], n_states: int, n_samples: int) -> int:
    if chunk_size is None:
        return max(1, min(n_samples, MAX_CHUNK, CHUNK_ELEMENTS // (5 * n_states)))
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return int(chunk_size)


def _seed_config(seed_policy: SeedPolicy):
    if isinstance(seed_policy, str):
        return seed_policy
    return {"table": np.asarray(seed_policy, dtype=np.float64).tolist()}


def _chunks(n_samples: int, size: int, progress: bool, desc: str):
    bounds = [(s, min(s + size, n_samples)) for s in range(0, n_samples, size)]
    if progress:
        from tqdm.auto import tqdm

        return tqdm(bounds, desc=desc, unit="chunk")
    return bounds


def exact_power(
    layout: LayoutLike,
    gamma: float,
    gamma_A: Optional[float] = None,
    n_samples: int = 10_000,
    collision: str = "none",
    correlation: float = 0.0,
    distribution=None,
    seed_policy: SeedPolicy = "uniform",
    seed: int = 0,
    redraw_constant: bool = False,
    device: str = "cpu",
    chunk_size: Optional[int] = None,
    progress: bool = True,
    power_tol: float = POWER_TOL,
) -> PowerResult:
    """Exact multi-agent POWER of H and A at every joint state.

    Args:
        layout: A :class:`~envs.layouts.Layout`, a built-in name, a file path or layout text.
        gamma: H's discount ``γ_H`` in (0, 1).
        gamma_A: A's discount (default: ``gamma``).
        n_samples: Reward pairs to average over.
        collision: ``"none"``, ``"crash"`` or ``"bounce"``.
        correlation: Reward correlation ``β`` in [-1, 1] (negative only for symmetric distributions).
        distribution: Reward distribution: name, config dict or :class:`~multipower.rewards.RewardDistribution`
            (uniform [0, 1] by default).
        seed_policy: A's seed policy: ``"uniform"``, ``"stay"`` or an ``(S, 5)`` table over joint states.
        seed: Seed of the reward draws.
        redraw_constant: Redraw reward functions whose values are all equal.
        device: Torch device (``"cpu"`` or ``"cuda"``).
        chunk_size: Reward samples per chunk (default: sized to the world).
        progress: Show a tqdm progress bar over chunks.
        power_tol: Per-sample bound on the POWER error from stopping iteration.

    Returns:
        A ``"joint"`` :class:`~multipower.results.PowerResult` with ``power_H``, ``power_H_se``, ``power_A``,
        ``power_A_se``, ``power_H_seed``, ``power_H_seed_se``, ``power_A_seed``, ``power_A_seed_se``; stats
        ``alpha`` (Pearson of POWER_H and POWER_A over states) and ``alpha_seed`` (of the two diagnostics).

    Raises:
        Interrupted: on Ctrl-C; its ``result`` holds the POWER over the chunks already finished.
    """
    gamma_H = check_gamma(gamma, "gamma")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    n_samples = _check_samples(n_samples)
    model = joint_model(load_layout(layout), check_collision(collision))
    seed_table = seed_policy_table(model, seed_policy)
    sampler = RewardSampler(model.n_states, make_distribution(distribution), correlation, seed, redraw_constant)
    size = _chunk_size(chunk_size, model.n_states, n_samples)
    config = {
        "kind": "exact",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "collision": model.collision,
        "gamma": gamma_H,
        "gamma_H": gamma_H,
        "gamma_A": gamma_A,
        "n_samples": n_samples,
        **sampler.to_config(),
        "seed_policy": _seed_config(seed_policy),
        "device": str(device),
        "chunk_size": size,
        "power_tol": power_tol,
    }
    names = ("power_H", "power_A", "power_H_seed", "power_A_seed")
    acc = {name: MeanAccumulator() for name in names}
    timings = {"rewards": 0.0, "solve": 0.0}
    start = time.perf_counter()
    try:
        for lo, hi in _chunks(n_samples, size, progress, f"exact {model.layout.name}"):
            t0 = time.perf_counter()
            R_H, R_A = sampler.pairs(lo, hi)
            t1 = time.perf_counter()
            sol = solve_pairs(model, R_H, R_A, gamma_H, gamma_A, seed_table, device, power_tol)
            timings["rewards"] += t1 - t0
            timings["solve"] += time.perf_counter() - t1
            acc["power_H"].add(power_samples(sol.V_H, R_H, gamma_H))
            acc["power_A"].add(power_samples(sol.V_A, R_A, gamma_A))
            acc["power_H_seed"].add(power_samples(sol.V_H_seed, R_H, gamma_H))
            acc["power_A_seed"].add(power_samples(sol.V_A_seed, R_A, gamma_A))
    except KeyboardInterrupt:
        timings["total"] = time.perf_counter() - start
        raise Interrupted(_joint_result(model, acc, config, timings, interrupted=True)) from None
    timings["total"] = time.perf_counter() - start
    return _joint_result(model, acc, config, timings)


def _joint_result(model: JointModel, acc: dict, config: dict, timings: dict, interrupted: bool = False):
    done = acc["power_H"].count
    if done == 0:
        return None
    arrays = {}
    for name, a in acc.items():
        arrays[name], arrays[f"{name}_se"] = a.mean, a.se
    config = {**config, "samples_done": done, "interrupted": interrupted}
    stats = {
        "alpha": pearson(arrays["power_H"], arrays["power_A"]),
        "alpha_seed": pearson(arrays["power_H_seed"], arrays["power_A_seed"]),
    }
    return PowerResult("joint", model.state_labels(), arrays, config, stats, timings)


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
    power_tol: float = POWER_TOL,
) -> PowerResult:
    """Exact single-agent POWER ``(1-γ)/γ · E[V*(s) - R(s)]`` at every cell (SPEC §4, Part 1).

    Rewards are ``R_H`` of a :class:`~multipower.rewards.RewardSampler` over the cells, so sample ``i`` is
    reproducible. Arguments as for :func:`exact_power`.

    Returns:
        A ``"single"`` :class:`~multipower.results.PowerResult` with ``power`` and ``power_se``.

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished chunks.
    """
    gamma = check_gamma(gamma, "gamma")
    n_samples = _check_samples(n_samples)
    model = single_agent_model(load_layout(layout))
    sampler = RewardSampler(model.n_states, make_distribution(distribution), 0.0, seed, redraw_constant)
    size = _chunk_size(chunk_size, model.n_states, n_samples)
    config = {
        "kind": "exact_single",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "gamma": gamma,
        "n_samples": n_samples,
        **sampler.to_config(),
        "device": str(device),
        "chunk_size": size,
        "power_tol": power_tol,
    }
    acc = MeanAccumulator()
    timings = {"rewards": 0.0, "solve": 0.0}
    start = time.perf_counter()

    def result(interrupted: bool = False) -> Optional[PowerResult]:
        timings["total"] = time.perf_counter() - start
        if acc.count == 0:
            return None
        cfg = {**config, "samples_done": acc.count, "interrupted": interrupted}
        arrays = {"power": acc.mean, "power_se": acc.se}
        return PowerResult("single", model.state_labels(), arrays, cfg, {}, timings)

    try:
        for lo, hi in _chunks(n_samples, size, progress, f"single {model.layout.name}"):
            t0 = time.perf_counter()
            R = sampler.pairs(lo, hi)[0]
            t1 = time.perf_counter()
            sol = solve_single(model, R, gamma, device, power_tol)
            timings["rewards"] += t1 - t0
            timings["solve"] += time.perf_counter() - t1
            acc.add(power_samples(sol.V, R, gamma))
    except KeyboardInterrupt:
        raise Interrupted(result(interrupted=True)) from None
    return result()
