"""Learned against exact POWER at long horizons: the accuracy and wall time of PPO and Q-learning at γ = 0.99.

Each case trains both agents on the same reward samples as the exact solver (``multipower.learned.compare``,
what ``multipower compare`` runs), then prints one row: wall time of training plus comparison, per agent the
mean |learned − exact| and the Pearson correlation of the per-state POWER maps, α_HA learned against exact, and
whether the case meets its target (docs/comparison.md#far-sighted-agents).

    python benchmarks/bench_learned_far.py                        # every case, as in the docs (hours on 2 cores)
    python benchmarks/bench_learned_far.py --cases ppo-crash,ppo-none --samples 32
    python benchmarks/bench_learned_far.py --cases custom-ppo,custom-q   # a layout no default was tuned on
    python benchmarks/bench_learned_far.py --cases ppo-crash --option joint_critic=false  # PPO's value network

The machine's load average is printed before and after: compare figures from the same load only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

CUSTOM = str(Path(__file__).resolve().parent / "layouts" / "pocket6x7.txt")

#: name -> (algo, layout, collision, gamma, samples, seed, targets: (mean max, Pearson min, |Δα| max, A Pearson min))
CASES = {
    "ppo-crash": ("ppo", "maze7x7", "crash", 0.99, 100, 11, (0.01, 0.9, 0.1, 0.9)),
    "ppo-none": ("ppo", "maze7x7", "none", 0.99, 100, 11, (0.01, 0.9, 0.1, 0.9)),
    "q-crash": ("qlearning", "maze7x7", "crash", 0.99, 1000, 22, (0.002, 0.98, 0.03, 0.99)),
    "ppo-short-crash": ("ppo", "maze7x7", "crash", 0.1, 100, 6, (0.02, 0.9, 0.1, 0.9)),
    "ppo-short-none": ("ppo", "maze7x7", "none", 0.1, 100, 6, (0.02, 0.9, 0.1, 0.9)),
    "custom-ppo": ("ppo", CUSTOM, "crash", 0.99, 100, 5, (0.01, 0.9, 0.1, 0.9)),
    "custom-q": ("qlearning", CUSTOM, "crash", 0.99, 100, 5, (0.002, 0.98, 0.03, 0.99)),
}


def run_case(name: str, samples: int | None, jobs: int, options: dict | None = None) -> str:
    from multipower.learned.compare import compare
    from multipower.runs.execution import Execution
    from multipower.runs.spec import RunSpec

    algo, layout, collision, gamma, n, seed, (mean_max, pearson_min, alpha_max, pearson_A_min) = CASES[name]
    n = samples or n
    start = time.perf_counter()
    spec = RunSpec(layout, gamma_H=gamma, collision=collision, learner=algo, n_samples=n, seed=seed,
                   learner_options=dict(options or {}))
    result = compare(spec, execution=Execution(jobs=jobs))
    wall = time.perf_counter() - start
    m = result.metrics
    delta = abs(m["alpha_learned"] - m["alpha_exact"])
    ok = (m["mean_abs_error_H"] <= mean_max and m["mean_abs_error_A"] <= mean_max
          and m["pearson_H"] >= pearson_min and m["pearson_A"] >= pearson_A_min and delta <= alpha_max)
    world = Path(layout).stem
    return (f"| {name} | {algo} | {world} {collision} γ={gamma} | {n} | {wall:,.0f} s | "
            f"{m['mean_abs_error_H']:.4f}, {m['pearson_H']:.3f} | {m['mean_abs_error_A']:.4f}, {m['pearson_A']:.3f} | "
            f"{m['alpha_learned']:.3f} / {m['alpha_exact']:.3f} ({delta:.3f}) | "
            f"{m['policy_gap_H']:.1e} / {m['policy_gap_A']:.1e} | {'meets' if ok else 'misses'} |")


def main() -> None:
    from multipower.cli.commands import key_value

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--samples", type=int, default=None, help="reward samples per case (default: the case's)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", type=key_value("--option"),
                        help="a learner hyperparameter for every case, as `multipower compare --option` "
                             "(e.g. joint_critic=false: PPO's value network and GAE at γ = 0.99)")
    args = parser.parse_args()
    names = args.cases.split(",")
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; choose from {', '.join(CASES)}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    print("| case | learner | world | samples | train + compare | POWER_H mean, Pearson | POWER_A mean, Pearson "
          "| α learned / exact (Δ) | policy gap H / A | target |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        print(run_case(name, args.samples, args.jobs, dict(args.option)), flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
