"""multipower installs as one import package: a wheel holds ``multipower`` and nothing else at the top level,
``envs/`` and ``agents/`` inside it as ``multipower.envs`` and ``multipower.agents``, with the package data
(layouts, example graphs, reproduction configs); ``--version`` and ``python -m multipower`` answer; every
registered Gymnasium id builds without arguments."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gymnasium
import pytest

import multipower
from multipower.envs.registration import ENV_IDS, GRAPH_ENV_ID, JOINT_GRAPH_ENV_IDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # Built from a copy: setuptools leaves build/ in the source tree, and a stale build/ could hide a missing file.
    source, out = tmp_path_factory.mktemp("source") / "multipower", tmp_path_factory.mktemp("wheel")
    skip = {".git", ".venv", "build", "dist", "site", "results", "runs", "docs", "tests"}  # at the top level only
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        name for name in names
        if name == "__pycache__" or name.endswith(".egg-info") or (Path(folder) == ROOT and name in skip)])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, timeout=300, capture_output=True)
    (path,) = out.glob("multipower-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_has_one_top_level_package(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"multipower"}
    names = set(wheel.namelist())
    for member in ("multipower/envs/maze_v1.py", "multipower/agents/ppo.py", "multipower/envs/layouts/maze7x7.txt",
                   "multipower/envs/graphs/figure1.gv", "multipower/configs/part3-fig2-4.yaml",
                   "multipower/__main__.py"):
        assert member in names, member


def test_every_package_folder_is_in_the_wheel(wheel):
    """A new subpackage that setup.cfg does not list would be left out of the wheel silently."""
    names = set(wheel.namelist())
    for folder, prefix in (("multipower", "multipower"), ("envs", "multipower/envs"), ("agents", "multipower/agents")):
        for init in (ROOT / folder).rglob("__init__.py"):
            member = f"{prefix}/{init.relative_to(ROOT / folder).as_posix()}"
            assert member in names, f"{member} is missing from the wheel: list its package in setup.cfg"


def test_version_and_python_m():
    version = subprocess.run([sys.executable, "-m", "multipower", "--version"], capture_output=True, text=True,
                             check=True, timeout=120, cwd="/")
    assert version.stdout.strip() == f"multipower {multipower.__version__}"
    helped = subprocess.run([sys.executable, "-m", "multipower", "--help"], capture_output=True, text=True,
                            check=True, timeout=120, cwd="/")
    assert "exact" in helped.stdout and "train" in helped.stdout


@pytest.mark.parametrize("env_id", [*ENV_IDS, GRAPH_ENV_ID, *JOINT_GRAPH_ENV_IDS])
def test_every_registered_id_builds_without_arguments(env_id):
    env = gymnasium.make(env_id)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    env.close()
