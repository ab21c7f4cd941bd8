"""The limits on received messages (issue 10): options, checked when given, applied to
every receiving socket, honoured by the blocking and the asyncio services, and the
per-name caches bounded in bytes.

The hostile cases themselves, per serializer and socket type, are in
``test_hostile_catalogue.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from procs import WAIT, take

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    AsyncEventSocket,
    ConfigurationError,
    DecodeError,
    Dispatcher,
    EventListener,
    EventService,
    EventSocket,
    get_serializer,
)

IDLE = "zeroevents.service.idle"
PULL_ERROR = "zeroevents.pull.error"
STOP = "zeroevents.service.stop"
MIB = 1024 * 1024


# --- options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"max_name_bytes": 0}, "'max_name_bytes'"),
        ({"max_name_bytes": "255"}, "'max_name_bytes'"),
        ({"max_frames": True}, "'max_frames'"),
        ({"max_frames": -1}, "'max_frames'"),
        ({"max_frame_bytes": 0}, "'max_frame_bytes'"),
        ({"max_frame_bytes": "16 MiB"}, "'max_frame_bytes'"),
        ({"socket_options": {"MAXMSGSIZE": 100}}, "'max_frame_bytes'"),
    ],
)
def test_a_bad_limit_is_refused_naming_the_option(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        EventListener(options, Dispatcher())


def test_the_limits_are_set_on_the_socket(ipc: Callable[[str], str]) -> None:
    larger = get_serializer("json", max_frame_size=64 * MIB)
    chosen = {"max_name_bytes": 32, "max_frames": 4, "max_frame_bytes": MIB}
    for options, (name_bytes, frames, frame_bytes) in [
        ({}, (255, 64, 16 * MIB)),
        (chosen, (32, 4, MIB)),
        ({"serializer": larger}, (255, 64, 64 * MIB)),  # MAXMSGSIZE follows the serializer
    ]:
        listener = EventListener({"socket_type": "PULL", "bind": ipc("limits"), **options})
        try:
            socket = listener.socket()
            assert socket.get(zmq.MAXMSGSIZE) == frame_bytes
            assert (socket.max_name_bytes, socket.max_frames) == (name_bytes, frames)
        finally:
            listener.close()


def test_a_socket_made_directly_has_the_default_limits() -> None:
    context: zmq.Context[Any] = zmq.Context()
    try:
        for socket_class in (EventSocket, AsyncEventSocket):
            socket = socket_class(context, zmq.PULL)
            assert socket.get(zmq.MAXMSGSIZE) == 16 * MIB
            assert (socket.max_name_bytes, socket.max_frames) == (255, 64)
    finally:
        context.destroy(linger=0)


def test_a_router_message_without_an_event_frame_is_a_decode_error() -> None:
    # No peer can send it (libzmq puts the address before at least one frame of the
    # peer's); the codec refuses it all the same, naming the frame after the address.
    context: zmq.Context[Any] = zmq.Context()
    try:
        router = EventSocket(context, zmq.ROUTER)
        with pytest.raises(DecodeError, match="no event frame after the address") as error:
            router.message([b"peer"])
        assert error.value.frame == 1
    finally:
        context.destroy(linger=0)


# --- services in another process -----------------------------------------------------


def serve(options: dict[str, Any], flavour: str, out: Any) -> None:
    """A blocking or asyncio service on one socket; reports what it fires (not idle,
    not pull errors, which are reported on their own) and its stats at the end."""
    dispatcher = Dispatcher()

    def fired(*payload: Any) -> None:
        event = dispatcher.firing()
        if event is not None and event not in (IDLE, PULL_ERROR):
            out.put(("fired", event[:100], len(payload)))

    def pull_error(socket: Any, error: Any, frames: Any) -> None:
        out.put(("pull.error", error.frame, str(error)))

    dispatcher.listen("*", fired)
    dispatcher.listen(PULL_ERROR, pull_error)
    if flavour == "asyncio":
        asynchronous = AsyncEventService(dispatcher).poll_timeout(100)
        asynchronous.listen(AsyncEventListener(options, dispatcher))
        out.put(("ready",))
        asyncio.run(asynchronous.run())
        stats = asynchronous.stats
    else:
        blocking = EventService(dispatcher).poll_timeout(100)
        listener = EventListener(options, dispatcher)
        blocking.listen(listener)
        listener.socket()
        out.put(("ready",))
        blocking.run()
        stats = blocking.stats
    out.put(("stopped", dataclasses.asdict(stats)))


def pull_and_fire(options: dict[str, Any], count: int, out: Any) -> None:
    """``pull_and_fire`` ``count`` times on a blocking socket; reports what was fired
    (push errors included) and what each call returned."""
    dispatcher = Dispatcher()
    dispatcher.listen("*", lambda *payload: out.put(("fired", dispatcher.firing())))
    with EventListener(options, dispatcher) as listener:
        socket = listener.socket()
        out.put(("ready",))
        for _ in range(count):
            out.put(("returned", socket.pull_and_fire()))


@pytest.fixture
def push() -> Iterator[Callable[[str], zmq.Socket[bytes]]]:
    context: zmq.Context[Any] = zmq.Context()

    def connected(endpoint: str) -> zmq.Socket[bytes]:
        socket = context.socket(zmq.PUSH)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        return socket

    yield connected
    context.destroy(linger=0)


def resident_mb(pid: int) -> float:
    """A process's resident set now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.parametrize("flavour", ["blocking", "asyncio"])
