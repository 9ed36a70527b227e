"""``multipower train``: train H (against the seed) then A (against frozen H) and save the agents."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from multipower.cli.commands import (add_backend_arguments, add_option_argument, add_run_arguments, backend_from_args,
                                     check_writable_dir, count, out_path, report_backend, spec_from_args)
from multipower.runs.spec import LEARNERS, SpecError, save_spec

HELP = "train H then A (batched tabular Q-learning, batched PPO, or SB3 PPO) for many reward samples and save the policies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="qlearning", choices=LEARNERS,
                        help="learner: qlearning (default), ppo (every sample's agents at once) or sb3-ppo (one SB3 "
                             "MaskablePPO model per sample)")
    add_run_arguments(parser)
    parser.add_argument("--mdp", default=None, metavar="FILE.gv",
                        help="a joint MDP graph in POWERplay's DOT format (a .gv file or a built-in name, e.g. "
                             "joint_grid2x2_crash) instead of --layout; --algo qlearning or ppo")
    parser.add_argument("--out", type=out_path, required=True, metavar="DIR", help="output directory (agents.npz, config.json, spec.json)")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="TensorBoard log directory")
    parser.add_argument("--timesteps", type=count(1), default=None,
                        help="ppo, sb3-ppo: environment steps per agent per sample (default: the config's total_timesteps)")
    parser.add_argument("--jobs", type=count(1), default=None,
                        help="worker processes (default: available cores); results do not depend on it or on --chunk")
    parser.add_argument("--chunk", type=count(1), default=None,
                        help="samples per chunk, each saved in DIR/chunks as it finishes (a rerun resumes); default "
                             "qlearning about 10 s of work, ppo at most 32 (256 on CUDA), sb3-ppo 1, spread evenly "
                             "over --jobs")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="ppo: torch device (default auto: CUDA when present)")
    parser.add_argument("--restart", action="store_true", help="discard finished chunks and the result in --out and start over")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a folder holding another run (or files multipower did not write)")
    add_option_argument(parser)
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy check against the exact optimum")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: what the process holds plus 3/4 of the memory available); refused up front if exceeded")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from multipower.agents.qlearning_config import check_memory
    from multipower.envs.problem import seed_table as seed_table_of
    from multipower.runs import rundir
    from multipower.runs.chunkstore import ChunkStore
    from multipower.learned.training import (check_learner_memory, check_learner_world, chunk_key, learner_settings,
                                             sigterm_as_interrupt)

    options = _options(args)
    spec = replace(spec_from_args(args, learner=args.algo), learner_options=options)
    if not args.no_eval:  # the exact solver of the accuracy check (torch, the compiled kernels) is part of what
        from multipower.exact import _vikernel, solver  # noqa: F401  the process holds: load it before measuring
    check_memory(spec.model() if spec.mdp is not None else spec.layout, spec.collision, spec.n_samples,
                 args.max_memory, what=f"train ({args.algo})", learner=args.algo)
    if spec.learner == "sb3-ppo" and spec.seed_policy != "uniform":
        raise SpecError(f"'seed_policy' must be 'uniform' for --algo sb3-ppo, got {spec.seed_policy!r}")
    if spec.learner == "sb3-ppo" and spec.slip != 0.0:
        raise SpecError(f"'slip' must be 0 for --algo sb3-ppo (use qlearning or ppo), got {spec.slip}")
    model = spec.model()
    seed_table = seed_table_of(model, spec.seed_policy_value())
    settings = learner_settings(spec.learner, options, spec.gamma_H, spec.discount_A, seed_table, model)  # fails before work
    check_learner_world(spec.learner, settings, model)
    check_learner_memory(spec.learner, settings, model, spec.gamma_H, spec.discount_A, spec.n_samples,
                         args.max_memory, args.chunk)
    if spec.learner == "ppo":
        from multipower.agents.ppo import resolve_device

        try:
            resolve_device(args.device or "auto")
        except ValueError as error:
            raise SpecError(str(error)) from None
    key = chunk_key(spec, settings)
    check_writable_dir(args.tensorboard, "--tensorboard")
    args.backend = backend_from_args(args)  # a missing Ray is reported before any work
    # Another configuration's chunks are refused by the chunk store, naming what differs.
    rundir.check_out(args.out, "train", overwrite=args.overwrite)
    if args.restart:  # the earlier result is no longer this run's: it may be replaced by a smaller one
        rundir.begin(args.out, "train", key, spec.n_samples, 0)
    with sigterm_as_interrupt():
        store = ChunkStore(args.out, key, restart=args.restart)
        reference = None
        if not args.no_eval and _eval_fits(model.n_states, spec.n_samples, spec.collision, args.max_memory):
            from multipower.exact.accuracy import optimal_response_q as reference  # the exact solver loads torch
        return _train(spec, args, model, seed_table, settings, store, key, reference)


#: Bytes per sample and joint state of the accuracy check after training: the exact optimal values and action
#: values of both agents, and the evaluation of their learned policies (float64 tables of 5 actions, a few each).
EVAL_BYTES_PER_SAMPLE_STATE = 400


def _eval_fits(n_states: int, n_samples: int, collision: str, max_memory) -> bool:
    """Whether the exact accuracy check of ``n_samples`` samples fits the memory budget on top of what the process
    holds and what training will hold (``multipower.agents.qlearning_config.estimate_memory``)."""
    from multipower.agents.qlearning_config import estimate_memory
    from multipower.envs.memory import parse_memory, process_memory

    budget = parse_memory(max_memory)
    need = estimate_memory(n_states, n_samples, collision) + EVAL_BYTES_PER_SAMPLE_STATE * n_states * n_samples
    return budget is None or process_memory() + need <= budget


def _options(args: argparse.Namespace) -> dict:
    """``--option`` values with ``--timesteps``; refuses flags that do not apply to ``--algo`` and conflicts."""
    options = dict(args.options)
    only = {"--timesteps": ("ppo", "sb3-ppo"), "--device": ("ppo",)}
    for flag, learners in only.items():
        value = getattr(args, flag[2:])
        if value not in (None, False) and args.algo not in learners:
            raise SpecError(f"{flag} applies to --algo {' and '.join(learners)} only, not {args.algo}")
    if args.timesteps is not None:
        if options.get("total_timesteps", args.timesteps) != args.timesteps:
            raise SpecError(f"--timesteps {args.timesteps} and --option total_timesteps={options['total_timesteps']} "
                            "disagree; give one of them")
        options["total_timesteps"] = args.timesteps
    return options


def _train(spec, args, model, seed_table, settings, store, key, reference) -> int:
    """Train the samples ``store`` lacks; save agents.npz unless it already holds more samples of this run."""
    from tqdm import tqdm

    from multipower.envs.problem import TwoStageProblem
    from multipower.learned.training import accuracy_warning, progress_total, train_chunks
    from multipower.runs.execution import Execution

    K = spec.n_samples
    R_H, R_A = spec.rewards(model)
    problem = TwoStageProblem(model, R_H, R_A, spec.gamma_H, spec.discount_A, seed_table)
    before, t0 = store.done(K), time.perf_counter()
    if before:
        print(f"resuming: {before} of {K} samples already finished in {store.path}", file=sys.stderr)
    total, unit = progress_total(spec.learner, K - before, settings, spec.gamma_H, spec.discount_A)
    bar = tqdm(total=total, unit=unit, desc=f"train {spec.learner}")
    try:
        execution = Execution(jobs=args.jobs, chunk_size=args.chunk, device=args.device, backend=args.backend,
                              progress=bar.update)
        arrays, run = train_chunks(spec.learner, problem, spec.seed, settings, execution=execution, store=store,
                                   tensorboard=args.tensorboard, reference=reference)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {store.done(K)} of {K} samples are saved in {store.path}; rerun the same command to "
              "resume", file=sys.stderr)
        gaps = store.missing(K)
        prefix = gaps[0][0] if gaps else K  # agents.npz holds samples [0, n): the finished prefix
        saved = _saved_samples(args.out, key)
        if prefix > saved:  # never replace a larger result with a smaller one
            _save(spec, args, problem, store.load(prefix), _run_settings(spec, args, settings), {}, t0, before, key,
                  store)
            print(f"saved the first {prefix} samples to {args.out}/agents.npz (partial)", file=sys.stderr)
        elif store.done(K) > before:
            why = (f"it already holds {saved}" if saved else
                   "the chunks finished so far do not start at sample 0 (chunks finish out of order with --jobs > 1)")
            print(f"agents.npz not written: {why}", file=sys.stderr)
        return 130
    bar.close()
    metrics = {}
    if reference is not None:
        from multipower.learned.training import trained_metrics

        metrics = trained_metrics(spec.learner, problem, arrays, reference)
    saved = _saved_samples(args.out, key)
    if saved > K:
        print(f"the first {K} samples are finished; {args.out} holds {saved} samples of this run and is left as it is")
    else:
        _save(spec, args, problem, arrays, run, metrics, t0, before, key, store)
        print(f"saved {K} samples to {args.out}")
    for name, value in metrics.items():
        print(f"  {name}: {value:.4f}")
    if reference is None:
        why = "--no-eval" if args.no_eval else "the exact solver's check does not fit --max-memory"
        print(f"accuracy unchecked: {why}, so nothing compared the learned agents with the exact optimum",
              file=sys.stderr)
    elif (warning := accuracy_warning(spec.learner, metrics)) is not None:
        print(warning, file=sys.stderr)
    report_backend(args.backend)
    return 0


def _run_settings(spec, args, settings) -> dict:
    """The run's settings when training was interrupted (``train_chunks`` returns them when it finishes)."""
    from multipower.learned.training import hyperparameters

    return {"hyperparameters": hyperparameters(settings, spec.gamma_H, spec.discount_A), "n_jobs": args.jobs,
            "chunk": args.chunk}


