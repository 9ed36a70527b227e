"""Ray backend on a two-node cluster on this machine: same files as the local backend, units per node, overhead.

1. Starts a head (``ray start --head``) and a worker node (``ray start --address``), each with its own temporary
   folder and ``--num-cpus`` CPUs, and runs ``multipower reproduce part2-fig9-10 --backend ray`` on it; checks
   every point's power.csv and sweep.json against a local run and prints how many units each node ran.
2. Times ``multipower exact`` on maze7x7 at γ = 0.99 on the local backend and on the cluster (start-up of the
   connection included) and prints the ray backend's overhead and the measured seconds per sample.
3. Stops the cluster (the ``ray start --block`` processes it started).

Usage: ``python benchmarks/bench_ray.py [--sweep-samples 2048] [--exact-samples 1000] [--num-cpus 1]``
"""

from __future__ import annotations

import argparse
import filecmp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 6390


def start_node(args: list, env: dict, log: Path) -> subprocess.Popen:
    """``ray start --block ...`` in its own process group (stopped with that group when the benchmark ends)."""
    ray = Path(sys.executable).with_name("ray")
    return subprocess.Popen([str(ray), "start", "--block", "--disable-usage-stats", *args], env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_nodes(address: str, count: int, env: dict, timeout: float = 300) -> None:
    code = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); "
            "print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run([sys.executable, "-c", code, address], env=env, capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(2)
    raise SystemExit(f"the cluster at {address} did not reach {count} nodes in {timeout:.0f} s")


def cli(command: list, env: dict) -> tuple[float, str]:
    """Runs ``multipower COMMAND``; returns its wall seconds and its stderr."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "multipower.cli", *command], cwd=ROOT, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise SystemExit(f"multipower {command[0]} failed:\n{out.stderr[-2000:]}")
    return time.perf_counter() - t0, out.stderr


def same_tree(a: Path, b: Path, pattern: str) -> int:
    files = sorted(p.relative_to(a) for p in a.glob(pattern))
    for name in files:
        if not filecmp.cmp(a / name, b / name, shallow=False):
            raise SystemExit(f"differs: {name}")
    return len(files)


def node_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if "units per node" in line), "no unit counts reported")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-samples", type=int, default=2048)
    parser.add_argument("--exact-samples", type=int, default=1000)
    parser.add_argument("--num-cpus", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    # Workers import this checkout; the nodes trust each other on this one machine (no auth token to hand round).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the cluster on SIGTERM too
    address = f"127.0.0.1:{PORT}"
    nodes = []
    t0 = time.perf_counter()
    try:
        nodes.append(start_node(["--head", f"--port={PORT}", f"--num-cpus={args.num_cpus}",
                                 f"--temp-dir={work / 'head'}", "--include-dashboard=false", "--node-ip-address=127.0.0.1"], env, work / "head.log"))
        wait_for_nodes(address, 1, env)
        nodes.append(start_node([f"--address={address}", f"--num-cpus={args.num_cpus}", "--node-ip-address=127.0.0.1",
                                 f"--temp-dir={work / 'worker'}"], env, work / "worker.log"))
        wait_for_nodes(address, 2, env)
        print(f"cluster: 2 nodes x {args.num_cpus} CPU at {address}, up in {time.perf_counter() - t0:.1f} s")

        sweep = ["reproduce", "part2-fig9-10", "--samples", str(args.sweep_samples), "--no-figures", "--quiet"]
        local_s, _ = cli([*sweep, "--out", str(work / "sweep_local")], env)
        ray_s, err = cli([*sweep, "--out", str(work / "sweep_ray"), "--backend", "ray", "--ray-address", address], env)
        n = same_tree(work / "sweep_local", work / "sweep_ray", "points/*/power.csv")
        same_tree(work / "sweep_local", work / "sweep_ray", "sweep.json")
        print(f"reproduce part2-fig9-10 at {args.sweep_samples} samples per point: {n} points, every power.csv and "
              f"sweep.json identical to the local run; local {local_s:.1f} s, ray {ray_s:.1f} s")
        print(node_line(err))

        exact = ["exact", "--layout", "maze7x7", "--gamma", "0.99", "--samples", str(args.exact_samples),
                 "--no-progress"]
        jobs = 2 * args.num_cpus
        local_e, _ = cli([*exact, "--out", str(work / "exact_local"), "--jobs", str(jobs)], env)
        ray_e, err = cli([*exact, "--out", str(work / "exact_ray"), "--backend", "ray", "--ray-address", address], env)
        same_tree(work / "exact_local", work / "exact_ray", "power.csv")
        print(f"exact maze7x7, gamma 0.99, {args.exact_samples} samples: power.csv identical; local ({jobs} threads) "
              f"{local_e:.1f} s, ray (2 nodes x {args.num_cpus} CPU) {ray_e:.1f} s; ray overhead "
              f"{100 * (ray_e / local_e - 1):+.0f} % (start-up included); {local_e * jobs / args.exact_samples:.4f} "
              f"CPU-seconds per sample; {node_line(err)}")
    finally:
        for node in reversed(nodes):  # the processes this script started, by their own process group
            try:
                os.killpg(node.pid, signal.SIGTERM)
                node.wait(timeout=180)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(node.pid, signal.SIGKILL)
    print(f"cluster stopped; files in {work}")


if __name__ == "__main__":
    main()
