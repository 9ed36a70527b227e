"""Learned versus exact POWER on the same reward functions (docs/concepts.md#learned-estimator).

``compare_agents`` takes trained agents (policies and the reward functions they were trained for),
solves the same reward functions exactly (``multipower.exact.solver.solve_pairs``), rolls the learned policies
out (``PolicyRollout``) and evaluates them exactly on the model
(``multipower.exact.solver.evaluate_policies``). Per state and agent this gives three POWERs:

* ``learned``: the rollout estimate of the learned policies (what the learned estimator reports);
* ``eval``: the exact value of the same learned policies;
* ``exact``: the exact optimum (the exact solver's POWER).

``learned − exact`` is the total error; it splits into the **learning error** ``eval − exact`` (the
learned policies are not optimal) and the **rollout noise** ``learned − eval`` (finite rollouts of
stochastic policies, plus truncation ≤ 1e-4). ``compare`` also trains the agents (Q-learning or PPO)
when none are given. Every per-sample difference is paired on the same reward function, so its standard
error is small.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional, Union

import numpy as np

from multipower.agents import qlearning_config
from multipower.agents.storage import load_agents
from multipower.envs.joint_graph import JointGraph
from multipower.envs.memory import joint_state_count
from multipower.learned.estimator import (
    PolicyRollout,
    Rollouts,
    check_extras,
    exact_policy_power,
)
from multipower.runs.chunkstore import ChunkStore
from multipower.runs.execution import Execution
from multipower.runs.results import MeanAccumulator, PowerResult, jsonable, pearson
from multipower.exact.power import KERNEL_BYTES_PER_STATE, TORCH_BYTES_PER_SAMPLE_STATE
from multipower.exact.accuracy import policy_gaps, solve_problem
from multipower.runs.spec import RunSpec, learner_of, spec_from_config
from multipower.learned.training import check_algo, train_agents
from multipower.envs.problem import TwoStageProblem, world_config

#: Per-state columns written to power.csv, in order (each with a ``_se`` column after it).
COLUMNS = ("learned", "eval", "exact", "error", "learning_error", "rollout_noise")


#: Bytes per sample and joint state of the exact side of a comparison, all samples at once: the solved pairs with
#: their policies and action values (compiled kernels), and the exact evaluation of the learned policies (batched
#: torch tensors, ``multipower.exact.power.TORCH_BYTES_PER_SAMPLE_STATE``).
EXACT_BYTES_PER_SAMPLE_STATE = 240 + TORCH_BYTES_PER_SAMPLE_STATE


def exact_memory(n_states: int, n_samples: int) -> int:
    """Peak bytes of a comparison's exact side (``EXACT_BYTES_PER_SAMPLE_STATE``), besides the training's."""
    return (KERNEL_BYTES_PER_STATE + n_samples * EXACT_BYTES_PER_SAMPLE_STATE) * n_states


@dataclass
class Comparison:
    """The outcome of a learned-versus-exact comparison.

    Attributes:
        result: Joint ``PowerResult`` with, for ``X`` in H and A, the columns
            ``power_X_learned`` (rollouts), ``power_X_eval`` (exact value of the learned policies),
            ``power_X_exact`` (exact optimum), ``power_X_error`` (learned − exact),
            ``power_X_learning_error`` (eval − exact), ``power_X_rollout_noise`` (learned − eval),
            each followed by its standard error ``..._se`` (paired over reward samples).
        metrics: Scalar figures (see ``comparison_metrics``).
        config: The full configuration.
        timings: Seconds per stage.
    """

    result: PowerResult
    metrics: dict
    config: dict
    timings: dict = field(default_factory=dict)

    def column(self, agent: str, name: str) -> np.ndarray:
        return self.result.arrays[f"power_{agent}_{name}"]

    def save(self, directory: Union[str, Path], figure: bool = True) -> Path:
        """Write ``comparison.json``, ``power.csv`` (+ ``summary.json``) and ``comparison.png``."""
        directory = Path(directory)
        summary = {**self.metrics, "config": self.config, "timings": self.timings}
        self.result.save(directory, run_kind="compare",
                         files={"comparison.json": json.dumps(jsonable(summary), indent=2) + "\n"})
        if figure:
            from multipower.plots.compare import comparison_figure
            from multipower.plots.figures import describe

            comparison_figure(
                self.column("H", "learned"), self.column("A", "learned"),
                self.column("H", "exact"), self.column("A", "exact"),
                directory / "comparison.png",
                learned_H_se=self.column("H", "error_se"), learned_A_se=self.column("A", "error_se"),
                suptitle=f"{self.config.get('algo', 'learned')} vs exact: {describe(self.config)}",
            )
        return directory


def comparison_metrics(arrays: dict) -> dict:
    """Scalar figures from the per-state columns of a comparison.

    ``max_abs_error_X``, ``mean_abs_error_X`` (|learned − exact| over states), ``pearson_X`` (learned vs
    exact across states), ``alpha_learned``, ``alpha_eval``, ``alpha_exact``, the same max/mean for the
    split ``learning_error_X`` (eval − exact) and ``rollout_noise_X`` (learned − eval), and
    ``max_error_se_X``, the largest standard error of the paired per-state error.
    """
    metrics = {}
    for agent in "HA":
        get = lambda name: arrays[f"power_{agent}_{name}"]  # noqa: E731
        error = np.abs(get("error"))
        metrics[f"max_abs_error_{agent}"] = float(error.max())
        metrics[f"mean_abs_error_{agent}"] = float(error.mean())
        metrics[f"pearson_{agent}"] = pearson(get("learned"), get("exact"))
        metrics[f"max_error_se_{agent}"] = float(get("error_se").max())
        for part in ("learning_error", "rollout_noise"):
            metrics[f"max_abs_{part}_{agent}"] = float(np.abs(get(part)).max())
            metrics[f"mean_abs_{part}_{agent}"] = float(np.abs(get(part)).mean())
    for name in ("learned", "eval", "exact"):
        metrics[f"alpha_{name}"] = pearson(arrays[f"power_H_{name}"], arrays[f"power_A_{name}"])
    metrics["alpha_error"] = metrics["alpha_learned"] - metrics["alpha_exact"]
    return metrics


def exact_optimum_power(problem: TwoStageProblem) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample exact POWER ``(K, S)`` of the optimal two-stage policies (``multipower.exact.accuracy.solve_problem``:
    a layout's or a joint graph's solver)."""
    solved = solve_problem(problem)
    power_H = (1.0 - problem.gamma_H) / problem.gamma_H * (np.asarray(solved.V_H) - problem.R_H)
    power_A = (1.0 - problem.gamma_A) / problem.gamma_A * (np.asarray(solved.V_A) - problem.R_A)
    return power_H, power_A


