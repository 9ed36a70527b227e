"""Exact multi-agent and single-agent POWER by dynamic programming on the known model (docs/concepts.md#power).

Reward samples are cut into blocks whose size depends on the world only (``multipower.exact.blocks``); per-state
means and standard errors are accumulated in a fixed order, sample by sample inside a block and block by block
after, so the bytes of a result depend neither on ``chunk_size``, ``jobs``, the memory budget, the backend nor
interruptions. Sample ``i`` is always the same reward pair (``multipower.envs.rewards.RewardSampler``).

A work unit is one block, ``solve_block`` ``(job, unit)``: a module-level function of a small picklable
``BlockJob``, so any backend can run it. On the CPU, ``jobs`` blocks are solved at once in threads (the
compiled kernels and torch release the GIL; each solve uses one thread). Inside a block, samples go to the
solver ``chunk_size`` at a time (sized for the batched torch code and the memory budget).

With ``out_dir``, each finished block is saved to ``OUT/blocks/`` as it finishes, and a rerun resumes: see
``exact_power`` and docs/exact.md.

Accuracy: the POWER error caused by stopping iteration is at most ``power_tol`` (default ``5e-5``) per
sample and so for the mean, whatever ``γ`` is; see ``multipower.exact.solver`` for the certificate and for
how ties between optimal actions are identified.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

import numpy as np

from multipower.envs.memory import (
    MemoryLike,
    COMPILED_RUNTIME_BYTES,
    check_budget,
    process_memory,
    joint_state_count,
    model_bytes,
    parse_memory,
)
from multipower.envs.model import joint_model, single_agent_model
from multipower.envs.policies import SeedPolicy, seed_policy_table
from multipower.envs.rewards import RewardSampler
from multipower.envs.validation import (
    available_cores,
    check_count,
    check_device,
)
from multipower.exact.blocks import (
    JACKKNIFE_GROUPS,
    BlockRun,
    BlockStats,
    BlockUnit,
    Cancelled,
    block_size,
    finished_prefix,
    open_store,
    run_blocks,
    stop_requested,
)
from multipower.runs import rundir
from multipower.runs.backends import Backend, remote
from multipower.runs.execution import Execution, Storage
from multipower.runs.heap import keep_freed_memory
from multipower.runs.results import PowerResult, pearson
from multipower.runs.spec import RunSpec
from multipower.envs.problem import TwoStageProblem


def check_power_tol(power_tol: Optional[float]) -> float:
    """``power_tol``, or the solver's default ``POWER_TOL`` for None."""
    if power_tol is None:
        from multipower.exact.solver import POWER_TOL

        return POWER_TOL
    if isinstance(power_tol, bool) or not isinstance(power_tol, (int, float, np.integer, np.floating)) \
            or not 0 < power_tol < 1:
        raise ValueError(f"power_tol must be a number in (0, 1) (a bound on each sample's POWER error), got {power_tol!r}")
    return float(power_tol)


#: Elements (samples × states × actions) per chunk when ``chunk_size`` is not given (measured on maze7x7 at
#: γ = 0.99, solve time per 1,000 samples: 10.4 s at 128 samples per chunk, 16.6 s at 256, 19.4 s at 512).
CHUNK_ELEMENTS = 600_000
#: Largest default chunk (small worlds: fewer, larger batches amortise the per-chunk overhead).
MAX_CHUNK = 1024
#: Smallest default chunk (large worlds: each solver call checks the seed table and draws its rewards; on
#: robot_face20x20 at γ = 0.1, 8 samples a call take ~10 % less time per sample than 2).
MIN_CHUNK = 8
#: Bytes per state of one solve's working set in the compiled kernels (backup tables of up to 25 successors,
#: the transposed next-state table, Anderson history), and per state and sample held in a chunk (rewards, the
#: eight value arrays, the four POWER arrays, the reward draw's temporaries). The batched torch code keeps
#: ``(K, 5, S)`` tensors per sample instead: ``TORCH_BYTES_PER_SAMPLE_STATE``.
KERNEL_BYTES_PER_STATE = 1000
BYTES_PER_SAMPLE_STATE = 160
TORCH_BYTES_PER_SAMPLE_STATE = 1200


class Interrupted(KeyboardInterrupt):
    """Raised on Ctrl-C during a run; ``result`` holds the POWER over the blocks finished (or None);
    ``saved`` says whether it was written to the run folder (as a partial result)."""

    def __init__(self, result: Optional[PowerResult], saved: bool = False, note: str = "") -> None:
        super().__init__("interrupted")
        self.result = result
        self.saved = saved
        self.note = note


