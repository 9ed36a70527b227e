"""MkDocs hook: lay out the installed package as one source tree for the API reference.

``multipower.envs`` and ``multipower.agents`` are installed from the repository's ``envs/`` and ``agents/``
folders (setuptools ``package_dir``), which griffe, the reader behind mkdocstrings, cannot follow from the
``multipower/`` folder. This hook finds each package where Python imports it from and copies the three into
``build/api-source/multipower`` before the pages are rendered; ``mkdocs.yml`` points mkdocstrings there.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority

TREE = Path(__file__).resolve().parents[2] / "build" / "api-source"


def _location(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed: run scripts/setup.sh (or pip install -e .) first")
    return Path(next(iter(spec.submodule_search_locations)))


@event_priority(100)  # before mkdocstrings' own config step, which keeps only search paths that exist
def on_config(config, **kwargs):
    target = TREE / "multipower"
    shutil.rmtree(TREE, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "envs", "agents")
    shutil.copytree(_location("multipower"), target, ignore=ignore)
    for sub in ("envs", "agents"):
        shutil.copytree(_location(f"multipower.{sub}"), target / sub, ignore=shutil.ignore_patterns("__pycache__"))
    return config
