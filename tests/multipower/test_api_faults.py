"""The Python API's values of what, how and where refuse a bad field as they are made, and the entry points refuse
a wrong kind of value before any work: one ValueError whose message names the field."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.envs.joint_graph import parse_joint_graph
from multipower.envs.graph_mdp import load_graph_mdp
from multipower.envs.model import joint_model
from multipower.envs.problem import StageProblem, TwoStageProblem
from multipower.envs.rewards import RewardDraws, RewardSampler
from multipower.learned.estimator import Rollouts
from multipower.runs.execution import Execution, Storage
from multipower.runs.spec import RunSpec

MODEL = joint_model("grid3x3", "crash")
#: A joint graph of one state where H has two actions of its own names and A one (the learners need one count).
UNEVEN_GRAPH = parse_joint_graph('digraph g { ' + " ".join(
    f'"s" -> "[{h}_H^b_A]__s"; "[{h}_H^b_A]__s" -> "s__[{h}_H^b_A]__s" [weight=1];' for h in "ac") + " }")
R_H, R_A = RewardSampler(MODEL.n_states, seed=0).pairs(0, 2)


@pytest.mark.parametrize("make, name", [
    (lambda: Execution(jobs=0), "execution.jobs"), (lambda: Execution(jobs="2"), "execution.jobs"),
    (lambda: Execution(jobs=True), "execution.jobs"), (lambda: Execution(chunk_size=2.5), "execution.chunk_size"),
    (lambda: Execution(max_memory="lots"), "execution.max_memory"), (lambda: Execution(device=5), "execution.device"),
    (lambda: Execution(backend="nowhere"), "execution.backend"), (lambda: Execution(backend=123), "execution.backend"),
    (lambda: Execution(progress="yes"), "execution.progress"),
    (lambda: Storage(None), "storage.out_dir"), (lambda: Storage(123), "storage.out_dir"),
    (lambda: Storage("o", restart="yes"), "storage.restart"), (lambda: Storage("o", overwrite="no"), "storage.overwrite"),
    (lambda: Storage("o", files="abc"), "storage.files"), (lambda: Storage("o", files={"../evil.txt": "x"}), "storage.files"),
    (lambda: Storage("o", files={"sub/a.txt": "x"}), "storage.files"),
    (lambda: Storage("o", files={"power.csv": "x"}), "storage.files"), (lambda: Storage("o", files={"a.txt": 1}), "storage.files"),
    (lambda: RewardDraws(0), "rewards.n_samples"), (lambda: RewardDraws(2.5), "rewards.n_samples"),
    (lambda: RewardDraws("10"), "rewards.n_samples"), (lambda: RewardDraws(seed=-1), "rewards.seed"),
    (lambda: RewardDraws(redraw_constant="no"), "rewards.redraw_constant"), (lambda: RewardDraws(correlation=2), "correlation"),
    (lambda: Rollouts(n_rollouts=0), "rollouts.n_rollouts"), (lambda: Rollouts(n_rollouts="3"), "rollouts.n_rollouts"),
    (lambda: Rollouts(horizon=2.5), "rollouts.horizon"), (lambda: Rollouts(tol=0), "rollouts.tol"),
    (lambda: Rollouts(tol="x"), "rollouts.tol"), (lambda: Rollouts(seed=-1), "rollouts.seed"),
    (lambda: Rollouts(max_walkers=0), "rollouts.max_walkers"),
    (lambda: TwoStageProblem("grid3x3", R_H, R_A, 0.9), "model"),
    (lambda: TwoStageProblem(MODEL, R_H[:0], R_A[:0], 0.9), "at least one reward sample"),
    (lambda: TwoStageProblem(MODEL, R_H, R_A, "0.5"), "gamma_H"),
    (lambda: StageProblem("grid3x3", np.ones(16), 0.9), "model"),
    (lambda: StageProblem(UNEVEN_GRAPH, np.ones(1), 0.9), "with_slots"),
    (lambda: StageProblem(MODEL, R_H[:0], 0.9), "rewards"),
    (lambda: RunSpec(redraw_constant="yes"), "redraw_constant"), (lambda: RunSpec(layout_name=5), "layout_name"),
])
def test_a_bad_field_is_refused_as_the_value_is_made(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def _no_work(monkeypatch):
    from multipower.learned import training

    monkeypatch.setattr(training, "train_chunks", lambda *a, **k: pytest.fail("training started"))


def test_entry_points_refuse_the_wrong_kind_of_value_before_any_work(monkeypatch, tmp_path):
    from multipower.agents.qlearning import train_q
    from multipower.exact.graph_pairs import joint_graph_power
    from multipower.exact.single import graph_power
    from multipower.learned.compare import compare, compare_agents
    from multipower.learned.estimator import estimate_power
    from multipower.learned.training import train_agents
    from multipower.repro.experiments import run_experiment

    _no_work(monkeypatch)
    problem = TwoStageProblem(MODEL, R_H, R_A, 0.9)
    policy = np.broadcast_to(np.eye(5)[4], (MODEL.n_states, 5))
    spec = RunSpec("grid3x3", collision="crash", n_samples=2)
    cases = [
        (lambda: compare(spec, rollouts="x"), "rollouts"),
        (lambda: compare(spec, execution={"jobs": 1}), "execution"),
        (lambda: compare(spec, store="x"), "store"),
        (lambda: compare(agents=5), "agents"),
        (lambda: train_agents("qlearning", problem, options="abc"), "options"),
        (lambda: train_agents("qlearning", problem, store="x"), "store"),
        (lambda: train_agents("qlearning", problem, tensorboard=5), "tensorboard"),
        (lambda: train_agents("qlearning", problem, reference="x"), "reference"),
        (lambda: train_q(problem.stage("H"), config={}), "config"),
        (lambda: train_q(problem.stage("H"), seed=1.5), "seed"),
        (lambda: train_q(problem.stage("H"), progress="yes"), "progress"),
        (lambda: graph_power({}, 0.9), "mdp"),
        (lambda: joint_graph_power(load_graph_mdp("figure1"), 0.9), "graph"),
        (lambda: estimate_power(problem, policy, policy, config="x"), "config"),
        (lambda: estimate_power(problem, policy, policy, exact_eval="no"), "exact_eval"),
        (lambda: compare_agents(problem, policy, policy, tensorboard=5), "tensorboard"),
        (lambda: run_experiment(5), "config"),
        (lambda: run_experiment("beyond-stay-seed", 2, solver="x", storage=Storage(tmp_path / "r")), "solver"),
        (lambda: run_experiment("beyond-stay-seed", 2, figures="no", storage=Storage(tmp_path / "r")), "figures"),
        (lambda: run_experiment("beyond-stay-seed", 2, execution={"jobs": 1}), "execution"),
        (lambda: run_experiment("beyond-stay-seed", 2, storage=Storage(tmp_path / "r", files={"a.txt": "x"})),
         "storage.files"),
    ]
    for call, name in cases:
        with pytest.raises(ValueError, match=name):
            call()
    assert not (tmp_path / "r").exists()  # refused before the reproduction's folder was made


def test_a_saved_result_writes_extra_files_inside_its_folder_only(tmp_path):
    from multipower.runs.results import PowerResult

    result = PowerResult("single", np.array([[0, 0]]), {"power": np.zeros(1), "power_se": np.zeros(1)}, {}, {}, {})
    with pytest.raises(ValueError, match="not a plain file name"):
        result.save(tmp_path / "run", files={"../evil.txt": "x"})
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "run").exists()