def _chunk_size(chunk_size: Optional[int], n_states: int, n_samples: int) -> int:
    if chunk_size is None:
        return max(1, min(n_samples, MAX_CHUNK, max(MIN_CHUNK, CHUNK_ELEMENTS // (5 * n_states))))
    return check_count(chunk_size, "chunk_size")


def estimate_memory(n_states: int, collision: Optional[str], chunk: int, jobs: int, device="cpu") -> int:
    """Peak bytes of an exact run: the model, ``jobs`` solves' working sets, the chunks held at once
    (``2·jobs + 2``: those solving, queued and being consumed) and the merged per-state statistics (with the
    jackknife's groups). Independent of the number of samples."""
    torch_path = not str(device).startswith("cpu") or collision is None  # single-agent solves run in torch
    per_sample = TORCH_BYTES_PER_SAMPLE_STATE if torch_path else BYTES_PER_SAMPLE_STATE
    model = model_bytes(n_states, collision) if collision is not None else 64 * n_states
    held = (2 * jobs + 2) * chunk * per_sample * n_states
    # The merged statistics: mean and M2 per column and state, for the run and each jackknife group, plus the
    # temporaries of a merge and the blocks queued for it (robot_face20x20: 71 MB).
    columns = 4 if collision is not None else 1
    totals = (2 * (JACKKNIFE_GROUPS + 1) + 3 + 2 * (jobs + 1)) * columns * 8 * n_states
    runtime = 0 if torch_path else COMPILED_RUNTIME_BYTES
    return int(model + jobs * KERNEL_BYTES_PER_STATE * n_states + held + totals + runtime)


def _fit_memory(n_states: int, collision: Optional[str], chunk_size, jobs_arg, n_samples: int, device,
                max_memory: MemoryLike, what: str) -> tuple[int, int, Optional[int]]:
    """``(chunk, jobs, budget)``: the requested (or default) chunk and jobs, the defaults lowered to fit the
    budget; ``ValueError("max_memory: ...")`` up front where even one sample per chunk does not fit."""
    budget = parse_memory(max_memory)
    if budget is not None and collision is not None and str(device).startswith("cpu"):
        # The compiled kernels (numba and its cached machine code: about 110 MB) are part of what the process
        # holds during the run: load them before measuring it.
        from multipower.exact import _vikernel  # noqa: F401
    size = _chunk_size(chunk_size, n_states, n_samples)
    jobs = _check_jobs(jobs_arg, device)
    if budget is not None:
        room = budget - process_memory()  # what the run may add to what the process holds
        while jobs_arg is None and jobs > 1 and estimate_memory(n_states, collision, 1, jobs, device) > room:
            jobs -= 1
        while chunk_size is None and size > 1 and estimate_memory(n_states, collision, size, jobs, device) > room:
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
    return check_count(jobs, "jobs")


def _check_spec(spec) -> RunSpec:
    """``spec`` as given, if it is a ``RunSpec`` (one line naming ``spec`` otherwise)."""
    if not isinstance(spec, RunSpec):
        raise ValueError(f"spec: must be a multipower.runs.spec.RunSpec (RunSpec(layout=..., gamma_H=...)), got "
                         f"{type(spec).__name__}")
    return spec


def _check_how(execution, storage) -> tuple[Execution, Optional[Storage]]:
    """``(execution, storage)`` with the default ``Execution()``; one line naming the argument of another type."""
    execution = Execution() if execution is None else execution
    if not isinstance(execution, Execution):
        raise ValueError(f"execution: must be a multipower.runs.execution.Execution, got {type(execution).__name__}")
    if storage is not None and not isinstance(storage, Storage):
        raise ValueError(f"storage: must be a multipower.runs.execution.Storage or None, got {type(storage).__name__}")
    return execution, storage


def _seed_config(seed_policy: SeedPolicy):
    if isinstance(seed_policy, str):
        return seed_policy
    return {"table": np.asarray(seed_policy, dtype=np.float64).tolist()}


@dataclass(frozen=True)
class BlockJob:
    """Everything a block's numbers depend on, small and picklable (the world is rebuilt and cached per process).

    ``kind`` is ``"joint"``, ``"single"`` or ``"graph"`` (then ``layout_text`` is the graph's DOT source); ``sampler`` and ``seed_policy`` are JSON text; ``chunk`` is the
    samples per solver call (memory only, never the numbers); ``token`` names the run for Ctrl-C.
    """

    kind: str
    layout_text: str
    layout_name: str
    collision: Optional[str]
    gamma_H: float
    gamma_A: float
    sampler: str
    seed_policy: str
    device: str
    power_tol: float
    block: int
    chunk: int
    n_samples: int
    token: str = ""
    slip: float = 0.0


_WORLD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _world(kind: str, layout_text: str, layout_name: str, collision: Optional[str], seed_policy: str, sampler: str,
           slip: float = 0.0):
    """``(model, seed table or None, RewardSampler)`` of a job, built once per process (call it under
    ``_WORLD_LOCK``: ``lru_cache`` lets threads that miss at once each build the world)."""
    from multipower.envs.layouts import parse_layout

    cfg = json.loads(sampler)
    if kind == "joint_graph":  # layout_text holds the joint graph's DOT source
        from multipower.envs.joint_graph import parse_joint_graph
        from multipower.envs.joint_graph import graph_seed_table

        model = parse_joint_graph(layout_text, name=layout_name)
        policy = json.loads(seed_policy)
        table = graph_seed_table(model, policy if isinstance(policy, str) else np.asarray(policy["table"]))
        draws = RewardSampler(model.n_states, cfg["distribution"], cfg["correlation"], cfg["seed"],
                              cfg["redraw_constant"])
        return model, table, draws
    if kind == "graph":  # layout_text holds the graph's DOT source
        from multipower.envs.graph_mdp import parse_graph_mdp

        model, table = parse_graph_mdp(layout_text, name=layout_name), None
        draws = RewardSampler(model.n_states, cfg["distribution"], 0.0, cfg["seed"], cfg["redraw_constant"])
        return model, table, draws
    grid = parse_layout(layout_text, name=layout_name)
    if kind == "single":
        model, table = single_agent_model(grid, slip), None
    else:
        model = joint_model(grid, collision, slip)
        policy = json.loads(seed_policy)
        table = seed_policy_table(model, policy if isinstance(policy, str) else np.asarray(policy["table"]))
    draws = RewardSampler(model.n_states, cfg["distribution"], cfg["correlation"], cfg["seed"], cfg["redraw_constant"])
    return model, table, draws


def _powers(job: BlockJob, model, table, R_H: np.ndarray, R_A: np.ndarray) -> tuple[tuple, np.ndarray]:
    """Per-sample POWER columns of one solver call, as ``(W columns, scales)``: column ``c`` is
    ``power_from_next(W[c], γ_c)``, ``W[c]`` ``(k, S)`` times ``scales[c] = 1 - γ_c`` (``C`` = 4 joint, 1 single;
    ``welford_columns`` adds them without building the ``(k, C, S)`` array)."""
    # The solver (and torch under it) loads at the first solve, not on import: `multipower exact --help` stays fast.
    from multipower.exact import solver

    if job.kind in ("single", "graph"):
        solve = solver.solve_single if job.kind == "single" else solver.solve_mdp
        W = solve(model, R_H, job.gamma_H, job.device, job.power_tol).W
        return _scaled((W, job.gamma_H))
    if job.kind == "joint_graph":
        from multipower.exact.joint_graph import solve_joint_graph

        problem = TwoStageProblem(model, R_H, R_A, job.gamma_H, job.gamma_A, seed_policy=table)
        sol = solve_joint_graph(problem, job.device, job.power_tol)
    else:
        problem = TwoStageProblem(model, R_H, R_A, job.gamma_H, job.gamma_A, seed_policy=table)
        sol = solver.solve_pairs(problem, job.device, job.power_tol, values_only=True)
    return _scaled((sol.W_H, job.gamma_H), (sol.W_A, job.gamma_A), (sol.W_H_seed, job.gamma_H),
                   (sol.W_A_seed, job.gamma_A))


def _scaled(*columns) -> tuple[tuple, np.ndarray]:
    """``(W arrays, scales)`` of ``(W, γ)`` pairs: POWER is ``power_from_next(W, γ) = W · (1 - γ)``."""
    from multipower.exact.solver import power_from_next

    scales = np.array([power_from_next(1.0, gamma) for _, gamma in columns], dtype=np.float64)
    return tuple(np.ascontiguousarray(W, dtype=np.float64) for W, _ in columns), scales


def solve_block(job: BlockJob, unit: BlockUnit) -> BlockStats:
    """Solve block ``unit.k`` (samples ``[kB, min((k+1)B, n))``), continuing ``unit.prior`` when given.

    Returns the block's per-column, per-state mean and ``M2`` ``(C, S)``, accumulated sample by sample in index
    order (``multipower.exact._blockstats.welford_columns``), so any ``job.chunk`` gives the same bytes.

    Raises:
        Cancelled: when the run was stopped (between solver calls).
    """
    from multipower.exact._blockstats import welford_columns

    t0 = time.perf_counter()
    with _WORLD_LOCK:  # the block threads of one run share one world, built by the first
        model, table, draws = _world(job.kind, job.layout_text, job.layout_name, job.collision, job.seed_policy,
                                     job.sampler, job.slip)
    start, end = unit.k * job.block, min((unit.k + 1) * job.block, job.n_samples)
    n_columns = 4 if job.kind in ("joint", "joint_graph") else 1
    if unit.prior is not None:
        at, mean, m2 = unit.prior.end, unit.prior.mean.reshape(-1).copy(), unit.prior.m2.reshape(-1).copy()
    else:
        at, mean, m2 = start, np.zeros(n_columns * model.n_states), np.zeros(n_columns * model.n_states)
    count = at - start
    for lo in range(at, end, job.chunk):
        if stop_requested(job.token):
            raise Cancelled
        hi = min(lo + job.chunk, end)
        R_H, R_A = draws.pairs(lo, hi)
        columns, scales = _powers(job, model, table, R_H, R_A if job.kind in ("joint", "joint_graph") else None)
        count = welford_columns(columns, scales, mean, m2, count)
    shape = (n_columns, model.n_states)
    return BlockStats(start, end, mean.reshape(shape), m2.reshape(shape), time.perf_counter() - t0)


def _manifest_key(job: BlockJob) -> dict:
    """What a saved result and its blocks depend on (not the number of samples: runs extend and resume)."""
    return {
        "kind": {"joint": "exact", "single": "exact_single", "graph": "exact_graph",
                 "joint_graph": "exact_joint_graph"}[job.kind],
        "layout_text": job.layout_text,
        "collision": job.collision, "gamma_H": job.gamma_H, "gamma_A": job.gamma_A,
        "sampler": json.loads(job.sampler), "seed_policy": json.loads(job.seed_policy),
        "device": "cuda" if str(job.device).startswith("cuda") else "cpu", "power_tol": job.power_tol,
        "block_size": job.block,
        **({"slip": job.slip} if job.slip else {}),  # deterministic runs keep the key they always had
    }


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _run(job: BlockJob, make_result, storage: Optional[Storage], jobs: int, execution: Execution,
         desc: str) -> PowerResult:
    """Accumulate a run's blocks (resuming from ``storage``), write its result there, and return it.

    ``make_result(totals, timings, complete) -> PowerResult``. See ``exact_power`` for what is written.
    The run folder is locked for writing meanwhile (``multipower.runs.rundir.hold``).
    """
    keep_freed_memory()  # each chunk reuses the last one's pages (multipower.runs.heap)
    out_dir = None if storage is None else storage.out_dir
    held = out_dir is not None and rundir.holds(out_dir)
    try:
        return _run_blocks(job, make_result, storage, jobs, execution, desc)
    finally:
        if out_dir is not None and not held:
            rundir.release(out_dir)


def _run_blocks(job: BlockJob, make_result, storage: Optional[Storage], jobs: int, execution: Execution,
                desc: str) -> PowerResult:
    out_dir = None if storage is None else storage.out_dir
    restart, overwrite = (False, False) if storage is None else (storage.restart, storage.overwrite)
    files = None if storage is None else storage.files
    key = _manifest_key(job)
    kind, n = key["kind"], job.n_samples
    store, write, saved_done = None, False, 0
    if out_dir is not None:
        out_dir = rundir.check_out(out_dir, kind, key, overwrite)
        manifest, why = rundir.verify(out_dir, kind, key)
        if manifest is not None and not restart:
            saved_done = int(manifest["samples_done"])
            if manifest["complete"] and saved_done == n and manifest["samples_requested"] == n:
                reused = PowerResult.load(out_dir)  # this very run, finished and intact
                reused.config["reused"] = True  # not saved: says where the result came from
                return reused
        elif manifest is None and not restart and (out_dir / "power.csv").exists():
            _say(f"{out_dir}: the saved result is not reused ({why}); finished sample blocks are")
        store, note = open_store(out_dir, {**key, "numerics_version": rundir.NUMERICS_VERSION}, restart)
        if note:
            _say(f"{out_dir}: {note}")
        finished = finished_prefix(store, job.block)
        larger = max(saved_done, finished)
        write = larger <= n
        if write and finished:
            _say(f"resuming: {finished:,} of {n:,} samples already finished in {store.path}")
        if not write:
            _say(f"{out_dir} holds {larger:,} samples; reporting the first {n:,} of them (nothing written; "
                 f"--restart starts over)")
    run = BlockRun(n)
    timings = {}
    t0 = time.perf_counter()

    def result(complete: bool) -> Optional[PowerResult]:
        timings.update(total=time.perf_counter() - t0, solve=run.seconds, blocks_solved=run.solved,
                       blocks_loaded=run.loaded)
        return make_result(run.totals, timings, complete) if run.totals.count else None

    try:
        backend = remote(execution.backend) or Backend(jobs)
        run_blocks(run, solve_block, job, store, write, backend, bool(execution.progress), desc)
    except KeyboardInterrupt:
        partial = result(complete=False)
        saved, note = False, ""
        if partial is not None and write and run.totals.count > saved_done:
            partial.save(out_dir, run_kind=kind, key=key, files=files)
            saved = True
        elif out_dir is not None and saved_done:
            note = f"{out_dir} keeps its earlier result of {saved_done:,} samples"
        raise Interrupted(partial, saved, note) from None
    final = result(complete=True)
    if write:
        final.save(out_dir, run_kind=kind, key=key, files=files)
    elif out_dir is not None:
        final.config["prefix_of"] = larger  # not saved: the folder keeps its larger result
    return final


def _job(kind: str, model, sampler: RewardSampler, seed_policy, gamma_H: float, gamma_A: float, device,
         power_tol: float, chunk: int, n_samples: int) -> BlockJob:
    graph = kind in ("graph", "joint_graph")
    text, name = (model.text, model.name) if graph else (model.layout.to_text(), model.layout.name)
    return BlockJob(
        kind, text, name, getattr(model, "collision", None), gamma_H, gamma_A,
        json.dumps(sampler.to_config(), sort_keys=True), json.dumps(seed_policy, sort_keys=True), str(device),
        power_tol, block_size(model.n_states), min(chunk, block_size(model.n_states)), n_samples, uuid.uuid4().hex,
        getattr(model, "slip", 0.0),
    )


def _progress_config(config: dict, totals, complete: bool) -> dict:
    return {**config, "samples_done": int(totals.count), "samples_requested": int(config["n_samples"]),
            "complete": bool(complete and totals.count == config["n_samples"]), "interrupted": not complete}


PathLike = Union[str, Path]
#: The columns of a two-agent result, in the order of a block's statistics.
JOINT_COLUMNS = ("power_H", "power_A", "power_H_seed", "power_A_seed")


def joint_result_maker(kind: str, labels: np.ndarray, config: dict):
    """``make_result(totals, timings, complete)`` of a two-agent run: the four POWER columns with their standard
    errors, ``alpha`` and ``alpha_seed``, and α's jackknife uncertainty (docs/concepts.md#alpha-is-noisy: per-state
    POWER is a mean over samples, and its noise pulls the correlation toward 0)."""

    def make_result(totals, timings: dict, complete: bool) -> PowerResult:
        arrays, se = {}, totals.se()
        for i, name in enumerate(JOINT_COLUMNS):
            arrays[name], arrays[f"{name}_se"] = totals.mean[i], se[i]
        stats = {
            "alpha": pearson(arrays["power_H"], arrays["power_A"]),
            "alpha_seed": pearson(arrays["power_H_seed"], arrays["power_A_seed"]),
        }
        spread = totals.jackknife(lambda mean: pearson(mean[0], mean[1]))
        if spread is not None:
            stats.update(alpha_se=spread[0], alpha_ci_low=spread[1], alpha_ci_high=spread[2])
        return PowerResult(kind, labels, arrays, _progress_config(config, totals, complete), stats, timings)

    return make_result


def exact_power(
    spec: RunSpec,
    *,
    power_tol: Optional[float] = None,
    execution: Optional[Execution] = None,
    storage: Optional[Storage] = None,
) -> PowerResult:
    """Exact multi-agent POWER of H and A at every joint state.

    Args:
        spec: What to compute (``multipower.runs.spec.RunSpec``): the layout, collision rule and slip, both
            discounts, the reward draws (``n_samples``, ``distribution``, ``correlation``, ``seed``,
            ``redraw_constant``) and A's seed policy (``"uniform"``, ``"stay"`` or a ``.npy`` table over joint
            states). Its learner fields are not used.
        power_tol: Per-sample bound on the POWER error from stopping iteration (default: the solver's
            ``POWER_TOL``).
        execution: How and where (``multipower.runs.execution.Execution``; results never depend on it):
            ``jobs``, blocks solved at once in threads (default: the available cores on the CPU, 1 on a GPU);
            ``chunk_size``, reward samples per solver call (default: sized to the world; at most a block);
            ``max_memory``, the budget (the peak is estimated before anything is allocated: default chunks and
            jobs are lowered to fit, and a world that does not fit is refused up front); ``device`` (default
            ``"cpu"``); ``backend``, where blocks are solved (``None``/``"local"``: ``jobs`` threads here,
            ``"ray"``: a Ray cluster, ``multipower.runs.ray_backend``; same bytes on any); ``progress``, a tqdm bar
            over blocks.
        storage: The run folder (``multipower.runs.execution.Storage``; default: nothing is saved). Checked first
            (``multipower.runs.rundir.check_out``: refused if it holds another run or files multipower did not
            write, unless ``overwrite``). Each finished block is saved to ``OUT/blocks/``; a rerun resumes, a
            larger ``n_samples`` extends, a smaller one is computed from the saved blocks and returned without
            writing anything; ``restart`` discards the saved blocks. The result is written atomically as
            ``power.csv`` + ``summary.json`` (+ ``files``) with ``manifest.json`` listing them.

    Returns:
        A ``"joint"`` ``PowerResult`` with ``power_H``, ``power_H_se``, ``power_A``,
        ``power_A_se``, ``power_H_seed``, ``power_H_seed_se``, ``power_A_seed``, ``power_A_seed_se``; stats
        ``alpha`` (Pearson of POWER_H and POWER_A over states) and ``alpha_seed`` (of the two diagnostics).
        Its config records ``samples_done``, ``samples_requested``, ``complete`` and ``block_size``.

    Raises:
        Interrupted: on Ctrl-C; its ``result`` holds the POWER over the blocks already finished (saved to
            ``out_dir`` as a partial result, unless the folder already held more samples).
        rundir.OutputError: (a ``ValueError``) when ``out_dir`` cannot be used.
    """
    spec = _check_spec(spec)
    execution, storage = _check_how(execution, storage)
    device = execution.device_or("cpu")
    gamma_H, gamma_A, power_tol = spec.gamma_H, spec.discount_A, check_power_tol(power_tol)
    n_samples, collision, slip = spec.n_samples, spec.collision, spec.slip
    draws = spec.draws()
    check_device(device)  # the draws were checked when the spec made them
    grid = spec.layout_object()
    n_states = joint_state_count(grid, collision)
    size, jobs, _ = _fit_memory(n_states, collision, execution.chunk_size, execution.jobs, n_samples, device,
                                execution.max_memory, f"exact POWER on {grid.name!r}")
    model = joint_model(grid, collision, slip)
    seed_policy = spec.seed_policy_value()
    seed_policy_table(model, seed_policy)  # checked here, before any work; each process rebuilds it from the job
    sampler = draws.sampler(model.n_states)
    sampler.pairs(0, 1)  # a distribution that cannot give a non-constant function (--redraw-constant) fails here,
    # before the run folder is made
    job = _job("joint", model, sampler, _seed_config(seed_policy), gamma_H, gamma_A, device, power_tol, size,
               n_samples)
    config = {
        "kind": "exact",
        "layout": model.layout.name,
        "layout_text": model.layout.to_text(),
        "collision": model.collision,
        "slip": slip,
        "gamma": gamma_H,
        "gamma_H": gamma_H,
        "gamma_A": gamma_A,
        "n_samples": n_samples,
        **sampler.to_config(),
        "seed_policy": _seed_config(seed_policy),
        "device": str(device),
        "chunk_size": job.chunk,
        "block_size": job.block,
        "jobs": jobs,
        "power_tol": power_tol,
    }
    make_result = joint_result_maker("joint", model.state_labels(), config)
    return _run(job, make_result, storage, jobs, execution, f"exact {model.layout.name}")
