"""``multipower export-mdp``: write a layout's single-agent MDP as a DOT graph in POWERplay's format."""

from __future__ import annotations

import argparse

from multipower.cli.commands import out_path

HELP = "write a layout (one agent, optional --slip) as an MDP graph in POWERplay's DOT format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, help="built-in layout name, layout file or text")
    parser.add_argument("--slip", type=float, default=0.0,
                        help="slip probability in [0, 1] (default 0: deterministic form; above 0: stochastic form)")
    parser.add_argument("--out", type=out_path, required=True, metavar="FILE.gv", help="the graph file to write")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from multipower.envs.graph_mdp import layout_to_dot
    from multipower.envs.layouts import load_layout
    from multipower.envs.slip import check_slip
    from multipower.runs.rundir import atomic_write

    slip = check_slip(args.slip, "--slip")
    grid = load_layout(args.layout)
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out: {out} is a folder; give a file name such as {out / (grid.name + '.gv')}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # like the other commands' --out folders
    except OSError as error:
        raise ValueError(f"--out: cannot make folder {out.parent} ({error.strerror or error})") from None
    try:
        atomic_write(out, layout_to_dot(grid, slip))
    except OSError as error:
        raise ValueError(f"--out: cannot write {out} ({error.strerror or error})") from None
    form = "stochastic" if slip > 0 else "deterministic"
    print(f"wrote {out} ({grid.n_cells} states, {form} form)")
    return 0
