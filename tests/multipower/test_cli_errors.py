"""A user error is one line on stderr, ``multipower <command>: error: ...``, exit code 2; ``--debug`` (or
``MULTIPOWER_DEBUG=1``) shows the traceback instead."""

import pytest

from multipower.cli import main
from multipower.runs.spec import SpecError

BAD = ["train", "--algo", "ppo", "--samples", "3", "--option", "n_envs=0"]


def test_one_line_and_exit_code_2(tmp_path, capsys):
    assert main([*BAD, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "multipower train: error: --option n_envs: must be a positive integer, got 0"
    assert not (tmp_path / "run").exists()


def test_argparse_errors_are_one_line_too(tmp_path, capsys):
    assert main(["train", "--algo", "ppo", "--samples", "3", "--chunk", "0", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "multipower train: error: argument --chunk: must be a positive integer, got '0' (see --help)"


def test_package_value_errors_are_one_line_too(tmp_path, capsys):
    # A check below the run specification (the memory budget's parser) raises a plain ValueError.
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "10", "--max-memory", "lots",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("multipower exact: error: ") and "--max-memory" in err and len(err.splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="n_envs: must be a positive integer"):
        main(["--debug", *BAD, "--out", str(tmp_path / "a")])
    monkeypatch.setenv("MULTIPOWER_DEBUG", "1")
    with pytest.raises(SpecError):
        main([*BAD, "--out", str(tmp_path / "b")])
