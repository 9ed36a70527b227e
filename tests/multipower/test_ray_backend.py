"""The Ray backend: the same files as the local backend, retries, failures named by unit, a missing Ray in one
line. One local Ray (2 CPUs, no dashboard) serves the module; tests that need it skip where Ray is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from multipower.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    # Workers import this checkout's package, whichever one the environment has installed.
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}}, configure_logging=False)
    yield ray
    ray.shutdown()


def _files(directory: Path, names) -> dict:
    return {name: (directory / name).read_bytes() for name in names}


def test_exact_same_power_csv_as_local(ray_cluster, tmp_path):
    # 600 samples of maze7x7 are three blocks (256, 256, 88): three units on the cluster.
    common = ["exact", "--layout", "maze7x7", "--gamma", "0.1", "--samples", "600", "--collision", "crash",
              "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "local"), "--jobs", "2"]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    local, remote = (_files(tmp_path / d, ["power.csv", "spec.json"]) for d in ("local", "ray"))
    assert local == remote
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray")]
    assert summaries[0]["alpha"] == summaries[1]["alpha"]
    assert summaries[1]["timings"]["blocks_solved"] == 3


def test_sweep_same_files_as_local(ray_cluster, tmp_path):
    import yaml

    config = {
        "name": "ray-beta-sweep", "title": "beta sweep", "kind": "sweep", "layout": "grid3x3", "gamma": 0.6,
        "n_samples": 150, "collision": "none", "correlation": 0.0, "distribution": "uniform",
        "seed_policy": "uniform", "seed": 0,
        "sweep": {"parameter": "correlation", "values": [0.0, 0.5, 1.0]},
        "published": [{"quantity": "alpha", "at": 1.0, "value": 1.0, "tolerance": 1e-6}],
    }
    path = tmp_path / "ray-beta-sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    common = ["reproduce", str(path), "--no-figures", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    points = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local" / "points").iterdir())
    assert len(points) == 3
    names = [f"{p}/power.csv" for p in points] + [f"{p}/spec.json" for p in points] + ["sweep.json", "config.yaml"]
    assert _files(tmp_path / "local", names) == _files(tmp_path / "ray", names)
    # A rerun on the cluster reuses every finished point.
    assert main([*common, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    assert json.loads((tmp_path / "ray" / "report.json").read_text())["computed"] == []


def _fails_once(marker: str):
    def unit(x):
        if x == 2 and not Path(marker).exists():
            Path(marker).write_text("failed once")
            raise RuntimeError("transient")
        return 10 * x

    return unit


def test_retry_then_success_and_failure_named_by_unit(ray_cluster, tmp_path):
    from multipower.runs.ray_backend import RayBackend, UnitFailed

    backend = RayBackend(max_retries=1)
    assert list(backend.imap(_fails_once(str(tmp_path / "marker")), range(5))) == [0, 10, 20, 30, 40]
    assert (tmp_path / "marker").exists()  # unit 2 did fail once
    assert sum(backend.node_units.values()) == 5

    def always(x):
        if x == (3, 4):
            raise ZeroDivisionError("no luck")
        return x

    with pytest.raises(UnitFailed, match=r"^work unit \(3, 4\) failed 2 times: ZeroDivisionError: no luck$"):
        list(RayBackend(max_retries=1).imap(always, [(1, 2), (3, 4), (5, 6)]))


def test_bounded_in_flight(ray_cluster):
    from multipower.runs.ray_backend import RayBackend

    pulled = []

    def units():
        for i in range(50):
            pulled.append(i)
            yield i

    results = RayBackend(jobs=1).imap(lambda x: x + 1, units())
    assert next(results) == 1
    assert len(pulled) == 2  # 2 · jobs in flight, never the whole stream
    assert list(results) == list(range(2, 51))


def test_missing_ray_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    code = main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "10", "--out", str(tmp_path / "o"),
                 "--backend", "ray", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "pip install 'multipower[ray]'" in err and err.startswith("multipower exact: error:")
    assert not (tmp_path / "o" / "power.csv").exists()


def test_ray_address_needs_ray_backend(tmp_path, capsys):
    code = main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "10", "--out", str(tmp_path / "o"),
                 "--ray-address", "localhost:6379"])
    assert code == 2
    assert "--ray-address applies to --backend ray only" in capsys.readouterr().err


@pytest.mark.parametrize("algo, options", [("qlearning", []), ("ppo", ["--timesteps", "1024", "--device", "cpu"])])
def test_train_same_agents_as_local(ray_cluster, tmp_path, algo, options):
    import numpy as np

    # Two chunks of three samples: two units on the cluster, returned and saved by this process.
    common = ["train", "--algo", algo, "--layout", "grid3x3", "--gamma", "0.6", "--samples", "6", "--no-eval",
              "--chunk", "3", *options]
    assert main([*common, "--out", str(tmp_path / "local"), "--jobs", "1"]) == 0
    assert main([*common, "--out", str(tmp_path / "ray"), "--backend", "ray"]) == 0
    with np.load(tmp_path / "local" / "agents.npz") as local, np.load(tmp_path / "ray" / "agents.npz") as remote:
        for name in ("policy_H", "policy_A", "R_H", "R_A"):
            np.testing.assert_array_equal(local[name], remote[name])


def test_stop_ends_every_stream(ray_cluster):
    import threading
    import time

    from multipower.runs.ray_backend import RayBackend

    backend = RayBackend(jobs=1)
    view = backend.with_jobs(1)  # the view a sweep point uses shares the stop
    threading.Timer(1.0, backend.stop).start()
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        list(view.imap(lambda x: time.sleep(30), range(3)))
    assert time.perf_counter() - t0 < 20


def test_unreachable_address_is_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "10", "--out", str(tmp_path / "o"),
                 "--backend", "ray", "--ray-address", f"127.0.0.1:{port}", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert f"--ray-address: no Ray head answers at 127.0.0.1:{port}" in err
