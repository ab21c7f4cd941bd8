"""The built-in matchers: glob (the original's) and segments (AMQP/MQTT style).

Hand-picked edge cases first, then properties: each indexed matcher must answer
exactly like a naive reference that tries every pattern, after any sequence of
adds and removes.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroevents_core import Matcher, get_matcher
from zeroevents_core.matchers.glob import GlobMatcher
from zeroevents_core.matchers.segments import SegmentsMatcher


def matcher_with(kind: str, *patterns: str) -> Matcher:
    matcher = get_matcher(kind)
    for pattern in patterns:
        matcher.add(pattern)
    return matcher


def matches(matcher: Matcher, name: str) -> set[str]:
    found = matcher.match(name)
    assert len(found) == len(set(found)), f"duplicates in {found}"
    return set(found)


# --- naive references --------------------------------------------------------------------


@cache
def glob_reference(pattern: str, name: str) -> bool:
    """'*' matches any run of characters (dots included); everything else is literal."""
    if not pattern:
        return not name
    if pattern[0] == "*":
        return any(glob_reference(pattern[1:], name[i:]) for i in range(len(name) + 1))
    return bool(name) and name[0] == pattern[0] and glob_reference(pattern[1:], name[1:])


@cache
def _segments_reference(pattern: tuple[str, ...], name: tuple[str, ...]) -> bool:
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_segments_reference(rest, name[i:]) for i in range(len(name) + 1))
    if not name:
        return False
    return (head == "*" or head == name[0]) and _segments_reference(rest, name[1:])


def segments_reference(pattern: str, name: str) -> bool:
    """'*' is one segment, '#' zero or more, only as whole segments; all else literal."""
    return _segments_reference(tuple(pattern.split(".")), tuple(name.split(".")))


# --- glob ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["", "a", "a.b.c", "*", "x\ny"], []),
        ("**", ["", "a.b"], []),
        ("my.events.*", ["my.events.a", "my.events.a.b", "my.events."], ["my.events", "my.event"]),
        ("*.created", ["orders.created", ".created", "a.b.created"], ["created", "orders.create"]),
        ("a*b", ["ab", "axxb", "a.b", "a\nb", "abab"], ["a", "b", "ba", "abc"]),
        ("*a*", ["a", "xay", "aaa"], ["", "b", "xyz"]),
        ("ab*ab", ["abab", "abxab", "ababab"], ["ab", "aba", "abxa"]),
        ("a*b*c", ["abc", "a.b.c", "axbyc", "abcbc"], ["acb", "ab", "bc"]),
        ("*.b.*", ["a.b.c", ".b.", "x.b.y.b.z"], ["a.b", "b.c", "a.bc"]),
        # Regex metacharacters are literal: only '*' is special.
        ("a.b+(c).*", ["a.b+(c).x", "a.b+(c)."], ["a.bb(c).x", "a.b+c.x", "aXb+(c).x"]),
        ("x*[a-z]?", ["x[a-z]?", "x1[a-z]?"], ["xq", "x1a", "x[a-z]"]),
        ("^$*|\\d", ["^$|\\d", "^$zz|\\d"], ["1", "^$|1"]),
        ("a?*", ["a?", "a?b"], ["ab", "a"]),
        # Exact names, dots included, match only themselves.
        ("a.b.c", ["a.b.c"], ["a.b", "a.b.c.d", "aXb.c", "a.b.cc"]),
        ("a.b+(c)", ["a.b+(c)"], ["a.bb(c)", "a.b+c"]),
        ("", [""], ["a", "."]),
    ],
)
def test_glob_cases(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    matcher = matcher_with("glob", pattern)
    for name in matching:
        assert matches(matcher, name) == {pattern}, name
        assert glob_reference(pattern, name), name  # the reference agrees
    for name in not_matching:
        assert matches(matcher, name) == set(), name
        assert not glob_reference(pattern, name), name


def test_glob_many_patterns_at_once() -> None:
    patterns = ["*", "a.*", "a.b", "*.b", "a*b", "a.b.*", "b.*", "*.c", "a.*.b"]
    matcher = matcher_with("glob", *patterns)
    assert matches(matcher, "a.b") == {"*", "a.*", "a.b", "*.b", "a*b"}
    assert matches(matcher, "a.x.b") == {"*", "a.*", "*.b", "a*b", "a.*.b"}
    assert matches(matcher, "a.b.c") == {"*", "a.*", "a.b.*", "*.c"}
    assert matches(matcher, "zzz") == {"*"}


def test_glob_is_wildcard() -> None:
    assert GlobMatcher.is_wildcard("a.*")
    assert GlobMatcher.is_wildcard("*")
    assert not GlobMatcher.is_wildcard("a.b")
    assert not GlobMatcher.is_wildcard("a.#")  # '#' means nothing to glob
    assert not GlobMatcher.is_wildcard("a.b+(c)")


# --- segments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "matching", "not_matching"),
    [
        ("*", ["a", "", "a*b"], ["a.b", "."]),
        ("#", ["", "a", "a.b.c", "."], []),
        ("orders.*", ["orders.created", "orders."], ["orders", "orders.created.eu", "x.orders.a"]),
        ("orders.#", ["orders", "orders.created", "orders.created.eu", "orders."], ["ordersx"]),
        ("*.created", ["orders.created", ".created"], ["created", "a.b.created"]),
        ("#.created", ["created", "orders.created", "a.b.created"], ["created.x", "xcreated"]),
        # Empty segments count: a..b has three.
        ("a.*.b", ["a..b", "a.x.b"], ["a.b", "a.x.y.b"]),
        ("a..b", ["a..b"], ["a.b", "a.x.b"]),
        ("a.#.z", ["a.z", "a.b.z", "a.b.c.z", "a..z"], ["a.z.b", "b.a.z", "a", "az"]),
        ("#.a.#", ["a", "x.a", "a.x", "x.a.y", "a.a"], ["x.b", "", "ab"]),
        ("#.#", ["", "a", "a.b.c"], []),
        ("*.#", ["a", "a.b", ""], []),
        ("#.*.*", ["a.b", "a.b.c"], ["a", ""]),
        ("a.#.#.b", ["a.b", "a.x.b", "a.x.y.b"], ["a.x", "b"]),
        # '*' and '#' are wildcards only as whole segments.
        ("a*b.*", ["a*b.c"], ["axb.c", "ab.c", "a*b"]),
        ("x.a*b", ["x.a*b"], ["x.axb", "x.ab"]),
        ("x.#y", ["x.#y"], ["x.y", "x.a.y"]),
        # Exact dotted names match only themselves.
        ("a.b.c", ["a.b.c"], ["a.b", "a.b.c.d", "aXb.c"]),
    ],
)
def test_segments_cases(pattern: str, matching: list[str], not_matching: list[str]) -> None:
    matcher = matcher_with("segments", pattern)
    for name in matching:
        assert matches(matcher, name) == {pattern}, name
        assert segments_reference(pattern, name), name
    for name in not_matching:
        assert matches(matcher, name) == set(), name
        assert not segments_reference(pattern, name), name


def test_segments_many_patterns_at_once() -> None:
    patterns = ["#", "a.*", "a.#", "a.b", "*.b", "a.*.b", "a.#.b", "b.#", "*", "*.*.*"]
    matcher = matcher_with("segments", *patterns)
    assert matches(matcher, "a.b") == {"#", "a.*", "a.#", "a.b", "*.b", "a.#.b"}
    assert matches(matcher, "a.x.b") == {"#", "a.#", "a.*.b", "a.#.b", "*.*.*"}
    assert matches(matcher, "a") == {"#", "a.#", "*"}
    assert matches(matcher, "q.r") == {"#"}


def test_segments_is_wildcard() -> None:
    assert SegmentsMatcher.is_wildcard("a.*")
    assert SegmentsMatcher.is_wildcard("#")
    assert SegmentsMatcher.is_wildcard("a.#.b")
    assert not SegmentsMatcher.is_wildcard("a*b")
    assert not SegmentsMatcher.is_wildcard("a.#b")
    assert not SegmentsMatcher.is_wildcard("a.b")


# --- add and remove -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["glob", "segments"])
def test_add_twice_is_one_pattern_and_remove_unknown_is_harmless(kind: str) -> None:
    matcher = matcher_with(kind, "a.*", "a.*", "a.b", "a.b")
    assert matcher.match("a.b").count("a.*") == 1
    assert matcher.match("a.b").count("a.b") == 1
    for unknown in ["zz.*", "a.*.zz", "a.zz", "a", "", "*", "#", "a.#"]:
        matcher.remove(unknown)
    assert matches(matcher, "a.b") == {"a.*", "a.b"}
    matcher.remove("a.*")
    assert matches(matcher, "a.b") == {"a.b"}
    matcher.remove("a.b")
    assert matches(matcher, "a.b") == set()
    matcher.remove("a.b")  # again: still harmless


def test_glob_remove_keeps_the_other_patterns_of_a_shared_prefix_or_suffix() -> None:
    matcher = matcher_with("glob", "ab*", "ab*c", "*.x", "q*.x", "*")
    matcher.remove("ab*zz")  # same prefix bucket, unknown pattern
    matcher.remove("ab*")
    assert matches(matcher, "abc") == {"ab*c", "*"}
    assert matches(matcher, "abd") == {"*"}
    matcher.remove("*")
    assert matches(matcher, "a.x") == {"*.x"}
    assert matches(matcher, "q.x") == {"*.x", "q*.x"}
    matcher.remove("*.x")
    assert matches(matcher, "a.x") == set()
    assert matches(matcher, "q.x") == {"q*.x"}
    matcher.add("ab*")
    assert matches(matcher, "abd") == {"ab*"}


def test_segments_remove_prunes_without_losing_longer_or_shorter_patterns() -> None:
    matcher = matcher_with("segments", "a.*.c", "a.*", "a.#", "a.#.z")
    matcher.remove("a.*.c")
    assert matches(matcher, "a.x") == {"a.*", "a.#"}
    assert matches(matcher, "a.x.c") == {"a.#"}
    matcher.remove("a.#")  # a node that has children (a.#.z) must stay
    assert matches(matcher, "a.q.z") == {"a.#.z"}
    assert matches(matcher, "a.q.c") == set()
    matcher.remove("a.#.z")
    matcher.remove("a.*")
    assert matches(matcher, "a.x") == set()
    assert matches(matcher, "a") == set()
    # Everything pruned: adding again builds the branch again.
    matcher.add("a.*.c")
    assert matches(matcher, "a.x.c") == {"a.*.c"}
    # A prefix node that is not itself a pattern: removing it must not drop a.*.c.
    matcher.remove("a.*")
    assert matches(matcher, "a.x.c") == {"a.*.c"}


# --- properties against the references ------------------------------------------------------

GLOB_PATTERNS = st.text(alphabet="ab.*", max_size=7)
GLOB_NAMES = st.text(alphabet="ab.*", max_size=8)
SEGMENT = st.sampled_from(["a", "b", "", "*", "#", "a*", "ab"])
SEGMENT_PATTERNS = st.lists(SEGMENT, min_size=1, max_size=5).map(".".join)
SEGMENT_NAMES = st.lists(
    st.sampled_from(["a", "b", "", "ab", "*", "#"]), min_size=1, max_size=6
).map(".".join)


def check_against_reference(
    kind: str,
    reference: object,
    patterns: list[str],
    removed: list[str],
    names: list[str],
) -> None:
    matcher = matcher_with(kind, *patterns)
    for pattern in removed:
        matcher.remove(pattern)
    alive = set(patterns) - set(removed)
    for name in names:
        expected = {p for p in alive if reference(p, name)}  # type: ignore[operator]
        assert matches(matcher, name) == expected, (name, sorted(alive))


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(GLOB_PATTERNS, max_size=12),
    removed=st.lists(GLOB_PATTERNS, max_size=4),
    names=st.lists(GLOB_NAMES, min_size=1, max_size=8),
    data=st.data(),
)
def test_glob_agrees_with_the_naive_reference(
    patterns: list[str], removed: list[str], names: list[str], data: st.DataObject
) -> None:
    # Remove some of the added patterns too, not only random ones.
    if patterns:
        removed += data.draw(st.lists(st.sampled_from(patterns), max_size=4))
    check_against_reference("glob", glob_reference, patterns, removed, names)


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(SEGMENT_PATTERNS, max_size=12),
    removed=st.lists(SEGMENT_PATTERNS, max_size=4),
    names=st.lists(SEGMENT_NAMES, min_size=1, max_size=8),
    data=st.data(),
)
def test_segments_agree_with_the_naive_reference(
    patterns: list[str], removed: list[str], names: list[str], data: st.DataObject
) -> None:
    if patterns:
        removed += data.draw(st.lists(st.sampled_from(patterns), max_size=4))
    check_against_reference("segments", segments_reference, patterns, removed, names)
