"""Tests of multipower.plots.figures: every figure on small results; PNGs exist and are not blank."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from multipower.envs.model import joint_model, single_agent_model
from multipower.plots import figures as plotting
from multipower.runs.results import PowerResult, pearson
from multipower.runs.execution import Execution
from multipower.runs.spec import RunSpec

MIN_BYTES = 8_000
MIN_VARIANCE = 1e-3


def fake_joint(layout: str = "grid3x3", collision: str = "none", seed: int = 0) -> PowerResult:
    """A joint result with random POWER arrays on the real state labels of a layout."""
    model = joint_model(layout, collision)
    rng = np.random.default_rng(seed)
    moves = model.layout.action_mask().sum(axis=1)
    h, a = model.joint_cells[:, 0], model.joint_cells[:, 1]
    power_H = 0.6 + 0.04 * moves[h] - 0.02 * moves[a] + 0.01 * rng.standard_normal(len(h))
    power_A = 0.6 + 0.04 * moves[a] + 0.01 * rng.standard_normal(len(h))
    se = np.full(len(h), 1e-3)
    arrays = {"power_H": power_H, "power_H_se": se, "power_A": power_A, "power_A_se": se,
              "power_H_seed": power_H + 0.01, "power_H_seed_se": se, "power_A_seed": power_A - 0.01, "power_A_seed_se": se}
    config = {"layout": layout, "layout_text": model.layout.to_text(), "gamma": 0.6, "gamma_H": 0.6, "gamma_A": 0.6,
              "n_samples": 100, "collision": collision, "correlation": 0.0, "seed_policy": "uniform", "seed": seed}
    return PowerResult("joint", model.state_labels(), arrays, config, {"alpha": pearson(power_H, power_A)})


def fake_single(layout: str = "maze7x7") -> PowerResult:
    model = single_agent_model(layout)
    moves = model.action_mask.sum(axis=1)
    power = moves / (moves + 1.0)
    config = {"layout": layout, "layout_text": model.layout.to_text(), "gamma": 0.01, "n_samples": 100}
    return PowerResult("single", model.state_labels(), {"power": power, "power_se": np.full(len(power), 1e-3)}, config)


def assert_png(path) -> None:
    assert path.is_file(), path
    assert path.stat().st_size > MIN_BYTES, f"{path} is only {path.stat().st_size} bytes"
    assert plotting.image_variance(path) > MIN_VARIANCE, f"{path} looks blank"


@pytest.mark.parametrize("layout, collision, agent", [("grid3x3", "none", "H"), ("grid3x3", "none", "A"), ("maze7x7", "crash", "A")])
def test_joint_heatmap(tmp_path, layout, collision, agent):
    result = fake_joint(layout, collision)
    fig = plotting.plot_joint_heatmap(result, agent, highlight=[("s1", (0, 1), (0, 0))])
    assert "POWER_" + agent in fig._suptitle.get_text() and layout in fig._suptitle.get_text()
    assert_png(plotting.save_figure(fig, tmp_path / "heat.png"))


def test_joint_image_leaves_forbidden_states_and_walls_blank():
    result = fake_joint("maze7x7", "crash")
    image, rows, cols = plotting.joint_image(result, "power_H")
    assert np.isfinite(image).sum() == result.n_states == 31 * 30
    np.testing.assert_array_equal(image[rows, cols], result["power_H"])
    layout = result.layout
    for r, c in layout.cells[:3]:  # A on (r, c) with H on the same cell: forbidden under crash
        assert np.isnan(image[r * 8 + r, c * 8 + c])
    assert np.isnan(image[1 * 8 + 1, 0 * 8 + 1])  # A at (1, 0), H on the wall (1, 1)


def test_annotation_only_for_small_worlds():
    big = joint_model("robot_face20x20").layout
    small = joint_model("maze7x7").layout
    from multipower.plots.heatmaps import _should_annotate

    assert _should_annotate(small, None) and not _should_annotate(big, None)
    assert _should_annotate(big, True)
    fig_small = plotting.plot_joint_heatmap(fake_joint("grid3x3"), "H")
    assert len(fig_small.axes[0].texts) == 81
    plt.close(fig_small)


def test_single_heatmap(tmp_path):
    fig = plotting.plot_single_heatmap(fake_single())
    assert len(fig.axes[0].texts) == 31  # one value per open cell
    assert_png(plotting.save_figure(fig, tmp_path / "single.png"))


def test_alignment_plot_states_alpha(tmp_path):
    result = fake_joint("maze7x7", "crash")
    fig = plotting.plot_alignment(result)
    title = fig.axes[0].get_title()
    assert f"α_HA = {pearson(result['power_H'], result['power_A']):.3f}" in title
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == result.n_states
    assert_png(plotting.save_figure(fig, tmp_path / "alignment.png"))


def test_alpha_sweep_and_zero_crossing(tmp_path):
    betas = np.linspace(0, 1, 11)
    alphas = -0.4 + 1.4 * betas
    assert plotting.zero_crossing(betas, alphas) == pytest.approx(0.4 / 1.4)
    assert plotting.zero_crossing(betas, np.abs(alphas) + 0.1) is None
    fig = plotting.plot_alpha_sweep(betas, alphas, "correlation", title="grid3x3", published=[(1.0, 1.0)])
    assert any(line.get_ydata()[0] == 0 for line in fig.axes[0].lines if len(line.get_ydata()) == 2)
    assert_png(plotting.save_figure(fig, tmp_path / "sweep.png"))
    fig = plotting.plot_series([0.1, 0.5, 0.9], {"a": [1, 2, 3], "b": [3, 2, 1]}, "gamma", "excess")
    assert_png(plotting.save_figure(fig, tmp_path / "series.png"))


def test_palette_png_is_smaller(tmp_path):
    result = fake_joint("grid3x3")
    full = plotting.save_figure(plotting.plot_joint_heatmap(result, "H"), tmp_path / "full.png")
    small = plotting.save_figure(plotting.plot_joint_heatmap(result, "H"), tmp_path / "small.png", palette=True)
    assert small.stat().st_size < full.stat().st_size
    assert plotting.image_variance(small) > MIN_VARIANCE


def test_plot_directory_result_and_comparison(tmp_path):
    joint = fake_joint("grid3x3")
    joint.save(tmp_path / "exact")
    paths = plotting.plot_directory(tmp_path / "exact", tmp_path / "figs")
    assert {p.name for p in paths} >= {"heatmap_H.png", "heatmap_A.png", "alignment.png"}
    for path in paths:
        assert_png(path)
    fake_single().save(tmp_path / "single")
    assert [p.name for p in plotting.plot_directory(tmp_path / "single")] == ["heatmap.png"]
    # A comparison folder: learned and exact columns side by side, plus comparison.json.
    arrays = {}
    for agent in "HA":
        for which, shift in (("learned", 0.01), ("exact", 0.0)):
            arrays[f"power_{agent}_{which}"] = joint[f"power_{agent}"] + shift
            arrays[f"power_{agent}_{which}_se"] = np.full(joint.n_states, 1e-3)
        arrays[f"power_{agent}_error_se"] = np.full(joint.n_states, 1e-3)
    comparison = PowerResult("joint", joint.labels, arrays, {**joint.config, "algo": "qlearning"})
    comparison.save(tmp_path / "cmp")
    (tmp_path / "cmp" / "comparison.json").write_text(json.dumps({"alpha_learned": 0.0}))
    paths = plotting.plot_directory(tmp_path / "cmp")
    assert {p.name for p in paths} == {"learned_vs_exact.png", "heatmap_H.png", "heatmap_A.png", "alignment.png"}
    for path in paths:
        assert_png(path)


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="agent"):
        plotting.plot_joint_heatmap(fake_joint(), "B")
    with pytest.raises(ValueError, match="column"):
        plotting.plot_joint_heatmap(fake_joint(), column="nope")
    with pytest.raises(ValueError, match="joint"):
        plotting.plot_joint_heatmap(fake_single())
    with pytest.raises(ValueError, match="single"):
        plotting.plot_single_heatmap(fake_joint())


def test_describe_names_world_gamma_collision_beta_samples():
    text = plotting.describe(fake_joint("maze7x7", "crash").config)
    for part in ("maze7x7", "γ = 0.6", "collision crash", "β = 0", "100 samples"):
        assert part in text


def test_plot_sweep_with_corridor_analysis(tmp_path):
    from multipower.repro import experiments

    results = {g: fake_joint("maze7x7", "crash", seed=i) for i, g in enumerate([0.5, 0.9, 0.99])}
    config = {"name": "g", "layout": "maze7x7", "collision": "crash", "correlation": 0.0, "n_samples": 100,
              "sweep": {"parameter": "gamma", "values": list(results)}, "published": []}
    summary = experiments.sweep_summary({**config, "analysis": {"corridor": [[0, 4], [0, 5], [0, 6]]}}, results)
    assert set(summary["blocking"]["per_value"]) == {"0.5", "0.9", "0.99"}
    paths = plotting.plot_sweep(summary, results, config, tmp_path)
    assert [p.name for p in paths] == ["alpha_vs_gamma.png", "blocking_vs_gamma.png"]
    for path in paths:
        assert_png(path)


def test_joint_heat_map_values_stay_readable_on_a_page_or_are_dropped():
    """Values written in the cells are at least 6 pt when the figure is scaled to 16 cm; else the colour bar alone."""
    from multipower.exact.power import exact_power
    from multipower.plots.heatmaps import MIN_PRINTED_POINTS, PAGE_INCHES, plot_joint_heatmap

    for layout, expect_values in (("grid3x3", True), ("maze7x7", False)):
        result = exact_power(RunSpec(layout=layout, gamma_H=0.6, n_samples=8), execution=Execution(progress=False))
        fig = plot_joint_heatmap(result)
        width = fig.get_size_inches()[0]
        texts = [t for t in fig.axes[0].texts if t.get_text().replace(".", "").isdigit()]
        assert bool(texts) == expect_values, layout
        for text in texts:
            assert text.get_fontsize() * min(1.0, PAGE_INCHES / width) >= MIN_PRINTED_POINTS
        assert len(fig.axes) >= 2  # the colour bar
        import matplotlib.pyplot as plt

        plt.close(fig)
