"""``multipower animate RUN_DIR``: a GIF of both agents' greedy rollout for one reward sample of a saved run."""

from __future__ import annotations

import argparse
from pathlib import Path

from multipower.cli.commands import out_path

#: Most steps a GIF holds (a frame takes about 0.1 s to draw).
MAX_STEPS = 1000

HELP = "animate both agents' greedy rollout (learned or exact optimal policies) for one reward sample as a GIF"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a folder written by `multipower train` (agents.npz); --policy optimal also reads any "
                             "folder with a spec.json (compare, exact)")
    parser.add_argument("--sample", type=int, required=True, metavar="K", help="reward sample, 0 .. samples - 1")
    parser.add_argument("--start", default=None, metavar="H_ROW,H_COL,A_ROW,A_COL",
                        help="cells of H and A at step 0 (default: the first joint state, H and A on the first open "
                             "cells in row-major order, A on the second under crash and bounce)")
    parser.add_argument("--policy", default="learned", choices=("learned", "optimal"),
                        help="learned: the saved policies of the sample (default); optimal: the exact two-stage "
                             "optimal policies for the sample's reward functions")
    parser.add_argument("--steps", type=int, default=20,
                        help=f"steps to roll out, 1 .. {MAX_STEPS} (default 20; a crash ends earlier)")
    parser.add_argument("--rollout-seed", type=int, default=0, metavar="N",
                        help="seed of the slip draws in a world with slip, or of the outcome draws on a stochastic "
                             "joint graph (default 0; the same seed draws the same rollout); unused otherwise")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second, 0.01 .. 100 (default 2)")
    parser.add_argument("--out", type=out_path, required=True, metavar="FILE.gif", help="the GIF to write")


def run(args: argparse.Namespace) -> int:
    from multipower.plots.animation import check_gif_path, save_rollout_gif
    from multipower.envs.problem import TwoStageProblem
    from multipower.plots.rollout import greedy_rollout, optimal_policies

    out = check_gif_path(args.out, "--out")
    if not 1 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be an integer in [1, {MAX_STEPS}], got {args.steps}")
    if not 0.01 <= args.fps <= 100:  # a GIF frame lasts 10 ms to 655 s
        raise ValueError(f"--fps must be in [0.01, 100], got {args.fps:g}")
    if args.rollout_seed < 0:
        raise ValueError(f"--rollout-seed must be a non-negative integer, got {args.rollout_seed}")
    from multipower.runs.rundir import check_not_writing

    check_not_writing(args.run_dir, "RUN_DIR")
    spec, model, agents = _load_run(Path(args.run_dir), args.policy)
    n_samples = agents.n_samples if agents is not None else spec.n_samples
    if not 0 <= args.sample < n_samples:
        raise ValueError(f"--sample must be in [0, {n_samples}) (the run has {n_samples} samples), got {args.sample}")
    start = parse_start(args.start, model)
    k = args.sample
    if agents is not None:
        R_H, R_A = agents.R_H[k], agents.R_A[k]
    else:  # sample k alone: samples are reproducible by index
        R_H, R_A = (r[0] for r in spec.sampler(model.n_states).pairs(k, k + 1))
    gamma_H, gamma_A = spec.gamma_H, spec.discount_A
    seed_policy = "uniform" if args.policy == "learned" else spec.seed_policy_value()  # the optimum's only
    problem = TwoStageProblem(model, R_H, R_A, gamma_H, gamma_A, seed_policy)
    if args.policy == "learned":
        policy_H, policy_A = agents.policy_H[k], agents.policy_A[k]
    else:
        policy_H, policy_A = optimal_policies(problem)
    rollout = greedy_rollout(problem, policy_H, policy_A, start, args.steps, seed=args.rollout_seed)
    slip = f", slip {model.slip:g} (rollout seed {args.rollout_seed})" if model.slip else ""
    world = f"{model.layout.name}, collision {spec.collision}" if spec.mdp is None else f"joint graph {spec.mdp_name}"
    title = f"{world}{slip}, sample {k}, {args.policy} policies"
    save_rollout_gif(model, rollout, out, gamma_H, gamma_A, fps=args.fps, title=title)
    crash = ", crashed" if rollout.crashed else ""
    if model.slip:
        slipped = (rollout.effective_H != rollout.actions_H).sum() + (rollout.effective_A != rollout.actions_A).sum()
        crash += f", {slipped} move{'' if slipped == 1 else 's'} slipped"
    print(f"wrote {out} ({len(rollout.states)} frames, {out.stat().st_size // 1024} KB{crash}); returns after "
          f"{rollout.n_steps} steps: G_H = {rollout.returns_H[-1]:.4f}, G_A = {rollout.returns_A[-1]:.4f}")
    return 0


