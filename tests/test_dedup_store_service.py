"""The dedup store inside a running receiver: exactly once with an AsyncEventService
firing several events at once, the store closed with its socket, ``dedup_sync``."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import AsyncEventListener, Dispatcher, EventListener
from zeroevents_core.errors import ConfigurationError
from zeroevents_core.outbox import DedupStore

PROCS = str(Path(__file__).with_name("procs_outbox.py"))
TOTAL = 600


class AsyncConsumer:
    """procs_outbox.py's ``aconsumer`` in a child process, killed by the test."""

    def __init__(self, endpoint: str, store: Path, concurrency: int) -> None:
        args = [sys.executable, PROCS, "aconsumer", endpoint, str(store), str(concurrency)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "ready\n"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(60)
        if self.process.stdout:
            self.process.stdout.close()


def committed(store: Path) -> Counter[tuple[int, str]]:
    """The effects the store's file holds (committed), read by a connection of ours."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return Counter(db.execute("SELECT n, part FROM effects"))
    except sqlite3.OperationalError:  # no effects table committed yet
        return Counter()
    finally:
        db.close()


def half_written(effects: Counter[tuple[int, str]]) -> list[int]:
    begun = {n for n, part in effects if part == "begin"}
    ended = {n for n, part in effects if part == "end"}
    return sorted(begun ^ ended)


def test_an_async_service_firing_several_at_once_commits_whole_effects_exactly_once(
    tmp_path: Path,
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    store = tmp_path / "dedup.db"
    consumers = [AsyncConsumer(endpoint, store, concurrency=8)]
    dispatcher = Dispatcher()
    producer = EventListener(
        {"connect": endpoint, "socket_type": "DEALER", "outbox": str(tmp_path / "outbox.db")},
        dispatcher,
    )
    dispatcher.listen("orders.*", producer)
    try:
        for n in range(1, TOTAL + 1):
            assert dispatcher.fire("orders.created", 0, n, halt=True) is True
        # Watch the committed state while eight fires at a time write: never half an
        # effect (each commit is taken between fires), then kill the consumer mid-way.
        seen: list[int] = []
        for _ in range(3000):  # bounded: 30 s
            effects = committed(store)
            seen.extend(half_written(effects))
            if len(effects) >= TOTAL // 2:
                break
            time.sleep(0.01)
        consumers[0].kill()
        at_kill = committed(store)
        # Some committed, not all: the commits come while events flow (without the
        # pause of _drain, none came before the last fire: 1,200 rows at once).
        assert 0 < len(at_kill) < 2 * TOTAL, f"{len(at_kill)} rows: no commit mid-way"
        consumers.append(AsyncConsumer(endpoint, store, concurrency=8))
        assert producer.flush(60).done  # acknowledged: committed, effects with it
    finally:
        producer.close()
        for consumer in consumers:
            consumer.kill()
    final = committed(store)
    twice = sorted(n for (n, _), count in final.items() if count > 1)
    missing = sorted(set(range(1, TOTAL + 1)) - {n for n, _ in final})
    print(
        f"max_concurrency=8: {len(at_kill)} effect rows committed at the kill, "
        f"{len(set(seen))} half-written seen while running, "
        f"{len(half_written(at_kill))} at the kill; after the restart: {len(final)} rows, "
        f"{len(missing)} events missing, {len(half_written(final))} half-written, "
        f"{len(twice)} twice"
    )
    assert not seen, f"half-written effects committed while running: {sorted(set(seen))[:10]}"
    assert not half_written(at_kill)
    assert (missing, half_written(final), twice) == ([], [], [])


@pytest.mark.parametrize("transport", ["zmq", "memory"])
def test_a_socket_closes_its_dedup_store(tmp_path: Path, transport: str) -> None:
    path = tmp_path / "dedup.db"
    where: dict[str, Any] = {"bind": f"ipc://{tmp_path}/in.ipc", "socket_type": "ROUTER"}
    if transport == "memory":
        where = {"transport": "memory", "bind": f"memory://dedup-close-{tmp_path.name}"}
    listener = EventListener({**where, "dedup_store": str(path)})
    listener.socket()
    store = DedupStore.of(path)
    store.execute("CREATE TABLE mine (n INTEGER)")  # an uncommitted write: rolled back
    assert Path(f"{path}-wal").exists()
    listener.close()
    # The last connection closed: SQLite checkpoints and removes the WAL file.
    assert not Path(f"{path}-wal").exists()
    with pytest.raises(ConfigurationError, match="no dedup store is open on"):
        DedupStore.of(path)
    with DedupStore(path) as reopened:
        assert reopened.execute("SELECT name FROM sqlite_master WHERE name = 'mine'") == []


@pytest.mark.asyncio
async def test_a_second_receiver_on_a_dedup_store_is_refused_until_the_first_closes(
    tmp_path: Path,
) -> None:
    # Two receivers sharing one would each commit their view of a producer over the
    # other's (a restarted one then drops events it never fired as duplicates), and
    # the second waited up to 5 s for the first's transaction at each acknowledgement.
    path = tmp_path / "dedup.db"

    def receiver(name: str) -> AsyncEventListener:
        options = {"bind": f"ipc://{tmp_path}/{name}.ipc", "socket_type": "ROUTER"}
        return AsyncEventListener({**options, "dedup_store": str(path)})

    first, second = receiver("a"), receiver("b")
    first.socket()
    opened_first = DedupStore.of(path)
    with pytest.raises(ConfigurationError, match=f"dedup store {path} is open for writing by"):
        second.socket()
    assert DedupStore.of(path) is opened_first  # the refused one changed nothing
    await first.aclose()
    with pytest.raises(ConfigurationError, match="no dedup store is open on"):
        DedupStore.of(path)
    second.socket()  # the file is free again
    assert DedupStore.of(path) is not opened_first
    await second.aclose()
    assert not Path(f"{path}-wal").exists()


def test_a_zmq_socket_refused_its_dedup_store_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    options = {"socket_type": "ROUTER", "dedup_store": str(path)}
    with EventListener({**options, "bind": f"ipc://{tmp_path}/a.ipc"}) as first:
        first.socket()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            refused = EventListener({**options, "bind": f"ipc://{tmp_path}/b.ipc"})
            with pytest.raises(ConfigurationError, match="is open for writing by"):
                refused.socket()
            gc.collect()  # a socket left open warns as its context is destroyed
        assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


def test_a_memory_socket_that_cannot_bind_frees_its_dedup_store(tmp_path: Path) -> None:
    path = tmp_path / "dedup.db"
    name = f"memory://dedup-bind-{tmp_path.name}"
    with EventListener({"transport": "memory", "bind": name}) as taken:
        taken.socket()
        refused = EventListener({"transport": "memory", "bind": name, "dedup_store": str(path)})
        with pytest.raises(ConfigurationError, match="already bound in this process"):
            refused.socket()
    with DedupStore(path) as store:  # not held by the socket that was refused
        assert store.load(10) == []


@pytest.mark.parametrize(("sync", "level"), [(None, 1), ("normal", 1), ("full", 2)])
def test_dedup_sync_sets_how_the_store_commits(
    tmp_path: Path, sync: str | None, level: int
) -> None:
    path = tmp_path / "dedup.db"
    options: dict[str, Any] = {
        "bind": f"ipc://{tmp_path}/in.ipc",
        "socket_type": "ROUTER",
        "dedup_store": str(path),
    }
    if sync is not None:
        options["dedup_sync"] = sync
    with EventListener(options) as listener:
        listener.socket()
        assert DedupStore.of(path).execute("PRAGMA synchronous") == [(level,)]


def test_dedup_sync_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="option 'dedup_sync': expected 'normal' or"):
        EventListener({"bind": f"ipc://{tmp_path}/in.ipc", "dedup_sync": "fast"})


@pytest.mark.asyncio
async def test_a_service_that_ends_has_closed_its_listeners_dedup_store(tmp_path: Path) -> None:
    import asyncio

    from zeroevents_core import AsyncEventService

    path = tmp_path / "dedup.db"
    listener = AsyncEventListener(
        {"bind": f"ipc://{tmp_path}/in.ipc", "socket_type": "ROUTER", "dedup_store": str(path)}
    )
    service = AsyncEventService(max_concurrency=4).listen(listener)
    asyncio.get_running_loop().call_later(0.3, service.stop)
    await service.run()
    assert not Path(f"{path}-wal").exists()
    with pytest.raises(ConfigurationError, match="no dedup store is open on"):
        DedupStore.of(path)
