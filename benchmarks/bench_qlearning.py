"""Throughput of batched Q-learning: sampled environment steps (walker transitions) per second across the batch.

    python benchmarks/bench_qlearning.py                       # grid3x3 and maze7x7, 1000 samples
    python benchmarks/bench_qlearning.py --layout maze7x7 --samples 200 --steps 200

Each walker step samples the other agent's action, looks the next state up in the model and updates the Q-table
(all of the learner's available actions under the sampled seed action by default: ``updates/s`` counts those).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multipower.agents.qlearning import train_q
from multipower.agents.qlearning_config import default_config
from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler
from multipower.envs.problem import StageProblem


def bench(layout: str, collision: str, samples: int, steps: int, gamma: float, all_actions: bool, dtype: str) -> None:
    model = joint_model(layout, collision)
    R_H, _ = RewardSampler(model.n_states, seed=0).pairs(0, samples)
    config = default_config(gamma, max_steps=steps, min_visits=10**12, check_every=steps, all_actions=all_actions,
                            dtype=dtype)
    start = time.perf_counter()
    result = train_q(StageProblem(model, R_H, gamma, "H"), config=config, seed=0)
    seconds = time.perf_counter() - start
    updates = int(result.visits.sum())
    print(f"{layout:10s} collision={collision:5s} K={samples:5d} all_actions={all_actions!s:5s} {dtype}: "
          f"{result.transitions / seconds:12,.0f} env steps/s  {updates / seconds:12,.0f} Q updates/s  "
          f"({result.transitions:,} steps in {seconds:.1f}s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", action="append", default=None)
    parser.add_argument("--collision", default="none")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300, help="steps per walker")
    parser.add_argument("--gamma", type=float, default=0.6)
    parser.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    args = parser.parse_args()
    for layout in args.layout or ["grid3x3", "maze7x7"]:
        for all_actions in (True, False):
            bench(layout, args.collision, args.samples, args.steps, args.gamma, all_actions, args.dtype)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
