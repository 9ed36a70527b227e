"""Every bad value on the command line is one line on stderr, ``multipower <command>: error: ...``, naming the
parameter, with exit code 2, before any work: no traceback, no solving or training first.

Each case runs ``multipower.cli.main`` in-process; the whole file runs in a few seconds because every case is
refused before the world is built.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from multipower.cli import main

#: Saved-result folders and files the cases refer to as ``{T}/...`` (built once by the ``files`` fixture).
FILES = {
    "binary.txt": bytes(range(256)) * 4,
    "empty.txt": b"",
    "seven.npy": b"abcdefg",
    "layout.txt": b"...\n.#.\n...\n",
    "objects.npy": None,  # an object array: written below with pickle
    "wrong_shape.npy": None,
}
RUN = ["--layout", "grid3x3", "--gamma", "0.6", "--samples", "5"]

# (argv, a fragment the message must contain: the parameter it names)
CASES = [
    # argparse: types and ranges of every numeric flag
    (["exact", *RUN, "--seed", "-1", "--out", "{T}/o"], "--seed"),
    (["exact", *RUN, "--seed", "1.7", "--out", "{T}/o"], "--seed"),
    (["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "0", "--out", "{T}/o"], "--samples"),
    (["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "-5", "--out", "{T}/o"], "--samples"),
    (["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "1e3", "--out", "{T}/o"], "--samples"),
    (["exact", "--layout", "grid3x3", "--gamma", "abc", "--out", "{T}/o"], "--gamma"),
    (["exact", "--layout", "grid3x3", "--gamma", "nan", "--out", "{T}/o"], "gamma"),
    (["exact", "--layout", "grid3x3", "--gamma", "inf", "--out", "{T}/o"], "gamma"),
    (["exact", "--layout", "grid3x3", "--gamma", "1", "--out", "{T}/o"], "gamma"),
    (["exact", "--layout", "grid3x3", "--gamma", "0", "--out", "{T}/o"], "gamma"),
    (["exact", *RUN, "--gamma-a", "1.5", "--out", "{T}/o"], "gamma_A"),
    (["exact", *RUN, "--gamma-a", "nan", "--out", "{T}/o"], "gamma_A"),
    (["exact", *RUN, "--correlation", "2", "--out", "{T}/o"], "correlation"),
    (["exact", *RUN, "--correlation", "nan", "--out", "{T}/o"], "correlation"),
    (["exact", *RUN, "--correlation", "-0.5", "--distribution", "pareto", "--out", "{T}/o"], "correlation"),
    (["exact", *RUN, "--collision", "explode", "--out", "{T}/o"], "--collision"),
    (["exact", *RUN, "--distribution", "cauchy", "--out", "{T}/o"], "--distribution"),
    (["exact", *RUN, "--dist-param", "foo=1", "--out", "{T}/o"], "foo"),
    (["exact", *RUN, "--dist-param", "low", "--out", "{T}/o"], "--dist-param"),
    (["exact", *RUN, "--dist-param", "low=abc", "--out", "{T}/o"], "--dist-param"),
    (["exact", *RUN, "--dist-param", "low=2", "--out", "{T}/o"], "low"),
    (["exact", *RUN, "--distribution", "pareto", "--dist-param", "alpha=nan", "--out", "{T}/o"], "alpha"),
    (["exact", *RUN, "--distribution", "pareto", "--dist-param", "alpha=inf", "--out", "{T}/o"], "alpha"),
    (["exact", *RUN, "--distribution", "beta", "--dist-param", "a=-1", "--out", "{T}/o"], "beta"),
    (["exact", *RUN, "--distribution", "bernoulli", "--dist-param", "p=1.5", "--out", "{T}/o"], "p"),
    (["exact", *RUN, "--chunk-size", "0", "--out", "{T}/o"], "--chunk-size"),
    (["exact", *RUN, "--jobs", "0", "--out", "{T}/o"], "--jobs"),
    (["exact", *RUN, "--jobs", "two", "--out", "{T}/o"], "--jobs"),
    (["exact", *RUN, "--max-memory", "lots", "--out", "{T}/o"], "max_memory"),
    (["exact", *RUN, "--max-memory=-1G", "--out", "{T}/o"], "max_memory"),
    (["exact", *RUN, "--device", "tpu", "--out", "{T}/o"], "device"),
    (["exact", *RUN, "--device", "cuda:x", "--out", "{T}/o"], "device"),
    (["exact", *RUN], "--out"),
    (["exact", "--gamma", "0.6", "--out", "{T}/o"], "--layout"),
    # files: missing, directories, binary, empty, not .npy
    (["exact", "--layout", "{T}/missing.txt", "--gamma", "0.6", "--out", "{T}/o"], "layout"),
    (["exact", "--layout", "{T}", "--gamma", "0.6", "--out", "{T}/o"], "layout"),
    (["exact", "--layout", "{T}/binary.txt", "--gamma", "0.6", "--out", "{T}/o"], "layout"),
    (["exact", "--layout", "{T}/empty.txt", "--gamma", "0.6", "--out", "{T}/o"], "layout"),
    (["exact", "--layout", "..x", "--gamma", "0.6", "--out", "{T}/o"], "layout"),
    (["exact", *RUN, "--seed-policy", "{T}/seven.npy", "--out", "{T}/o"], "seed_policy"),
    (["exact", *RUN, "--seed-policy", "{T}/objects.npy", "--out", "{T}/o"], "seed_policy"),
    (["exact", *RUN, "--seed-policy", "{T}/wrong_shape.npy", "--out", "{T}/o"], "seed_policy"),
    (["exact", *RUN, "--seed-policy", "{T}/missing.npy", "--out", "{T}/o"], "seed_policy"),
    (["exact", *RUN, "--seed-policy", "greedy", "--out", "{T}/o"], "seed_policy"),
    # train: counts, learner options of every learner (names, types, booleans, ranges), conflicts
    (["train", "--samples", "0", "--out", "{T}/o"], "--samples"),
    (["train", "--samples", "3", "--chunk", "0", "--out", "{T}/o"], "--chunk"),
    (["train", "--samples", "3", "--chunk", "-2", "--out", "{T}/o"], "--chunk"),
    (["train", "--samples", "3", "--jobs", "0", "--out", "{T}/o"], "--jobs"),
    (["train", "--samples", "3", "--jobs", "-1", "--out", "{T}/o"], "--jobs"),
    (["train", "--samples", "3", "--algo", "ppo", "--timesteps", "0", "--out", "{T}/o"], "--timesteps"),
    (["train", "--samples", "3", "--algo", "dqn", "--out", "{T}/o"], "--algo"),
    (["train", "--samples", "3", "--device", "tpu", "--algo", "ppo", "--out", "{T}/o"], "--device"),
    (["train", "--samples", "3", "--max-memory", "1K", "--out", "{T}/o"], "max_memory"),
    (["train", "--samples", "3", "--option", "min_visits=abc", "--out", "{T}/o"], "min_visits"),
    (["train", "--samples", "3", "--option", "min_visits=-1", "--out", "{T}/o"], "min_visits"),
    (["train", "--samples", "3", "--option", "min_visits=2.5", "--out", "{T}/o"], "min_visits"),
    (["train", "--samples", "3", "--option", "foo=1", "--out", "{T}/o"], "foo"),
    (["train", "--samples", "3", "--option", "novalue", "--out", "{T}/o"], "--option"),
    (["train", "--samples", "3", "--option", "all_actions=3", "--out", "{T}/o"], "all_actions"),
    (["train", "--samples", "3", "--option", "dtype=float16", "--out", "{T}/o"], "dtype"),
    (["train", "--samples", "3", "--option", "lr_omega=NaN", "--out", "{T}/o"], "lr_omega"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "foo=1", "--out", "{T}/o"], "foo"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "learning_rate=abc", "--out", "{T}/o"], "learning_rate"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "learning_rate=-1", "--out", "{T}/o"], "learning_rate"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "normalize_advantage=3", "--out", "{T}/o"],
     "normalize_advantage"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "anneal_lr=\"yes\"", "--out", "{T}/o"], "anneal_lr"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "net_arch=64", "--out", "{T}/o"], "net_arch"),
    (["train", "--samples", "3", "--algo", "ppo", "--option", "batch_size=0", "--out", "{T}/o"], "batch_size"),
    (["train", "--samples", "3", "--algo", "sb3-ppo", "--option", "foo=1", "--out", "{T}/o"], "foo"),
    (["train", "--samples", "3", "--algo", "sb3-ppo", "--option", "anneal_ent=1", "--out", "{T}/o"], "anneal_ent"),
    (["train", "--samples", "3", "--algo", "sb3-ppo", "--option", "n_envs=abc", "--out", "{T}/o"], "n_envs"),
    (["train", "--samples", "3", "--algo", "ppo", "--timesteps", "100", "--option", "total_timesteps=200",
      "--out", "{T}/o"], "--timesteps"),
    (["train", "--samples", "3", "--timesteps", "100", "--out", "{T}/o"], "--timesteps"),
    (["train", "--samples", "3", "--device", "cpu", "--out", "{T}/o"], "--device"),
    (["train", "--samples", "3", "--seed", "-4", "--out", "{T}/o"], "--seed"),
    (["train", "--layout", "{T}/binary.txt", "--out", "{T}/o"], "layout"),
    # compare: rollout settings, learner flags, --agents conflicts and damaged saved agents
    (["compare", "--samples", "3", "--rollouts", "0", "--out", "{T}/o"], "--rollouts"),
    (["compare", "--samples", "3", "--tol", "0", "--out", "{T}/o"], "--tol"),
    (["compare", "--samples", "3", "--tol", "nan", "--out", "{T}/o"], "--tol"),
    (["compare", "--samples", "3", "--tol", "-1", "--out", "{T}/o"], "--tol"),
    (["compare", "--samples", "3", "--rollout-seed", "-1", "--out", "{T}/o"], "--rollout-seed"),
    (["compare", "--samples", "3", "--jobs", "0", "--out", "{T}/o"], "--jobs"),
    (["compare", "--samples", "3", "--option", "min_visits=abc", "--out", "{T}/o"], "min_visits"),
    (["compare", "--agents", "{T}/agents", "--layout", "maze7x7", "--gamma", "0.9", "--out", "{T}/o"], "--layout"),
    (["compare", "--agents", "{T}/agents", "--samples", "100", "--out", "{T}/o"], "--samples"),
    (["compare", "--agents", "{T}/agents", "--algo", "ppo", "--out", "{T}/o"], "--algo"),
    (["compare", "--agents", "{T}/agents", "--option", "min_visits=5", "--out", "{T}/o"], "--option"),
    (["compare", "--agents", "{T}/missing", "--out", "{T}/o"], "missing"),
    (["compare", "--agents", "{T}/empty", "--out", "{T}/o"], "spec.json"),
    (["compare", "--agents", "{T}/bad_spec_json", "--out", "{T}/o"], "spec.json"),
    (["compare", "--agents", "{T}/spec_list", "--out", "{T}/o"], "spec.json"),
    (["compare", "--agents", "{T}/spec_bad_key", "--out", "{T}/o"], "'gamma_H'"),
    (["compare", "--agents", "{T}/config_no_gamma", "--out", "{T}/o"], "config.json"),
    (["compare", "--agents", "{T}/config_binary", "--out", "{T}/o"], "config.json"),
    (["compare", "--agents", "{T}/summary_bad_config", "--out", "{T}/o"], "summary.json"),
    # plot: resolution, damaged results, sweeps that point elsewhere
    (["plot", "{T}/result", "--dpi", "100000"], "dpi"),
    (["plot", "{T}/result", "--dpi", "5"], "dpi"),
    (["plot", "{T}/result", "--dpi", "0"], "--dpi"),
    (["plot", "{T}/result", "--dpi", "high"], "--dpi"),
    (["plot", "{T}/missing"], "missing"),
    (["plot", "{T}/layout.txt"], "layout.txt"),
    (["plot", "{T}/empty"], "empty"),
    (["plot", "{T}/summary_bad_json"], "summary.json"),
    (["plot", "{T}/summary_no_kind"], "'kind'"),
    (["plot", "{T}/summary_bad_layout"], "layout_text"),
    (["plot", "{T}/power_not_numbers"], "power.csv"),
    (["plot", "{T}/power_missing_column"], "power_H"),
    (["plot", "{T}/sweep_outside"], "'points'"),
    (["plot", "{T}/sweep_absolute"], "'points'"),
    (["plot", "{T}/sweep_no_points"], "'points'"),
    (["plot", "{T}/sweep_bad_json"], "sweep.json"),
    # reproduce: counts, learned settings, device, configs whose paths or names are wrong
    (["reproduce"], "NAME"),
    (["reproduce", "part2-fig6-8", "--samples", "0"], "--samples"),
    (["reproduce", "part2-fig6-8", "--learned-samples", "0", "--learned", "qlearning"], "--learned-samples"),
    (["reproduce", "part2-fig6-8", "--learned-samples", "5"], "--learned-samples"),
    (["reproduce", "part2-fig6-8", "--learned", "dqn"], "--learned"),
    (["reproduce", "part1-fig1", "--learned", "qlearning"], "--learned"),
    (["reproduce", "part2-fig6-8", "--device", "tpu"], "--device"),
    (["reproduce", "no-such-config"], "no-such-config"),
    (["reproduce", "{T}/configs/escape.yaml"], "'name'"),
    (["reproduce", "{T}/configs/absolute.yaml"], "'name'"),
    (["reproduce", "{T}/configs/hidden.yaml"], "'name'"),
    (["reproduce", "{T}/configs/missing_layout.yaml"], "'layout'"),
    (["reproduce", "{T}/configs/binary_layout.yaml"], "'layout'"),
    (["reproduce", "{T}/configs/dir_layout.yaml"], "'layout'"),
    (["reproduce", "{T}/configs/missing_policy.yaml"], "'seed_policy'"),
    (["reproduce", "{T}/configs/not_yaml.yaml"], "YAML"),
    (["reproduce", "{T}/configs/list.yaml"], "mapping"),
    (["reproduce", "{T}/configs/bad_gamma.yaml"], "'gamma'"),
    # demo
    (["demo", "--learned-samples", "-3", "--out", "{T}/o"], "--learned-samples"),
    (["demo", "--samples", "0", "--out", "{T}/o"], "--samples"),
    (["demo", "--algo", "dqn", "--out", "{T}/o"], "--algo"),
    # --out that names nothing (it would be the working folder)
    (["exact", *RUN, "--out", ""], "--out"),
    (["train", "--samples", "2", "--out", " "], "--out"),
    (["compare", "--single", "--layout", "grid3x3", "--out", ""], "--out"),
    (["reproduce", "part2-fig6-8", "--out", ""], "--out"),
    (["demo", "--out", ""], "--out"),
    (["plot", "{T}/o", "--out", ""], "--out"),
    (["export-mdp", "--layout", "grid3x3", "--out", ""], "--out"),
    # single-agent runs refuse what only two agents (or only layouts) have
    (["exact", "--single", *RUN, "--collision", "crash", "--out", "{T}/o"], "--collision"),
    (["exact", "--single", *RUN, "--seed-policy", "stay", "--out", "{T}/o"], "--seed-policy"),
    (["exact", "--single", "--mdp", "{T}/fig1.gv", "--gamma", "0.5", "--slip", "0.3", "--out", "{T}/o"], "--slip"),
    (["compare", "--single", "--mdp", "{T}/fig1.gv", "--slip", "0.3", "--out", "{T}/o"], "--slip"),
    (["compare", "--single", "--layout", "grid3x3", "--samples", "100000000000", "--out", "{T}/o"], "--samples"),
    (["compare", "--single", "--layout", "grid3x3", "--option", "walkers=1000000000000", "--out", "{T}/o"],
     "walkers"),
    # the command itself
    (["solve"], "COMMAND"),
    (["exact", *RUN, "--out", "{T}/o", "--no-such-flag"], "--no-such-flag"),
]


def _result(directory, summary=None, table="h_row,h_col,a_row,a_col,power_H,power_A\n0,0,0,0,0.5,0.5\n"):
    directory.mkdir(parents=True)
    config = {"layout": "custom", "layout_text": ".", "gamma": 0.6}
    summary = {"kind": "joint", "config": config} if summary is None else summary
    (directory / "summary.json").write_text(summary if isinstance(summary, str) else json.dumps(summary))
    (directory / "power.csv").write_text(table)


def _config(path, **changes):
    data = {"name": "tiny", "title": "tiny", "kind": "joint", "layout": "grid3x3", "gamma": 0.6, "n_samples": 5,
            **changes}
    path.write_text(yaml.safe_dump(data))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import importlib

    for module in ("torch", "multipower.agents.qlearning", "multipower.exact.power", "multipower.learned.compare", "multipower.repro.experiments", "multipower.plots.figures",
                   "multipower.agents.ppo", "multipower.agents.sb3_ppo"):
        importlib.import_module(module)  # imported once here, so that each case's time is its own
    root = tmp_path_factory.mktemp("surface")
    for name, data in FILES.items():
        if data is not None:
            (root / name).write_bytes(data)
    np.save(root / "objects.npy", np.array([object()] * 5), allow_pickle=True)
    np.save(root / "wrong_shape.npy", np.full((3, 5), 0.2))
    shutil.copy(Path(__file__).parents[2] / "envs" / "graphs" / "figure1.gv", root / "fig1.gv")
    (root / "empty").mkdir()
    (root / "agents").mkdir()
    (root / "agents" / "config.json").write_text(json.dumps({"layout": "grid3x3", "gamma": 0.6}))
    for name, text in {"bad_spec_json": "{not json", "spec_list": "[1, 2]",
                       "spec_bad_key": json.dumps({"format_version": 1, "gamma_H": "high"})}.items():
        (root / name).mkdir()
        (root / name / "spec.json").write_text(text)
    (root / "config_no_gamma").mkdir()
    (root / "config_no_gamma" / "config.json").write_text(json.dumps({"layout": "grid3x3"}))
    (root / "config_binary").mkdir()
    (root / "config_binary" / "config.json").write_bytes(bytes(range(256)))
    (root / "summary_bad_config").mkdir()
    (root / "summary_bad_config" / "summary.json").write_text(json.dumps({"config": [1]}))
    _result(root / "result")
    _result(root / "summary_bad_json", summary="{")
    _result(root / "summary_no_kind", summary={"config": {"layout_text": "."}})
    _result(root / "summary_bad_layout", summary={"kind": "joint", "config": {"layout_text": "x"}})
    _result(root / "power_not_numbers", table="h_row,h_col,a_row,a_col,power_H,power_A\n0,0,0,0,a,b\n")
    _result(root / "power_missing_column", table="h_row,h_col,a_row,a_col,power_A\n0,0,0,0,0.5\n")
    for name, points in {"sweep_outside": ["../result"], "sweep_absolute": [str(root / "result")],
                         "sweep_no_points": []}.items():
        (root / name).mkdir()
        (root / name / "sweep.json").write_text(json.dumps({"values": [0.5] * len(points), "points": points}))
    (root / "sweep_bad_json").mkdir()
    (root / "sweep_bad_json" / "sweep.json").write_text("[")
    configs = root / "configs"
    configs.mkdir()
    _config(configs / "escape.yaml", name="../../escaped")
    _config(configs / "absolute.yaml", name=str(root / "abs"))
    _config(configs / "hidden.yaml", name=".hidden")
    _config(configs / "missing_layout.yaml", layout="no_such_layout.txt")
    _config(configs / "binary_layout.yaml", layout="../binary.txt")
    _config(configs / "dir_layout.yaml", layout="../empty")
    _config(configs / "missing_policy.yaml", seed_policy="table.npy")
    _config(configs / "bad_gamma.yaml", gamma=1.5)
    (configs / "not_yaml.yaml").write_text("name: [unclosed\n")
    (configs / "list.yaml").write_text("- 1\n- 2\n")
    return root


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a[:6]) for a, _ in CASES])
def test_one_clean_line_naming_the_parameter(argv, names, files, capsys, monkeypatch):
    monkeypatch.chdir(files)  # a default results/ folder, if any were made, lands in the temporary folder
    argv = [arg.replace("{T}", str(files)) for arg in argv]
    start = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - start
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured
    assert len(lines) == 1, captured.err
    command = next((a for a in argv if not a.startswith("-")), "")
    assert lines[0].startswith(f"multipower {command}: error: ".replace("  ", " ")) or \
        lines[0].startswith("multipower: error: "), lines[0]
    flag = "--" + names.strip("'").replace("_", "-").lower()  # a Python name is shown as the command's flag
    assert names in lines[0] or flag in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert seconds < 2.0  # refused before any work (a run takes 5 s and more; the margin absorbs a loaded machine)
    assert not (files / "o").exists() and not (files / "results").exists()


def test_config_names_and_files_never_leave_the_results_root(files, monkeypatch):
    """A config's relative layout path resolves against the config's folder, not the working directory."""
    from multipower.runs.configs import load_config

    monkeypatch.chdir(files / "empty")
    _config(files / "configs" / "beside.yaml", layout="../layout.txt")
    config = load_config(files / "configs" / "beside.yaml")
    assert config["layout"] == str((files / "layout.txt").resolve())
    assert load_config(files / "configs" / "escape.yaml".replace("escape", "beside"))["name"] == "tiny"


def _env_reset(options):
    from multipower.envs import maze_v1

    maze_v1.parallel_env().reset(options=options)


def _exact(**kwargs):
    from multipower.exact.power import exact_power
    from multipower.runs.execution import Execution
    from multipower.runs.spec import RunSpec

    how = {key: kwargs.pop(key) for key in ("device",) if key in kwargs}
    power_tol = kwargs.pop("power_tol", None)
    exact_power(RunSpec("grid3x3", gamma_H=0.6, **{"n_samples": 5, **kwargs}), power_tol=power_tol,
                execution=Execution(progress=False, **how))


API_CASES = [
    (lambda: _exact(seed=1.7), "seed"),
    (lambda: _exact(seed="x"), "seed"),
    (lambda: _exact(correlation="0.5"), "correlation"),
    (lambda: _exact(power_tol=0), "power_tol"),
    (lambda: _exact(power_tol=-1), "power_tol"),
    (lambda: _exact(power_tol=float("nan")), "power_tol"),
    (lambda: _exact(n_samples="x"), "n_samples"),
    (lambda: _exact(device="tpu"), "device"),
    (lambda: _exact(distribution={"name": "uniform", "high": "1"}), "high"),
    (lambda: _env_reset({"cells": {"H": "a1", "A": (0, 0)}}), "options['cells']['H']"),
    (lambda: _env_reset({"rewards": {"H": ["0.5"] * 81, "A": [0.0] * 81}}), "rewards['H']"),
    (lambda: _env_reset({"rewards": {"H": np.array([object()] * 81), "A": [0.0] * 81}}), "rewards['H']"),
    (lambda: __import__("multipower.envs.rewards").envs.rewards.RewardSampler(9, seed=2.5), "seed"),
    (lambda: __import__("multipower.envs.rewards").envs.rewards.pareto(alpha=float("nan")), "alpha"),
]


@pytest.mark.parametrize("call, names", API_CASES, ids=[str(i) for i in range(len(API_CASES))])
def test_python_api_errors_name_the_argument(call, names):
    import multipower.envs.maze_v1  # noqa: F401  (imported before the clock starts)
    import multipower.exact.power  # noqa: F401
    import multipower.exact.solver  # noqa: F401

    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        call()
    assert names in str(error.value) and "\n" not in str(error.value)
    assert time.perf_counter() - start < 2.0  # refused before solving


@pytest.mark.parametrize("argv", [["exact", *RUN, "--bogus", "3", "--out", "{T}/o"],
                                  ["--bogus", "exact", *RUN, "--out", "{T}/o"],
                                  ["train", "--samples", "2", "--out", "{T}/o", "--bogus"],
                                  ["plot", "{T}/o", "extra"]])
def test_an_unknown_option_is_reported_by_its_command(argv, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    argv = [arg.replace("{T}", str(files)) for arg in argv]
    command = next(a for a in argv if a in ("exact", "train", "plot"))
    unknown = " ".join(a for a in argv if a in ("--bogus", "3", "extra"))
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"multipower {command}: error: unrecognized arguments: {unknown} (see --help)\n"
    assert not (files / "o").exists()


def test_debug_after_the_command_shows_the_traceback(files, monkeypatch):
    monkeypatch.chdir(files)
    with pytest.raises(ValueError, match="gamma"):
        main(["exact", "--layout", "grid3x3", "--gamma", "1.5", "--out", str(files / "o"), "--debug"])
    assert not (files / "o").exists()


def test_a_damaged_manifest_is_refused_then_replaced_with_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text("{not json")
    argv = ["exact", *RUN, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"multipower exact: error: --out: {out} holds a damaged manifest.json (") and \
        "use --overwrite to replace it" in err and len(err.splitlines()) == 1
    assert main([*argv, "--overwrite"]) == 0 and (out / "power.csv").is_file()
