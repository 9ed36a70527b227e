"""``compare --single``: Q-learning's greedy policies on one agent's MDP, evaluated on the model, against exact.

Independent checks: the policy evaluation against closed forms and against the exact solver's optimum (to
1e-9, the solver run to 1e-12), the exact column against the sample-block runners (``graph_power``,
``single_agent_power``), and learned ≤ exact, which holds for any policy."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from multipower.envs.graph_mdp import layout_to_dot, load_graph_mdp, parse_graph_mdp
from multipower.envs.rewards import RewardSampler
from multipower.runs import rundir
from multipower.cli import main
from multipower.learned.single import compare_single, greedy_policy, optimal_everywhere, policy_power
from multipower.exact.single import graph_power, single_agent_power
from multipower.exact.solver import POWER_TOL, solve_mdp
from multipower.runs.execution import Execution
from multipower.envs.rewards import RewardDraws

FIXTURES = Path(__file__).resolve().parents[2] / "envs" / "graphs"  # the packaged example graphs
FIGURE1 = FIXTURES / "figure1.gv"


def _rewards(mdp, K, seed=0):
    return RewardSampler(mdp.n_states, seed=seed).pairs(0, K)[0]


@pytest.mark.parametrize("source, gamma", [("figure1", 0.9), ("three_states", 0.3), ("slip", 0.6), ("slip", 0.99)])
def test_evaluating_the_exact_optimal_policy_gives_exact_power(source, gamma):
    mdp = parse_graph_mdp(layout_to_dot("grid3x3", slip=0.2)) if source == "slip" \
        else load_graph_mdp(FIXTURES / f"{source}.gv")
    R = _rewards(mdp, 16, seed=4)
    solved = solve_mdp(mdp, R, gamma, power_tol=1e-12)
    np.testing.assert_allclose(policy_power(mdp, solved.policy, R, gamma), (1 - gamma) * solved.W, rtol=0, atol=1e-9)


def test_policy_power_matches_closed_forms():
    """three_states: a -go-> b (1/4) or c (3/4), a -wait-> a; b stays; c -back-> a."""
    mdp = load_graph_mdp(FIXTURES / "three_states.gv")
    g = 0.7
    R = _rewards(mdp, 5, seed=2)
    a, b, c = R.T
    wait = np.zeros((5, 3, 2))
    wait[:, 0, 1] = wait[:, 1, 0] = wait[:, 2, 0] = 1.0
    # always waiting at a: a and c see a's reward forever, b its own
    np.testing.assert_allclose(policy_power(mdp, wait, R, g), np.stack([a, b, a], 1), atol=1e-12)
    go = np.zeros((5, 3, 2))
    go[:, :, 0] = 1.0
    V_a = (a + 0.25 * g * b / (1 - g) + 0.75 * g * c) / (1 - 0.75 * g * g)
    power_a = (1 - g) * (0.25 * b / (1 - g) + 0.75 * (c + g * V_a))
    np.testing.assert_allclose(policy_power(mdp, go, R, g), np.stack([power_a, b, (1 - g) * V_a], 1), atol=1e-12)


def test_policy_power_refuses_bad_policies():
    mdp = load_graph_mdp(FIXTURES / "three_states.gv")
    R = _rewards(mdp, 2)
    padded = np.zeros((2, 3, 2))
    padded[:, :, 1] = 1.0  # b and c have one action: slot 1 is padding
    with pytest.raises(ValueError, match="available actions"):
        policy_power(mdp, padded, R, 0.5)
    with pytest.raises(ValueError, match="policy must have shape"):
        policy_power(mdp, np.ones((2, 3, 1)), R, 0.5)


def test_greedy_policy_splits_exact_ties_and_skips_unavailable_slots():
    q = np.array([[[1.0, 1.0, -np.inf], [0.5, 2.0, 1.0]]])
    policy = greedy_policy(q, np.ones((1, 2)), 0.5)
    np.testing.assert_array_equal(policy, [[[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]])
    assert optimal_everywhere(policy, np.array([[[1.0, 0, 0], [0, 1, 0]]])).tolist() == [False]
    assert optimal_everywhere(policy, np.array([[[0.5, 0.5, 0], [0, 1, 0]]])).tolist() == [True]


@pytest.mark.parametrize("world, gamma, steps", [({"mdp": "figure1"}, 0.9, 4000), ({"layout": "grid3x3"}, 0.6, 3000)])
def test_learned_power_is_within_tolerance_of_exact(world, gamma, steps):
    """The documented tolerance (docs/graphs.md#learning): learned policies optimal on most samples, and mean
    |learned − exact| ≤ 0.01, the worst state within 4 paired standard errors of that."""
    if "mdp" in world:
        world = {"mdp": load_graph_mdp(FIGURE1)}
    K = 12
    cmp = compare_single(gamma=gamma, rewards=RewardDraws(K, seed=1), options={"n_steps": steps}, **world)
    m = cmp.metrics
    assert m["optimal_policy_fraction"] >= 0.8
    assert m["mean_abs_error"] <= 0.01 and m["max_abs_error"] <= 0.01 + 4 * m["max_difference_se"]
    assert m["pearson"] >= 0.99
    assert np.all(cmp.column("difference") <= POWER_TOL)  # no policy beats the optimum
    np.testing.assert_allclose(cmp.column("difference"), cmp.column("learned") - cmp.column("exact"), atol=1e-15)
    # the exact column is the sample-block runner's result on the same reward samples
    if "layout" in world:
        assert cmp.result.labels[:3, 0].tolist() == ["(0, 0)", "(0, 1)", "(0, 2)"]
        direct = single_agent_power(
            "grid3x3", gamma, rewards=RewardDraws(n_samples=K, seed=1), execution=Execution(progress=False)
        )
        np.testing.assert_allclose(cmp.column("exact"), direct.power, atol=2 * POWER_TOL)
    else:
        direct = graph_power(
            world["mdp"], gamma, rewards=RewardDraws(n_samples=K, seed=1), execution=Execution(progress=False)
        )
        np.testing.assert_allclose(cmp.column("exact"), direct.power, atol=1e-12)
    np.testing.assert_allclose(cmp.column("exact_se"), direct.power_se, atol=2 * POWER_TOL)


def test_undertrained_policies_lose_power_and_are_flagged():
    mdp = load_graph_mdp(FIGURE1)
    cmp = compare_single(mdp, 0.9, rewards=RewardDraws(12), options={"n_steps": 3, "walkers": 1})
    assert cmp.metrics["optimal_policy_fraction"] < 0.5
    # significantly below the optimum at several states (paired standard errors)
    assert np.sum(cmp.column("difference") < -3 * cmp.column("difference_se")) >= 3
    assert np.all(cmp.column("difference") <= POWER_TOL)


def test_cli_writes_the_files_and_plot_redraws(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--single", "--mdp", str(FIGURE1), "--gamma", "0.9", "--samples", "6", "--seed", "2",
                 "--option", "n_steps=1500", "--out", str(out)]) == 0
    assert "learned policy optimal on" in capsys.readouterr().out
    with open(out / "power.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["state", "learned", "learned_se", "exact", "exact_se", "difference", "difference_se"]
    assert [r[0] for r in rows[1:]] == list(load_graph_mdp(FIGURE1).states)
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["samples"] == 6 and summary["config"]["learner_options"]["n_steps"] == 1500
    exact = np.array([float(r[3]) for r in rows[1:]])
    assert summary["max_abs_error"] == pytest.approx(np.abs([float(r[5]) for r in rows[1:]]).max())
    np.testing.assert_allclose(
        exact,
        graph_power(
            load_graph_mdp(FIGURE1), 0.9, rewards=RewardDraws(n_samples=6, seed=2), execution=Execution(progress=False)
        ).power,
        atol=1e-12,
    )
    manifest = rundir.read_manifest(out)
    assert manifest["kind"] == "compare_single"
    assert set(manifest["files"]) == {"power.csv", "summary.json", "comparison.json", "comparison.png"}
    assert main(["plot", str(out)]) == 0
    assert (out / "learned_vs_exact.png").stat().st_size > 10_000 and (out / "power_learned.png").is_file()
    assert rundir.check_files(out) == ""  # redrawing leaves the saved files as their manifest lists them


def test_cli_reruns_its_own_configuration_and_asks_before_replacing_another(tmp_path, capsys):
    out = tmp_path / "grid"
    argv = ["compare", "--single", "--layout", "grid3x3", "--samples", "3", "--option", "n_steps=300", "--no-figure",
            "--out", str(out)]
    assert main(argv) == 0 and main(argv) == 0  # the same configuration: a rerun
    before = (out / "power.csv").read_bytes()
    capsys.readouterr()
    other = [*argv[:-2], "--gamma", "0.7", "--out", str(out)]
    assert main(other) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"multipower compare: error: --out: {out} holds a run of another configuration; use --overwrite "
                   f"to replace it, or another --out")
    assert (out / "power.csv").read_bytes() == before
    assert main([*other, "--overwrite"]) == 0
    assert json.loads((out / "comparison.json").read_text())["config"]["gamma"] == 0.7


def test_cli_layout_labels_states_by_cell(tmp_path):
    out = tmp_path / "grid"
    assert main(["compare", "--single", "--layout", "grid3x3", "--samples", "4", "--option", "n_steps=500",
                 "--no-figure", "--out", str(out)]) == 0
    with open(out / "power.csv", newline="") as f:
        assert next(csv.reader(f)) and next(csv.reader(f))[0] == "(0, 0)"
    assert not (out / "comparison.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--single"], "--single needs one world: --mdp FILE.gv or --layout L"),
    (["--single", "--mdp", "F", "--layout", "grid3x3"], "give --layout or --mdp, not both"),
    (["--mdp", "figure1"], "is a single-agent graph"),
    (["--single", "--mdp", "F", "--collision", "none"], "--collision does not apply to compare --single"),
    (["--single", "--layout", "grid3x3", "--correlation", "0.5"], "--correlation does not apply"),
    (["--single", "--layout", "grid3x3", "--gamma-a", "0.5"], "--gamma-a does not apply"),
    (["--single", "--layout", "grid3x3", "--seed-policy", "stay"], "--seed-policy does not apply"),
    (["--single", "--layout", "grid3x3", "--agents", "x"], "--agents does not apply"),
    (["--single", "--layout", "grid3x3", "--restart"], "--restart does not apply"),
    (["--single", "--layout", "grid3x3", "--algo", "ppo"], "--algo ppo: compare --single learns by tabular Q"),
    (["--single", "--mdp", "F", "--option", "min_visits=5"], "--option min_visits: not a single-agent Q-learning "
                                                               "setting; allowed: n_steps, walkers, episode_length"),
    (["--single", "--mdp", "F", "--option", "walkers=0"], "--option walkers must be a positive integer, got 0"),
    (["--single", "--mdp", "F", "--gamma", "1.5"], "--gamma must be in the open interval (0, 1)"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, argv, message):
    argv = [str(FIGURE1) if a == "F" else a for a in argv]
    out = tmp_path / "never"
    assert main(["compare", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("multipower compare: error: ") and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_cli_layout_with_slip_compares_on_the_slipping_graph(tmp_path):
    out = tmp_path / "slip"
    assert main(["compare", "--single", "--layout", "grid3x3", "--slip", "0.3", "--samples", "3", "--option",
                 "n_steps=300", "--no-figure", "--out", str(out)]) == 0
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["config"]["slip"] == 0.3
    exact = compare_single(layout="grid3x3", slip=0.3, gamma=0.6, rewards=RewardDraws(3), options={"n_steps": 300})
    with open(out / "power.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_allclose([float(r["exact"]) for r in rows], exact.column("exact"), atol=1e-12)
    deterministic = compare_single(layout="grid3x3", gamma=0.6, rewards=RewardDraws(3), options={"n_steps": 300})
    assert np.abs(deterministic.column("exact") - exact.column("exact")).max() > 10 * POWER_TOL


def test_a_rerun_without_the_figure_removes_the_earlier_one(tmp_path):
    out = tmp_path / "grid"
    argv = ["compare", "--single", "--layout", "grid3x3", "--samples", "2", "--option", "n_steps=200", "--out", str(out)]
    assert main(argv) == 0 and (out / "comparison.png").is_file()
    assert main([*argv, "--no-figure"]) == 0
    assert not (out / "comparison.png").exists()
    assert rundir.check_files(out) == "" and "comparison.png" not in rundir.read_manifest(out)["files"]


@pytest.mark.parametrize("power_tol", [-1, 0, float("nan"), "x", 1.0])
def test_power_tol_is_checked_before_any_work(power_tol):
    from multipower.learned.single import plan_single

    with pytest.raises(ValueError, match="power_tol must be a number in"):
        plan_single(layout="grid3x3", power_tol=power_tol)
