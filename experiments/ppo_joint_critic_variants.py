"""Why PPO's joint critic is built as it is: H alone at γ = 0.99 with one of its three choices changed.

``multipower.agents.ppo.JointCritic`` makes three choices (docs/learning.md#ppo-joint-critic):

* ``--target greedy`` (its own): a transition's target is ``R(s') + γ max_a' Q̄(s', a')``; ``policy``: the value
  of the rollout's policy, ``R(s') + γ Σ_a' π(a'|s') Q̄(s', a')`` (expected SARSA, an on-policy critic);
* ``--advantage other`` (its own): ``Q(s, a, o) − Σ_a' π(a'|s) Q(s, a', o)`` given the other's move ``o``;
  ``mean``: ``Q̄(s, a) − Σ_a' π(a'|s) Q̄(s, a')``, the other's move averaged out;
* ``--start level`` (its own): the table starts at the first rollout's mean reward times ``1/(1 − γ)``;
  ``zero``: at 0.

The script trains H against the uniform seed with the PPO defaults at γ = 0.99 (the joint critic on) and the
variant asked for, then judges H as ``experiments/learned_h_far.py`` does (A's exact best response, both
evaluated exactly), and prints its JSON line with the variant added::

    python experiments/ppo_joint_critic_variants.py --samples 8 --target policy --set ent_coef=0.3

``--set NAME=VALUE`` overrides a ``PPOConfig`` field.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

from learned_h_far import _judge  # noqa: E402

from multipower.cli.commands import key_value  # noqa: E402
from multipower.envs.problem import StageProblem  # noqa: E402


def variant_critic(target: str, advantage: str, start: str):
    """A ``JointCritic`` subclass with the three choices as given."""
    from multipower.agents import ppo

    class Variant(ppo.JointCritic):
        log_probs = None  # the rollout's policy, recorded by the patched ``_policy_tables``

        def state_values(self):
            if target == "greedy" or self.log_probs is None:
                return super().state_values()
            return (self.log_probs.exp() * self.joint_values()).sum(dim=-1)

        def fit(self, rollout, gamma, sweeps):
            if start == "zero":
                self.started = True  # skip the level start: the table stays at 0 until fitted
            super().fit(rollout, gamma, sweeps)

        def advantages(self, rollout, log_probs):
            if advantage == "other":
                return super().advantages(rollout, log_probs)
            q_bar = self.joint_values()
            table = q_bar - (log_probs.exp() * q_bar).sum(dim=-1, keepdim=True)  # (K, S, n)
            T, K, E = rollout.states.shape
            index = rollout.states.permute(1, 0, 2).reshape(K, -1) * q_bar.shape[-1]
            index = index + rollout.actions.permute(1, 0, 2).reshape(K, -1)
            return table.reshape(K, -1).gather(1, index).reshape(K, T, E).permute(1, 0, 2)

    return Variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layout", default="maze7x7")
    parser.add_argument("--collision", default="crash")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--target", choices=("greedy", "policy"), default="greedy")
    parser.add_argument("--advantage", choices=("other", "mean"), default="other")
    parser.add_argument("--start", choices=("level", "zero"), default="level")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", type=key_value("--set"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()

    import torch

    from multipower.agents import ppo
    from multipower.envs.model import joint_model
    from multipower.envs.policies import uniform_policy
    from multipower.envs.rewards import RewardSampler

    torch.set_num_threads(args.threads)
    gamma = 0.99
    ppo.JointCritic = variant_critic(args.target, args.advantage, args.start)
    tables = ppo._policy_tables

    def recording(nets, batch):
        log_probs, values = tables(nets, batch)
        if nets.critic is not None:
            nets.critic.log_probs = log_probs
        return log_probs, values

    ppo._policy_tables = recording
    model = joint_model(args.layout, args.collision)
    R_H, R_A = RewardSampler(model.n_states, seed=args.seed).pairs(0, args.samples)
    seed_policy = uniform_policy(model.action_mask_A)
    config = ppo.PPOConfig(**dict(args.set))
    if not config.for_gamma(gamma, model.deterministic).joint_critic:
        parser.error("the joint critic is off with these settings: nothing to vary")
    start = time.perf_counter()
    keys = ppo.sample_keys(args.seed, range(args.samples), "H")
    nets = ppo.train_agents(StageProblem(model, R_H, gamma, "H", seed_policy), keys, config, "cpu")
    policy_H = ppo.greedy_tables(nets, model, "H", config.observation)
    seconds = time.perf_counter() - start
    variant = {"target": args.target, "advantage": args.advantage, "start": args.start}
    result = {"variant": variant, "set": dict(args.set), "samples": args.samples, "seconds": round(seconds, 1),
              **_judge(model, R_H, R_A, gamma, seed_policy, policy_H)}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