def compare_agents(
    problem: TwoStageProblem,
    policy_H: np.ndarray,
    policy_A: np.ndarray,
    *,
    rollouts: Optional[Rollouts] = None,
    tensorboard: Optional[Union[str, Path]] = None,
    config: Optional[dict] = None,
) -> Comparison:
    """Compare learned policies with the exact solver on the reward functions they were trained for.

    The metrics (``comparison_metrics``) also hold ``policy_gap_H``/``_A`` and their ``_max``: the POWER the learned
    policies lose against their exact best responses (``multipower.exact.accuracy.policy_gaps``).

    Args:
        problem: The joint model, the ``(K, S)`` reward functions (the exact solver uses these very arrays), both
            discounts and A's seed policy for the exact solver's first stage
            (``multipower.envs.problem.TwoStageProblem``).
        policy_H, policy_A: ``(K, S, 5)`` learned policies, one per reward sample.
        rollouts: Rollout settings (``multipower.learned.estimator.Rollouts``; default ``Rollouts()``).
        tensorboard: Directory for a TensorBoard log of the running estimates against samples done.
        config: Extra configuration saved with the result.
    """
    check_extras(config)
    if not (tensorboard is None or isinstance(tensorboard, (str, Path))):
        raise ValueError(f"tensorboard: must be a folder path, got {tensorboard!r}")
    rollout = PolicyRollout(problem, policy_H, policy_A, rollouts)
    model, seed_policy = rollout.model, problem.seed_policy
    # Paired per-sample columns, accumulated chunk by chunk.
    running = {f"power_{a}_{c}": MeanAccumulator() for a in "HA" for c in COLUMNS}
    timings = {"rollout": 0.0, "exact_eval": 0.0, "exact_solve": 0.0}
    writer = _summary_writer(tensorboard)
    try:
        for chunk in rollout.chunks_timed(timings):
            s = slice(chunk.start, chunk.stop)
            t0 = time.perf_counter()
            part = problem.rows(chunk.start, chunk.stop)
            eval_ = exact_policy_power(part, rollout.policy_H[s], rollout.policy_A[s])
            t1 = time.perf_counter()
            exact = exact_optimum_power(part)
            timings["exact_eval"] += t1 - t0
            timings["exact_solve"] += time.perf_counter() - t1
            for i, agent in enumerate("HA"):
                learned = (chunk.power_H, chunk.power_A)[i]
                values = {
                    "learned": learned, "eval": eval_[i], "exact": exact[i], "error": learned - exact[i],
                    "learning_error": eval_[i] - exact[i], "rollout_noise": learned - eval_[i],
                }
                for name, v in values.items():
                    running[f"power_{agent}_{name}"].add(v)
            if writer is not None:
                _log_running(writer, running, chunk.stop)
    finally:
        if writer is not None:
            writer.close()
    arrays = {}
    for name, acc in running.items():
        arrays[name], arrays[f"{name}_se"] = acc.mean, acc.se
    metrics = comparison_metrics(arrays)
    t0 = time.perf_counter()
    # The POWER the learned policies lose: H against the seed, A against the learned H (well conditioned, where
    # the two-stage POWER map moves with every near-tie H settles the other way, docs/learning.md#ppo-long-horizons).
    metrics.update(policy_gaps(problem, rollout.policy_H, rollout.policy_A))
    timings["policy_gap"] = time.perf_counter() - t0
    full_config = {
        **world_config(model, source=False),  # a graph's source is the folder's spec.json
        "n_samples": rollout.n_samples,
        "seed_policy": seed_policy if isinstance(seed_policy, str) else "custom",
        **rollout.config(),
        **(config or {}),
    }
    kind = "joint_graph" if isinstance(model, JointGraph) else "joint"  # a graph's states are labelled by name
    result = PowerResult(kind, model.state_labels(), arrays, full_config, metrics, timings)
    return Comparison(result, metrics, full_config, timings)


