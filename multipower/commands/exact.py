"""``multipower exact``: exact POWER by dynamic programming, written as power.csv + summary.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from multipower.exact import Interrupted, exact_power, single_agent_power

HELP = "exact multi-agent (or --single: single-agent) POWER by dynamic programming on the known model"


def _dist_param(text: str) -> tuple[str, float]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--dist-param must look like NAME=VALUE (e.g. a=2), got {text!r}")
    name, value = text.split("=", 1)
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dist-param value must be a number, got {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, help="built-in layout name or layout file")
    parser.add_argument("--gamma", type=float, required=True, help="discount of H (and of A unless --gamma-a)")
    parser.add_argument("--gamma-a", type=float, default=None, help="discount of A (default: --gamma)")
    parser.add_argument("--samples", type=int, default=10_000, help="reward samples (default 10000)")
    parser.add_argument("--collision", default="none", choices=("none", "crash", "bounce"))
    parser.add_argument("--correlation", type=float, default=0.0, help="reward correlation beta in [-1, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reward draws")
    parser.add_argument("--out", required=True, help="output directory (power.csv, summary.json)")
    parser.add_argument(
        "--distribution", default="uniform", choices=("uniform", "beta", "bernoulli", "pareto"),
        help="reward distribution (default uniform [0, 1])",
    )
    parser.add_argument(
        "--dist-param", type=_dist_param, action="append", default=[], metavar="NAME=VALUE",
        help="distribution parameter, repeatable: low/high, a/b, p, alpha/scale",
    )
    parser.add_argument("--redraw-constant", action="store_true", help="redraw constant reward functions")
    parser.add_argument(
        "--seed-policy", default="uniform",
        help="A's seed policy: uniform, stay, or a .npy file with an (S, 5) table over joint states",
    )
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--chunk-size", type=int, default=None, help="reward samples per chunk")
    parser.add_argument(
        "--jobs", type=int, default=None,
        help="chunks solved at once in threads (default: available cores on the CPU, 1 on a GPU); same results",
    )
    parser.add_argument("--single", action="store_true", help="single-agent POWER on the layout")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory); limits what is "
                             "held at once, never the results; a world that cannot fit is refused up front")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    distribution = {"name": args.distribution, **dict(args.dist_param)}
    common = dict(
        n_samples=args.samples, distribution=distribution, seed=args.seed, redraw_constant=args.redraw_constant,
        device=args.device, chunk_size=args.chunk_size, jobs=args.jobs, progress=not args.no_progress,
        max_memory=args.max_memory,
    )
    try:
        if args.single:
            result = single_agent_power(args.layout, args.gamma, **common)
        else:
            seed_policy = args.seed_policy
            if seed_policy not in ("uniform", "stay"):
                if not Path(seed_policy).is_file():
                    raise ValueError(f"seed_policy must be uniform, stay or an existing .npy file, got {seed_policy!r}")
                seed_policy = np.load(seed_policy)
            result = exact_power(
                args.layout, args.gamma, gamma_A=args.gamma_a, collision=args.collision,
                correlation=args.correlation, seed_policy=seed_policy, **common,
            )
    except Interrupted as stop:
        if stop.result is not None:
            stop.result.save(args.out)
            print(f"interrupted: saved {stop.result.config['samples_done']} samples to {args.out}", file=sys.stderr)
        raise
    result.save(args.out)
    if args.single:
        print(f"wrote {args.out}/power.csv ({result.n_states} cells, {result.config['samples_done']} samples)")
    else:
        print(
            f"wrote {args.out}/power.csv ({result.n_states} joint states, {result.config['samples_done']} samples); "
            f"alpha = {result.stats['alpha']:.4f}"
        )
    return 0
