"""Tests of the ``multipower plot``, ``reproduce`` and ``demo`` commands, run through the real CLI."""

from __future__ import annotations

import json

import pytest
import yaml

from multipower import cli
from multipower.runs import configs
from multipower.plots import figures as plotting

TINY = "30"


def test_reproduce_list(capsys):
    assert cli.main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name, _ in configs.list_configs():
        assert name in out


def test_reproduce_end_to_end_then_plot(tmp_path, capsys):
    out_dir = tmp_path / "grid"
    assert cli.main(["reproduce", "part2-fig2-4", "--samples", TINY, "--out", str(out_dir), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "published" in printed and "reproduced" in printed and "α_HA" in printed
    assert "agrees" in printed  # α = 1 exactly at β = 1, whatever the sample count
    report = json.loads((out_dir / "report.json").read_text())
    assert report["n_samples"] == int(TINY) and report["seconds"] > 0
    for name in ("heatmap_H.png", "heatmap_A.png", "alignment.png"):
        assert plotting.image_variance(out_dir / "figures" / name) > 1e-3
    # a rerun reuses the saved result
    assert cli.main(["reproduce", "part2-fig2-4", "--samples", TINY, "--out", str(out_dir), "--quiet", "--no-figures"]) == 0
    assert "reused" in capsys.readouterr().out
    # `multipower plot` draws any saved folder
    assert cli.main(["plot", str(out_dir / "exact"), "--out", str(tmp_path / "replot")]) == 0
    assert (tmp_path / "replot" / "heatmap_A.png").stat().st_size > 8000
    assert cli.main(["plot", str(out_dir), "--out", str(tmp_path / "whole"), "--palette", "--dpi", "60"]) == 0
    assert plotting.image_variance(tmp_path / "whole" / "alignment.png") > 1e-3


def test_reproduce_bad_config_names_the_key(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "bad", "title": "t", "kind": "joint", "layout": "grid3x3",
                                    "gamma": 0.6, "n_samples": 10, "collision": "sticky"}))
    assert cli.main(["reproduce", str(path)]) == 2
    assert "'collision'" in capsys.readouterr().err
    assert cli.main(["reproduce", "no-such-config"]) == 2
    assert "no config named" in capsys.readouterr().err


def test_plot_rejects_a_folder_without_results(tmp_path, capsys):
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("multipower plot: error: no saved result")


def test_demo_exact_part(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out_dir), "--samples", "20", "--skip-learned", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Part 3 Figs 2-4" in printed and str(out_dir) in printed
    assert plotting.image_variance(out_dir / "part3-fig2-4" / "figures" / "heatmap_H.png") > 1e-3


@pytest.mark.slow
def test_demo_with_learned_part(tmp_path, capsys):
    """The demo's learned-vs-exact part (Q-learning training: about a minute even for a few samples)."""
    out_dir = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out_dir), "--samples", "20", "--learned-samples", "4", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "learned vs exact" in printed and str(out_dir) in printed
    assert "the exact α of those 4 samples; the table's exact α is over all 20" in printed
    report = json.loads((out_dir / "grid3x3-learned" / "report.json").read_text())
    assert "max_abs_error_H" in report["learned"]["metrics"]
    for name in ("learned_vs_exact.png", "heatmap_H.png", "alignment.png"):
        assert plotting.image_variance(out_dir / "grid3x3-learned" / "figures" / f"learned_qlearning_{name}") > 1e-3


def test_reproduce_learned_without_figures_draws_none(tmp_path):
    out_dir = tmp_path / "learned"
    assert cli.main(["reproduce", "part2-fig6-8", "--samples", "20", "--learned", "qlearning", "--learned-samples",
                     "2", "--out", str(out_dir), "--quiet", "--no-figures"]) == 0
    assert (out_dir / "learned_qlearning" / "power.csv").is_file()
    assert not list(out_dir.glob("figures/*.png"))
    assert json.loads((out_dir / "report.json").read_text())["learned"]["figures"] == []
