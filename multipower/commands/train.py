"""``multipower train``: train H (against the seed) then A (against frozen H) and save the agents."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from multipower.commands import add_option_argument, add_run_arguments, count, spec_from_args
from multipower.spec import LEARNERS, SpecError, save_spec

HELP = "train H then A (batched tabular Q-learning, batched PPO, or SB3 PPO) for many reward samples and save the policies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="qlearning", choices=LEARNERS,
                        help="learner: qlearning (default), ppo (every sample's agents at once) or sb3-ppo (one SB3 "
                             "MaskablePPO model per sample)")
    add_run_arguments(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (agents.npz, config.json, spec.json)")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="TensorBoard log directory")
    parser.add_argument("--timesteps", type=count(1), default=None,
                        help="ppo, sb3-ppo: environment steps per agent per sample (default: the config's total_timesteps)")
    parser.add_argument("--jobs", type=count(1), default=None,
                        help="worker processes (default: available cores); results do not depend on it or on --chunk")
    parser.add_argument("--chunk", type=count(1), default=None,
                        help="samples per chunk: Q-learning default all at once; ppo default at most 32 (256 on CUDA), "
                             "spread evenly over --jobs, each chunk one batched computation, saved as it finishes "
                             "(a rerun resumes)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="ppo: torch device (default auto: CUDA when present)")
    parser.add_argument("--restart", action="store_true", help="ppo: discard finished chunks in --out and start over")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a folder holding another run (or files multipower did not write)")
    add_option_argument(parser)
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy check against the exact optimum")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory); refused up front if exceeded")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agents.qlearning import check_memory
    from agents.storage import save_agents
    from multipower.accuracy import optimal_response_q

    from multipower.rundir import check_out

    options = _options(args)
    spec = replace(spec_from_args(args, learner=args.algo), learner_options=options)
    check_memory(spec.layout, spec.collision, spec.n_samples, args.max_memory, what=f"train ({args.algo})")
    check_out(args.out, "train", overwrite=args.overwrite)
    reference = None if args.no_eval else optimal_response_q
    if args.algo == "ppo":
        return _train_ppo(spec, args, reference)
    progress_bar = tqdm(total=spec.n_samples * (2 if args.algo == "qlearning" else 1), unit="sample", desc=f"train {args.algo}")
    try:
        if args.algo == "qlearning":
            agents = _train_qlearning(spec, args, reference, progress_bar.update)
        else:
            agents = _train_sb3_ppo(spec, args, reference, progress_bar.update)
    finally:
        progress_bar.close()
    if agents is None:
        print("interrupted before any sample finished; nothing saved", file=sys.stderr)
        return 130
    path = save_agents(args.out, agents)
    save_spec(spec, path)
    metrics = agents.config.get("metrics", {})
    print(f"saved {agents.n_samples} samples to {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value:.4f}")
    return 130 if agents.n_samples < spec.n_samples else 0


def _options(args: argparse.Namespace) -> dict:
    """``--option`` values with ``--timesteps``; refuses flags that do not apply to ``--algo`` and conflicts."""
    options = dict(args.options)
    only = {"--timesteps": ("ppo", "sb3-ppo"), "--device": ("ppo",), "--restart": ("ppo",), "--chunk": ("qlearning", "ppo")}
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


def _train_ppo(spec, args, reference) -> int:
    """Batched PPO in chunks, each saved in ``--out/chunks`` as it finishes; a rerun trains only what is missing."""
    from tqdm import tqdm

    from agents.ppo import resolve_device
    from agents.storage import TrainedAgents, save_agents
    from envs.policies import seed_policy_table
    from multipower.chunkstore import ChunkStore
    from multipower.compare import ppo_config, train_ppo_batched

    config = ppo_config(dict(spec.learner_options))  # bad hyperparameters fail here, before any work
    run_options = {"chunk": args.chunk, "n_jobs": args.jobs, "device": args.device or "auto"}
    model = spec.model()
    R_H, R_A = spec.rewards(model)
    seed_table = seed_policy_table(model, spec.seed_policy_value())
    key = {**{k: v for k, v in spec.to_dict().items() if k not in ("n_samples", "learner_options")},
           "hyperparameters": config.to_dict(), "trainer": "ppo"}
    try:
        resolve_device(args.device or "auto")
        store = ChunkStore(args.out, key, restart=args.restart)
    except ValueError as error:
        raise SpecError(str(error)) from None
    done = store.done(spec.n_samples)
    if done:
        print(f"resuming: {done} of {spec.n_samples} samples already finished in {store.path}", file=sys.stderr)
    # One step of the bar is one update of one sample's agent.
    bar = tqdm(total=2 * config.n_updates * (spec.n_samples - done), unit="update", desc="train ppo")
    try:
        policy_H, policy_A, run = train_ppo_batched(
            model, R_H, R_A, spec.gamma_H, spec.discount_A, seed_table, spec.seed,
            {**config.to_dict(), **run_options}, store=store, progress=bar.update,
            tensorboard=args.tensorboard, reference=reference,
        )
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {store.done(spec.n_samples)} of {spec.n_samples} samples are saved in {store.path}; "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    bar.close()
    metrics = {}
    if reference is not None:
        from agents.logging import policy_metrics

        metrics = policy_metrics(model, R_H, R_A, spec.gamma_H, spec.discount_A, policy_H, policy_A, seed_table,
                                 reference)
    saved = {
        "algo": "ppo", "trainer": "ppo", "layout": model.layout.name, "layout_text": model.layout.to_text(),
        "gamma_H": spec.gamma_H, "gamma_A": spec.discount_A, "collision": spec.collision,
        "correlation": spec.correlation, "distribution": spec.sampler(model.n_states).distribution.to_config(),
        "seed": spec.seed, "samples": spec.n_samples, "seed_policy": spec.seed_policy, **run, "metrics": metrics,
    }
    path = save_agents(args.out, TrainedAgents(policy_H, policy_A, R_H, R_A, saved))
    save_spec(spec, path)
    print(f"saved {spec.n_samples} samples to {path}")
    for name, value in metrics.items():
        print(f"  {name}: {value:.4f}")
    return 0


def _train_sb3_ppo(spec, args, reference, progress):
    from agents.sb3_ppo import SB3PPOConfig, learn_sb3_ppo

    if spec.seed_policy != "uniform":
        raise SpecError(f"'seed_policy' must be 'uniform' for --algo sb3-ppo, got {spec.seed_policy!r}")
    return learn_sb3_ppo(
        spec.layout, spec.gamma_H, spec.gamma_A, spec.n_samples, spec.collision, spec.correlation, spec.distribution,
        spec.seed, SB3PPOConfig(**spec.learner_options), args.tensorboard, args.jobs, reference=reference,
        progress=progress,
    )


def _train_qlearning(spec, args, reference, progress):
    """Train in chunks of samples so that Ctrl-C keeps the chunks already finished."""
    import numpy as np

    from agents.qlearning import default_config, learn_qlearning
    from agents.storage import TrainedAgents

    options = spec.learner_options
    chunk = args.chunk or spec.n_samples
    parts = []
    try:
        for start in range(0, spec.n_samples, chunk):
            stop = min(spec.n_samples, start + chunk)
            config_H = default_config(spec.gamma_H, **options) if options else None
            config_A = default_config(spec.discount_A, deterministic_other=True, **options) if options else None
            part = learn_qlearning(
                spec.layout, spec.gamma_H, spec.gamma_A, stop, spec.collision, spec.correlation, spec.distribution,
                spec.seed, config_H, config_A, args.tensorboard if start == 0 else None, reference,
                progress, sample_range=(start, stop), n_jobs=args.jobs, max_memory=args.max_memory,
                seed_policy=spec.seed_policy_value(),
            )
            parts.append(part)
    except KeyboardInterrupt:
        if not parts:
            return None
    if len(parts) == 1:
        return parts[0]
    config = dict(parts[0].config)
    config["samples"] = sum(p.n_samples for p in parts)
    config["samples_requested"] = spec.n_samples
    config["timings"] = {key: sum(p.config["timings"][key] for p in parts) for key in parts[0].config["timings"]}
    weights = np.array([p.n_samples for p in parts], dtype=float)
    config["metrics"] = {
        key: float(np.dot(weights, [p.config["metrics"][key] for p in parts]) / weights.sum())
        for key in parts[0].config.get("metrics", {})
    }
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return TrainedAgents(cat("policy_H"), cat("policy_A"), cat("R_H"), cat("R_A"), config, cat("q_H"), cat("q_A"))
