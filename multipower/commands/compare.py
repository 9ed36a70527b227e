"""``multipower compare``: learned POWER (Q-learning or PPO) against the exact solver on the same rewards."""

from __future__ import annotations

import argparse
import time

from multipower.commands import (add_backend_arguments, add_option_argument, add_run_arguments, backend_from_args,
                                 report_backend, spec_from_args)
from multipower.spec import LEARNERS, SpecError, load_spec, save_spec

HELP = "compare learned POWER (Q-learning or PPO rollouts) with the exact solver on the same reward functions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="qlearning", choices=LEARNERS, help="learner (default qlearning)")
    add_run_arguments(parser)
    parser.add_argument("--agents", default=None, metavar="DIR",
                        help="reuse agents saved by `multipower train --out DIR` (world, gammas, rewards from there)")
    add_option_argument(parser)
    parser.add_argument("--jobs", type=int, default=None,
                        help="training worker processes (default: available cores; Q-learning results do not depend on it)")
    parser.add_argument("--chunk", type=int, default=None,
                        help="ppo: samples per batch (default at most 32, 256 on CUDA, spread evenly over --jobs)")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"),
                        help="ppo: torch device (default auto: CUDA when present)")
    parser.add_argument("--rollouts", type=int, default=None,
                        help="rollouts per state for stochastic policies (default 16; deterministic: 1)")
    parser.add_argument("--tol", type=float, default=1e-4, help="rollout truncation tolerance in POWER (default 1e-4)")
    parser.add_argument("--rollout-seed", type=int, default=0, help="seeds the rollouts' action sampling")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="log running estimates to TensorBoard")
    parser.add_argument("--no-figure", action="store_true", help="skip comparison.png")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: 3/4 of the machine's memory); refused up front if exceeded")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from multipower.compare import compare

    t0 = time.perf_counter()
    spec = load_spec(args.agents) if args.agents else spec_from_args(args, learner=args.algo)
    backend = backend_from_args(args)
    comparison = compare(
        spec.layout, spec.gamma_H, spec.gamma_A, algo=spec.learner, n_samples=spec.n_samples,
        collision=spec.collision, correlation=spec.correlation, distribution=spec.distribution,
        seed_policy=spec.seed_policy_value(), seed=spec.seed, agents=args.agents,
        train_options={**spec.learner_options, **_run_options(args, spec.learner)},
        n_rollouts=args.rollouts, tol=args.tol, rollout_seed=args.rollout_seed, tensorboard=args.tensorboard,
        max_memory=args.max_memory, backend=backend,
    )
    out = comparison.save(args.out, figure=not args.no_figure)
    save_spec(spec, out)
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
    report_backend(backend)
    return 0


def _run_options(args: argparse.Namespace, learner: str) -> dict:
    """``--jobs``, ``--chunk`` and ``--device`` as learner options; chunk and device exist for ``ppo`` only."""
    if learner != "ppo" and (args.chunk is not None or args.device is not None):
        raise SpecError(f"'chunk' and 'device' apply to the ppo learner only, not {learner}")
    for name in ("jobs", "chunk"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise SpecError(f"'{name}' must be a positive integer, got {value}")
    given = {"n_jobs": args.jobs, "chunk": args.chunk, "device": args.device}
    return {key: value for key, value in given.items() if value is not None}
