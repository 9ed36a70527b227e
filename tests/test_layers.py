"""The packages import one way: ``envs`` (the world) <- ``agents`` (learners) <- ``multipower`` (solver, estimator,
experiments, command line), and no modules import each other in a loop.

The import graph is read from the source with ``ast``, imports inside functions included, so an import moved
into a function to dodge a cycle at import time is still a cycle here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Each package may import only the packages before it.
LAYERS = ("envs", "agents", "multipower")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for layer in LAYERS for path in (ROOT / layer).rglob("*.py")}


def _targets(node: ast.AST, modules: dict) -> list[str]:
    """The project modules an import statement loads (a submodule where ``from pkg import sub`` names one)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                 for alias in node.names]
    else:
        return []
    return [name for name in names if name.split(".")[0] in LAYERS]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the three packages, from every import statement anywhere."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = {t for node in ast.walk(tree) for t in _targets(node, modules) if t != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first repeated at the end), or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_packages_import_downward_only():
    upward = [
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in sorted(targets)
        if LAYERS.index(target.split(".")[0]) > LAYERS.index(module.split(".")[0])
    ]
    assert not upward, "imports up the layers envs <- agents <- multipower:\n" + "\n".join(upward)


def test_no_import_cycles():
    cycle = _cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_graph_is_read():
    """The walker sees real edges (guards the two tests above against passing on an empty graph)."""
    graph = import_graph()
    assert "envs.layouts" in graph["envs.model"]
    assert "envs.maze_v1" in graph["agents.sb3_ppo"]  # ``from envs import maze_v1``
    assert "agents.qlearning" in graph["multipower.compare"]
