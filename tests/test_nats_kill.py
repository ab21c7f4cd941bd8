"""Kill tests of the ``nats`` transport, counted by event id (issue 15's "Done when").

The consumer killed with -9 at 10 random points and restarted: every event fired at
least once, duplicates only among those in flight at a kill (at most
``max_in_flight`` per kill), none without kills. The producer killed with -9: every
event whose publish was acknowledged is fired. A server restarted during a run
(a private ``nats-server -js``, never the shared one): nothing acknowledged is lost.

``ZEROEVENTS_NATS_EVENTS`` sets the number of events (default 10,000 on two shared
cores; the issue's run is ``ZEROEVENTS_NATS_EVENTS=100000``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import shutil
import signal
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from nats_peer import PrivateServer, acked_ids, consume, produce, read_ids, wait_for

EVENTS = int(os.environ.get("ZEROEVENTS_NATS_EVENTS", "10000"))
KILLS = 10
MAX_IN_FLIGHT = 256
SHARED = "nats://127.0.0.1:4222"
# Generous: two cores shared by many processes.
DRAIN_TIMEOUT = 60 + EVENTS / 250


def _reachable(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def _admin(url: str, action: Any) -> Any:
    nc = await nats.connect(url)
    try:
        return await action(nc.jetstream())
    finally:
        await nc.close()


class Run:
    """One test's stream, subjects and options on a server."""

    def __init__(self, url: str) -> None:
        tag = uuid.uuid4().hex[:10]
        self.url = url
        self.stream = f"ZK_{tag}"
        self.event = f"zk{tag}.ids"
        base = {
            "transport": "nats",
            "servers": url,
            "stream": self.stream,
            "subjects": f"zk{tag}.>",
            "create_stream": True,
            "max_reconnect_attempts": -1,
            "reconnect_wait_ms": 200,
        }
        self.producer = dict(base)
        self.consumer = {
            **base,
            "durable": "ids",
            "max_in_flight": MAX_IN_FLIGHT,
            # A killed consumer's events come back after ack_wait: short, for the test.
            "ack_wait_ms": 3000,
        }

    def delete(self) -> None:
        async def delete(js: Any) -> None:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(self.stream)

        asyncio.run(_admin(self.url, delete))


@pytest.fixture
def shared() -> Iterator[Run]:
    if not _reachable(4222):
        pytest.skip("no NATS server with JetStream on 127.0.0.1:4222")
    run = Run(SHARED)
    yield run
    run.delete()


@pytest.fixture
def private(tmp_path: Path) -> Iterator[PrivateServer]:
    binary = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if binary is None:
        pytest.skip("nats-server is not installed: the server-restart test needs its own")
    server = PrivateServer(binary, tmp_path / "store")
    server.start()
    yield server
    server.stop()


def kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(20)


def stop(process: Any, record: Path) -> None:
    """SIGTERM: the service stops gracefully (in-flight events finish, acks are sent)."""
    running = Path(f"{record}.running.{process.pid}")
    wait_for(running.exists, DRAIN_TIMEOUT, "the consumer's service to run")
    os.kill(process.pid, signal.SIGTERM)
    process.join(60)
    assert process.exitcode == 0, f"the consumer ended with {process.exitcode}"


def publish_all(run: Run, tmp_path: Path, spawn: Callable[..., Any]) -> None:
    acked = tmp_path / "acked"
    producer = spawn(produce, run.producer, run.event, EVENTS, 1000, str(acked))
    producer.join(DRAIN_TIMEOUT)
    assert producer.exitcode == 0
    assert acked_ids(acked) == set(range(EVENTS)), "the producer's PubAcks did not all come"


