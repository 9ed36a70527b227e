"""Exact POWER on MDP graphs (multipower.exact.single.graph_power, solver.solve_mdp) against independent results: the
layout solver, a dense brute-force computation, analytic values, a hand-solved graph, the ordering stated for
Figure 1 of "Optimal policies tend to seek power"; POWERplay's own files; the CLI and the figure."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from multipower.envs.graph_mdp import layout_to_dot, load_graph_mdp, parse_graph_mdp
from multipower.envs.layouts import load_layout
from multipower.envs.rewards import RewardSampler
from multipower.envs.slip import slip_matrix
from multipower.cli import main
from multipower.exact.single import graph_power, single_agent_power
from multipower.runs.results import PowerResult
from multipower.exact.solver import POWER_TOL, power_from_next, solve_mdp
from multipower.runs.execution import Execution
from multipower.envs.rewards import RewardDraws

FIXTURES = Path(__file__).resolve().parents[2] / "envs" / "graphs"  # the packaged example graphs
#: POWERplay's own graph files (mdp_from_paper.gv, petersen_graph.gv, stochastic_graph_4_states.gv) are not
#: shipped; point MULTIPOWER_POWERPLAY_MDPS at a folder holding them to run the interop test.
POWERPLAY = Path(os.environ.get("MULTIPOWER_POWERPLAY_MDPS", "/nonexistent"))


def brute_force_power(P: np.ndarray, mask: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Per-sample POWER from dense ``P[s, a, s']``: value iteration to convergence, the optimal policy uniform
    over tied actions, its exact value by ``numpy.linalg.solve``, then ``(1 - γ)·P_π V``."""
    n = P.shape[0]
    out = np.empty_like(R)
    for i, r in enumerate(R):
        V = r / (1 - gamma)
        for _ in range(100_000):
            E = np.where(mask, P @ V, -np.inf)
            V_new = r + gamma * E.max(1)
            if np.abs(V_new - V).max() < 1e-13:
                break
            V = V_new
        E = np.where(mask, P @ V_new, -np.inf)
        tied = E >= E.max(1, keepdims=True) - 1e-9
        pi = tied / tied.sum(1, keepdims=True)
        P_pi = np.einsum("sa,sat->st", pi, P)
        V_pi = np.linalg.solve(np.eye(n) - gamma * P_pi, r)
        out[i] = (1 - gamma) * P_pi @ V_pi
    return out


def solved(mdp, R, gamma):
    return power_from_next(solve_mdp(mdp, R, gamma).W, gamma)


@pytest.mark.parametrize("layout,gamma", [("grid3x3", 0.6), ("maze7x7", 0.95)])
def test_deterministic_graph_of_a_layout_matches_the_layout_solver(layout, gamma):
    mdp = parse_graph_mdp(layout_to_dot(layout))
    a = graph_power(mdp, gamma, rewards=RewardDraws(n_samples=200, seed=5), execution=Execution(progress=False))
    b = single_agent_power(
        layout, gamma, rewards=RewardDraws(n_samples=200, seed=5), execution=Execution(progress=False)
    )
    assert np.abs(a.power - b.power).max() <= 2 * POWER_TOL
    assert a.labels[:, 0].tolist() == ["(%d, %d)" % tuple(c) for c in b.labels]


@pytest.mark.parametrize("gamma", [0.3, 0.9])
def test_layout_with_slip_matches_a_dense_brute_force(gamma):
    grid = load_layout("grid3x3")
    mdp = parse_graph_mdp(layout_to_dot(grid, 0.2))
    # the dense model built from the layout and the slip rule directly, not from the graph
    moves, mask = grid.move_table(), grid.action_mask()
    S = slip_matrix(mask, 0.2)
    n = grid.n_cells
    P = np.zeros((n, 5, n))
    for c in range(n):
        for a in range(5):
            np.add.at(P[c, a], moves[c], S[c, a])
    R = RewardSampler(n, seed=1).pairs(0, 30)[0]
    assert np.abs(solved(mdp, R, gamma) - brute_force_power(P, mask, R, gamma)).max() <= POWER_TOL


