"""A reader for the part of the DOT language that MDP graphs use, fast enough for large joint graphs.

Accepted: an optional ``strict``, ``digraph`` (or ``graph``, reported so the caller can refuse it) with an optional
name, and at top level node statements (with or without attribute lists), edge statements (chains
``a -> b -> c`` too), default-attribute statements (``node [...]``, ``edge [...]``, ``graph [...]``; edge defaults
apply to the edges after them) and graph attributes ``ID = ID``. Identifiers are quoted strings, names or
numerals; attribute values likewise (``weight=0.5`` and ``weight="0.5"`` are the same). Comments (``//``, ``/* */``
and lines starting with ``#``) are skipped. In a ``strict`` graph a repeated edge is one edge (later attributes
win), as Graphviz reads it.

Refused, each in one line naming the line of the file: subgraphs, ports (``a:n``), HTML strings, string
concatenation with ``+``, more than one graph, and anything else that is not DOT.

pydot's general grammar (pyparsing) read POWERplay's 2.5 MB ``joint_7x7_gridworld_maze_no_overlaps.gv`` in 33 s on
the 2-core machine; this reader takes well under a second (``benchmarks/bench_dot.py``), in time linear in the
file's size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<hash>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<arrow>->|--)
  | (?P<number>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))
  | (?P<name>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)
  | (?P<punct>[{}\[\]=;,:+<>])
    """,
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = {"strict", "graph", "digraph", "node", "edge", "subgraph"}


class DotError(ValueError):
    """A text that is not in the accepted part of DOT; the message says where (line) and what."""


@dataclass
class DotGraph:
    """What a DOT file says: nodes in order of first appearance (declared or in an edge), the explicitly declared
    ones, and the edges ``(source, target, attributes)`` in file order (attribute values as text)."""

    name: str
    directed: bool
    strict: bool
    nodes: list = field(default_factory=list)
    declared: set = field(default_factory=set)
    edges: list = field(default_factory=list)


def parse_dot(text: str) -> DotGraph:
    """Read DOT source ``text`` (module docstring). Raises ``DotError`` (a ``ValueError``) in one line."""
    return _Parser(text).graph()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = []  # (kind, value, position)
        at = 0
        for match in _TOKEN.finditer(text):
            if match.start() != at:  # finditer skips what no alternative matches
                break
            at = match.end()
            if match.lastgroup == "hash":  # a comment only where it starts a line
                if text[text.rfind("\n", 0, match.start()) + 1:match.start()].strip():
                    raise self.error("unexpected character '#'", match.start())
                continue
            if match.lastgroup not in ("space", "comment"):
                self.tokens.append((match.lastgroup, match.group(), match.start()))
        if at != len(text):
            raise self.error(f"unexpected character {text[at]!r}", at)
        self.i = 0

    def error(self, message: str, position: int) -> DotError:
        line = self.text.count("\n", 0, position) + 1
        return DotError(f"line {line}: {message}")

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.text))

    def take(self):
        token = self.peek()
        self.i += 1
        return token

    def expect(self, value: str):
        kind, got, at = self.take()
        if got != value:
            raise self.error(f"expected {value!r}, found {got or 'the end of the file'!r}", at)

    def keyword(self, token) -> str:
        kind, value, _ = token
        return value.lower() if kind == "name" and value.lower() in _KEYWORDS else ""

    def graph(self) -> DotGraph:
        strict = self.keyword(self.peek()) == "strict"
        if strict:
            self.take()
        kind_token = self.take()
        kind = self.keyword(kind_token)
        if kind not in ("graph", "digraph"):
            raise self.error("a DOT file starts with 'digraph' (or 'strict digraph')", kind_token[2])
        name = ""
        if self.peek()[1] != "{":
            name = self.identifier(self.take())
        self.expect("{")
        graph = DotGraph(name, kind == "digraph", strict)
        self.seen = {}
        self.edge_index = {}
        self.edge_defaults = {}
        self.statements(graph)
        self.expect("}")
        if self.i < len(self.tokens):
            raise self.error("more than one graph in the file; give one", self.peek()[2])
        graph.nodes = list(self.seen)
        return graph

    def statements(self, graph: DotGraph) -> None:
        while True:
            token = self.peek()
            if token[1] == "}" or token[0] == "end":
                return
            if token[1] == ";":
                self.take()
                continue
            word = self.keyword(token)
            if word == "subgraph" or token[1] == "{":
                raise self.error("subgraphs are not used in MDP graphs; list nodes and edges at top level", token[2])
            if word in ("node", "edge", "graph"):
                self.take()
                attrs = self.attributes()
                if word == "edge":
                    self.edge_defaults.update(attrs)
                continue
            first = self.node_id()
            if self.peek()[1] == "=":  # graph attribute ID = ID
                self.take()
                self.identifier(self.take())
                continue
            if self.peek()[0] == "arrow":
                self.edge_chain(graph, first)
            else:
                self.attributes()
                graph.declared.add(first)
                self.seen.setdefault(first)

    def edge_chain(self, graph: DotGraph, first: str) -> None:
        chain = [first]
        while self.peek()[0] == "arrow":
            arrow = self.take()
            if arrow[1] == "--" and graph.directed:
                raise self.error("'--' in a digraph; edges of a digraph are written '->'", arrow[2])
            if self.peek()[1] == "{" or self.keyword(self.peek()) == "subgraph":
                raise self.error("subgraphs are not used in MDP graphs; list nodes and edges at top level",
                                 self.peek()[2])
            chain.append(self.node_id())
        attrs = {**self.edge_defaults, **self.attributes()}
        for node in chain:
            self.seen.setdefault(node)
        for src, dst in zip(chain, chain[1:]):
            if graph.strict and (src, dst) in self.edge_index:
                old = self.edge_index[(src, dst)]
                graph.edges[old] = (src, dst, {**graph.edges[old][2], **attrs})
                continue
            self.edge_index[(src, dst)] = len(graph.edges)
            graph.edges.append((src, dst, dict(attrs)))

    def node_id(self) -> str:
        token = self.take()
        if self.keyword(token):
            raise self.error(f"expected a node, found the keyword {token[1]!r}", token[2])
        name = self.identifier(token)
        if self.peek()[1] == ":":
            raise self.error(f'ports ("{name}:port") are not used in MDP graphs', self.peek()[2])
        return name

    def attributes(self) -> dict:
        attrs = {}
        while self.peek()[1] == "[":
            self.take()
            while self.peek()[1] != "]":
                key = self.identifier(self.take())
                self.expect("=")
                attrs[key] = self.identifier(self.take())
                if self.peek()[1] in (",", ";"):
                    self.take()
            self.take()
        return attrs

    def identifier(self, token) -> str:
        kind, value, at = token
        if kind == "string":
            if self.peek()[1] == "+":
                raise self.error("string concatenation with '+' is not supported; write one string", self.peek()[2])
            return value[1:-1].replace('\\"', '"').replace("\\\n", "")
        if kind in ("name", "number"):
            return value
        if value == "<":
            raise self.error("HTML strings are not supported in MDP graphs", at)
        raise self.error(f"expected a name, found {value or 'the end of the file'!r}", at)
