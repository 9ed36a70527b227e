"""Memory that does not grow with what it need not: samples, reward blocks, world size, sweep points.

Peak memory is measured with tracemalloc (numpy's arrays are traced; the compiled kernels' scratch is not, and is
O(states) per solve). Reward draws depend on the run's specification only, never on the budget or the split.
"""

import platform
import re
import resource
import time
import tracemalloc

import numpy as np
import pytest

from multipower.envs.memory import format_bytes, parse_memory
from multipower.envs.rewards import RewardSampler
from multipower.exact import power as exact_module
from multipower.exact import solver as solver_module
from multipower.exact import solver
from multipower.cli import main
from multipower.runs.configs import MAX_SWEEP_POINTS, ConfigError, _validate_sweep, sweep_values
from multipower.exact.power import Interrupted, exact_power
from multipower.runs import heap
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec

MB = 2**20


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_pair_of_a_big_world_holds_one_pair():
    """RewardSampler(390625).pairs(0, 1) holds O(states) numbers (it used to draw a block of 1,024: 12.5 GB)."""
    RewardSampler(5).pairs(0, 1)  # loads the compiled draw outside the measurement
    peak = _peak(lambda: RewardSampler(390_625).pairs(0, 1))
    assert peak < 40 * MB  # one pair is 6.25 MB; the stream's doubles for it 6.25 MB more


@pytest.mark.parametrize("spec", ["uniform", {"name": "bernoulli", "p": 0.2}, {"name": "beta", "a": 2, "b": 2}])
def test_draws_come_from_one_stream_per_sample(spec):
    """Sample i is Philox keyed (seed, i): the compiled fast path equals numpy's generator, any split equals
    any other, and a sample drawn alone equals the same sample drawn in a batch."""
    sampler = RewardSampler(13, spec, correlation=0.4, seed=9, redraw_constant=True)
    whole = sampler.pairs(0, 50)
    rng = None
    for i in (0, 7, 49):
        rng = sampler.rng(i, rng)
        h, a = sampler.draw(rng, 1)
        np.testing.assert_array_equal(h[0], whole[0][i])
        np.testing.assert_array_equal(a[0], whole[1][i])
        fresh = np.random.Generator(np.random.Philox(key=np.array([sampler._key, i], dtype=np.uint64)))
        np.testing.assert_array_equal(sampler.draw(fresh, 1)[0][0], whole[0][i])
    for size in (1, 3, 17, 50):
        parts = [sampler.pairs(lo, min(50, lo + size)) for lo in range(0, 50, size)]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), whole[0])
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole[1])


def test_compiled_philox_matches_numpy():
    from multipower.envs import _philox

    per = 4 * _philox.LANES  # doubles per batch of blocks: lengths on either side of whole batches
    for key0, start in ((0, 0), (2**64 - 1, 2**64 - 3), (123456789, 10**12)):
        for n in (1, 9, per - 1, per, per + 1, 2 * per + 5):
            out = _philox.doubles(np.uint64(key0), np.uint64(start), 3, n)
            for k in range(3):
                g = np.random.Generator(np.random.Philox(key=np.array([key0, start + k], dtype=np.uint64)))
                np.testing.assert_array_equal(out[k], g.random(n))


def test_huge_sample_counts_do_not_grow_memory(monkeypatch):
    """exact with 10^12 samples holds a few blocks, whatever the count (it used to list every chunk: 14 GB)."""
    calls = []
    real = solver.solve_pairs

    def solve_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) > 17:  # in the second block (16 solver calls of 64 samples each)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(solver_module, "solve_pairs", solve_then_stop)
    exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=8), execution=Execution(jobs=1, progress=False)
    )  # compile outside the measurement
    calls.clear()
    stop = {}

    def run():
        with pytest.raises(Interrupted) as info:
            exact_power(
                RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=10**12),
                execution=Execution(jobs=1, chunk_size=64, progress=True),
            )
        stop["result"] = info.value.result

    t0 = time.perf_counter()
    peak = _peak(run)
    assert time.perf_counter() - t0 < 60
    assert peak < 32 * MB
    assert stop["result"].config["samples_done"] == exact_module.block_size(81) == 1024  # the finished block
    assert stop["result"].config["n_samples"] == 10**12


def test_memory_budget_changes_what_is_held_not_the_results():
    from multipower.envs.memory import COMPILED_RUNTIME_BYTES, process_memory
    from multipower.exact import _vikernel  # noqa: F401  (loaded by the run before it measures the process)

    # 3 MB on top of what the process holds and the kernels' runtime (budgets are for the whole process)
    budget = process_memory() + COMPILED_RUNTIME_BYTES + (3 << 20)
    small = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=300),
        execution=Execution(jobs=2, max_memory=budget, progress=False),
    )
    large = exact_power(
        RunSpec(layout="grid3x3", gamma_H=0.6, n_samples=300),
        execution=Execution(jobs=1, chunk_size=300, progress=False),
    )
    assert small.config["chunk_size"] < 300
    # the same samples: equal up to the rounding of accumulating the means chunk by chunk
    np.testing.assert_allclose(small.power_H, large.power_H, rtol=1e-12, atol=0)
    np.testing.assert_allclose(small.power_A_se, large.power_A_se, rtol=1e-9, atol=0)


