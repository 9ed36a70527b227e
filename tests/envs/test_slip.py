import numpy as np
import pytest

from multipower.envs.layouts import load_layout
from multipower.envs.slip import check_slip, slip_matrix


def test_rows_are_distributions_over_available_moves():
    mask = load_layout("maze7x7").action_mask()
    for p in (0.0, 0.3, 1.0):
        P = slip_matrix(mask, p)
        np.testing.assert_allclose(P.sum(-1), 1.0)
        assert not (P[mask[:, :, None] & ~mask[:, None, :]]).any()  # never an unavailable effective move


def test_chosen_move_probability_is_one_minus_p_plus_p_over_k():
    mask = load_layout("grid3x3").action_mask()
    p, P = 0.4, slip_matrix(mask, 0.4)
    corner, centre = 0, 4  # grid3x3: corner has stay + 2 moves, centre stay + 4
    assert P[corner, 0, 0] == pytest.approx(1 - p + p / 3)
    assert P[centre, 1, 2] == pytest.approx(p / 5)
    np.testing.assert_array_equal(slip_matrix(mask, 0.0)[mask], np.eye(5)[None].repeat(9, 0)[mask])
    full = slip_matrix(mask, 1.0)  # p = 1: uniform whatever is chosen
    np.testing.assert_allclose(full[centre], np.full((5, 5), 0.2))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "0.5", None, True])
def test_bad_slip_is_one_clear_error(bad):
    with pytest.raises(ValueError, match="slip must be a number in \\[0, 1\\]"):
        check_slip(bad)
