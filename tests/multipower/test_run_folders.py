"""Run folders that cannot be turned against their user: paths read from a folder stay inside it, ``--overwrite``
deletes nothing outside ``--out``, system folders are refused, one process writes a folder at a time (a killed
writer's lock is recovered), and atomic writes leave no temporary file behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multipower.cli import main
from multipower.envs.serialization import atomic_path
from multipower.runs import rundir

RUN = ["exact", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "20", "--no-progress"]


def _hostile_folder(root: Path) -> Path:
    """A run folder whose manifest lists paths outside it, as someone else could hand over."""
    for name in ("data", "other_run"):
        (root / name).mkdir(parents=True)
        (root / name / "keep.txt").write_text("mine")
    run = root / "runs" / "r"
    run.mkdir(parents=True)
    files = {"../../data": {}, "../other_run": {}, str(root / "data"): {}, "..": {}}
    (run / "manifest.json").write_text(json.dumps({"kind": "exact", "config_hash": "x", "numerics_version": 5,
                                                   "complete": True, "files": files}))
    (run / "blocks").symlink_to(root / "other_run")  # a run file name that leads out
    return run


def test_a_manifest_naming_paths_outside_is_refused(tmp_path, capsys):
    run = _hostile_folder(tmp_path)
    assert main([*RUN, "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manifest.json" in err and "not inside" in err


def test_overwrite_deletes_nothing_outside_out(tmp_path, capsys):
    run = _hostile_folder(tmp_path)
    assert main([*RUN, "--out", str(run), "--overwrite"]) == 0
    for name in ("data", "other_run"):
        assert (tmp_path / name / "keep.txt").read_text() == "mine"
    assert (run / "power.csv").is_file() and not (run / "blocks").is_symlink()


def test_inside_refuses_every_way_out(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path.parent)
    for name in ("..", "../x", "/etc/passwd", "a/../../x", "link/x", ""):
        with pytest.raises(rundir.OutputError, match="not inside"):
            rundir.inside(tmp_path, name, "test names")
    assert rundir.inside(tmp_path, "figures/a.png", "test names") == tmp_path / "figures" / "a.png"


@pytest.mark.parametrize("out", ["/", "/usr", "/etc", "/var", "/proc/x", "~"])
def test_out_refuses_system_folders_and_home(out, capsys):
    assert main([*RUN, "--out", out]) == 2
    assert "system folder or your home folder" in capsys.readouterr().err


def _wait_for(path: Path, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_one_writer_at_a_time_and_a_killed_writers_lock_is_recovered(tmp_path):
    out = tmp_path / "run"
    cli = [sys.executable, "-m", "multipower"]
    slow = [*cli, "exact", "--layout", "maze7x7", "--gamma", "0.99", "--samples", "200000", "--jobs", "1",
            "--no-progress", "--out", str(out)]
    first = subprocess.Popen(slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(out / rundir.OWNER_FILE)
        for argv in ([*cli, *RUN, "--out", str(out), "--overwrite"], [*cli, "plot", str(out)]):
            second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert second.returncode == 2, second.stderr
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1 and f"being written by process {first.pid} on " in lines[0]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    again = subprocess.run([*cli, *RUN, "--out", str(out), "--overwrite"], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert not (out / rundir.OWNER_FILE).exists()  # released when the command ended


def test_atomic_path_names_its_temporary_file_by_process_and_cleans_up(tmp_path):
    target = tmp_path / "a.npz"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            assert str(os.getpid()) in tmp.name and tmp.suffix == ".npz" and tmp.parent == tmp_path
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]


def test_a_block_from_another_run_is_recomputed_not_merged(tmp_path, capsys):
    """A block copied from a ``--seed 9`` run into a seed-0 run's blocks/ is named and recomputed: the result is
    the clean run's, byte for byte."""
    clean, mine, other = (tmp_path / name for name in ("clean", "mine", "other"))
    assert main([*RUN, "--samples", "40", "--out", str(clean)]) == 0
    assert main([*RUN, "--out", str(mine)]) == 0
    assert main([*RUN, "--seed", "9", "--out", str(other)]) == 0
    (block,) = (other / "blocks").glob("*.npz")
    (mine / "blocks" / block.name).write_bytes(block.read_bytes())
    capsys.readouterr()
    assert main([*RUN, "--samples", "40", "--out", str(mine)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "another run" in warnings[0]
    assert (mine / "power.csv").read_bytes() == (clean / "power.csv").read_bytes()
