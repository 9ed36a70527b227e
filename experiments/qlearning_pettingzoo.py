"""Plain tabular Q-learning of ONE H through the PettingZoo API, CleanRL style (one file, one env, step by step).

H learns against A's uniform seed policy in ``multipower.envs.maze_v1.parallel_env`` (joint-state index observations),
one transition at a time through ``env.step``; at the end the greedy policy is compared with the exact
optimum (:func:`multipower.exact.accuracy.optimal_response_q`, the same optimum as the solver's ``q_H``).

    python experiments/qlearning_pettingzoo.py --layout grid3x3 --gamma 0.6 --steps 300000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multipower.agents.logging import optimal_mask
from multipower.exact.accuracy import optimal_response_q
from multipower.envs.policies import uniform_policy
from multipower.envs import maze_v1
from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="grid3x3")
    parser.add_argument("--collision", default="none", choices=("none", "crash", "bounce"))
    parser.add_argument("--gamma", type=float, default=0.6)
    parser.add_argument("--steps", type=int, default=300_000, help="environment steps")
    parser.add_argument("--max-cycles", type=int, default=10, help="episode length (truncation)")
    parser.add_argument("--epsilon-start", type=float, default=1.0)
    parser.add_argument("--epsilon-end", type=float, default=0.5)
    parser.add_argument("--omega", type=float, default=1.0, help="learning rate (1 + (1-γ) n)^-ω")
    parser.add_argument("--seed", type=int, default=0, help="reward sample 0 of RewardSampler(seed); training draws")
    parser.add_argument("--tensorboard", default=None, metavar="DIR")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    model = joint_model(args.layout, args.collision)
    R_H, R_A = RewardSampler(model.n_states, seed=args.seed).pairs(0, 1)
    env = maze_v1.parallel_env(model=model, rewards={"H": R_H[0], "A": R_A[0]}, obs_type="index",
                               max_cycles=args.max_cycles)
    seed_A = uniform_policy(model.action_mask_A)
    exact = optimal_response_q(model, R_H, args.gamma, "H", seed_A)[0]

    writer = None
    if args.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(args.tensorboard)
    q = np.zeros((model.n_states, 5))
    visits = np.zeros((model.n_states, 5))
    mask_H = model.action_mask_H
    obs, infos = env.reset(seed=args.seed)  # exploring start: a uniformly random joint state
    episode_return, discount = 0.0, 1.0
    start = time.perf_counter()
    for step in range(args.steps):
        epsilon = args.epsilon_start + min(1.0, step / (0.5 * args.steps)) * (args.epsilon_end - args.epsilon_start)
        s = obs["H"]
        if rng.random() < epsilon:
            a_h = int(rng.choice(np.flatnonzero(infos["H"]["action_mask"])))
        else:
            a_h = int(np.argmax(np.where(mask_H[s], q[s], -np.inf)))
        a_a = int(rng.choice(5, p=seed_A[s]))  # A's seed policy
        obs, rewards, terminations, truncations, infos = env.step({"H": a_h, "A": a_a})
        r = rewards["H"]
        if terminations["H"]:  # crash: zero-value terminal, no bootstrap
            target = r
        else:  # a truncation still bootstraps: the time limit is not part of the task
            target = r + args.gamma * np.max(np.where(mask_H[obs["H"]], q[obs["H"]], -np.inf))
        visits[s, a_h] += 1
        alpha = (1.0 + (1.0 - args.gamma) * (visits[s, a_h] - 1)) ** -args.omega
        td = target - q[s, a_h]
        q[s, a_h] += alpha * td
        episode_return += discount * r
        discount *= args.gamma
        if terminations["H"] or truncations["H"]:
            if writer:
                writer.add_scalar("charts/episode_return", episode_return, step)
            obs, infos = env.reset()
            episode_return, discount = 0.0, 1.0
        if writer and step % 5000 == 0:
            writer.add_scalar("charts/epsilon", epsilon, step)
            writer.add_scalar("losses/td_error", abs(td), step)
            writer.add_scalar("charts/greedy_optimal_fraction", optimal_mask(q[None], exact[None], mask_H).mean(), step)
    seconds = time.perf_counter() - start
    optimal = optimal_mask(q[None], exact[None], mask_H).mean()
    gap = np.abs(np.where(mask_H, q, -np.inf).max(1) - exact.max(1)).mean()
    print(f"{args.layout} collision={args.collision} gamma={args.gamma}: {args.steps} env steps in {seconds:.1f}s "
          f"({args.steps / seconds:,.0f} steps/s)")
    print(f"greedy action optimal at {optimal:.1%} of {model.n_states} states; mean |V_learned - V*| = {gap:.4f}")
    if writer:
        writer.close()


if __name__ == "__main__":
    main()
