"""Training in chunks of reward samples, each saved the moment it finishes (docs/learning.md#saving-and-resuming).

``multipower train`` and ``multipower compare`` train through ``train_chunks``: the samples ``[0, K)`` are
cut into chunks, each chunk is one work unit, and each finished chunk is written to a
``ChunkStore`` at once (a temporary file renamed into place), so a run stopped by
Ctrl-C, SIGTERM or SIGKILL keeps every finished chunk and a rerun trains only the missing samples. A sample's
agents depend only on its reward functions, the seed and the hyperparameters, never on its chunk, the worker
count or an interruption (Q-learning: ``multipower.agents.qlearning``; PPO: ``multipower.agents.ppo``; SB3: one seed per sample), so
a resumed run ends with the same arrays as one never interrupted.

Q-learning and SB3 chunks are ``ChunkUnit`` values run by ``train_chunk``, a module-level function of
picklable arguments (any backend that runs functions of picklable units can run them); batched PPO chunks are
``multipower.agents.ppo.learn_ppo``'s own.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import numpy as np

from multipower.agents import qlearning_config, qlearning_stages
from multipower.agents.logging import ExactQ, TrainingLogger, policy_metrics, solver_convention
from multipower.agents.storage import TrainedAgents
from multipower.agents.workers import imap_unordered
from multipower.envs.model import JointModel
from multipower.envs.policies import is_deterministic
from multipower.envs.validation import available_cores
from multipower.runs.backends import remote
from multipower.runs.rundir import NUMERICS_VERSION
from multipower.runs.spec import RunSpec, SpecError

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
                     slip: float = 0.0) -> Any:
    """The learner's validated hyperparameters from ``--option`` values: Q-learning ``(config_H, config_A)``
    (``(None, None)`` without options: per-sample defaults), a ``PPOConfig`` or an ``SB3PPOConfig``. Under
    ``slip`` no other agent's move is deterministic (Q-learning's visit defaults).

    Raises:
        SpecError: naming ``--option`` and the field, for an unknown field or a bad value.
    """
    if algo == "ppo":
        return ppo_config(dict(options), gamma_H, gamma_A)
    if algo == "qlearning":
        if not options:
            return None, None
        fields = qlearning_config.QLearningConfig.__dataclass_fields__
        _known(options, fields, "Q-learning")
        try:
            fixed = slip == 0.0
            return (qlearning_config.default_config(gamma_H, deterministic_other=fixed and is_deterministic(seed_table),
                                             **options),
                    qlearning_config.default_config(gamma_A, deterministic_other=fixed, **options))  # frozen greedy H
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
        raise SpecError(f"--option {unknown[0]}: not a {what} hyperparameter; allowed: {', '.join(fields)}")


def chunk_key(spec: RunSpec, settings: Any) -> dict:
    """What every chunk of ``spec``'s training depends on (the ChunkStore key, and the manifest's configuration):
    the spec without its number of samples, the learner's hyperparameters and the numerics version."""
    kept = {k: v for k, v in spec.to_dict().items() if k not in ("n_samples", "learner_options")}
    return {**kept, "hyperparameters": hyperparameters(settings, spec.gamma_H, spec.discount_A),
            "trainer": spec.learner, "numerics_version": NUMERICS_VERSION}


