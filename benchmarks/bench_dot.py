"""Reading speed of DOT graphs: multipower's reader against pydot, and its growth with the file's size.

Writes joint graphs of growing worlds (maze7x7 under crash is POWERplay's no-overlap maze: 2.5 MB, 17,768 edges),
times ``load_joint_graph`` on each, and times pydot (if installed) on the smallest. Prints one row per file.

    python benchmarks/bench_dot.py [--pydot]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from multipower.envs.joint_graph import joint_graph_text, load_joint_graph
from multipower.envs.model import joint_model

WORLDS = [("maze7x7", "crash"), ("maze7x7", "none"), ("........\n" * 8, "none"), ("..........\n" * 8, "none")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pydot", action="store_true", help="also time pydot's parser on the first file")
    args = parser.parse_args()
    print(f"machine load (1 min): {os.getloadavg()[0]:.2f}")
    print(f"{'world':>22} {'MB':>6} {'edges':>8} {'read s':>7} {'MB/s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        first = None
        for layout, rule in WORLDS:
            model = joint_model(layout.strip() if "\n" in layout else layout, rule)
            path = Path(tmp) / f"{model.layout.name}_{rule}.gv"
            path.write_text(joint_graph_text(model))
            first = first or path
            start = time.perf_counter()
            graph = load_joint_graph(path)
            seconds = time.perf_counter() - start
            size = path.stat().st_size / 1e6
            edges = int(graph.allowed.sum()) + int((graph.prob[graph.allowed] > 0).sum())
            name = f"{model.layout.name} {rule}" if "\n" not in layout else f"open {model.layout.shape} {rule}"
            print(f"{name:>22} {size:6.2f} {edges:8,d} {seconds:7.2f} {size / seconds:6.1f}")
        if args.pydot:
            import pydot

            start = time.perf_counter()
            pydot.graph_from_dot_file(str(first))
            seconds = time.perf_counter() - start
            print(f"pydot on {first.name}: {seconds:.1f} s ({first.stat().st_size / 1e6 / seconds:.2f} MB/s)")


if __name__ == "__main__":
    main()
