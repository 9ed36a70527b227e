"""``multipower exact``: exact POWER by dynamic programming, written as power.csv + summary.json + spec.json."""

from __future__ import annotations

import argparse
import sys

from multipower.commands import add_backend_arguments, add_run_arguments, backend_from_args, spec_from_args
from multipower.exact import Interrupted, exact_power, single_agent_power
from multipower.spec import save_spec

HELP = "exact multi-agent (or --single: single-agent) POWER by dynamic programming on the known model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, required=True, samples=10_000)
    parser.add_argument("--out", required=True, help="output directory (power.csv, summary.json, spec.json)")
    parser.add_argument("--redraw-constant", action="store_true", help="redraw constant reward functions")
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
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    spec = spec_from_args(args, redraw_constant=args.redraw_constant)
    common = dict(
        n_samples=spec.n_samples, distribution=spec.distribution, seed=spec.seed, redraw_constant=spec.redraw_constant,
        device=args.device, chunk_size=args.chunk_size, jobs=args.jobs, progress=not args.no_progress,
        max_memory=args.max_memory, backend=backend_from_args(args),
    )
    try:
        if args.single:
            result = single_agent_power(spec.layout, spec.gamma_H, **common)
        else:
            result = exact_power(
                spec.layout, spec.gamma_H, gamma_A=spec.gamma_A, collision=spec.collision,
                correlation=spec.correlation, seed_policy=spec.seed_policy_value(), **common,
            )
    except Interrupted as stop:
        if stop.result is not None:
            stop.result.save(args.out)
            save_spec(spec, args.out)
            print(f"interrupted: saved {stop.result.config['samples_done']} samples to {args.out}", file=sys.stderr)
        raise
    result.save(args.out)
    save_spec(spec, args.out)
    if args.single:
        print(f"wrote {args.out}/power.csv ({result.n_states} cells, {result.config['samples_done']} samples)")
    else:
        print(
            f"wrote {args.out}/power.csv ({result.n_states} joint states, {result.config['samples_done']} samples); "
            f"alpha = {result.stats['alpha']:.4f}"
        )
    return 0
