"""What a command writes, and where: never through links planted in a run folder, never over devices or other
files without --overwrite, never into system folders; and inputs that used to fail late or with a traceback."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from multipower.cli import main
from multipower.runs import rundir
from multipower.envs.problem import TwoStageProblem

EXACT = ["exact", "--layout", "grid3x3", "--gamma", "0.6", "--no-progress"]


def _one_line(capsys, code: int, *fragments: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_a_blocks_folder_that_links_outside_is_refused(tmp_path, capsys):
    """A run folder whose blocks/ is a link to a folder elsewhere: nothing there is read, written or renamed."""
    run, outside = tmp_path / "run", tmp_path / "outside"
    assert main(EXACT + ["--samples", "20", "--out", str(run)]) == 0
    (run / "blocks").rename(outside)
    (run / "blocks").symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    for extra in ([], ["--restart"]):
        code = main(EXACT + ["--samples", "40", "--out", str(run), *extra])
        _one_line(capsys, code, "is a link or not a folder")
        assert {p.name: p.read_bytes() for p in outside.iterdir()} == before


def test_figures_replace_a_planted_link_instead_of_writing_through_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(EXACT + ["--samples", "10", "--out", str(run)]) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run / "heatmap_H.png").symlink_to(victim)
    assert main(["plot", str(run)]) == 0
    assert victim.read_text() == "keep me"
    assert not (run / "heatmap_H.png").is_symlink() and (run / "heatmap_H.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, fragment", [
    (["plot", "RUN", "--out", "/etc"], "system folder"),
    (["plot", "RUN", "--out", "/"], "system folder"),
    (["demo", "--out", "/etc", "--samples", "20", "--skip-learned", "--quiet"], "system folder"),
    (["train", "--layout", "grid3x3", "--samples", "2", "--out", "OUT", "--tensorboard", "/etc"], "system folder"),
    (["train", "--layout", "grid3x3", "--samples", "2", "--out", "OUT", "--tensorboard", ""], "must name a folder"),
    (["export-mdp", "--layout", "grid3x3", "--out", "/dev/null"], "system folder"),
    (["export-mdp", "--layout", "grid3x3", "--out", "/etc/x.gv"], "system folder"),
    (["export-mdp", "--layout", "grid3x3", "--out", "OUT/"], "is a folder"),
])
def test_nothing_is_written_into_system_folders(tmp_path, capsys, argv, fragment):
    run = tmp_path / "run"
    if "RUN" in argv:
        assert main(EXACT + ["--samples", "10", "--out", str(run)]) == 0
        capsys.readouterr()
    argv = [str(run) if a == "RUN" else str(tmp_path / "out") + ("/" if a == "OUT/" else "") if a in ("OUT", "OUT/")
            else a for a in argv]
    _one_line(capsys, main(argv), fragment)
    assert not (tmp_path / "out").exists()


def test_export_replaces_an_existing_file_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "g.gv"
    out.write_text("my own graph")
    _one_line(capsys, main(["export-mdp", "--layout", "grid3x3", "--out", str(out)]), "exists; use --overwrite")
    assert out.read_text() == "my own graph"
    link = tmp_path / "link.gv"
    link.symlink_to(out)
    _one_line(capsys, main(["export-mdp", "--layout", "grid3x3", "--out", str(link), "--overwrite"]),
              "not a regular file")
    assert out.read_text() == "my own graph"
    _one_line(capsys, main(["export-mdp", "--layout", "grid3x3", "--joint", "--out", str(tmp_path / "j.gv"),
                            "--policy-out", str(tmp_path / "j.gv")]), "--policy-out must differ")
    assert main(["export-mdp", "--layout", "grid3x3", "--out", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("digraph")


def test_a_lock_is_seen_through_a_read_only_descriptor(tmp_path):
    """Readers of a folder they cannot write (a read-only mount) test the writer's lock without creating files."""
    (tmp_path / rundir.LOCK_FILE).write_text("")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); time.sleep(30)"), str(tmp_path / rundir.LOCK_FILE)], stdout=subprocess.PIPE,
        text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert rundir._locked_read_only(tmp_path / rundir.LOCK_FILE)
    finally:
        holder.kill()
        holder.wait()
    deadline = time.time() + 5
    while rundir._locked_read_only(tmp_path / rundir.LOCK_FILE) and time.time() < deadline:
        time.sleep(0.05)
    assert not rundir._locked_read_only(tmp_path / rundir.LOCK_FILE)


