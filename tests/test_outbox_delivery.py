"""The ``outbox`` listener option end to end: real ZeroMQ sockets to a consumer in a
process of its own, rows deleted on acknowledgement, a restarted producer resending
under the same producer id and numbers, a full outbox, the options."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import AsyncEventListener, Dispatcher, EventListener
from zeroevents_core.errors import ConfigurationError
from zeroevents_core.outbox import Outbox
from zeroevents_core.outbox.database import PAGE_SIZE
from zeroevents_core.outbox.store import WRITER_CHECKPOINT_PAGES, inspect_outbox

PROCS = str(Path(__file__).with_name("procs_outbox.py"))
sys.path.insert(0, str(Path(__file__).parent))
from procs_outbox import lines  # noqa: E402


class Consumer:
    """The consumer script in a child process, killed at teardown."""

    def __init__(
        self, endpoint: str, record: Path, dedup_store: Path | None = None, headers: bool = False
    ) -> None:
        args = [sys.executable, PROCS, "consumer", endpoint, str(record)]
        args += [str(dedup_store) if dedup_store else ""] + ["1"] * headers
        self.record = record
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline() == "ready\n"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(60)
        if self.process.stdout:
            self.process.stdout.close()


def producer(
    endpoint: str, outbox: Path, listener_class: type[Any] = EventListener, **options: Any
) -> tuple[Dispatcher, Any]:
    dispatcher = Dispatcher()
    listener = listener_class(
        {"connect": endpoint, "socket_type": "DEALER", "outbox": str(outbox), **options},
        dispatcher,
    )
    dispatcher.listen("orders.*", listener)
    return dispatcher, listener


def left_by_a_run_without_consumer(endpoint: str, outbox: Path, count: int) -> None:
    """Fire orders 1 to ``count`` with no consumer there: fire() returns once each is
    stored, close() leaves them all in the file."""
    dispatcher, listener = producer(endpoint, outbox, flush_timeout_ms=100)
    for n in range(1, count + 1):
        assert dispatcher.fire("orders.created", 0, n, halt=True) is True
    assert listener.close() == count


def wait_for_lines(record: Path, count: int) -> list[list[str]]:
    import time

    for _ in range(600):  # bounded: 60 s
        found = lines(str(record))
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{record}: {len(lines(str(record)))} lines, expected {count}")


def test_fired_events_are_delivered_and_deleted(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    dispatcher, listener = producer(endpoint, tmp_path / "outbox.db")
    for n in range(1, 1001):
        assert dispatcher.fire("orders.created", 0, n, halt=True) is True
    assert listener.flush(60).done
    assert listener.close() == 0
    found = wait_for_lines(tmp_path / "consumer.txt", 1000)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 1001))
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert (stream.pending, stream.last_seq) == (0, 1000)


def test_the_sender_checkpoints_and_the_wal_stays_bounded(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    # Appends leave checkpoints to the sender up to WRITER_CHECKPOINT_PAGES: the file
    # grows before the WAL reaches them (the sender's), the WAL never much past them.
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox = tmp_path / "outbox.db"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    dispatcher, listener = producer(endpoint, outbox)
    listener.socket()
    made = outbox.stat().st_size
    sizes = []
    for n in range(1, 12001):
        assert dispatcher.fire("orders.created", 0, n, halt=True) is True
        if n == 3000:  # about 4,000 pages in the WAL, below the appends' own checkpoint
            assert listener.flush(60).done
            sizes.append(outbox.stat().st_size)
    assert listener.flush(60).done
    assert sizes[0] > made
    wal = Path(f"{outbox}-wal").stat().st_size
    assert wal < (WRITER_CHECKPOINT_PAGES + 2000) * (PAGE_SIZE + 24), wal
    assert listener.close() == 0
    (stream,) = inspect_outbox(outbox)
    assert (stream.pending, stream.last_seq) == (0, 12000)


def test_a_restarted_producer_resends_under_its_producer_id_and_numbers(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox = tmp_path / "outbox.db"
    left_by_a_run_without_consumer(endpoint, outbox, 200)
    with Outbox(outbox) as stored:
        destination = stored.summary()[0].destination
        producer_id = stored.producer(destination).hex()
        assert [row.seq for row in stored.pending(destination)] == list(range(1, 201))
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    _, restarted = producer(endpoint, outbox)
    restarted.socket()  # opens the outbox: its sender resends what is there
    assert restarted.flush(60).done
    restarted.close()
    found = wait_for_lines(tmp_path / "consumer.txt", 200)
    assert sorted(int(n) for _, n, _ in found) == list(range(1, 201))
    assert sorted(event_id for *_, event_id in found) == [
        f"{producer_id}-{seq:016x}" for seq in range(1, 201)
    ]


def test_runs_that_only_deliver_keep_what_was_acknowledged(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    # Runs that fire nothing and close before the rows a killed run left are all
    # delivered (flush_timeout_ms): each deletes what was acknowledged. They once
    # deleted nothing: the deletes waited for the commits of appends that never came,
    # and every run sent the same rows again (issue 14's kill test, 20 runs).
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox = tmp_path / "outbox.db"
    left_by_a_run_without_consumer(endpoint, outbox, 20000)
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt"))
    lefts = [20000]
    while lefts[-1] and len(lefts) < 60:  # bounded: 60 runs of 0.3 s
        _, run = producer(endpoint, outbox, flush_timeout_ms=300)
        run.socket()
        lefts.append(run.close())
        assert lefts[-1] < lefts[-2], lefts
    assert lefts[-1] == 0, lefts
    (stream,) = inspect_outbox(outbox)
    assert (stream.pending, stream.last_seq) == (0, 20000)
    found = wait_for_lines(tmp_path / "consumer.txt", 20000)
    assert {int(n) for _, n, _ in found} == set(range(1, 20001))


def test_the_headers_of_a_fire_travel_with_its_row(
    tmp_path: Path, outbox_consumers: list[Consumer]
) -> None:
    endpoint = f"ipc://{tmp_path}/orders.ipc"
    outbox_consumers.append(Consumer(endpoint, tmp_path / "consumer.txt", headers=True))
    dispatcher, listener = producer(endpoint, tmp_path / "outbox.db")
    for n in range(1, 4):
        headers = {"tenant": f"t{n}", "n": str(n)}
        assert dispatcher.fire("orders.created", 0, n, halt=True, headers=headers) is True
    assert dispatcher.fire("orders.created", 0, 4, halt=True) is True
    assert listener.flush(60).done
    listener.close()
    found = wait_for_lines(tmp_path / "consumer.txt", 4)
    seen = {int(n): json.loads(headers) for _, n, _, headers in found}
    assert seen == {1: {"tenant": "t1", "n": "1"}, 2: {"tenant": "t2", "n": "2"},
                    3: {"tenant": "t3", "n": "3"}, 4: {}}  # fmt: skip


def test_a_full_outbox_fires_push_error(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/nobody.ipc"
    dispatcher, listener = producer(
        endpoint,
        tmp_path / "outbox.db",
        outbox_max_events=3,
        socket_options={"SNDTIMEO": 50},
        flush_timeout_ms=0,
    )
    errors: list[tuple[Any, ...]] = []
    dispatcher.listen("zeroevents.push.error", lambda *args: errors.append(args) or "reported")
    for n in range(3):
        assert dispatcher.fire("orders.created", 0, n, halt=True) is True
    assert dispatcher.fire("orders.created", 0, 3, halt=True) == "reported"
    (_socket, event, payload, reply_to) = errors[0]
    assert (event, list(payload), reply_to) == ("orders.created", [0, 3], None)
    assert listener.close() == 3  # the three stored stay in the file
    (stream,) = inspect_outbox(tmp_path / "outbox.db")
    assert stream.pending == 3


def test_outbox_options_are_checked(tmp_path: Path) -> None:
    path = str(tmp_path / "o.db")
    with pytest.raises(ConfigurationError, match="contradicts it"):
        EventListener({"connect": "ipc:///tmp/x.ipc", "outbox": path, "delivery": "at-most-once"})
    with pytest.raises(ConfigurationError, match="at-least-once"):
        EventListener({"connect": "ipc:///tmp/x.ipc", "socket_type": "PUSH", "outbox": path})
    asynchronous = AsyncEventListener({"connect": "ipc:///tmp/x.ipc", "outbox": path})
    assert asynchronous.options["delivery"] == "at-least-once"
    with pytest.raises(ConfigurationError, match="transport 'memory' cannot resume"):
        EventListener({"transport": "memory", "connect": "memory://orders", "outbox": path})
    with pytest.raises(ConfigurationError, match="option 'outbox_sync'"):
        EventListener({"connect": "ipc:///tmp/x.ipc", "outbox": path, "outbox_sync": "fast"})
    listener = EventListener({"connect": "ipc:///tmp/x.ipc", "outbox": path})
    assert listener.options["delivery"] == "at-least-once"
    assert listener.options["wire"] == "v2"
    assert not Path(path).exists()  # opened on first use


def test_closing_toward_nobody_says_the_events_stay_in_the_outbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = tmp_path / "outbox.db"
    dispatcher, listener = producer(f"ipc://{tmp_path}/nobody.ipc", outbox, flush_timeout_ms=100)
    for n in range(5):
        assert dispatcher.fire("orders.created", 0, n, halt=True) is True
    socket = listener.socket()
    assert listener.flush(1).count == 5  # sent, not acknowledged: in flight
    with caplog.at_level(logging.WARNING, logger="zeroevents_core"):
        assert listener.close() == 5
    said = [record.getMessage() for record in caplog.records]
    assert not [line for line in said if "push.error" in line], said
    assert [line for line in said if "stay in" in line] == [
        f"closing the outbox stream to ipc://{tmp_path}/nobody.ipc: 5 events not yet "
        f"acknowledged stay in {outbox} and will be resent by the next listener that opens it"
    ]
    assert socket.stats.failed == 0  # none given up: the file keeps them
    (stream,) = inspect_outbox(outbox)
    assert stream.pending == 5
