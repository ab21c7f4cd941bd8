"""The segments matcher on long names: µs per lookup and per segment, against the
walk it replaced (which followed every ``#`` to each later position), same run.

    .venv/bin/python bench/bench_matchers.py [--patterns P ...]

For each name length (segments of ``x``, then ``z``), the lookup of a name against
patterns with several ``#``: the per-segment cost stays flat when the lookup is
linear in the name; the former walk's grows with the length (it is skipped past
2,000 segments, where one lookup takes seconds (4,000: about 20 s)).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from zeroevents_core.matchers.segments import ANY, ONE, SegmentsMatcher, _Node

LENGTHS = [500, 1_000, 2_000, 10_000, 100_000]
FORMER_UP_TO = 2_000
PATTERNS = ["#.x.#.x.#", "#.#.#.y", "a.*.#.*.b", "#.*.#"]


def former_match(root: _Node, name: str) -> set[str]:
    """The lookup before issue 10: a depth-first walk pushing each ``#`` at every later
    position (deduplicated only when popped: quadratic on names of many segments)."""
    segments = name.split(".")
    last = len(segments)
    matched: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack = [(root, 0)]
    while stack:
        node, position = stack.pop()
        if (id(node), position) in seen:
            continue
        seen.add((id(node), position))
        hash_node = node.children.get(ANY)
        if hash_node is not None:
            stack.extend((hash_node, p) for p in range(position, last + 1))
        if position == last:
            matched.update(node.patterns)
            continue
        for key in (segments[position], ONE):
            child = node.children.get(key)
            if child is not None:
                stack.append((child, position + 1))
    return matched


def best_of(call: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", nargs="+", default=PATTERNS)
    args = parser.parse_args()
    matcher = SegmentsMatcher()
    for pattern in args.patterns:
        matcher.add(pattern)
    root = matcher._root
    print(f"patterns: {' '.join(args.patterns)}")
    print(
        f"{'segments':>9} {'now µs':>10} {'µs/seg':>7} {'former µs':>11} {'µs/seg':>7} {'ratio':>8}"
    )
    for length in LENGTHS:
        name = "x." * length + "z"
        now = best_of(lambda n=name: matcher.match(n))
        line = f"{length:>9,} {now * 1e6:>10,.0f} {now * 1e6 / length:>7.2f}"
        if length <= FORMER_UP_TO:
            assert former_match(root, name) == set(matcher.match(name))
            former = best_of(lambda n=name: former_match(root, n), repeat=1)
            line += f" {former * 1e6:>11,.0f} {former * 1e6 / length:>7.2f} {former / now:>7.0f}x"
        else:
            line += f" {'skipped':>11}"
        print(line)


if __name__ == "__main__":
    main()
