"""Joint MDP graphs in POWERplay's format: read, written, and solved exactly.

Checked against the layout solver on exported layouts (same reward draws), against brute force on a hand-made
corridor with a forbidden action, and against single-agent POWER on the graph with A's seed moves folded in.
"""

import time

import numpy as np
import pytest

from multipower.cli import main
from multipower.envs.graph_mdp import GraphMDP, parse_graph_mdp
from multipower.envs.joint_graph import (
    joint_graph_text,
    load_joint_graph,
    load_policy_graph,
    parse_joint_graph,
    policy_graph_text,
)
from multipower.envs.model import joint_model
from multipower.envs.policies import seed_policy_table
from multipower.exact.graph_pairs import joint_graph_power
from multipower.exact.joint_graph import solve_joint_graph
from multipower.exact.power import exact_power
from multipower.exact.solver import POWER_TOL, power_from_next, solve_mdp, solve_pairs
from multipower.runs.results import PowerResult
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution
from multipower.envs.rewards import RewardDraws
from multipower.runs.spec import RunSpec

FIELDS = ("W_H", "W_A", "W_H_seed", "W_A_seed")


@pytest.mark.parametrize("rule, slip", [("none", 0.0), ("crash", 0.0), ("bounce", 0.0), ("none", 0.2),
                                        ("bounce", 0.1)])
def test_an_exported_layout_solves_as_the_layout(rule, slip):
    model = joint_model("grid3x3", rule, slip=slip)
    graph = parse_joint_graph(joint_graph_text(model))
    names = [f"[({h[0]}, {h[1]})_H^({a[0]}, {a[1]})_A]" for h, a in
             zip(model.layout.cells[model.joint_cells[:, 0]], model.layout.cells[model.joint_cells[:, 1]])]
    assert list(graph.states) == names  # the layout model's joint-state order
    rng = np.random.default_rng(1)
    R_H, R_A = rng.random((12, model.n_states)), rng.random((12, model.n_states))
    for gamma in (0.5, 0.95):
        a = solve_pairs(TwoStageProblem(model, R_H, R_A, gamma, gamma))
        b = solve_joint_graph(TwoStageProblem(graph, R_H, R_A, gamma, gamma))
        for field in FIELDS:  # each within its certificate of the truth
            diff = power_from_next(getattr(a, field), gamma) - power_from_next(getattr(b, field), gamma)
            assert np.abs(diff).max() <= 2 * POWER_TOL


def test_a_problem_on_a_joint_graph_goes_to_the_graph_solver():
    graph = parse_joint_graph(joint_graph_text(joint_model("grid3x3", "crash")))
    R_H, R_A = np.random.default_rng(2).random((2, 3, graph.n_states))
    problem = TwoStageProblem(graph, R_H, R_A, 0.9, 0.8)
    assert solve_joint_graph(problem).V_H.shape == (3, graph.n_states)
    with pytest.raises(ValueError, match="solve it with multipower.exact.joint_graph.solve_joint_graph"):
        solve_pairs(problem)


def test_the_seed_policy_graph_round_trips():
    model = joint_model("grid3x3", "crash")
    table = seed_policy_table(model, "stay") * 0.5 + seed_policy_table(model) * 0.5
    graph = parse_joint_graph(joint_graph_text(model))
    path_text = policy_graph_text(model, table)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.gv"
        path.write_text(path_text)
        np.testing.assert_allclose(load_policy_graph(path, graph), table, atol=1e-15)


def _corridor_text() -> str:
    """POWERplay's 1×3 test case: H may not stay while A is at the far right; both may share a cell."""
    cells = [(0, 0), (0, 1), (0, 2)]
    moves = {"stay": 0, "left": -1, "right": 1}
    lines = ["digraph corridor {"]
    for h in cells:
        for a in cells:
            state = f"[{h}_H^{a}_A]"
            for mh, dh in moves.items():
                if not 0 <= h[1] + dh <= 2 or (mh == "stay" and a[1] == 2):
                    continue
                for ma, da in moves.items():
                    if not 0 <= a[1] + da <= 2:
                        continue
                    act = f"[{mh}_H^{ma}_A]__{state}"
                    nxt = f"[{(0, h[1] + dh)}_H^{(0, a[1] + da)}_A]"
                    lines.append(f'"{state}" -> "{act}"; "{act}" -> "{nxt}__{act}" [weight=1];')
    return "\n".join(lines + ["}"])