def _load_run(run_dir: Path, policy: str):
    """``(spec, model, agents or None)`` of RUN_DIR; ``ValueError`` naming RUN_DIR when it cannot serve ``policy``."""
    from multipower.agents.storage import AGENTS_FILE, load_agents
    from multipower.runs.rundir import read_manifest
    from multipower.runs.spec import SPEC_FILE, load_spec

    if not run_dir.is_dir():
        raise ValueError(f"RUN_DIR {str(run_dir)!r} is not a folder")
    has_agents = (run_dir / AGENTS_FILE).is_file()
    manifest = read_manifest(run_dir)
    if manifest is not None and manifest["kind"] in ("exact_single", "exact_graph", "compare_single"):
        raise ValueError(f"RUN_DIR {str(run_dir)!r} holds a single-agent run ({manifest['kind']}); animate draws "
                         "the two agents of a joint run")
    if policy == "learned" and not has_agents:
        raise ValueError(f"RUN_DIR {str(run_dir)!r} holds no {AGENTS_FILE}: --policy learned needs a folder "
                         "written by `multipower train`")
    if not has_agents and not (run_dir / SPEC_FILE).is_file():
        raise ValueError(f"RUN_DIR {str(run_dir)!r} holds neither {AGENTS_FILE} nor {SPEC_FILE}")
    try:
        spec = load_spec(run_dir)
        agents = load_agents(run_dir) if has_agents else None
    except ValueError as error:
        raise ValueError(f"RUN_DIR: {error}") from None
    return spec, spec.model(), agents


def parse_start(text, model) -> int:
    """The joint state of ``--start H_ROW,H_COL,A_ROW,A_COL`` (``None``: joint state 0, the first in H-major
    order); ``ValueError`` naming --start for a malformed value, a wall or outside cell, or a shared cell where
    the collision rule forbids it."""
    from multipower.envs.joint_graph import JointGraph

    grid = None
    if isinstance(model, JointGraph):  # drawn on the grid of its states' cells; refused in one line without
        from multipower.plots.rollout import drawing_grid

        try:
            grid = drawing_grid(model)
        except ValueError as error:
            raise ValueError(f"RUN_DIR: {error}") from None
    if text is None:
        return 0
    try:
        h_row, h_col, a_row, a_col = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--start must be four integers H_ROW,H_COL,A_ROW,A_COL, got {text!r}") from None
    cells = []
    for agent, row, col in (("H", h_row, h_col), ("A", a_row, a_col)):
        try:
            cells.append((grid if grid is not None else model.layout).cell_index(row, col))
        except ValueError as error:
            raise ValueError(f"--start: {agent}'s {error}") from None
    if grid is not None:
        try:
            return grid.joint_state(*cells)
        except ValueError as error:
            raise ValueError(f"--start: {error}") from None
    if model.state_index[cells[0], cells[1]] < 0:
        raise ValueError(f"--start: H and A cannot share cell ({h_row}, {h_col}) under collision {model.collision!r}")
    return int(model.state_index[cells[0], cells[1]])
