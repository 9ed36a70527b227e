"""Interrupted ``multipower train`` and ``compare`` runs lose no finished chunk, and reruns end byte-identical.

Real runs are killed (SIGKILL, SIGINT, SIGTERM) once chunk files appear, rerun, and their ``agents.npz`` compared
byte for byte with an uninterrupted run that used other ``--chunk`` and ``--jobs`` values; reruns with more
samples extend a run, with fewer report the prefix and never rewrite the larger result.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from multipower.agents.storage import load_agents
from multipower.runs.chunkstore import ChunkStore
from multipower.cli import main
from tests.multipower.test_resume_exact import as_from_a_shell

WORLD = ["--layout", "grid3x3", "--gamma", "0.6", "--seed", "3"]
PPO = ["--algo", "ppo", *WORLD, "--timesteps", "256", "--no-eval", "--device", "cpu", "--option", "n_envs=8",
       "--option", "n_steps=32", "--option", "batch_size=64"]
#: config.json keys that record how a run was carried out, not what it computed.
RUN_KEYS = ("timings", "n_jobs", "chunk")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Ten Q-learning samples trained in one go, two chunks of 5 on 2 workers."""
    out = tmp_path_factory.mktemp("reference")
    assert main(["train", *WORLD, "--samples", "10", "--chunk", "5", "--jobs", "2", "--out", str(out)]) == 0
    return out


def start(out: Path, *flags: str) -> subprocess.Popen:
    log = open(out.parent / f"{out.name}.log", "a")
    return subprocess.Popen([sys.executable, "-m", "multipower.cli", "train", *flags, "--out", str(out)],
                            stdout=log, stderr=log, preexec_fn=as_from_a_shell)


def chunks(out: Path) -> list:
    """The finished chunks (a run killed mid-write may leave a hidden temporary file, which is no chunk)."""
    return sorted((out / "chunks").glob("[0-9]*-[0-9]*.npz")) if (out / "chunks").exists() else []


def wait_for_chunks(out: Path, n: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while len(chunks(out)) < n and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def workers_of(pid: int) -> list:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def assert_all_exit(pids: list) -> None:
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


def assert_same_run(out: Path, reference: Path, n: int = 10) -> None:
    """Byte-identical agents.npz; config.json equal apart from how the run was carried out."""
    if n == 10:
        assert (out / "agents.npz").read_bytes() == (reference / "agents.npz").read_bytes()
    got, want = load_agents(out), load_agents(reference)
    for name in ("policy_H", "policy_A", "q_H", "q_A", "R_H", "R_A"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name)[:n])
    if n == 10:
        strip = lambda path: {k: v for k, v in json.loads((path / "config.json").read_text()).items()  # noqa: E731
                              if k not in RUN_KEYS}
        assert strip(out) == strip(reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "train" and manifest["samples_done"] == n


def test_killed_at_several_points_then_rerun_is_byte_identical(tmp_path, reference, capsys):
    """SIGKILL, then SIGTERM, then SIGINT, each once more chunks are saved; the workers always exit."""
    out = tmp_path / "run"
    flags = [*WORLD, "--samples", "10", "--chunk", "1", "--no-eval"]
    for sig, at_least, jobs in ((signal.SIGKILL, 1, "1"), (signal.SIGTERM, 4, "2"), (signal.SIGINT, 7, "2")):
        process = start(out, *flags, "--jobs", jobs)
        wait_for_chunks(out, at_least, process)
        workers = workers_of(process.pid)
        process.send_signal(sig)  # the driver only: its workers are killed by it, or notice its death and exit
        code = process.wait(timeout=120)
        assert_all_exit(workers)
        assert at_least <= len(chunks(out))
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL and not (out / "agents.npz").exists()
        elif code == 130:  # (0: it finished before the signal)
            store = ChunkStore(out, json.loads((out / "chunks" / "key.json").read_text()))
            assert f"interrupted: {store.done(10)} of 10 samples are saved" in (tmp_path / "run.log").read_text()
            gaps = store.missing(10)
            prefix = gaps[0][0] if gaps else 10
            if prefix:  # the finished prefix is saved as a partial result
                assert_same_run(out, reference, prefix)
                assert json.loads((out / "manifest.json").read_text())["complete"] is (prefix == 10)
    saved = len(chunks(out))
    assert main(["train", *WORLD, "--samples", "10", "--jobs", "2", "--out", str(out)]) == 0
    assert saved == 10 or f"resuming: {saved} of 10 samples already finished" in capsys.readouterr().err
    assert_same_run(out, reference)


def test_more_samples_extend_fewer_report_the_prefix_and_restart_starts_over(tmp_path, reference, capsys,
                                                                             monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *WORLD, "--samples", "6", "--chunk", "2", "--jobs", "1", "--out", str(out)]) == 0
    assert_same_run(out, reference, 6)
    assert main(["train", *WORLD, "--samples", "10", "--chunk", "3", "--jobs", "2", "--out", str(out)]) == 0
    assert "resuming: 6 of 10 samples already finished" in capsys.readouterr().err
    assert_same_run(out, reference)
    before = (out / "agents.npz").read_bytes(), (out / "manifest.json").read_bytes()
    assert main(["train", *WORLD, "--samples", "4", "--out", str(out)]) == 0
    assert f"the first 4 samples are finished; {out} holds 10 samples" in capsys.readouterr().out
    assert ((out / "agents.npz").read_bytes(), (out / "manifest.json").read_bytes()) == before
    # A larger rerun interrupted before any new chunk finished leaves the larger result as it is.
    import multipower.learned.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(multipower.learned.training, "train_chunks", interrupted)
        assert main(["train", *WORLD, "--samples", "14", "--out", str(out)]) == 130
    assert "interrupted: 10 of 14 samples are saved" in capsys.readouterr().err
    assert ((out / "agents.npz").read_bytes(), (out / "manifest.json").read_bytes()) == before
    assert main(["train", *WORLD, "--samples", "3", "--restart", "--out", str(out)]) == 0
    assert max(end for _, end in ChunkStore(out, json.loads((out / "chunks" / "key.json").read_text())).ranges()) == 3
    assert_same_run(out, reference, 3)


