"""Accuracy and speed of the learned agents against the exact optimum.

Prints, for each run: samples, wall time, transitions per second, and the fraction of (sample, state) pairs
where the learned greedy action is optimal, for H (against the seed) and A (against the learned frozen H).

    python experiments/learned_accuracy.py                 # all targets (slow: many minutes)
    python experiments/learned_accuracy.py --only grid     # Q-learning, grid3x3, gamma 0.6, 1000 samples
    python experiments/learned_accuracy.py --only maze     # Q-learning, maze7x7, gamma 0.1, none and crash
    python experiments/learned_accuracy.py --only ppo      # PPO, grid3x3, gamma 0.6, 16 samples
    python experiments/learned_accuracy.py --only grid --samples 200   # a smaller run
"""

from __future__ import annotations

import argparse
import time

from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler
from multipower.exact.accuracy import optimal_response_q
from multipower.learned import train_agents
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution

TARGETS = {
    "grid": [("grid3x3", 0.6, "none", 1000, 0.99, 120)],
    "maze": [("maze7x7", 0.1, "none", 1000, 0.97, 900), ("maze7x7", 0.1, "crash", 1000, 0.97, 900)],
    "ppo": [("grid3x3", 0.6, "none", 16, 0.90, None)],
}


def report(name: str, agents, seconds: float, target: float, limit) -> None:
    m = agents.config["metrics"]
    transitions = agents.config.get("transitions")
    rate = f"{sum(transitions.values()) / seconds:,.0f} transitions/s" if transitions else ""
    ok_h = "ok" if m["greedy_optimal_H"] >= target else "MISSED"
    ok_t = "" if limit is None else ("ok" if seconds <= limit else "MISSED")
    print(
        f"{name}: samples={agents.n_samples} time={seconds:.1f}s (limit {limit}s {ok_t}) {rate}\n"
        f"    greedy optimal H={m['greedy_optimal_H']:.4f} ({ok_h}, target {target}) A={m['greedy_optimal_A']:.4f}"
        + (f"  value gap H={m['value_gap_H']:.5f} A={m['value_gap_A']:.5f}" if "value_gap_H" in m else ""),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=tuple(TARGETS), action="append", help="run only these targets")
    parser.add_argument("--samples", type=int, default=None, help="override the sample count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timesteps", type=int, default=None, help="PPO timesteps per agent per sample")
    parser.add_argument("--tensorboard", default=None, metavar="DIR")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    args = parser.parse_args()
    for group in args.only or tuple(TARGETS):
        for layout, gamma, collision, samples, target, limit in TARGETS[group]:
            samples = args.samples or samples
            start = time.perf_counter()
            model = joint_model(layout, collision)
            R_H, R_A = RewardSampler(model.n_states, seed=args.seed).pairs(0, samples)
            options = {}
            if group == "ppo" and args.timesteps is not None:
                options["total_timesteps"] = args.timesteps
            agents = train_agents("sb3-ppo" if group == "ppo" else "qlearning", TwoStageProblem(model, R_H, R_A, gamma),
                                  seed=args.seed, options=options, execution=Execution(jobs=args.jobs),
                                  tensorboard=args.tensorboard, reference=optimal_response_q)
            report(f"{group} {layout} gamma={gamma} collision={collision}", agents, time.perf_counter() - start,
                   target, limit)


if __name__ == "__main__":
    main()