def _open_layout(tmp_path, side: int):
    path = tmp_path / f"open{side}.txt"
    path.write_text("\n".join(["." * side] * side) + "\n")
    return str(path)


def test_a_world_too_big_is_refused_up_front(tmp_path):
    """200x200 open: 1.6e9 joint states; refused in well under a second with the count, estimate and budget."""
    layout = _open_layout(tmp_path, 200)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"^max_memory: .*1,600,000,000 joint states.*needs about .*TB.*budget of 8\.0 GB"):
        exact_power(
            RunSpec(layout=layout, gamma_H=0.6, n_samples=10), execution=Execution(max_memory="8G", progress=False)
        )
    assert time.perf_counter() - t0 < 1.0
    peak = _peak(lambda: pytest.raises(ValueError, exact_power, RunSpec(layout, gamma_H=0.6, n_samples=10),
                                       execution=Execution(progress=False)))
    assert peak < 16 * MB  # nothing of the world's size was allocated (default budget)
    from multipower.envs.memory import process_memory

    with pytest.raises(ValueError, match="^max_memory: .*robot_face20x20.*48,400 joint states"):
        exact_power(
            RunSpec(layout="robot_face20x20", gamma_H=0.6, n_samples=10),
            execution=Execution(max_memory=process_memory() + (10 << 20), progress=False),
        )


def test_cli_max_memory_on_exact_train_compare(tmp_path, capsys):
    layout = _open_layout(tmp_path, 200)
    common = ["--layout", layout, "--samples", "10", "--max-memory", "4G"]
    for argv in (["exact", "--gamma", "0.6", "--out", str(tmp_path / "e"), "--no-progress"],
                 ["train", "--out", str(tmp_path / "t"), "--no-eval"],
                 ["compare", "--out", str(tmp_path / "c"), "--no-figure"]):
        assert main(argv + common) == 2
        err = capsys.readouterr().err
        assert re.match(r"^multipower \w+: error: --max-memory: .*1,600,000,000 joint states.*budget of 4\.0 GB", err)
        assert not any((tmp_path / d).exists() for d in "etc")


@pytest.mark.parametrize("text, expected", [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5GB", int(1.5 * 2**30)),
                                            ("2e9", 2_000_000_000), (1024, 1024), ("64KiB", 64 * 1024)])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "nan", True, "8X"])
def test_parse_memory_rejects(text):
    with pytest.raises(ValueError, match="^max_memory: "):
        parse_memory(text)


def test_default_budget_is_a_fraction_of_the_available_memory():
    from multipower.envs.memory import DEFAULT_FRACTION, available_memory, machine_memory, process_memory

    available, held = available_memory(), process_memory()
    assert available is None or abs(parse_memory(None) - (held + DEFAULT_FRACTION * available)) < 64 << 20
    assert available is None or available <= machine_memory()
    assert format_bytes(3 * 2**30) == "3.0 GB"


def test_absurd_sweep_point_counts_are_refused():
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="sweep.values.*points"):
        _validate_sweep({"parameter": "correlation", "values": {"start": 0, "stop": 1, "step": 1e-12}}, "c.yaml")
    with pytest.raises(ValueError, match="^sweep.values: .*at most"):
        sweep_values({"start": 0, "stop": 1, "step": 1e-12})
    assert time.perf_counter() - t0 < 1.0
    assert len(sweep_values({"start": 0, "stop": 1, "step": 1 / (MAX_SWEEP_POINTS - 1)})) == MAX_SWEEP_POINTS
    assert sweep_values({"start": 0, "stop": 1, "step": 0.25}) == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc thresholds")
def test_chunks_reuse_the_pages_of_the_last(monkeypatch):
    """A run's chunks allocate and free the same arrays; with the heap's thresholds raised (``keep_freed_memory``)
    a second run faults in no new pages. Left to glibc's own thresholds it faulted ~9 pages a sample here."""
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    spec, execution = RunSpec(layout="maze7x7", gamma_H=0.1, n_samples=2000), Execution(jobs=1, progress=False)
    exact_power(spec, execution=execution)  # sets them
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    exact_power(spec, execution=execution)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 0.5 * spec.n_samples
    assert heap.keep_freed_memory()


def test_heap_thresholds_are_left_to_the_user_and_to_other_libraries(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    assert heap._set_thresholds() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(heap.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert heap._set_thresholds() is False
