"""How good is a learned H at long horizons? Stage 1 alone, judged by what POWER_H needs.

Trains H against the uniform seed agent (batched PPO by default, ``--qlearning`` for batched Q-learning) on the
first ``--samples`` reward functions of ``--seed``, then gives A its *exact* best response to the learned H and
evaluates both exactly, so that every error left is H's. Prints one JSON line:

* ``greedy_optimal``: fraction of (sample, joint state) pairs where H's greedy action is optimal against the seed;
* ``gap_mean``: the POWER H's greedy policy loses against the seed, ``(1 − γ)/γ · (Q*(s, a*) − Q*(s, a))``, mean
  over pairs; ``wrong_gap_median``: its median over the wrong picks;
* ``power_H_error``: mean over samples and states of ``|POWER_H(learned H) − POWER_H(exact H)|`` per sample, and
  ``map_error``, ``map_pearson``: of the mean over samples (the POWER maps);
* ``seconds``: training time of stage 1.

    python experiments/learned_h_far.py --samples 8                                   # PPO, the defaults
    python experiments/learned_h_far.py --samples 8 --set n_epochs=1 --set total_timesteps=25165824 \\
        --set gae_lambda_end=0.5                                                      # PPO, its best setting
    python experiments/learned_h_far.py --samples 32 --qlearning --set min_visits=20000

``--set NAME=VALUE`` (VALUE as JSON, as ``multipower train --option``) overrides a ``PPOConfig`` field (with ``--qlearning``, a ``QLearningConfig`` field);
``--tail-average F`` also reports the greedy policy of the logits averaged over the updates after fraction F of
training (PPO).

``--near-optimal EPS`` trains nothing: H is the exact optimum against the seed, except that at each joint state
it picks at random (``--seed``) among the actions within ``EPS`` POWER of the best one. It measures how far
POWER_H moves with H's near-ties alone, the precision a learner's H needs (docs/learning.md#ppo-long-horizons):

    python experiments/learned_h_far.py --samples 8 --near-optimal 1e-4
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from multipower.cli.commands import key_value
from multipower.envs.problem import StageProblem, TwoStageProblem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="maze7x7")
    parser.add_argument("--collision", default="crash")
    parser.add_argument("--slip", type=float, default=0.0, help="probability that a move slips (default 0)")
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--qlearning", action="store_true", help="batched Q-learning instead of batched PPO")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", type=key_value("--set"))
    parser.add_argument("--tail-average", type=float, default=None, metavar="F")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--near-optimal", type=float, default=None, metavar="EPS",
                        help="no learner: the exact H with its near-ties (within EPS POWER) chosen at random")
    args = parser.parse_args()
    if args.near_optimal is not None and not (args.near_optimal >= 0.0 and np.isfinite(args.near_optimal)):
        parser.error(f"--near-optimal: must be a finite number >= 0, got {args.near_optimal}")

    import torch

    torch.set_num_threads(args.threads)
    from multipower.envs.model import joint_model
    from multipower.envs.policies import uniform_policy
    from multipower.envs.rewards import RewardSampler

    overrides = dict(args.set)
    model = joint_model(args.layout, args.collision, args.slip)
    R_H, R_A = RewardSampler(model.n_states, seed=args.seed).pairs(0, args.samples)
    seed_policy = uniform_policy(model.action_mask_A)
    start = time.perf_counter()
    averaged = None
    if args.near_optimal is not None:
        policy_H = _near_optimal(model, R_H, args.gamma, seed_policy, args.near_optimal, args.seed)
    elif args.qlearning:
        from multipower.agents.qlearning import train_q
        from multipower.agents.qlearning_config import default_config

        config = default_config(args.gamma, deterministic_moves=model.deterministic, **overrides) if overrides else None
        policy_H = train_q(StageProblem(model, R_H, args.gamma, "H", seed_policy), config, args.seed).greedy(
            model.action_mask_H
        )
    else:
        policy_H, averaged = _ppo(model, R_H, args.gamma, seed_policy, overrides, args.seed, args.tail_average)
    seconds = time.perf_counter() - start
    learner = "qlearning" if args.qlearning else "ppo"
    if args.near_optimal is not None:
        learner = f"exact, near-ties within {args.near_optimal:g} at random"
    result = {"learner": learner, "set": overrides, "samples": args.samples,
              "seconds": round(seconds, 1), **_judge(model, R_H, R_A, args.gamma, seed_policy, policy_H)}
    if averaged is not None:
        result["tail_average"] = _judge(model, R_H, R_A, args.gamma, seed_policy, averaged)
    print(json.dumps(result), flush=True)


def _ppo(model, R_H, gamma, seed_policy, overrides, seed, tail):
    from multipower.agents import ppo

    config = ppo.PPOConfig(**overrides)
    n_updates = config.for_gamma(gamma).n_updates
    total, count = None, 0

    def callback(update, nets, stats):
        nonlocal total, count
        if tail is not None and update >= tail * n_updates:
            weights = nets.pi[0][0].detach().clone()
            total = weights if total is None else total + weights
            count += 1

    keys = ppo.sample_keys(seed, range(len(R_H)), "H")
    nets = ppo.train_agents(StageProblem(model, R_H, gamma, "H", seed_policy), keys, config, "cpu", callback)
    policy_H = ppo.greedy_tables(nets, model, "H", config.observation)
    if total is None:
        return policy_H, None
    nets.pi[0] = (total / count, nets.pi[0][1])
    return policy_H, ppo.greedy_tables(nets, model, "H", config.observation)


def _near_optimal(model, R_H, gamma, seed_policy, eps, seed) -> np.ndarray:
    """H's exact optimum against the seed, with one action drawn uniformly per (sample, state) among those whose
    POWER loss ``(1 − γ)/γ · (Q*(s, a*) − Q*(s, a))`` is at most ``eps`` (the optimum itself always qualifies)."""
    from multipower.exact.solver import optimal_response

    _, q_H = optimal_response(model, R_H, gamma, "H", seed_policy)
    q_H = np.where(model.action_mask_H[None], q_H, -np.inf)
    loss = (q_H.max(-1, keepdims=True) - q_H) * (1 - gamma) / gamma
    score = np.where(loss <= eps, np.random.default_rng(seed).random(loss.shape), -1.0)
    return _greedy(score)


def _judge(model, R_H, R_A, gamma, seed_policy, policy_H) -> dict:
    from multipower.exact.solver import evaluate_policies, optimal_response, power_samples, solve_pairs

    exact = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma))
    _, q_A = optimal_response(model, R_A, gamma, "A", policy_H)
    policy_A = _greedy(np.where(model.action_mask_A[None], q_A, -np.inf))
    V_H, _ = evaluate_policies(TwoStageProblem(model, R_H, R_A, gamma, gamma), policy_H, policy_A)
    learned, truth = power_samples(V_H, R_H, gamma), power_samples(exact.V_H, R_H, gamma)
    _, q_H = optimal_response(model, R_H, gamma, "H", seed_policy)
    q_H = np.where(model.action_mask_H[None], q_H, -np.inf)
    chosen = np.take_along_axis(q_H, policy_H.argmax(-1)[..., None], -1)[..., 0]
    gap = (q_H.max(-1) - chosen) * (1 - gamma) / gamma
    wrong = gap[gap > 1e-9]
    return {"greedy_optimal": round(float((gap <= 1e-9).mean()), 4), "gap_mean": float(f"{gap.mean():.3g}"),
            "wrong_gap_median": float(f"{np.median(wrong):.3g}") if wrong.size else 0.0,
            "power_H_error": round(float(np.abs(learned - truth).mean()), 4),
            "map_error": round(float(np.abs(learned.mean(0) - truth.mean(0)).mean()), 4),
            "map_pearson": round(float(np.corrcoef(learned.mean(0), truth.mean(0))[0, 1]), 3)}


def _greedy(q: np.ndarray) -> np.ndarray:
    table = np.zeros(q.shape)
    np.put_along_axis(table, q.argmax(-1)[..., None], 1.0, -1)
    return table


if __name__ == "__main__":
    main()
