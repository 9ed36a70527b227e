"""Steps per second of the maze environments: the PettingZoo parallel env and the single-agent view.

Run: ``python benchmarks/bench_env.py [--steps 50000]``. Actions are drawn up front (uniform over all five,
so some are unavailable and stay), so the numbers time the environment, not the action sampling. Episodes
reset when they end; resets are counted in the time. One process, one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multipower.envs import maze_v1
from multipower.envs.single_agent import SingleAgentView

LAYOUTS = ("grid3x3", "maze7x7", "robot_face20x20")


def bench_parallel(layout: str, collision: str, obs_type: str, steps: int, seed: int = 0) -> float:
    env = maze_v1.parallel_env(layout=layout, collision=collision, obs_type=obs_type, max_cycles=100)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, 2)).tolist()
    env.reset(seed=seed)
    start = time.perf_counter()
    for a_h, a_a in actions:
        env.step({"H": a_h, "A": a_a})
        if not env.agents:
            env.reset()
    return steps / (time.perf_counter() - start)


def bench_view(layout: str, collision: str, obs_type: str, steps: int, seed: int = 0) -> float:
    view = SingleAgentView(
        maze_v1.parallel_env(layout=layout, collision=collision, obs_type=obs_type, max_cycles=100), agent="H"
    )
    actions = np.random.default_rng(seed).integers(0, 5, size=steps).tolist()
    view.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = view.step(action)
        if terminated or truncated:
            view.reset()
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50_000, help="steps per measurement")
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    args = parser.parse_args()
    print(f"{'layout':<16} {'collision':<9} {'obs':<7} {'parallel steps/s':>17} {'view steps/s':>13}")
    for layout in args.layouts:
        for collision in ("none", "crash"):
            for obs_type in ("index", "vector"):
                par = bench_parallel(layout, collision, obs_type, args.steps)
                view = bench_view(layout, collision, obs_type, args.steps)
                print(f"{layout:<16} {collision:<9} {obs_type:<7} {par:>17,.0f} {view:>13,.0f}")


if __name__ == "__main__":
    main()
