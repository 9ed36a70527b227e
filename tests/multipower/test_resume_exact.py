"""Exact runs that are killed, interrupted, extended or shortened end with the bytes of an uninterrupted run,
and a folder's results are reused only when its manifest vouches for them."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from multipower.repro import experiments
from multipower.runs import rundir
from multipower.cli import main
from multipower.exact.power import block_size, exact_power
from multipower.plots.figures import describe
from multipower.runs.results import PowerResult
from multipower.runs.execution import Execution, Storage
from multipower.runs.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
SIDE = 8  # an open 8x8 room: 4,096 joint states, blocks of 64 samples, each solved in a fraction of a second
N = 10 * block_size(SIDE**4)  # ten blocks


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("world") / "room8.txt"
    path.write_text("\n".join(["." * SIDE] * SIDE) + "\n")
    return str(path)


def _argv(layout, out, samples=N, *extra):
    return ["exact", "--layout", layout, "--gamma", "0.6", "--samples", str(samples), "--out", str(out),
            "--jobs", "1", "--chunk-size", "16", "--no-progress", *extra]


def _start(argv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "multipower.cli", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_shell)

def as_from_a_shell() -> None:
    """In the child before it runs: SIGINT and SIGTERM as a shell's foreground job gets them (default action, not
    blocked), whatever the test process inherited or set (a child inherits an ignored or blocked signal)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)



def _blocks(out) -> int:
    folder = Path(out) / "blocks"
    return len([p for p in folder.glob("*.npz") if not p.name.startswith(".")]) if folder.is_dir() else 0


def _stop_after(argv, blocks: int, sig) -> tuple:
    """Run ``argv`` until ``blocks`` blocks are on disk, then send ``sig``; returns (returncode, stderr)."""
    proc = _start(argv)
    out = argv[argv.index("--out") + 1]
    deadline = time.monotonic() + 60
    while _blocks(out) < blocks and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"finished before {blocks} blocks: {proc.stderr.read()}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture(scope="module")
