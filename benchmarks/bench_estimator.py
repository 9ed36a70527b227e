"""Rollout throughput of the learned POWER estimator (walker-steps per second).

Deterministic policies (greedy of random Q tables, one rollout per state) and stochastic ones (uniform H,
16 rollouts per state) on grid3x3 and maze7x7. Usage:

    .venv/bin/python benchmarks/bench_estimator.py [--samples 200] [--gamma 0.9]

Timings on a shared machine are noisy: take the best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multipower.envs.policies import uniform_policy
from multipower.envs.model import joint_model
from multipower.learned.estimator import PolicyRollout
from multipower.envs.rewards import RewardSampler
from multipower.learned.estimator import Rollouts
from multipower.envs.problem import TwoStageProblem


def greedy_of_random(mask: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    q = np.where(mask, rng.random((n_samples, *mask.shape)), -np.inf)
    return np.eye(mask.shape[1])[q.argmax(-1)]


def bench(layout: str, collision: str, n_samples: int, gamma: float, stochastic: bool, repeat: int) -> dict:
    model = joint_model(layout, collision)
    rng = np.random.default_rng(0)
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, n_samples)
    policy_H = greedy_of_random(model.action_mask_H, n_samples, rng)
    policy_A = greedy_of_random(model.action_mask_A, n_samples, rng)
    if stochastic:
        policy_H = np.broadcast_to(uniform_policy(model.action_mask_H), policy_H.shape)
    rollout = PolicyRollout(
        TwoStageProblem(model, R_H, R_A, gamma), policy_H, policy_A, rollouts=Rollouts(n_rollouts=16)
    )
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        rollout.per_sample()
        best = min(best, time.perf_counter() - t0)
    walkers = n_samples * model.n_states * rollout.plan.n_rollouts
    return {
        "layout": layout, "collision": collision, "policies": "stochastic" if stochastic else "deterministic",
        "samples": n_samples, "states": model.n_states, "rollouts": rollout.plan.n_rollouts,
        "horizon": rollout.plan.horizon, "seconds": best, "ms_per_sample": 1e3 * best / n_samples,
        "walker_steps_per_s": walkers * rollout.plan.horizon / best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--gamma", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    header = f"{'layout':>8} {'collision':>9} {'policies':>13} {'K':>5} {'S':>4} {'M':>3} {'T':>4} {'s':>7} {'ms/sample':>9} {'Msteps/s':>9}"
    print(header)
    for layout, collision in (("grid3x3", "none"), ("maze7x7", "none"), ("maze7x7", "crash")):
        for stochastic in (False, True):
            r = bench(layout, collision, args.samples, args.gamma, stochastic, args.repeat)
            print(
                f"{r['layout']:>8} {r['collision']:>9} {r['policies']:>13} {r['samples']:>5} {r['states']:>4} "
                f"{r['rollouts']:>3} {r['horizon']:>4} {r['seconds']:>7.3f} {r['ms_per_sample']:>9.2f} "
                f"{r['walker_steps_per_s'] / 1e6:>9.1f}"
            )


if __name__ == "__main__":
    main()
