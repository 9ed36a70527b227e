"""Wall time of the exact solver's full pipeline (H vs seed, A vs frozen H, both evaluations).

Run: ``python benchmarks/bench_exact.py [--quick]`` (``--quick``: a tenth of the samples, times scaled up).
The first solve in a process also loads the compiled kernels (numba's cache; compiles them in a fresh
checkout): a small warm-up solve pays that first, and its time is printed separately.
Targets (2-core CPU): grid3x3 γ=0.6 20,000 samples ≤ 1 s; maze7x7 γ=0.1 10,000 samples ≤ 3 s each
collision; maze7x7 γ=0.99 10,000 samples ≤ 60 s each collision.
"""

from __future__ import annotations

import argparse
import time

from multipower.exact import solver
from multipower.exact.power import exact_power

CASES = [
    ("grid3x3", 0.6, "none", 20_000, 1.0),
    ("maze7x7", 0.1, "none", 10_000, 3.0),
    ("maze7x7", 0.1, "crash", 10_000, 3.0),
    ("maze7x7", 0.99, "none", 10_000, 60.0),
    ("maze7x7", 0.99, "crash", 10_000, 60.0),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples; times scaled x10")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=None, help="chunks solved at once (default: available cores)")
    parser.add_argument("--chunk-size", type=int, default=None, help="samples per chunk (default: sized to the world)")
    parser.add_argument("--max-gamma", type=float, default=1.0, help="skip cases with a larger gamma")
    parser.add_argument("--torch", action="store_true", help="the batched torch code instead of the compiled kernels")
    args = parser.parse_args()
    solver.COMPILED_CPU = not args.torch
    scale = 10 if args.quick else 1
    t = time.perf_counter()
    exact_power("grid3x3", 0.6, n_samples=8, device=args.device, progress=False, jobs=args.jobs)
    print(f"warm-up (loads or compiles the kernels): {time.perf_counter() - t:.1f} s")
    print(f"{'layout':<10s}{'gamma':>6s}{'collision':>10s}{'samples':>9s}{'chunk':>7s}{'jobs':>5s}"
          f"{'seconds':>10s}{'target':>8s}  alpha")
    for layout, gamma, collision, n, target in CASES:
        if gamma > args.max_gamma:
            continue
        t = time.perf_counter()
        r = exact_power(layout, gamma, n_samples=n // scale, collision=collision, device=args.device, progress=False,
                        jobs=args.jobs, chunk_size=args.chunk_size)
        seconds = (time.perf_counter() - t) * scale
        print(f"{layout:<10s}{gamma:>6g}{collision:>10s}{n:>9d}{r.config['chunk_size']:>7d}{r.config['jobs']:>5d}"
              f"{seconds:>10.2f}{target:>8.0f}  {r.stats['alpha']:.3f}", flush=True)


if __name__ == "__main__":
    main()
