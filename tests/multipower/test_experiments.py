"""Tests of multipower.repro.experiments: configs, published-number checks, cached and resumable sweeps."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from multipower.envs.model import joint_model
from multipower.repro import experiments
from multipower.runs import configs
from multipower.runs.configs import ConfigError
from multipower.runs.results import PowerResult
from tests.multipower.test_plotting import fake_joint, fake_single
from multipower.runs.execution import Execution, Storage

NAMES = [name for name, _ in configs.list_configs()]
TINY = 40  # reward samples for the end-to-end runs


def base_config(**changes) -> dict:
    config = {"name": "t", "title": "test", "kind": "joint", "layout": "grid3x3", "gamma": 0.6, "n_samples": TINY}
    config.update(changes)
    return config


def test_every_published_figure_set_has_a_config():
    expected = {"part1-fig1", "part2-fig2-4", "part2-fig6-8", "part2-fig9-10", "part3-fig2-4", "part3-fig5-7",
                "part3-fig8-9", "part3-fig10-11"}
    assert expected <= set(NAMES)
    assert any(name.startswith("beyond-") for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_config_parses_and_validates(name):
    config = configs.load_config(name)
    assert config["name"] == name and config["title"]
    model = joint_model(config["layout"], config["collision"]) if config["kind"] != "single" else None
    for entry in config["published"]:
        if "state" in entry:  # the state a published number refers to exists under the config's rules
            cells = model.layout
            h = cells.cell_index(*entry["state"]["H"])
            a = cells.cell_index(*entry["state"]["A"])
            model.joint_state(h, a)
    if config["name"].startswith("part"):
        assert config["published"], f"{name} carries no published numbers"


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"gamma": 1.5}, "gamma"),
        ({"collision": "wall"}, "collision"),
        ({"n_samples": 0}, "n_samples"),
        ({"kind": "movie"}, "kind"),
        ({"colour": "red"}, "colour"),
        ({"correlation": 2.0}, "correlation"),
        ({"seed_policy": "greedy"}, "seed_policy"),
        ({"layout": "nowhere7x7"}, "layout"),
        ({"distribution": {"name": "cauchy"}}, "distribution"),
        ({"published": [{"quantity": "power_H", "value": 0.5}]}, "published[0]"),
        ({"published": [{"quantity": "power_H", "state": {"H": [1, 1], "A": [9, 9]}, "value": 0.5}]}, "published[0].state.A"),
        ({"published": [{"quantity": "alpha", "value": 0.5, "colour": 1}]}, "published[0].colour"),
        ({"kind": "sweep", "sweep": {"parameter": "delta", "values": [0.1]}}, "sweep.parameter"),
        ({"kind": "sweep", "sweep": {"parameter": "gamma", "values": [0.5, 1.0]}}, "sweep.values"),
    ],
)
def test_bad_config_names_the_key(tmp_path, changes, key):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(base_config(**changes)))
    with pytest.raises(ConfigError, match=f"'{key}'" if "[" not in key else key.replace("[", r"\[").replace("]", r"\]")):
        configs.load_config(path)


def test_missing_key_and_unknown_name():
    config = base_config()
    del config["gamma"]
    with pytest.raises(ConfigError, match="missing required key 'gamma'"):
        configs.validate_config(config)
    with pytest.raises(ConfigError, match="no config named 'part9'"):
        configs.load_config("part9")


def test_sweep_values_include_stop():
    values = configs.sweep_values({"start": 0.0, "stop": 1.0, "step": 0.05})
    assert len(values) == 21 and values[0] == 0.0 and values[-1] == 1.0 and values[7] == 0.35


def test_evaluate_entry_values_extremes_and_cells():
    result = fake_joint("grid3x3")
    state = {"H": [1, 1], "A": [0, 0]}
    value = result.value_at("power_H", (1, 1), (0, 0))
    near = experiments.evaluate_entry({"quantity": "power_H", "state": state, "value": value + 0.002}, result)
    far = experiments.evaluate_entry({"quantity": "power_H", "state": state, "value": value + 0.004}, result)
    assert near.verdict.startswith("agrees") and far.verdict.startswith("differs")  # SE is 0.001: 2 vs 4 SE
    alpha = experiments.evaluate_entry({"quantity": "alpha", "compare": "<", "value": 0}, result)
    assert alpha.verdict == ("agrees" if result.stats["alpha"] < 0 else "differs")
    top = int(np.argmax(result["power_A"]))
    a_cell = result.labels[top, 2:].tolist()
    good = {"quantity": "power_A", "extreme": "max", "top": 1, "expect": {"A": [a_cell]}}
    bad = {"quantity": "power_A", "extreme": "max", "top": 1, "expect": {"A": [[9, 9]]}}
    assert experiments.evaluate_entry(good, result).verdict == "agrees"
    assert experiments.evaluate_entry(bad, result).verdict.startswith("differs")
    single = fake_single("maze7x7")
    check = experiments.evaluate_entry({"quantity": "power", "cells": "junctions", "value": 0.8, "tolerance": 1e-9}, single)
    assert check.verdict.startswith("agrees") and check.value == pytest.approx(0.8)
    assert configs.cell_class("maze7x7", "dead_ends") == [[0, 6], [6, 6]]
    assert len(configs.cell_class("maze7x7", "junctions")) == 6


def test_blocking_excess_finds_the_planted_state():
    result = fake_joint("maze7x7", "crash")
    power_A = result["power_A"].copy()
    planted = np.flatnonzero((result.labels == [0, 6, 0, 2]).all(axis=1))[0]
    power_A[planted] += 0.5
    result.arrays["power_A"] = power_A
    out = experiments.blocking_excess(result, [[0, 4], [0, 5], [0, 6]])
    assert out["state"] == [0, 6, 0, 2] and out["argmax_A_in_corridor"] and out["excess"] > 0.4


def test_run_joint_reuses_matching_result(tmp_path):
    calls = []

    def solver(run, progress):
        calls.append(run["n_samples"])
        return experiments.exact_solver(run, progress)

    config = configs.load_config("part2-fig6-8")
    out = experiments.run_experiment(
        config, TINY, solver=solver, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert calls == [TINY] and out.computed == [None]
    assert (tmp_path / "exact" / "power.csv").is_file() and (tmp_path / "report.md").is_file()
    assert len(out.checks) == len(config["published"])
    again = experiments.run_experiment(
        config, TINY, solver=solver, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert calls == [TINY] and again.computed == []  # reused
    experiments.run_experiment(
        config, TINY + 1, solver=solver, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert calls == [TINY, TINY + 1]  # a different sample count is recomputed


def test_interrupted_sweep_resumes_with_only_the_remaining_points(tmp_path):
    config = configs.validate_config(base_config(
        name="resume", kind="sweep", sweep={"parameter": "correlation", "values": [0.0, 0.25, 0.5, 1.0]}, n_samples=TINY,
    ))
    computed = []

    stop_at_third = True

    def solver(run, progress):
        if stop_at_third and len(computed) == 2:  # Ctrl-C when the third point starts: two are saved
            raise KeyboardInterrupt
        computed.append(run["correlation"])
        return experiments.exact_solver(run, progress)

    with pytest.raises(KeyboardInterrupt):
        experiments.run_experiment(config, solver=solver, execution=Execution(progress=False),
                                   storage=Storage(tmp_path))
    stop_at_third = False
    assert computed == [0.0, 0.25]
    finished = sorted(p.parent.name for p in (tmp_path / "points").glob("*/power.csv"))
    assert finished == ["correlation=0", "correlation=0.25"]  # the third point's folder is begun, not finished
    outcome = experiments.run_experiment(
        config, solver=solver, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert computed == [0.0, 0.25, 0.5, 1.0]  # only the two remaining points were solved
    assert outcome.computed == [0.5, 1.0]
    summary, results = configs.load_sweep(tmp_path)
    assert summary["values"] == [0.0, 0.25, 0.5, 1.0] and summary["alpha"][-1] == pytest.approx(1.0)
    assert isinstance(results[0.5], PowerResult)
    assert (tmp_path / "figures" / "alpha_vs_correlation.png").is_file()


@pytest.mark.parametrize("name", ["part1-fig1", "part2-fig2-4"])
def test_each_kind_of_config_runs_with_the_real_solver(name, tmp_path):
    """A single-agent and a joint config run end to end with the package's own exact solver (no stand-in)."""
    config = configs.load_config(name)
    outcome = experiments.run_experiment(
        config, TINY, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert (tmp_path / "report.md").is_file() and (tmp_path / "exact" / "power.csv").is_file()
    assert outcome is not None


def test_learned_reproduction_checks_learned_power_and_resumes(tmp_path, capsys):
    """``--learned``: the published checks run on learned POWER (and on exact POWER of the same samples), the
    report has its section, and training resumes from its saved chunks."""
    config = configs.load_config("part2-fig2-4")
    run = dict(n_samples=TINY, figures=False, learned="qlearning", learned_samples=4, storage=Storage(tmp_path))
    outcome = experiments.run_experiment(config, **run, execution=Execution(progress=False))
    learned = outcome.extra["learned"]
    assert len(learned["checks_learned"]) == len(learned["checks_exact"]) >= len(config["published"])
    assert learned["checks_learned"][0]["label"] == outcome.checks[0].label
    assert "## Learned agents: qlearning, 4 samples" in (tmp_path / "report.md").read_text()
    assert "verdict (learned)" in outcome.learned_table()
    chunks = sorted((tmp_path / "learned_qlearning" / "chunks").glob("*.npz"))
    assert len(chunks) >= 2
    first = (tmp_path / "learned_qlearning" / "power.csv").read_bytes()
    chunks[-1].unlink()  # as if interrupted before the last chunk was saved
    experiments.run_experiment(config, **run, execution=Execution(progress=True))
    assert "resuming: " in capsys.readouterr().err
    assert (tmp_path / "learned_qlearning" / "power.csv").read_bytes() == first
