"""``multipower compare``: learned POWER (Q-learning or PPO) against the exact solver on the same rewards."""

from __future__ import annotations

import argparse
import sys
import time

from multipower.cli.commands import (Flag, add_backend_arguments, add_option_argument, add_run_arguments,
                                     backend_from_args, check_writable_dir, count, given_flags, out_path,
                                     fraction, report_backend, spec_from_args)
from multipower.runs.spec import LEARNERS, SpecError, load_spec, save_spec

HELP = (
    "compare learned POWER (Q-learning or PPO rollouts) with the exact solver on the same reward functions "
    "(--single: one agent on an MDP graph or a layout)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algo", default="qlearning", choices=LEARNERS, action=Flag, help="learner (default qlearning)")
    add_run_arguments(parser)
    parser.add_argument("--agents", default=None, metavar="DIR",
                        help="reuse agents saved by `multipower train --out DIR` (world, gammas, rewards from there)")
    add_option_argument(parser)
    parser.add_argument("--jobs", type=count(1), default=None, action=Flag,
                        help="training worker processes (default: available cores; Q-learning results do not depend on it)")
    parser.add_argument("--chunk", type=count(1), default=None, action=Flag,
                        help="samples per chunk, each saved in DIR/chunks as it finishes (a rerun resumes); default "
                             "as for train")
    parser.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), action=Flag,
                        help="ppo: torch device (default auto: CUDA when present)")
    parser.add_argument("--rollouts", type=count(1), default=None,
                        help="rollouts per state for stochastic policies (default 16; deterministic: 1)")
    parser.add_argument("--tol", type=fraction, default=1e-4, help="rollout truncation tolerance in POWER (default 1e-4)")
    parser.add_argument("--rollout-seed", type=count(0), default=0, help="seeds the rollouts' action sampling")
    parser.add_argument("--tensorboard", default=None, metavar="DIR", help="log running estimates to TensorBoard")
    parser.add_argument("--no-figure", action="store_true", help="skip comparison.png")
    parser.add_argument("--out", type=out_path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--restart", action="store_true", help="discard the finished training chunks in --out")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a folder holding another run (or files multipower did not write)")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="memory budget, e.g. 8G or 512M (default: what the process holds plus 3/4 of the memory available); refused up front if exceeded")
    parser.add_argument("--single", action="store_true",
                        help="one agent: Q-learning on an MDP graph (--mdp) or a --layout, the learned greedy policies' "
                             "POWER evaluated on the model against the exact optimum (options n_steps, walkers, "
                             "episode_length)")
    parser.add_argument("--mdp", default=None, metavar="FILE.gv",
                        help="an MDP graph in POWERplay's DOT format instead of --layout (a .gv file or a built-in "
                             "name): a joint graph for the two agents (--algo qlearning or ppo; joint_grid2x2_crash), "
                             "or with --single a single-agent graph (figure1, three_states)")
    add_backend_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from multipower.runs import rundir
    from multipower.learned.compare import compare
    from multipower.learned.estimator import Rollouts
    from multipower.learned.training import accuracy_warning, sigterm_as_interrupt
    from multipower.runs.execution import Execution

    if args.single:
        if args.backend != "local":
            raise ValueError("--backend ray applies to two-agent runs; --single runs on this machine")
        return _run_single(args)
    t0 = time.perf_counter()
    if args.agents is not None and not str(args.agents).strip():
        raise ValueError("--agents must name a folder saved by multipower train, got ''")
    if args.agents and args.mdp is not None:
        raise SpecError(f"--agents {args.agents} fixes the world of the run; drop --mdp")
    if args.agents and given_flags(args):
        raise SpecError(f"--agents {args.agents} fixes the world, discounts, rewards and learner of the run; "
                        f"drop {', '.join(given_flags(args))}")
    if args.agents:
        from multipower.runs.rundir import check_not_writing

        check_not_writing(args.agents, "--agents")
    spec = load_spec(args.agents) if args.agents else spec_from_args(args, learner=args.algo)
    backend = backend_from_args(args)
    _check_run_flags(args, spec.learner)
    if not args.agents:  # before anything is built: a world too big for the budget is refused in a second
        from multipower.agents.qlearning_config import check_memory
        from multipower.envs.memory import joint_state_count
        from multipower.envs.problem import seed_table
        from multipower.learned.compare import exact_memory
        from multipower.learned.training import check_learner_memory, check_learner_world, learner_settings

        # The exact solver and the figure's libraries are part of what the process holds: load them first.
        from multipower.exact import _vikernel, solver  # noqa: F401
        if not args.no_figure:
            from multipower.plots import compare as _figures  # noqa: F401

        graph = spec.model() if spec.mdp is not None else None  # parsed and checked already by the spec
        n_states = graph.n_states if graph is not None else joint_state_count(spec.layout, spec.collision)
        check_memory(graph if graph is not None else spec.layout, spec.collision, spec.n_samples, args.max_memory,
                     what=f"compare ({spec.learner})", learner=spec.learner, extra=exact_memory(n_states, spec.n_samples))
        model = spec.model()
        settings = learner_settings(spec.learner, spec.learner_options, spec.gamma_H, spec.discount_A,
                                    seed_table(model, spec.seed_policy_value()), model)
        check_learner_world(spec.learner, settings, model)
        check_learner_memory(spec.learner, settings, model, spec.gamma_H, spec.discount_A, spec.n_samples,
                             args.max_memory, args.chunk)
        if spec.learner == "ppo":  # a device this machine lacks is refused before the folder is made, as train does
            from multipower.agents.ppo import resolve_device

            try:
                resolve_device(args.device or "auto")
            except ValueError as error:
                raise SpecError(str(error)) from None
    else:
        settings = None
    agents = None
    if args.agents:  # read and checked before --out is made: a bad agents file leaves no folder behind
        from multipower.learned.compare import load_saved_agents

        agents = load_saved_agents(args.agents, "--agents")
    check_writable_dir(args.tensorboard, "--tensorboard")
    rundir.check_out(args.out, "compare", overwrite=args.overwrite)  # marks the folder as a compare run's
    with sigterm_as_interrupt():
        store, bar = _training_store(args, spec, settings) if not args.agents else (None, None)
        try:
            # --max-memory was checked above, before anything was built; checking again now would count what
            # this process has loaded since twice
            execution = Execution(jobs=args.jobs, chunk_size=args.chunk, device=args.device, backend=backend,
                                  progress=bar.update if bar is not None else False)
            comparison = compare(
                None if agents is not None else spec, agents=agents,
                rollouts=Rollouts(n_rollouts=args.rollouts, tol=args.tol, seed=args.rollout_seed),
                tensorboard=args.tensorboard, execution=execution, store=store,
            )
        except KeyboardInterrupt:
            if store is None:
                raise
            print(f"interrupted: {store.done(spec.n_samples)} of {spec.n_samples} samples' agents are saved in "
                  f"{store.path}; rerun the same command to resume", file=sys.stderr)
            return 130
        finally:
            if bar is not None:
                bar.close()
    rundir.begin(args.out, "compare", spec.to_dict(), spec.n_samples, 0)  # a killed save leaves it this run's
    out = comparison.save(args.out, figure=not args.no_figure)
    save_spec(spec, out)
    files = ["comparison.json", "power.csv", "summary.json", "spec.json"] + ([] if args.no_figure else ["comparison.png"])
    rundir.write_manifest(out, "compare", spec.to_dict(), [f for f in files if (out / f).exists()],
                          spec.n_samples, comparison.config["n_samples"])
    m = comparison.metrics
    for agent in "HA":
        print(
            f"POWER_{agent}: max |learned-exact| {m[f'max_abs_error_{agent}']:.4f}, mean {m[f'mean_abs_error_{agent}']:.4f}, "
            f"Pearson {m[f'pearson_{agent}']:.3f} (learning error max {m[f'max_abs_learning_error_{agent}']:.4f}, "
            f"rollout noise max {m[f'max_abs_rollout_noise_{agent}']:.4f})"
        )
    print(f"alpha learned {m['alpha_learned']:.3f}, exact {m['alpha_exact']:.3f}")
    print(f"policy gap (POWER the learned policies lose): H {m['policy_gap_H']:.2e} mean, {m['policy_gap_H_max']:.2e} "
          f"max; A {m['policy_gap_A']:.2e} mean, {m['policy_gap_A_max']:.2e} max")
    if (warning := accuracy_warning(comparison.config.get("algo", spec.learner), m)) is not None:
        print(warning, file=sys.stderr)
    print(f"wrote {out}/comparison.json, power.csv{'' if args.no_figure else ', comparison.png'} "
          f"in {time.perf_counter() - t0:.1f} s")
    report_backend(backend)
    return 0


