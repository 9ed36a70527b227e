"""``multipower exact``: exact POWER by dynamic programming, written as power.csv + summary.json + spec.json
(+ manifest.json), with every finished sample block in ``OUT/blocks/``: an interrupted run resumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from multipower.cli.commands import (add_backend_arguments, add_run_arguments, backend_from_args, count, out_path,
                                 report_backend, spec_from_args)
from multipower.envs.graph_mdp import BUILTIN_GRAPHS
from multipower.envs.rewards import RewardDraws
from multipower.exact.power import Interrupted, exact_power
from multipower.exact.single import single_agent_power
from multipower.runs.execution import Execution, Storage
from multipower.runs.results import alpha_text
from multipower.runs.spec import SPEC_FILE, spec_json

HELP = "exact multi-agent (or --single: single-agent, on a layout or an MDP graph) POWER by dynamic programming"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser, required=True, samples=10_000, layout_required=False)
    parser.add_argument("--out", type=out_path, required=True,
                        help="output directory (power.csv, summary.json, manifest.json, blocks/, and spec.json for a "
                             "layout or a joint graph); a rerun "
                             "into it resumes, a larger --samples extends, a smaller one reports that prefix")
    parser.add_argument("--restart", action="store_true", help="discard the finished blocks in --out and start over")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a folder holding another run (or files multipower did not write)")
    parser.add_argument("--mdp", default=None, metavar="FILE.gv",
                        help="an MDP graph in POWERplay's DOT format instead of --layout: a joint graph of two agents "
                             "(actions [ACTION_H^ACTION_A]; --seed-policy may then be a policy graph .gv), or with "
                             "--single a single-agent graph; a .gv file or a built-in graph: "
                             f"{', '.join(BUILTIN_GRAPHS)}; power.csv is labelled by state name")
    parser.add_argument("--redraw-constant", action="store_true", help="redraw constant reward functions")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--chunk-size", type=count(1), default=None,
                        help="reward samples per solver call (memory only; same results)")
    parser.add_argument(
        "--jobs", type=count(1), default=None,
        help="sample blocks solved at once in threads (default: available cores on the CPU, 1 on a GPU); same results",
    )
    parser.add_argument("--single", action="store_true",
                        help="single-agent POWER on the layout, or on a single-agent --mdp graph")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: what the process holds plus 3/4 of the memory available); limits what is "
                             "held at once, never the results; a world that cannot fit is refused up front")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.mdp is not None:
        return _run_graph(args)
    if args.layout is None:
        raise ValueError("--layout is required (or --mdp FILE.gv for an MDP graph)")
    if args.single:
        _refuse_two_agent_flags(args, "--single (one agent)")
    spec = spec_from_args(args, redraw_constant=args.redraw_constant)
    backend = backend_from_args(args)
    execution = execution_from_args(args, backend)
    storage = Storage(args.out, args.restart, args.overwrite, {SPEC_FILE: spec_json(spec)})
    try:
        if args.single:
            result = single_agent_power(spec.layout, spec.gamma_H, rewards=spec.draws(), slip=spec.slip,
                                        execution=execution, storage=storage)
        else:
            result = exact_power(spec, execution=execution, storage=storage)
    except Interrupted as stop:
        print(interrupted_message(stop, args.out), file=sys.stderr)
        return 130
    done = result.samples_done
    prefix_of = result.config.get("prefix_of")
    if prefix_of is not None:
        where = f"first {done:,} of the {prefix_of:,} samples in {args.out} (not written)"
    elif result.config.get("reused"):
        where = f"{args.out}/power.csv is already complete (nothing solved; --restart recomputes)"
    else:
        where = f"wrote {args.out}/power.csv"
    what = f"{result.n_states} cells" if args.single else f"{result.n_states} joint states"
    alpha = "" if args.single else f"; alpha = {alpha_text(result.stats)}"
    print(f"{where} ({what}, {done:,} samples){alpha}")
    report_backend(backend)
    return 0


def execution_from_args(args: argparse.Namespace, backend) -> Execution:
    """The ``Execution`` of ``exact``'s flags: ``--jobs``, ``--chunk-size``, ``--max-memory``, ``--device``, the
    backend, ``--no-progress``."""
    return Execution(jobs=args.jobs, chunk_size=args.chunk_size, max_memory=args.max_memory, device=args.device,
                     backend=backend, progress=not args.no_progress)


def interrupted_message(stop: Interrupted, out) -> str:
    """What an interrupted run left behind, and how to go on, in one or two lines."""
    result = stop.result
    if stop.saved and result is not None:
        told = (f"interrupted: saved a partial result of {result.samples_done:,} of "
                f"{int(result.config['samples_requested']):,} samples to {out}")
    elif stop.note:
        told = f"interrupted: {stop.note}"
    else:
        told = "interrupted before the first sample block finished; nothing new was saved"
    return f"{told}\nrerun the same command to resume (finished blocks in {out}/blocks are kept; --restart starts over)"


def _refuse_two_agent_flags(args: argparse.Namespace, what: str) -> None:
    """One line naming the first flag of a two-agent run given to a single-agent one."""
    for flag, value, default in (("--gamma-a", args.gamma_A, None), ("--collision", args.collision, "none"),
                                 ("--correlation", args.correlation, 0.0), ("--seed-policy", args.seed_policy, "uniform")):
        if value != default:
            raise ValueError(f"{flag} does not apply to {what}; leave it out")


def _run_graph(args: argparse.Namespace) -> int:
    """``--single --mdp FILE``: POWER at every state of an MDP graph, power.csv + summary.json + power.png."""
    from multipower.envs.graph_mdp import load_graph_mdp
    from multipower.envs.joint_graph import is_joint_graph, joint_graph_from
    from multipower.envs.rewards import make_distribution
    from multipower.envs.validation import check_gamma
    from multipower.exact.single import graph_power
    from multipower.plots.figures import save_figure
    from multipower.plots.graph import plot_graph_power

    if args.layout is not None:
        raise ValueError("give --layout or --mdp, not both")
    mdp = load_graph_mdp(args.mdp)
    if is_joint_graph(mdp):
        if args.single:
            raise ValueError(f"--single does not apply to --mdp {args.mdp}: it is a joint graph of two agents (its "
                             "actions are [ACTION_H^ACTION_A]); leave --single out")
        return _run_joint_graph(args, joint_graph_from(mdp, str(args.mdp)))
    if not args.single:
        raise ValueError(f"--mdp {args.mdp} is a single-agent graph: add --single (a joint graph names its actions "
                         "[ACTION_H^ACTION_A])")
    _refuse_two_agent_flags(args, "--mdp (a single-agent graph)")
    if args.slip != 0.0:
        raise ValueError("--slip does not apply to --mdp: a graph's transitions are its own (export-mdp --layout L "
                         "--slip P writes a layout with slip as a graph)")
    gamma = check_gamma(args.gamma, "--gamma")
    if args.samples < 1:
        raise ValueError(f"--samples must be a positive integer, got {args.samples}")
    distribution = make_distribution({"name": args.distribution, **dict(args.dist_param)})
    draws = RewardDraws(args.samples, distribution, 0.0, args.seed, args.redraw_constant)
    result, code = _solved(args, lambda: graph_power(
        mdp, gamma, rewards=draws, execution=execution_from_args(args, backend_from_args(args)),
        storage=Storage(args.out, args.restart, args.overwrite)))
    if result is None:
        return code
    out = Path(args.out)
    save_figure(plot_graph_power(result), out / "power.png")
    print(f"wrote {out}/power.csv ({result.n_states} states, {result.samples_done:,} samples), power.png")
    return 0


def _solved(args: argparse.Namespace, solve) -> tuple:
    """``(result, None)`` of ``solve()`` for a graph run; ``(None, exit code)`` once an interruption, or the prefix
    of a larger saved run (nothing written), has been reported."""
    try:
        result = solve()
    except Interrupted as stop:
        print(interrupted_message(stop, args.out), file=sys.stderr)
        return None, 130
    prefix_of = result.config.get("prefix_of")
    if prefix_of is not None:
        print(f"first {result.samples_done:,} of the {prefix_of:,} samples in {args.out} (not written)")
        return None, 0
    return result, None


def _run_joint_graph(args: argparse.Namespace, graph) -> int:
    """``--mdp JOINT.gv``: POWER_H, POWER_A, α at every joint state of a joint MDP graph, power.csv + summary.json."""
    from multipower.envs.joint_graph import load_policy_graph
    from multipower.envs.rewards import make_distribution
    from multipower.envs.validation import check_gamma
    from multipower.exact.graph_pairs import joint_graph_power

    for flag, value, default in (("--collision", args.collision, "none"), ("--slip", args.slip, 0.0)):
        if value != default:
            raise ValueError(f"{flag} does not apply to --mdp: a joint graph's transitions are its own (export-mdp "
                             "--layout L --joint writes a layout's rule and slip as a graph)")
    gamma = check_gamma(args.gamma, "--gamma")
    gamma_A = None if args.gamma_A is None else check_gamma(args.gamma_A, "--gamma-a")
    if args.samples < 1:
        raise ValueError(f"--samples must be a positive integer, got {args.samples}")
    seed_policy = args.seed_policy
    if str(seed_policy).endswith((".gv", ".dot")):
        seed_policy = load_policy_graph(seed_policy, graph)
    elif str(seed_policy).endswith(".npy"):  # an (S, nA) table over the graph's states and A's action slots
        from multipower.envs.serialization import read_npy

        seed_policy = read_npy(seed_policy, "--seed-policy")
    elif seed_policy not in ("uniform", "stay"):
        raise ValueError(f"--seed-policy: for a joint graph give uniform, stay, a policy graph (.gv) or an .npy table, "
                         f"got {seed_policy!r}")
    distribution = make_distribution({"name": args.distribution, **dict(args.dist_param)})
    draws = RewardDraws(args.samples, distribution, args.correlation, args.seed, args.redraw_constant)
    files = _graph_spec_file(args, graph, gamma, gamma_A)
    result, code = _solved(args, lambda: joint_graph_power(
        graph, gamma, gamma_A, rewards=draws, seed_policy=seed_policy,
        execution=execution_from_args(args, backend_from_args(args)),
        storage=Storage(args.out, args.restart, args.overwrite, files)))
    if result is None:
        return code
    print(f"wrote {args.out}/power.csv ({result.n_states} joint states, {result.samples_done:,} samples); "
          f"alpha = {alpha_text(result.stats)}")
    return 0


def _graph_spec_file(args: argparse.Namespace, graph, gamma: float, gamma_A) -> dict:
    """``{"spec.json": ...}`` of a joint-graph run (``RunSpec.mdp``), so that ``animate --policy optimal`` and
    ``load_spec`` read its folder as a layout run's; none for a seed table the learners' padded slots do not fit
    (an ``.npy`` over fewer slots of A than of H), whose run is then exact only."""
    from multipower.runs.spec import RunSpec, SpecError

    try:
        spec = RunSpec(mdp=graph.text, mdp_name=graph.name, gamma_H=gamma, gamma_A=gamma_A,
                       distribution={"name": args.distribution, **dict(args.dist_param)}, correlation=args.correlation,
                       seed=args.seed, n_samples=args.samples, seed_policy=args.seed_policy,
                       redraw_constant=args.redraw_constant)
    except SpecError:
        return {}
    return {SPEC_FILE: spec_json(spec)}
