"""Kill tests of ``delivery = "at-least-once"``, counted by event id (issue 13's "Done when").

A producer process fires ids 0..N-1 through a DEALER ``EventListener``; a consumer
process (an ``EventService`` on a ROUTER bound to the endpoint) records each id it
fires. The consumer is killed with -9 at 10 random points and restarted on the same
endpoint each time: every id the producer did not report failed is fired at least
once, duplicates are at most ``window`` per kill, and a run without kills has none.
The same with one DEALER connected to two ROUTERs, one of them (over tcp) killed 10
times; with ``AsyncEventListener`` to ``AsyncEventService`` (the asyncio flavour);
and (3 kills) over DEALER to DEALER and PAIR to PAIR.

``ZEROEVENTS_DELIVERY_EVENTS`` sets the number of events (default 5,000 on two shared
cores; the issue's run is ``ZEROEVENTS_DELIVERY_EVENTS=100000``). The same test with
``delivery = "at-most-once"`` loses ids that were never reported failed: the last
test shows that the harness sees it.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from delivery_peer import consume, produce, read_ids, wait_for

EVENTS = int(os.environ.get("ZEROEVENTS_DELIVERY_EVENTS", "5000"))
KILLS = 10
WINDOW = 200
# The consumer is slower than the producer (2.5 s of work in all, 250 us an event at
# most: a window's worth well within retry_after_ms), so queues fill and a kill hits
# them, mostly in the middle of a fire.
BUSY_US = min(250.0, 2.5e6 / EVENTS)
# Generous: two cores shared by many processes, ten interpreters started per test.
DRAIN_TIMEOUT = 120 + EVENTS / 250

Spawn = Callable[..., Any]

# The producer's socket type and the consumers': DEALER to ROUTER unless told.
LINK = ("dealer", "router")


def producer_options(
    endpoints: list[str],
    delivery: str,
    socket_type: str,
    retry_after_ms: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {
        "connect": endpoints,
        "socket_type": socket_type,
        # A full window waits for the restarted consumer rather than fail the fire.
        "socket_options": {"SNDTIMEO": 60_000},
    }
    if delivery == "at-least-once":
        options.update(
            delivery="at-least-once",
            window=WINDOW,
            retry_after_ms=retry_after_ms,
            # Nothing is given up while a consumer restarts (seconds on a loaded machine).
            max_attempts=1000,
            deliver_timeout_ms=int(DRAIN_TIMEOUT * 1000),
        )
    return {**options, **(extra or {})}


@dataclass
class Outcome:
    """What one run fired and reported, by id."""

    fired: list[int]
    failed: set[int]
    summary: dict[str, Any]

    @property
    def lost(self) -> set[int]:
        """Ids neither fired nor reported failed: what at-least-once never allows."""
        return set(range(EVENTS)) - set(self.fired) - self.failed

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in collections.Counter(self.fired).values())

    def describe(self, what: str) -> str:
        stats = {key: value for key, value in self.summary["stats"].items() if value}
        return (
            f"{what}: {EVENTS} events, {len(set(self.fired))} distinct fired, "
            f"{self.duplicates} duplicates, {len(self.failed)} reported failed, "
            f"{len(self.lost)} lost (first {sorted(self.lost)[:10]}); producer {stats}"
        )


def kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(20)


def stop(process: Any, record: Path) -> None:
    """SIGTERM: the service stops gracefully."""
    running = Path(f"{record}.running.{process.pid}")
    wait_for(running.exists, DRAIN_TIMEOUT, "the consumer's service to run")
    os.kill(process.pid, signal.SIGTERM)
    process.join(60)
    assert process.exitcode == 0, f"the consumer ended with {process.exitcode}"


def started(spawn: Spawn, endpoint: str, record: Path, flavour: str, socket_type: str) -> Any:
    """A consumer bound to ``endpoint``, once its service runs."""
    options = {"bind": endpoint, "socket_type": socket_type}
    consumer = spawn(consume, options, str(record), BUSY_US, -1, -1, flavour)
    running = Path(f"{record}.running.{consumer.pid}")
    wait_for(
        lambda: running.exists() or not consumer.is_alive(), DRAIN_TIMEOUT, "a consumer to run"
    )
    assert consumer.is_alive(), f"the consumer ended on its own ({consumer.exitcode})"
    return consumer


def kill_run(
    spawn: Spawn,
    folder: Path,
    endpoints: list[str],
    delivery: str,
    kills: int,
    flavour: str = "blocking",
    link: tuple[str, str] = LINK,
    retry_after_ms: int = 200,
    extra: dict[str, Any] | None = None,
) -> Outcome:
    """Fire EVENTS ids to consumers on ``endpoints``; kill -9 the first consumer at
    ``kills`` random points, restarting it each time; the others run throughout.
    ``flavour``: both sides blocking, or both asyncio; ``link``: the socket types;
    ``extra``: more producer options (the batched mode's)."""
    records = [folder / f"fired-{n}" for n in range(len(endpoints))]
    consumers = [
        started(spawn, e, r, flavour, link[1]) for e, r in zip(endpoints, records, strict=True)
    ]

    def distinct() -> int:
        return len({i for record in records for i in read_ids(record)})

    failed, summary = folder / "failed", folder / "summary"
    producer = spawn(
        produce,
        producer_options(endpoints, delivery, link[0], retry_after_ms, extra),
        EVENTS,
        str(failed),
        str(summary),
        DRAIN_TIMEOUT,
        flavour,
    )
    for point in sorted(random.Random().sample(range(1, EVENTS), kills)):
        # Kill once this many distinct ids were fired (a point already passed: at once).
        wait_for(
            lambda point=point: distinct() >= point or not producer.is_alive(),
            DRAIN_TIMEOUT,
            f"{point} distinct ids fired before a kill",
        )
        assert consumers[0].is_alive(), f"the consumer ended on its own ({consumers[0].exitcode})"
        kill(consumers[0])
        consumers[0] = started(spawn, endpoints[0], records[0], flavour, link[1])
    producer.join(DRAIN_TIMEOUT)
    assert producer.exitcode == 0, f"the producer ended with {producer.exitcode}"
    for consumer, record in zip(consumers, records, strict=True):
        stop(consumer, record)
    return Outcome(
        fired=[i for record in records for i in read_ids(record)],
        failed=set(read_ids(failed)),
        summary=json.loads(summary.read_text()),
    )


def check(outcome: Outcome, kills: int, what: str) -> None:
    report = outcome.describe(what)
    print(report)
    assert not outcome.lost, report  # every id not reported failed fired at least once
    assert outcome.duplicates <= kills * WINDOW, report
    # Reporting events failed would pass the first check: with these options
    # (max_attempts, deliver_timeout_ms) nothing is given up while a consumer restarts.
    assert not outcome.failed, report
    assert outcome.summary["stats"]["acknowledged"] + len(outcome.failed) == EVENTS, report


def free_tcp() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("flavour", ["blocking", "asyncio"])
def test_consumer_killed_at_10_random_points(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], flavour: str
) -> None:
    outcome = kill_run(spawn, tmp_path, [ipc("consumer")], "at-least-once", KILLS, flavour)
    check(outcome, KILLS, f"{KILLS} kills -9 of the consumer ({flavour})")


