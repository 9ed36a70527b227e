"""``multipower reproduce NAME``: run one published figure set (or an experiment beyond the posts) from its
config, write data and figures to ``results/NAME/``, and print the published numbers beside the reproduced
ones. ``multipower reproduce --list`` lists the configs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from multipower.cli.commands import add_backend_arguments, backend_from_args, count, report_backend, out_path
from multipower.runs.spec import LEARNERS, SpecError

HELP = "reproduce a published figure set from its config (see --list); prints published vs reproduced numbers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="config name (see --list) or path to a YAML config")
    parser.add_argument("--list", action="store_true", help="list the shipped configs and exit")
    parser.add_argument("--out", type=out_path, default=None, help="results folder (default: results/NAME)")
    parser.add_argument("--samples", type=count(1), default=None, help="override the number of reward samples (quick runs)")
    parser.add_argument("--learned", choices=LEARNERS, default=None,
                        help="also run the learned estimator on the same experiment and compare it with the exact one")
    parser.add_argument("--learned-samples", type=count(1), default=None,
                        help="reward samples for the learned run (default: min(samples, 200))")
    parser.add_argument("--restart", action="store_true",
                        help="recompute everything, discarding saved results and sample blocks (each is replaced only "
                             "when its new result is written)")
    parser.add_argument("--force", action="store_true", help=argparse.SUPPRESS)  # old name of --restart
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a results folder holding another run (or files multipower did not write)")
    parser.add_argument("--no-figures", action="store_true", help="skip drawing the figures")
    parser.add_argument("--device", default="cpu", help="torch device of the exact solver: cpu (default) or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from multipower.envs.validation import check_device
    from multipower.runs import configs
    from multipower.repro import experiments
    from multipower.runs.execution import Execution, Storage

    if args.list:
        for name, title in configs.list_configs():
            print(f"{name:28s} {title}")
        return 0
    if not args.name:
        raise SpecError("give a config NAME or --list")
    if args.learned_samples is not None and args.learned is None:
        raise SpecError("--learned-samples needs --learned (the learner to run)")
    check_device(args.device, "--device")
    config = configs.load_config(args.name)
    if args.learned is not None and config["kind"] != "joint":
        raise SpecError(f"--learned needs a joint config; {config['name']} is kind {config['kind']!r}")
    if args.force:
        print("multipower: --force is deprecated; use --restart", file=sys.stderr)
    backend = backend_from_args(args)
    print(f"{config['title']}\n{config.get('source', '')}")
    try:
        out = Path("results") / config["name"] if args.out is None else args.out
        outcome = experiments.run_experiment(
            config, args.samples, learned=args.learned, learned_samples=args.learned_samples,
            figures=not args.no_figures,
            execution=Execution(device=args.device, backend=backend, progress=not args.quiet),
            storage=Storage(out, restart=args.restart or args.force, overwrite=args.overwrite),
        )
    except experiments.ExperimentInterrupted as stop:
        again = " ".join(["multipower reproduce", args.name, *(["--out", args.out] if args.out else []),
                          *(["--samples", str(args.samples)] if args.samples else [])])
        print(f"interrupted: {stop.message()}\nrerun `{again}` to resume", file=sys.stderr)
        return 130
    print()
    print(outcome.table())
    reused = "" if outcome.computed else " (all reused from saved results; --restart recomputes)"
    print(f"\n{outcome.config['n_samples']:,} samples, {outcome.seconds:.1f} s{reused}")
    learned = outcome.extra.get("learned")
    if learned:
        metrics = learned.get("metrics", {})
        keys = [k for k in ("max_abs_error_H", "max_abs_error_A", "alpha_learned", "alpha_exact") if k in metrics]
        print("learned vs exact: " + ", ".join(f"{k} = {metrics[k]:.4f}" for k in keys))
        print(f"\nlearned agents ({learned['algo']}, {learned['n_samples']:,} samples):")
        print(outcome.learned_table())
    print(f"results: {outcome.out_dir}/  (report.md, figures/)")
    report_backend(backend)
    return 0
