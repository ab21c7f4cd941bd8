"""Byte-level compatibility with the PHP original (wire-format.md).

The frames below are built by hand exactly as the original's EventSocket::push
builds them (name, then one json_encode(..., JSON_UNESCAPED_SLASHES |
JSON_UNESCAPED_UNICODE) frame per argument); raw pyzmq sockets stand in for PHP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import procs
import pytest
import zmq
from procs import take
from vectors import FRAMES, VALUES

from zeroevents_core import Dispatcher, EventSocket, Message

# Every test twice: the json serializer on orjson, and on the stdlib alone.
pytestmark = pytest.mark.usefixtures("json_mode")
PHP_FRAMES = FRAMES
STOP = b"zeroevents.service.stop"
FAST = {"LINGER": 3000, "SNDTIMEO": 10000, "RCVTIMEO": 10000}


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


def raw(context: zmq.Context[Any], socket_type: int) -> zmq.Socket[Any]:
    socket = context.socket(socket_type)
    socket.setsockopt(zmq.LINGER, 1000)
    socket.setsockopt(zmq.RCVTIMEO, 10000)
    socket.setsockopt(zmq.SNDTIMEO, 10000)
    return socket


def test_php_message_is_received_and_fired_by_a_service(
    context: zmq.Context[Any], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("php-in")
    options = {"socket_type": "PULL", "bind": endpoint, "socket_options": FAST}
    child = spawn(procs.serve, options, queue, ("event",))
    take(queue, "ready")
    php = raw(context, zmq.PUSH)
    php.connect(endpoint)
    php.send_multipart(PHP_FRAMES)
    php.send_multipart([STOP])
    report = take(queue, "event")
    assert report == ("event", "event", VALUES)
    assert type(report[2][2]) is bool and type(report[2][1]) is int
    _, stats, _ = take(queue, "stopped")
    assert stats["decode_errors"] == 0
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_php_message_to_a_router_reports_the_address(context: zmq.Context[Any]) -> None:
    router = EventSocket(context, zmq.ROUTER, dispatcher=Dispatcher())
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 10000)
    router.bind("tcp://127.0.0.1:*")
    php = raw(context, zmq.DEALER)
    php.setsockopt(zmq.ROUTING_ID, b"php-worker")
    php.connect(router.get(zmq.LAST_ENDPOINT).decode())
    php.send_multipart(PHP_FRAMES)
    fired: list[tuple[Any, ...]] = []
    router.dispatcher.listen("event", lambda *payload: fired.append(payload) or "done")
    assert router.pull_and_fire() == "done"
    assert fired == [tuple(VALUES)]
    php.send_multipart(PHP_FRAMES[:3])
    assert router.pull() == Message("event", VALUES[:2], b"php-worker")


@pytest.mark.parametrize("socket_type", ["PUSH", "DEALER"])
def test_what_python_sends_is_byte_identical(
    socket_type: str, context: zmq.Context[Any], spawn: Any, queue: Any
) -> None:
    # Captured with raw sockets: a PULL, or a ROUTER (address frame, then the event).
    capture = raw(context, zmq.PULL if socket_type == "PUSH" else zmq.ROUTER)
    capture.bind("tcp://127.0.0.1:*")
    endpoint = capture.get(zmq.LAST_ENDPOINT).decode()
    options = {"socket_type": socket_type, "connect": endpoint, "socket_options": FAST}
    # Through the whole sending path: dispatcher.fire -> EventListener -> socket.
    child = spawn(procs.forward, options, [("my.events.php", VALUES)], queue)
    frames = capture.recv_multipart()
    if socket_type == "DEALER":
        frames = frames[1:]  # the address the ROUTER added
    assert frames == [b"my.events.php", *PHP_FRAMES[1:]]
    assert take(queue, "fired") == ("fired", "my.events.php", [True])
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_push_encodes_the_php_frames_in_this_process(context: zmq.Context[Any]) -> None:
    pull = raw(context, zmq.PULL)
    pull.bind("inproc://php-out")
    push = EventSocket(context, zmq.PUSH, dispatcher=Dispatcher())
    push.setsockopt(zmq.LINGER, 0)
    push.connect("inproc://php-out")
    assert push.push("event", VALUES) is True
    assert push.push("event") is True
    assert pull.recv_multipart() == PHP_FRAMES
    assert pull.recv_multipart() == [b"event"]
