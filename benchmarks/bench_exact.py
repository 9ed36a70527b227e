"""Wall time of the exact solver's full pipeline (H vs seed, A vs frozen H, both evaluations), and its ratio to a
plain numpy value iteration timed in the same run.

Run: ``python benchmarks/bench_exact.py [--quick] [--cases maze,face] [--max-gamma G]`` (``--quick``: a tenth of the
samples, times scaled up). The first solve in a process also loads the compiled kernels (numba's cache; compiles
them in a fresh checkout): a small warm-up solve pays that first, and its time is printed separately.

Each row: the solver's seconds for all samples, ms per sample, and ``×numpy``: how many times faster per sample than
``multipower.exact.reference.plain_two_stage`` (numpy gathers, no bounds or acceleration) on ``--peer-samples``
samples of the same case (default 50 on the maze, 2 on the robot face; the peer's time is per sample, so the ratio
does not depend on how many). The load average is printed before and after, and the processor: compare rows from the
same load and machine.

Targets (2-core CPU): grid3x3 γ=0.6 20,000 samples ≤ 1 s; maze7x7 γ=0.1 10,000 samples ≤ 0.3 s and γ=0.99 ≤ 4 s
each collision; robot_face20x20 γ=0.1 10,000 samples ≤ 20 s and γ=0.99 ≤ 10 min each collision.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from multipower.envs.model import joint_model
from multipower.envs.problem import TwoStageProblem
from multipower.envs.rewards import RewardSampler
from multipower.exact import solver
from multipower.exact.power import exact_power
from multipower.exact.reference import plain_two_stage
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec

#: (group, layout, gamma, collision, samples, target seconds)
CASES = [
    ("maze", "grid3x3", 0.6, "none", 20_000, 1.0),
    ("maze", "maze7x7", 0.1, "none", 10_000, 0.3),
    ("maze", "maze7x7", 0.1, "crash", 10_000, 0.3),
    ("maze", "maze7x7", 0.99, "none", 10_000, 4.0),
    ("maze", "maze7x7", 0.99, "crash", 10_000, 4.0),
    ("face", "robot_face20x20", 0.1, "none", 10_000, 20.0),
    ("face", "robot_face20x20", 0.1, "crash", 10_000, 20.0),
    ("face", "robot_face20x20", 0.99, "none", 10_000, 600.0),
    ("face", "robot_face20x20", 0.99, "crash", 10_000, 600.0),
]


def peer_ms_per_sample(layout: str, gamma: float, collision: str, n: int) -> float:
    """Milliseconds per sample of the plain numpy two-stage solve on ``n`` samples of the case."""
    model = joint_model(layout, collision)
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, n)
    start = time.perf_counter()
    plain_two_stage(TwoStageProblem(model, R_H, R_A, gamma), tol=solver.POWER_TOL * gamma / (1 - gamma))
    return (time.perf_counter() - start) * 1000 / n


def processor() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, else ``platform``): times differ between machines by
    more than between runs (docs/benchmarks.md), so each run says which one it was."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples; times scaled x10")
    parser.add_argument("--cases", default="maze,face", help="groups to run: maze, face (default both)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=None, help="chunks solved at once (default: available cores)")
    parser.add_argument("--chunk-size", type=int, default=None, help="samples per chunk (default: sized to the world)")
    parser.add_argument("--max-gamma", type=float, default=1.0, help="skip cases with a larger gamma")
    parser.add_argument("--peer-samples", type=int, default=None, help="samples of the numpy peer (default 50 / 2)")
    parser.add_argument("--torch", action="store_true", help="the batched torch code instead of the compiled kernels")
    args = parser.parse_args()
    solver.COMPILED_CPU = not args.torch
    groups = set(args.cases.split(","))
    scale = 10 if args.quick else 1
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores; {processor()}")
    t = time.perf_counter()
    exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=8),
        execution=Execution(jobs=args.jobs, device=args.device, progress=False),
    )
    print(f"warm-up (loads or compiles the kernels): {time.perf_counter() - t:.1f} s")
    print(f"{'layout':<16s}{'gamma':>6s}{'collision':>10s}{'samples':>9s}{'jobs':>5s}{'seconds':>10s}{'target':>8s}"
          f"{'ms/sample':>11s}{'×numpy':>8s}  alpha")
    for group, layout, gamma, collision, n, target in CASES:
        if group not in groups or gamma > args.max_gamma:
            continue
        t = time.perf_counter()
        r = exact_power(
            RunSpec(layout=layout, gamma_H=gamma, n_samples=n // scale, collision=collision),
            execution=Execution(jobs=args.jobs, chunk_size=args.chunk_size, device=args.device, progress=False),
        )
        seconds = (time.perf_counter() - t) * scale
        peer = peer_ms_per_sample(layout, gamma, collision, args.peer_samples or (50 if group == "maze" else 2))
        # the solver's CPU time per sample, on all its workers: wall time × workers / samples
        per_sample = seconds * 1000 * r.config["jobs"] / n
        print(f"{layout:<16s}{gamma:>6g}{collision:>10s}{n:>9d}{r.config['jobs']:>5d}{seconds:>10.2f}{target:>8g}"
              f"{seconds * 1000 / n:>11.3f}{peer / per_sample:>8.0f}  {r.stats['alpha']:.3f}", flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
