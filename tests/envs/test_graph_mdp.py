"""multipower.envs.graph_mdp: reading POWERplay's DOT format (both forms), the error of each malformed graph, and writing
layouts (with and without slip) in the format."""

from pathlib import Path

import numpy as np
import pytest

from multipower.envs.graph_mdp import WEIGHT_TOL, layout_to_dot, load_graph_mdp, parse_graph_mdp
from multipower.envs.layouts import ACTION_NAMES, load_layout
from multipower.envs.slip import slip_matrix

FIXTURES = Path(__file__).resolve().parents[2] / "envs" / "graphs"  # the packaged example graphs


def test_deterministic_form_one_action_per_edge_in_graph_order():
    mdp = load_graph_mdp(FIXTURES / "figure1.gv")
    assert mdp.name == "Figure 1 of Optimal policies tend to seek power" and not mdp.stochastic
    assert mdp.states[:3] == ("start", "empty", "left")
    start = mdp.index("start")
    assert mdp.action_mask[start].tolist() == [True, True, True]
    assert [mdp.states[j] for j in mdp.next_state[start, :, 0]] == ["empty", "left", "right"]
    assert mdp.action_names[start].tolist() == ["empty", "left", "right"]
    empty = mdp.index("empty")
    assert mdp.action_mask[empty].tolist() == [True, False, False]
    # padding slots repeat action 0, so a maximum over every slot is the maximum over the available ones
    assert (mdp.next_state[empty] == mdp.next_state[empty, 0]).all() and mdp.prob.shape == (8, 3, 1)
    assert (mdp.prob == 1).all()


def test_stochastic_form_weights_and_names():
    mdp = load_graph_mdp(FIXTURES / "three_states.gv")
    assert mdp.stochastic and mdp.states == ("a", "b", "c")
    assert mdp.action_names[0].tolist() == ["go", "wait"]
    P = mdp.transition_matrix()
    assert P[0, 0].tolist() == [0.0, 0.25, 0.75] and P[0, 1].tolist() == [1.0, 0.0, 0.0]
    assert P[2, 0].tolist() == [1.0, 0.0, 0.0] and P[1, 0].tolist() == [0.0, 1.0, 0.0]
    assert np.allclose(P.sum(-1), 1.0)


def test_undeclared_nodes_follow_their_first_edge():
    mdp = parse_graph_mdp("digraph { b -> c; c -> a; a -> a; c -> c; }")
    assert mdp.states == ("b", "c", "a")


def test_weights_within_tolerance_are_renormalised():
    text = 'digraph { "s"; "x__s"; "s__x__s"; "s" -> "x__s"; "x__s" -> "s__x__s" [weight="%r"]; }' % (1 + WEIGHT_TOL / 2)
    assert parse_graph_mdp(text).prob[0, 0, 0] == 1.0


def _stoch(body: str) -> str:
    return 'digraph { "s"; "t"; "go__s"; "t__go__s"; "s__go__s"; "stay__t"; "t__stay__t"; ' \
           '"s" -> "go__s"; "t" -> "stay__t"; "stay__t" -> "t__stay__t" [weight="1"]; ' + body + " }"


