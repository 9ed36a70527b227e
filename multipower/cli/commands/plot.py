"""``multipower plot DIR``: draw the figures of any saved result folder as PNG."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from multipower.cli.commands import count, out_path

HELP = "draw the figures (PNG) of a saved result folder: exact, single-agent, sweep, comparison or reproduction"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="a folder written by multipower (exact, compare, reproduce, demo)")
    parser.add_argument("--out", type=out_path, default=None, help="where to write the PNGs (default: DIRECTORY itself)")
    parser.add_argument("--dpi", type=count(1), default=110, help="resolution of the PNGs, 20 to 1200 (default 110)")
    parser.add_argument("--palette", action="store_true",
                        help="re-encode the PNGs with a 256-colour palette (several times smaller; for galleries)")


def partial_notes(directory: Path) -> list:
    """One line per partial result in ``directory`` (or its ``exact/`` and sweep points): how far it got."""
    import json

    from multipower.plots.figures import samples_text

    notes = []
    for summary in [directory / "summary.json", *sorted(directory.glob("*/summary.json")),
                    *sorted(directory.glob("points/*/summary.json"))]:
        if not summary.is_file():
            continue
        data = json.loads(summary.read_text())
        config = {**data.get("config", {}), **{k: data[k] for k in ("samples_done", "samples_requested", "complete")
                                               if k in data}}
        if "n_samples" in config and "(partial)" in samples_text(config):
            notes.append(f"{summary.parent}: a partial result, {samples_text(config)}; the figures say so")
    return notes


def run(args: argparse.Namespace) -> int:
    from multipower.plots.figures import compress_png, plot_directory

    from multipower.runs.rundir import check_own_folder

    target = check_own_folder(args.out if args.out is not None else args.directory,
                              "--out" if args.out is not None else "DIRECTORY (the figures' default --out)")
    existing = next((p for p in [target, *target.parents] if p.exists()), None)
    if existing is not None and existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        flag = "--out" if args.out is not None else "DIRECTORY (the figures' default --out)"
        raise ValueError(f"{flag}: cannot write to {target} (permission denied in {existing})")
    from multipower.runs.rundir import check_not_writing

    check_not_writing(args.directory, "DIRECTORY")
    paths = plot_directory(args.directory, args.out, dpi=args.dpi)  # checks the saved files first
    for note in partial_notes(Path(args.directory)):
        print(note)
    for path in paths:
        if args.palette:
            compress_png(path)
        print(f"{path}  ({path.stat().st_size // 1024} KB)")
    print(f"{len(paths)} figure(s) written")
    return 0