def reference(layout, tmp_path_factory):
    """power.csv of an uninterrupted run (in this process: same code, same bytes)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(_argv(layout, out)) == 0
    return (out / "power.csv").read_bytes()


def test_sigkill_at_several_points_then_resume_gives_the_same_bytes(layout, reference, tmp_path):
    out = tmp_path / "killed"
    for blocks in (2, 4):  # kill, rerun and kill again further on
        code, _ = _stop_after(_argv(layout, out), blocks, signal.SIGKILL)
        assert code == -signal.SIGKILL
        manifest = rundir.read_manifest(out)  # the folder is the run's, but vouches for no result
        assert manifest["state"] == "writing" and rundir.check_files(out).startswith("its last write did not")
    assert main(_argv(layout, out)) == 0
    assert (out / "power.csv").read_bytes() == reference
    summary = json.loads((out / "summary.json").read_text())
    assert summary["timings"]["blocks_loaded"] >= 4 and summary["complete"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_save_a_marked_partial_result_and_resume(layout, reference, tmp_path, sig):
    out = tmp_path / "stopped"
    code, err = _stop_after(_argv(layout, out), 1, sig)  # nine blocks left: the signal arrives even under load
    assert code == 130, err
    summary = json.loads((out / "summary.json").read_text())
    done = summary["samples_done"]
    assert done % block_size(SIDE**4) == 0 and 64 <= done < N and not summary["complete"]
    assert f"saved a partial result of {done:,} of {N:,} samples" in err and "rerun the same command" in err
    manifest = rundir.read_manifest(out)
    assert (manifest["samples_done"], manifest["complete"], rundir.check_files(out)) == (done, False, "")
    assert "(partial)" in describe(PowerResult.load(out).config)
    assert main(_argv(layout, out)) == 0
    assert (out / "power.csv").read_bytes() == reference


def test_extend_and_prefix(layout, reference, tmp_path, capsys):
    out = tmp_path / "grow"
    short = 3 * 64 + 8  # ends inside a block: the longer run continues that block
    assert main(_argv(layout, out, short)) == 0
    assert main(_argv(layout, out)) == 0
    assert (out / "power.csv").read_bytes() == reference
    assert not (out / "blocks" / f"{192:07d}-{short:07d}.npz").exists()  # replaced by the whole block
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(_argv(layout, out, short)) == 0  # a smaller --samples: reported, nothing written
    assert f"first {short} of the {N:,} samples" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    prefix = exact_power(
        RunSpec(layout=layout, gamma_H=0.6, n_samples=short),
        execution=Execution(jobs=1, progress=False),
        storage=Storage(out),
    )
    fresh = exact_power(
        RunSpec(layout=layout, gamma_H=0.6, n_samples=short), execution=Execution(jobs=2, chunk_size=5, progress=False)
    )
    for name in ("power_H", "power_A_se"):
        np.testing.assert_array_equal(prefix[name], fresh[name])  # bytes do not depend on jobs or chunks


def test_an_interrupted_larger_rerun_never_replaces_a_result_by_fewer_samples(layout, reference, tmp_path):
    out = tmp_path / "keep"
    assert main(_argv(layout, out)) == 0
    code, _ = _stop_after(_argv(layout, out, 4 * N), 11, signal.SIGINT)
    assert code == 130
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples_done"] >= N and summary["samples_requested"] == 4 * N


def test_an_edited_or_half_written_power_csv_is_never_reused(layout, reference, tmp_path, capsys):
    out = tmp_path / "edited"
    assert main(_argv(layout, out)) == 0
    text = (out / "power.csv").read_text().splitlines(keepends=True)
    (out / "power.csv").write_text("".join(text[:97]))  # cut short, as by a killed non-atomic write
    capsys.readouterr()
    assert main(_argv(layout, out)) == 0
    assert "not reused (power.csv does not match its manifest)" in capsys.readouterr().err
    assert (out / "power.csv").read_bytes() == reference
    (out / "power.csv").write_text("".join(text[:97]))
    assert main(["plot", str(out)]) == 2
    assert "power.csv does not match its manifest" in capsys.readouterr().err


def test_reproduction_reuses_only_intact_results_and_never_deletes_before_replacing(tmp_path, capsys):
    config = experiments.validate_config({
        "name": "tiny", "title": "t", "kind": "joint", "layout": "grid3x3", "gamma": 0.6, "n_samples": 40,
        "published": [{"quantity": "alpha", "value": 0.0, "tolerance": 1.0}],
    })
    first = experiments.run_experiment(
        config, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    alpha = first.results[None].stats["alpha"]
    exact_dir = tmp_path / "exact"
    rows = (exact_dir / "power.csv").read_text().splitlines(keepends=True)
    (exact_dir / "power.csv").write_text("".join(rows[:20]))  # a killed rewrite's leftovers
    again = experiments.run_experiment(
        config, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
    )
    assert again.computed == [None] and again.results[None].stats["alpha"] == alpha
    assert (
        experiments.run_experiment(
            config, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path)
        ).computed
        == []
    )
    other = dict(config, gamma=0.7)
    with pytest.raises(rundir.OutputError, match="another configuration; use --overwrite"):
        experiments.run_experiment(other, figures=False, execution=Execution(progress=False), storage=Storage(tmp_path))


def test_reproduce_ctrl_c_says_truthfully_what_was_saved(tmp_path, monkeypatch, capsys):
    from multipower.exact import power as exact_module

    real, calls = exact_module._powers, []

    def interrupt_in_the_second_block(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(exact_module, "_powers", interrupt_in_the_second_block)
    monkeypatch.setattr(exact_module, "block_size", lambda n_states: 16)
    out = tmp_path / "r"
    assert main(["reproduce", "part2-fig2-4", "--samples", "100", "--out", str(out), "--quiet", "--no-figures"]) == 130
    err = capsys.readouterr().err
    saved = json.loads((out / "exact" / "summary.json").read_text())
    assert saved["samples_done"] > 0 and not saved["complete"]
    assert f"partial result of {saved['samples_done']} of 100 samples" in err and "to resume" in err


def test_out_guards(layout, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "power.csv").write_text("my own numbers\n")
    assert main(_argv(layout, mine, 5)) == 2
    assert "holds power.csv not written by this kind of run; use --overwrite" in capsys.readouterr().err
    assert (mine / "power.csv").read_text() == "my own numbers\n"
    compared = tmp_path / "compared"
    compared.mkdir()
    (compared / "comparison.json").write_text("{}")
    (compared / "power.csv").write_text("x\n")
    assert main(_argv(layout, compared, 5)) == 2
    assert main(_argv(layout, compared, 5, "--overwrite")) == 0
    assert not (compared / "comparison.json").exists()
    assert main(["plot", str(compared), "--dpi", "20"]) == 0
    other = _argv(layout, compared, 5)
    other[other.index("--gamma") + 1] = "0.7"
    assert main(other) == 2
    assert "holds a run of another configuration" in capsys.readouterr().err