def test_consumer_killed_at_10_random_points(
    shared: Run, tmp_path: Path, spawn: Callable[..., Any]
) -> None:
    publish_all(shared, tmp_path, spawn)
    record = tmp_path / "fired"
    points = sorted(random.Random().sample(range(1, EVENTS), KILLS))
    for point in points:
        consumer = spawn(consume, shared.consumer, shared.event, str(record))
        # Kill once this many distinct ids were fired (a point already passed: at once).
        wait_for(
            lambda point=point, consumer=consumer: (
                len(set(read_ids(record))) >= point or not consumer.is_alive()
            ),
            DRAIN_TIMEOUT,
            f"{point} distinct ids fired before a kill",
        )
        assert consumer.is_alive(), f"the consumer ended on its own ({consumer.exitcode})"
        kill(consumer)
    consumer = spawn(consume, shared.consumer, shared.event, str(record))
    wait_for(
        lambda: len(set(read_ids(record))) == EVENTS, DRAIN_TIMEOUT, "every id fired after kills"
    )
    stop(consumer, record)

    fired = read_ids(record)
    assert set(fired) == set(range(EVENTS))  # every event at least once
    duplicates = sum(count - 1 for count in collections.Counter(fired).values())
    print(f"{EVENTS} events, {KILLS} kills -9: {duplicates} duplicates")
    # Only those in flight at a kill come twice: unacked ones, max_in_flight at most.
    assert duplicates <= KILLS * MAX_IN_FLIGHT


def test_no_duplicates_without_kills(
    shared: Run, tmp_path: Path, spawn: Callable[..., Any]
) -> None:
    publish_all(shared, tmp_path, spawn)
    record = tmp_path / "fired"
    consumer = spawn(consume, shared.consumer, shared.event, str(record))
    wait_for(lambda: len(read_ids(record)) >= EVENTS, DRAIN_TIMEOUT, "every id fired")
    stop(consumer, record)
    assert sorted(read_ids(record)) == list(range(EVENTS))  # each exactly once


def test_producer_killed_every_acknowledged_event_is_fired(
    shared: Run, tmp_path: Path, spawn: Callable[..., Any]
) -> None:
    acked = tmp_path / "acked"
    producer = spawn(produce, shared.producer, shared.event, EVENTS, 100, str(acked))
    point = random.Random().randrange(EVENTS // 10, EVENTS // 2)
    wait_for(
        lambda: len(acked_ids(acked)) >= point or not producer.is_alive(),
        DRAIN_TIMEOUT,
        f"{point} acknowledged publishes",
    )
    kill(producer)
    confirmed = acked_ids(acked)
    assert 0 < len(confirmed) < EVENTS, "the kill came after the producer had finished"

    record = tmp_path / "fired"
    consumer = spawn(consume, shared.consumer, shared.event, str(record))
    wait_for(
        lambda: confirmed <= set(read_ids(record)), DRAIN_TIMEOUT, "every acknowledged id fired"
    )
    stop(consumer, record)
    print(f"producer killed -9 after {len(confirmed)} acknowledged of {EVENTS}")


def test_server_restart_loses_nothing_acknowledged(
    private: PrivateServer, tmp_path: Path, spawn: Callable[..., Any]
) -> None:
    run = Run(private.url)
    acked = tmp_path / "acked"
    record = tmp_path / "fired"
    consumer = spawn(consume, run.consumer, run.event, str(record))
    producer = spawn(produce, run.producer, run.event, EVENTS, 500, str(acked))
    for point, how in ((EVENTS // 4, signal.SIGTERM), (EVENTS // 2, signal.SIGKILL)):
        wait_for(
            lambda point=point: len(acked_ids(acked)) >= point or not producer.is_alive(),
            DRAIN_TIMEOUT,
            f"{point} acknowledged publishes before the restart",
        )
        private.stop(how)  # its store stays on disk: the same server comes back
        private.start()
    producer.join(DRAIN_TIMEOUT)
    assert producer.exitcode == 0
    confirmed = acked_ids(acked)
    assert len(confirmed) >= EVENTS // 2, f"only {len(confirmed)} publishes acknowledged"
    wait_for(
        lambda: confirmed <= set(read_ids(record)), DRAIN_TIMEOUT, "every acknowledged id fired"
    )
    stop(consumer, record)
    print(f"server stopped and killed -9: {len(confirmed)} of {EVENTS} acknowledged, all fired")
