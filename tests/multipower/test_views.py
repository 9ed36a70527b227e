"""The robot face at full scale: exact POWER against a plain numpy two-stage solve, and the large-world views."""

import numpy as np
import pytest

from multipower.envs.model import joint_model
from multipower.envs.rewards import RewardSampler
from multipower.exact.power import exact_power
from multipower.exact.reference import plain_two_stage
from multipower.plots import views
from multipower.plots.figures import image_variance, plot_result
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec
from multipower.envs.problem import TwoStageProblem
from multipower.learned.estimator import Rollouts


@pytest.mark.parametrize("collision", ["crash", "none"])
def test_robot_face_power_matches_a_plain_solve(collision):
    n = 3
    result = exact_power(
        RunSpec(layout="robot_face20x20", gamma_H=0.1, n_samples=n, collision=collision),
        power_tol=1e-10,
        execution=Execution(jobs=1, progress=False),
    )
    model = joint_model("robot_face20x20", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, n)
    power_H, power_A = plain_two_stage(TwoStageProblem(model, R_H, R_A, 0.1))
    np.testing.assert_allclose(result["power_H"], power_H.mean(0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(result["power_A"], power_A.mean(0), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def face():
    return exact_power(
        RunSpec(layout="robot_face20x20", gamma_H=0.1, n_samples=2, collision="crash"),
        execution=Execution(jobs=1, progress=False),
    )


def test_views_reduce_as_defined(face):
    labels = np.asarray(face.labels)
    marginal = views.cell_map(face, face["power_A"], "A")
    for r, c in [(8, 3), (19, 16), (0, 6)]:
        at = (labels[:, 2] == r) & (labels[:, 3] == c)
        assert marginal[r, c] == pytest.approx(face["power_A"][at].mean())
    assert np.isnan(marginal[0, 0])  # a wall
    held = views.given_other(face, "H", (8, 3))
    at = (labels[:, 2] == 8) & (labels[:, 3] == 3)
    np.testing.assert_array_equal(held[labels[at, 0], labels[at, 1]], face["power_H"][at])
    assert np.isnan(held[8, 3])  # no overlap: H cannot be on A's cell
    top = views.peak_states(face, "A", 3)
    assert face["power_A"][[int(np.flatnonzero((labels == t).all(1))[0]) for t in top]].tolist() == sorted(
        face["power_A"])[::-1][:3]
    np.testing.assert_array_equal(labels[views.peak_indices(face, "A", 3)], top)
    with pytest.raises(ValueError, match="other_cell"):
        views.given_other(face, "H", (0, 0))


def test_large_worlds_get_the_views_small_ones_the_heat_maps(face, tmp_path):
    paths = plot_result(face, tmp_path / "face", dpi=50)
    assert [p.name for p in paths] == ["marginals.png", "H_given_A.png", "A_given_H.png", "peaks.png", "alignment.png"]
    assert all(image_variance(p) > 0 for p in paths)
    maze = exact_power(RunSpec(layout="maze7x7", gamma_H=0.1, n_samples=2), execution=Execution(jobs=1, progress=False))
    assert [p.name for p in plot_result(maze, tmp_path / "maze", dpi=50)] == ["heatmap_H.png", "heatmap_A.png",
                                                                              "alignment.png"]


def test_the_plain_reference_takes_a_seed_policy_and_two_discounts():
    model = joint_model("maze7x7", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 3)
    result = exact_power(
        RunSpec(layout="maze7x7", gamma_H=0.6, gamma_A=0.9, n_samples=3, collision="crash", seed_policy="stay"),
        power_tol=1e-10,
        execution=Execution(jobs=1, progress=False),
    )
    power_H, power_A = plain_two_stage(TwoStageProblem(model, R_H, R_A, 0.6, 0.9, seed_policy="stay"))
    np.testing.assert_allclose(result["power_H"], power_H.mean(0), rtol=0, atol=1e-9)
    np.testing.assert_allclose(result["power_A"], power_A.mean(0), rtol=0, atol=1e-9)


def test_a_learned_comparison_on_the_robot_face_gets_the_views(tmp_path):
    from multipower.learned.compare import compare_agents
    from multipower.plots.figures import plot_comparison_dir

    model = joint_model("robot_face20x20", "crash")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 1)
    first = [np.eye(5)[model.action_mask(agent).argmax(1)][None] for agent in "HA"]  # any fixed policies
    compare_agents(TwoStageProblem(model, R_H, R_A, 0.1), *first, rollouts=Rollouts(n_rollouts=4)).save(
        tmp_path / "cmp", figure=False)
    paths = plot_comparison_dir(tmp_path / "cmp", tmp_path / "fig", dpi=40)
    assert [p.name for p in paths] == ["learned_vs_exact.png", "marginals.png", "H_given_A.png", "A_given_H.png",
                                       "peaks.png", "alignment.png"]


@pytest.mark.slow
def test_far_sighted_robot_face_power_matches_a_plain_solve():
    """At γ = 0.99 the robot face's solve (Anderson, warm starts, the certificate of the greedy policy) gives each
    sample's POWER of a plain value iteration to 1e-6, on samples whose policies have no ties (ties are split
    evenly by the solver and by the first maximum in the plain solve; see test_ties.py). About 2 minutes."""
    from multipower.exact import solver

    model = joint_model("robot_face20x20", "none")
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 2)
    problem = TwoStageProblem(model, R_H, R_A, 0.99)
    sol = solver.solve_pairs(problem)
    assert (sol.policy_H.max(-1) == 1.0).all() and (sol.policy_A.max(-1) == 1.0).all()
    power_H, power_A = plain_two_stage(problem, tol=1e-7)
    np.testing.assert_allclose(solver.power_from_next(sol.W_H, 0.99), power_H, rtol=0, atol=1e-6)
    np.testing.assert_allclose(solver.power_from_next(sol.W_A, 0.99), power_A, rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("collision", ["crash", "none"])
def test_robot_face_power_matches_a_plain_solve_sample_by_sample(collision):
    """200 samples at γ = 0.1, each sample's POWER of both agents at every joint state: the solver's values-only
    path (runs of stage 1, the certificate's near-tie check, policies kept as first best moves) against the plain
    numpy solve, to 1e-9 with ``power_tol = 1e-10``. About 2 minutes each."""
    from multipower.exact import solver

    model = joint_model("robot_face20x20", collision)
    R_H, R_A = RewardSampler(model.n_states, seed=5).pairs(0, 200)
    problem = TwoStageProblem(model, R_H, R_A, 0.1)
    sol = solver.solve_pairs(problem, power_tol=1e-10, values_only=True)
    for lo in range(0, 200, 20):  # the plain solve holds (K, S, 5, 5) gathers: 20 samples at a time
        power_H, power_A = plain_two_stage(problem.rows(lo, lo + 20))
        np.testing.assert_allclose(solver.power_from_next(sol.W_H[lo:lo + 20], 0.1), power_H, rtol=0, atol=1e-9)
        np.testing.assert_allclose(solver.power_from_next(sol.W_A[lo:lo + 20], 0.1), power_A, rtol=0, atol=1e-9)