def even_chunk(n_samples: int, n_jobs: int, cap: int) -> int:
    """At most ``cap`` samples per chunk, the chunks spread evenly over the workers (100 samples, cap 32, 2 workers:
    4 chunks of 25, not 32, 32, 32 and 4)."""
    n_chunks = -(-n_samples // cap)
    n_chunks = -(-n_chunks // n_jobs) * n_jobs
    return max(1, -(-n_samples // n_chunks))


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
            config = settings.for_gamma(gamma)
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


def ppo_config(options: dict, gamma_H: float, gamma_A: float):
    """``multipower.agents.ppo.PPOConfig`` from ``--option`` values, checked as each agent will use it
    (``for_gamma``); an unknown name gets one line listing the fields."""
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
        config.for_gamma(gamma_H), config.for_gamma(gamma_A)  # e.g. a batch_size larger than a rollout
    except ValueError as error:
        raise SpecError(f"--option {error}") from None
    return config


@dataclass(frozen=True)
class ChunkUnit:
    """Both stages of one chunk of samples ``[start, start + k)`` of Q-learning or SB3 PPO.

    ``R_H``, ``R_A`` are the chunk's ``(k, S)`` rows; ``settings`` is ``learner_settings``' value;
    ``tensorboard`` and ``reference`` are given to the first chunk only (it alone logs to TensorBoard).
    """

    algo: str
    model: JointModel
    R_H: np.ndarray
    R_A: np.ndarray
    gamma_H: float
    gamma_A: float
    seed_table: np.ndarray
    seed: int
    start: int
    settings: Any
    tensorboard: Optional[str] = None
    reference: Optional[ExactQ] = None

    @property
    def stop(self) -> int:
        return self.start + len(self.R_H)


def train_chunk(unit: ChunkUnit) -> tuple[int, int, dict[str, np.ndarray]]:
    """Train one ``ChunkUnit``; returns ``(start, stop, arrays)``, every array with one row per sample:
    ``policy_H``, ``policy_A`` ``(k, S, 5)``, ``seconds`` ``(k, 2)`` (the chunk's time per stage, split evenly)
    and, for Q-learning, ``q_env_H``, ``q_env_A`` ``(k, S, 5)`` (environment convention) and ``steps`` ``(k, 2)``
    (steps per walker of each stage)."""
    if unit.algo == "qlearning":
        return unit.start, unit.stop, _qlearning_chunk(unit)
    from multipower.agents.sb3_ppo import SampleJob, train_sample

    rows = []
    for i in range(len(unit.R_H)):
        job = SampleJob.of(unit.start + i, unit.model, unit.R_H[i], unit.R_A[i], unit.gamma_H, unit.gamma_A,
                           unit.settings, unit.seed, unit.tensorboard, unit.reference)
        rows.append(train_sample(job)[1:])
    policy_H, policy_A, seconds_H, seconds_A = (np.array(column) for column in zip(*rows))
    return unit.start, unit.stop, {"policy_H": policy_H, "policy_A": policy_A,
                                   "seconds": np.stack([seconds_H, seconds_A], axis=1)}


def _qlearning_chunk(unit: ChunkUnit) -> dict[str, np.ndarray]:
    config_H, config_A = unit.settings
    logger = TrainingLogger(unit.tensorboard)
    try:
        run = qlearning_stages.train_two_stage(
            unit.model, unit.R_H, unit.R_A, unit.gamma_H, unit.gamma_A, unit.seed_table, config_H, config_A,
            seed=unit.seed, logger=logger, reference=unit.reference if logger.enabled else None, n_jobs=1,
            sample_offset=unit.start,
        )
    finally:
        logger.close()
    k = len(unit.R_H)
    return {
        "policy_H": run.policy_H, "policy_A": run.policy_A, "q_env_H": run.H.q, "q_env_A": run.A.q,
        "steps": np.stack([run.H.steps, run.A.steps], axis=1),
        "seconds": np.tile([run.H.seconds / k, run.A.seconds / k], (k, 1)),
    }


def train_chunks(
    algo: str,
    model: JointModel,
    R_H: np.ndarray,
    R_A: np.ndarray,
    gamma_H: float,
    gamma_A: float,
    seed_table: np.ndarray,
    seed: int,
    settings: Any,
    *,
    jobs: Optional[int] = None,
    chunk: Optional[int] = None,
    device: str = "auto",
    store=None,
    progress: Optional[Callable[[int], None]] = None,
    tensorboard: Optional[str] = None,
    reference: Optional[ExactQ] = None,
    backend=None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Both stages of ``algo`` for the ``K`` samples of ``R_H``, ``R_A`` ``(K, S)``, in chunks.

    Args:
        settings: ``learner_settings``' value.
        jobs: Worker processes (default: the available cores; batched PPO on CUDA: 1).
        chunk: Samples per chunk (default ``default_chunk``, or for PPO
            ``default_ppo_chunk``).
        store: A ``ChunkStore``: only the samples it lacks are trained, and each
            chunk is saved there the moment it finishes; without one, nothing is saved.
        progress: Called with the work done (``progress_total``'s unit).
        backend: ``None``/``"local"`` (``jobs`` processes here), ``"ray"`` or a
            ``Backend``: each chunk is a work unit there (``jobs`` defaults to the
            backend's), returned here and saved by this process; the arrays are the same as a local run's.
    Returns:
        The arrays of ``train_chunk`` (PPO: policies and seconds) for all ``K`` samples, and the run's
            settings (``hyperparameters``, ``n_jobs``, ``chunk``; PPO also ``observation``, ``device``).
    Raises:
        KeyboardInterrupt: after the workers are killed; the chunks saved so far stay in ``store``.
    """
    K = len(R_H)
    gaps = store.missing(K) if store is not None else [(0, K)]
    backend = remote(backend)
    if algo == "ppo":
        parts, run = _ppo_chunks(model, R_H, R_A, gamma_H, gamma_A, seed_table, seed, settings, gaps, jobs, chunk,
                                 device, store, progress, tensorboard, reference, backend)
    else:
        n_jobs = jobs or (backend.jobs if backend is not None else available_cores())
        chunk = chunk or default_chunk(algo, K, n_jobs, model.n_states, settings, gamma_H)
        units = [ChunkUnit(algo, model, R_H[a:b], R_A[a:b], gamma_H, gamma_A, seed_table, int(seed), a, settings,
                           tensorboard if a == 0 else None, reference if a == 0 else None)
                 for a, b in _cut(gaps, chunk)]
        parts = {}
        # A cluster returns chunks in sample order; local worker processes as they finish.
        run_units = imap_unordered(train_chunk, units, n_jobs) if backend is None else backend.imap(train_chunk, units)
        with closing(run_units) as results:
            for start, stop, arrays in results:
                if store is not None:
                    store.save(start, stop, **arrays)
                else:
                    parts[start] = arrays
                if progress is not None:
                    progress(stop - start)
        run = {"hyperparameters": hyperparameters(settings, gamma_H, gamma_A), "n_jobs": n_jobs, "chunk": chunk}
        if hasattr(settings, "observation"):
            run["observation"] = settings.observation
    if store is not None:
        arrays = store.load(K)
    else:
        arrays = {name: np.concatenate([parts[a][name] for a in sorted(parts)]) for name in parts[0]}
    return arrays, run


def _cut(gaps: list[tuple[int, int]], chunk: int) -> list[tuple[int, int]]:
    return [(a, min(b, a + chunk)) for start, b in gaps for a in range(start, b, chunk)]


def hyperparameters(settings: Any, gamma_H: float, gamma_A: float) -> Any:
    """JSON of ``learner_settings``' value (Q-learning without options: ``"default"``; batched PPO: each
    agent's config as filled for its discount)."""
    if hasattr(settings, "for_gamma"):
        return {"H": settings.for_gamma(gamma_H).to_dict(), "A": settings.for_gamma(gamma_A).to_dict()}
    if hasattr(settings, "to_dict"):
        return settings.to_dict()
    return "default" if settings[0] is None else {"H": settings[0].to_dict(), "A": settings[1].to_dict()}


def _ppo_chunks(model, R_H, R_A, gamma_H, gamma_A, seed_table, seed, config, gaps, jobs, chunk, device, store,
                progress, tensorboard, reference, backend=None):
    from multipower.agents.ppo import learn_ppo, resolve_device  # torch loads only for PPO

    try:
        torch_device = resolve_device(device)
    except ValueError as error:
        raise SpecError(str(error)) from None
    cuda = torch_device.type == "cuda"
    n_jobs = 1 if cuda else jobs or (backend.jobs if backend is not None else available_cores())
    chunk = chunk or default_ppo_chunk(len(R_H), n_jobs, cuda)
    parts = {}

    def keep(result):
        k = result.stop - result.start
        arrays = {"policy_H": result.policy_H, "policy_A": result.policy_A,
                  "seconds": np.tile([result.seconds_H / k, result.seconds_A / k], (k, 1))}
        if store is not None:
            store.save(result.start, result.stop, **arrays)
        else:
            parts[result.start] = arrays

    for a, b in gaps:
        learn_ppo(model, R_H[a:b], R_A[a:b], gamma_H, gamma_A, seed_table, config, seed, sample_start=a,
                  chunk=chunk, n_jobs=n_jobs, device=device, progress=progress, on_chunk=keep,
                  tensorboard=tensorboard, reference=reference, backend=backend)
    run = {"hyperparameters": hyperparameters(config, gamma_H, gamma_A), "observation": config.observation, "chunk": chunk,
           "device": str(torch_device), "n_jobs": n_jobs}
    return parts, run


def trained_metrics(algo: str, model: JointModel, R_H: np.ndarray, R_A: np.ndarray, gamma_H: float,
                    gamma_A: float, seed_table: np.ndarray, arrays: dict, reference: ExactQ) -> dict:
    """Accuracy against the exact optimum of the trained samples: Q-learning's greedy-optimal fractions and value
    gaps (``multipower.agents.qlearning_stages.learned_metrics``), the PPO learners' greedy-optimal fractions
    (``multipower.agents.logging.policy_metrics``), and for every learner the POWER its policies lose
    (``multipower.exact.accuracy.policy_gaps``). Computed on the whole run at once, so they do not depend on
    chunks."""
    from multipower.exact.accuracy import policy_gaps  # the exact solver loads torch

    solved = {}  # each agent's optimal Q_env, solved once for both kinds of metric

    def reference_once(model, rewards, gamma, agent, other):
        if agent not in solved:
            solved[agent] = reference(model, rewards, gamma, agent, other)
        return solved[agent]

    if algo == "qlearning":
        metrics = qlearning_stages.learned_metrics(model, R_H, R_A, gamma_H, gamma_A, arrays["q_env_H"],
                                                   arrays["q_env_A"], arrays["policy_H"], seed_table,
                                                   reference=reference_once)
    else:
        metrics = policy_metrics(model, R_H, R_A, gamma_H, gamma_A, arrays["policy_H"], arrays["policy_A"],
                                 seed_table, reference_once)
    gaps = policy_gaps(model, R_H, R_A, gamma_H, gamma_A, arrays["policy_H"], arrays["policy_A"], seed_table,
                       optimal_q=solved)
    return {**metrics, **gaps}


#: A learned POWER map is flagged when its policies lose more POWER than this, on average over joint states
#: (``POLICY_GAP_MEAN_LIMIT``) or at the worst joint state (``POLICY_GAP_MAX_LIMIT``).
POLICY_GAP_MEAN_LIMIT = 0.01
POLICY_GAP_MAX_LIMIT = 0.05
#: What to raise, per learner, when its agents are not good enough.
_MORE_TRAINING = {"qlearning": "--option min_visits=N (more visits per state and action)",
                  "ppo": "--timesteps (more steps per agent and sample)",
                  "sb3-ppo": "--timesteps (more steps per agent and sample)"}


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
            f"and {POLICY_GAP_MAX_LIMIT}): train longer with {_MORE_TRAINING[algo]}")


def trained_agents(spec: RunSpec, model: JointModel, R_H: np.ndarray, R_A: np.ndarray, arrays: dict, run: dict,
                   seed_table: np.ndarray, metrics: dict, timings: dict) -> TrainedAgents:
    """The ``TrainedAgents`` of ``arrays`` (samples ``[0, n)`` of ``spec``) with the full
    configuration; Q-learning's ``q_H``, ``q_A`` in the solver's convention. Only ``config["timings"]`` varies
    between runs that trained the same samples."""
    algo, n = spec.learner, len(arrays["policy_H"])
    R_H, R_A = R_H[:n], R_A[:n]
    seconds = arrays["seconds"]
    config = {
        "algo": algo, "trainer": algo, "layout": model.layout.name, "layout_text": model.layout.to_text(),
        "gamma_H": spec.gamma_H, "gamma_A": spec.discount_A, "collision": spec.collision, "slip": spec.slip,
        "correlation": spec.correlation, "distribution": spec.sampler(model.n_states).distribution.to_config(),
        "seed": spec.seed, "samples": n, "samples_requested": spec.n_samples, "seed_policy": spec.seed_policy,
        **run, "metrics": metrics,
        "timings": {**timings, "H_seconds": float(seconds[:, 0].sum()), "A_seconds": float(seconds[:, 1].sum())},
    }
    q_H = q_A = None
    if algo == "qlearning":
        config_H, config_A = _stage_configs(spec, run, seed_table, arrays["policy_H"])
        walkers = {name: cfg.walkers or max(16, 2 * model.n_states) for name, cfg in (("H", config_H), ("A", config_A))}
        config["hyperparameters"] = {"H": config_H.to_dict(), "A": config_A.to_dict()}
        config["transitions"] = {name: int(arrays["steps"][:, i].sum()) * walkers[name] for i, name in enumerate("HA")}
        config["q_convention"] = "solver: R(s) + gamma * Q_env(s, a)"
        q_H = solver_convention(arrays["q_env_H"], R_H, spec.gamma_H)
        q_A = solver_convention(arrays["q_env_A"], R_A, spec.discount_A)
    return TrainedAgents(arrays["policy_H"], arrays["policy_A"], R_H, R_A, config, q_H, q_A)


def _stage_configs(spec: RunSpec, run: dict, seed_table: np.ndarray, policy_H: np.ndarray):
    if run["hyperparameters"] != "default":
        return (qlearning_config.QLearningConfig(**run["hyperparameters"]["H"]),
                qlearning_config.QLearningConfig(**run["hyperparameters"]["A"]))
    fixed = spec.slip == 0.0  # under slip no other agent's move is deterministic
    return (qlearning_config.default_config(spec.gamma_H, deterministic_other=fixed and is_deterministic(seed_table)),
            qlearning_config.default_config(spec.discount_A, deterministic_other=fixed and is_deterministic(policy_H)))


def wall_timings(start: float, store, n_before: int, n_samples: int) -> dict:
    """``wall_seconds`` since ``start``, and how many samples were trained now and reused from ``store``."""
    return {"wall_seconds": time.perf_counter() - start, "samples_trained": n_samples - n_before,
            "samples_reused": n_before}
