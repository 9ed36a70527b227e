"""The training driver: every learner's runs in chunks of reward samples, each saved the moment it finishes
(docs/learning.md#saving-and-resuming).

``multipower train`` and ``multipower compare`` train through ``train_chunks``, the one place that cuts a run
into chunks, runs them (in this process, in worker processes, or on a ``Backend`` such as a Ray cluster),
reports progress, gives each chunk its TensorBoard folder and writes each finished chunk to a ``ChunkStore``
(a temporary file renamed into place). So a run stopped by Ctrl-C, SIGTERM or SIGKILL keeps every finished
chunk and a rerun trains only the missing samples. The learners only train one chunk: each learner module
exposes ``train_chunk(task, progress)`` (``multipower.agents.chunk``). A sample's agents depend only on its
reward functions, the seed and the hyperparameters, never on its chunk, the worker count or an interruption
(Q-learning: ``multipower.agents.qlearning``; PPO: ``multipower.agents.ppo``; SB3: one seed per sample), so a
resumed run ends with the same arrays as one never interrupted.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import signal
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import replace
from typing import Any, Iterator, Mapping, Optional

import numpy as np

from multipower.agents import qlearning_config, qlearning_stages
from multipower.agents.chunk import ChunkTask, Progress
from multipower.agents.logging import ExactQ, policy_metrics, solver_convention
from multipower.agents.storage import TrainedAgents
from multipower.envs.joint_graph import JointGraph
from multipower.envs.policies import is_deterministic
from multipower.envs.problem import JointWorld, TwoStageProblem, world_config
from multipower.envs.validation import available_cores, check_seed
from multipower.runs.backends import remote
from multipower.runs.execution import Execution
from multipower.runs.rundir import NUMERICS_VERSION
from multipower.learned.workers import imap_unordered, init_worker
from multipower.runs.spec import LEARNERS, RunSpec, SpecError

#: Q-learning work per default chunk, in joint states × H's ``min_visits`` per sample: about 10 s on one core
#: (measured: maze7x7 at γ = 0.6, 961 states × 9,487 visits, 1.65 s per sample; grid3x3, 0.12 s per sample).
QLEARNING_WORK_PER_CHUNK = 60_000_000
#: Samples per chunk of the SB3 trainer (one MaskablePPO model per sample, minutes each).
SB3_CHUNK = 1


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt`` in the main thread, as Ctrl-C does, so both stop
    a run alike (workers killed, finished chunks kept)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def learner_settings(algo: str, options: dict, gamma_H: float, gamma_A: float, seed_table: np.ndarray,
                     model: Optional[JointWorld] = None) -> Any:
    """The learner's validated hyperparameters from ``--option`` values: Q-learning ``(config_H, config_A)``
    (``(None, None)`` without options: per-sample defaults), a ``PPOConfig`` or an ``SB3PPOConfig``. Q-learning's
    defaults follow the world ``model`` (``qlearning_config.default_config``; default: no slip, one outcome each).

    Raises:
        SpecError: naming ``--option`` and the field, for an unknown field or a bad value.
    """
    if algo == "ppo":
        return ppo_config(dict(options), gamma_H, gamma_A, True if model is None else model.deterministic)
    if algo == "qlearning":
        if not options:
            return None, None
        _known(options, qlearning_config.QLearningConfig.__dataclass_fields__, "Q-learning")
        try:
            fixed, moves = (True, True) if model is None else (model.slip == 0.0, model.deterministic)
            return tuple(qlearning_config.default_config(gamma, deterministic_other=other, deterministic_moves=moves,
                                                         **options)  # A's other is frozen greedy H
                         for gamma, other in ((gamma_H, fixed and is_deterministic(seed_table)), (gamma_A, fixed)))
        except ValueError as error:
            raise SpecError(f"--option {error}") from None
    from multipower.agents.sb3_ppo import SB3PPOConfig

    _known(options, SB3PPOConfig.__dataclass_fields__, "SB3 PPO")
    try:
        return SB3PPOConfig(**options)
    except ValueError as error:
        raise SpecError(f"--option {error}") from None


def _known(options: dict, fields, what: str) -> None:
    unknown = sorted(set(options) - set(fields))
    if unknown:
        hint = " (use --jobs, --chunk, --device)" if unknown[0] in PPO_RUN_OPTIONS else ""
        raise SpecError(f"--option {unknown[0]}: not a {what} hyperparameter{hint}; allowed: {', '.join(fields)}")


def chunk_key(spec: RunSpec, settings: Any) -> dict:
    """What every chunk of ``spec``'s training depends on (the ChunkStore key, and the manifest's configuration):
    the spec without its number of samples (a joint graph's source by its SHA-256), the learner's hyperparameters
    and the numerics version."""
    kept = {k: v for k, v in spec.to_dict().items() if k not in ("n_samples", "learner_options")}
    if spec.mdp is not None:  # a graph's source by its digest: the key is saved with every chunk folder
        kept["mdp"] = hashlib.sha256(spec.mdp.encode()).hexdigest()
    return {**kept, "hyperparameters": hyperparameters(settings, spec.gamma_H, spec.discount_A),
            "trainer": spec.learner, "numerics_version": NUMERICS_VERSION}


def even_chunk(n_samples: int, n_jobs: int, cap: int) -> int:
    """At most ``cap`` samples per chunk, the chunks spread evenly over the workers (100 samples, cap 32, 2 workers:
    4 chunks of 25, not 32, 32, 32 and 4)."""
    n_chunks = -(-n_samples // cap)
    n_chunks = -(-n_chunks // n_jobs) * n_jobs
    return max(1, -(-n_samples // n_chunks))


def check_learner_world(algo: str, settings: Any, model) -> None:
    """Refuse (``SpecError``, one line) before any work what a joint graph cannot serve: ``sb3-ppo`` (it trains on
    layouts) and PPO's ``"vector"`` observation (a graph's states are observed by index)."""
    if not isinstance(model, JointGraph):
        return
    if algo == "sb3-ppo":
        raise SpecError("--algo sb3-ppo trains on layouts only; on a joint graph (--mdp) use qlearning or ppo")
    if algo == "ppo" and settings.observation != "index":
        raise SpecError("--option observation: a joint graph's states are observed by index; give observation=index "
                        "(the default)")


def check_learner_memory(algo: str, settings: Any, model, gamma_H: float, gamma_A: float, n_samples: int,
                         max_memory=None, chunk: Optional[int] = None) -> None:
    """Refuse up front (``ValueError("max_memory: ...")``, before any folder is made) learner settings whose working
    set does not fit the budget: PPO's networks and rollouts (``n_envs``, ``n_steps``, ``net_arch``) for a chunk
    of samples at each agent's discount, Q-learning's walkers (``walkers``) for a chunk. The results kept for
    every sample are ``multipower.agents.qlearning_config.check_memory``'s."""
    from multipower.envs.memory import check_budget, parse_memory

    budget = parse_memory(max_memory)
    if budget is None:
        return
    if algo == "ppo":
        from multipower.agents.ppo import check_network_memory

        k = chunk or default_ppo_chunk(n_samples, 1)
        for gamma in (gamma_H, gamma_A):
            config = settings.for_gamma(gamma, model.deterministic)
            n_inputs = model.n_states if config.observation == "index" else 2 * model.n_cells
            check_network_memory(k, n_inputs, config.net_arch, model.n_states, config, budget)
    elif algo == "qlearning":
        walkers = max(config.walkers or 0 for config in settings if config is not None) if any(settings) else 0
        if walkers:
            k = chunk or max(1, qlearning_config.MAX_WALKERS // walkers)
            check_budget(k * walkers * WALKER_BYTES, budget, f"Q-learning with walkers={walkers:,} for {k} samples "
                         "at once", model.n_states)


#: Bytes per Q-learning walker and sample: its joint state, step counter, random-stream counters and the
#: batch arrays of one step (int64 and float64 each).
WALKER_BYTES = 64


def default_chunk(algo: str, n_samples: int, n_jobs: int, n_states: int, settings: Any, gamma_H: float) -> int:
    """Samples per chunk for ``qlearning`` (about ``QLEARNING_WORK_PER_CHUNK`` of work, spread evenly over the
    workers) and ``sb3-ppo`` (``SB3_CHUNK``); batched PPO's is ``default_ppo_chunk``."""
    if algo == "sb3-ppo":
        return SB3_CHUNK
    config_H = settings[0] or qlearning_config.default_config(gamma_H)
    return even_chunk(n_samples, n_jobs, max(1, QLEARNING_WORK_PER_CHUNK // (n_states * max(1, config_H.min_visits))))


def progress_total(algo: str, n_samples: int, settings: Any, gamma_H: float, gamma_A: float) -> tuple[int, str]:
    """``(total, unit)`` of ``train_chunks``' progress for ``n_samples`` samples to train: PPO counts updates
    of one sample's agent (H's and A's, each at its discount), the others finished samples."""
    if algo == "ppo":
        from multipower.agents.ppo import updates_per_sample

        return updates_per_sample(settings, gamma_H, gamma_A) * n_samples, "update"
    return n_samples, "sample"


#: Options of the trainers that are not hyperparameters: worker processes, samples per chunk, torch device.
PPO_RUN_OPTIONS = ("n_jobs", "chunk", "device")


def default_ppo_chunk(n_samples: int, n_jobs: int, cuda: bool = False) -> int:
    """Batched PPO's samples per batch: at most 32 on the CPU (256 on CUDA), so Ctrl-C costs minutes at most, with
    the chunks spread evenly over the workers (100 samples on 2 workers: 4 chunks of 25, not 32, 32, 32 and 4)."""
    return even_chunk(n_samples, n_jobs, 256 if cuda else 32)


def ppo_config(options: dict, gamma_H: float, gamma_A: float, deterministic_moves: bool = True):
    """``multipower.agents.ppo.PPOConfig`` from ``--option`` values, checked as each agent will use it (``for_gamma``;
    the joint critic off where moves can have several outcomes); an unknown name gets one line listing the fields."""
    from multipower.agents.ppo import PPOConfig

    fields = PPOConfig.__dataclass_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        hint = " (use --jobs, --chunk, --device)" if unknown[0] in PPO_RUN_OPTIONS else ""
        raise SpecError(f"--option {unknown[0]}: not a PPO hyperparameter{hint}; allowed: {', '.join(fields)}")
    if isinstance(options.get("net_arch"), list):
        options = {**options, "net_arch": tuple(options["net_arch"])}
    try:
        config = PPOConfig(**options)
        config.for_gamma(gamma_H, deterministic_moves), config.for_gamma(gamma_A, deterministic_moves)  # bad sizes
    except ValueError as error:
        raise SpecError(f"--option {error}") from None
    return config if deterministic_moves or config.joint_critic is not None else replace(config, joint_critic=False)


def check_algo(algo: str) -> str:
    """``algo`` when it is one of ``LEARNERS``; ``ValueError`` naming them otherwise."""
    if algo not in LEARNERS:
        raise ValueError(f"algo must be one of {LEARNERS}, got {algo!r}")
    return algo


#: The learner module of each algorithm; each exposes ``train_chunk(task, progress)`` (``multipower.agents.chunk``).
LEARNER_MODULES = {"qlearning": "multipower.agents.qlearning_stages", "ppo": "multipower.agents.ppo",
                   "sb3-ppo": "multipower.agents.sb3_ppo"}


def train_unit(unit: tuple[str, ChunkTask], progress: Optional[Progress] = None) -> tuple[int, int, dict]:
    """Train one work unit ``(algo, task)``: ``(start, stop, arrays)`` with the learner's arrays (one row per
    sample: ``policy_H``, ``policy_A`` ``(k, S, 5)``, ``seconds`` ``(k, 2)``; Q-learning also ``q_env_H``,
    ``q_env_A`` and ``steps``). A module-level function of a picklable unit, so any backend can run it."""
    algo, task = unit
    arrays = importlib.import_module(LEARNER_MODULES[algo]).train_chunk(task, progress)
    return task.start, task.stop, arrays


def train_chunks(
    algo: str,
    problem: TwoStageProblem,
    seed: int,
    settings: Any,
    *,
    execution: Optional[Execution] = None,
    store=None,
    tensorboard: Optional[str] = None,
    reference: Optional[ExactQ] = None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Both stages of ``algo`` for the ``K`` reward pairs of ``problem``, in chunks: the one training driver of
    every learner.

    The samples ``store`` lacks are cut into chunks; each chunk is one ``(algo, ChunkTask)`` unit, trained by
    the learner's ``train_chunk`` here, in ``execution.jobs`` worker processes, or on ``execution.backend``, and
    saved to ``store`` the moment it finishes.

    Args:
        algo: ``"qlearning"``, ``"ppo"`` or ``"sb3-ppo"``.
        problem: The world, the ``(K, S)`` reward pairs, the discounts and A's seed policy.
        seed: Fixes the learners' random draws.
        settings: ``learner_settings``' value.
        execution: How and where (``multipower.runs.execution.Execution``; the arrays never depend on it):
            ``jobs``, worker processes (default: the available cores; batched PPO on CUDA: 1); ``chunk_size``,
            samples per chunk (default ``default_chunk``, or for PPO ``default_ppo_chunk``); ``device``, the
            torch device of batched PPO (default ``"auto"``); ``backend`` (``None``/``"local"``: ``jobs``
            processes here; ``"ray"`` or a ``Backend``: each chunk is a work unit there, ``jobs`` defaulting to
            the backend's, returned here and saved by this process); ``progress``, a callable given the work done
            (``progress_total``'s unit), from worker processes too (batched PPO reports every update, the others
            every finished sample; ``True``/``False``: nothing is reported).
        store: A ``ChunkStore``: only the samples it lacks are trained, and each chunk is saved there the moment
            it finishes; without one, nothing is saved.
        tensorboard: TensorBoard folder: chunk ``[a, b)`` logs to ``TENSORBOARD/chunk<a:07d>`` (what each learner
            writes there: its ``train_chunk``).
        reference: Exact optimal action values (``multipower.agents.logging.ExactQ``) for TensorBoard's accuracy
            curves.

    Returns:
        The arrays of ``train_unit`` for all ``K`` samples, and the run's settings (``hyperparameters``,
        ``n_jobs``, ``chunk``; PPO also ``observation`` and ``device``).
    Raises:
        KeyboardInterrupt: after the workers are killed; the chunks saved so far stay in ``store``.
    """
    execution = Execution() if execution is None else execution
    model, R_H, gamma_H, gamma_A = problem.model, problem.R_H, problem.gamma_H, problem.gamma_A
    seed_table, jobs, chunk = problem.seed_table(), execution.jobs, execution.chunk_size
    progress = execution.progress if callable(execution.progress) else None
    K = len(R_H)
    backend = remote(execution.backend)
    torch_device = _ppo_device(execution.device_or("auto")) if algo == "ppo" else None
    on_cuda = torch_device is not None and torch_device.type == "cuda"
    n_jobs = 1 if on_cuda else jobs or (backend.jobs if backend is not None else available_cores())
    if chunk is None:
        chunk = (default_ppo_chunk(K, n_jobs, on_cuda) if algo == "ppo"
                 else default_chunk(algo, K, n_jobs, model.n_states, settings, gamma_H))
    gaps = store.missing(K) if store is not None else [(0, K)]
    problem = replace(problem, seed_policy=seed_table)  # the table itself: each chunk reads it, never rebuilds it
    units = [(algo, ChunkTask(problem.rows(a, b), int(seed), a, settings,
                              "cpu" if torch_device is None else str(torch_device),
                              None if tensorboard is None else f"{tensorboard}/chunk{a:07d}", reference))
             for a, b in _cut(gaps, chunk)]
    parts = {}
    for start, stop, arrays in _run_units(units, n_jobs, backend, on_cuda, progress, settings, gamma_H, gamma_A):
        if store is not None:
            store.save(start, stop, **arrays)
        else:
            parts[start] = arrays
    if store is not None:
        arrays = store.load(K)
    else:
        arrays = {name: np.concatenate([parts[a][name] for a in sorted(parts)]) for name in parts[0]}
    run = {"hyperparameters": hyperparameters(settings, gamma_H, gamma_A), "n_jobs": n_jobs, "chunk": chunk}
    if hasattr(settings, "observation"):
        run["observation"] = settings.observation
    if torch_device is not None:
        run["device"] = str(torch_device)
    return arrays, run


def _ppo_device(device: str):
    from multipower.agents.ppo import resolve_device  # torch loads only for PPO

    try:
        return resolve_device(device)
    except ValueError as error:
        raise SpecError(str(error)) from None


def _run_units(units: list, n_jobs: int, backend, in_process: bool, progress, settings, gamma_H: float,
               gamma_A: float) -> Iterator[tuple[int, int, dict]]:
    """Each unit's ``(start, stop, arrays)`` as it finishes: on ``backend`` (progress per chunk), in this process
    (``in_process``, one job or one unit), or in ``n_jobs`` worker processes that report their progress through a
    queue the driver drains at least every half second (a PPO bar moves per update, not per chunk)."""
    if not units:  # the store holds every sample already
        return
    if backend is not None and not in_process:
        with closing(backend.imap(train_unit, units)) as results:
            for start, stop, arrays in results:
                if progress is not None:
                    progress(progress_total(units[0][0], stop - start, settings, gamma_H, gamma_A)[0])
                yield start, stop, arrays
        return
    if in_process or n_jobs == 1 or len(units) == 1:
        for unit in units:
            yield train_unit(unit, progress)
        return
    import multiprocessing

    reports = multiprocessing.SimpleQueue() if progress is not None else None
    threads = 1 if units[0][0] != "qlearning" else None  # torch: processes side by side beat threads (measured)
    with closing(imap_unordered(_train_unit_in_worker, units, min(n_jobs, len(units)), initializer=_init_worker,
                                initargs=(reports, threads), poll=lambda: _drain(reports, progress))) as results:
        for result in results:
            _drain(reports, progress)
            yield result


_REPORTS = None  # in a worker: the queue its progress goes through (None: not reported)


def _init_worker(reports, threads: Optional[int]) -> None:
    global _REPORTS
    _REPORTS = reports
    init_worker(threads=threads)


def _train_unit_in_worker(unit) -> tuple[int, int, dict]:
    return train_unit(unit, None if _REPORTS is None else _REPORTS.put)


def _drain(reports, progress) -> None:
    """Hand the work the workers reported so far to ``progress``."""
    if reports is None:
        return
    count = 0
    while not reports.empty():
        count += reports.get()
    if count:
        progress(count)


def _cut(gaps: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk: must be a positive integer (samples trained at once), got {chunk!r}")
    return [(a, min(b, a + int(chunk))) for start, b in gaps for a in range(start, b, int(chunk))]


def hyperparameters(settings: Any, gamma_H: float, gamma_A: float) -> Any:
    """JSON of ``learner_settings``' value (Q-learning without options: ``"default"``; batched PPO: each
    agent's config as filled for its discount)."""
    if hasattr(settings, "for_gamma"):
        return {"H": settings.for_gamma(gamma_H).to_dict(), "A": settings.for_gamma(gamma_A).to_dict()}
    if hasattr(settings, "to_dict"):
        return settings.to_dict()
    return "default" if settings[0] is None else {"H": settings[0].to_dict(), "A": settings[1].to_dict()}


def train_agents(
    algo: str,
    problem: TwoStageProblem,
    seed: int = 0,
    options: Optional[dict] = None,
    *,
    execution: Optional[Execution] = None,
    store=None,
    tensorboard: Optional[str] = None,
    reference: Optional[ExactQ] = None,
) -> TrainedAgents:
    """The two-stage training (docs/concepts.md#two-stage-training): H against the seed policy, then A against frozen H.

    Args:
        algo: ``"qlearning"`` (``multipower.agents.qlearning_stages``, batched tabular Q-learning; the frozen
            policies are greedy in the learned Q-values), ``"ppo"`` (``multipower.agents.ppo``, a chunk's PPO agents
            at once) or ``"sb3-ppo"`` (``multipower.agents.sb3_ppo``, one MaskablePPO model per sample; uniform
            seed policy only).
        problem: The world, the ``(K, S)`` reward functions the learners train on (the very tables the exact
            solver uses), the discounts and A's seed policy in stage 1 (``multipower.envs.problem.TwoStageProblem``).
        seed: Fixes the learners' random draws.
        options: Hyperparameter overrides (Q-learning: ``QLearningConfig`` fields, applied to both stages;
            PPO: ``PPOConfig`` or ``SB3PPOConfig`` fields).
        execution: How and where the chunks train (``multipower.runs.execution.Execution``: ``jobs``,
            ``chunk_size``, ``device`` of the batched PPO, ``backend``, and ``progress``, a callable given the work
            done; see ``multipower.learned.training.train_chunks``). Results do not depend on it.
        store: A ``multipower.runs.chunkstore.ChunkStore``: chunks finished there are reused, and each new one
            is saved there as it finishes (an interrupted call loses no finished chunk).
        tensorboard: TensorBoard folder, one run per chunk (see ``train_chunks``).
        reference: Exact optimal action values (``multipower.exact.accuracy.optimal_response_q``): with it,
            ``config["metrics"]`` holds the accuracy of ``trained_metrics`` (greedy-optimal fractions, policy
            gaps), and TensorBoard the accuracy curves.

    Returns:
        ``TrainedAgents`` of the ``K`` samples; ``config`` holds the settings, timings and any metrics.
    """
    check_algo(algo)
    problem, execution = _check_problem(problem), _check_execution(execution, algo)
    model, R_H, R_A, gamma_H, gamma_A = problem.model, problem.R_H, problem.R_A, problem.gamma_H, problem.gamma_A
    seed_policy = problem.seed_policy
    seed = check_seed(seed)
    _check_hooks(options, store, tensorboard, reference)
    options = dict(options or {})
    if execution.max_memory is not None:  # refused before anything is trained, as compare and train do
        world = model if isinstance(model, JointGraph) else model.layout  # what check_memory sizes
        qlearning_config.check_memory(world, getattr(model, "collision", None), len(R_H), execution.max_memory,
                                      execution.jobs or 1, what=f"training ({algo})", learner=algo)
    seed_table = problem.seed_table()
    if algo == "sb3-ppo" and not (isinstance(seed_policy, str) and seed_policy == "uniform"):
        got = repr(seed_policy) if isinstance(seed_policy, str) else "a table"
        raise ValueError(f"algo 'sb3-ppo' supports seed_policy 'uniform' only, got {got}")
    if algo == "sb3-ppo" and model.slip != 0.0:
        raise ValueError(f"algo 'sb3-ppo' supports slip 0 only (use qlearning or ppo), got slip={model.slip}")
    try:
        settings = learner_settings(algo, options, gamma_H, gamma_A, seed_table, model)
        check_learner_world(algo, settings, model)
    except SpecError as error:  # the command line's wording (--option NAME) for the Python argument
        text = str(error).replace("--option ", "options: ", 1).replace("--algo sb3-ppo", "algo 'sb3-ppo'", 1)
        raise ValueError(text.replace("(use --jobs, --chunk, --device)", "(give it in execution=Execution(...))")) \
            from None
    before, t0 = (store.done(len(R_H)) if store is not None else 0), time.perf_counter()
    arrays, run = train_chunks(algo, problem, seed, settings, execution=execution, store=store,
                               tensorboard=tensorboard, reference=reference)
    timings = {"wall_seconds": time.perf_counter() - t0, "samples_trained": len(R_H) - before,
               "samples_reused": before}
    config = {"algo": algo, "trainer": algo, **world_config(model), "gamma_H": gamma_H, "gamma_A": gamma_A,
              "seed": seed, "samples": len(arrays["policy_H"]),
              "seed_policy": seed_policy if isinstance(seed_policy, str) else "custom", "train_seed": seed,
              "train_options": {**options, "n_jobs": execution.jobs}, **run, "timings": timings}
    if reference is not None:
        config["metrics"] = trained_metrics(algo, problem, arrays, reference)
    q_H = q_A = None
    if algo == "qlearning":  # the learned values too, in the solver's convention
        q_H, q_A = solver_convention(arrays["q_env_H"], R_H, gamma_H), solver_convention(arrays["q_env_A"], R_A, gamma_A)
    return TrainedAgents(arrays["policy_H"], arrays["policy_A"], R_H, R_A, config, q_H, q_A)



def _check_problem(problem) -> TwoStageProblem:
    """``problem``, if it is a ``TwoStageProblem`` on a layout or on a joint graph of one action-slot count for both
    agents; ``ValueError`` naming it otherwise."""
    if not isinstance(problem, TwoStageProblem):
        raise ValueError(f"problem: must be a multipower.envs.problem.TwoStageProblem, got {type(problem).__name__}")
    problem.stage("H")  # a joint graph of other slots is refused here, naming JointGraph.with_slots
    return problem


def _check_hooks(options, store, tensorboard, reference) -> None:
    """``train_agents``' remaining arguments, checked by type before any work (one line naming each)."""
    from multipower.runs.chunkstore import ChunkStore

    if not (options is None or isinstance(options, Mapping)):
        raise ValueError(f"options: must map hyperparameter names to values, got {type(options).__name__}")
    if not (store is None or isinstance(store, ChunkStore)):
        raise ValueError(f"store: must be a multipower.runs.chunkstore.ChunkStore, got {type(store).__name__}")
    if not (tensorboard is None or isinstance(tensorboard, (str, os.PathLike))):
        raise ValueError(f"tensorboard: must be a folder path, got {tensorboard!r}")
    if not (reference is None or callable(reference)):
        raise ValueError(f"reference: must be a callable such as multipower.exact.accuracy.optimal_response_q, "
                         f"got {reference!r}")


def _check_execution(execution, algo: str) -> Execution:
    """``execution`` (default ``Execution()``; its fields were checked when it was made), with a ``device`` for the
    batched PPO only."""
    execution = Execution() if execution is None else execution
    if not isinstance(execution, Execution):
        raise ValueError(f"execution: must be a multipower.runs.execution.Execution, got {type(execution).__name__}")
    if algo != "ppo" and execution.device is not None:
        raise ValueError(f"execution.device applies to the ppo learner only, not {algo}")
    return execution


def trained_metrics(algo: str, problem: TwoStageProblem, arrays: dict, reference: ExactQ) -> dict:
    """Accuracy against the exact optimum of the trained samples: Q-learning's greedy-optimal fractions and value
    gaps (``multipower.agents.qlearning_stages.learned_metrics``), the PPO learners' greedy-optimal fractions
    (``multipower.agents.logging.policy_metrics``), and for every learner the POWER its policies lose
    (``multipower.exact.accuracy.policy_gaps``). Computed on the whole run at once, so they do not depend on
    chunks. ``problem``: the world, the trained samples' rewards, the discounts and A's seed policy."""
    from multipower.exact.accuracy import policy_gaps  # the exact solver loads torch

    solved = {}  # each agent's optimal Q_env, solved once for both kinds of metric

    def reference_once(model, rewards, gamma, agent, other):
        if agent not in solved:
            solved[agent] = reference(model, rewards, gamma, agent, other)
        return solved[agent]

    if algo == "qlearning":
        metrics = qlearning_stages.learned_metrics(problem, arrays["q_env_H"], arrays["q_env_A"],
                                                   arrays["policy_H"], reference=reference_once)
    else:
        metrics = policy_metrics(problem, arrays["policy_H"], arrays["policy_A"], reference_once)
    gaps = policy_gaps(problem, arrays["policy_H"], arrays["policy_A"], optimal_q=solved)
    return {**metrics, **gaps}


#: A learned POWER map is flagged when its policies lose more POWER than this, on average over joint states
#: (``POLICY_GAP_MEAN_LIMIT``) or at the worst joint state (``POLICY_GAP_MAX_LIMIT``).
POLICY_GAP_MEAN_LIMIT = 0.01
POLICY_GAP_MAX_LIMIT = 0.05
#: What to raise, per learner, when its agents are not good enough.
_MORE_TRAINING = {"qlearning": "--option min_visits=N (more visits per state and action)",
                  "ppo": "--timesteps (train; compare: --option total_timesteps=N; more steps per agent and sample)",
                  "sb3-ppo": "--timesteps (train; compare: --option total_timesteps=N; more steps per agent and "
                             "sample)"}


def accuracy_warning(algo: str, metrics: dict) -> Optional[str]:
    """One line when the learned policies lose too much POWER (``policy_gap_*`` of ``trained_metrics`` above
    ``POLICY_GAP_MEAN_LIMIT`` on average or ``POLICY_GAP_MAX_LIMIT`` at a joint state), else ``None``."""
    bad = [agent for agent in ("H", "A")
           if metrics.get(f"policy_gap_{agent}", 0.0) > POLICY_GAP_MEAN_LIMIT
           or metrics.get(f"policy_gap_{agent}_max", 0.0) > POLICY_GAP_MAX_LIMIT]
    if not bad:
        return None
    gaps = ", ".join(f"{agent} loses {metrics[f'policy_gap_{agent}']:.4f} on average and "
                     f"{metrics[f'policy_gap_{agent}_max']:.4f} at worst" for agent in bad)
    return (f"warning: the learned agents are not good enough for POWER ({gaps}; limits {POLICY_GAP_MEAN_LIMIT} "
            f"and {POLICY_GAP_MAX_LIMIT}): train longer with {_MORE_TRAINING.get(algo, 'more steps')}")


def trained_agents(spec: RunSpec, problem: TwoStageProblem, arrays: dict, run: dict, metrics: dict,
                   timings: dict) -> TrainedAgents:
    """The ``TrainedAgents`` of ``arrays`` (samples ``[0, n)`` of ``spec``, whose world, rewards and seed policy
    ``problem`` holds) with the full configuration; Q-learning's ``q_H``, ``q_A`` in the solver's convention. Only
    ``config["timings"]`` varies between runs that trained the same samples."""
    algo, n = spec.learner, len(arrays["policy_H"])
    model, seed_table = problem.model, problem.seed_table()
    R_H, R_A = problem.R_H[:n], problem.R_A[:n]
    seconds = arrays["seconds"]
    config = {
        "algo": algo, "trainer": algo, **world_config(model), "gamma_H": spec.gamma_H, "gamma_A": spec.discount_A,
        "correlation": spec.correlation, "distribution": spec.sampler(model.n_states).distribution.to_config(),
        "seed": spec.seed, "samples": n, "samples_requested": spec.n_samples, "seed_policy": spec.seed_policy,
        **run, "metrics": metrics,
        "timings": {**timings, "H_seconds": float(seconds[:, 0].sum()), "A_seconds": float(seconds[:, 1].sum())},
    }
    q_H = q_A = None
    if algo == "qlearning":
        config_H, config_A = _stage_configs(spec, run, model, seed_table, arrays["policy_H"])
        walkers = {name: cfg.walkers or max(16, 2 * model.n_states) for name, cfg in (("H", config_H), ("A", config_A))}
        config["hyperparameters"] = {"H": config_H.to_dict(), "A": config_A.to_dict()}
        config["transitions"] = {name: int(arrays["steps"][:, i].sum()) * walkers[name] for i, name in enumerate("HA")}
        config["q_convention"] = "solver: R(s) + gamma * Q_env(s, a)"
        q_H = solver_convention(arrays["q_env_H"], R_H, spec.gamma_H)
        q_A = solver_convention(arrays["q_env_A"], R_A, spec.discount_A)
    return TrainedAgents(arrays["policy_H"], arrays["policy_A"], R_H, R_A, config, q_H, q_A)


def _stage_configs(spec: RunSpec, run: dict, model, seed_table: np.ndarray, policy_H: np.ndarray):
    if run["hyperparameters"] != "default":
        return (qlearning_config.QLearningConfig(**run["hyperparameters"]["H"]),
                qlearning_config.QLearningConfig(**run["hyperparameters"]["A"]))
    fixed = spec.slip == 0.0  # under slip no other agent's move is deterministic
    return tuple(qlearning_config.default_config(gamma, deterministic_other=fixed and is_deterministic(other),
                                                 deterministic_moves=model.deterministic)
                 for gamma, other in ((spec.gamma_H, seed_table), (spec.discount_A, policy_H)))


def wall_timings(start: float, store, n_before: int, n_samples: int) -> dict:
    """``wall_seconds`` since ``start``, and how many samples were trained now and reused from ``store``."""
    return {"wall_seconds": time.perf_counter() - start, "samples_trained": n_samples - n_before,
            "samples_reused": n_before}
