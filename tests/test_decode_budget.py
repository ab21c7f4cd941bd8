"""The decode budget on real 16 MB frames, sent to a running service in another process.

Before the budget (issue 10), a frame of empty containers just under the 16 MiB frame
limit took the service's RSS up by 2.4 GB with msgpack (cbor 1.2 GB, json 454 MB) and
tens of seconds. Now each is a ``zeroevents.pull.error`` naming the limit, the service
fires the next good event, and its peak RSS grows by well under the bound asserted
here (measured on the project's machine: 40-70 MB, mostly the frame and its copies).
"""

from __future__ import annotations

import multiprocessing
import resource
from typing import Any

import cbor2
import msgpack
import pytest
import zmq
from procs import PULL_ERROR, take

from zeroevents_core import Dispatcher, EventListener, EventService

SPAWN = multiprocessing.get_context("spawn")

# Generous: the frames alone are 16 MB, received and then copied once or twice.
RSS_GROWTH_BOUND_MB = 250

PER = 999_000  # entries per msgpack array, within max_items


def _msgpack_empties(empty: bytes) -> bytes:
    count = 15  # a fixarray holds at most 15
    return bytes([0x90 + count]) + (b"\xdd" + PER.to_bytes(4, "big") + empty * PER) * count


HOSTILE: dict[str, tuple[bytes, str]] = {
    "json": (b"[" + b"[]," * 5_300_000 + b"[]]", "max_containers=100000"),
    "orjson": (b"[" + b"{}," * 5_300_000 + b"{}]", "max_containers=100000"),
    "msgpack": (_msgpack_empties(b"\x90"), "max_containers=100000"),
    "msgpack maps": (_msgpack_empties(b"\x80"), "max_containers=100000"),
    "cbor": (b"\x9f" + b"\x80" * 15_900_000 + b"\xff", "max_containers=100000"),
    "cbor scalars": (b"\x9f" + b"\x01" * 15_900_000 + b"\xff", "max_items=1000000"),
}
GOOD = {"json": b"1", "orjson": b"1", "msgpack": msgpack.packb(1), "cbor": cbor2.dumps(1)}


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux


def consume(endpoint: str, serializer: str, out: Any) -> None:
    dispatcher = Dispatcher()
    options = {"bind": endpoint, "socket_type": "PULL", "serializer": serializer}
    listener = EventListener(options, dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(100)
    dispatcher.listen(
        PULL_ERROR,
        lambda socket, error=None, frames=None: out.put(("pull.error", str(error))),
    )
    dispatcher.listen("good", lambda value: out.put(("fired", value, peak_rss_mb())))
    dispatcher.listen("done", service.stop)
    listener.socket()
    out.put(("ready", peak_rss_mb()))
    service.run()


@pytest.fixture
def push(consumers: Any) -> Any:
    def start(serializer: str) -> tuple[zmq.Socket[bytes], Any, int]:
        socket, out, (_, baseline) = consumers.start(consume, serializer)
        return socket, out, baseline

    return start


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_16_mb_frame_of_containers_is_refused_within_a_memory_bound(push: Any, case: str) -> None:
    serializer = case.split()[0]
    frame, limit = HOSTILE[case]
    assert len(frame) < 16 * 1024 * 1024  # within the frame size limit
    socket, out, baseline = push(serializer)
    socket.send_multipart([b"hostile", frame], copy=False)
    _, error = take(out, "pull.error")
    assert limit in error and "frame 1" in error
    socket.send_multipart([b"good", GOOD[serializer]])
    _, value, peak = take(out, "fired")
    assert value == 1
    socket.send_multipart([b"done"])
    print(f"{case}: peak RSS grew {peak - baseline} MB")
    assert peak - baseline < RSS_GROWTH_BOUND_MB, f"peak RSS grew {peak - baseline} MB"
