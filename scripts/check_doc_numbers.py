"""Check that numbers quoted in README.md and docs/ still come out of the commands printed beside them.

Each check runs one cheap command (under a minute on 2 cores; the slow ones are the benchmarks' and the slow
tests' job), formats the numbers it produced the way the docs quote them, and looks for each in the pages that
quote it. Timings are never checked.

Usage::

    python scripts/check_doc_numbers.py [--only NAME,NAME] [--keep DIR]

Exits 0 when every quoted number is found, 1 otherwise (each missing one on its own line, with what the command
gave). ``pytest -m slow tests/test_doc_numbers.py`` runs it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _minus(x: float, digits: int) -> str:
    """A number as the docs write it: a typographic minus sign."""
    return f"{x:.{digits}f}".replace("-", "−")


def _alpha_maze_crash(out: Path) -> list:
    summary = json.loads((out / "run" / "summary.json").read_text())
    return [f"α_HA ({_minus(summary['alpha'], 3)};"]


def _qlearning_grid(out: Path) -> list:
    m = json.loads((out / "cmp" / "comparison.json").read_text())
    return [f"{m['max_abs_error_H']:.4f} for H and {m['max_abs_error_A']:.4f} for A",
            f"learned {_minus(m['alpha_learned'], 3)} against exact {_minus(m['alpha_exact'], 3)}"]


def _qlearning_grid_table(out: Path) -> list:
    m = json.loads((out / "cmp" / "comparison.json").read_text())
    return [f"| max \\|learned − exact\\| | {m['max_abs_error_H']:.4f} | {m['max_abs_error_A']:.4f} |",
            f"learned {_minus(m['alpha_learned'], 3)} against exact {_minus(m['alpha_exact'], 3)}"]


#: name -> (commands run in order, {page: extractor of the quoted strings})
CHECKS = {
    "exact-maze-crash": (
        [["exact", "--layout", "maze7x7", "--gamma", "0.1", "--samples", "10000", "--collision", "crash",
          "--no-progress", "--out", "run"]],
        {"README.md": _alpha_maze_crash},
    ),
    "qlearning-grid": (
        [["train", "--algo", "qlearning", "--layout", "grid3x3", "--gamma", "0.6", "--samples", "1000", "--jobs", "2",
          "--out", "q_grid"],
         ["compare", "--agents", "q_grid", "--out", "cmp"]],
        {"README.md": _qlearning_grid, "docs/comparison.md": _qlearning_grid_table},
    ),
}


def run_check(name: str, workdir: Path) -> list:
    """Run a check's commands in ``workdir``; returns the lines of quoted numbers not found (empty: all found)."""
    commands, pages = CHECKS[name]
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "multipower", *argv], cwd=workdir, capture_output=True, text=True)
        if done.returncode != 0:
            return [f"{name}: `multipower {' '.join(argv)}` failed: {done.stderr.strip()[-500:]}"]
    missing = []
    for page, extract in pages.items():
        text = (ROOT / page).read_text()
        missing += [f"{name}: {page} does not quote {quoted!r}" for quoted in extract(workdir) if quoted not in text]
    return missing


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None, help=f"comma-separated, from {', '.join(CHECKS)}")
    parser.add_argument("--keep", default=None, help="run in this folder and keep the outputs")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(CHECKS)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        parser.error(f"--only: unknown {unknown}; choose from {', '.join(CHECKS)}")
    top = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="doc_numbers_"))
    problems = []
    for name in names:
        workdir = top / name
        workdir.mkdir(parents=True, exist_ok=True)
        found = run_check(name, workdir)
        print(f"{name}: {'ok' if not found else f'{len(found)} stale'}", flush=True)
        problems += found
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