def test_compare_resumes_its_training_and_reuses_a_train_run(tmp_path, reference, capsys):
    out = tmp_path / "cmp"
    flags = ["compare", *WORLD, "--jobs", "1", "--no-figure", "--out", str(out)]
    assert main([*flags, "--samples", "3", "--chunk", "2"]) == 0
    assert main([*flags, "--samples", "5"]) == 0
    assert "resuming: 3 of 5 samples already trained" in capsys.readouterr().err
    store = ChunkStore(out, json.loads((out / "chunks" / "key.json").read_text()))
    trained, want = store.load(5), load_agents(reference)
    np.testing.assert_array_equal(trained["policy_H"], want.policy_H[:5])
    np.testing.assert_array_equal(trained["policy_A"], want.policy_A[:5])
    assert json.loads((out / "comparison.json").read_text())["config"]["n_samples"] == 5
    assert main(["compare", "--agents", str(reference), "--no-figure", "--out", str(tmp_path / "reused")]) == 0
    assert json.loads((tmp_path / "reused" / "comparison.json").read_text())["config"]["n_samples"] == 10


def test_ppo_sigterm_then_rerun_is_byte_identical(tmp_path):
    whole = tmp_path / "whole"
    assert main(["train", *PPO, "--samples", "2", "--chunk", "2", "--jobs", "1", "--out", str(whole)]) == 0
    out = tmp_path / "run"
    process = start(out, *PPO, "--samples", "2", "--chunk", "1", "--jobs", "1")
    wait_for_chunks(out, 1, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) in (0, 130)
    assert main(["train", *PPO, "--samples", "2", "--chunk", "1", "--jobs", "1", "--out", str(out)]) == 0
    assert (out / "agents.npz").read_bytes() == (whole / "agents.npz").read_bytes()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_first_chunk_always_writes_a_partial_agents_file(tmp_path, sig):
    """Deterministic: the signal is sent once the first chunk file exists; with one job the first chunk holds
    sample 0, so the partial agents.npz is written every time. 400 samples (16 s of training, stopped after the
    first 0.2 s) leave the signal time to arrive on a loaded machine."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "multipower", "train", *WORLD, "--samples", "400", "--chunk", "4",
                             "--jobs", "1", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_from_a_shell)
    deadline = time.monotonic() + 120
    while not list((out / "chunks").glob("0*.npz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert (out / "agents.npz").is_file() and "agents.npz (partial)" in err
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