@pytest.mark.parametrize("link", [("dealer", "dealer"), ("pair", "pair")])
def test_other_links_killed_at_3_random_points(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], link: tuple[str, str]
) -> None:
    # Fewer kills than the 10 (DEALER to ROUTER above): the suite's time.
    kills = 3
    outcome = kill_run(spawn, tmp_path, [ipc("consumer")], "at-least-once", kills, link=link)
    check(outcome, kills, f"{kills} kills -9 of the consumer ({link[0]} to {link[1]})")


def test_one_of_two_receivers_killed_at_10_random_points(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # The killed one over tcp (restarted on the same port), the other over ipc.
    endpoints = [free_tcp(), ipc("kept")]
    outcome = kill_run(spawn, tmp_path, endpoints, "at-least-once", KILLS)
    check(outcome, KILLS, f"{KILLS} kills -9 of one of two receivers (tcp; ipc kept)")


@pytest.mark.parametrize("flavour", ["blocking", "asyncio"])
def test_no_duplicates_without_kills(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str], flavour: str
) -> None:
    # Retries sooner than the consumer works through a window (200 x BUSY_US, 50 ms
    # at 5,000 events, 5 ms at 100,000): events are sent again while the first copy
    # waits, and the copies must not be fired.
    retry_after_ms = int(min(10, max(1, WINDOW * BUSY_US / 2000)))
    outcome = kill_run(
        spawn, tmp_path, [ipc("consumer")], "at-least-once", 0, flavour,
        retry_after_ms=retry_after_ms,
    )  # fmt: skip
    report = outcome.describe(f"no kill, retries after {retry_after_ms} ms ({flavour})")
    print(report)
    assert sorted(outcome.fired) == list(range(EVENTS)), report  # each exactly once
    assert not outcome.failed, report
    assert outcome.summary["stats"]["retried"], report  # the duplicate filter had work


def test_at_most_once_loses_ids_in_the_same_harness(
    spawn: Spawn, tmp_path: Path, ipc: Callable[[str], str]
) -> None:
    # Today's default under the same kills: ids lost without a word. The checks
    # above would fail here, so they can fail (two receivers lose too: 2,163 of 5,000).
    outcome = kill_run(spawn, tmp_path, [ipc("consumer")], "at-most-once", KILLS)
    report = outcome.describe(f"at-most-once, {KILLS} kills -9")
    print(report)
    assert outcome.lost, report
    with pytest.raises(AssertionError):
        check(outcome, KILLS, "at-most-once")
