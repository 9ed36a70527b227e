"""``multipower compare``: learned POWER (Q-learning or PPO) against the exact solver on the same rewards."""

from __future__ import annotations

import argparse
import time

from multipower.commands import key_value

HELP = "compare learned POWER (Q-learning or PPO rollouts) with the exact solver on the same reward functions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from multipower.compare import ALGOS

    parser.add_argument("--algo", default="qlearning", choices=ALGOS, help="learner (default qlearning)")
    parser.add_argument("--layout", default="grid3x3", help="built-in layout name or layout file (default grid3x3)")
    parser.add_argument("--gamma", type=float, default=0.6, help="discount of H (and A unless --gamma-A); default 0.6")
    parser.add_argument("--gamma-A", dest="gamma_A", type=float, default=None, help="discount of A (default --gamma)")
    parser.add_argument("--samples", type=int, default=100, help="reward samples (default 100)")
    parser.add_argument("--collision", default="none", choices=("none", "crash", "bounce"), help="collision rule")
    parser.add_argument("--correlation", type=float, default=0.0, help="reward correlation beta in [-1, 1] (default 0)")
    parser.add_argument("--distribution", default="uniform", help="reward distribution name (default uniform)")
    parser.add_argument("--seed-policy", default="uniform", choices=("uniform", "stay"), help="A's seed policy")
    parser.add_argument("--seed", type=int, default=0, help="seeds the reward functions and training (default 0)")
    parser.add_argument("--agents", default=None, metavar="DIR",
                        help="reuse agents saved by `multipower train --out DIR` (world, gammas, rewards from there)")
    parser.add_argument("--train-option", dest="train_options", type=key_value("--train-option"), action="append", default=[],
                        metavar="KEY=VALUE", help="learner hyperparameter override (repeatable), e.g. min_visits=500")
    parser.add_argument("--jobs", type=int, default=None,
                        help="training worker processes (default: available cores; Q-learning results do not depend on it)")
    parser.add_argument("--rollouts", type=int, default=None,
                        help="rollouts per state for stochastic policies (default 16; deterministic: 1)")
    parser.add_argument("--tol", type=float, default=1e-4, help="rollout truncation tolerance in POWER (default 1e-4)")
    parser.add_argument("--rollout-seed", type=int, default=0, help="seeds the rollouts' action sampling")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="log running estimates to TensorBoard")
    parser.add_argument("--no-figure", action="store_true", help="skip comparison.png")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory); refused up front if exceeded")


def run(args: argparse.Namespace) -> int:
    from multipower.compare import compare

    t0 = time.perf_counter()
    comparison = compare(
        args.layout, args.gamma, args.gamma_A, algo=args.algo, n_samples=args.samples, collision=args.collision,
        correlation=args.correlation, distribution=args.distribution, seed_policy=args.seed_policy, seed=args.seed,
        agents=args.agents, train_options={**dict(args.train_options), **({"n_jobs": args.jobs} if args.jobs else {})},
        n_rollouts=args.rollouts, tol=args.tol,
        rollout_seed=args.rollout_seed, tensorboard=args.tensorboard, max_memory=args.max_memory,
    )
    out = comparison.save(args.out, figure=not args.no_figure)
    m = comparison.metrics
    for agent in "HA":
        print(
            f"POWER_{agent}: max |learned-exact| {m[f'max_abs_error_{agent}']:.4f}, mean {m[f'mean_abs_error_{agent}']:.4f}, "
            f"Pearson {m[f'pearson_{agent}']:.3f} (learning error max {m[f'max_abs_learning_error_{agent}']:.4f}, "
            f"rollout noise max {m[f'max_abs_rollout_noise_{agent}']:.4f})"
        )
    print(f"alpha learned {m['alpha_learned']:.3f}, exact {m['alpha_exact']:.3f}")
    print(f"wrote {out}/comparison.json, power.csv{'' if args.no_figure else ', comparison.png'} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
