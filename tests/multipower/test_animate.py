"""``multipower animate``: greedy rollouts against hand-computed cases and exact policy evaluation, the GIF's
frames, and one-line errors for bad input."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from PIL import Image

from multipower.envs.model import joint_model
from multipower.envs.policies import is_deterministic
from multipower.plots.animation import save_rollout_gif
from multipower.cli import main
from multipower.plots.rollout import greedy_actions, greedy_rollout, optimal_policies
from multipower.exact.solver import evaluate_policies, solve_pairs
from multipower.runs.spec import RunSpec, load_spec, save_spec
from multipower.envs.problem import TwoStageProblem

STAY, UP, DOWN, LEFT, RIGHT = range(5)
GAMMA = 0.6


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small trained run: grid3x3, 3 reward samples, Q-learning with few visits (seconds)."""
    out = tmp_path_factory.mktemp("run") / "q"
    assert main(["train", "--samples", "3", "--jobs", "1", "--no-eval", "--option", "min_visits=10",
                 "--out", str(out)]) == 0
    return out


def _cell_policy(model, agent: str, action_of_cell) -> np.ndarray:
    """``(S, 5)`` deterministic table: the agent takes ``action_of_cell[its cell]``."""
    cells = model.joint_cells[:, 0 if agent == "H" else 1]
    return np.eye(5)[np.asarray(action_of_cell)[cells]]


def _corridor(collision: str, h_actions, a_actions, h: int, a: int, steps: int):
    """A rollout in the 1x3 corridor ``...`` with per-cell actions, rewards ``0.1 * (state + 1)``."""
    model = joint_model("...", collision)
    R_H = 0.1 * (np.arange(model.n_states) + 1.0)
    R_A = R_H[::-1].copy()
    rollout = greedy_rollout(TwoStageProblem(model, R_H, R_A, GAMMA, 0.5), _cell_policy(model, "H", h_actions),
                             _cell_policy(model, "A", a_actions), model.joint_state(h, a), steps)
    return model, R_H, R_A, rollout


def test_hand_computed_corridor_walk():
    # H walks right from cell 0 and stops at the end; A stays on cell 2 (collision none: they may share it).
    model, R_H, R_A, rollout = _corridor("none", [RIGHT, RIGHT, STAY], [STAY] * 3, 0, 2, steps=4)
    visited = [model.joint_state(h, 2) for h in (0, 1, 2, 2, 2)]
    np.testing.assert_array_equal(rollout.states, visited)
    np.testing.assert_array_equal(rollout.cells, [[0, 2], [1, 2], [2, 2], [2, 2], [2, 2]])
    assert [rollout.action_name("H", t) for t in range(5)] == ["right", "right", "stay", "stay", "-"]
    r = R_H[visited]
    expected_H = [r[0], r[0] + 0.6 * r[1], r[0] + 0.6 * r[1] + 0.36 * r[2],
                  r[0] + 0.6 * r[1] + 0.36 * r[2] + 0.216 * r[2], r[0] + 0.6 * r[1] + 0.36 * r[2] + 0.3456 * r[2]]
    np.testing.assert_allclose(rollout.returns_H, expected_H, rtol=1e-12)
    q = R_A[visited]
    np.testing.assert_allclose(rollout.returns_A[-1], q[0] + 0.5 * q[1] + 0.25 * q[2] + 0.125 * q[2] + 0.0625 * q[2])
    assert not rollout.crashed


def test_crash_ends_the_rollout_on_the_shared_target():
    # H (cell 0) moves right, A (cell 2) moves left: both target cell 1.
    model, R_H, R_A, rollout = _corridor("crash", [RIGHT, RIGHT, STAY], [STAY, LEFT, LEFT], 0, 2, steps=10)
    assert rollout.crashed and rollout.n_steps == 1
    assert rollout.states[-1] == model.terminal_state
    np.testing.assert_array_equal(rollout.cells, [[0, 2], [1, 1]])
    start = model.joint_state(0, 2)
    np.testing.assert_allclose(rollout.rewards_H, [R_H[start], 0.0])
    np.testing.assert_allclose(rollout.returns_H, [R_H[start], R_H[start]])
    np.testing.assert_allclose(rollout.returns_A, [R_A[start], R_A[start]])


def test_bounce_keeps_both_in_place_and_crash_allows_a_swap():
    model, R_H, _, rollout = _corridor("bounce", [RIGHT, RIGHT, STAY], [STAY, LEFT, LEFT], 0, 2, steps=5)
    start = model.joint_state(0, 2)
    assert (rollout.states == start).all() and not rollout.crashed
    np.testing.assert_allclose(rollout.returns_H[-1], R_H[start] * (1 - 0.6**6) / (1 - 0.6))
    model, _, _, rollout = _corridor("crash", [RIGHT, RIGHT, STAY], [STAY, LEFT, LEFT], 0, 1, steps=1)
    assert not rollout.crashed and rollout.states[-1] == model.joint_state(1, 0)


