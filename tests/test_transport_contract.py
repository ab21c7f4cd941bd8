"""The transport contract as the core enforces it: declared sides, the listeners'
refusal of a side a transport lacks, the zmq sockets behind the Protocols, the
deprecated ``address`` names, and pyzmq errors mapped at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import zeroevents_core
from zeroevents_core import (
    AsyncEventListener,
    ConfigurationError,
    Control,
    Dispatcher,
    EventListener,
    Message,
    SendError,
    TransportClosed,
    TransportError,
    hookimpl,
)
from zeroevents_core.transports import AsyncEventSocket, EventSocket, Poller, Transport
from zeroevents_core.transports.zmq import ZmqTransport


class BlockingOnly(ZmqTransport):
    name = "zmq-blocking-only"
    supports_async = False


class AsyncOnly(ZmqTransport):
    name = "zmq-async-only"
    supports_sync = False


class Sides:
    @hookimpl
    def register_transports(self, register: Any) -> None:
        register(BlockingOnly)
        register(AsyncOnly)


@pytest.fixture
def sides() -> Iterator[None]:
    plugin = Sides()
    zeroevents_core.register_plugin(plugin, name="sides")
    try:
        yield
    finally:
        zeroevents_core.unregister_plugin(plugin)


def test_a_listener_refuses_a_side_its_transport_lacks(sides: None, tmp_path: Path) -> None:
    where = f"ipc://{tmp_path}/x.ipc"
    with pytest.raises(ConfigurationError, match="'zmq-async-only' has no blocking sockets"):
        EventListener({"transport": "zmq-async-only", "connect": where})
    with pytest.raises(ConfigurationError, match="'zmq-blocking-only' has no asyncio sockets"):
        AsyncEventListener({"transport": "zmq-blocking-only", "connect": where})
    # The side each does have is taken.
    EventListener({"transport": "zmq-blocking-only", "connect": where}).close()
    AsyncEventListener({"transport": "zmq-async-only", "connect": where})


def test_a_transport_class_must_implement_the_sides_it_declares() -> None:
    with pytest.raises(TypeError, match="supports_async but does not implement open_async"):

        class Half(Transport):
            name = "half"
            supports_async = True

            def dead_letter_options(self, value: Any) -> Any:
                return value

            def open_socket(self, options: Any, dispatcher: Any) -> Any:
                return None

            def poller(self, sockets: Any) -> Any:
                return None

            def close_socket(self, socket: Any, options: Any) -> None:
                return None


def test_a_side_left_out_is_refused_naming_the_transport() -> None:
    class ListenOnly(Transport):
        name = "listen-only"
        supports_sync = False

        def dead_letter_options(self, value: Any) -> Any:
            return value

    with pytest.raises(ConfigurationError, match="'listen-only' has no blocking sockets"):
        ListenOnly().open_socket({}, Dispatcher())


def test_the_zmq_sockets_and_poller_follow_the_protocols(tmp_path: Path) -> None:
    options = {"bind": f"ipc://{tmp_path}/x.ipc", "socket_type": "PULL"}
    with EventListener(options, Dispatcher()) as listener:
        socket = listener.socket()
        assert isinstance(socket, EventSocket)
        poller = listener.transport.poller([socket])
        try:
            assert isinstance(poller, Poller)
            assert poller.signal_fd is not None
            poller.wake()  # kept for the poll that comes next
            assert poller.poll(-1) == []
        finally:
            poller.close()
    assert repr(listener).endswith(f"zmq ipc://{tmp_path}/x.ipc>")


@pytest.mark.asyncio
async def test_the_zmq_asyncio_socket_follows_its_protocol(tmp_path: Path) -> None:
    options = {"bind": f"ipc://{tmp_path}/x.ipc", "socket_type": "PULL"}
    listener = AsyncEventListener(options, Dispatcher())
    try:
        assert isinstance(listener.socket(), AsyncEventSocket)
    finally:
        await listener.aclose()


def test_library_traffic_is_told_apart_by_the_socket(tmp_path: Path) -> None:
    with EventListener({"bind": f"ipc://{tmp_path}/x.ipc"}, Dispatcher()) as dealer:
        socket = dealer.socket()
        assert socket.control(Message("zeroevents.flush", [])) is Control.ANSWER
        assert socket.control(Message("zeroevents.confirmed", ["x"])) is Control.UNSOLICITED
        assert socket.control(Message("zeroevents.hello", ["t", "u"])) is Control.HANDLED


def test_reply_to_keeps_its_deprecated_name_address() -> None:
    message = Message("e", [1], b"peer")
    assert message.reply_to == message.address == b"peer"
    assert repr(Message("e", [])) == "Message(event='e', payload=[], reply_to=None)"


def test_a_closed_socket_raises_a_transport_error_not_pyzmq_s(tmp_path: Path) -> None:
    listener = EventListener({"bind": f"ipc://{tmp_path}/x.ipc", "socket_type": "PULL"})
    socket = listener.socket()
    listener.close()
    with pytest.raises(TransportClosed, match="cannot receive: the socket is closed"):
        socket.recv_ready()
    assert issubclass(TransportClosed, TransportError)


def test_a_dead_letter_that_cannot_go_raises_a_send_error(tmp_path: Path) -> None:
    # A PUSH with no peer (IMMEDIATE: no queue before one) and no send timeout.
    options = {
        "connect": f"ipc://{tmp_path}/nobody.ipc",
        "socket_type": "PUSH",
        "socket_options": {"SNDTIMEO": 0, "IMMEDIATE": 1},
        "flush_on_close": False,
    }
    with (
        EventListener(options, Dispatcher()) as dead,
        pytest.raises(SendError, match="cannot forward 'e'"),
    ):
        dead.socket().forward(Message("e", [1]))


def test_the_0x_import_paths_still_work() -> None:
    # Public names of 0.x, moved with ZeroMQ into its transport package.
    import zeroevents_core.aio
    import zeroevents_core.transports.zmq as zmq_transport

    assert zeroevents_core.EventSocket is zmq_transport.EventSocket
    assert zeroevents_core.AsyncEventSocket is zmq_transport.AsyncEventSocket
    assert zeroevents_core.aio.AsyncEventSocket is zmq_transport.AsyncEventSocket
    assert zeroevents_core.aio.ZmqAsyncPoller is zmq_transport.ZmqAsyncPoller
    assert isinstance(zmq_transport.SOCKET_TYPES["DEALER"], int)
