"""Memory budgets that hold: estimates sit on top of what the process holds, a budget below that is refused,
and worlds, networks and frames too big for the machine are refused before anything is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.cli import main
from multipower.envs import maze_v1
from multipower.envs.memory import check_budget, default_budget, process_memory
from multipower.envs.problem import StageProblem


def test_the_baseline_is_measured_and_counted():
    held = process_memory()
    assert held > 10 << 20  # an interpreter with numpy holds tens of MB
    with pytest.raises(ValueError, match="below what this process already holds"):
        check_budget(1, held // 2, "a run", 10)
    with pytest.raises(ValueError, match="on top of the"):
        check_budget(held, held + held // 2, "a run", 10)  # fits alone, not with the baseline
    check_budget(1 << 20, held + (4 << 20), "a run", 10)
    assert default_budget() > held


def test_a_budget_below_the_baseline_is_one_line(tmp_path, capsys):
    assert main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "10", "--max-memory", "1M",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "below what this process already holds" in err


def test_a_world_too_big_for_the_machine_is_refused_before_its_tables_exist():
    with pytest.raises(ValueError, match="max_memory: the joint model of .* 100,000,000 joint states"):
        maze_v1.parallel_env(layout="\n".join(["." * 100] * 100))


def test_networks_too_big_are_refused_before_they_exist():
    from multipower.agents.ppo import PPOConfig, sample_keys, train_agents
    from multipower.envs.model import joint_model
    from multipower.envs.policies import uniform_policy

    model = joint_model("maze7x7")
    with pytest.raises(ValueError, match=r"max_memory: PPO training \(net_arch=\[100000, 100000\]"):
        train_agents(
            StageProblem(model, np.zeros((2, model.n_states)), 0.9, "H", uniform_policy(model.action_mask_A)),
            sample_keys(0, range(2), "H"),
            PPOConfig(net_arch=(100_000, 100_000)),
        )


# ------------------------------------------------------------------------------------------------------------
# Peak memory of real runs against the tightest budget each accepts.

_PEAK = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); "
         "sys.stderr.write(p.stderr)")
_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def _run_peak(args: list, budget: int) -> tuple:
    """``(exit code, peak RSS in bytes, stderr)`` of ``multipower ARGS --max-memory BUDGET`` in a child process."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _PEAK, sys.executable, "-m", "multipower", *args,
                          "--max-memory", str(budget)], capture_output=True, text=True, timeout=600)
    rc, peak = out.stdout.split()
    return int(rc), int(peak), out.stderr


def _size(text: str) -> int:
    number, unit = text.split()
    return int(float(number) * _UNITS[unit])


def _tightest_budget(args: list) -> int:
    """The smallest budget the run accepts: its own refusal line says what it needs on top of what it holds."""
    import re

    budget = 64 << 20
    for _ in range(3):
        rc, _, err = _run_peak(args, budget)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        held = re.search(r"already holds \(([0-9.]+ [KMG]?B)", err)
        need = re.search(r"needs about ([0-9.]+ [KMG]?B) on top of the ([0-9.]+ [KMG]?B)", err)
        if need:
            # 16 MB: the two figures' rounding, and the few MB by which the baseline differs from run to run
            return _size(need.group(1)) + _size(need.group(2)) + (16 << 20)
        budget = _size(held.group(1)) + (1 << 20)
    raise AssertionError(f"no estimate in {err!r}")


@pytest.mark.parametrize("args", [
    ["exact", "--layout", "robot_face20x20", "--gamma", "0.1", "--samples", "16", "--jobs", "1"],
    ["exact", "--layout", "robot_face20x20", "--gamma", "0.99", "--samples", "4", "--jobs", "2"],
    ["train", "--algo", "qlearning", "--layout", "robot_face20x20", "--gamma", "0.9", "--samples", "2", "--jobs", "1",
     "--option", "max_steps=200", "--option", "min_visits=1"],
    ["train", "--algo", "ppo", "--layout", "maze7x7", "--gamma", "0.6", "--samples", "2", "--jobs", "1",
     "--timesteps", "8192"],
    ["compare", "--algo", "ppo", "--layout", "maze7x7", "--gamma", "0.6", "--samples", "2", "--jobs", "1",
     "--option", "total_timesteps=8192"],
    ["compare", "--algo", "qlearning", "--layout", "robot_face20x20", "--gamma", "0.9", "--samples", "2", "--jobs",
     "1", "--option", "max_steps=200", "--option", "min_visits=1"],
], ids=["exact-face", "exact-face-0.99-jobs2", "train-q-face", "train-ppo", "compare-ppo", "compare-q-face"])
def test_peak_memory_stays_within_the_tightest_accepted_budget(args, tmp_path):
    """Refused below what it needs (one line), and run at the smallest budget it accepts, the process's peak
    resident memory (with any workers') stays within that budget."""
    budget = _tightest_budget(args + ["--out", str(tmp_path / "refused")])
    rc, peak, err = _run_peak(args + ["--out", str(tmp_path / "run")], budget)
    assert rc == 0, err[-2000:]
    assert peak <= budget, f"peak {peak / 2**20:.0f} MB over the budget of {budget / 2**20:.0f} MB"
