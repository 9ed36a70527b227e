"""``multipower export-mdp``: write a layout's single-agent MDP, or with ``--joint`` its two-agent MDP (and A's seed
policy), as DOT graphs in POWERplay's format."""

from __future__ import annotations

import argparse
from pathlib import Path

from multipower.cli.commands import out_path

HELP = ("write a layout (one agent, or with --joint both agents under --collision) as an MDP graph in POWERplay's DOT "
        "format")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layout", required=True, help="built-in layout name, layout file or text")
    parser.add_argument("--slip", type=float, default=0.0,
                        help="slip probability in [0, 1] (default 0: deterministic form; above 0: stochastic form)")
    parser.add_argument("--joint", action="store_true",
                        help="the joint MDP of H and A (states [(r, c)_H^(r, c)_A] in the layout model's order; "
                             "joint actions a collision rule forbids for certain are left out)")
    parser.add_argument("--collision", default="none", choices=("none", "crash", "bounce"),
                        help="with --joint: the collision rule (default none)")
    parser.add_argument("--seed-policy", default=None,
                        help="with --joint and --policy-out: A's seed policy (uniform, stay or a .npy table)")
    parser.add_argument("--policy-out", type=out_path, default=None, metavar="FILE.gv",
                        help="with --joint: also write A's seed policy as a policy graph")
    parser.add_argument("--out", type=out_path, required=True, metavar="FILE.gv", help="the graph file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out (and --policy-out) if they exist")


def run(args: argparse.Namespace) -> int:
    from multipower.envs.graph_mdp import layout_to_dot
    from multipower.envs.layouts import load_layout
    from multipower.envs.slip import check_slip

    slip = check_slip(args.slip, "--slip")
    grid = load_layout(args.layout)
    if not args.joint:
        from multipower.runs.rundir import check_output_file

        check_output_file(args.out, "--out", args.overwrite)
        for flag, value, default in (("--collision", args.collision, "none"), ("--seed-policy", args.seed_policy, None),
                                     ("--policy-out", args.policy_out, None)):
            if value != default:
                raise ValueError(f"{flag} applies to --joint only (the two-agent graph)")
        _write(args.out, "--out", layout_to_dot(grid, slip), grid.name, args.overwrite)
        form = "stochastic" if slip > 0 else "deterministic"
        print(f"wrote {args.out} ({grid.n_cells} states, {form} form)")
        return 0
    return _run_joint(args, grid, slip)


def _run_joint(args: argparse.Namespace, grid, slip: float) -> int:
    from multipower.envs.joint_graph import joint_graph_text, policy_graph_text
    from multipower.envs.model import joint_model
    from multipower.envs.policies import seed_policy_table
    from multipower.envs.serialization import read_npy

    if args.seed_policy is not None and args.policy_out is None:
        raise ValueError("--seed-policy needs --policy-out FILE.gv (where to write A's seed policy)")
    if args.policy_out is not None and Path(args.policy_out).resolve() == Path(args.out).resolve():
        raise ValueError("--policy-out must differ from --out (the graph and the policy are two files)")
    from multipower.runs.rundir import check_output_file

    for path, flag in ((args.out, "--out"), (args.policy_out, "--policy-out")):  # before any work
        if path is not None:
            check_output_file(path, flag, args.overwrite)
    model = joint_model(grid, args.collision, slip)
    text = joint_graph_text(model)  # refuses crash with slip before anything is written
    policy = None
    if args.policy_out is not None:
        value = args.seed_policy or "uniform"
        if value.endswith(".npy"):
            value = read_npy(value, "--seed-policy")
        policy = policy_graph_text(model, seed_policy_table(model, value))
    _write(args.out, "--out", text, grid.name, args.overwrite)
    print(f"wrote {args.out} ({model.n_states} joint states, collision {model.collision}, slip {slip:g})")
    if policy is not None:
        _write(args.policy_out, "--policy-out", policy, grid.name, args.overwrite)
        print(f"wrote {args.policy_out} (A's seed policy {args.seed_policy or 'uniform'})")
    return 0


def _write(path, flag: str, text: str, name: str, overwrite: bool) -> None:
    from multipower.runs.rundir import atomic_write, check_output_file

    out = check_output_file(path, flag, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # like the other commands' --out folders
        atomic_write(out, text)
    except OSError as error:
        raise ValueError(f"{flag}: cannot write {out} ({error.strerror or error})") from None
