"""The ``segments`` matcher: AMQP/MQTT-style patterns over dot-separated segments.

``*`` matches exactly one segment, ``#`` zero or more: ``orders.*`` matches
``orders.created`` but not ``orders.created.eu``; ``orders.#`` matches both and
``orders`` itself. ``*`` and ``#`` are wildcards only as whole segments
(``a*b`` is literal). Empty segments count: ``a..b`` has three segments.

Index: exact names in a set, wildcard patterns in a trie of segments, so a
lookup walks the name's segments, whatever the number of patterns.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from . import Matcher

ONE = "*"
ANY = "#"


class _Node:
    __slots__ = ("children", "patterns")

    def __init__(self) -> None:
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
            node = node.children.setdefault(segment, _Node())
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
        segments = name.split(".")
        last = len(segments)
        matched: set[str] = set()
        seen: set[tuple[int, int]] = set()  # (node id, position): '#' can reach one twice
        stack = [(self._root, 0)]
        while stack:
            node, position = stack.pop()
            key = (id(node), position)
            if key in seen:
                continue
            seen.add(key)
            children = node.children
            hash_node = children.get(ANY)
            if hash_node is not None:
                stack.extend((hash_node, p) for p in range(position, last + 1))
            if position == last:
                matched.update(node.patterns)
                continue
            literal = children.get(segments[position])
            if literal is not None:
                stack.append((literal, position + 1))
            star = children.get(ONE)
            if star is not None:
                stack.append((star, position + 1))
        found.extend(matched)
        return found


@hookimpl
def register_matchers(register: Any) -> None:
    register(SegmentsMatcher)
