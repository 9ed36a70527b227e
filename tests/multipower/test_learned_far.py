"""The learned-against-exact targets at long horizons (benchmarks/bench_learned_far.py's cases), each checked
against the exact solver on the same reward samples. Slow: minutes to half an hour each on 2 cores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from multipower.learned.compare import compare
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_learned_far.py"


def _cases() -> dict:
    spec = importlib.util.spec_from_file_location("bench_learned_far", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


CASES = _cases()


@pytest.mark.slow
@pytest.mark.timeout(5400)
@pytest.mark.parametrize("name", list(CASES))
def test_learned_power_meets_its_target(name):
    algo, layout, collision, gamma, n, seed, (mean_max, pearson_min, alpha_max, pearson_A_min) = CASES[name]
    spec = RunSpec(layout, gamma_H=gamma, collision=collision, learner=algo, n_samples=n, seed=seed)
    m = compare(spec, execution=Execution(jobs=2)).metrics
    assert m["mean_abs_error_H"] <= mean_max and m["pearson_H"] >= pearson_min, m
    assert m["mean_abs_error_A"] <= mean_max and m["pearson_A"] >= pearson_A_min, m
    assert abs(m["alpha_learned"] - m["alpha_exact"]) <= alpha_max, m


def test_the_cases_cover_every_target_row():
    assert {"ppo-crash", "ppo-none", "q-crash", "ppo-short-crash", "ppo-short-none", "custom-ppo"} <= set(CASES)
    assert all(Path(layout).is_file() or layout in ("grid3x3", "maze7x7") for _, layout, *_ in CASES.values())


def _h_far(*args: str) -> dict:
    import json
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "experiments" / "learned_h_far.py"
    out = subprocess.run([sys.executable, str(script), "--threads", "1", *args], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


def test_near_optimal_h_is_exact_at_zero_and_drifts_with_its_near_ties():
    # EPS = 0 keeps H's exact optimum (no two actions tie exactly on random rewards): POWER_H is the solver's.
    base = ("--layout", "grid3x3", "--gamma", "0.9", "--samples", "16")
    exact = _h_far(*base, "--near-optimal", "0")
    assert exact["greedy_optimal"] == 1.0 and exact["power_H_error"] == 0.0 and exact["map_pearson"] == 1.0
    # Wider near-ties: H strays from the optimum more often, and its losses stay within EPS per state.
    loose = _h_far(*base, "--near-optimal", "0.05")
    assert loose["greedy_optimal"] < 1.0 and 0.0 < loose["wrong_gap_median"] <= 0.05
    assert loose["power_H_error"] > 0.0


def test_near_optimal_refuses_a_negative_tolerance():
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "experiments" / "learned_h_far.py"
    out = subprocess.run([sys.executable, str(script), "--near-optimal", "-1"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].endswith(
        "--near-optimal: must be a finite number >= 0, got -1.0")