def _brute(graph, R_H, R_A, gamma, seed):
    """Two-stage POWER by policy iteration with dense linear solves on the graph's arrays."""
    S, nH, nA, K = graph.next_state.shape
    P = np.zeros((S, nH, nA, S + 1))
    np.add.at(P, (np.arange(S)[:, None, None, None], np.arange(nH)[None, :, None, None],
                  np.arange(nA)[None, None, :, None], graph.next_state), graph.prob)
    P = P[..., :S]

    def optimise(T, R, mask):  # T (S, own, S)
        pol = mask.argmax(1)
        while True:
            V = np.linalg.solve(np.eye(S) - gamma * T[np.arange(S), pol], R)
            Q = np.where(mask, R[:, None] + gamma * T @ V, -np.inf)
            best = np.isclose(Q, Q.max(1, keepdims=True), atol=1e-12, rtol=0)
            if best[np.arange(S), pol].all():
                return best / best.sum(1, keepdims=True)
            pol = Q.argmax(1)

    pol_H = optimise(np.einsum("shat,sa->sht", P, seed), R_H, graph.action_mask_H)
    pol_A = optimise(np.einsum("shat,sh->sat", P, pol_H), R_A, graph.action_mask_A)
    joint = np.einsum("shat,sh,sa->st", P, pol_H, pol_A)
    W_H = joint @ np.linalg.solve(np.eye(S) - gamma * joint, R_H)
    W_A = joint @ np.linalg.solve(np.eye(S) - gamma * joint, R_A)
    return (1 - gamma) * W_H, (1 - gamma) * W_A, pol_H


def test_a_forbidden_action_against_brute_force_and_the_folded_single_agent_graph():
    graph = parse_joint_graph(_corridor_text())
    stay = graph.actions_H.index("stay")
    assert not graph.action_mask_H[[i for i, s in enumerate(graph.states) if s.endswith("(0, 2)_A]")], stay].any()
    seed = np.zeros(graph.action_mask_A.shape)
    seed[np.arange(graph.n_states), np.where(graph.action_mask_A[:, graph.actions_A.index("left")],
                                             graph.actions_A.index("left"), graph.actions_A.index("stay"))] = 1.0
    rng = np.random.default_rng(2)
    R_H, R_A = rng.random((6, graph.n_states)), rng.random((6, graph.n_states))
    gamma = 0.8
    sol = solve_joint_graph(TwoStageProblem(graph, R_H, R_A, gamma, gamma, seed_policy=seed))
    for k in range(6):
        power_H, power_A, pol_H = _brute(graph, R_H[k], R_A[k], gamma, seed)
        assert np.abs(power_from_next(sol.W_H[k], gamma) - power_H).max() <= POWER_TOL
        assert np.abs(power_from_next(sol.W_A[k], gamma) - power_A).max() <= POWER_TOL
        np.testing.assert_array_equal(sol.policy_H[k] > 0, pol_H > 0)
    # H against the seed is a single-agent MDP once A's (deterministic) seed moves are folded into H's transitions.
    S, nH, nA, K = graph.next_state.shape
    folded_next = np.einsum("sa,shak->shk", seed, graph.next_state.astype(float)).round().astype(np.int64)
    first = folded_next[np.arange(S), graph.action_mask_H.argmax(1)][:, None]  # GraphMDP pads with action 0's
    folded = GraphMDP("folded", graph.states, np.array(graph.actions_H, dtype=object)[None].repeat(S, 0),
                      graph.action_mask_H, np.where(graph.action_mask_H[..., None], folded_next, first),
                      np.ones((S, nH, 1)), True, "")
    single = solve_mdp(folded, R_H, gamma)
    np.testing.assert_allclose(power_from_next(single.W, gamma), power_from_next(sol.W_H_seed, gamma),
                               atol=2 * POWER_TOL)