BAD = {
    "empty": ("digraph { }", "empty graph"),
    "not dot": ("this is not a graph", "is not a DOT graph"),
    "undirected": ("graph { a -- b }", "undirected"),
    "dead end": ("digraph { a -> b; a -> a; }", 'state "b" has no action (a dead end)'),
    "node only in an edge, a dead end": ("digraph { a; b; a -> b; b -> c; }", 'state "c" has no action (a dead end)'),
    "subgraph": ("digraph { subgraph x { a -> a } }", "line 1: subgraphs are not used in MDP graphs"),
    "port": ('digraph {\n "a":n -> "a" }', "line 2: ports"),
    "html": ("digraph { a -> a [label=<b>] }", "HTML strings are not supported"),
    "two graphs": ("digraph { a -> a } digraph { b -> b }", "more than one graph"),
    "undirected edge in a digraph": ("digraph { a -- a }", "'--' in a digraph"),
    "weights do not sum to 1": (_stoch('"go__s" -> "t__go__s" [weight="0.5"]; "go__s" -> "s__go__s" [weight="0.4"];'),
                                'the weights of action node "go__s" sum to 0.9, not 1'),
    "negative weight": (_stoch('"go__s" -> "t__go__s" [weight="0.5"]; "go__s" -> "s__go__s" [weight="-0.5"];'),
                        'edge "go__s" -> "s__go__s" has weight \'-0.5\'; weights are probabilities in [0, 1]'),
    "weight above 1": (_stoch('"go__s" -> "t__go__s" [weight="1e308"]; "go__s" -> "s__go__s" [weight="0"];'),
                       'edge "go__s" -> "t__go__s" has weight \'1e308\'; weights are probabilities in [0, 1]'),
    "non-numeric weight": (_stoch('"go__s" -> "t__go__s" [weight="half"]; "go__s" -> "s__go__s" [weight="0.5"];'),
                           'edge "go__s" -> "t__go__s" has weight \'half\', not a number'),
    "missing weight": (_stoch('"go__s" -> "t__go__s";'), 'edge "go__s" -> "t__go__s" has no weight'),
    "mixed forms": (_stoch('"go__s" -> "t__go__s" [weight="1"]; "s" -> "t";'), 'edge "s" -> "t" joins two states'),
    "outcome to no state": ('digraph { "s" -> "go__s"; "go__s" -> "u__go__s" [weight="1"]; }',
                            'outcome "u__go__s" leads to "u", which is not a state node'),
    "action with no outcome": ('digraph { "s" -> "go__s"; "s" -> "x__s"; "x__s" -> "s__x__s" [weight="1"]; }',
                               'action node "go__s" has no outcome'),
    "misnamed action": ('digraph { "s" -> "go__t"; "go__t" -> "s__go__t" [weight="1"]; }',
                        'an action node of state "s" must be named "ACTION__s"'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_graph_gets_one_line_naming_the_fault(case, tmp_path):
    text, message = BAD[case]
    path = tmp_path / "bad.gv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_graph_mdp(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_binary_and_missing_files(tmp_path):
    (tmp_path / "bin.gv").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    with pytest.raises(ValueError, match="is a binary file, not a DOT graph"):
        load_graph_mdp(tmp_path / "bin.gv")
    (tmp_path / "latin.gv").write_bytes(b"digraph { \xe9 -> \xe9 }")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_graph_mdp(tmp_path / "latin.gv")
    with pytest.raises(ValueError, match="cannot read"):
        load_graph_mdp(tmp_path / "none.gv")


def test_export_deterministic_matches_the_layout_moves():
    grid = load_layout("maze7x7")
    mdp = parse_graph_mdp(layout_to_dot(grid))
    assert not mdp.stochastic and mdp.states[0] == "(%d, %d)" % tuple(grid.cells[0])
    assert mdp.states == tuple("(%d, %d)" % tuple(c) for c in grid.cells)
    moves, mask = grid.move_table(), grid.action_mask()
    for c in range(grid.n_cells):  # the same set of successors, one action per available move
        assert sorted(mdp.next_state[c, mdp.action_mask[c], 0]) == sorted(moves[c, mask[c]])


def test_export_with_slip_reads_back_as_the_slip_rule():
    grid = load_layout("grid3x3")
    text = layout_to_dot(grid, 0.3)
    assert '"down__(0, 0)"' in text and '"(1, 0)__down__(0, 0)"' in text
    mdp = parse_graph_mdp(text)
    assert mdp.stochastic and mdp.states == tuple("(%d, %d)" % tuple(c) for c in grid.cells)
    P, S, moves, mask = mdp.transition_matrix(), slip_matrix(grid.action_mask(), 0.3), grid.move_table(), grid.action_mask()
    for c in range(grid.n_cells):
        for slot, name in enumerate(mdp.action_names[c][mdp.action_mask[c]]):
            a = ACTION_NAMES.index(name)
            expected = np.zeros(grid.n_cells)
            np.add.at(expected, moves[c], S[c, a])
            assert np.allclose(P[c, slot], expected, atol=1e-15)
        # the chosen move happens with 1 - p + p/k, every other available move with p/k (POWERplay's rule)
        k = mask[c].sum()
        assert np.isclose(P[c, 0, c], 1 - 0.3 + 0.3 / k)


@pytest.mark.parametrize("name", ["figure1", "three_states"])
def test_builtin_graphs_load_by_name_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    by_name, by_file = load_graph_mdp(name), load_graph_mdp(FIXTURES / f"{name}.gv")
    assert by_name.states == by_file.states and by_name.name == by_file.name
    np.testing.assert_array_equal(by_name.transition_matrix(), by_file.transition_matrix())
    (tmp_path / name).write_text("not a graph")  # a file of that name in the working directory wins
    with pytest.raises(ValueError, match="mdp: "):
        load_graph_mdp(name)


def test_dot_as_graphviz_writes_it_is_read():
    """In DOT an edge declares its nodes; chains, unquoted or quoted weights, defaults, comments and strict graphs."""
    text = """/* a comment */ strict digraph walk {
    # a preprocessor line
    edge [color=red]
    "s" -> "go__s"; go__s -> "t__go__s" [weight=1];   // unquoted
    t -> "stay__t"; stay__t -> "t__stay__t" [weight="1.0"]
    s -> go__s  // repeated: one edge in a strict graph
    }"""
    mdp = parse_graph_mdp(text)
    assert mdp.states == ("s", "t") and mdp.name == "walk"
    np.testing.assert_array_equal(mdp.next_state[:, 0, 0], [1, 1])
    deterministic = parse_graph_mdp("digraph { a -> b -> a; b -> b }")
    assert deterministic.states == ("a", "b") and deterministic.action_mask.sum() == 3