def _saved_samples(out, key) -> int:
    """Samples in ``out``'s agents.npz when its manifest says it is a run of ``key``; 0 otherwise."""
    from multipower.runs.rundir import config_hash, read_manifest

    try:
        manifest = read_manifest(out)
    except ValueError:
        return 0
    if manifest is None or manifest.get("kind") != "train" or manifest.get("config_hash") != config_hash(key):
        return 0
    return int(manifest.get("samples_done", 0))


def _save(spec, args, problem, arrays, run, metrics, t0, before, key, store) -> None:
    """agents.npz, config.json and spec.json, each written atomically, then the manifest (written last)."""
    from multipower.agents.storage import save_agents
    from multipower.runs import rundir
    from multipower.learned.training import trained_agents

    n = len(arrays["policy_H"])
    timings = {"wall_seconds": time.perf_counter() - t0, "samples_trained": store.done(spec.n_samples) - before,
               "samples_reused": before}
    agents = trained_agents(spec, problem, arrays, run, metrics, timings)
    rundir.begin(args.out, "train", key, spec.n_samples, 0)  # a killed save leaves the folder this run's
    save_agents(args.out, agents)
    save_spec(spec, args.out)
    rundir.write_manifest(args.out, "train", key, ["agents.npz", "config.json", "spec.json"], spec.n_samples, n)
