"""The ``glob`` matcher: the original's semantics (Laravel's ``Str::is``).

``*`` matches any run of characters, dots included: ``my.events.*`` matches
``my.events.a`` and ``my.events.a.b``; ``*`` alone matches every name. No other
character is special.

Index: exact names in a set; each wildcard pattern under its literal prefix
(the text before its first ``*``) or, when that is empty, its literal suffix.
A lookup probes one slice of the name per distinct prefix or suffix length, so
its cost follows the number of distinct lengths and of candidates, not of patterns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ..hookspecs import hookimpl
from . import Matcher

# A pattern's test for a name that already has the right literal prefix or suffix;
# None when that alone decides it ("prefix*", "*suffix", "*").
_Check = Callable[[str], Any] | None


def _compile(pattern: str) -> _Check:
    head, _, rest = pattern.partition("*")
    ends_in_star_only = not rest.replace("*", "")
    one_leading_star = not head and "*" not in rest
    if ends_in_star_only or one_leading_star:
        return None
    return _Parts(pattern).match


class _Parts:
    """A pattern as its literal parts, matched greedily left to right with
    ``str.find``: linear in the name's length, where a regex of several ``.*``
    backtracks (a 300 KB name against ``svc.*.x.*.done`` took over 30 s)."""

    def __init__(self, pattern: str) -> None:
        parts = pattern.split("*")
        self.head, self.middle, self.tail = parts[0], [p for p in parts[1:-1] if p], parts[-1]
        self.least = len(pattern) - pattern.count("*")

    def match(self, name: str) -> bool:
        if len(name) < self.least or not (name.startswith(self.head) and name.endswith(self.tail)):
            return False
        position, end = len(self.head), len(name) - len(self.tail)
        for part in self.middle:
            found = name.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True


class GlobMatcher(Matcher):
    name = "glob"

    def __init__(self) -> None:
        self._exact: set[str] = set()
        self._by_prefix: dict[str, dict[str, _Check]] = {}
        self._by_suffix: dict[str, dict[str, _Check]] = {}
        self._prefix_lengths: Counter[int] = Counter()
        self._suffix_lengths: Counter[int] = Counter()

    @staticmethod
    def is_wildcard(pattern: str) -> bool:
        return "*" in pattern

    def _slot(self, pattern: str) -> tuple[dict[str, dict[str, _Check]], Counter[int], str]:
        prefix = pattern[: pattern.index("*")]
        if prefix:
            return self._by_prefix, self._prefix_lengths, prefix
        return self._by_suffix, self._suffix_lengths, pattern[pattern.rindex("*") + 1 :]

    def add(self, pattern: str) -> None:
        if not self.is_wildcard(pattern):
            self._exact.add(pattern)
            return
        index, lengths, key = self._slot(pattern)
        bucket = index.setdefault(key, {})
        if pattern not in bucket:
            bucket[pattern] = _compile(pattern)
            lengths[len(key)] += 1

    def remove(self, pattern: str) -> None:
        if not self.is_wildcard(pattern):
            self._exact.discard(pattern)
            return
        index, lengths, key = self._slot(pattern)
        bucket = index.get(key)
        if bucket is None or pattern not in bucket:
            return
        del bucket[pattern]
        if not bucket:
            del index[key]
        lengths[len(key)] -= 1
        if not lengths[len(key)]:
            del lengths[len(key)]

    def match(self, name: str) -> list[str]:
        found = [name] if name in self._exact else []
        size = len(name)
        for length in self._prefix_lengths:
            if length <= size:
                bucket = self._by_prefix.get(name[:length])
                if bucket:
                    found.extend(p for p, check in bucket.items() if check is None or check(name))
        for length in self._suffix_lengths:
            if length <= size:
                bucket = self._by_suffix.get(name[size - length :])
                if bucket:
                    found.extend(p for p, check in bucket.items() if check is None or check(name))
        return found


@hookimpl
def register_matchers(register: Any) -> None:
    register(GlobMatcher)
