"""``multipower train``: train H (against the seed) then A (against frozen H) and save the agents."""

from __future__ import annotations

import argparse
import sys

from multipower.commands import key_value

HELP = "train H then A (batched tabular Q-learning or PPO) for many reward samples and save the policies"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="qlearning", choices=("qlearning", "ppo"), help="learner (default qlearning)")
    parser.add_argument("--layout", default="grid3x3", help="built-in layout name, layout file or text (default grid3x3)")
    parser.add_argument("--gamma", type=float, default=0.6, help="discount of H (and of A unless --gamma-a); default 0.6")
    parser.add_argument("--gamma-a", "--gamma-A", dest="gamma_A", type=float, default=None, help="discount of A")
    parser.add_argument("--samples", type=int, default=100, help="reward samples K (default 100)")
    parser.add_argument("--collision", default="none", choices=("none", "crash", "bounce"), help="collision rule")
    parser.add_argument("--correlation", type=float, default=0.0, help="reward correlation beta in [-1, 1] (default 0)")
    parser.add_argument("--distribution", default="uniform", help="reward distribution name (default uniform)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the reward functions and all training draws")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory (agents.npz + config.json)")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="TensorBoard log directory")
    parser.add_argument("--timesteps", type=int, default=None, help="PPO: environment steps per agent per sample")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: available cores; Q-learning results do not depend on it or on --chunk)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="Q-learning: samples per saved chunk (default: all at once); Ctrl-C keeps finished chunks")
    parser.add_argument("--option", dest="options", type=key_value("--option"), action="append", default=[], metavar="KEY=VALUE",
                        help="hyperparameter override (repeatable): QLearningConfig or SB3PPOConfig field, e.g. min_visits=500")
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy check against the exact optimum")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory); refused up front if exceeded")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agents.storage import save_agents
    from multipower.accuracy import optimal_response_q

    from agents.qlearning import check_memory

    check_memory(args.layout, args.collision, args.samples, args.max_memory, what=f"train ({args.algo})")
    options = dict(args.options)
    reference = None if args.no_eval else optimal_response_q
    progress_bar = tqdm(total=args.samples * (2 if args.algo == "qlearning" else 1), unit="sample", desc=f"train {args.algo}")
    try:
        if args.algo == "qlearning":
            agents = _train_qlearning(args, options, reference, progress_bar.update)
        else:
            from agents.sb3_ppo import SB3PPOConfig, learn_sb3_ppo

            if args.timesteps is not None:
                options["total_timesteps"] = args.timesteps
            agents = learn_sb3_ppo(
                args.layout, args.gamma, args.gamma_A, args.samples, args.collision, args.correlation,
                args.distribution, args.seed, SB3PPOConfig(**options), args.tensorboard, args.jobs,
                reference=reference, progress=progress_bar.update,
            )
    finally:
        progress_bar.close()
    if agents is None:
        print("interrupted before any sample finished; nothing saved", file=sys.stderr)
        return 130
    path = save_agents(args.out, agents)
    metrics = agents.config.get("metrics", {})
    print(f"saved {agents.n_samples} samples to {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value:.4f}")
    return 130 if agents.n_samples < args.samples else 0


def _train_qlearning(args, options: dict, reference, progress):
    """Train in chunks of samples so that Ctrl-C keeps the chunks already finished."""
    import numpy as np

    from agents.qlearning import default_config, learn_qlearning
    from agents.storage import TrainedAgents

    chunk = args.chunk or args.samples
    parts = []
    try:
        for start in range(0, args.samples, chunk):
            stop = min(args.samples, start + chunk)
            config_H = default_config(args.gamma, **options) if options else None
            config_A = default_config(args.gamma_A or args.gamma, deterministic_other=True, **options) if options else None
            part = learn_qlearning(
                args.layout, args.gamma, args.gamma_A, stop, args.collision, args.correlation, args.distribution,
                args.seed, config_H, config_A, args.tensorboard if start == 0 else None, reference,
                progress, sample_range=(start, stop), n_jobs=args.jobs, max_memory=args.max_memory,
            )
            parts.append(part)
    except KeyboardInterrupt:
        if not parts:
            return None
    if len(parts) == 1:
        return parts[0]
    config = dict(parts[0].config)
    config["samples"] = sum(p.n_samples for p in parts)
    config["samples_requested"] = args.samples
    config["timings"] = {key: sum(p.config["timings"][key] for p in parts) for key in parts[0].config["timings"]}
    weights = np.array([p.n_samples for p in parts], dtype=float)
    config["metrics"] = {
        key: float(np.dot(weights, [p.config["metrics"][key] for p in parts]) / weights.sum())
        for key in parts[0].config.get("metrics", {})
    }
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    return TrainedAgents(cat("policy_H"), cat("policy_A"), cat("R_H"), cat("R_A"), config, cat("q_H"), cat("q_A"))
