"""RewardSampler and the reward distributions (docs/concepts.md#rewards)."""

import numpy as np
import pytest

from multipower.envs.rewards import RewardSampler, bernoulli, custom, make_distribution, pareto


def test_pairs_do_not_depend_on_chunking():
    s = RewardSampler(50, correlation=0.3, seed=4)
    whole = s.pairs(0, 2100)
    parts = [s.pairs(a, min(a + 333, 2100)) for a in range(0, 2100, 333)]
    for i in range(2):
        np.testing.assert_array_equal(whole[i], np.concatenate([p[i] for p in parts]))
    np.testing.assert_array_equal(s.pairs(1500, 1501)[0], whole[0][1500:1501])


def test_seed_changes_draws():
    a = RewardSampler(10, seed=0).pairs(0, 5)[0]
    b = RewardSampler(10, seed=1).pairs(0, 5)[0]
    assert not np.allclose(a, b)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_correlation_copies_a_fraction_beta(beta):
    r_h, r_a = RewardSampler(100, correlation=beta, seed=1).pairs(0, 200)
    equal = (r_h == r_a).mean()
    n = r_h.size
    assert abs(equal - beta) <= 5 * np.sqrt(beta * (1 - beta) / n) + 1e-12


def test_negative_correlation_mirrors():
    r_h, r_a = RewardSampler(100, correlation=-1.0, seed=1).pairs(0, 10)
    np.testing.assert_allclose(r_a, 1.0 - r_h)
    r_h, r_a = RewardSampler(100, distribution={"name": "uniform", "low": -1, "high": 3}, correlation=-1.0).pairs(0, 3)
    np.testing.assert_allclose(r_a, 2.0 - r_h)


def test_negative_correlation_needs_symmetric_distribution():
    with pytest.raises(ValueError, match="symmetric"):
        RewardSampler(10, distribution="pareto", correlation=-0.5)
    with pytest.raises(ValueError, match="symmetric"):
        RewardSampler(10, distribution={"name": "beta", "a": 2, "b": 3}, correlation=-0.5)
    RewardSampler(10, distribution={"name": "beta", "a": 2, "b": 2}, correlation=-0.5)


@pytest.mark.parametrize("beta", [-1.01, 1.01, 2.0])
def test_correlation_out_of_range(beta):
    with pytest.raises(ValueError, match="correlation"):
        RewardSampler(10, correlation=beta)


@pytest.mark.parametrize(
    "spec, mean",
    [("uniform", 0.5), ({"name": "beta", "a": 2, "b": 6}, 0.25), ({"name": "bernoulli", "p": 0.2}, 0.2),
     ({"name": "pareto", "alpha": 3, "scale": 1}, 1.5)],
)
def test_distribution_means(spec, mean):
    r = RewardSampler(200, distribution=spec, seed=2).pairs(0, 500)[0]
    assert abs(r.mean() - mean) <= 5 * r.std() / np.sqrt(r.size)


def test_supports():
    assert set(np.unique(RewardSampler(20, distribution="bernoulli").pairs(0, 10)[0])) <= {0.0, 1.0}
    assert RewardSampler(20, distribution=pareto(2.0, 3.0)).pairs(0, 10)[0].min() >= 3.0


def test_redraw_constant():
    dist = bernoulli(0.05)
    plain = RewardSampler(4, distribution=dist, seed=0).pairs(0, 500)[0]
    assert (np.ptp(plain, axis=1) == 0).any()
    redrawn = RewardSampler(4, distribution=dist, seed=0, redraw_constant=True).pairs(0, 500)[0]
    assert (np.ptp(redrawn, axis=1) > 0).all()


def test_custom_sampler_and_config():
    dist = custom(lambda rng, shape: rng.normal(0.0, 1.0, shape), name="normal", bounds=(-1.0, 1.0))
    s = RewardSampler(5, distribution=dist, correlation=-0.5, seed=3)
    r_h, _ = s.pairs(0, 4)
    assert r_h.shape == (4, 5)
    assert s.to_config()["distribution"]["name"] == "normal"
    assert make_distribution({"name": "beta", "a": 2, "b": 2}).to_config() == {"name": "beta", "a": 2, "b": 2}


@pytest.mark.parametrize("spec", ["gauss", {"name": "uniform", "low": 1, "high": 0}, {"name": "bernoulli", "p": 2}])
def test_bad_distribution(spec):
    with pytest.raises(ValueError):
        make_distribution(spec)