def test_the_cli_solves_an_exported_layout_to_the_layout_run(tmp_path, capsys):
    graph_file = tmp_path / "maze.gv"
    assert main(["export-mdp", "--layout", "grid3x3", "--joint", "--collision", "crash", "--out", str(graph_file),
                 "--policy-out", str(tmp_path / "seed.gv")]) == 0
    assert main(["exact", "--mdp", str(graph_file), "--seed-policy", str(tmp_path / "seed.gv"), "--gamma", "0.7",
                 "--samples", "64", "--out", str(tmp_path / "graph"), "--no-progress"]) == 0
    graph_run = PowerResult.load(tmp_path / "graph")
    layout_run = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.7, n_samples=64, collision="crash"), execution=Execution(progress=False)
    )
    assert graph_run.kind == "joint_graph" and graph_run.labels[0, 0] == "[(0, 0)_H^(0, 1)_A]"
    for column in ("power_H", "power_A", "power_H_seed", "power_A_seed"):
        np.testing.assert_allclose(graph_run.arrays[column], layout_run.arrays[column], atol=2 * POWER_TOL)
    assert abs(graph_run.stats["alpha"] - layout_run.stats["alpha"]) < 1e-3
    # resumes: a rerun solves nothing and changes nothing
    before = (tmp_path / "graph" / "power.csv").read_bytes()
    assert main(["exact", "--mdp", str(graph_file), "--seed-policy", str(tmp_path / "seed.gv"), "--gamma", "0.7",
                 "--samples", "64", "--out", str(tmp_path / "graph"), "--no-progress"]) == 0
    assert (tmp_path / "graph" / "power.csv").read_bytes() == before


def test_results_do_not_depend_on_jobs_or_chunks():
    graph = parse_joint_graph(joint_graph_text(joint_model("grid3x3", "crash")))
    one = joint_graph_power(graph, 0.9, rewards=RewardDraws(n_samples=40), execution=Execution(jobs=1, progress=False))
    two = joint_graph_power(
        graph, 0.9, rewards=RewardDraws(n_samples=40), execution=Execution(jobs=2, chunk_size=3, progress=False)
    )
    for column in one.arrays:
        np.testing.assert_array_equal(one.arrays[column], two.arrays[column])


def test_a_graph_of_the_size_of_powerplays_maze_reads_in_seconds(tmp_path):
    """POWERplay's joint_7x7_gridworld_maze_no_overlaps.gv is 2.5 MB (17,768 edges); maze7x7 without collisions
    is the same world with overlaps, a larger file."""
    text = joint_graph_text(joint_model("maze7x7", "none"))
    assert len(text) > 2_500_000
    path = tmp_path / "maze.gv"
    path.write_text(text)
    start = time.perf_counter()
    graph = load_joint_graph(path)
    assert time.perf_counter() - start < 10.0
    assert graph.n_states == 961


BAD_GRAPHS = {
    "not a joint action": ('digraph { "s" -> "[right]__s"; "[right]__s" -> "s__[right]__s" [weight=1]; '
                           '"s" -> "[stay_H^stay_A]__s"; "[stay_H^stay_A]__s" -> "s__[stay_H^stay_A]__s" [weight=1] }',
                           'action node "[right]__s" cannot be split into H\'s and A\'s actions'),
    "greedy split": ('digraph { "s" -> "[a_H^b_H^c_A]__s"; "[a_H^b_H^c_A]__s" -> "s__[a_H^b_H^c_A]__s" [weight=1] }',
                     'action node "[a_H^b_H^c_A]__s" cannot be split'),
    "swapped parts": ('digraph { "s" -> "[stay_A^stay_H]__s"; "[stay_A^stay_H]__s" -> "s__[stay_A^stay_H]__s" '
                      '[weight=1] }', 'action node "[stay_A^stay_H]__s" cannot be split'),
}


@pytest.mark.parametrize("case", sorted(BAD_GRAPHS))
def test_a_bad_joint_graph_is_one_line(case):
    from multipower.envs.graph_mdp import parse_graph_mdp as parse
    from multipower.envs.joint_graph import is_joint_graph

    text, message = BAD_GRAPHS[case]
    assert is_joint_graph(parse(text))  # meant as joint: refused as such, never read as a single-agent graph
    with pytest.raises(ValueError) as error:
        parse_joint_graph(text)
    assert message in str(error.value) and "\n" not in str(error.value)


def _policy(tmp_path, body: str):
    path = tmp_path / "policy.gv"
    path.write_text("digraph {" + body + "}")
    return path


