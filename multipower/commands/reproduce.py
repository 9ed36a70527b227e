"""``multipower reproduce NAME``: run one published figure set (or an experiment beyond the posts) from its
config, write data and figures to ``results/NAME/``, and print the published numbers beside the reproduced
ones. ``multipower reproduce --list`` lists the configs."""

from __future__ import annotations

import argparse
import sys

from multipower.commands import add_backend_arguments, backend_from_args, report_backend
from multipower.spec import LEARNERS

HELP = "reproduce a published figure set from its config (see --list); prints published vs reproduced numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="config name (see --list) or path to a YAML config")
    parser.add_argument("--list", action="store_true", help="list the shipped configs and exit")
    parser.add_argument("--out", default=None, help="results folder (default: results/NAME)")
    parser.add_argument("--samples", type=int, default=None, help="override the number of reward samples (quick runs)")
    parser.add_argument("--learned", choices=LEARNERS, default=None,
                        help="also run the learned estimator on the same experiment and compare it with the exact one")
    parser.add_argument("--learned-samples", type=int, default=None,
                        help="reward samples for the learned run (default: min(samples, 200))")
    parser.add_argument("--force", action="store_true", help="recompute even where saved results match")
    parser.add_argument("--no-figures", action="store_true", help="skip drawing the figures")
    parser.add_argument("--device", default="cpu", help="torch device of the exact solver: cpu (default) or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from multipower import configs, experiments

    if args.list:
        for name, title in configs.list_configs():
            print(f"{name:28s} {title}")
        return 0
    if not args.name:
        print("multipower reproduce: give a config NAME or --list", file=sys.stderr)
        return 2
    if args.samples is not None and args.samples < 1:
        print(f"multipower reproduce: --samples must be a positive integer, got {args.samples}", file=sys.stderr)
        return 2
    try:
        config = configs.load_config(args.name)
    except configs.ConfigError as error:
        print(f"multipower reproduce: {error}", file=sys.stderr)
        return 2
    backend = backend_from_args(args)
    print(f"{config['title']}\n{config.get('source', '')}")
    outcome = experiments.run_experiment(
        config, args.out, n_samples=args.samples, progress=not args.quiet, force=args.force,
        figures=not args.no_figures, learned=args.learned, learned_samples=args.learned_samples, device=args.device,
        backend=backend,
    )
    print()
    print(outcome.table())
    reused = "" if outcome.computed else " (all reused from saved results; --force recomputes)"
    print(f"\n{outcome.config['n_samples']:,} samples, {outcome.seconds:.1f} s{reused}")
    learned = outcome.extra.get("learned")
    if learned:
        metrics = learned.get("metrics", {})
        keys = [k for k in ("max_abs_error_H", "max_abs_error_A", "alpha_learned", "alpha_exact") if k in metrics]
        print("learned vs exact: " + ", ".join(f"{k} = {metrics[k]:.4f}" for k in keys))
    print(f"results: {outcome.out_dir}/  (report.md, figures/)")
    report_backend(backend)
    return 0
