"""Cost of slip in the exact solver: maze7x7 at γ = 0.99, slip 0.1 against the deterministic world, same run.

Run: ``python benchmarks/bench_slip.py [--samples N] [--jobs J]``. For each collision rule it times the full
exact pipeline (:func:`multipower.exact.power.exact_power`) with and without slip on the same reward samples, prints
the ratio, and shows where the time goes: the mean Bellman sweeps of each stage (H against the seed, A against
frozen H, H's evaluation, A following the seed) and the successors read per state and sweep, which together set
each stage's cost. Deterministic worlds warm-start stages 2 and 3 exactly (one sweep or two); with slip they
iterate. Target: slip at most 3x the deterministic time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multipower.envs.model import joint_model
from multipower.exact.power import exact_power
from multipower.exact.solver import solve_pairs
from multipower.envs.rewards import RewardSampler
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec

STAGES = ("H", "A", "H_eval", "A_seed")


def reads_per_sweep(model) -> dict:
    """Successor reads per state and sweep of each stage with slip (available moves of each agent)."""
    k_H, k_A = model.action_mask_H.sum(1), model.action_mask_A.sum(1)
    return {"H": float(np.mean(k_H + k_H**2)), "A": float(np.mean(k_A * k_H + k_A**2)),
            "H_eval": float(np.mean(k_H * k_A)), "A_seed": float(np.mean(k_H))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="reward samples per run (default 500)")
    parser.add_argument("--slip", type=float, default=0.1)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--jobs", type=int, default=None, help="chunks solved at once (default: available cores)")
    args = parser.parse_args()
    exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=4, slip=args.slip), execution=Execution(progress=False)
    )  # loads (or compiles) the kernels
    exact_power(RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=4), execution=Execution(progress=False))
    print(f"maze7x7, gamma {args.gamma}, {args.samples} samples, jobs {args.jobs or 'default'}")
    for collision in ("none", "crash"):
        seconds, sweeps = {}, {}
        for slip in (0.0, args.slip):
            t = time.perf_counter()
            exact_power(
                RunSpec(layout="maze7x7", gamma_H=args.gamma, n_samples=args.samples, collision=collision, slip=slip),
                execution=Execution(jobs=args.jobs, progress=False),
            )
            seconds[slip] = time.perf_counter() - t
            model = joint_model("maze7x7", collision, slip)
            R_H, R_A = RewardSampler(model.n_states, "uniform", 0.0, 0).pairs(0, min(args.samples, 50))
            problem = TwoStageProblem(model, R_H, R_A, args.gamma, args.gamma)
            sweeps[slip] = solve_pairs(problem, values_only=True).sweeps_mean
        ratio = seconds[args.slip] / seconds[0.0]
        print(f"\ncollision {collision}: deterministic {seconds[0.0]:.1f} s ({1e3 * seconds[0.0] / args.samples:.1f} "
              f"ms/sample), slip {args.slip} {seconds[args.slip]:.1f} s "
              f"({1e3 * seconds[args.slip] / args.samples:.1f} ms/sample): ratio {ratio:.2f} (target <= 3)")
        reads = reads_per_sweep(joint_model("maze7x7", collision, args.slip))
        print(f"  {'stage':<8s}{'sweeps det':>11s}{'sweeps slip':>12s}{'reads/state':>12s}")
        for stage in STAGES:
            print(f"  {stage:<8s}{sweeps[0.0][stage]:>11.1f}{sweeps[args.slip][stage]:>12.1f}{reads[stage]:>12.1f}")


if __name__ == "__main__":
    main()