def _summary_writer(directory):
    if directory is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(directory))


def _log_running(writer, running: dict, n_done: int) -> None:
    """Running estimates against the number of reward samples done."""
    mean = {name: acc.mean for name, acc in running.items()}
    for agent in "HA":
        for name in ("learned", "eval", "exact"):
            writer.add_scalar(f"power_{agent}/mean_{name}", float(mean[f"power_{agent}_{name}"].mean()), n_done)
        writer.add_scalar(f"error_{agent}/max_abs", float(np.abs(mean[f"power_{agent}_error"]).max()), n_done)
        writer.add_scalar(f"error_{agent}/mean_abs", float(np.abs(mean[f"power_{agent}_error"]).mean()), n_done)
        writer.add_scalar(
            f"error_{agent}/max_abs_learning_error", float(np.abs(mean[f"power_{agent}_learning_error"]).max()), n_done
        )
        writer.add_scalar(
            f"error_{agent}/max_abs_rollout_noise", float(np.abs(mean[f"power_{agent}_rollout_noise"]).max()), n_done
        )
    if n_done >= 2:
        for name in ("learned", "exact"):
            writer.add_scalar(f"alpha/{name}", pearson(mean[f"power_H_{name}"], mean[f"power_A_{name}"]), n_done)
    writer.flush()


def load_saved_agents(directory: Union[str, Path], name: str = "agents"):
    """``multipower.agents.storage.load_agents`` of a folder ``multipower train`` wrote, its files first checked
    against its manifest (an edited ``config.json`` or ``agents.npz`` is refused in one line naming ``name``: the
    world is rebuilt from that configuration). A folder without a manifest (an older version's) is read as it is."""
    from multipower.runs.rundir import check_files

    problem = check_files(directory)
    if problem:
        raise ValueError(f"{name}: {str(directory)!r}: {problem}; rerun the train command that wrote it")
    return load_agents(directory)