@pytest.mark.parametrize("body, message", [
    ('"x" -> "[left]__x" [weight=1];', 'state "x" is not a state of the MDP'),
    ('"[(0, 0)_H^(0, 0)_A]" -> "[stay]__[(0, 0)_H^(0, 0)_A]" [weight=0.5];',
     r'the weights of state "\[\(0, 0\)_H\^\(0, 0\)_A\]" sum to 0.5'),
    ('"[(0, 0)_H^(0, 0)_A]" -> "[up]__[(0, 0)_H^(0, 0)_A]" [weight=1];', "'up', which the MDP does not give agent A"),
    ('"[(0, 0)_H^(0, 0)_A]" -> "[left]__[(0, 0)_H^(0, 0)_A]" [weight=2];', "weights are probabilities"),
    ('"[(0, 0)_H^(0, 0)_A]" -> "left__x";', "a policy edge leads from a state"),
])
def test_a_bad_policy_graph_is_one_line(tmp_path, body, message):
    graph = parse_joint_graph(_corridor_text())
    with pytest.raises(ValueError, match=message) as error:
        load_policy_graph(_policy(tmp_path, body), graph)
    assert "\n" not in str(error.value) and str(error.value).startswith("seed_policy: ")


def test_a_zero_weight_on_an_action_the_mdp_lacks_is_ignored(tmp_path):
    graph = parse_joint_graph(_corridor_text())
    body = "".join(f'"{s}" -> "[stay]__{s}" [weight=1]; "{s}" -> "[up]__{s}" [weight=0];' for s in graph.states)
    table = load_policy_graph(_policy(tmp_path, body), graph)
    assert (table[:, graph.actions_A.index("stay")] == 1).all()


def test_cli_refusals_are_one_line(tmp_path, capsys):
    single = tmp_path / "single.gv"
    single.write_text(parse_graph_mdp("digraph { a -> a }").text)
    joint = tmp_path / "joint.gv"
    joint.write_text(_corridor_text())
    cases = [
        (["exact", "--mdp", str(single), "--gamma", "0.5", "--out", str(tmp_path / "o1")], "add --single"),
        (["exact", "--mdp", str(joint), "--single", "--gamma", "0.5", "--out", str(tmp_path / "o2")],
         "--single does not apply"),
        (["exact", "--mdp", str(joint), "--collision", "crash", "--gamma", "0.5", "--out", str(tmp_path / "o3")],
         "--collision does not apply to --mdp"),
        (["exact", "--mdp", str(joint), "--seed-policy", "x.txt", "--gamma", "0.5", "--out", str(tmp_path / "o4")],
         "--seed-policy: for a joint graph"),
        (["export-mdp", "--layout", "grid3x3", "--joint", "--collision", "crash", "--slip", "0.1", "--out",
          str(tmp_path / "x.gv")], "cannot be written as a joint graph"),
    ]
    for args, message in cases:
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
        assert not (tmp_path / "o1").exists()


def test_an_edited_export_with_an_unavailable_first_action_against_brute_force():
    """H may not stay while A is in the corner: stay (slot 0) is then unavailable, which the solver's maximum over
    all slots must not see (unavailable slots repeat an available action's backup)."""
    import re

    text = joint_graph_text(joint_model("grid3x3", "none"))
    forbidden = re.compile(r"\[stay_H\^[a-z]+_A\]__\[\(\d, \d\)_H\^\(2, 2\)_A\]")
    graph = parse_joint_graph("\n".join(line for line in text.splitlines() if not forbidden.search(line)))
    corner = [i for i, s in enumerate(graph.states) if s.endswith("(2, 2)_A]")]
    assert not graph.action_mask_H[corner, 0].any() and graph.action_mask_H[corner].any(1).all()
    rng = np.random.default_rng(3)
    R_H, R_A = rng.random((4, graph.n_states)) - 0.5, rng.random((4, graph.n_states)) - 0.5  # negative values too
    seed = graph.action_mask_A / graph.action_mask_A.sum(1, keepdims=True)
    sol = solve_joint_graph(TwoStageProblem(graph, R_H, R_A, 0.9, 0.9))
    for k in range(4):
        power_H, power_A, _ = _brute(graph, R_H[k], R_A[k], 0.9, seed)
        assert np.abs(power_from_next(sol.W_H[k], 0.9) - power_H).max() <= POWER_TOL
        assert np.abs(power_from_next(sol.W_A[k], 0.9) - power_A).max() <= POWER_TOL


def test_plot_draws_the_alignment_of_a_graph_without_cells(tmp_path, capsys):
    graph = tmp_path / "named.gv"
    text = _corridor_text()  # the corridor with its states renamed: no grid to draw heat maps on
    for i, state in enumerate(parse_joint_graph(text).states):
        text = text.replace(state, f"state{i}")
    graph.write_text(text)
    assert main(["exact", "--mdp", str(graph), "--gamma", "0.6", "--samples", "50", "--out", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "alignment.png").is_file() and not (tmp_path / "run" / "heatmap_H.png").exists()
