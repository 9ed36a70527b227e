"""exact_power / single_agent_power: docs/concepts.md#checks-that-hold-exactly, published numbers, inputs, CLI."""

import csv
import json

import numpy as np
import pytest
import torch

from multipower.envs.layouts import load_layout, parse_layout
from multipower.envs.model import joint_model, single_agent_model
from multipower.exact import power as exact_module
from multipower.exact import solver as solver_module
from multipower.cli import main
from multipower.exact.power import Interrupted, exact_power
from multipower.exact.single import single_agent_power
from multipower.envs.rewards import RewardSampler
from multipower.exact.solver import POWER_TOL, solve_pairs, solve_single
from multipower.envs.problem import TwoStageProblem
from multipower.runs.execution import Execution
from multipower.envs.rewards import RewardDraws
from multipower.runs.spec import RunSpec


def degree(layout, cell):
    r, c = cell
    rows, cols = layout.shape
    return sum(
        0 <= r + dr < rows and 0 <= c + dc < cols and bool(layout.grid[r + dr, c + dc])
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
    )


def test_gamma_to_zero_gives_k_over_k_plus_one():
    res = single_agent_power("maze7x7", 0.001, rewards=RewardDraws(n_samples=3000), execution=Execution(progress=False))
    k = np.array([degree(res.layout, tuple(c)) + 1 for c in res.labels])  # available actions incl. stay
    assert set(k) == {2, 3, 4}
    assert (np.abs(res.power - k / (k + 1)) <= 4 * res.power_se + 0.002).all()


def test_gamma_to_one_gives_n_over_n_plus_one():
    layout = parse_layout("..\n..", name="square")
    res = single_agent_power(layout, 0.999, rewards=RewardDraws(n_samples=3000), execution=Execution(progress=False))
    assert (np.abs(res.power - 4 / 5) <= 4 * res.power_se + 0.005).all()


def test_beta_one_gives_equal_power_and_alpha_one():
    res = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=300, correlation=1.0), execution=Execution(progress=False)
    )
    assert np.abs(res.power_H - res.power_A).max() <= 2 * POWER_TOL
    assert res.stats["alpha"] == pytest.approx(1.0, abs=1e-6)


def test_alpha_negative_at_beta_zero():
    res = exact_power(RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=2000), execution=Execution(progress=False))
    assert res.stats["alpha"] < -0.2


def test_layout_symmetries_map_power_onto_itself():
    res = exact_power(RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=2000), execution=Execution(progress=False))
    labels = res.labels
    index = {tuple(l): i for i, l in enumerate(labels)}
    maps = [
        lambda r, c: (c, r), lambda r, c: (2 - r, c), lambda r, c: (r, 2 - c), lambda r, c: (2 - c, 2 - r),
        lambda r, c: (c, 2 - r), lambda r, c: (2 - r, 2 - c), lambda r, c: (2 - c, r),
    ]
    for name in ("power_H", "power_A"):
        value, se = res[name], res[f"{name}_se"]
        for g in maps:
            image = np.array([index[(*g(hr, hc), *g(ar, ac))] for hr, hc, ar, ac in labels])
            assert (np.abs(value - value[image]) <= 5 * np.hypot(se, se[image])).all()


def test_stay_seed_reduces_stage_one_to_single_agent_exactly():
    """With collision none and a stay seed, H's problem at fixed a is the single-agent MDP with R_H(., a)."""
    model = joint_model("maze7x7")
    n, K = model.n_cells, 6
    R_H, R_A = RewardSampler(model.n_states, seed=2).pairs(0, K)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.9, 0.9, seed_policy="stay"))
    single = single_agent_model("maze7x7")
    per_a = R_H.reshape(K, n, n).transpose(0, 2, 1).reshape(K * n, n)  # rows (k, a), columns h
    V = solve_single(single, per_a, 0.9).V.reshape(K, n, n).transpose(0, 2, 1).reshape(K, -1)
    assert np.abs(sol.V_H_seed - V).max() <= 2 * POWER_TOL * 0.9 / 0.1


def test_stay_seed_power_matches_single_agent_power():
    res = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.8, n_samples=2000, seed_policy="stay"), execution=Execution(progress=False)
    )
    single = single_agent_power(
        "grid3x3", 0.8, rewards=RewardDraws(n_samples=2000, seed=7), execution=Execution(progress=False)
    )
    cells = {tuple(c): i for i, c in enumerate(single.labels)}
    i = np.array([cells[(hr, hc)] for hr, hc, _, _ in res.labels])
    tol = 5 * np.hypot(res.power_H_seed_se, single.power_se[i])
    assert (np.abs(res.power_H_seed - single.power[i]) <= tol).all()


