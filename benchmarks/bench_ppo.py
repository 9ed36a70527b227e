"""Throughput of the batched PPO trainer, and its speed-up over one SB3 MaskablePPO model per sample.

Trains H against the uniform seed policy for ``--samples`` reward samples at once and prints environment
steps per second, updates per second and seconds per reward sample. With ``--sb3 N`` it also trains ``N``
samples with ``multipower.agents.sb3_ppo`` at the same :class:`multipower.agents.ppo.PPOConfig` values (in this process, one after
another, like one worker of ``--algo sb3-ppo``) and prints the ratio of seconds per sample. From γ = 0.99 the batched
trainer learns with its joint-action critic, which SB3 lacks: add ``--set joint_critic=False`` to compare like
with like there.

    python benchmarks/bench_ppo.py --layout maze7x7 --gamma 0.1 --samples 64
    python benchmarks/bench_ppo.py --layout grid3x3 --gamma 0.6 --samples 32 --sb3 2 --set net_arch=[64,64]
    python benchmarks/bench_ppo.py --device cuda --layout maze7x7 --gamma 0.1 --samples 1000 --chunk 1000

Accuracy is measured by ``multipower train --algo ppo`` then ``multipower compare --agents DIR``
(docs/benchmarks.md#ppo gives both, with their commands).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import numpy as np  # noqa: E402
from multipower.envs.problem import StageProblem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layout", default="maze7x7")
    parser.add_argument("--collision", default="none")
    parser.add_argument("--gamma", type=float, default=0.1)
    parser.add_argument("--samples", type=int, default=32, help="reward samples trained at once")
    parser.add_argument("--chunk", type=int, default=None, help="samples per batch (default: all)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--sb3", type=int, default=0, metavar="N", help="also time N samples with SB3 MaskablePPO")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="PPOConfig override")
    args = parser.parse_args()

    import torch

    from multipower.agents.ppo import PPOConfig, resolve_device, sample_keys, train_agents
    from multipower.envs.model import joint_model
    from multipower.envs.policies import uniform_policy
    from multipower.envs.rewards import RewardSampler

    torch.set_num_threads(args.threads)
    overrides = {key: ast.literal_eval(value) for key, value in (item.split("=", 1) for item in args.set)}
    config = PPOConfig(**overrides).for_gamma(args.gamma)  # the defaults an agent of this discount gets
    device = resolve_device(args.device)
    model = joint_model(args.layout, args.collision)
    R_H, _ = RewardSampler(model.n_states, None, 0.0, 0).pairs(0, args.samples)
    seed_policy = uniform_policy(model.action_mask_A)
    chunk = args.chunk or args.samples
    print(f"{args.layout} ({model.n_states} joint states), collision {args.collision}, gamma {args.gamma}, "
          f"{args.samples} samples in chunks of {chunk}, device {device}, {args.threads} thread(s)")
    print(f"config: {config.to_dict()}")
    start = time.perf_counter()
    for a in range(0, args.samples, chunk):
        b = min(args.samples, a + chunk)
        train_agents(
            StageProblem(model, R_H[a:b], args.gamma, "H", seed_policy),
            sample_keys(0, range(a, b), "H"),
            config,
            device,
        )
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    steps = args.samples * config.n_updates * config.rollout_size
    print(f"batched PPO: {seconds:.1f} s, {steps / seconds:,.0f} env steps/s, "
          f"{config.n_updates * -(-args.samples // chunk) / seconds:.2f} updates/s, "
          f"{seconds / args.samples:.3f} s per agent per reward sample")
    if args.sb3:
        _sb3(args, model, R_H, config, seconds / args.samples)


def _sb3(args, model, R_H, config, batched_per_sample: float) -> None:
    """SB3 at the same hyperparameters, one model per sample."""
    from multipower.agents.sb3_ppo import SB3PPOConfig, train_sb3_ppo

    import torch

    torch.set_num_threads(args.threads)
    fields = SB3PPOConfig.__dataclass_fields__
    sb3_config = SB3PPOConfig(**{k: v for k, v in config.to_dict().items() if k in fields})
    start = time.perf_counter()
    for k in range(args.sb3):
        train_sb3_ppo(StageProblem(model, R_H[k], args.gamma, "H"), sb3_config, seed=k)
    per_sample = (time.perf_counter() - start) / args.sb3
    print(f"SB3 MaskablePPO, same config: {per_sample:.2f} s per agent per reward sample "
          f"({args.sb3} samples); batched is {per_sample / batched_per_sample:.1f}x faster per sample")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
