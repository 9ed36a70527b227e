"""Inputs that used to end in a traceback or be accepted silently: each gets one line naming what is wrong,
before any work, and leaves no folder behind."""

from __future__ import annotations

import pytest

from multipower.cli import main

RUN = ["--gamma", "0.5", "--samples", "10"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("collision", ["crash", "bounce"])
def test_a_one_cell_layout_without_sharing(tmp_path, capsys, collision):
    layout = tmp_path / "one.txt"
    layout.write_text("#.#\n###\n")
    out = tmp_path / "out"
    assert main(["exact", "--layout", str(layout), "--collision", collision, *RUN, "--out", str(out)]) == 2
    assert "no joint state" in _one_line(capsys) and not out.exists()


def test_a_huge_dot_weight(tmp_path, capsys):
    graph = tmp_path / "g.gv"
    graph.write_text('digraph { "s"; "a__s"; "s__a__s"; "s" -> "a__s"; "a__s" -> "s__a__s" [weight="1e308"]; }')
    assert main(["exact", "--single", "--mdp", str(graph), *RUN, "--out", str(tmp_path / "out")]) == 2
    assert "weights are probabilities in [0, 1]" in _one_line(capsys)


@pytest.mark.parametrize("text, fragment", [(b"name: x\ngamma: 0.5\ngamma: 0.9\n", "'gamma' is given twice"),
                                            (b"name: \xff\xfe\n", "not UTF-8 text")])
def test_a_config_with_a_duplicate_key_or_not_utf8(tmp_path, capsys, text, fragment):
    config = tmp_path / "c.yaml"
    config.write_bytes(text)
    assert main(["reproduce", str(config), "--out", str(tmp_path / "out")]) == 2
    line = _one_line(capsys)
    assert fragment in line and "c.yaml" in line and not (tmp_path / "out").exists()


def test_an_unwritable_tensorboard_folder_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["train", "--layout", "grid3x3", *RUN, "--tensorboard", "/proc/x", "--out", str(out)]) == 2
    assert "--tensorboard: /proc/x is a system folder" in _one_line(capsys) and not out.exists()


def test_a_bad_agents_folder_leaves_no_out(tmp_path, capsys):
    agents = tmp_path / "agents"
    assert main(["train", "--layout", "grid3x3", *RUN, "--samples", "2", "--out", str(agents)]) == 0
    (agents / "agents.npz").write_bytes(b"not a zip")
    capsys.readouterr()
    out = tmp_path / "cmp"
    assert main(["compare", "--agents", str(agents), "--out", str(out)]) == 2
    assert "agents.npz" in _one_line(capsys) and not out.exists()


def test_input_files_are_regular_and_bounded(tmp_path, capsys, monkeypatch):
    """/dev/zero, a FIFO and an oversized file: one line each, at once (they would read forever or fill memory)."""
    import os

    fifo = tmp_path / "pipe.gv"
    os.mkfifo(fifo)
    big = tmp_path / "big.gv"
    big.write_bytes(b"digraph { }" + b" " * 5000)
    monkeypatch.setenv("MULTIPOWER_MAX_FILE_BYTES", "4K")
    for source, fragment in (("/dev/zero", "not a regular file"), (str(fifo), "not a regular file"),
                             (str(big), "over the limit of 4,096")):
        assert main(["exact", "--single", "--mdp", source, *RUN, "--out", str(tmp_path / "out")]) == 2
        assert fragment in _one_line(capsys)


def test_connectivity_of_a_long_corridor():
    """A 100,000-cell corridor (the search visits each cell once; the former frontier sweeps took over 60 s)."""
    from multipower.envs.layouts import parse_layout

    assert parse_layout("\n".join(["."] * 100_000)).is_connected()
    with pytest.warns(UserWarning, match="not all connected"):
        assert not parse_layout("..#..").is_connected()


@pytest.mark.parametrize("params, fragment", [(["--distribution", "pareto", "--dist-param", "alpha=0.001"],
                                               "give non-finite values"),
                                              (["--distribution", "uniform", "--dist-param", "low=-1e308",
                                                "--dist-param", "high=1e308"], "cannot be drawn")])
def test_reward_distributions_with_non_finite_draws_are_refused_up_front(tmp_path, capsys, params, fragment):
    out = tmp_path / "out"
    assert main(["exact", "--layout", "grid3x3", *RUN, *params, "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert line.startswith("multipower exact: error: --distribution: ") and fragment in line and not out.exists()