def compare(
    spec: Optional[RunSpec] = None,
    *,
    agents=None,
    rollouts: Optional[Rollouts] = None,
    tensorboard: Optional[Union[str, Path]] = None,
    execution: Optional[Execution] = None,
    store=None,
) -> Comparison:
    """Train (or load) learned agents and compare their POWER with the exact solver's, same rewards.

    Args:
        spec: What to train and compare (``multipower.runs.spec.RunSpec``): the layout, collision rule and slip (or
            a joint MDP graph), both discounts, the reward draws (``RewardSampler(n_states, distribution, correlation,
            seed).pairs(0, n_samples)``), A's seed policy, the ``learner`` (``"qlearning"`` when left ``None``,
            ``"ppo"`` or ``"sb3-ppo"``) and its hyperparameter overrides ``learner_options``. Leave it out to
            compare ``agents``.
        agents: Trained agents to reuse instead of training: a ``TrainedAgents`` (anything with
            ``policy_H, policy_A, R_H, R_A, config``) or the directory ``multipower train`` wrote. The world,
            discounts and reward functions then come from the agents; the exact solver uses their ``R_H, R_A``.
        rollouts: Rollout settings (``multipower.learned.estimator.Rollouts``).
        tensorboard: Directory for a TensorBoard log of the running estimates.
        execution: How and where the agents train (``multipower.runs.execution.Execution``: ``jobs``,
            ``chunk_size``, ``device``, ``backend``, a ``progress`` callable; see ``train_agents``) and the memory
            budget ``max_memory``: a run estimated to exceed it is refused before anything is allocated.
        store: Training's chunk store (see ``train_agents``).
    """
    if (spec is None) == (agents is None):
        raise ValueError("compare: give spec (to train) or agents (to reuse), one of them")
    execution = Execution() if execution is None else execution
    for name, value, kind in (("execution", execution, Execution), ("rollouts", rollouts, Rollouts),
                              ("store", store, ChunkStore)):
        if not (isinstance(value, kind) or (value is None and name != "execution")):
            raise ValueError(f"{name}: must be a {kind.__module__}.{kind.__name__}, got {type(value).__name__}")
    if agents is not None and not (hasattr(agents, "policy_H") or isinstance(agents, (str, Path))):
        raise ValueError(f"agents: must be trained agents (TrainedAgents) or the folder multipower train wrote, got "
                         f"{type(agents).__name__}")
    t0 = time.perf_counter()
    timings = {}
    if agents is not None:
        if not hasattr(agents, "policy_H"):
            agents = load_saved_agents(agents)
        agent_config = dict(agents.config)
        spec = spec_from_config(agent_config)
        model, gamma_H, gamma_A = spec.model(), spec.gamma_H, spec.discount_A
        if model.n_states != agents.n_states:
            raise ValueError(f"agents: their configuration's world has {model.n_states} joint states, their rewards "
                             f"and policies {agents.n_states}")
        algo = learner_of(agent_config) or "qlearning"
        seed_policy = agent_config.get("seed_policy", "uniform")
        if isinstance(seed_policy, str) and seed_policy.endswith((".npy", ".gv", ".dot")):  # the table it names
            seed_policy = replace(spec, seed_policy=seed_policy).seed_policy_value()
        extra = {"agents_config": {k: v for k, v in agent_config.items() if k not in ("layout_text", "mdp_text")},
                 "algo": algo}
    else:
        if not isinstance(spec, RunSpec):
            raise ValueError(f"spec: must be a multipower.runs.spec.RunSpec, got {type(spec).__name__}")
        algo = check_algo(spec.learner or "qlearning")
        n_samples = spec.n_samples
        if spec.mdp is not None:
            world, n_states = spec.model(), spec.model().n_states
        else:
            world, n_states = spec.layout_object(), joint_state_count(spec.layout_object(), spec.collision)
        qlearning_config.check_memory(world, spec.collision, n_samples, execution.max_memory, what=f"compare ({algo})",
                                      learner=algo, extra=exact_memory(n_states, n_samples))
        model, gamma_H, gamma_A, seed_policy = spec.model(), spec.gamma_H, spec.discount_A, spec.seed_policy_value()
        sampler = spec.sampler(model.n_states)
        R_H, R_A = sampler.pairs(0, n_samples)
        checked = replace(execution, max_memory=None)  # the budget is checked above, with the exact solve's share
        agents = train_agents(algo, TwoStageProblem(model, R_H, R_A, gamma_H, gamma_A, seed_policy), spec.seed,
                              spec.learner_options, execution=checked, store=store)
        timings["train"] = time.perf_counter() - t0
        # The reward seed and the sample count are the comparison's own keys (rewards, n_samples).
        extra = {**{k: v for k, v in agents.config.items() if k not in ("seed", "samples", "mdp_text")},
                 "rewards": sampler.to_config()}
    problem = TwoStageProblem(model, agents.R_H, agents.R_A, gamma_H, gamma_A, seed_policy)
    result = compare_agents(problem, agents.policy_H, agents.policy_A, rollouts=rollouts, tensorboard=tensorboard,
                            config=extra)
    result.timings = {**timings, **result.timings, "total": time.perf_counter() - t0}
    result.result.timings = result.timings
    return result