def _training_store(args: argparse.Namespace, spec, settings):
    """The chunk store of the training in ``--out`` (finished chunks reused) and a progress bar, for the learner
    ``settings`` (``multipower.learned.training.learner_settings``)."""
    from tqdm import tqdm

    from multipower.runs.chunkstore import ChunkStore
    from multipower.learned.training import chunk_key, progress_total

    store = ChunkStore(args.out, chunk_key(spec, settings), restart=args.restart)
    done = store.done(spec.n_samples)
    if done:
        print(f"resuming: {done} of {spec.n_samples} samples already trained in {store.path}", file=sys.stderr)
    total, unit = progress_total(spec.learner, spec.n_samples - done, settings, spec.gamma_H,
                                 spec.discount_A)
    return store, tqdm(total=total, unit=unit, desc=f"train {spec.learner}")


def _check_run_flags(args: argparse.Namespace, learner: str) -> None:
    """``--device`` exists for ``ppo`` only (``--jobs``, ``--chunk`` and ``--device`` become the ``Execution``)."""
    if learner != "ppo" and args.device is not None:
        raise SpecError(f"--device applies to --algo ppo only, not {learner}")


#: Flags of two-agent runs (or of their learners and rollouts) that ``--single`` refuses, with their defaults.
_NOT_SINGLE = {"--gamma-a": ("gamma_A", None), "--collision": ("collision", "none"),
               "--correlation": ("correlation", 0.0), "--seed-policy": ("seed_policy", "uniform"),
               "--agents": ("agents", None), "--jobs": ("jobs", None), "--chunk": ("chunk", None),
               "--device": ("device", None), "--rollouts": ("rollouts", None), "--tol": ("tol", 1e-4),
               "--rollout-seed": ("rollout_seed", 0), "--tensorboard": ("tensorboard", None),
               "--max-memory": ("max_memory", None), "--restart": ("restart", False)}


