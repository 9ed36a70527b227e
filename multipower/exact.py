"""Exact multi-agent and single-agent POWER by dynamic programming on the known model (docs/concepts.md#power).

Reward samples are processed in chunks (memory stays bounded for any world); per-state means and standard
errors are accumulated over chunks, in chunk order. Sample ``i`` is always the same reward pair
(:class:`envs.rewards.RewardSampler`), so results do not depend on ``chunk_size`` or ``jobs``.

On the CPU, ``jobs`` chunks are solved at once in threads (the compiled kernels and torch release the GIL;
each solve uses one thread), so the cores work on separate chunks rather than splitting one. The default chunk
is sized for the batched torch code (small chunks keep its tables in cache); the compiled CPU kernels work one
sample at a time, so for them the chunk only sets the granularity of progress, threads and Ctrl-C.

Accuracy: the POWER error caused by stopping iteration is at most ``power_tol`` (default ``5e-5``) per
sample and so for the mean, whatever ``γ`` is; see :mod:`multipower.solver` for the certificate and for
how ties between optimal actions are identified.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from envs.layouts import LayoutLike, load_layout
from envs.memory import MemoryLike, check_budget, joint_state_count, model_bytes, parse_memory
from envs.model import JointModel, check_collision, joint_model, single_agent_model
from envs.policies import SeedPolicy, seed_policy_table
from envs.rewards import RewardSampler, make_distribution
from envs.validation import available_cores, check_gamma
from multipower.backends import Backend, remote
from multipower.results import MeanAccumulator, PowerResult, pearson


# The solver (and torch under it) loads at the first solve, not on import: ``multipower exact --help`` stays
# fast. These names are module attributes, so tests can still wrap them.
def power_samples(*args, **kwargs):
    from multipower.solver import power_samples as f

    return f(*args, **kwargs)


def power_from_next(*args, **kwargs):
    from multipower.solver import power_from_next as f

    return f(*args, **kwargs)


def solve_pairs(*args, **kwargs):
    from multipower.solver import solve_pairs as f

    return f(*args, **kwargs)


def solve_single(*args, **kwargs):
    from multipower.solver import solve_single as f

    return f(*args, **kwargs)


def _power_tol(power_tol: Optional[float]) -> float:
    """``power_tol``, or the solver's default ``POWER_TOL`` for None."""
    if power_tol is None:
        from multipower.solver import POWER_TOL

        return POWER_TOL
    return power_tol


#: Elements (samples × states × actions) per chunk when ``chunk_size`` is not given (measured on maze7x7 at
#: γ = 0.99, solve time per 1,000 samples: 10.4 s at 128 samples per chunk, 16.6 s at 256, 19.4 s at 512).
CHUNK_ELEMENTS = 600_000
#: Largest default chunk (small worlds: fewer, larger batches amortise the per-chunk overhead).
MAX_CHUNK = 1024
#: Bytes per state of one solve's working set in the compiled kernels (backup tables of up to 25 successors,
#: the transposed next-state table, Anderson history), and per state and sample held in a chunk (rewards, the
#: eight value arrays, the four POWER arrays, the reward draw's temporaries). The batched torch code keeps
#: ``(K, 5, S)`` tensors per sample instead: ``TORCH_BYTES_PER_SAMPLE_STATE``.
KERNEL_BYTES_PER_STATE = 1000
BYTES_PER_SAMPLE_STATE = 160
TORCH_BYTES_PER_SAMPLE_STATE = 1200


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


def estimate_memory(n_states: int, collision: Optional[str], chunk: int, jobs: int, device="cpu") -> int:
    """Peak bytes of an exact run: the model, ``jobs`` solves' working sets, and the chunks held at once
    (``2·jobs + 2``: those solving, queued and being consumed). Independent of the number of samples."""
    torch_path = not str(device).startswith("cpu") or collision is None  # single-agent solves run in torch
    per_sample = TORCH_BYTES_PER_SAMPLE_STATE if torch_path else BYTES_PER_SAMPLE_STATE
    model = model_bytes(n_states, collision) if collision is not None else 64 * n_states
    held = (2 * jobs + 2) * chunk * per_sample * n_states
    return int(model + jobs * KERNEL_BYTES_PER_STATE * n_states + held)