def test_a_service_applies_its_limits_and_drops_unsolicited_library_events(
    flavour: str, spawn: Any, queue: Any, ipc: Callable[[str], str], push: Any
) -> None:
    endpoint = ipc(f"limits-{flavour}")
    options = {"socket_type": "PULL", "bind": endpoint, "max_name_bytes": 24, "max_frames": 3}
    child = spawn(serve, options, flavour, queue)
    take(queue, "ready")
    sender = push(endpoint)
    sender.send_multipart([b"n" * 25, b"1"])
    sender.send_multipart([b"twenty-four.bytes.are.ok", b"1", b"2"])
    sender.send_multipart([b"four.frames", b"1", b"2", b"3"])
    sender.send_multipart([b"zeroevents.confirmed", b'"four.frames"'])
    sender.send_multipart([b"zeroevents.flush"])  # a PULL cannot answer it
    sender.send_multipart([STOP.encode()])
    error = take(queue, "pull.error")
    assert error[1] == 0
    assert "event name of 25 bytes is over the limit of 24 bytes" in error[2]
    assert "(option 'max_name_bytes')" in error[2]
    assert take(queue, "fired") == ("fired", "twenty-four.bytes.are.ok", 2)
    error = take(queue, "pull.error")
    assert error[1] == 3
    assert "4 frames is over the limit of 3 frames per event (option 'max_frames')" in error[2]
    assert take(queue, "fired") == ("fired", STOP, 0)  # nothing reserved was fired
    stats = take(queue, "stopped")[1]
    assert (stats["decode_errors"], stats["unsolicited"], stats["fired"]) == (2, 2, 2)
    child.join(WAIT)
    assert child.exitcode == 0


def test_pull_and_fire_fires_no_library_event(
    spawn: Any, queue: Any, ipc: Callable[[str], str], push: Any
) -> None:
    endpoint = ipc("pull-and-fire")
    child = spawn(pull_and_fire, {"socket_type": "PULL", "bind": endpoint}, 3, queue)
    take(queue, "ready")
    sender = push(endpoint)
    sender.send_multipart([b"zeroevents.confirmed", b'"orders.created"'])
    sender.send_multipart([b"zeroevents.flush"])  # a PULL cannot answer: no push error
    sender.send_multipart([b"orders.created", b"1"])
    assert take(queue, "returned") == ("returned", None)
    assert take(queue, "returned") == ("returned", None)
    assert take(queue, "fired") == ("fired", "orders.created")
    assert take(queue, "returned") == ("returned", None)
    child.join(WAIT)
    assert child.exitcode == 0


def test_per_name_caches_hold_a_bounded_number_of_bytes(
    tmp_path: Path, spawn: Any, queue: Any, ipc: Callable[[str], str], push: Any
) -> None:
    # 300 distinct 1 MiB names, let through by a raised name limit, reach both the
    # dispatcher's and the contracts' caches: they took RSS from 45 to 416 MB.
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "big.*.json").write_text(json.dumps({"type": "integer"}))
    endpoint = ipc("caches")
    options = {
        "socket_type": "PULL",
        "bind": endpoint,
        "max_name_bytes": 2 * MIB,
        "schemas": str(tmp_path / "contracts"),
        "socket_options": {"RCVHWM": 10},  # at most ~10 names queued at a time
    }
    child = spawn(serve, options, "blocking", queue)
    take(queue, "ready")
    sender = push(endpoint)
    sender.send_multipart([b"big.warm", b"1"])
    assert take(queue, "fired")[1] == "big.warm"
    before = resident_mb(child.pid)
    for index in range(300):
        sender.send_multipart([b"big.%d." % index + b"n" * MIB, b"1"])
        assert take(queue, "fired")[1].startswith(f"big.{index}.")
    growth = resident_mb(child.pid) - before
    print(f"caches: RSS {before:.0f} MB + {growth:.1f} MB after 300 names of 1 MiB")
    assert growth < 100, f"RSS grew by {growth:.0f} MB after 300 names of 1 MiB"
    sender.send_multipart([STOP.encode()])
    assert take(queue, "fired")[1] == STOP
    stats = take(queue, "stopped")[1]
    assert (stats["fired"], stats["schema_errors"]) == (302, 0)
    child.join(WAIT)
    assert child.exitcode == 0