def _run_single(args: argparse.Namespace) -> int:
    """``--single``: Q-learning's greedy policies on one agent's MDP, evaluated on the model, against exact."""
    from multipower.envs.graph_mdp import load_graph_mdp
    from multipower.envs.joint_graph import is_joint_graph
    from multipower.envs.rewards import RewardDraws, make_distribution
    from multipower.envs.validation import check_gamma
    from multipower.learned.single import KIND, check_options, plan_single
    from multipower.runs.rundir import check_out

    t0 = time.perf_counter()
    given = given_flags(args)
    layout_given = "--layout" in given
    if layout_given == (args.mdp is not None):
        raise SpecError("--single needs one world: --mdp FILE.gv or --layout L" if not layout_given
                        else "give --layout or --mdp, not both")
    for flag, (name, default) in _NOT_SINGLE.items():
        if getattr(args, name) != default or flag in given or (flag == "--gamma-a" and "--gamma-A" in given):
            raise SpecError(f"{flag} does not apply to compare --single (one agent, Q-learning, exact evaluation); "
                            f"leave it out")
    if args.algo != "qlearning":
        raise SpecError(f"--algo {args.algo}: compare --single learns by tabular Q-learning only (--algo qlearning)")
    gamma = check_gamma(args.gamma, "--gamma")
    options = check_options(dict(args.options), key="--option")
    distribution = make_distribution({"name": args.distribution, **dict(args.dist_param)})
    world = dict(mdp=load_graph_mdp(args.mdp)) if args.mdp is not None else dict(layout=args.layout)
    if args.mdp is not None and is_joint_graph(world["mdp"]):
        raise SpecError(f"--single does not apply to --mdp {args.mdp}: it is a joint graph of two agents (drop "
                        "--single: compare then trains both agents on it)")
    draws = RewardDraws(args.samples, distribution, 0.0, args.seed)
    plan = plan_single(gamma=gamma, rewards=draws, options=options, slip=args.slip,
                       **world)  # with --mdp, --slip is refused here
    # a folder holding another configuration's comparison needs --overwrite
    check_out(args.out, KIND, plan.config, overwrite=args.overwrite, create=False)
    comparison = plan.run()
    out = comparison.save(check_out(args.out, KIND, plan.config, overwrite=args.overwrite), figure=not args.no_figure)
    m = comparison.metrics
    print(f"POWER: max |learned-exact| {m['max_abs_error']:.4f}, mean {m['mean_abs_error']:.4f}, "
          f"Pearson {m['pearson']:.3f}; learned policy optimal on {int(comparison.optimal.sum())} of "
          f"{m['samples']} samples")
    print(f"wrote {out}/comparison.json, power.csv{'' if args.no_figure else ', comparison.png'} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