def _fit_memory(n_states: int, collision: Optional[str], chunk_size, jobs_arg, n_samples: int, device,
                max_memory: MemoryLike, what: str) -> tuple[int, int, Optional[int]]:
    """``(chunk, jobs, budget)``: the requested (or default) chunk and jobs, the defaults lowered to fit the
    budget; ``ValueError("max_memory: ...")`` up front where even one sample per chunk does not fit."""
    budget = parse_memory(max_memory)
    size = _chunk_size(chunk_size, n_states, n_samples)
    jobs = _check_jobs(jobs_arg, device)
    if budget is not None:
        while jobs_arg is None and jobs > 1 and estimate_memory(n_states, collision, 1, jobs, device) > budget:
            jobs -= 1
        while chunk_size is None and size > 1 and estimate_memory(n_states, collision, size, jobs, device) > budget:
            size = max(1, size // 2)
    hint = f" ({size} sample{'s' if size != 1 else ''} per chunk, {jobs} chunk{'s' if jobs != 1 else ''} at once)"
    check_budget(estimate_memory(n_states, collision, size, jobs, device), budget, what, n_states, hint)
    return size, jobs, budget


def _check_jobs(jobs: Optional[int], device) -> int:
    """``jobs`` chunks solved at once: all available cores on the CPU by default, one on a GPU."""
    if jobs is None:
        if str(device).startswith("cuda"):
            return 1
        return available_cores()
    if isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1:
        raise ValueError(f"jobs must be a positive integer or None, got {jobs!r}")
    return int(jobs)


def _backend(backend: Union[str, Backend, None], n_states: int, size: int, budget: Optional[int]):
    """``(backend, lookahead)`` for a run: None for this machine's threads (``None`` or ``"local"``); otherwise
    the backend, with the chunks in flight bounded so that their results fit the memory budget."""
    backend = remote(backend)
    if backend is None:
        return None, None
    lookahead = 2 * backend.jobs
    if budget is not None:
        lookahead = min(lookahead, max(2, budget // (size * BYTES_PER_SAMPLE_STATE * n_states)))
    return backend, lookahead


def _seed_config(seed_policy: SeedPolicy):
    if isinstance(seed_policy, str):
        return seed_policy
    return {"table": np.asarray(seed_policy, dtype=np.float64).tolist()}


@dataclass(frozen=True)
class ChunkUnit:
    """One chunk as a work unit: ``unit((lo, hi))`` draws samples ``lo .. hi-1`` and solves them where it runs,
    returning ``(result, draw seconds, solve seconds)``; only the pair ``(lo, hi)`` travels per unit."""

    draw: Callable[[int, int], tuple]
    solve: Callable[..., object]

    def __call__(self, bounds: tuple[int, int]) -> tuple:
        t0 = time.perf_counter()
        args = self.draw(*bounds)
        t1 = time.perf_counter()
        out = self.solve(*args)
        return out, t1 - t0, time.perf_counter() - t1


def _solve_chunks(
    n_samples: int,
    size: int,
    jobs: int,
    draw: Callable[[int, int], tuple],
    solve: Callable[..., object],
    consume: Callable[[object], None],
    timings: dict,
    progress: bool,
    desc: str,
    backend: Optional[Backend] = None,
    lookahead: Optional[int] = None,
) -> None:
    """``consume(solve(*draw(lo, hi)))`` for every chunk, in chunk order, with up to ``jobs`` solves at once.

    Rewards are drawn in the calling thread and results consumed in chunk order, so nothing depends on
    scheduling. On Ctrl-C, chunks not yet started are cancelled and the exception propagates after the running
    ones finish; everything consumed so far stays in the caller's accumulators. With a ``backend``, each chunk
    is a :class:`ChunkUnit` run by ``backend.imap`` (at most ``lookahead`` in flight), drawn where it is solved.
    """
    bounds = ((lo, min(lo + size, n_samples)) for lo in range(0, n_samples, size))  # lazily: O(1) memory
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=-(-n_samples // size), desc=desc, unit="chunk")
    if backend is not None:
        try:
            for out, draw_seconds, solve_seconds in backend.imap(ChunkUnit(draw, solve), bounds, lookahead):
                timings["rewards"] += draw_seconds
                timings["solve"] += solve_seconds
                consume(out)
                if bar is not None:
                    bar.update()
        finally:
            if bar is not None:
                bar.close()
        return

    def timed(args):
        t0 = time.perf_counter()
        out = solve(*args)
        return out, time.perf_counter() - t0

    def finish(done) -> None:
        out, seconds = done
        timings["solve"] += seconds
        consume(out)
        if bar is not None:
            bar.update()

    pool = ThreadPoolExecutor(jobs) if jobs > 1 else None
    pending: deque = deque()
    try:
        for lo, hi in bounds:
            t0 = time.perf_counter()
            args = draw(lo, hi)
            timings["rewards"] += time.perf_counter() - t0
            if pool is None:
                finish(timed(args))
                continue
            pending.append(pool.submit(timed, args))
            if len(pending) > 2 * jobs:  # bounded look-ahead keeps memory at a few chunks
                finish(pending.popleft().result())
        while pending:
            finish(pending.popleft().result())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()


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
    power_tol: Optional[float] = None,
    jobs: Optional[int] = None,
    max_memory: MemoryLike = None,
    backend: Union[str, Backend, None] = None,
) -> PowerResult:
    """Exact multi-agent POWER of H and A at every joint state.

    Args:
        layout: A :class:`~envs.layouts.Layout`, a built-in name, a file path or layout text.
        gamma: H's discount ``γ_H`` in (0, 1).
        gamma_A: A's discount (default: ``gamma``).
        n_samples: Reward pairs to average over.
        collision: ``"none"``, ``"crash"`` or ``"bounce"``.
        correlation: Reward correlation ``β`` in [-1, 1] (negative only for symmetric distributions).
        distribution: Reward distribution: name, config dict or :class:`~envs.rewards.RewardDistribution`
            (uniform [0, 1] by default).
        seed_policy: A's seed policy: ``"uniform"``, ``"stay"`` or an ``(S, 5)`` table over joint states.
        seed: Seed of the reward draws.
        redraw_constant: Redraw reward functions whose values are all equal.
        device: Torch device (``"cpu"`` or ``"cuda"``).
        chunk_size: Reward samples per chunk (default: sized to the world).
        progress: Show a tqdm progress bar over chunks.
        power_tol: Per-sample bound on the POWER error from stopping iteration (default: the solver's
            ``POWER_TOL``).
        jobs: Chunks solved at once in threads (default: the available cores on the CPU, 1 on a GPU).
            Results are identical for any value.
        max_memory: Memory budget (bytes or text such as ``"8G"``; default a fraction of the machine's memory,
            :mod:`envs.memory`). The peak is estimated before anything is allocated: default chunks and jobs
            are lowered to fit, and a world that does not fit is refused up front. Results never depend on it.
        backend: Where chunks are solved: ``None`` or ``"local"`` (``jobs`` threads here), ``"ray"`` or a
            :class:`~multipower.backends.Backend` (each chunk a work unit, drawn and solved on a worker; the
            results are byte-identical to a local run's for the same ``chunk_size``).

    Returns:
        A ``"joint"`` :class:`~multipower.results.PowerResult` with ``power_H``, ``power_H_se``, ``power_A``,
        ``power_A_se``, ``power_H_seed``, ``power_H_seed_se``, ``power_A_seed``, ``power_A_seed_se``; stats
        ``alpha`` (Pearson of POWER_H and POWER_A over states) and ``alpha_seed`` (of the two diagnostics).

    Raises:
        Interrupted: on Ctrl-C; its ``result`` holds the POWER over the chunks already finished.
    """
    gamma_H = check_gamma(gamma, "gamma")
    gamma_A = gamma_H if gamma_A is None else check_gamma(gamma_A, "gamma_A")
    power_tol = _power_tol(power_tol)
    n_samples = _check_samples(n_samples)
    grid, collision = load_layout(layout), check_collision(collision)
    n_states = joint_state_count(grid, collision)
    size, jobs, budget = _fit_memory(n_states, collision, chunk_size, jobs, n_samples, device, max_memory,
                                     f"exact POWER on {grid.name!r}")
    backend, lookahead = _backend(backend, n_states, size, budget)
    model = joint_model(grid, collision)
    seed_table = seed_policy_table(model, seed_policy)
    sampler = RewardSampler(model.n_states, make_distribution(distribution), correlation, seed, redraw_constant)
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
        "jobs": jobs,
        "power_tol": power_tol,
    }
    names = ("power_H", "power_A", "power_H_seed", "power_A_seed")
    acc = {name: MeanAccumulator() for name in names}
    timings = {"rewards": 0.0, "solve": 0.0}
    start = time.perf_counter()

    def solve(R_H, R_A):
        sol = solve_pairs(model, R_H, R_A, gamma_H, gamma_A, seed_table, device, power_tol, values_only=True)
        return {
            "power_H": power_from_next(sol.W_H, gamma_H),
            "power_A": power_from_next(sol.W_A, gamma_A),
            "power_H_seed": power_from_next(sol.W_H_seed, gamma_H),
            "power_A_seed": power_from_next(sol.W_A_seed, gamma_A),
        }

    def consume(powers: dict) -> None:
        for name, samples in powers.items():
            acc[name].add(samples)

    try:
        _solve_chunks(n_samples, size, jobs, sampler.pairs, solve, consume, timings, progress,
                      f"exact {model.layout.name}", backend, lookahead)
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
    power_tol: Optional[float] = None,
    jobs: Optional[int] = None,
    max_memory: MemoryLike = None,
    backend: Union[str, Backend, None] = None,
) -> PowerResult:
    """Exact single-agent POWER ``(1-γ)/γ · E[V*(s) - R(s)]`` at every cell (docs/concepts.md#single-agent-power).

    Rewards are ``R_H`` of a :class:`~envs.rewards.RewardSampler` over the cells, so sample ``i`` is
    reproducible. Arguments as for :func:`exact_power`.

    Returns:
        A ``"single"`` :class:`~multipower.results.PowerResult` with ``power`` and ``power_se``.

    Raises:
        Interrupted: on Ctrl-C, holding the result over the finished chunks.
    """
    gamma = check_gamma(gamma, "gamma")
    power_tol = _power_tol(power_tol)
    n_samples = _check_samples(n_samples)
    grid = load_layout(layout)
    size, jobs, budget = _fit_memory(grid.n_cells, None, chunk_size, jobs, n_samples, device, max_memory,
                                     f"single-agent POWER on {grid.name!r}")
    backend, lookahead = _backend(backend, grid.n_cells, size, budget)
    model = single_agent_model(grid)
    sampler = RewardSampler(model.n_states, make_distribution(distribution), 0.0, seed, redraw_constant)
    config = {
        "kind": "exact_single",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "gamma": gamma,
        "n_samples": n_samples,
        **sampler.to_config(),
        "device": str(device),
        "chunk_size": size,
        "jobs": jobs,
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

    def draw(lo: int, hi: int) -> tuple:
        return (sampler.pairs(lo, hi)[0],)

    def solve(R):
        return power_from_next(solve_single(model, R, gamma, device, power_tol).W, gamma)

    try:
        _solve_chunks(n_samples, size, jobs, draw, solve, acc.add, timings, progress, f"single {model.layout.name}",
                      backend, lookahead)
    except KeyboardInterrupt:
        raise Interrupted(result(interrupted=True)) from None
    return result()