def test_beta_half_is_not_on_the_straight_line():
    """POWER_H at β = 0.5 lies about 0.03 above the β = 0 to β = 1 line (docs/concepts.md#checks-that-hold-exactly)."""
    p = {
        b: exact_power(
            RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=1500, correlation=b), execution=Execution(progress=False)
        )
        for b in (0.0, 0.5, 1.0)
    }
    excess = p[0.5].power_H - 0.5 * (p[0.0].power_H + p[1.0].power_H)
    se = np.sqrt(p[0.5].power_H_se ** 2 + 0.25 * (p[0.0].power_H_se ** 2 + p[1.0].power_H_se ** 2))
    assert excess.mean() > 0.015
    assert excess.mean() - 4 * se.mean() > 0


def test_grid3x3_beta_one_published_numbers():
    res = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=8000, correlation=1.0), execution=Execution(progress=False)
    )
    corner_centre = res.value_at("power_H", (0, 0), (1, 1))
    centre_corner = res.value_at("power_H", (1, 1), (0, 0))
    se = res.value_at("power_H_se", (0, 0), (1, 1))
    assert abs(corner_centre - 0.9206) <= 4 * se * np.sqrt(1 + 8000 / 20000)
    assert abs(centre_corner - 0.9139) <= 4 * se * np.sqrt(1 + 8000 / 20000)
    assert corner_centre > centre_corner


@pytest.mark.parametrize("collision, at_02, at_junction", [("none", 0.680, 0.653), ("crash", 0.640, 0.651)])
def test_maze_gamma_01_published_numbers(collision, at_02, at_junction):
    n = 1000
    res = exact_power(
        RunSpec(layout="maze7x7", gamma_H=0.1, n_samples=n, collision=collision), execution=Execution(progress=False)
    )
    scale = np.sqrt(1 + n / 10_000)  # the published numbers carry Monte-Carlo error of 10,000 samples
    value, se = res.value_at("power_H", (0, 3), (0, 2)), res.value_at("power_H_se", (0, 3), (0, 2))
    assert abs(value - at_02) <= 4 * se * scale
    value, se = res.value_at("power_H", (0, 3), (3, 3)), res.value_at("power_H_se", (0, 3), (3, 3))
    assert abs(value - at_junction) <= 4 * se * scale


def test_exact_power_matches_brute_force_on_two_cells():
    layout = parse_layout("..", name="two")
    res = exact_power(
        RunSpec(layout=layout, gamma_H=0.7, gamma_A=0.5, n_samples=40),
        execution=Execution(chunk_size=16, progress=False),
    )
    model = joint_model(layout)
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 40)
    sol = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.7, 0.5))
    P_brute = []
    for k in range(40):
        P = np.zeros((4, 4))
        for i in range(5):
            for j in range(5):
                np.add.at(P, (np.arange(4), model.next_state[:, i, j]), sol.policy_H[k][:, i] * sol.policy_A[k][:, j])
        V = np.linalg.solve(np.eye(4) - 0.7 * P, R_H[k])
        P_brute.append((0.3 / 0.7) * (V - R_H[k]))
    assert np.abs(res.power_H - np.mean(P_brute, 0)).max() <= POWER_TOL + 1e-12


def test_chunking_does_not_change_results():
    a = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.8, n_samples=60, collision="crash"),
        execution=Execution(chunk_size=7, progress=False),
    )
    b = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.8, n_samples=60, collision="crash"),
        execution=Execution(chunk_size=1000, progress=False),
    )
    for name in a.arrays:
        np.testing.assert_allclose(a[name], b[name], atol=1e-9)


def test_jobs_do_not_change_results():
    """Chunks solved in threads are accumulated in chunk order: the same numbers, bit for bit."""
    before = torch.get_num_threads()
    one = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.8, n_samples=60, collision="crash"),
        execution=Execution(jobs=1, chunk_size=7, progress=False),
    )
    two = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.8, n_samples=60, collision="crash"),
        execution=Execution(jobs=2, chunk_size=7, progress=False),
    )
    assert (one.config["jobs"], two.config["jobs"]) == (1, 2)
    for name in one.arrays:
        np.testing.assert_array_equal(one[name], two[name])
    single = [
        single_agent_power(
            "maze7x7", 0.9, rewards=RewardDraws(n_samples=30), execution=Execution(jobs=j, chunk_size=4, progress=False)
        )
        for j in (1, 3)
    ]
    np.testing.assert_array_equal(single[0]["power"], single[1]["power"])
    assert torch.get_num_threads() == before  # the solver's one-thread setting is undone after concurrent calls


