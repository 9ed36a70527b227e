"""The run specification: validated once, saved and loaded by one pair of functions, read from old folders."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from multipower.agents.storage import save_agents
from multipower import cli
from multipower.cli.commands import add_option_argument, add_run_arguments, spec_from_args
from multipower.runs.results import PowerResult
from multipower.runs.spec import SPEC_VERSION, RunSpec, SpecError, load_spec, save_spec, spec_from_config


def test_save_load_round_trip(tmp_path):
    spec = RunSpec(layout="maze7x7", collision="crash", gamma_H=0.1, gamma_A=0.3, distribution={"name": "beta", "a": 2.0},
                   correlation=0.25, seed=3, n_samples=7, seed_policy="stay", learner="qlearning",
                   learner_options={"min_visits": 30})
    save_spec(spec, tmp_path)
    data = json.loads((tmp_path / "spec.json").read_text())
    assert data["format_version"] == SPEC_VERSION and data["layout_text"].startswith(".")
    assert load_spec(tmp_path) == spec
    assert spec.model().n_states == 31 * 30 and spec.discount_A == 0.3


def test_text_layout_keeps_its_name(tmp_path):
    spec = RunSpec(layout="..#\n...", layout_name="mine")
    save_spec(spec, tmp_path)
    assert load_spec(tmp_path).model().layout.name == "mine"


@pytest.mark.parametrize(
    "data, key",
    [({"gamma": 1.5}, "gamma"), ({"gamma_A": 0}, "gamma_A"), ({"samples": 0}, "samples"), ({"collision": "wall"}, "collision"),
     ({"seed_policy": "greedy"}, "seed_policy"), ({"distribution": "cauchy"}, "distribution"), ({"seed": -1}, "seed"),
     ({"layout": "nowhere7x7"}, "layout"), ({"learner": "sarsa"}, "learner"), ({"colour": 1}, "colour")],
)
def test_errors_name_the_key_in_one_line(data, key):
    with pytest.raises(SpecError, match=f"'{key}'") as error:
        RunSpec.from_dict(data)
    assert "\n" not in str(error.value)


def test_unknown_format_version_fails_in_one_line(tmp_path):
    (tmp_path / "spec.json").write_text(json.dumps({"format_version": 99, "layout": "grid3x3"}))
    with pytest.raises(SpecError, match="format version 99"):
        load_spec(tmp_path)


def test_folders_written_before_specs_load(tmp_path):
    """Saved agents (config.json) and saved results (summary.json) without spec.json give their spec."""
    policy = np.full((1, 4, 5), 0.2)
    config = {"algo": "qlearning", "layout": "custom", "layout_text": "..\n..", "gamma_H": 0.5, "gamma_A": 0.7,
              "collision": "crash", "seed": 2, "samples": 1, "timings": {"H_seconds": 1.0}}
    save_agents(tmp_path / "agents", policy, policy, np.zeros((1, 4)), np.zeros((1, 4)), config)
    spec = load_spec(tmp_path / "agents")
    assert (spec.gamma_H, spec.discount_A, spec.collision, spec.n_samples, spec.learner) == (0.5, 0.7, "crash", 1, "qlearning")
    assert spec.model().n_states == 4 * 3
    labels = np.array([[0, 0], [0, 1]])
    PowerResult("single", labels, {"power": [0.1, 0.2]}, {"layout": "custom", "layout_text": "..", "gamma": 0.2,
                                                          "n_samples": 9}).save(tmp_path / "result")
    assert load_spec(tmp_path / "result").n_samples == 9
    with pytest.raises(SpecError, match="no discount"):
        spec_from_config({"layout": "grid3x3"})


def test_flags_are_alike_and_old_spellings_still_work(capsys):
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    add_option_argument(parser)
    args = parser.parse_args(["--gamma-A", "0.3", "--train-option", "min_visits=5", "--option", "dtype=float32",
                              "--distribution", "beta", "--dist-param", "a=2", "--seed-policy", "stay"])
    spec = spec_from_args(args, learner="qlearning")
    assert spec.gamma_A == 0.3 and spec.seed_policy == "stay" and spec.distribution == {"name": "beta", "a": 2.0}
    assert spec.learner_options == {"min_visits": 5, "dtype": "float32"}
    err = capsys.readouterr().err
    assert "--gamma-A is deprecated; use --gamma-a" in err and "--train-option is deprecated; use --option" in err


def test_cli_reports_a_bad_parameter_in_one_line(tmp_path, capsys):
    assert cli.main(["exact", "--layout", "grid3x3", "--gamma", "1.5", "--samples", "2", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "multipower exact: error: --gamma must be in (0, 1), got 1.5"
