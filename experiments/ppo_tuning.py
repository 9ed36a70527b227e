"""Measure PPO's greedy-optimal fraction on grid3x3 for a few hyperparameter settings (one process).

Stage 1 only (H against the uniform seed) by default, which is where the target is hardest (A faces a
deterministic H, so its returns are less noisy); ``--both`` runs both stages through ``multipower.learned.train_agents``.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/ppo_tuning.py --samples 4 --set total_timesteps=60000
    OMP_NUM_THREADS=1 .venv/bin/python experiments/ppo_tuning.py --samples 16 --both          # the defaults

Besides the greedy-optimal fraction it prints, from the exact ``Q^π`` of each trained policy, how often the
greedy action is the best action by the policy's *own* values (``follows_own_q``) and how often those point at
an optimal action (``own_q_optimal``): PPO's failures are mostly the former (early commitment).

Each ``--set name=value`` overrides one :class:`multipower.agents.sb3_ppo.SB3PPOConfig` field (Python literal values).
"""

from __future__ import annotations

import argparse
import ast
import json
import time

import numpy as np
from multipower.envs.problem import StageProblem, TwoStageProblem
from multipower.runs.execution import Execution


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="grid3x3")
    parser.add_argument("--gamma", type=float, default=0.6)
    parser.add_argument("--collision", default="none")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--first", type=int, default=0, help="first reward sample index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--both", action="store_true", help="run both stages (multipower.learned.train_agents)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from multipower.agents.logging import policy_optimal_fraction
    from multipower.exact.accuracy import optimal_response_q
    from multipower.envs.policies import uniform_policy
    from multipower.agents.sb3_ppo import SB3PPOConfig, action_probabilities, train_sb3_ppo
    from multipower.learned import train_agents
    from multipower.envs.model import joint_model
    from multipower.envs.rewards import RewardSampler

    overrides = {}
    for item in args.set:
        name, value = item.split("=", 1)
        try:
            overrides[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[name] = value
    config = SB3PPOConfig(**overrides)
    start = time.perf_counter()
    if args.both:
        both = joint_model(args.layout, args.collision)
        R_H, R_A = RewardSampler(both.n_states, seed=args.seed).pairs(0, args.samples)
        agents = train_agents("sb3-ppo", TwoStageProblem(both, R_H, R_A, args.gamma), seed=args.seed, options=overrides,
                              execution=Execution(jobs=1), reference=optimal_response_q)
        m = agents.config["metrics"]
        result = {"H": m["greedy_optimal_H"], "A": m["greedy_optimal_A"]}
    else:
        model = joint_model(args.layout, args.collision)
        R_H, R_A = RewardSampler(model.n_states, None, 0.0, args.seed).pairs(0, args.first + args.samples)
        seed_policy = uniform_policy(model.action_mask_A)
        fractions, gaps, follows_own_q, own_q_optimal = [], [], [], []
        rows = np.arange(model.n_states)
        for k in range(args.first, args.first + args.samples):
            ppo = train_sb3_ppo(StageProblem(model, R_H[k], args.gamma, "H"), config, args.seed * 100_003 + 2 * k)
            exact = optimal_response_q(model, R_H[k][None], args.gamma, "H", seed_policy)
            probs = action_probabilities(ppo, model, "H")
            greedy = probs.argmax(1)
            fractions.append(policy_optimal_fraction(np.eye(probs.shape[1])[greedy][None], exact, model.action_mask_H))
            q = np.where(model.action_mask_H, exact[0], -np.inf)
            gaps.append(q.max(1) - q[rows, greedy])
            # Q^π of the trained (stochastic) policy, exactly: does the policy follow its own action values,
            # and are those pointing at an optimal action?
            q_pi = policy_q(model, probs, R_H[k], args.gamma, seed_policy)
            follows_own_q.append(float(np.mean(q_pi[rows, greedy] >= q_pi.max(1) - 1e-9)))
            own_q_optimal.append(float(np.mean(q[rows, q_pi.argmax(1)] >= q.max(1) - 1e-9)))
        gaps = np.concatenate(gaps)
        wrong = gaps > 1e-9
        result = {"H": float(np.mean(fractions)), "H_per_sample": [round(f, 3) for f in fractions],
                  # how far from optimal the wrong picks are (exact action-value gap, env convention)
                  "gap_of_wrong_picks_mean": float(gaps[wrong].mean()) if wrong.any() else 0.0,
                  "gap_of_wrong_picks_max": float(gaps.max()),
                  "follows_own_q": float(np.mean(follows_own_q)), "own_q_optimal": float(np.mean(own_q_optimal))}
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["config"] = overrides
    print(json.dumps(result), flush=True)


def policy_q(model, probs: np.ndarray, rewards: np.ndarray, gamma: float, seed_policy: np.ndarray) -> np.ndarray:
    """Exact ``Q_env`` ``(S, 5)`` of H's stochastic policy ``probs`` against the seed (``-inf`` if unavailable)."""
    from multipower.exact.solver import evaluate_policies

    problem = TwoStageProblem(model, rewards[None], rewards[None], gamma)
    V, _ = evaluate_policies(problem, probs[None], seed_policy[None])
    V = np.append(V[0], 0.0)  # the crash state ends the episode with nothing more
    q = np.einsum("sab,sb->sa", V[model.next_state], seed_policy)
    return np.where(model.action_mask_H, q, -np.inf)


if __name__ == "__main__":
    main()