def test_jobs_and_chunks_do_not_change_far_sighted_results():
    """maze7x7 at γ = 0.95 (stage 1 read in runs, Anderson acceleration, the warm starts): the same bytes for one
    job in chunks of 5 and two jobs in chunks of 16."""
    spec = RunSpec(layout="maze7x7", gamma_H=0.95, n_samples=64, collision="none")
    one = exact_power(spec, execution=Execution(jobs=1, chunk_size=5, progress=False))
    two = exact_power(spec, execution=Execution(jobs=2, chunk_size=16, progress=False))
    for name in one.arrays:
        np.testing.assert_array_equal(one[name], two[name])


def test_result_config_and_columns():
    res = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, gamma_A=0.7, n_samples=10, collision="bounce"),
        execution=Execution(progress=False),
    )
    assert list(res.arrays) == [
        "power_H", "power_H_se", "power_A", "power_A_se",
        "power_H_seed", "power_H_seed_se", "power_A_seed", "power_A_seed_se",
    ]
    cfg = res.config
    assert cfg["layout"] == "grid3x3" and cfg["layout_text"] == load_layout("grid3x3").to_text()
    assert (cfg["gamma_H"], cfg["gamma_A"], cfg["collision"], cfg["samples_done"]) == (0.6, 0.7, "bounce", 10)
    assert cfg["distribution"]["name"] == "uniform" and cfg["seed_policy"] == "uniform"
    assert {"alpha", "alpha_seed"} <= set(res.stats) and res.timings["total"] > 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"gamma_H": 1.0}, "gamma"), ({"gamma_H": 0.0}, "gamma"), ({"gamma_A": 1.2}, "gamma_A"),
        ({"correlation": 1.5}, "correlation"), ({"correlation": -0.5, "distribution": "pareto"}, "correlation"),
        ({"n_samples": 0}, "n_samples"), ({"layout": "nowhere"}, "layout"), ({"collision": "wall"}, "collision"),
        ({"seed_policy": np.ones((3, 5)) / 5}, "seed_policy"), ({"chunk_size": 0}, "chunk_size"),
        ({"jobs": 0}, "jobs"), ({"seed_policy": "nowhere.npy"}, "seed_policy"),
    ],
)
def test_bad_input_raises_naming_the_parameter(kwargs, name):
    how = {key: kwargs.pop(key) for key in ("chunk_size", "jobs") if key in kwargs}
    with pytest.raises(ValueError, match=name):
        exact_power(RunSpec(**{"layout": "grid3x3", "gamma_H": 0.6, "n_samples": 2, **kwargs}),
                    execution=Execution(progress=False, **how))


@pytest.mark.parametrize("call, name", [
    (lambda: exact_power("grid3x3"), "spec"),
    (lambda: exact_power(RunSpec(), execution={"jobs": 2}), "execution"),
    (lambda: exact_power(RunSpec(), storage="out"), "storage"),
    (lambda: single_agent_power("grid3x3", 0.6, rewards=RewardDraws(4, correlation=0.5)), "rewards.correlation"),
    (lambda: single_agent_power("grid3x3", 0.6, rewards=4), "rewards"),
])
def test_what_how_and_where_of_the_wrong_kind_are_named(call, name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        call()


@pytest.mark.parametrize("jobs", [1, 2])
def test_interrupt_keeps_finished_blocks(monkeypatch, tmp_path, jobs):
    """Ctrl-C in the third block: the result holds the two finished blocks, and the CLI saves it, marked partial."""
    real = solver_module.solve_pairs
    block = exact_module.block_size(joint_model("grid3x3").n_states)
    third_block = RewardSampler(joint_model("grid3x3").n_states, seed=0).pairs(2 * block, 2 * block + 1)[0][0]

    def flaky(problem, *args, **kwargs):
        if np.array_equal(problem.R_H[0], third_block):  # Ctrl-C while the third block is being solved
            raise KeyboardInterrupt
        return real(problem, *args, **kwargs)

    monkeypatch.setattr(solver_module, "solve_pairs", flaky)
    n = 2 * block + 10
    with pytest.raises(Interrupted) as stop:
        exact_power(
            RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=n),
            execution=Execution(jobs=jobs, chunk_size=512, progress=False),
        )
    config = stop.value.result.config
    assert (config["samples_done"], config["complete"], config["interrupted"]) == (2 * block, False, True)
    out = tmp_path / "partial"
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", str(n), "--chunk-size", "512",
                 "--jobs", str(jobs), "--out", str(out), "--no-progress"]) == 130
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["samples_done"], summary["samples_requested"], summary["complete"]) == (2 * block, n, False)


