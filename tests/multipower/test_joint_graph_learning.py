"""Learned agents on joint MDP graphs: the learners, the rollout estimator and the exact checks step on the graph.

Checked against the layout itself (a layout exported as a deterministic graph trains to the very same Q-tables and
PPO policies), against the graph's outcome probabilities (the draws of every stepper), and against the exact solver
on a stochastic graph, on a hand-made corridor with a forbidden action and on a ring that is no gridworld (six
actions for H, two for A).
"""

import numpy as np
import pytest

from multipower.agents.qlearning import train_q
from multipower.cli import main
from multipower.envs.dynamics import outcome_step
from multipower.envs.joint_graph import joint_graph_text, parse_joint_graph, policy_graph_text
from multipower.envs.model import joint_model
from multipower.envs.policies import seed_policy_table
from multipower.envs.problem import TwoStageProblem
from multipower.envs.rewards import RewardSampler
from multipower.learned.compare import compare, compare_agents
from multipower.learned.estimator import PolicyRollout, Rollouts
from multipower.learned.training import train_agents
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec, SpecError, load_spec

from tests.multipower.test_joint_graph import _corridor_text


def _exported(collision: str, slip: float = 0.0):
    model = joint_model("grid3x3", collision, slip)
    return model, parse_joint_graph(joint_graph_text(model), "g").with_slots(5)


def test_a_deterministic_export_trains_to_the_layouts_very_q_tables():
    model, graph = _exported("crash")
    assert graph.deterministic and graph.step_tables()[1] is None
    R_H, R_A = RewardSampler(model.n_states, seed=0).pairs(0, 3)
    learned = [train_q(TwoStageProblem(world, R_H, R_A, 0.6).stage("H"), seed=1) for world in (model, graph)]
    np.testing.assert_array_equal(learned[0].q, learned[1].q)
    np.testing.assert_array_equal(learned[0].steps, learned[1].steps)


def test_a_deterministic_export_trains_to_the_layouts_very_ppo_policies():
    pytest.importorskip("torch")
    model, graph = _exported("none")
    R_H, R_A = RewardSampler(model.n_states, seed=4).pairs(0, 2)
    options = {"total_timesteps": 2048, "n_envs": 8, "n_steps": 16}
    runs = [train_agents("ppo", TwoStageProblem(world, R_H, R_A, 0.6), 2, options) for world in (model, graph)]
    np.testing.assert_array_equal(runs[0].policy_H, runs[1].policy_H)
    np.testing.assert_array_equal(runs[0].policy_A, runs[1].policy_A)


def _outcome_probabilities(graph, s, h, a):
    probs = np.zeros(graph.n_states + 1)
    np.add.at(probs, graph.next_state[s, h, a], graph.prob[s, h, a])
    return probs


def test_outcome_draws_follow_the_graphs_probabilities():
    _, graph = _exported("bounce", 0.5)
    next_state, cdf = graph.step_tables()
    s = int(np.argmax((graph.prob > 0).sum(-1).max(axis=(1, 2))))  # the state with the most outcomes
    h, a = np.unravel_index(np.argmax((graph.prob[s] > 0).sum(-1)), graph.prob.shape[1:3])
    E = 40_000
    u = np.random.default_rng(0).random(E)
    reached, terminated, _ = outcome_step(next_state, cdf, graph.terminal_state, np.full(E, s),
                                          (np.full(E, h), np.full(E, a)), u, np.zeros(E, dtype=np.int64), 100)
    probs = _outcome_probabilities(graph, s, h, a)
    assert (probs > 0).sum() >= 3
    counts = np.bincount(reached, minlength=graph.n_states + 1)
    se = np.sqrt(probs * (1 - probs) / E) + 1e-12
    assert np.all(np.abs(counts / E - probs) <= 4.5 * se) and not counts[probs == 0].any()
    assert not terminated.any()


