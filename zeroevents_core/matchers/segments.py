"""The ``segments`` matcher: AMQP/MQTT-style patterns over dot-separated segments.

``*`` matches exactly one segment, ``#`` zero or more: ``orders.*`` matches
``orders.created`` but not ``orders.created.eu``; ``orders.#`` matches both and
``orders`` itself. ``*`` and ``#`` are wildcards only as whole segments
(``a*b`` is literal). Empty segments count: ``a..b`` has three segments.

Index: exact names in a set, wildcard patterns in a trie of segments, so a
lookup walks the name's segments, whatever the number of patterns. The walk keeps
the set of trie nodes reached after each segment (a ``#`` node stays reached, as it
takes any number of segments), so a lookup costs the name's length times at most the
trie's size: linear in the name for any pattern set, where following each ``#`` to
every later position was quadratic (``#.x.#`` on ``x.x.x...``).
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from . import Matcher

ONE = "*"
ANY = "#"


class _Node:
    __slots__ = ("absorbs", "children", "patterns")

    def __init__(self, absorbs: bool = False) -> None:
        self.absorbs = absorbs
        """Reached through ``#``: it takes any number of further segments."""
        self.children: dict[str, _Node] = {}
        self.patterns: set[str] = set()


class SegmentsMatcher(Matcher):
    name = "segments"

    def __init__(self) -> None:
        self._exact: set[str] = set()
        self._root = _Node()

    @staticmethod
    def is_wildcard(pattern: str) -> bool:
        return any(segment in (ONE, ANY) for segment in pattern.split("."))

    def add(self, pattern: str) -> None:
        if not self.is_wildcard(pattern):
            self._exact.add(pattern)
            return
        node = self._root
        for segment in pattern.split("."):
            child = node.children.get(segment)
            if child is None:
                child = node.children[segment] = _Node(absorbs=segment == ANY)
            node = child
        node.patterns.add(pattern)

    def remove(self, pattern: str) -> None:
        if not self.is_wildcard(pattern):
            self._exact.discard(pattern)
            return
        path = [self._root]
        segments = pattern.split(".")
        for segment in segments:
            child = path[-1].children.get(segment)
            if child is None:
                return
            path.append(child)
        path[-1].patterns.discard(pattern)
        # Prune the branches that no pattern uses any more.
        for depth in range(len(segments), 0, -1):
            node = path[depth]
            if node.patterns or node.children:
                break
            del path[depth - 1].children[segments[depth - 1]]

    def match(self, name: str) -> list[str]:
        found = [name] if name in self._exact else []
        if not self._root.children:
            return found
        reached = _with_hashes([self._root])
        for segment in name.split("."):
            following: list[_Node] = []
            for node in reached:
                if node.absorbs:
                    following.append(node)
                children = node.children
                literal = children.get(segment)
                if literal is not None:
                    following.append(literal)
                star = children.get(ONE)
                if star is not None:
                    following.append(star)
            if not following:
                return found
            reached = _with_hashes(following)
        matched: set[str] = set()
        for node in reached:
            matched.update(node.patterns)
        found.extend(matched)
        return found


def _with_hashes(nodes: list[_Node]) -> list[_Node]:
    """``nodes`` and the ``#`` nodes under them (``#`` may take zero segments), each once."""
    seen: dict[int, _Node] = {}
    stack = nodes
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        hash_node = node.children.get(ANY)
        if hash_node is not None:
            stack.append(hash_node)
    return list(seen.values())


@hookimpl
def register_matchers(register: Any) -> None:
    register(SegmentsMatcher)