def test_cli_joint_and_single(tmp_path):
    out = tmp_path / "joint"
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "20", "--collision", "crash",
                 "--correlation", "0.5", "--distribution", "beta", "--dist-param", "a=2", "--dist-param", "b=2",
                 "--out", str(out), "--no-progress"]) == 0
    with open(out / "power.csv") as f:
        header = next(csv.reader(f))
    assert header[:8] == ["h_row", "h_col", "a_row", "a_col", "power_H", "power_H_se", "power_A", "power_A_se"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["distribution"] == {"name": "beta", "a": 2.0, "b": 2.0} and "alpha" in summary
    out = tmp_path / "single"
    assert main(["exact", "--layout", "maze7x7", "--gamma", "0.5", "--samples", "20", "--single",
                 "--out", str(out), "--no-progress"]) == 0
    with open(out / "power.csv") as f:
        assert next(csv.reader(f)) == ["row", "col", "power", "power_se"]


def test_cli_seed_policy_file(tmp_path, capsys):
    model = joint_model("grid3x3")
    table = np.zeros((model.n_states, 5))
    table[:, 0] = 1
    np.save(tmp_path / "seed.npy", table)
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "5", "--seed-policy",
                 str(tmp_path / "seed.npy"), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    np.save(tmp_path / "bad.npy", table[:5])
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "5", "--seed-policy",
                 str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    assert "seed_policy" in capsys.readouterr().err


@pytest.mark.slow
def test_full_size_maze_gamma_099_alpha():
    res = exact_power(RunSpec(layout="maze7x7", gamma_H=0.99, n_samples=10_000), execution=Execution(progress=False))
    assert -0.55 < res.stats["alpha"] < -0.15


def test_alpha_uncertainty_is_the_jackknife_over_groups_of_blocks():
    """alpha_se from the saved per-group means equals a delete-one-group jackknife computed directly from
    per-sample POWER, with the same groups of blocks (3,000 samples on grid3x3: blocks of 1,024)."""
    from multipower.envs.rewards import RewardSampler
    from multipower.exact.blocks import JACKKNIFE_GROUPS
    from multipower.exact.solver import power_samples, solve_pairs
    from multipower.runs.results import pearson

    n = 3000
    result = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=n), execution=Execution(jobs=1, progress=False)
    )
    model = joint_model("grid3x3")
    R_H, R_A = RewardSampler(model.n_states, None, 0.0, 0).pairs(0, n)
    solved = solve_pairs(TwoStageProblem(model, R_H, R_A, 0.6, 0.6))
    P_H, P_A = power_samples(solved.V_H, R_H, 0.6), power_samples(solved.V_A, R_A, 0.6)
    starts = np.arange(0, n, 1024)
    group = np.repeat(np.minimum(JACKKNIFE_GROUPS - 1, starts * JACKKNIFE_GROUPS // n), np.diff(np.append(starts, n)))
    left_out = np.array([pearson(P_H[group != g].mean(0), P_A[group != g].mean(0)) for g in np.unique(group)])
    k = len(left_out)
    se = np.sqrt((k - 1) / k * ((left_out - left_out.mean()) ** 2).sum())
    assert k == 3 and result.stats["alpha_se"] == pytest.approx(se, rel=1e-6)
    alpha = result.stats["alpha"]
    assert result.stats["alpha_ci_low"] == pytest.approx(alpha - 1.96 * se, rel=1e-6)
    assert result.stats["alpha_ci_high"] == pytest.approx(alpha + 1.96 * se, rel=1e-6)
    one_block = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=500), execution=Execution(jobs=1, progress=False)
    )
    assert "alpha_se" not in one_block.stats  # one block: no spread to measure


def test_block_statistics_of_scaled_columns_are_those_of_the_power_rows():
    """``welford_columns`` (what blocks accumulate) gives the bytes of ``welford`` over the stacked POWER rows
    ``power_from_next(W, γ)``, which it no longer builds."""
    from multipower.exact._blockstats import welford, welford_columns
    from multipower.exact.solver import power_from_next

    rng = np.random.default_rng(4)
    columns = [rng.random((7, 13)) * 50 for _ in range(4)]
    gammas = [0.99, 0.1, 0.99, 0.1]
    rows = np.stack([power_from_next(W, g) for W, g in zip(columns, gammas)], axis=1).reshape(7, -1)
    expected = np.zeros(52), np.zeros(52)
    got = np.full(52, 0.0), np.full(52, 0.0)
    assert welford(rows, *expected, 3) == 10
    scales = np.array([power_from_next(1.0, g) for g in gammas])
    assert welford_columns(tuple(columns), scales, *got, 3) == 10
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
