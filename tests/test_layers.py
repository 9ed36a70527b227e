"""The layers import one way, each only from the layers before it in :data:`LAYERS`: ``multipower.envs`` (the
world) <- ``agents`` (learners) <- ``runs`` (run specification, folders, backends) <- ``exact`` (the solver) <-
``plots`` (figures, animations) <- ``learned`` (training driver, estimator, comparisons) <- ``repro``
(reproductions) <- ``cli`` (the command line); no modules import each other in a loop; nothing imports the
folders ``envs`` or ``agents`` under their bare names; and the package stays small enough to read: few modules
at its top, no module over :data:`MAX_LINES` lines but those named in :data:`LONG_MODULES`, and no public
function over :data:`MAX_PARAMETERS` parameters.

The repository's folders ``envs/`` and ``agents/`` install as ``multipower.envs`` and ``multipower.agents``
(``package_dir`` in setup.cfg). From the repository root a bare ``import envs`` would still find the folder and
load a second copy of every module in it, so the bare names are forbidden everywhere, docs included.

The import graph is read from the source with ``ast``, imports inside functions included, so an import moved
into a function to dodge a cycle at import time is still a cycle here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The package's folders in the repository: (module prefix, folder).
FOLDERS = (("multipower.envs", "envs"), ("multipower.agents", "agents"), ("multipower", "multipower"))
#: Each layer may import only the layers before it; the package's own ``__init__``/``__main__`` come last.
LAYERS = ("multipower.envs", "multipower.agents", "multipower.runs", "multipower.exact", "multipower.plots",
          "multipower.learned", "multipower.repro", "multipower.cli", "multipower")
#: Longest module, in lines, except the modules below (one algorithm each, read as one piece).
MAX_LINES = 600
LONG_MODULES = {
    "multipower.exact.solver": "the two-stage dynamic programme with its certificate, on torch for every device",
    "multipower.exact._vikernel": "the compiled kernels of the same programme (numba), each stage one loop nest",
    "multipower.agents.ppo": "batched PPO, CleanRL-style: one readable file for the algorithm",
}
#: Most parameters a public function or method may take (``self``/``cls`` not counted): what to compute, how and
#: where, and storage are one value each (``TwoStageProblem``/``RunSpec``, ``Execution``, ``Storage``), so a call
#: reads as what it does. Modules whose name starts with ``_`` (compiled kernels, not in the API reference) are not
#: public; a public function over the limit must be named in ``MANY_PARAMETERS`` with the reason.
MAX_PARAMETERS = 8
MANY_PARAMETERS: dict[str, str] = {}
#: Folders whose Python files must not import the bare names (everything that ships or is run).
PYTHON_FOLDERS = ("multipower", "envs", "agents", "tests", "experiments", "benchmarks", "scripts", "examples")
BARE = ("envs", "agents")


def _module_name(path: Path) -> str:
    for prefix, folder in FOLDERS:
        if path.is_relative_to(ROOT / folder):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            return ".".join((prefix, *parts))
    raise ValueError(path)


def _layer(module: str) -> int:
    return next(i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + "."))


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for _, folder in FOLDERS for path in (ROOT / folder).rglob("*.py")}


def _imported(node: ast.AST) -> list[str]:
    """The dotted names an import statement names (``from pkg import sub`` gives ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def _targets(node: ast.AST, modules: dict) -> list[str]:
    """The project modules an import statement loads (a submodule where ``from pkg import sub`` names one)."""
    names = _imported(node)
    if isinstance(node, ast.ImportFrom) and names:
        names = [name for name in names[1:] if name in modules] or names[:1]
    return [name for name in names if name.split(".")[0] == "multipower"]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the package, from every import statement anywhere."""
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
        # the package itself (its __init__: version, registration) runs before any of its modules anyway
        if target != "multipower" and _layer(target) > _layer(module)
    ]
    assert not upward, f"imports up the layers {' <- '.join(LAYERS)}:\n" + "\n".join(upward)


def test_no_import_cycles():
    cycle = _cycle(import_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_graph_is_read():
    """The walker sees real edges (guards the two tests above against passing on an empty graph)."""
    graph = import_graph()
    assert "multipower.envs.layouts" in graph["multipower.envs.model"]
    assert "multipower.envs.maze_v1" in graph["multipower.agents.sb3_ppo"]  # ``from multipower.envs import maze_v1``
    assert "multipower.agents.qlearning_config" in graph["multipower.learned.compare"]
    assert "multipower.exact.accuracy" in graph["multipower.plots.rollout"]  # an import inside a function


def test_every_module_has_a_layer():
    for module in _modules():
        assert _layer(module) < len(LAYERS) - 1 or module in ("multipower", "multipower.__main__"), module


def test_few_modules_at_the_top_of_the_package():
    top = sorted(path.name for path in (ROOT / "multipower").glob("*.py"))
    assert len(top) <= 12, top


def test_modules_are_short():
    lines = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    long = {name: n for name, n in lines.items() if n > MAX_LINES and name not in LONG_MODULES}
    assert not long, f"modules over {MAX_LINES} lines (split them, or name them in LONG_MODULES with the reason): {long}"


def _public_functions(tree: ast.Module):
    """``(qualified name, node)`` of the module's public functions and of its public classes' public methods."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def _parameter_count(node: ast.FunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return len(names) - (1 if names and names[0] in ("self", "cls") else 0)


def test_public_functions_take_few_parameters():
    many = {}
    for module, path in _modules().items():
        if any(part.startswith("_") and part not in ("__init__", "__main__") for part in module.split(".")):
            continue
        for name, node in _public_functions(ast.parse(path.read_text())):
            count = _parameter_count(node)
            if count > MAX_PARAMETERS and f"{module}.{name}" not in MANY_PARAMETERS:
                many[f"{module}.{name}"] = count
    assert not many, (f"public functions over {MAX_PARAMETERS} parameters (group what / how / where into "
                      f"TwoStageProblem or RunSpec, Execution, Storage; or name them in MANY_PARAMETERS): {many}")


def test_the_parameter_check_can_fail():
    tree = ast.parse("def f(a, b, c, d, e, f, g, h, i): pass\nclass C:\n    def m(self, a, b): pass\n")
    counts = {name: _parameter_count(node) for name, node in _public_functions(tree)}
    assert counts == {"f": 9, "C.m": 2}


def test_no_bare_envs_or_agents_imports():
    """No Python file imports ``envs`` or ``agents`` as a top-level package."""
    found = []
    for folder in PYTHON_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                found += [f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                          for name in _imported(node) if name.split(".")[0] in BARE]
    assert not found, "\n".join(found)


def test_no_bare_imports_in_docs():
    """Code in README and docs (run by tests/test_docs.py from the repository root) uses the package names too."""
    bare = re.compile(r"^\s*(?:from|import)\s+(?:envs|agents)\b", re.MULTILINE)
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    found = [f"{page.relative_to(ROOT)}: {match.group(0).strip()}" for page in pages for match in bare.finditer(page.read_text())]
    assert not found, "\n".join(found)


def test_the_bare_check_can_fail(tmp_path):
    """The AST check recognises each form of a bare import."""
    tree = ast.parse("import envs\nimport agents.ppo as p\nfrom envs import maze_v1\nfrom multipower.envs import x\n")
    names = [name for node in ast.walk(tree) for name in _imported(node) if name.split(".")[0] in BARE]
    assert names == ["envs", "agents.ppo", "envs", "envs.maze_v1"]


def test_the_readme_layout_table_names_every_module():
    """README's "Repository layout" names each module of each folder once it is in a table row, and nothing else."""
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Repository layout"):]
    table = table[:table.index("\n\n", table.index("| path | what |"))]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `([\w/]+)/` \| (.*) \|$", table, re.M)}
    checked = 0
    for folder, text in rows.items():
        path = ROOT / folder
        if folder in ("docs", "tests") or not path.is_dir():
            continue
        named = {name for name in re.findall(r"`(\w+\.py)`", text) if not name.startswith("__")}
        present = {p.name for p in path.glob("*.py") if not p.name.startswith("__")}
        assert named == present, f"README's row for {folder}/: missing {sorted(present - named)}, " \
                                 f"not there {sorted(named - present)}"
        checked += 1
    assert checked >= 9
