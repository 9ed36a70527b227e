"""``multipower demo``: a real, small experiment end to end in a few minutes on 2 cores.

1. Part 3 Figs 2-4 with the exact solver (maze7x7, γ = 0.1, independent goals; 2,000 reward samples instead
   of the published 10,000): heat maps of both agents' POWER, the alignment plot, published vs reproduced.
2. Learned versus exact on grid3x3 (Part 2 Figs 6-8 setting, γ = 0.6, β = 0): tabular Q-learning on ~200
   reward samples, Monte-Carlo POWER of the learned agents beside the exact solver's.
"""

from __future__ import annotations

import argparse
import time

from multipower.cli.commands import count, out_path
from multipower.runs.spec import LEARNERS

HELP = "run a small real experiment end to end (exact maze figures + learned-vs-exact on grid3x3) and write figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=out_path, default="results/demo", help="results folder (default: results/demo)")
    parser.add_argument("--samples", type=count(1), default=2000, help="reward samples of the exact maze run (default 2000)")
    parser.add_argument("--learned-samples", type=count(1), default=200,
                        help="reward samples (trained agent pairs) of the learned run (default 200)")
    parser.add_argument("--algo", choices=LEARNERS, default="qlearning", help="learner (default qlearning)")
    parser.add_argument("--skip-learned", action="store_true", help="only the exact part")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from multipower.repro import experiments
    from multipower.runs.execution import Execution, Storage
    from multipower.runs.rundir import check_own_folder

    out = check_own_folder(args.out, "--out")
    start = time.perf_counter()
    print(f"[1/2] Part 3 Figs 2-4, exact solver, {args.samples:,} reward samples (published: 10,000)")
    quiet = Execution(progress=not args.quiet)
    maze = experiments.run_experiment("part3-fig2-4", args.samples, execution=quiet,
                                      storage=Storage(out / "part3-fig2-4"))
    print(maze.table())
    print(f"      {maze.seconds:.1f} s; figures:")
    for path in maze.figures:
        print(f"        {path}")
    if not args.skip_learned:
        exact_samples = max(args.samples, args.learned_samples)
        print(f"\n[2/2] grid3x3: exact at {exact_samples:,} samples, then {args.algo} on the first "
              f"{args.learned_samples} of them against exact on the same {args.learned_samples}")
        grid = experiments.run_experiment(
            "part2-fig6-8", exact_samples, learned=args.algo, learned_samples=args.learned_samples,
            execution=quiet, storage=Storage(out / "grid3x3-learned"),
        )
        print(grid.table())
        metrics = grid.extra["learned"].get("metrics", {})
        shown = [k for k in ("max_abs_error_H", "max_abs_error_A", "mean_abs_error_H", "mean_abs_error_A",
                             "alpha_learned", "alpha_exact") if k in metrics]
        print(f"      learned vs exact on the same {args.learned_samples} samples: "
              + ", ".join(f"{k} = {metrics[k]:.4f}" for k in shown))
        if "alpha_exact" in metrics:
            print(f"      (alpha_exact: the exact α of those {args.learned_samples} samples; the table's exact α is "
                  f"over all {exact_samples:,})")
        print("      figures:")
        for path in grid.figures:
            print(f"        {path}")
    print(f"\nDone in {time.perf_counter() - start:.0f} s. Figures are in {out}/*/figures/ "
          f"(reports: {out}/*/report.md)")
    return 0