def test_greedy_action_ties_go_to_the_lowest_action_number():
    model = joint_model("grid3x3")
    mask = model.action_mask_H
    tied = np.where(mask, 1.0, 0.0)  # uniform over every available action
    tied /= tied.sum(axis=1, keepdims=True)
    assert (greedy_actions(tied, mask) == STAY).all()
    no_stay = np.where(mask & (np.arange(5) > 0), 1.0, 0.0)
    no_stay /= no_stay.sum(axis=1, keepdims=True)
    first_move = np.argmax(mask & (np.arange(5) > 0), axis=1)
    np.testing.assert_array_equal(greedy_actions(no_stay, mask), first_move)
    with pytest.raises(ValueError, match="policy"):
        greedy_actions(np.full((model.n_states, 5), 0.2), mask)  # mass on unavailable moves


@pytest.mark.parametrize("kind", ["learned", "optimal"])
def test_returns_equal_exact_policy_evaluation(run_dir, kind):
    """From every joint state, the return of a long greedy rollout is the exact value of the greedy policies
    (deterministic dynamics: the tail after T steps is below γ^(T+1) max R / (1 - γ))."""
    spec = load_spec(run_dir)
    model = spec.model()
    data = np.load(run_dir / "agents.npz")
    steps = 80
    tail = GAMMA ** (steps + 1) / (1 - GAMMA)
    for k in range(3):
        R_H, R_A = data["R_H"][k], data["R_A"][k]
        if kind == "learned":
            policy_H, policy_A = data["policy_H"][k], data["policy_A"][k]
        else:
            policy_H, policy_A = optimal_policies(TwoStageProblem(model, R_H, R_A, GAMMA))
        greedy_H = np.eye(5)[greedy_actions(policy_H, model.action_mask_H)]
        greedy_A = np.eye(5)[greedy_actions(policy_A, model.action_mask_A)]
        V_H, V_A = evaluate_policies(
            TwoStageProblem(model, R_H[None], R_A[None], GAMMA, GAMMA), greedy_H, greedy_A, power_tol=1e-13
        )
        returns = np.array([
            [r.returns_H[-1], r.returns_A[-1]]
            for r in (greedy_rollout(TwoStageProblem(model, R_H, R_A, GAMMA), policy_H, policy_A, s, steps)
                      for s in range(model.n_states))
        ])
        np.testing.assert_allclose(returns[:, 0], V_H[0], atol=tail + 1e-9)
        np.testing.assert_allclose(returns[:, 1], V_A[0], atol=tail + 1e-9)


def test_optimal_rollout_returns_the_solvers_optimal_values(run_dir):
    """Without ties the greedy policies are the solver's optimal ones, so returns equal its values V_H, V_A."""
    model = load_spec(run_dir).model()
    data = np.load(run_dir / "agents.npz")
    R_H, R_A = data["R_H"][:1], data["R_A"][:1]
    solved = solve_pairs(TwoStageProblem(model, R_H, R_A, GAMMA, GAMMA), power_tol=1e-13)
    assert is_deterministic(solved.policy_H) and is_deterministic(solved.policy_A)
    policy_H, policy_A = optimal_policies(TwoStageProblem(model, R_H[0], R_A[0], GAMMA))
    for start in (0, 40, 80):
        rollout = greedy_rollout(TwoStageProblem(model, R_H[0], R_A[0], GAMMA), policy_H, policy_A, start, 80)
        np.testing.assert_allclose(rollout.returns_H[-1], solved.V_H[0, start], atol=1e-9)
        np.testing.assert_allclose(rollout.returns_A[-1], solved.V_A[0, start], atol=1e-9)


def test_gif_has_one_frame_per_state(tmp_path):
    model, _, _, crashed = _corridor("crash", [RIGHT, RIGHT, STAY], [STAY, LEFT, LEFT], 0, 2, steps=10)
    path = save_rollout_gif(model, crashed, tmp_path / "crash.gif", GAMMA, 0.5, fps=4)
    with Image.open(path) as image:
        assert image.n_frames == 2
    assert [p.name for p in tmp_path.iterdir()] == ["crash.gif"]  # no temporary file left
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert path.stat().st_mode == plain.stat().st_mode  # the usual permissions, not a temporary file's


