"""The segments matcher answers in time linear in the name's length (issue 10, item 2).

Following every ``#`` to each later position made ``#.x.#.x.#`` on a name of 100,000
``x`` segments cost about 10**10 steps. No timed assertion here: the suite's per-test
timeout (pyproject) is the bound, hours away from the quadratic walk and well above
the linear one (``bench/bench_matchers.py`` gives the figures per segment).
"""

from __future__ import annotations

from zeroevents_core import Dispatcher
from zeroevents_core.plugins import get_matcher

SEGMENTS = 100_000
PATTERNS = ["#.x.#.x.#", "#.#.#.y", "a.*.#.*.b", "#.*.#", "x.#.#.#.z"]


def test_hash_patterns_on_a_long_name_match_in_linear_time() -> None:
    matcher = get_matcher("segments")
    for pattern in PATTERNS:
        matcher.add(pattern)
    name = "x." * SEGMENTS + "z"
    assert sorted(matcher.match(name)) == ["#.*.#", "#.x.#.x.#", "x.#.#.#.z"]
    assert sorted(matcher.match("x." * SEGMENTS + "y")) == ["#.#.#.y", "#.*.#", "#.x.#.x.#"]
    assert sorted(matcher.match("a." + "q." * SEGMENTS + "b")) == ["#.*.#", "a.*.#.*.b"]


def test_a_dispatcher_on_segments_fires_a_long_name_once() -> None:
    dispatcher = Dispatcher(matcher="segments")
    seen: list[str] = []
    dispatcher.listen("#.x.#.x.#", lambda: seen.append("hit"))
    dispatcher.fire("x." * SEGMENTS + "done")
    dispatcher.fire("y." * SEGMENTS + "done")
    assert seen == ["hit"]
