"""Layouts: parsing, errors, built-ins (envs/layouts.py)."""

from pathlib import Path

import numpy as np
import pytest

from multipower.envs.layouts import BUILTIN_LAYOUTS, Layout, load_layout, parse_layout

LAYOUT_DIR = Path(__file__).resolve().parents[2] / "envs" / "layouts"


def test_parse_numbers_open_cells_row_major():
    layout = parse_layout(".#.\n...\n", name="t")
    assert layout.shape == (2, 3) and layout.n_cells == 5
    assert layout.cells.tolist() == [[0, 0], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert layout.cell_index(1, 1) == 3
    assert layout.to_text() == ".#.\n..."


def test_move_table_and_mask():
    layout = parse_layout(".#.\n...")
    moves, mask = layout.move_table(), layout.action_mask()
    # cell 0 = (0,0): stay, up (edge), down -> (1,0)=2, left (edge), right (wall)
    assert moves[0].tolist() == [0, 0, 2, 0, 0]
    assert mask[0].tolist() == [True, False, True, False, False]
    # cell 3 = (1,1): up is a wall, left (1,0)=2, right (1,2)=4
    assert moves[3].tolist() == [3, 3, 3, 2, 4]
    assert mask[:, 0].all()


@pytest.mark.parametrize(
    "text,match",
    [
        ("..\n.x", r"unknown character 'x' at \(row 1, column 1\)"),
        ("...\n..\n...", "ragged rows: row 1 has 2"),
        ("##\n##", "no open cell"),
        ("", "empty"),
        ("\n\n", "empty"),
    ],
)
def test_bad_layouts(text, match):
    with pytest.raises(ValueError, match=match):
        parse_layout(text)


def test_disconnected_layout_warns():
    with pytest.warns(UserWarning, match="not all connected"):
        parse_layout(".#.\n.#.")


def test_cell_index_rejects_walls_and_outside():
    layout = parse_layout(".#\n..")
    for row, col in [(0, 1), (2, 0), (-1, 0)]:
        with pytest.raises(ValueError, match="not an open cell"):
            layout.cell_index(row, col)


@pytest.mark.parametrize("name,n_cells", [("grid3x3", 9), ("maze7x7", 31), ("robot_face20x20", 220)])
def test_builtins_by_name_and_path(name, n_cells):
    by_name = load_layout(name)
    by_path = load_layout(LAYOUT_DIR / f"{name}.txt")
    by_str_path = load_layout(str(LAYOUT_DIR / f"{name}.txt"))
    by_text = load_layout((LAYOUT_DIR / f"{name}.txt").read_text())
    assert by_name.n_cells == n_cells and by_name.name == name and by_name.is_connected()
    for other in (by_path, by_str_path, by_text):
        assert np.array_equal(other.grid, by_name.grid)
    assert load_layout(by_name) is by_name
    assert set(BUILTIN_LAYOUTS) == {"grid3x3", "maze7x7", "robot_face20x20"}


def test_load_layout_errors():
    with pytest.raises(ValueError, match="neither a built-in"):
        load_layout("no_such_layout")
    with pytest.raises(TypeError, match="layout must be"):
        load_layout(3)
    assert isinstance(load_layout("..\n.."), Layout)
