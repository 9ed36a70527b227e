"""Check that the command line prints and writes the same numbers as another checkout.

Runs a fixed list of small ``multipower`` commands (the README's examples, shrunk to seconds) once with the
package of ``--base`` (a checkout directory put first on ``PYTHONPATH``) and once with this tree, each in its
own empty working directory, then compares:

* stdout, with timings (``12.3 s``) masked;
* every file written: JSON and YAML by value (keys naming timings masked; keys only the new run writes are
  listed as added, not as differences), CSV and Markdown as text (timings masked), ``.npz`` by array (arrays
  named like timings skipped), and anything else (PNG) by bytes. A manifest's checksum and size of each file
  it lists are masked: those files are compared themselves, and their timings change their checksums; so is a
  chunk file's ``__checksum__`` array (its other arrays are compared).

Usage::

    git worktree add /tmp/base <commit>
    .venv/bin/python scripts/check_cli_identity.py --base /tmp/base [--only exact,train] [--keep DIR] [--reuse-base]

``--keep DIR`` keeps both working directories (and each run's stdout) under DIR; ``--reuse-base`` then skips
rerunning the base checkout when DIR already holds its outputs.

Exits 0 when nothing differs, 1 otherwise (each difference on one line).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent

#: (name, arguments) of each command; output folders are relative to the run's working directory.
COMMANDS = [
    ("exact", "exact --layout grid3x3 --gamma 0.6 --samples 300 --out out/exact --no-progress"),
    ("exact-crash-beta", "exact --layout grid3x3 --gamma 0.6 --gamma-a 0.9 --samples 300 --collision crash "
                         "--distribution beta --dist-param a=2 --dist-param b=2 --seed 3 --out out/exact_beta --no-progress"),
    ("exact-single", "exact --layout maze7x7 --gamma 0.01 --samples 300 --single --out out/single --no-progress"),
    ("train", "train --algo qlearning --layout grid3x3 --gamma 0.6 --samples 4 --option min_visits=300 --out out/q"),
    ("train-crash-chunks", "train --layout grid3x3 --collision crash --gamma 0.5 --gamma-a 0.7 --samples 4 --chunk 2 "
                           "--correlation 0.5 --seed 2 --option min_visits=200 --out out/q_crash"),
    ("train-ppo", "train --algo ppo --layout grid3x3 --gamma 0.6 --samples 4 --timesteps 4096 --jobs 2 --chunk 2 "
                  "--out out/ppo"),
    ("compare-agents", "compare --agents out/q --out out/cmp"),
    ("compare-train", "compare --algo qlearning --layout grid3x3 --gamma 0.6 --samples 4 --seed-policy stay "
                      "--train-option min_visits=300 --out out/cmp2"),
    ("plot", "plot out/exact --out out/plot_exact"),
    ("plot-compare", "plot out/cmp --out out/plot_cmp"),
    ("reproduce", "reproduce part2-fig2-4 --samples 300 --quiet --out out/rep"),
    ("reproduce-sweep", "reproduce part2-fig9-10 --samples 100 --quiet --out out/sweep"),
    ("reproduce-single", "reproduce part1-fig1 --samples 300 --quiet --out out/rep_single"),
    ("demo", "demo --samples 300 --learned-samples 3 --quiet --out out/demo"),
]

TIME = re.compile(r"\d+(?:[.,]\d+)*(?:\.\d+)? s\b")
TIMING_KEY = re.compile(r"(second|timing|time|wall)", re.IGNORECASE)


def link_subpackages(package: Path) -> None:
    """Make ``package``'s own ``envs/`` and ``agents/`` folders its ``multipower.envs`` and ``multipower.agents``
    (an install maps them there; without the links the installed tree's folders would be imported instead)."""
    for name in ("envs", "agents"):
        link = package / "multipower" / name
        if (package / name).is_dir() and not link.exists():
            link.symlink_to(Path("..") / name)


def run_all(package: Path, workdir: Path, names: list) -> dict:
    """Run the commands with ``package`` first on the path; returns ``{name: (rc, stdout)}``."""
    env = {**os.environ, "PYTHONPATH": str(package), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
    outputs = {}
    for name, args in COMMANDS:
        if name not in names:
            continue
        cmd = [sys.executable, "-m", "multipower.cli", *args.split()]
        done = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
        outputs[name] = (done.returncode, done.stdout, done.stderr)
        print(f"  {name}: rc {done.returncode}", file=sys.stderr)
    return outputs


def mask_text(text: str) -> str:
    return TIME.sub("<T> s", text)


def mask_tree(value, path: str = ""):
    """JSON/YAML value with timing entries (and a manifest's per-file checksums and sizes) replaced by a marker."""
    if isinstance(value, dict):
        listed = path.startswith(".files.")  # manifest.json: {"files": {name: {"sha256": ..., "bytes": ...}}}
        return {k: ("<T>" if TIMING_KEY.search(str(k)) or (listed and k in ("sha256", "bytes"))
                    else mask_tree(v, f"{path}.{k}")) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v, path) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def tree_diff(old, new, where: str, added: list) -> list:
    """Differences of two JSON values; keys only ``new`` has go to ``added``."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = [f"{where}.{k}: removed" for k in old if k not in new]
        added += [f"{where}.{k}" for k in new if k not in old]
        for k in old:
            if k in new:
                out += tree_diff(old[k], new[k], f"{where}.{k}", added)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new)) for d in tree_diff(a, b, f"{where}[{i}]", added)]
    return [] if old == new else [f"{where}: {str(old)[:80]!r} != {str(new)[:80]!r}"]


def _same_array(x: np.ndarray, y: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN where the dtype has NaN (string arrays, such as a piece's key, have none)."""
    return np.array_equal(x, y, equal_nan=x.dtype.kind in "fc" and y.dtype.kind in "fc")


def file_diff(old: Path, new: Path, rel: str, added: list) -> list:
    suffix = old.suffix
    if suffix in (".json", ".yaml", ".yml"):
        load = json.loads if suffix == ".json" else yaml.safe_load
        return tree_diff(mask_tree(load(old.read_text())), mask_tree(load(new.read_text())), rel, added)
    if suffix in (".csv", ".md", ".txt"):
        return [] if mask_text(old.read_text()) == mask_text(new.read_text()) else [f"{rel}: text differs"]
    if suffix == ".npz":
        with np.load(old) as a, np.load(new) as b:
            if sorted(a.files) != sorted(b.files):
                return [f"{rel}: arrays {sorted(a.files)} != {sorted(b.files)}"]
            return [f"{rel}:{k} differs" for k in a.files
                    if not TIMING_KEY.search(k) and k != "__checksum__" and not _same_array(a[k], b[k])]
    return [] if old.read_bytes() == new.read_bytes() else [f"{rel}: bytes differ"]


def compare_dirs(base: Path, new: Path) -> tuple:
    diffs, added = [], []
    old_files = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}
    new_files = {p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file()}
    diffs += [f"{f}: not written any more" for f in sorted(old_files - new_files)]
    added += [f"{f} (new file)" for f in sorted(new_files - old_files)]
    for rel in sorted(old_files & new_files):
        diffs += file_diff(base / rel, new / rel, rel, added)
    return diffs, added


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="checkout whose package is the reference")
    parser.add_argument("--only", default=None, help="comma-separated command names (default: all)")
    parser.add_argument("--keep", default=None, help="keep the two working directories under this folder")
    parser.add_argument("--reuse-base", action="store_true", help="with --keep: reuse the base outputs kept there")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else [name for name, _ in COMMANDS]
    top = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cli_identity_"))
    runs = {}
    link_subpackages(Path(args.base).resolve())
    for label, package in (("base", Path(args.base).resolve()), ("new", ROOT)):
        workdir, saved = top / label, top / f"{label}_stdout.json"
        if label == "base" and args.reuse_base and saved.is_file():
            runs[label] = json.loads(saved.read_text())
            continue
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        print(f"{label}: {package}", file=sys.stderr)
        runs[label] = run_all(package, workdir, names)
        saved.write_text(json.dumps(runs[label]))
    diffs = []
    for name in names:
        (rc_a, out_a, _), (rc_b, out_b, err_b) = runs["base"][name], runs["new"][name]
        if rc_a != rc_b:
            diffs.append(f"{name}: exit status {rc_a} != {rc_b}\n{err_b[-2000:]}")
        if mask_text(out_a) != mask_text(out_b):
            diffs.append(f"{name}: stdout differs:\n--- base\n{out_a}--- new\n{out_b}")
    file_diffs, added = compare_dirs(top / "base", top / "new")
    diffs += file_diffs
    for line in added:
        print(f"added: {line}")
    for line in diffs:
        print(f"DIFF {line}")
    print(f"{len(names)} commands, {len(diffs)} differences, {len(added)} additions ({top})")
    if not args.keep:
        shutil.rmtree(top, ignore_errors=True)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
