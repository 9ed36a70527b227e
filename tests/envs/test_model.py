"""The tabular joint model (envs/model.py): counts, hand-checked transitions per collision rule, speed."""

import time

import numpy as np
import pytest

from multipower.envs.layouts import load_layout
from multipower.envs.model import COLLISIONS, JointModel, joint_model, single_agent_model

STAY, UP, DOWN, LEFT, RIGHT = range(5)


@pytest.mark.parametrize(
    "layout,n_none,n_apart", [("grid3x3", 81, 72), ("maze7x7", 961, 930), ("robot_face20x20", 48_400, 48_180)]
)
def test_joint_state_counts(layout, n_none, n_apart):
    assert joint_model(layout, "none").n_states == n_none
    assert joint_model(layout, "crash").n_states == n_apart
    assert joint_model(layout, "bounce").n_states == n_apart


def _step(model, h, a, act_h, act_a):
    """Cells after a joint move from cells (h, a) (grid3x3 cell index = 3*row + col); None for a crash."""
    nxt = model.next_state[model.joint_state(h, a), act_h, act_a]
    if nxt == model.terminal_state:
        return None
    return tuple(int(x) for x in model.joint_cells[nxt])


def test_none_transitions():
    m = joint_model("grid3x3", "none")
    assert m.joint_state(3, 5) == 3 * 9 + 5  # H-major ordering
    assert _step(m, 3, 5, RIGHT, LEFT) == (4, 4)  # overlap allowed
    assert _step(m, 3, 4, RIGHT, LEFT) == (4, 3)  # swap
    assert _step(m, 0, 8, UP, DOWN) == (0, 8)  # walking into the edge stays
    assert not m.terminal.any()


def test_crash_transitions():
    m = joint_model("grid3x3", "crash")
    assert _step(m, 3, 5, RIGHT, LEFT) is None  # both onto the centre: crash
    assert _step(m, 3, 4, STAY, LEFT) is None  # A walks into H, who stays
    assert _step(m, 0, 3, DOWN, UP) == (3, 0)  # swap is legal
    assert _step(m, 3, 4, RIGHT, RIGHT) == (4, 5)  # following into a vacated cell is legal
    assert _step(m, 0, 1, UP, RIGHT) == (0, 2)
    assert m.terminal.any() and m.terminal_state == m.n_states == 72
    # A crash happens exactly when both targets coincide.
    moves = m.layout.move_table()
    h, a = m.joint_cells[:, 0], m.joint_cells[:, 1]
    same = moves[h][:, :, None] == moves[a][:, None, :]
    assert np.array_equal(m.terminal, same)


def test_bounce_transitions():
    m = joint_model("grid3x3", "bounce")
    assert _step(m, 3, 5, RIGHT, LEFT) == (3, 5)  # both into the centre: both fail
    assert _step(m, 3, 4, RIGHT, LEFT) == (3, 4)  # swap fails
    assert _step(m, 3, 4, STAY, LEFT) == (3, 4)  # into an agent that stays: fails
    assert _step(m, 3, 4, RIGHT, RIGHT) == (4, 5)  # following into a vacated cell succeeds
    assert _step(m, 3, 4, RIGHT, DOWN) == (4, 7)
    assert _step(m, 1, 4, DOWN, UP) == (1, 4)  # swap (vertical) fails
    # A's move fails (edge), so H cannot follow into A's cell.
    top = joint_model(".....\n", "bounce")
    assert _step(top, 0, 1, RIGHT, UP) == (0, 1)
    # Blocked follow: A bounces off H's target, so H's follow into A's cell fails too.
    row = joint_model("...\n", "bounce")
    assert _step(row, 0, 1, RIGHT, STAY) == (0, 1)
    assert not m.terminal.any()
    reached = m.joint_cells[m.next_state.ravel()]
    assert (reached[:, 0] != reached[:, 1]).all()


@pytest.mark.parametrize("collision", COLLISIONS)
def test_tables_are_consistent(collision):
    m = joint_model("maze7x7", collision)
    mask = m.layout.action_mask()
    assert np.array_equal(m.action_mask_H, mask[m.joint_cells[:, 0]])
    assert np.array_equal(m.action_mask_A, mask[m.joint_cells[:, 1]])
    assert m.next_state.shape == (m.n_states, 5, 5) and m.next_state.min() >= 0
    assert m.next_state.max() <= m.terminal_state
    assert np.array_equal(m.state_index[m.joint_cells[:, 0], m.joint_cells[:, 1]], np.arange(m.n_states))
    assert m.next_state[np.arange(m.n_states), 0, 0].tolist() == list(range(m.n_states))  # stay-stay
    labels = m.state_labels()
    assert labels.shape == (m.n_states, 4)


def test_bad_model_arguments():
    with pytest.raises(ValueError, match="collision"):
        joint_model("grid3x3", "bump")
    m = joint_model("grid3x3", "crash")
    with pytest.raises(ValueError, match="does not exist"):
        m.joint_state(2, 2)
    with pytest.raises(ValueError, match="agent"):
        m.action_mask("B")


def test_single_agent_model():
    s = single_agent_model("maze7x7")
    assert s.n_states == 31 and s.next_cell.shape == (31, 5)
    assert s.action_mask.sum(axis=1).min() >= 2  # no isolated cell: stay plus at least one move


@pytest.mark.parametrize("collision", COLLISIONS)
def test_robot_face_model_builds_in_seconds(collision):
    layout = load_layout("robot_face20x20")
    start = time.perf_counter()
    model = JointModel(layout, collision)
    elapsed = time.perf_counter() - start
    assert model.n_states in (48_400, 48_180)
    assert elapsed < 5.0, f"robot_face20x20 {collision} model took {elapsed:.2f} s"