def test_inputs_that_failed_late_or_with_a_traceback_are_one_line(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    cases = [
        (EXACT + ["--samples", "10", "--max-memory", "1e308G"], "below 8 EiB"),
        (EXACT + ["--samples", "10", "--dist-param", "low=-1e308"], "rewards must stay within"),
        (EXACT + ["--samples", "10", "--dist-param", "low=1e307", "--dist-param", "high=1e308"], "must stay within"),
        (EXACT + ["--samples", "10", "--distribution", "bernoulli", "--dist-param", "p=0", "--redraw-constant"],
         "could not draw a non-constant"),
        (["compare", "--layout", "grid3x3", "--samples", "4", "--tol", "2"], "must be a number in (0, 1)"),
        (["compare", "--agents", ""], "--agents must name a folder"),
        (["train", "--layout", "grid3x3", "--samples", "10", "--algo", "ppo", "--option", "n_envs=1000000000"],
         "PPO training"),
        (["train", "--layout", "grid3x3", "--samples", "10", "--option", "walkers=99999999999"],
         "walkers=99,999,999,999"),
        (["compare", "--layout", "grid3x3", "--samples", "4", "--algo", "ppo", "--option",
          "net_arch=[100000,100000]"], "PPO training"),
    ]
    for argv, fragment in cases:
        _one_line(capsys, main(argv + ["--out", str(out)]), fragment)
        assert not out.exists(), argv
    # value iteration that cannot meet its certificate names the discount (here by capping the sweeps)
    from multipower.exact import solver

    monkeypatch.setattr(solver, "MAX_SWEEPS", 3)
    _one_line(capsys, main(["exact", "--layout", "grid3x3", "--gamma", "0.99", "--samples", "4", "--no-progress",
                            "--jobs", "1", "--out", str(out)]), "--gamma: value iteration did not converge")


def test_small_gamma_policies_resolve_in_the_api_too():
    """(A guard that the joint and layout solvers agree at the discounts the lexicographic comparison covers.)"""
    from multipower.envs.joint_graph import joint_graph_text, parse_joint_graph
    from multipower.envs.model import joint_model
    from multipower.exact.joint_graph import solve_joint_graph
    from multipower.exact.solver import power_from_next, solve_pairs

    model = joint_model("grid3x3", "crash")
    graph = parse_joint_graph(joint_graph_text(model))
    rng = np.random.default_rng(0)
    R_H, R_A = (rng.random((16, model.n_states)) < 0.3) * 1.0, (rng.random((16, model.n_states)) < 0.3) * 1.0
    a, b = (
        solve_pairs(TwoStageProblem(model, R_H, R_A, 1e-9, 1e-9)),
        solve_joint_graph(TwoStageProblem(graph, R_H, R_A, 1e-9, 1e-9)),
    )
    for field in ("W_H", "W_A"):
        assert np.abs(power_from_next(getattr(a, field), 1e-9) - power_from_next(getattr(b, field), 1e-9)).max() < 1e-4


def test_a_full_disk_names_the_folder_and_says_work_is_kept(tmp_path, capsys, monkeypatch):
    import errno

    from multipower.runs import results

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.PowerResult, "save", full)
    code = main(EXACT + ["--samples", "10", "--out", str(tmp_path / "out")])
    _one_line(capsys, code, f"no space left on the device holding {tmp_path / 'out'}", "finished pieces are kept")