@pytest.mark.parametrize("kind", ["learned", "optimal"])
def test_cli_writes_the_gif(run_dir, tmp_path, capsys, kind):
    out = tmp_path / f"{kind}.gif"
    assert main(["animate", str(run_dir), "--sample", "2", "--policy", kind, "--start", "0,0,2,2",
                 "--steps", "6", "--out", str(out)]) == 0
    with Image.open(out) as image:
        assert image.n_frames == 7
    printed = capsys.readouterr().out
    model = load_spec(run_dir).model()
    data = np.load(run_dir / "agents.npz")
    R_H, R_A = data["R_H"][2], data["R_A"][2]
    policies = ((data["policy_H"][2], data["policy_A"][2]) if kind == "learned"
                else optimal_policies(TwoStageProblem(model, R_H, R_A, GAMMA)))
    rollout = greedy_rollout(TwoStageProblem(model, R_H, R_A, GAMMA), *policies, model.joint_state(0, 8), 6)
    assert f"G_H = {rollout.returns_H[-1]:.4f}, G_A = {rollout.returns_A[-1]:.4f}" in printed


def test_optimal_from_a_folder_with_only_a_spec(run_dir, tmp_path, capsys):
    """A spec alone redraws sample K's rewards by its index: the same rollout as from the saved rewards."""
    spec_only = tmp_path / "spec_only"
    spec_only.mkdir()
    shutil.copy(run_dir / "spec.json", spec_only)
    printed = []
    for folder in (run_dir, spec_only):
        assert main(["animate", str(folder), "--sample", "1", "--policy", "optimal", "--steps", "5",
                     "--out", str(tmp_path / "o.gif")]) == 0
        printed.append(capsys.readouterr().out.split("returns")[1])
    assert printed[0] == printed[1]


