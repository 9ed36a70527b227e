import json
import os

import pytest

from multipower.runs import rundir
from multipower.runs.backends import Backend, get_backend


def test_new_and_empty_folders_are_accepted(tmp_path):
    assert rundir.check_out(tmp_path / "new" / "deeper", "exact").is_dir()
    assert rundir.check_out(tmp_path, "exact") == tmp_path


def test_files_system_folders_and_unwritable_folders_are_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(rundir.OutputError, match="--out: .* is a file"):
        rundir.check_out(tmp_path / "f", "exact")
    with pytest.raises(rundir.OutputError, match="lies under a file"):
        rundir.check_out(tmp_path / "f" / "sub", "exact")
    with pytest.raises(rundir.OutputError, match="system folder"):
        rundir.check_out("/proc/self/x", "exact")
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(rundir.OutputError, match="cannot write"):
            rundir.check_out(locked, "exact")


def test_another_kind_or_configuration_or_foreign_results_need_overwrite(tmp_path):
    (tmp_path / "power.csv").write_text("mine\n")
    (tmp_path / "notes.txt").write_text("keep me\n")
    with pytest.raises(rundir.OutputError, match="holds power.csv not written"):
        rundir.check_out(tmp_path, "exact", {"gamma": 0.5})
    rundir.check_out(tmp_path, "exact", {"gamma": 0.5}, overwrite=True)
    assert not (tmp_path / "power.csv").exists() and (tmp_path / "notes.txt").exists()
    (tmp_path / "power.csv").write_text("a,b\n1,2\n")
    rundir.write_manifest(tmp_path, "exact", {"gamma": 0.5}, ["power.csv"], 10, 10, rows={"power.csv": 1})
    assert rundir.check_out(tmp_path, "exact", {"gamma": 0.5}) == tmp_path  # a rerun of the same run
    with pytest.raises(rundir.OutputError, match="another configuration"):
        rundir.check_out(tmp_path, "exact", {"gamma": 0.6})
    with pytest.raises(rundir.OutputError, match="holds a 'exact' run, not 'compare'"):
        rundir.check_out(tmp_path, "compare")


def test_verify_reuses_only_what_matches_its_manifest(tmp_path):
    config = {"gamma": 0.5, "layout": "grid3x3"}
    rundir.atomic_write(tmp_path / "power.csv", "a,b\n1,2\n")
    manifest = rundir.write_manifest(tmp_path, "exact", config, ["power.csv"], 10, 4)
    assert manifest["complete"] is False and manifest["samples_done"] == 4
    assert rundir.verify(tmp_path, "exact", config)[0] is not None
    assert rundir.verify(tmp_path, "exact", {**config, "gamma": 0.6}) == (None, "another configuration")
    (tmp_path / "power.csv").write_text("a,b\n1,3\n")  # edited or half-written
    assert rundir.verify(tmp_path, "exact", config) == (None, "power.csv does not match its manifest")
    rundir.begin(tmp_path)
    assert rundir.verify(tmp_path, "exact", config) == (None, "no manifest")
    (tmp_path / rundir.MANIFEST).write_text("{not json")
    with pytest.raises(rundir.OutputError, match="manifest.json: not valid JSON"):
        rundir.read_manifest(tmp_path)
    (tmp_path / rundir.MANIFEST).write_text(json.dumps({"kind": "exact"}))
    with pytest.raises(rundir.OutputError, match="missing key 'config_hash'"):
        rundir.read_manifest(tmp_path)


def test_config_hash_ignores_key_order_and_numpy_types():
    import numpy as np

    assert rundir.config_hash({"a": 1, "b": 0.5}) == rundir.config_hash({"b": np.float64(0.5), "a": np.int64(1)})
    assert rundir.config_hash({"a": 1}) != rundir.config_hash({"a": 2})


def _square(x):
    return x * x


@pytest.mark.parametrize("jobs,kind", [(1, "thread"), (3, "thread"), (2, "process")])
def test_local_backend_yields_in_unit_order(jobs, kind):
    assert list(Backend(jobs, kind).imap(_square, range(20), lookahead=2)) == [x * x for x in range(20)]


def test_backend_arguments_are_checked():
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        Backend(0)
    with pytest.raises(ValueError, match="backend must be one of"):
        get_backend("slurm")
    with pytest.raises(ValueError, match="ray_address applies to backend 'ray' only"):
        get_backend("local", address="1.2.3.4:6379")
