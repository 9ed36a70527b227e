"""The examples of docs/interoperability-libraries.md run as written, and the page shows them verbatim.

Each code block of the page follows a ``<!-- example: examples/interop/NAME.py -->`` line and must equal that
file. The SB3 and SuperSuit examples run here; the heavier clients (Tianshou, TorchRL, RLlib) run under
``pytest -m interop`` with the versions pinned in ``examples/interop/requirements.txt``.
"""

import importlib.util
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "interoperability-libraries.md"
EXAMPLES = ROOT / "examples" / "interop"
BLOCK = re.compile(r"<!-- example: (\S+) -->\n```python\n(.*?)```\n", re.S)
DEFAULT = ["sb3_maskable_ppo.py", "supersuit_sb3.py"]
HEAVY = {"tianshou_two_stage.py": "tianshou", "torchrl_masks.py": "torchrl", "rllib_masks.py": "ray.rllib",
         "benchmarl_maze.py": "benchmarl"}


def _importable(module: str) -> bool:
    """Whether ``module`` imports (``ray`` may be installed without what ``ray.rllib`` needs)."""
    try:
        importlib.import_module(module)
    except Exception:
        return False
    return True


@pytest.fixture(autouse=True)
def sb3_logs_in_tmp_path(tmp_path, monkeypatch):
    """SB3's default logger makes a folder per ``learn()`` in the system's temporary folder: keep them in the
    test's own."""
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path / "sb3"))


@pytest.fixture
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: more threads only contend for the machine's cores
    yield
    torch.set_num_threads(threads)


def test_page_blocks_are_the_example_files():
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    shown = [name for name, _ in blocks]
    assert sorted(shown) == sorted(f"examples/interop/{f}" for f in [*DEFAULT, *HEAVY]), shown
    for name, code in blocks:
        assert code == (ROOT / name).read_text(encoding="utf-8"), f"the page's block differs from {name}"


@pytest.mark.parametrize("name", DEFAULT)
def test_default_examples_run(name, one_torch_thread, capsys):
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    assert capsys.readouterr().out.strip()


@pytest.mark.interop
@pytest.mark.parametrize("name", list(HEAVY))
def test_heavy_client_examples_run(name, one_torch_thread, capsys):
    if not _importable(HEAVY[name]):
        pytest.skip(f"{HEAVY[name]} is not installed (pip install -r examples/interop/requirements.txt)")
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    assert capsys.readouterr().out.strip()


@pytest.mark.interop
def test_tianshou_trains_h_on_its_real_rewards(one_torch_thread, capsys):
    """The Tianshou recipe's training data for H holds H's rewards (through the multi-agent AEC manager they were
    all zero)."""
    if not _importable("tianshou"):
        pytest.skip("tianshou is not installed (pip install -r examples/interop/requirements.txt)")
    runpy.run_path(str(EXAMPLES / "tianshou_two_stage.py"), run_name="__main__")
    out = capsys.readouterr().out
    share = float(re.search(r"mean reward ([0-9.]+), (\d+)% of them non-zero", out).group(2))
    assert share > 20, out  # uniform [0, 1] rewards on most cells: most transitions pay something


def test_every_recipe_uses_the_observation_its_library_needs():
    """The page's table says which ``obs_type`` each library needs; every neural-network recipe passes it."""
    page = PAGE.read_text(encoding="utf-8")
    assert "## The observation each library needs" in page
    for path in sorted(EXAMPLES.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "maze_v1" in text or "JointMaze" in text:
            assert 'obs_type="vector"' in text or '"obs_type": "vector"' in text, path.name


@pytest.mark.interop
def test_torchrl_rolls_out_the_slippery_maze():
    """TorchRL builds its info layout from the reset infos: with slip, ``effective_action`` must be there from
    ``reset()`` on (it crashed with ``'NoneType' object does not support item assignment``)."""
    if not _importable("torchrl"):
        pytest.skip("torchrl is not installed (pip install -r examples/interop/requirements.txt)")
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    from multipower.envs import maze_v1

    env = PettingZooWrapper(env=maze_v1.parallel_env(obs_type="vector", slip=0.2, reward_seed=0),
                            categorical_actions=True)
    rollout = env.rollout(5)
    effective = rollout["next", "H", "info", "effective_action"]
    assert effective.shape[0] == 5 and bool(((effective >= 0) & (effective < 5)).all())