@pytest.fixture(scope="module")
def crash_maze(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash_maze")
    save_spec(RunSpec(layout="maze7x7", collision="crash", n_samples=2), folder)
    return folder


@pytest.mark.parametrize("args, message", [
    (["--out", "{tmp}/x.png"], "--out must be a file name ending in .gif"),
    (["--out", "{tmp}/missing/x.gif"], "--out: folder"),
    (["--steps", "0"], "--steps must be an integer in [1, 1000], got 0"),
    (["--steps", "1000000000000"], "--steps must be an integer in [1, 1000], got 1000000000000"),
    (["--fps", "0"], "--fps must be in [0.01, 100], got 0"),
    (["--fps", "0.001"], "--fps must be in [0.01, 100], got 0.001"),
    (["--fps", "inf"], "--fps must be in [0.01, 100], got inf"),
    (["--out", ""], "argument --out: must name a folder or file, got ''"),
    (["--sample", "3"], "--sample must be in [0, 3) (the run has 3 samples), got 3"),
    (["--sample", "-1"], "--sample must be in [0, 3)"),
    (["--start", "1,2,3"], "--start must be four integers H_ROW,H_COL,A_ROW,A_COL, got '1,2,3'"),
    (["--start", "0,0,3,0"], "--start: A's cell (3, 0) is not an open cell of layout 'grid3x3'"),
])
def test_bad_input_is_one_line_naming_the_parameter(run_dir, tmp_path, capsys, args, message):
    given = {"--sample": "0", "--out": str(tmp_path / "a.gif")}
    for flag, value in zip(args[::2], args[1::2]):
        given[flag] = value.format(tmp=tmp_path)
    argv = ["animate", str(run_dir), *[x for pair in given.items() for x in pair]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("multipower animate: error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "a.gif").exists()


@pytest.mark.parametrize("folder, args, message", [
    ("missing", [], "RUN_DIR '{folder}' is not a folder"),
    ("empty", [], "holds no agents.npz: --policy learned needs a folder written by `multipower train`"),
    ("empty", ["--policy", "optimal"], "holds neither agents.npz nor spec.json"),
    ("crash_maze", [], "holds no agents.npz"),
    ("crash_maze", ["--policy", "optimal", "--start", "1,1,0,0"], "--start: H's cell (1, 1) is not an open cell"),
    ("crash_maze", ["--policy", "optimal", "--start", "0,3,0,3"],
     "--start: H and A cannot share cell (0, 3) under collision 'crash'"),
    ("crash_maze", ["--policy", "optimal", "--sample", "2"], "--sample must be in [0, 2)"),
])
def test_bad_run_dir_or_start(crash_maze, tmp_path, capsys, folder, args, message):
    path = {"missing": tmp_path / "missing", "empty": tmp_path, "crash_maze": crash_maze}[folder]
    argv = ["animate", str(path), "--sample", "0", *args, "--out", str(tmp_path / "a.gif")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("multipower animate: error: ") and message.format(folder=path) in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "a.gif").exists()


def test_a_slip_rollout_follows_its_drawn_moves_and_its_seed():
    """With slip the rollout is one draw: reproducible by its seed, each step the model's table entry for the moves
    that happened, those moves available at the agents' cells, and some of them not the chosen ones."""
    model = joint_model("maze7x7", "crash", 0.5)
    rng = np.random.default_rng(0)
    pol_H, pol_A = (np.eye(5)[np.where(mask, rng.random(mask.shape), -1).argmax(1)]
                    for mask in (model.action_mask_H, model.action_mask_A))
    R_H, R_A = rng.random((2, model.n_states))
    args = (TwoStageProblem(model, R_H, R_A, 0.9), pol_H, pol_A, model.joint_state(0, 20), 40)
    first, again, other = greedy_rollout(*args, seed=3), greedy_rollout(*args, seed=3), greedy_rollout(*args, seed=4)
    np.testing.assert_array_equal(first.states, again.states)
    np.testing.assert_array_equal(first.effective_A, again.effective_A)
    assert not np.array_equal(first.states[:5], other.states[:5])
    for roll in (first, other):
        s, t = roll.states[:-1], np.arange(roll.n_steps)
        np.testing.assert_array_equal(roll.states[1:], model.next_state[s, roll.effective_H, roll.effective_A])
        assert model.action_mask_H[s, roll.effective_H].all() and model.action_mask_A[s, roll.effective_A].all()
        np.testing.assert_array_equal(roll.actions_H, pol_H.argmax(1)[s])
        slipped = roll.effective_H != roll.actions_H
        assert slipped.any() and not slipped.all()
        assert roll.move_text("H", int(t[slipped][0])).count(" → ") == 1
    deterministic = greedy_rollout(TwoStageProblem(joint_model("maze7x7", "crash"), R_H, R_A, 0.9), *args[1:], seed=3)
    np.testing.assert_array_equal(deterministic.effective_H, deterministic.actions_H)


def test_animate_draws_a_world_with_slip_by_its_rollout_seed(run_dir, tmp_path, capsys, monkeypatch):
    import multipower.runs.spec

    spec = load_spec(run_dir)
    object.__setattr__(spec, "slip", 0.4)
    monkeypatch.setattr(multipower.runs.spec, "load_spec", lambda directory: spec)
    outputs = []
    for seed, name in ((5, "a"), (5, "b"), (6, "c")):
        argv = ["animate", str(run_dir), "--sample", "1", "--steps", "12", "--rollout-seed", str(seed),
                "--out", str(tmp_path / f"{name}.gif")]
        assert main(argv) == 0
        outputs.append(capsys.readouterr().out)
    assert "moves slipped" in outputs[0] and outputs[0].replace("a.gif", "b.gif") == outputs[1]
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()
    assert Image.open(tmp_path / "c.gif").n_frames == 13
    assert main(["animate", str(run_dir), "--sample", "1", "--rollout-seed", "-1", "--out",
                 str(tmp_path / "d.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "multipower animate: error: --rollout-seed must be a non-negative integer, got -1"


def test_a_single_agent_run_is_refused(tmp_path, capsys):
    """An ``exact --single`` folder has a spec.json, but its rewards are over cells, not joint states."""
    single = tmp_path / "single"
    assert main(["exact", "--single", "--layout", "grid3x3", "--gamma", "0.5", "--samples", "4", "--out",
                 str(single)]) == 0
    capsys.readouterr()
    assert main(["animate", str(single), "--sample", "0", "--policy", "optimal", "--out", str(tmp_path / "a.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"multipower animate: error: RUN_DIR '{single}' holds a single-agent run (exact_single); "
                   "animate draws the two agents of a joint run")


@pytest.mark.parametrize("kwargs, message", [
    (dict(start=1.5), "start must be a joint state, an integer in [0, 9), got 1.5"),
    (dict(start=True), "start must be a joint state"),
    (dict(start=9), "start must be a joint state"),
    (dict(steps=100_001), "steps must be an integer in [1, 100000], got 100001"),
    (dict(policy_H=np.ones((9, 4))), "policy_H"),
    (dict(problem=TwoStageProblem(joint_model("...", "none"), np.ones((2, 9)), np.ones((2, 9)), 0.5)),
     "problem: a rollout is of one reward sample, got 2"),
])
def test_rollout_arguments_are_checked(kwargs, message):
    model = joint_model("...", "none")
    args = dict(problem=TwoStageProblem(model, np.ones(9), np.ones(9), 0.5), policy_H=np.eye(5)[np.zeros(9, int)],
                policy_A=np.eye(5)[np.zeros(9, int)], start=0, steps=3)
    with pytest.raises(ValueError, match=re.escape(message)):
        greedy_rollout(**{**args, **kwargs})
