"""Full-size learned-versus-exact runs (issue 5 targets); prints the figures and saves each comparison.

Targets (same reward functions on both sides):

* ``grid3x3``  Q-learning, γ=0.6, β=0, 1,000 samples: max |learned − exact| ≤ 0.01 (H and A), |Δα| ≤ 0.05;
* ``maze7x7``  Q-learning, γ=0.1, 1,000 samples, collision none and crash: max error ≤ 0.02, |Δα| ≤ 0.05;
* ``grid3x3``  PPO, γ=0.6, 32 samples: mean error ≤ 0.02, Pearson ≥ 0.9 for H;
* ``maze7x7``  Q-learning, γ=0.99 (``--gamma99 K`` samples, crash): accuracy reached in the time spent.

Usage (from the repository root; each run writes results/learned_vs_exact/<name>/)::

    .venv/bin/python experiments/learned_vs_exact.py                  # all targets
    .venv/bin/python experiments/learned_vs_exact.py --only grid3x3_q --samples-scale 0.1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from multipower.learned.compare import compare
from multipower.runs.spec import RunSpec

RUNS = {
    "grid3x3_q": dict(layout="grid3x3", gamma=0.6, collision="none", algo="qlearning", n_samples=1000,
                      target={"max_abs_error": 0.01, "alpha": 0.05}),
    "maze7x7_g0.1_none_q": dict(layout="maze7x7", gamma=0.1, collision="none", algo="qlearning", n_samples=1000,
                                target={"max_abs_error": 0.02, "alpha": 0.05}),
    "maze7x7_g0.1_crash_q": dict(layout="maze7x7", gamma=0.1, collision="crash", algo="qlearning", n_samples=1000,
                                 target={"max_abs_error": 0.02, "alpha": 0.05}),
    "grid3x3_ppo": dict(layout="grid3x3", gamma=0.6, collision="none", algo="ppo", n_samples=32,
                        target={"mean_abs_error": 0.02, "pearson_H": 0.9}),
    "maze7x7_g0.99_crash_q": dict(layout="maze7x7", gamma=0.99, collision="crash", algo="qlearning", n_samples=20,
                                  target={}),
}


def check(metrics: dict, target: dict) -> list[str]:
    """Lines ``name value <= bound PASS/FAIL`` for each target."""
    lines = []
    for name, bound in target.items():
        if name == "alpha":
            value = abs(metrics["alpha_learned"] - metrics["alpha_exact"])
            ok = value <= bound
            lines.append(f"  |alpha_learned - alpha_exact| = {value:.4f} <= {bound}: {'PASS' if ok else 'FAIL'}")
        elif name == "pearson_H":
            ok = metrics["pearson_H"] >= bound
            lines.append(f"  pearson_H = {metrics['pearson_H']:.4f} >= {bound}: {'PASS' if ok else 'FAIL'}")
        else:
            for agent in "HA":
                value = metrics[f"{name}_{agent}"]
                lines.append(f"  {name}_{agent} = {value:.4f} <= {bound}: {'PASS' if value <= bound else 'FAIL'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="learned vs exact POWER, full-size targets")
    parser.add_argument("--only", nargs="*", choices=list(RUNS), help="runs to do (default all)")
    parser.add_argument("--samples-scale", type=float, default=1.0, help="scale every run's sample count")
    parser.add_argument("--gamma99", type=int, default=None, help="samples for the maze7x7 γ=0.99 run")
    parser.add_argument("--out", default="results/learned_vs_exact")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.only or list(RUNS):
        spec = dict(RUNS[name])
        target = spec.pop("target")
        n = spec.pop("n_samples")
        if name.startswith("maze7x7_g0.99") and args.gamma99:
            n = args.gamma99
        n = max(2, int(round(n * args.samples_scale)))
        t0 = time.perf_counter()
        run = RunSpec(spec["layout"], gamma_H=spec["gamma"], collision=spec["collision"], learner=spec["algo"],
                      n_samples=n, seed=args.seed)
        comparison = compare(run)
        comparison.save(Path(args.out) / name)
        m, t = comparison.metrics, comparison.timings
        print(f"== {name}: {spec['algo']} {spec['layout']} gamma={spec['gamma']} {spec['collision']} {n} samples "
              f"({time.perf_counter() - t0:.0f} s: train {t.get('train', 0):.0f}, rollout {t['rollout']:.1f}, "
              f"exact eval {t['exact_eval']:.1f}, exact solve {t['exact_solve']:.1f})")
        for agent in "HA":
            print(f"  {agent}: max err {m[f'max_abs_error_{agent}']:.4f} mean err {m[f'mean_abs_error_{agent}']:.4f} "
                  f"pearson {m[f'pearson_{agent}']:.4f} | learning err max {m[f'max_abs_learning_error_{agent}']:.4f} "
                  f"mean {m[f'mean_abs_learning_error_{agent}']:.4f} | rollout noise max "
                  f"{m[f'max_abs_rollout_noise_{agent}']:.5f} | max paired SE {m[f'max_error_se_{agent}']:.4f}")
        print(f"  alpha learned {m['alpha_learned']:.4f} exact {m['alpha_exact']:.4f} (eval {m['alpha_eval']:.4f})")
        for line in check(m, target):
            print(line)


if __name__ == "__main__":
    main()
