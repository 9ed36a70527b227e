"""Reproductions and sweeps: run one experiment config, save its data and figures, compare with the posts.

A **config** (YAML, shipped in ``multipower/configs/NAME.yaml``) describes one published figure set or one
experiment beyond the posts:

.. code-block:: yaml

    name: part3-fig2-4            # must equal the file name
    title: "Part 3, Figs 2-4: ..."  # one line
    source: "Part 3 §3.1, Figs 2, 3, 4"
    description: "..."            # free text, e.g. how a published state was read off the post
    kind: joint                   # joint | single | sweep
    layout: maze7x7               # built-in name or layout file
    gamma: 0.1                    # γ_H (and γ_A unless gamma_A is given)
    gamma_A: null
    n_samples: 10000              # reward samples (the published count)
    collision: none               # none | crash | bounce            (joint, sweep)
    slip: 0.0                     # slip probability in [0, 1] (docs/concepts.md#slip)
    correlation: 0.0              # β in [-1, 1]                      (joint, sweep)
    distribution: uniform         # name or {name: pareto, alpha: 2.0, ...}
    seed_policy: uniform          # uniform | stay                    (joint, sweep)
    seed: 0
    sweep:                        # kind sweep only
      parameter: correlation      # correlation | gamma | seed
      values: {start: 0.0, stop: 1.0, step: 0.05}   # or an explicit list
    analysis:                     # optional, kind sweep: A's POWER with H in these cells
      corridor: [[0, 4], [0, 5], [0, 6]]
    published:                    # the published numbers this config reproduces
      - {quantity: alpha, value: -0.54, tolerance: 0.1}
      - {quantity: power_H, state: {H: [0, 3], A: [0, 2]}, value: 0.680, label: s1}
      - {quantity: alpha, compare: "<", value: 0}
      - {quantity: power_H, extreme: max, expect: {H: [[1, 1]], A: [[0, 0], [2, 2]]}}
      - {quantity: power, cells: junctions, value: 0.800}          # single: mean over a class of cells
      - {quantity: alpha, at: 1.0, value: 1.0, tolerance: 1.0e-6}  # sweep: at one swept value

Published entries: ``quantity`` is ``alpha`` or a result column (``power_H``, ``power_A``, ``power``).
A value entry agrees when it is within ``tolerance`` (for α) or within 3 standard errors (per-state POWER).
``compare`` (``<``, ``>``) checks a sign; ``extreme`` (``max``/``min``, with optional ``top: k``) checks
where the k largest/smallest values lie; ``cells`` (``dead_ends``, ``corridors``, ``junctions`` or a list)
averages a single-agent column over cells.

``run_experiment`` writes ``OUT/config.yaml`` (resolved), ``OUT/exact/`` (a saved
``PowerResult``), or for a sweep ``OUT/points/<parameter>=<value>/`` (one per
point, saved as it finishes; a rerun skips points already done), ``OUT/figures/*.png``, and
``OUT/report.json`` + ``OUT/report.md`` (published next to reproduced, with runtimes).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from multipower.envs.rewards import RewardDraws
from multipower.envs.validation import check_count, check_device
from multipower.runs.configs import dump_config, load_config, parameter_symbol, validate_config
from multipower.learned import compare
from multipower.exact import power as exact
from multipower.exact.single import single_agent_power
from multipower.repro.checks import Check, _state_mask, evaluate_entry
from multipower.runs import rundir
from multipower.runs.backends import remote
from multipower.runs.execution import Execution, Storage
from multipower.runs.results import PowerResult, jsonable, pearson, zero_crossing
from multipower.runs.spec import LEARNERS, SPEC_FILE, RunSpec, save_spec, spec_json

#: Keys of a run's parameters that must match for a saved result to be reused.
RUN_KEYS = ("layout", "gamma", "gamma_A", "n_samples", "collision", "slip", "correlation", "distribution", "seed_policy", "seed")

PathLike = Union[str, Path]
#: ``solver(run, progress) -> PowerResult``: ``run`` is a dict of RUN_KEYS plus ``kind`` ("joint"/"single").
Solver = Callable[[dict, bool], PowerResult]


# --------------------------------------------------------------------------------------------- solving
def run_parameters(config: Mapping, **changes) -> dict:
    """The parameters of one solver run (``RUN_KEYS`` plus ``kind``) from a config, with ``changes``."""
    run = {key: config.get(key) for key in RUN_KEYS}
    run["slip"] = run["slip"] or 0.0  # configs written before slip existed
    run["kind"] = "single" if config["kind"] == "single" else "joint"
    run["redraw_constant"] = bool(config.get("redraw_constant", False))
    run.update(changes)
    return run


def exact_solver(run: Mapping, progress: bool = True, out_dir: Optional[PathLike] = None, restart: bool = False,
                 files: Optional[Mapping[str, str]] = None, backend=None) -> PowerResult:
    """Solve one run with ``multipower.exact.power`` (the default solver); with ``out_dir``, resuming from and saving
    to that folder (see ``multipower.exact.power.exact_power``; a folder of another run there is replaced)."""
    execution = Execution(device=run.get("device", "cpu"), backend=backend, progress=progress)
    storage = None if out_dir is None else Storage(out_dir, restart, overwrite=True, files=files)
    if run["kind"] == "single":
        draws = RewardDraws(run["n_samples"], run["distribution"], 0.0, run["seed"])
        return single_agent_power(run["layout"], run["gamma"], rewards=draws, slip=run.get("slip") or 0.0,
                                  execution=execution, storage=storage)
    return exact.exact_power(run_spec(run), execution=execution, storage=storage)


def solve_cached(run: Mapping, directory: PathLike, solver: Optional[Solver] = None, progress: bool = True,
                 restart: bool = False, backend=None) -> tuple:
    """The result of ``run`` in ``directory``: reused when it is saved there, finished and intact
    (``multipower.runs.rundir.verify``), else solved (the default solver resumes from the sample blocks saved
    there) and saved. A saved result that cannot be reused is named with the reason, in one line on stderr.

    Returns ``(result, computed)``; ``computed`` is False when the saved result was reused. ``backend``: where
    the default solver's sample blocks run (see ``multipower.exact.power.exact_power``).

    Raises:
        multipower.exact.power.Interrupted: on Ctrl-C, after the finished work is saved (marked partial).
    """
    directory = Path(directory)
    files = {SPEC_FILE: spec_json(run_spec(run))}
    if solver is None:
        result = exact_solver(dict(run), progress, directory, restart, files, backend)
        return result, not result.config.get("reused", False)
    kind, key = ("exact_single" if run["kind"] == "single" else "exact"), {k: v for k, v in run.items() if k != "n_samples"}
    manifest, why = rundir.verify(directory, kind, key)
    if not restart and manifest is not None and manifest["complete"] and manifest["samples_done"] == run["n_samples"]:
        return PowerResult.load(directory), False
    if not restart and (directory / "power.csv").exists():
        print(f"{directory}: recomputing ({why or 'another number of samples'})", file=sys.stderr)
    rundir.check_out(directory, kind, key, overwrite=True)
    start = time.perf_counter()
    result = solver(dict(run), progress)
    result.timings.setdefault("total", time.perf_counter() - start)
    result.save(directory, run_kind=kind, key=key, files=files)
    return result, True


def run_spec(run: Mapping, **changes) -> RunSpec:
    """The ``RunSpec`` of one solver run (a ``run_parameters`` dict), with ``changes``."""
    keys = (*RUN_KEYS, "redraw_constant")
    return replace(RunSpec.from_dict({key: run[key] for key in keys if key in run}), **changes)


# --------------------------------------------------------------------------------------------- running
@dataclass
class ExperimentOutcome:
    """What ``run_experiment`` made: its folder, results, checks, figures and runtime."""

    name: str
    out_dir: Path
    config: dict
    results: dict  # swept value (or None) -> PowerResult
    checks: list
    figures: list
    seconds: float
    computed: list = field(default_factory=list)  # swept values (or None) that were solved, not reused
    extra: dict = field(default_factory=dict)

    def table(self) -> str:
        """Published next to reproduced, as a fixed-width text table."""
        return _text_table(["quantity", "published", "reproduced", "verdict"], [c.row() for c in self.checks])

    def learned_table(self) -> str:
        """With a learned run: the published checks on learned POWER beside the exact POWER of the same samples."""
        learned = self.extra["learned"]
        rows = [[learned_check["label"], learned_check["published"], exact_check["reproduced"],
                 learned_check["reproduced"], learned_check["verdict"]]
                for exact_check, learned_check in zip(learned["checks_exact"], learned["checks_learned"])]
        return _text_table(["quantity", "published", "exact, same samples", "learned", "verdict (learned)"], rows)


def _text_table(header: list, rows: list) -> str:
    """Rows of strings as a fixed-width text table under ``header``."""
    rows = [header] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_experiment(
    config: Union[Mapping, str, Path],
    n_samples: Optional[int] = None,
    *,
    learned: Optional[str] = None,
    learned_samples: Optional[int] = None,
    figures: bool = True,
    solver: Optional[Solver] = None,
    execution: Optional[Execution] = None,
    storage: Optional[Storage] = None,
) -> ExperimentOutcome:
    """Run one config: solve (or reuse saved results), draw the figures, compare with the published numbers.

    The folder is checked first (``multipower.runs.rundir.check_out``, kind ``reproduce``): one holding another
    config, or files multipower did not write, is refused unless ``overwrite``. The exact run and every sweep
    point resume from their saved sample blocks; finished, intact results are reused.

    Args:
        config: A validated config dict, or a shipped name / YAML path (see ``load_config``).
        n_samples: Override the config's sample count (quick runs).
        learned: ``"qlearning"`` or ``"ppo"``: also run the learned estimator on the same experiment and
            compare it with the exact result (joint configs; via ``multipower.learned.compare``).
        learned_samples: Reward samples for the learned run (default: ``min(n_samples, 200)``).
        figures: Draw the figures.
        solver: ``solver(run, progress) -> PowerResult`` for each exact run (the single run or each sweep point,
            saved as it finishes); default ``exact_solver``.
        execution: How and where (``multipower.runs.execution.Execution``): ``device``, the exact solver's torch
            device (``"cpu"`` or ``"cuda"``); ``progress``, progress bars; ``backend``, where the exact solver's
            sample blocks run (``None``/``"local"``: this machine, ``"ray"`` or a ``Backend``; on a cluster the
            points of a sweep are solved side by side, each point's blocks spread over the cluster; only this
            process writes, so the files, and a rerun's reuse of finished points and blocks, are the same as a
            local run's).
        storage: The results folder (``multipower.runs.execution.Storage``; default ``results/<name>``):
            ``restart`` recomputes everything, discarding saved results and sample blocks (each is replaced only
            when its new result is written); ``overwrite`` replaces a folder holding another run.

    Raises:
        ExperimentInterrupted: on Ctrl-C, after the finished points (and the finished sample blocks of the
            point being solved) are saved; it says which.
    """
    if not isinstance(config, (Mapping, str, Path)):
        raise ValueError(f"config: must be a config dict, a shipped config's name or a YAML path, got "
                         f"{type(config).__name__}")
    if not (isinstance(execution, Execution) or execution is None):
        raise ValueError(f"execution: must be a multipower.runs.execution.Execution, got {type(execution).__name__}")
    if not (isinstance(storage, Storage) or storage is None):
        raise ValueError(f"storage: must be a multipower.runs.execution.Storage or None, got {type(storage).__name__}")
    if storage is not None and storage.files:
        raise ValueError("storage.files: a reproduction writes its own files (config.yaml, report.md, ...); "
                         "leave it out")
    if not (solver is None or callable(solver)):
        raise ValueError(f"solver: must be a callable solver(run, progress) -> PowerResult, got {solver!r}")
    if not isinstance(figures, bool):
        raise ValueError(f"figures: must be True or False, got {figures!r}")
    if not isinstance(config, Mapping):
        config = load_config(config)
    config = dict(config)
    if n_samples is not None:
        config["n_samples"] = n_samples
    config = validate_config(config)
    _check_learned(config, learned, learned_samples)
    execution = Execution() if execution is None else execution
    device, progress = check_device(execution.device_or("cpu")), bool(execution.progress)
    backend = remote(execution.backend)
    storage = Storage(Path("results") / config["name"]) if storage is None else storage
    out_dir, restart, overwrite = Path(storage.out_dir), storage.restart, storage.overwrite
    key = reproduce_key(config)
    held = rundir.holds(out_dir)
    try:
        return _run_experiment(config, out_dir, key, overwrite, solver, progress, restart, device, backend,
                               learned, learned_samples, figures)
    finally:
        if not held:
            rundir.release(out_dir)  # and the run folders inside it


def _run_experiment(config: dict, out_dir: Path, key: dict, overwrite: bool, solver, progress: bool, restart: bool,
                    device, backend, learned, learned_samples, figures) -> "ExperimentOutcome":
    rundir.check_out(out_dir, "reproduce", key, overwrite)
    rundir.begin(out_dir, "reproduce", key, config["n_samples"])
    rundir.atomic_write(out_dir / "config.yaml", dump_config(config))
    start = time.perf_counter()
    if config["kind"] == "sweep":
        outcome = _run_sweep(config, out_dir, solver, progress, restart, device, backend)
    else:
        run = run_parameters(config, device=device)
        try:
            result, computed = solve_cached(run, out_dir / "exact", solver, progress, restart, backend)
        except exact.Interrupted as stop:
            raise ExperimentInterrupted(out_dir, stop, 0, 1) from None
        checks = [evaluate_entry(entry, result) for entry in config["published"]]
        if result.kind == "joint" and not any(e["quantity"] == "alpha" for e in config["published"]):
            checks.append(Check("α_HA", "–", f"{pearson(result['power_H'], result['power_A']):.4f}", "measured"))
        outcome = ExperimentOutcome(config["name"], out_dir, config, {None: result}, checks, [], 0.0,
                                    [None] if computed else [])
    outcome.seconds = time.perf_counter() - start
    if learned is not None:
        outcome.extra["learned"] = _run_learned(config, out_dir, learned, learned_samples, progress, backend,
                                                figures, restart)
    if figures:
        outcome.figures = draw_figures(outcome)
        if learned is not None:
            outcome.figures += outcome.extra["learned"].get("figures", [])
    write_report(outcome)
    listed = ["config.yaml", "report.json", "report.md"] + (["sweep.json"] if config["kind"] == "sweep" else [])
    rundir.write_manifest(out_dir, "reproduce", key, listed, config["n_samples"], config["n_samples"])
    return outcome


def _check_learned(config: Mapping, learned: Optional[str], learned_samples: Optional[int]) -> None:
    """The learned run's settings, checked before the exact solver starts."""
    if learned is None:
        if learned_samples is not None:
            raise ValueError("learned_samples needs learned (the learner to run)")
        return
    if learned not in LEARNERS:
        raise ValueError(f"learned must be one of {LEARNERS}, got {learned!r}")
    if config["kind"] != "joint":
        raise ValueError(f"learned=... needs a joint config (the learned estimator is two-agent); "
                         f"{config['name']} is kind {config['kind']!r}")
    if learned_samples is not None:
        check_count(learned_samples, "learned_samples")


def reproduce_key(config: Mapping) -> dict:
    """What a reproduction folder is of: its config without the number of samples and the descriptive text
    (a rerun with another ``--samples`` resumes or extends in the same folder)."""
    return {k: v for k, v in config.items() if k not in ("n_samples", "title", "source", "description", "published")}


class ExperimentInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``run_experiment``: ``points_done`` of ``points`` finished (and saved); ``stop`` is
    the interruption of the run being solved (its ``saved`` partial result, if any)."""

    def __init__(self, out_dir: Path, stop: "exact.Interrupted", points_done: int, points: int) -> None:
        super().__init__("interrupted")
        self.out_dir, self.stop, self.points_done, self.points = out_dir, stop, points_done, points

    def message(self) -> str:
        lines = []
        if self.points > 1:
            lines.append(f"{self.points_done} of {self.points} sweep points finished and saved in {self.out_dir}/points")
        stop = self.stop
        if stop.saved and stop.result is not None:
            lines.append(f"the run being solved saved a partial result of {stop.result.samples_done:,} of "
                         f"{int(stop.result.config['samples_requested']):,} samples (its finished sample blocks)")
        elif stop.note:
            lines.append(stop.note)
        elif self.points <= 1 or self.points_done < self.points:
            lines.append("the run being solved had not finished a sample block; nothing of it was saved")
        return "; ".join(lines)


def _point_dir(out_dir: Path, parameter: str, value) -> Path:
    text = str(int(value)) if parameter == "seed" else f"{float(value):g}"
    return out_dir / "points" / f"{parameter}={text}"


def _run_sweep(config: dict, out_dir: Path, solver, progress: bool, restart: bool, device: str = "cpu",
               backend=None) -> ExperimentOutcome:
    from tqdm.auto import tqdm

    parameter, values = config["sweep"]["parameter"], config["sweep"]["values"]
    results, computed = {}, []
    bar = tqdm(total=len(values), desc=f"{config['name']}: {parameter}", unit="point", disable=not progress)
    runs = [run_parameters(config, device=device, **{parameter: value}) for value in values]
    points = _solve_points(runs, parameter, out_dir, solver, progress, restart, backend)
    for value in values:
        try:
            result, was_computed = next(points)
        except exact.Interrupted as stop:
            bar.close()
            raise ExperimentInterrupted(out_dir, stop, len(results), len(values)) from None
        bar.set_postfix_str(f"{parameter}={value:g}")
        bar.update()
        results[value] = result
        if was_computed:
            computed.append(value)
    bar.close()
    summary = sweep_summary(config, results)
    rundir.atomic_write(out_dir / "sweep.json", json.dumps(jsonable(summary), indent=2) + "\n")
    checks = [evaluate_entry(entry, results[entry["at"]]) for entry in config["published"]]
    if parameter != "seed":
        crossing = summary.get("alpha_zero_crossing")
        checks.append(Check(f"{parameter_symbol(parameter)} where α_HA crosses 0", "–",
                            "none in range" if crossing is None else f"{crossing:.3f}", "measured"))
    else:
        checks.append(Check("α_HA across seeds", "–", f"mean {summary['alpha_mean']:.4f}, s.d. {summary['alpha_sd']:.4f}",
                            "measured"))
    if "blocking" in summary:
        onset = summary["blocking"].get("onset")
        checks.append(Check("γ where corridor blocking appears", "above ≈ 0.9 (Part 3 §4)",
                            "none in range" if onset is None else f"{onset:g}", "measured"))
    return ExperimentOutcome(config["name"], out_dir, config, results, checks, [], 0.0, computed, {"sweep": summary})


def _solve_points(runs: list, parameter: str, out_dir: Path, solver, progress: bool, restart: bool, backend):
    """``solve_cached`` per sweep point, yielded in point order. Locally one point after another (each on the
    machine's cores); with a cluster backend up to ``backend.jobs`` points at once, in threads of this process
    that wait on the cluster and save each point as it finishes."""

    def one(run, show=progress, share=backend):
        return solve_cached(run, _point_dir(out_dir, parameter, run[parameter]), solver, show, restart, share)

    if backend is None:
        yield from map(one, runs)
        return
    side_by_side = max(1, min(len(runs), backend.jobs))
    share = backend.with_jobs(-(-backend.jobs // side_by_side)) if hasattr(backend, "with_jobs") else backend
    with ThreadPoolExecutor(side_by_side) as pool:
        futures = [pool.submit(one, run, False, share) for run in runs]
        try:
            for future in futures:
                yield future.result()
        except BaseException:  # Ctrl-C or a failed point: the points in flight stop too (their blocks are kept)
            if hasattr(backend, "stop"):
                backend.stop()
            raise
        finally:
            for future in futures:
                future.cancel()


def sweep_summary(config: Mapping, results: Mapping) -> dict:
    """α_HA per swept value (and the corridor-blocking analysis when the config asks for it)."""
    parameter = config["sweep"]["parameter"]
    values = list(results)
    alphas = [pearson(r["power_H"], r["power_A"]) for r in results.values()]
    summary = {
        "name": config["name"], "parameter": parameter, "values": values, "alpha": alphas,
        "points": [str(_point_dir(Path("."), parameter, v)) for v in values],
    }
    if parameter == "seed":
        summary["alpha_mean"] = float(np.mean(alphas))
        summary["alpha_sd"] = float(np.std(alphas, ddof=1)) if len(alphas) > 1 else 0.0
    else:
        summary["alpha_zero_crossing"] = zero_crossing(np.asarray(values, float), np.asarray(alphas))
    corridor = (config.get("analysis") or {}).get("corridor")
    if corridor:
        summary["blocking"] = blocking_analysis(results, corridor)
    return summary


def blocking_excess(result: PowerResult, corridor: Sequence) -> dict:
    """How much A's POWER rises when H is in ``corridor`` cells, relative to A's POWER at the same A cell.

    For each A cell, ``excess(h, a) = POWER_A(h, a) - mean_h' POWER_A(h', a)``; returns the largest excess
    over states with H in the corridor, the state where it occurs, its standard error, the median excess
    of states with H elsewhere (the background), and whether A's global POWER maximum has H in the corridor.
    """
    labels, power_A, se_A = result.labels, result["power_A"], result["power_A_se"]
    a_key = labels[:, 2] * 1000 + labels[:, 3]
    groups, inverse = np.unique(a_key, return_inverse=True)
    means = np.bincount(inverse, power_A) / np.bincount(inverse)
    excess = power_A - means[inverse]
    in_corridor = _state_mask(result, "H", corridor)
    i = int(np.flatnonzero(in_corridor)[np.argmax(excess[in_corridor])])
    top = int(np.argmax(power_A))
    return {
        "excess": float(excess[i]), "excess_se": float(se_A[i]), "state": labels[i].tolist(),
        "background": float(np.max(np.abs(excess[~in_corridor]))),
        "argmax_A_state": labels[top].tolist(), "argmax_A_in_corridor": bool(in_corridor[top]),
    }


def blocking_analysis(results: Mapping, corridor: Sequence) -> dict:
    """``blocking_excess`` per swept value; ``onset``: the first value from which A's POWER maximum has
    H in the corridor at every larger value."""
    per_value = {value: blocking_excess(result, corridor) for value, result in results.items()}
    values = sorted(per_value)
    onset = None
    for value in reversed(values):
        if not per_value[value]["argmax_A_in_corridor"]:
            break
        onset = value
    return {"corridor": [list(c) for c in corridor], "per_value": {str(v): per_value[v] for v in values}, "onset": onset}


# --------------------------------------------------------------------------------------------- learned estimator
def _run_learned(config: Mapping, out_dir: Path, algo: str, n_samples: Optional[int], progress: bool,
                 backend=None, figures: bool = True, restart: bool = False) -> dict:
    """Run the learned estimator beside the exact solver (via ``multipower.learned.compare``): trains ``algo`` on
    the first ``n_samples`` reward pairs of the config's seed and saves the comparison to ``OUT/learned_<algo>``
    (and, with ``figures``, its figures to ``OUT/figures/learned_<algo>_*.png``).

    Training saves each finished chunk of samples to ``OUT/learned_<algo>/chunks/`` as ``multipower train``
    does, so an interrupted reproduction resumes its training where it stopped (``restart`` discards them). The
    config's published checks are applied to the learned POWER and, for reference, to the exact POWER of the
    same samples (``checks_learned``, ``checks_exact``)."""
    from multipower.envs.policies import seed_policy_table
    from multipower.learned.training import chunk_key, learner_settings
    from multipower.plots.figures import learned_result
    from multipower.runs.chunkstore import ChunkStore

    samples = min(config["n_samples"], 200) if n_samples is None else int(n_samples)
    directory = out_dir / f"learned_{algo}"
    spec = run_spec(run_parameters(config), n_samples=samples, learner=algo)
    model = spec.model()
    settings = learner_settings(algo, {}, spec.gamma_H, spec.discount_A, seed_policy_table(model, spec.seed_policy_value()),
                                model)
    store = ChunkStore(directory, chunk_key(spec, settings), restart=restart)
    done = store.done(samples)
    if done and progress:
        print(f"resuming: {done} of {samples} learned samples already trained in {store.path}", file=sys.stderr)
    comparison = compare.compare(spec, execution=Execution(backend=backend, progress=False), store=store)
    comparison.save(directory)
    save_spec(spec, directory)
    checks = {which: _learned_checks(config, learned_result(comparison.result, which)) for which in ("learned", "exact")}
    drawn = []
    if figures:
        from multipower.plots.figures import highlight_states, plot_comparison_dir  # matplotlib loads only here

        drawn = plot_comparison_dir(directory, out_dir / "figures", prefix=f"learned_{algo}_",
                                    highlight=highlight_states(config["published"]))
    return {"dir": str(directory), "algo": algo, "n_samples": samples,
            "metrics": jsonable(getattr(comparison, "metrics", {})), "figures": drawn,
            "checks_learned": [c.__dict__ for c in checks["learned"]],
            "checks_exact": [c.__dict__ for c in checks["exact"]], "timings": jsonable(comparison.timings)}


def _learned_checks(config: Mapping, result: PowerResult) -> list:
    """The config's published checks applied to a learned (or same-sample exact) result, α always included."""
    checks = [evaluate_entry(entry, result) for entry in config["published"]]
    if not any(e["quantity"] == "alpha" for e in config["published"]):
        checks.append(Check("α_HA", "–", f"{pearson(result['power_H'], result['power_A']):.4f}", "measured"))
    return checks


# --------------------------------------------------------------------------------------------- figures & report
def draw_figures(outcome: ExperimentOutcome) -> list:
    """Draw the figures of an outcome into ``OUT/figures``."""
    from multipower.plots import figures as plotting

    config, fig_dir = outcome.config, outcome.out_dir / "figures"
    if config["kind"] != "sweep":
        result = outcome.results[None]
        return plotting.plot_result(result, fig_dir, highlight=plotting.highlight_states(config["published"]),
                                    diagnostics=True)
    return plotting.plot_sweep(outcome.extra["sweep"], outcome.results, config, fig_dir)


def write_report(outcome: ExperimentOutcome) -> None:
    """``report.json`` and ``report.md``: published next to reproduced, runtime, figures."""
    report = {
        "name": outcome.name, "title": outcome.config.get("title", ""), "n_samples": outcome.config["n_samples"],
        "seconds": outcome.seconds, "computed": [str(v) for v in outcome.computed],
        "checks": [c.__dict__ for c in outcome.checks],
        "figures": [str(Path(p).relative_to(outcome.out_dir)) for p in outcome.figures],
    }
    if "learned" in outcome.extra:
        learned = outcome.extra["learned"]
        report["learned"] = {**learned, "figures": [str(Path(p).relative_to(outcome.out_dir)) for p in learned["figures"]]}
    rundir.atomic_write(outcome.out_dir / "report.json", json.dumps(jsonable(report), indent=2) + "\n")
    lines = [f"# {outcome.config.get('title', outcome.name)}", "", f"{outcome.config.get('source', '')}", "",
             f"Samples: {outcome.config['n_samples']:,}. Runtime: {outcome.seconds:.1f} s "
             f"({'all reused from saved results' if not outcome.computed else 'computed'}).", "",
             "| quantity | published | reproduced | verdict |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(c.row())} |" for c in outcome.checks]
    lines += _peaks_table(outcome)
    learned_figures = set(outcome.extra.get("learned", {}).get("figures", []))
    lines += ["", *[f"![{Path(p).stem}]({Path(p).relative_to(outcome.out_dir)})" for p in outcome.figures
                    if p not in learned_figures]]
    if "learned" in outcome.extra:
        lines += _learned_report(outcome)
    rundir.atomic_write(outcome.out_dir / "report.md", "\n".join(lines) + "\n")


def _peaks_table(outcome: ExperimentOutcome, k: int = 3) -> list:
    """report.md's table of the joint states where each agent's POWER is highest, for a world drawn with the
    large-world views (``multipower.plots.views``), where no heat map shows them."""
    from multipower.plots.views import JOINT_MAP_MAX_CELLS, peak_indices

    result = outcome.results.get(None)
    if result is None or result.kind != "joint" or result.layout.n_cells <= JOINT_MAP_MAX_CELLS:
        return []
    lines = ["", "| highest | rank | H's cell | A's cell | POWER_H | POWER_A |", "|---|---|---|---|---|---|"]
    labels = np.asarray(result.labels, dtype=np.int64)
    for agent in ("H", "A"):
        for rank, i in enumerate(peak_indices(result, agent, k), start=1):
            cells = labels[i]
            lines.append(f"| POWER_{agent} | {rank} | ({cells[0]}, {cells[1]}) | ({cells[2]}, {cells[3]}) | "
                         f"{result['power_H'][i]:.4f} ± {result['power_H_se'][i]:.4f} | "
                         f"{result['power_A'][i]:.4f} ± {result['power_A_se'][i]:.4f} |")
    return lines


def _learned_report(outcome: ExperimentOutcome) -> list:
    """report.md's section on the learned agents: the published checks on learned POWER beside the exact POWER of
    the same samples, the accuracy, and the learned heat maps beside the exact ones."""
    learned = outcome.extra["learned"]
    algo, n, m = learned["algo"], learned["n_samples"], learned["metrics"]
    lines = ["", f"## Learned agents: {algo}, {n:,} samples", "",
             f"The same checks on the POWER of agents trained by {algo} (Monte-Carlo returns of their greedy policies), "
             f"beside the exact POWER of the same {n:,} reward samples. Per state: POWER_H mean |learned − exact| "
             f"{m['mean_abs_error_H']:.4f}, Pearson {m['pearson_H']:.3f}; POWER_A mean {m['mean_abs_error_A']:.4f}, "
             f"Pearson {m['pearson_A']:.3f}.", "",
             "| quantity | published | exact, same samples | learned | verdict (learned) |", "|---|---|---|---|---|"]
    for exact_check, learned_check in zip(learned["checks_exact"], learned["checks_learned"]):
        lines.append(f"| {learned_check['label']} | {learned_check['published']} | {exact_check['reproduced']} | "
                     f"{learned_check['reproduced']} | {learned_check['verdict']} |")
    rel = {Path(p).stem: Path(p).relative_to(outcome.out_dir) for p in outcome.figures}
    prefix = f"learned_{algo}_"
    pairs = [(name, f"{prefix}{name}") for name in ("heatmap_H", "heatmap_A", "alignment")]
    pairs = [(exact, mine) for exact, mine in pairs if exact in rel and mine in rel]
    if pairs:
        exact_n = outcome.config["n_samples"]
        lines += ["", f"| exact, {exact_n:,} samples | learned, {n:,} samples |", "|---|---|"]
        lines += [f"| ![{exact}]({rel[exact]}) | ![{mine}]({rel[mine]}) |" for exact, mine in pairs]
    if f"{prefix}learned_vs_exact" in rel:
        lines += ["", f"![{prefix}learned_vs_exact]({rel[prefix + 'learned_vs_exact']})"]
    return lines
