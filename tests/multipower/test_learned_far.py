"""The learned-against-exact targets at long horizons (benchmarks/bench_learned_far.py's cases), each checked
against the exact solver on the same reward samples. Slow: minutes to half an hour each on 2 cores."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from multipower.learned.compare import compare

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
    m = compare(layout, gamma, algo=algo, n_samples=n, collision=collision, seed=seed,
                train_options={"n_jobs": 2}).metrics
    assert m["mean_abs_error_H"] <= mean_max and m["pearson_H"] >= pearson_min, m
    assert m["mean_abs_error_A"] <= mean_max and m["pearson_A"] >= pearson_A_min, m
    assert abs(m["alpha_learned"] - m["alpha_exact"]) <= alpha_max, m


def test_the_cases_cover_every_target_row():
    assert {"ppo-crash", "ppo-none", "q-crash", "ppo-short-crash", "ppo-short-none", "custom-ppo"} <= set(CASES)
    assert all(Path(layout).is_file() or layout in ("grid3x3", "maze7x7") for _, layout, *_ in CASES.values())
