"""``multipower train --algo ppo``: chunks saved as they finish, resume after SIGKILL with identical results,
chunk size and job count that change nothing, bad input refused before any work, and SB3 runs saved before
the batched trainer existed read as ``sb3-ppo``."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from multipower.agents.storage import load_agents
from multipower.cli import main
from multipower.runs.spec import learner_of, load_spec

SMALL = ["--layout", "grid3x3", "--gamma", "0.6", "--samples", "5", "--timesteps", "2048", "--no-eval",
         "--option", "n_envs=8", "--option", "n_steps=32", "--option", "batch_size=64", "--device", "cpu"]


def train(out, *extra):
    return main(["train", "--algo", "ppo", *SMALL, "--out", str(out), *extra])


def test_chunk_size_and_jobs_change_nothing(tmp_path):
    assert train(tmp_path / "a", "--chunk", "5", "--jobs", "1") == 0
    assert train(tmp_path / "b", "--chunk", "2", "--jobs", "2") == 0
    a, b = load_agents(tmp_path / "a"), load_agents(tmp_path / "b")
    assert np.array_equal(a.policy_H, b.policy_H) and np.array_equal(a.policy_A, b.policy_A)
    assert np.array_equal(a.R_H, b.R_H)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["trainer"] == "ppo" and config["chunk"] == 2 and config["hyperparameters"]["H"]["n_envs"] == 8
    assert load_spec(tmp_path / "b").learner == "ppo"


def test_sigkill_then_rerun_resumes_to_the_same_result(tmp_path):
    whole = tmp_path / "whole"
    assert train(whole, "--chunk", "1", "--jobs", "1") == 0
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "multipower.cli", "train", "--algo", "ppo", *SMALL, "--out", str(out),
               "--chunk", "1", "--jobs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list((out / "chunks").glob("*.npz"))) < 2:
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = sorted(p.name for p in (out / "chunks").glob("*.npz"))
    assert 2 <= len(finished) < 5 and not (out / "agents.npz").exists()
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"resuming: {len(finished)} of 5 samples already finished" in result.stderr
    resumed, reference = load_agents(out), load_agents(whole)
    assert np.array_equal(resumed.policy_H, reference.policy_H) and np.array_equal(resumed.policy_A, reference.policy_A)


def test_another_runs_chunks_are_refused(tmp_path, capsys):
    assert train(tmp_path, "--chunk", "3") == 0
    assert main(["train", "--algo", "ppo", *SMALL[:-2], "--gamma", "0.7", "--out", str(tmp_path)]) == 2
    assert "holds finished chunks of another run (differs in gamma_H)" in capsys.readouterr().err
    assert main(["train", "--algo", "ppo", *SMALL[:-2], "--gamma", "0.7", "--out", str(tmp_path), "--restart"]) == 0


@pytest.mark.parametrize("flags, message", [
    (["--chunk", "0"], "argument --chunk: must be a positive integer, got '0'"),
    (["--jobs", "-1"], "argument --jobs: must be a positive integer, got '-1'"),
    (["--option", "n_epochs=0"], "--option n_epochs: must be a positive integer"),
    (["--option", "gae_lambda_end=1.5"], "--option gae_lambda_end: must be a finite number >= 0.0 and <= 1.0"),
    (["--option", "batch_size=4096"], "--option batch_size: must be at most n_envs * n_steps = 256"),
    (["--option", "gamma=0.5"], "--option gamma: not a PPO hyperparameter"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, flags, message):
    assert train(tmp_path / "x", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_old_sb3_runs_read_as_sb3_ppo():
    assert learner_of({"algo": "ppo"}) == "sb3-ppo"  # saved before the batched trainer: no "trainer" key
    assert learner_of({"algo": "ppo", "trainer": "ppo"}) == "ppo"
    assert learner_of({"algo": "qlearning"}) == "qlearning"
