"""The documentation: README.md and docs/*.md.

* Every ```python block runs as written. The blocks of one page run in order in one namespace (a later block
  may use what an earlier one defined), in a temporary working directory. A block whose fence is preceded by
  the line ``<!-- skip -->`` is not run: keep that for code that cannot run quickly here.
* Every ``multipower ...`` command shown (in ```bash blocks and inline code) is accepted by the
  command line's parser, so the documented flags exist.
* ``mkdocs build --strict`` succeeds (broken links, missing anchors and missing pages fail it), and every
  ``docs/PAGE.md#anchor`` cited in the code or linked from the README exists in the built site.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = "<!-- skip -->"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
# Text each page's snippets must print (a light check that they did what they show).
PRINTS = {"README.md": ["'H':", "'A':"], "interoperability.md": ["H moves", "A moves"]}


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of each ```python block not marked ``<!-- skip -->`` or ``<!-- example: FILE -->``
    (an example block equals its file, which tests/examples runs: in the default suite, or under ``-m interop``
    for the clients that are not installed by default)."""
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").splitlines()
        previous = next((line.strip() for line in reversed(before) if line.strip()), "")
        if previous != SKIP and not previous.startswith("<!-- example:"):
            blocks.append((text.count("\n", 0, match.start()) + 2, match.group(1)))
    return blocks


def test_pages_found():
    names = {page.name for page in PAGES}
    assert {"README.md", "index.md", "concepts.md"} <= names
    assert all(python_blocks(page.read_text()) for page in PAGES if page.name in PRINTS)


@pytest.fixture
def _one_torch_thread():
    # Tiny networks: extra threads only contend for the shared test machine's cores.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.usefixtures("_one_torch_thread")
@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_snippets_run(page, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for line, code in python_blocks(page.read_text()):
        exec(compile(code, f"<{page.name} line {line}>", "exec"), namespace)
    printed = capsys.readouterr().out
    for expected in PRINTS.get(page.name, []):
        assert expected in printed, f"{page.name}: the snippets did not print {expected!r}"


def test_skip_marker_skips():
    text = "a\n\n<!-- skip -->\n```python\nraise SystemExit\n```\n\n```python\nx = 1\n```\n"
    assert [code for _, code in python_blocks(text)] == ["x = 1\n"]


def multipower_commands(text: str) -> list[str]:
    """The ``multipower ...`` command lines (``.venv/bin/multipower`` too) of ```bash blocks."""
    command = re.compile(r"^(?:\.venv/bin/)?multipower ")
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```$", text, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            commands += [part.strip() for part in line.split("&&") if command.match(part.strip())]
    return commands


def inline_commands(text: str) -> list[str]:
    """``multipower COMMAND ...`` in inline code: often a fragment of a command, so only its flags are checked."""
    return re.findall(r"`((?:\.venv/bin/)?multipower [a-z-]+(?: [^`]*)?)`", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_commands_parse(page):
    from multipower.cli import build_parser

    parser = build_parser()
    for command in multipower_commands(page.read_text()):
        argv = shlex.split(command, comments=True)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit as stop:
            if stop.code not in (0, None):  # --help exits with 0
                pytest.fail(f"{page.name}: the CLI rejects {command!r}")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_inline_commands_name_real_flags(page):
    """A command in inline code names a real command, and each ``--flag`` it shows is one of that command's."""
    from multipower.cli import COMMANDS, build_parser

    subparsers = next(a for a in build_parser()._actions if a.choices and "exact" in a.choices).choices
    for fragment in inline_commands(page.read_text()):
        words = fragment.split()
        name = words[1].rstrip(":")
        if name.startswith("-") or name.isupper():  # `multipower --help`, `multipower COMMAND --help`
            continue
        assert name in COMMANDS, f"{page.name}: {fragment!r} names no multipower command"
        options = {s for action in subparsers[name]._actions for s in action.option_strings}
        flags = {word.split("=")[0] for word in words[2:] if word.startswith("--")}
        assert flags <= options, f"{page.name}: {fragment!r} shows {sorted(flags - options)}, not options of {name}"


def test_commands_found():
    text = (ROOT / "README.md").read_text()
    assert any(fragment.startswith("multipower train") for fragment in inline_commands(text))
    assert ".venv/bin/multipower demo --out results/demo" in multipower_commands(text)
    assert any(command.startswith("multipower compare") for command in multipower_commands(text))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[test]')")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, COLUMNS="100")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout}\n{run.stderr}"
    return out


def _anchors(site: Path, page: str) -> set[str]:
    html = site / Path(page).stem / "index.html" if page != "index.md" else site / "index.html"
    assert html.is_file(), f"no page built for docs/{page}"
    return set(re.findall(r'\bid="([^"]+)"', html.read_text()))


def test_docs_build_strict(site):
    assert (site / "cli" / "index.html").is_file()  # the generated CLI reference
    cli = _anchors(site, "cli.md")
    for command in ("exact", "train", "compare", "plot", "reproduce", "demo"):
        assert command in cli, f"the CLI reference has no section for {command}"


def test_doc_references_resolve(site):
    """``docs/PAGE.md#anchor`` in code, configs and the README points at a page and an anchor that exist."""
    pattern = re.compile(r"docs/([a-z_-]+\.md)(?:#([A-Za-z0-9_-]+))?")
    files = [ROOT / "README.md"] + [
        path
        for folder in ("envs", "agents", "multipower", "experiments", "benchmarks", "tests")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".yaml")
    ]
    checked = 0
    for path in files:
        for page, anchor in pattern.findall(path.read_text(encoding="utf-8")):
            if page == "PAGE.md":
                continue
            assert (ROOT / "docs" / page).is_file(), f"{path.relative_to(ROOT)} cites missing docs/{page}"
            if anchor:
                assert anchor in _anchors(site, page), f"{path.relative_to(ROOT)} cites missing docs/{page}#{anchor}"
            checked += 1
    assert checked > 0


def test_the_api_reference_renders_the_public_api(site):
    """The API pages are built from the installed package's docstrings (mkdocstrings, docs/hooks/api_source.py)."""
    expected = {
        "api/envs.md": ("multipower.envs.maze_v1.parallel_env", "multipower.envs.joint_graph.load_joint_graph",
                        "multipower.envs.model.JointModel"),
        "api/agents.md": ("multipower.agents.ppo.PPOConfig", "multipower.agents.qlearning_stages.train_chunk",
                          "multipower.agents.chunk.ChunkTask"),
        "api/exact.md": ("multipower.exact.power.exact_power", "multipower.exact.solver.solve_pairs",
                         "multipower.exact.graph_pairs.joint_graph_power"),
        "api/learned.md": ("multipower.learned.estimator.estimate_power", "multipower.runs.results.PowerResult"),
    }
    for page, names in expected.items():
        html = (site / page.replace(".md", "") / "index.html").read_text()
        for name in names:
            assert f'id="{name}"' in html, f"{page} does not document {name}"


def test_docstrings_are_google_style():
    """One docstring style (Google ``Args:``/``Returns:``), which the API reference renders: no Sphinx fields or
    roles, which it would show as raw text."""
    import ast

    sphinx = re.compile(r"^\s*:(param|returns?|raises?|type|rtype)\b|:(func|class|meth|mod|data|attr|exc|obj):`", re.M)
    offenders = []
    for folder in ("multipower", "envs", "agents"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and sphinx.search(doc):
                        offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'name', 'module')}")
    assert not offenders, f"Sphinx-style docstrings: {offenders[:10]}"