@pytest.mark.parametrize("layout,slip,gamma", [("grid3x3", 0.2, 0.6), ("maze7x7", 0.1, 0.9)])
def test_layout_exported_with_slip_matches_the_layout_solver_with_slip(layout, slip, gamma):
    """Two independent routes: the graph file's transition weights and the solver's own slip tables."""
    mdp = parse_graph_mdp(layout_to_dot(layout, slip))
    a = graph_power(mdp, gamma, rewards=RewardDraws(n_samples=100, seed=2), execution=Execution(progress=False))
    b = single_agent_power(
        layout, gamma, rewards=RewardDraws(n_samples=100, seed=2), slip=slip, execution=Execution(progress=False)
    )
    assert np.abs(a.power - b.power).max() <= 2 * POWER_TOL
    deterministic = single_agent_power(
        layout, gamma, rewards=RewardDraws(n_samples=100, seed=2), execution=Execution(progress=False)
    )
    assert np.abs(a.power - deterministic.power).max() > 10 * POWER_TOL  # slip matters here


def test_self_loop_only_state_has_power_of_its_own_reward():
    # POWER = (1-γ)·E[V(s')] with s' = s forever: (1-γ)·R/(1-γ) = R per sample, so E[R] = 1/2 under uniform [0, 1]
    mdp = parse_graph_mdp("digraph { s -> s; }")
    R = RewardSampler(1, seed=0).pairs(0, 4000)[0]
    per_sample = solved(mdp, R, 0.8)
    assert np.abs(per_sample - R).max() <= POWER_TOL
    res = graph_power(mdp, 0.8, rewards=RewardDraws(n_samples=4000), execution=Execution(progress=False))
    assert abs(res.power[0] - 0.5) <= 4 * res.power_se[0]


def test_hand_solved_stochastic_graph():
    # R = (a 0, b 1, c 0), γ = 1/2: V(b) = 2, V(a) = γ(¼·2 + ¾·γ V(a)) = 4/13, V(c) = 2/13, so
    # POWER(a) = ½(¼·2 + ¾·2/13) = 4/13, POWER(b) = 1, POWER(c) = ½·4/13 = 2/13.
    mdp = load_graph_mdp(FIXTURES / "three_states.gv")
    out = solve_mdp(mdp, np.array([[0.0, 1.0, 0.0]]), 0.5)
    assert np.allclose(power_from_next(out.W, 0.5)[0], [4 / 13, 1.0, 2 / 13], atol=POWER_TOL)
    assert out.policy[0, 0].tolist() == [1.0, 0.0]  # go beats wait
    R = RewardSampler(3, seed=2).pairs(0, 40)[0]
    assert np.abs(solved(mdp, R, 0.7) - brute_force_power(mdp.transition_matrix(), mdp.action_mask, R, 0.7)).max() <= POWER_TOL


def test_ties_are_uniform_over_tied_actions():
    mdp = parse_graph_mdp("digraph { s -> a; s -> b; a -> a; b -> b; }")
    out = solve_mdp(mdp, np.array([[0.0, 0.4, 0.4]]), 0.9)
    assert out.policy[0, 0].tolist() == [0.5, 0.5]


@pytest.mark.parametrize("gamma", [0.1, 0.5, 0.9, 0.99])
def test_figure_1_ordering(gamma):
    # Turner et al.: r_▷ (two reachable cycles) has more POWER than ℓ_◁, which has more than ∅ (one self-loop);
    # analytically POWER(r_▷) = E[max of 2 uniforms] = 2/3 and POWER(∅) = 1/2 at every γ, per sample exactly.
    mdp = load_graph_mdp(FIXTURES / "figure1.gv")
    R = RewardSampler(mdp.n_states, seed=0).pairs(0, 12000)[0]
    p = solved(mdp, R, gamma)
    i = {s: mdp.index(s) for s in mdp.states}
    assert np.abs(p[:, i["right"]] - R[:, [i["right_up"], i["right_down"]]].max(1)).max() <= POWER_TOL
    assert np.abs(p[:, i["empty"]] - R[:, i["empty"]]).max() <= POWER_TOL
    mean = p.mean(0)
    assert mean[i["right"]] > mean[i["left"]] > mean[i["empty"]]
    diff = p[:, i["right"]] - p[:, i["left"]]  # paired: same rewards
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(len(diff))


