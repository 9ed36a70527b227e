"""Memory budgets that hold: estimates sit on top of what the process holds, a budget below that is refused,
and worlds, networks and frames too big for the machine are refused before anything is allocated."""

from __future__ import annotations

import numpy as np
import pytest

from multipower.cli import main
from multipower.envs import maze_v1
from multipower.envs.memory import check_budget, default_budget, process_memory


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
    with pytest.raises(ValueError, match=r"max_memory: PPO networks \(net_arch=\[100000, 100000\]\)"):
        train_agents(model, np.zeros((2, model.n_states)), 0.9, "H", uniform_policy(model.action_mask_A),
                     sample_keys(0, range(2), "H"), PPOConfig(net_arch=(100_000, 100_000)))
