"""PowerResult save/load, lookups, validation; standard_error and pearson."""

import math

import numpy as np
import pytest

from multipower.envs.layouts import load_layout
from multipower.envs.model import joint_model
from multipower.runs.results import MeanAccumulator, PowerResult, pearson, standard_error


def joint_result():
    model = joint_model("grid3x3", "crash")
    rng = np.random.default_rng(0)
    arrays = {"power_H": rng.random(model.n_states), "power_H_se": rng.random(model.n_states) / 100}
    config = {"layout": "grid3x3", "layout_text": load_layout("grid3x3").to_text(), "gamma": 0.6}
    return PowerResult("joint", model.state_labels(), arrays, config, {"alpha": -0.4}, {"total": 1.5})


def test_save_load_round_trip(tmp_path):
    res = joint_result()
    res.save(tmp_path / "r")
    back = PowerResult.load(tmp_path / "r")
    assert back.kind == "joint" and back.config == res.config and back.stats == {"alpha": -0.4}
    assert back.timings == {"total": 1.5}
    np.testing.assert_array_equal(back.labels, res.labels)
    for name in res.arrays:
        np.testing.assert_array_equal(back[name], res[name])  # repr(float) round-trips exactly


def test_value_at_and_layout():
    res = joint_result()
    i = int(np.flatnonzero((res.labels == [0, 0, 1, 1]).all(1))[0])
    assert res.value_at("power_H", (0, 0), (1, 1)) == res.power_H[i]
    with pytest.raises(ValueError):
        res.value_at("power_H", (0, 0), (0, 0))  # does not exist under crash
    assert res.layout.n_cells == 9


def test_validation():
    with pytest.raises(ValueError, match="kind"):
        PowerResult("triple", np.zeros((2, 2)), {}, {})
    with pytest.raises(ValueError, match="labels"):
        PowerResult("single", np.zeros((2, 4)), {}, {})
    with pytest.raises(ValueError, match="power"):
        PowerResult("single", np.zeros((2, 2)), {"power": np.zeros(3)}, {})


def test_standard_error_and_pearson():
    x = np.random.default_rng(1).random((50, 3))
    np.testing.assert_allclose(standard_error(x), x.std(0, ddof=1) / np.sqrt(50))
    np.testing.assert_array_equal(standard_error(x[:1]), np.zeros(3))
    a, b = x[:, 0], x[:, 1]
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert np.isnan(pearson(a, np.ones(50)))


def test_running_mean_matches_numpy():
    values = np.random.default_rng(0).normal(size=(23, 4))
    acc = MeanAccumulator()
    for part in np.array_split(values, 5):
        acc.add(part)
    np.testing.assert_allclose(acc.mean, values.mean(0))
    np.testing.assert_allclose(acc.se, values.std(0, ddof=1) / math.sqrt(23))


def test_the_manifest_key_leaves_out_timings(tmp_path):
    """A learned comparison's config carries its training run's wall time; the run's key must not, or the same
    comparison would count as another run each time it is rerun."""
    from multipower.runs.rundir import read_manifest
    from tests.multipower.test_plotting import fake_joint

    hashes = []
    for seconds in (1.5, 7.25):
        result = fake_joint()
        result.config["timings"] = {"wall_seconds": seconds}
        result.save(tmp_path / str(seconds))
        hashes.append(read_manifest(tmp_path / str(seconds))["config_hash"])
    assert hashes[0] == hashes[1]
    other = fake_joint(seed=1)
    other.save(tmp_path / "other")
    assert read_manifest(tmp_path / "other")["config_hash"] != hashes[0]