@pytest.mark.skipif(not POWERPLAY.is_dir(), reason="set MULTIPOWER_POWERPLAY_MDPS to POWERplay's graph files")
def test_powerplay_files_load_and_solve():
    paper = load_graph_mdp(POWERPLAY / "mdp_from_paper.gv")
    ours = load_graph_mdp(FIXTURES / "figure1.gv")
    R = RewardSampler(8, seed=4).pairs(0, 50)[0]
    assert np.abs(solved(paper, R, 0.9) - solved(ours, R, 0.9)).max() <= 2 * POWER_TOL  # same graph, renamed
    petersen = load_graph_mdp(POWERPLAY / "petersen_graph.gv")
    assert petersen.n_states == 10 and petersen.states[:3] == ("0", "1", "4")
    stochastic = load_graph_mdp(POWERPLAY / "stochastic_graph_4_states.gv")
    assert stochastic.stochastic and stochastic.states == ("[1]", "[2]", "[3]", "[4]")
    for mdp in (petersen, stochastic):
        R = RewardSampler(mdp.n_states, seed=4).pairs(0, 20)[0]
        expected = brute_force_power(mdp.transition_matrix(), mdp.action_mask, R, 0.8)
        assert np.abs(solved(mdp, R, 0.8) - expected).max() <= POWER_TOL


def test_cli_writes_state_labelled_csv_and_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["exact", "--single", "--mdp", str(FIXTURES / "figure1.gv"), "--gamma", "0.9", "--samples", "50",
                 "--no-progress", "--out", str(out)]) == 0
    with open(out / "power.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["state", "power", "power_se"] and [r[0] for r in rows[1:4]] == ["start", "empty", "left"]
    res = PowerResult.load(out)
    direct = graph_power(
        load_graph_mdp(FIXTURES / "figure1.gv"),
        0.9,
        rewards=RewardDraws(n_samples=50),
        execution=Execution(progress=False),
    )
    assert res.kind == "graph" and np.array_equal(res.power, direct.power)
    assert (out / "power.png").stat().st_size > 10_000
    (out / "power.png").unlink()
    assert main(["plot", str(out)]) == 0 and (out / "power.png").is_file()


def test_cli_export_then_exact(tmp_path, capsys):
    path = tmp_path / "g.gv"
    assert main(["export-mdp", "--layout", "grid3x3", "--slip", "0.1", "--out", str(path)]) == 0
    assert load_graph_mdp(path).stochastic
    capsys.readouterr()
    # two sample blocks (1,024 each on 9 states) solved in two threads, each reading the graph as it starts
    argv = ["exact", "--single", "--mdp", str(path), "--gamma", "0.9", "--samples", "2000", "--jobs", "2",
            "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(argv) == 0
    assert f"wrote {tmp_path / 'run'}/power.csv (9 states, 2,000 samples)" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["exact", "--mdp", "F", "--gamma", "0.9"], "is a single-agent graph: add --single"),
    (["exact", "--single", "--mdp", "F", "--layout", "grid3x3", "--gamma", "0.9"], "give --layout or --mdp, not both"),
    (["exact", "--single", "--mdp", "F", "--gamma", "0.9", "--collision", "crash"], "--collision does not apply"),
    (["exact", "--single", "--mdp", "F", "--gamma", "1.5"], "--gamma"),
    (["exact", "--single", "--gamma", "0.9"], "--layout is required"),
    (["export-mdp", "--layout", "grid3x3", "--slip", "-0.1", "--out", "x.gv"], "--slip must be a number in [0, 1]"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    argv = [str(FIXTURES / "figure1.gv") if a == "F" else a for a in argv]
    assert main([*argv, "--out", str(tmp_path / "o")] if argv[0] == "exact" else argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