def test_batched_ppo_draws_the_graphs_outcomes():
    torch = pytest.importorskip("torch")
    from multipower.agents.ppo import Batch

    _, graph = _exported("bounce", 0.5)
    batch = Batch(graph, np.zeros((1, graph.n_states)), "H", None, "index", torch.device("cpu"))
    s = int(np.argmax((graph.prob > 0).sum(-1).max(axis=(1, 2))))
    h, a = np.unravel_index(np.argmax((graph.prob[s] > 0).sum(-1)), graph.prob.shape[1:3])
    E = 20_000
    u = torch.rand((1, E), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reached, *_ = batch.step(torch.full((1, E), s), torch.full((1, E), int(h)), torch.full((1, E), int(a)),
                             torch.zeros((1, E), dtype=torch.int64), 100, u_outcome=u)
    probs = _outcome_probabilities(graph, s, h, a)
    counts = np.bincount(reached.numpy().ravel(), minlength=graph.n_states + 1)
    se = np.sqrt(probs * (1 - probs) / E) + 1e-12
    assert np.all(np.abs(counts / E - probs) <= 4.5 * se) and not counts[probs == 0].any()
    with pytest.raises(ValueError, match="observation='index'"):
        Batch(graph, np.zeros((1, graph.n_states)), "H", None, "vector", torch.device("cpu"))


def test_rollouts_on_a_stochastic_graph_match_its_exact_evaluation_within_standard_errors():
    model, graph = _exported("bounce", 0.3)
    rng = np.random.default_rng(0)
    K = 40  # copies of one task: the per-copy rollout means are iid, so their spread is the rollout noise
    R_H, R_A = np.tile(rng.random(graph.n_states), (K, 1)), np.tile(rng.random(graph.n_states), (K, 1))
    pol_H = np.eye(5)[np.where(graph.action_mask_H[:, 4], 4, 0)]
    pol_A = seed_policy_table(model, "uniform")
    problem = TwoStageProblem(graph, R_H, R_A, 0.6)
    rollout = PolicyRollout(problem, pol_H, pol_A, rollouts=Rollouts(seed=1))
    assert rollout.plan.n_rollouts > 1  # a graph's outcomes make even deterministic policies' rollouts random
    power_H, power_A = rollout.per_sample()
    from multipower.learned.estimator import exact_policy_power

    exact_H, exact_A = exact_policy_power(problem.rows(0, 1), pol_H, pol_A)
    for samples, exact in ((power_H, exact_H[0]), (power_A, exact_A[0])):
        se = samples.std(0, ddof=1) / np.sqrt(K)
        assert np.all(np.abs(samples.mean(0) - exact) <= 4.5 * se + rollout.plan.truncation_H + 1e-4)


def test_qlearning_on_a_stochastic_graph_matches_exact_as_on_layouts():
    """The layouts' small Q-learning target (``test_compare.test_qlearning_small_target``) on a graph whose
    joint actions have up to 17 outcomes: the grid3x3 bounce world with slip 0.2, exported."""
    _, graph = _exported("bounce", 0.2)
    assert not graph.deterministic
    R_H, R_A = RewardSampler(graph.n_states, seed=0).pairs(0, 24)
    problem = TwoStageProblem(graph, R_H, R_A, 0.6)
    agents = train_agents("qlearning", problem, 0, execution=Execution(jobs=1))
    m = compare_agents(problem, agents.policy_H, agents.policy_A, rollouts=Rollouts(n_rollouts=32)).metrics
    for agent in "HA":
        assert m[f"mean_abs_error_{agent}"] <= 0.01
        assert m[f"max_abs_error_{agent}"] <= 0.01 + 4 * m[f"max_error_se_{agent}"]
        assert m[f"pearson_{agent}"] >= 0.9
        assert m[f"mean_abs_rollout_noise_{agent}"] <= 4 * m[f"max_error_se_{agent}"]
        assert m[f"policy_gap_{agent}"] <= 1e-3
    assert abs(m["alpha_learned"] - m["alpha_exact"]) <= 0.1


def test_qlearning_on_the_corridor_with_a_forbidden_action():
    """POWERplay's 1×3 corridor (H may not stay while A is at the far right), A's seed moving left: learned
    against the exact solver, which ``test_joint_graph`` checks against brute force."""
    graph = parse_joint_graph(_corridor_text()).with_slots(5)
    seed = np.zeros(graph.action_mask_A.shape)
    left, stay = graph.actions_A.index("left"), graph.actions_A.index("stay")
    seed[np.arange(graph.n_states), np.where(graph.action_mask_A[:, left], left, stay)] = 1.0
    R_H, R_A = RewardSampler(graph.n_states, seed=3).pairs(0, 16)
    problem = TwoStageProblem(graph, R_H, R_A, 0.8, seed_policy=seed)
    agents = train_agents("qlearning", problem, 0, execution=Execution(jobs=1))
    m = compare_agents(problem, agents.policy_H, agents.policy_A).metrics
    for agent in "HA":
        assert m[f"max_abs_error_{agent}"] <= 2e-3 and m[f"policy_gap_{agent}_max"] <= 1e-3


def test_a_spec_on_a_graph_round_trips_and_refuses_what_does_not_apply(tmp_path):
    model, _ = _exported("crash")
    (tmp_path / "g.gv").write_text(joint_graph_text(model))
    (tmp_path / "seed.gv").write_text(policy_graph_text(model, seed_policy_table(model, "stay")))
    spec = RunSpec(mdp=str(tmp_path / "g.gv"), seed_policy=str(tmp_path / "seed.gv"), learner="qlearning")
    assert spec.layout is None and spec.mdp_name == "grid3x3" and spec.mdp.startswith("strict digraph")
    np.testing.assert_array_equal(spec.seed_policy_value(), seed_policy_table(model, "stay"))
    from multipower.runs.spec import save_spec

    save_spec(spec, tmp_path / "run")
    assert load_spec(tmp_path / "run") == spec
    for bad, message in ((dict(collision="crash"), "'collision' does not apply"), (dict(slip=0.1), "'slip'"),
                         (dict(mdp="figure1"), "single-agent graph"), (dict(mdp="no-such.gv"), "mdp")):
        with pytest.raises(SpecError, match=message):
            RunSpec(**{"mdp": str(tmp_path / "g.gv"), **bad})
    # A layout's spec keeps the keys of runs made before graphs: their saved specs and chunk keys still match.
    assert not {"mdp", "mdp_name"} & set(RunSpec("grid3x3").to_dict())
    with pytest.raises(SpecError, match="a policy graph is A's seed policy on a joint MDP graph"):
        RunSpec("grid3x3", seed_policy=str(tmp_path / "seed.gv"))


def test_the_cli_trains_compares_plots_and_animates_a_joint_graph(tmp_path, capsys):
    train, cmp = tmp_path / "train", tmp_path / "cmp"
    assert main(["train", "--mdp", "joint_grid2x2_crash", "--samples", "6", "--gamma", "0.9",
                 "--out", str(train)]) == 0
    out = capsys.readouterr()
    assert "policy_gap_H" in out.out and "warning" not in out.err
    assert main(["compare", "--agents", str(train), "--out", str(cmp)]) == 0
    assert "POWER_H: max |learned-exact|" in capsys.readouterr().out
    assert main(["plot", str(cmp), "--out", str(tmp_path / "fig")]) == 0
    assert {p.name for p in (tmp_path / "fig").glob("*.png")} >= {"learned_vs_exact.png", "heatmap_H.png",
                                                                   "heatmap_A.png", "alignment.png"}
    assert main(["animate", str(train), "--sample", "1", "--steps", "4", "--start", "0,0,1,1",
                 "--out", str(tmp_path / "a.gif")]) == 0
    assert (tmp_path / "a.gif").stat().st_size > 0
    assert main(["compare", "--mdp", "joint_grid2x2_crash", "--samples", "4", "--out", str(tmp_path / "c2"),
                 "--no-figure"]) == 0


@pytest.mark.parametrize("args, message", [
    (["--mdp", "joint_grid2x2_crash", "--layout", "grid3x3"], "give --layout or --mdp, not both"),
    (["--mdp", "joint_grid2x2_crash", "--collision", "crash"], "--collision does not apply to --mdp"),
    (["--mdp", "figure1"], "single-agent graph"),
    (["--mdp", "joint_grid2x2_crash", "--algo", "sb3-ppo"], "sb3-ppo trains on layouts only"),
    (["--mdp", "joint_grid2x2_crash", "--algo", "ppo", "--option", "observation=vector"], "observed by index"),
])
@pytest.mark.parametrize("command", ["train", "compare"])
def test_cli_refusals_on_a_graph_are_one_line(tmp_path, capsys, args, message, command):
    assert main([command, *args, "--samples", "2", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "t").exists()


def test_compare_refuses_a_joint_graph_with_single_and_a_graph_beside_saved_agents(tmp_path, capsys):
    assert main(["compare", "--single", "--mdp", "joint_grid2x2_crash", "--out", str(tmp_path / "s")]) == 2
    assert "it is a joint graph of two agents" in capsys.readouterr().err
    train = tmp_path / "train"
    assert main(["train", "--mdp", "joint_grid2x2_crash", "--samples", "2", "--out", str(train)]) == 0
    capsys.readouterr()
    assert main(["compare", "--agents", str(train), "--mdp", "joint_grid2x2_crash", "--out", str(tmp_path / "c")]) == 2
    assert "drop --mdp" in capsys.readouterr().err
    config = train / "config.json"  # an edited configuration would rebuild another world: refused
    config.write_text(config.read_text().replace('"gamma_H": 0.6', '"gamma_H": 0.7'))
    assert main(["compare", "--agents", str(train), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert "config.json does not match its manifest" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_animate_refuses_a_graph_without_cells_in_one_line(tmp_path, capsys):
    text = _corridor_text().replace("(0, ", "(x").replace(")_", "x)_")  # state names that are not cells
    (tmp_path / "g.gv").write_text(text)
    assert main(["train", "--mdp", str(tmp_path / "g.gv"), "--samples", "2", "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert main(["animate", str(tmp_path / "t"), "--sample", "0", "--out", str(tmp_path / "a.gif")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no grid to draw its agents on" in err and len(err.splitlines()) == 1


def test_compare_spec_on_a_graph_keeps_the_graph_in_its_config():
    spec = RunSpec(mdp="joint_grid2x2_crash", gamma_H=0.9, learner="qlearning", n_samples=3)
    comparison = compare(spec, execution=Execution(jobs=1))
    assert comparison.config["mdp"] == "joint_grid2x2_crash" and "layout" not in comparison.config
    assert comparison.result.kind == "joint_graph"
    assert comparison.metrics["max_abs_error_H"] <= 1e-3


def _ring_text() -> str:
    """A joint graph that is no gridworld: H on a ring of six places with six actions of its own names (one of
    them slips), A a switch with two; H may not go home (to place 0) while A flips an open switch."""
    moves = {"stay": {0: 1.0}, "cw": {1: 1.0}, "ccw": {-1: 1.0}, "cw2": {2: 1.0}, "cw_slip": {1: 0.7, 0: 0.3},
             "home": None}
    lines = ["digraph ring {"]
    for i in range(6):
        for j in range(2):
            state = f"s{i}{j}"
            for mh, spread in moves.items():
                for ma, flip in (("flip", 1), ("hold", 0)):
                    if mh == "home" and ma == "flip" and j == 1:
                        continue  # forbidden: the episode ends
                    act = f"[{mh}_H^{ma}_A]__{state}"
                    lines.append(f'"{state}" -> "{act}";')
                    outcomes = {0: 1.0} if spread is None else {(i + d) % 6: p for d, p in spread.items()}
                    for nxt, p in outcomes.items():
                        lines.append(f'"{act}" -> "s{nxt}{j ^ flip}__{act}" [weight={p}];')
    return "\n".join(lines + ["}"])


def test_a_graph_with_more_actions_than_a_layout_trains_and_matches_exact(tmp_path, capsys):
    graph = parse_joint_graph(_ring_text()).with_slots()
    assert len(graph.actions_H) == len(graph.actions_A) == 6 and graph.action_mask_A.sum(1).max() == 2
    assert graph.absorbing and not graph.deterministic
    R_H, R_A = RewardSampler(graph.n_states, seed=1).pairs(0, 16)
    problem = TwoStageProblem(graph, R_H, R_A, 0.8)
    agents = train_agents("qlearning", problem, 0, execution=Execution(jobs=1))
    assert agents.policy_H.shape == (16, graph.n_states, 6)
    m = compare_agents(problem, agents.policy_H, agents.policy_A, rollouts=Rollouts(n_rollouts=64)).metrics
    for agent in "HA":
        assert m[f"mean_abs_error_{agent}"] <= 0.01 and m[f"policy_gap_{agent}_max"] <= 1e-3
        assert m[f"pearson_{agent}"] >= 0.9
    ppo = train_agents("ppo", problem.rows(0, 2), 0, {"total_timesteps": 1024, "n_envs": 8, "n_steps": 16})
    assert ppo.policy_A.shape == (2, graph.n_states, 6) and not ppo.policy_A[:, :, 2:].any()  # A's own 2 slots
    (tmp_path / "ring.gv").write_text(_ring_text())
    assert main(["train", "--mdp", str(tmp_path / "ring.gv"), "--samples", "4", "--out", str(tmp_path / "t")]) == 0
    assert main(["compare", "--agents", str(tmp_path / "t"), "--out", str(tmp_path / "c")]) == 0
    assert main(["plot", str(tmp_path / "c"), "--out", str(tmp_path / "f")]) == 0  # no cells: the alignment plot
    assert {p.name for p in (tmp_path / "f").glob("*.png")} == {"learned_vs_exact.png", "alignment.png"}


def test_results_on_a_graph_do_not_depend_on_jobs_or_chunks(tmp_path):
    _, graph = _exported("bounce", 0.2)
    R_H, R_A = RewardSampler(graph.n_states, seed=5).pairs(0, 6)
    problem = TwoStageProblem(graph, R_H, R_A, 0.6)
    runs = [train_agents("qlearning", problem, 1, execution=Execution(jobs=jobs, chunk_size=chunk))
            for jobs, chunk in ((1, 6), (2, 2))]
    np.testing.assert_array_equal(runs[0].q_H, runs[1].q_H)
    np.testing.assert_array_equal(runs[0].policy_A, runs[1].policy_A)


def test_an_exact_run_on_a_graph_saves_its_spec_and_animates_its_optimal_policies(tmp_path, capsys):
    model, _ = _exported("crash")
    (tmp_path / "g.gv").write_text(joint_graph_text(model))
    (tmp_path / "seed.gv").write_text(policy_graph_text(model, seed_policy_table(model, "stay")))
    out = tmp_path / "exact"
    assert main(["exact", "--mdp", str(tmp_path / "g.gv"), "--seed-policy", str(tmp_path / "seed.gv"), "--gamma",
                 "0.8", "--samples", "3", "--out", str(out)]) == 0
    spec = load_spec(out)
    assert spec.mdp_name == "grid3x3" and spec.n_samples == 3 and spec.gamma_H == 0.8  # the graph's own name
    np.testing.assert_array_equal(spec.seed_policy_value(), seed_policy_table(model, "stay"))
    assert main(["animate", str(out), "--policy", "optimal", "--sample", "2", "--steps", "3",
                 "--out", str(tmp_path / "o.gif")]) == 0
    assert main(["exact", "--mdp", str(tmp_path / "g.gv"), "--seed-policy", str(tmp_path / "seed.gv"), "--gamma",
                 "0.8", "--samples", "3", "--out", str(out)]) == 0  # a rerun finds its folder as it left it


def test_a_sparse_graph_is_drawn_without_its_empty_rows_and_columns(tmp_path, capsys):
    model, _ = _exported("none")
    (tmp_path / "far.gv").write_text(joint_graph_text(model).replace("(2, 2)", "(40, 40)"))  # one cell far away
    train, cmp = tmp_path / "t", tmp_path / "c"
    assert main(["train", "--mdp", str(tmp_path / "far.gv"), "--samples", "2", "--out", str(train)]) == 0
    assert main(["compare", "--agents", str(train), "--out", str(cmp), "--no-figure"]) == 0
    assert main(["plot", str(cmp), "--out", str(tmp_path / "f")]) == 0
    assert {"heatmap_H.png", "heatmap_A.png"} <= {p.name for p in (tmp_path / "f").glob("*.png")}
    assert main(["animate", str(train), "--sample", "0", "--steps", "2", "--start", "40,40,0,0",
                 "--out", str(tmp_path / "a.gif")]) == 0
    capsys.readouterr()
    assert main(["animate", str(train), "--sample", "0", "--start", "2,2,0,0", "--out", str(tmp_path / "b.gif")]) == 2
    assert "cell (2, 2) is not a cell of the graph" in capsys.readouterr().err
    grid = parse_joint_graph(joint_graph_text(model).replace("(2, 2)", "(40, 40)")).grid()
    assert grid.layout.shape == (4, 4) and list(grid.rows) == [0, 1, 2, 40]
