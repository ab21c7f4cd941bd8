"""The ``memory`` transport's own rules, at the socket level: names bound once,
connects that wait for the bind, bounded queues, flush and close, fan-in, replies
to the sender, pollers woken from threads and signals, the asyncio side.

What every transport must do with a service and a listener is in the shared suite
(tests/test_transport_*.py); this file holds what only the memory transport
promises (its module docstring)."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zeroevents_core import ConfigurationError, Dispatcher, EventListener, EventService, Message
from zeroevents_core.errors import SendError, TransportClosed
from zeroevents_core.listener import resolve_options
from zeroevents_core.plugins import get_transport
from zeroevents_core.transports import AsyncPoller, Poller
from zeroevents_core.transports.memory import MemoryTransport

PUSH_ERROR = "zeroevents.push.error"
_names = itertools.count()


@pytest.fixture
def name() -> str:
    return f"memory://test-memory-{os.getpid()}-{next(_names)}"


class Link:
    """Sockets opened on the memory transport; all closed at teardown."""

    def __init__(self) -> None:
        self.transport = get_transport("memory")
        self.dispatcher = Dispatcher()
        self.failed: list[tuple[str, list[Any]]] = []
        self.dispatcher.listen(PUSH_ERROR, self._push_failed)
        self.opened: list[tuple[Any, dict[str, Any]]] = []

    def _push_failed(self, socket: Any, event: str, payload: Any, reply_to: Any) -> str:
        self.failed.append((event, list(payload)))
        return "push failed"

    def open(self, **options: Any) -> Any:
        _, checked = resolve_options({"transport": "memory", **options})
        socket = self.transport.open_socket(checked, self.dispatcher)
        self.opened.append((socket, checked))
        return socket

    def close(self, socket: Any) -> int:
        for index, (opened, options) in enumerate(self.opened):
            if opened is socket:
                del self.opened[index]
                return self.transport.close_socket(socket, options) or 0
        raise AssertionError(f"{socket!r} was not opened here")

    def close_all(self) -> None:
        while self.opened:
            socket, options = self.opened.pop()
            self.transport.close_socket(socket, {**options, "flush_on_close": False})


@pytest.fixture
def link() -> Iterator[Link]:
    made = Link()
    yield made
    made.close_all()


def test_memory_is_a_built_in_transport_with_both_sides() -> None:
    transport = get_transport("memory")
    assert isinstance(transport, MemoryTransport)
    assert transport.supports_sync and transport.supports_async


def test_a_name_bound_twice_is_a_configuration_error_naming_it(link: Link, name: str) -> None:
    link.open(bind=name)
    with pytest.raises(ConfigurationError, match=f"cannot bind {name}: already bound"):
        link.open(bind=name)


def test_closing_frees_the_name(link: Link, name: str) -> None:
    link.close(link.open(bind=name))
    link.open(bind=name)


def test_a_partly_failed_bind_frees_the_names_it_took(link: Link, name: str) -> None:
    link.open(bind=name)
    with pytest.raises(ConfigurationError, match="already bound"):
        link.open(bind=[name + "-free", name])
    link.open(bind=name + "-free")  # taken only if the failed socket kept it


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"bind": "tcp://127.0.0.1:5555"}, "option 'bind': malformed endpoint"),
        ({"connect": "memory://"}, "option 'connect': malformed endpoint"),
        ({}, "options 'bind' and 'connect' are both empty"),
        ({"bind": "memory://x", "max_queued": 0}, "option 'max_queued'"),
        ({"bind": "memory://x", "send_timeout_ms": -2}, "option 'send_timeout_ms'"),
        ({"bind": "memory://x", "flush_on_close": 1}, "option 'flush_on_close'"),
        ({"bind": "memory://x", "socket_type": "PUSH"}, "unknown option 'socket_type'"),
    ],
)
def test_wrong_options_are_named(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        EventListener({"transport": "memory", **options})


def test_a_connect_before_the_bind_waits_for_it(link: Link, name: str) -> None:
    sender = link.open(connect=name, send_timeout_ms=30000)
    pushed: list[Any] = []
    pushing = threading.Thread(target=lambda: pushed.append(sender.push("early", [1])))
    pushing.start()
    receiver = link.open(bind=name)
    pushing.join(60)
    assert pushed == [True]
    assert receiver.message(receiver.recv_ready()) == ("early", [1], sender.inbox)


def test_a_push_with_no_receiver_fires_push_error_after_the_send_timeout(
    link: Link, name: str
) -> None:
    sender = link.open(connect=name, send_timeout_ms=50)
    assert sender.push("lost", [1]) == "push failed"
    assert link.failed == [("lost", [1])]


def test_a_full_queue_makes_the_push_wait_then_fail(link: Link, name: str) -> None:
    receiver = link.open(bind=name, max_queued=2)
    sender = link.open(connect=name, send_timeout_ms=50)
    assert [sender.push("e", [n]) for n in range(3)] == [True, True, "push failed"]
    assert link.failed == [("e", [2])]
    assert len(receiver.inbox.items) == 2  # bounded: the third never queued


def test_a_waiting_push_goes_once_the_receiver_takes_one(link: Link, name: str) -> None:
    receiver = link.open(bind=name, max_queued=1)
    sender = link.open(connect=name, send_timeout_ms=30000)
    sender.push("first")
    pushed: list[Any] = []
    pushing = threading.Thread(target=lambda: pushed.append(sender.push("second")))
    pushing.start()
    assert receiver.message(receiver.recv_ready()).event == "first"
    pushing.join(60)
    assert pushed == [True]
    assert receiver.message(receiver.recv_ready()).event == "second"


def test_many_connectors_fan_in_to_one_binder(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    senders = [link.open(connect=name) for _ in range(3)]
    for number, sender in enumerate(senders):
        sender.push("from", [number])
    got = [receiver.message(receiver.recv_ready()) for _ in senders]
    assert [m.payload for m in got] == [[0], [1], [2]]
    assert [m.reply_to for m in got] == [s.inbox for s in senders]


def test_a_reply_goes_to_the_sender_it_names(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    first, second = link.open(connect=name), link.open(connect=name)
    first.push("hello", ["first"])
    second.push("hello", ["second"])
    for _ in range(2):
        message = receiver.message(receiver.recv_ready())
        assert receiver.push("reply", message.payload, message.reply_to) is True
    assert first.message(first.recv_ready()).payload == ["first"]
    assert second.message(second.recv_ready()).payload == ["second"]


def test_a_reply_to_something_else_is_refused(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    with pytest.raises(ConfigurationError, match="reply_to of 'reply'"):
        receiver.push("reply", [], b"zmq-address")


def test_confirmed_push_returns_the_confirmation(link: Link, name: str) -> None:
    receiver = link.open(bind=name, confirmed=True)
    sender = link.open(connect=name, confirmed=True)
    pulled: list[Any] = []
    pulling = threading.Thread(target=lambda: pulled.append(receiver.pull()))
    pulling.start()
    reply = sender.push("order.placed", [{"id": 7}])
    pulling.join(60)
    assert isinstance(reply, Message)
    assert (reply.event, reply.payload) == ("zeroevents.confirmed", ["order.placed"])
    assert pulled[0][:2] == ("order.placed", [{"id": 7}])


def test_confirmed_push_without_an_answer_fires_push_error(link: Link, name: str) -> None:
    link.open(bind=name)  # takes it, never answers
    sender = link.open(connect=name, confirmed=True, receive_timeout_ms=50)
    assert sender.push("unanswered") == "push failed"


def test_undecodable_frames_are_a_decode_error_with_the_frame_index(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    sender = link.open(connect=name)
    assert sender.send_frames([b"bad", b"{not json"])
    with pytest.raises(Exception, match="cannot decode frame 1") as caught:
        receiver.pull()
    assert caught.value.frame == 1  # type: ignore[attr-defined]


def test_the_limits_of_the_codec_hold(link: Link, name: str) -> None:
    receiver = link.open(bind=name, max_frames=3)
    sender = link.open(connect=name)
    sender.push("many", [1, 2, 3])
    with pytest.raises(Exception, match="option 'max_frames'"):
        receiver.pull()


def test_flush_waits_until_the_receiver_took_everything(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    sender = link.open(connect=name)
    for number in range(5):
        sender.push("e", [number])
    assert sender.flush(0) is False

    def take_later() -> None:
        time.sleep(0.2)  # so that the flush below has to wait for the takes
        for _ in range(5):
            receiver.pull()

    taking = threading.Thread(target=take_later)
    taking.start()
    assert sender.flush(30000) is True
    assert not receiver.inbox.items  # it returned once all five were taken
    taking.join(60)


def test_close_reports_what_the_receiver_did_not_take(
    link: Link, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    link.open(bind=name)
    sender = link.open(connect=name, flush_timeout_ms=20)
    for number in range(3):
        sender.push("e", [number])
    with caplog.at_level(logging.WARNING, "zeroevents_core.transports"):
        assert link.close(sender) == 3
    assert f"closing the memory socket on {name} (flushed for 20 ms): 3 events sent" in caplog.text


def test_a_receiver_closing_drops_what_it_had_not_taken_and_tells_the_sender(
    link: Link, name: str
) -> None:
    receiver = link.open(bind=name)
    sender = link.open(connect=name, flush_timeout_ms=0)
    sender.push("e", [1])
    link.close(receiver)
    assert sender.flush(0) is False
    assert link.close(sender) == 1


def test_a_closed_socket_refuses_use(link: Link, name: str) -> None:
    socket = link.open(bind=name)
    link.close(socket)
    with pytest.raises(TransportClosed, match=name):
        socket.push("late")
    with pytest.raises(TransportClosed, match=name):
        socket.recv_ready()


def test_forward_without_receiver_is_a_send_error(link: Link, name: str) -> None:
    sender = link.open(connect=name, send_timeout_ms=20)
    with pytest.raises(SendError, match="option 'send_timeout_ms'"):
        sender.forward(Message("dead", [1]))


def test_the_poller_returns_ready_sockets_and_wakes_from_a_thread(link: Link, name: str) -> None:
    receiver = link.open(bind=name)
    sender = link.open(connect=name)
    poller = link.transport.poller([receiver])
    try:
        assert isinstance(poller, Poller)
        assert poller.poll(0) == []
        threading.Timer(0.05, sender.push, ("late",)).start()
        assert poller.poll(-1) == [receiver]
        receiver.recv_ready()
        threading.Timer(0.05, poller.wake).start()
        assert poller.poll(-1) == []
    finally:
        poller.close()


def test_the_poller_wakes_on_a_signal_through_its_signal_fd(link: Link) -> None:
    """The service's way: signal_fd given to signal.set_wakeup_fd, a handler that
    wakes the poller; SIGTERM sent to this process while poll waits for ever."""
    receiver = link.open(bind=f"memory://signal-{os.getpid()}")
    poller = link.transport.poller([receiver])
    assert poller.signal_fd is not None
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: poller.wake())
    previous_fd = signal.set_wakeup_fd(poller.signal_fd, warn_on_full_buffer=False)
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
        assert poller.poll(-1) == []
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        poller.close()
    poller.wake()  # after close: nothing written anywhere, nothing raised


def test_asyncio_sockets_push_pull_confirm_and_poll(link: Link, name: str) -> None:
    transport = link.transport
    dispatcher = Dispatcher()
    _, receive = resolve_options({"transport": "memory", "bind": name, "confirmed": True})
    _, send = resolve_options({"transport": "memory", "connect": name, "confirmed": True})

    async def main() -> None:
        receiver = transport.open_async_socket(receive, dispatcher)
        sender = transport.open_async_socket(send, dispatcher)
        poller = transport.async_poller([receiver])
        try:
            assert isinstance(poller, AsyncPoller)
            pulled = asyncio.ensure_future(receiver.pull())
            reply = await sender.push("async.event", [1])
            assert (reply.event, reply.payload) == ("zeroevents.confirmed", ["async.event"])
            assert (await pulled)[:2] == ("async.event", [1])
            loop = asyncio.get_running_loop()
            threading.Timer(0.05, poller.wake).start()  # from another thread
            assert await poller.poll(-1) == []
            loop.call_later(0.05, lambda: asyncio.ensure_future(sender.push("x")))
            sender.confirmed = False
            assert await poller.poll(-1) == [receiver]
            assert receiver.message(receiver.recv_ready()).event == "x"
        finally:
            poller.close()
            assert await transport.close_async_socket(sender, send) == 0
            await transport.close_async_socket(receiver, receive)

    asyncio.run(main())


def test_a_blocking_sender_and_an_asyncio_receiver_share_a_link(link: Link, name: str) -> None:
    transport = link.transport
    _, receive = resolve_options({"transport": "memory", "bind": name})

    async def main() -> list[Any]:
        receiver = transport.open_async_socket(receive, Dispatcher())
        try:
            sender = link.open(connect=name)
            pushing = threading.Thread(target=lambda: [sender.push("t", [n]) for n in range(50)])
            pushing.start()
            got = [(await receiver.pull()).payload[0] for _ in range(50)]
            pushing.join(60)
            return got
        finally:
            await transport.close_async_socket(receiver, receive)

    assert asyncio.run(main()) == list(range(50))


def test_every_option_is_documented_with_its_default() -> None:
    page = (Path(__file__).parent.parent / "docs" / "configuration.md").read_text()
    sections = [
        page.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
        for title in ("Options of the memory transport", "Delivery (wire v2)")
    ]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", "".join(sections), re.MULTILINE)
    documented = {key: default.replace('"', "'") for key, default in rows}
    assert documented == {key: repr(value) for key, value in MemoryTransport.defaults.items()}


def test_the_demo_which_runs_two_processes_refuses_it() -> None:
    from zeroevents_core import ZeroEventsError, demo

    with pytest.raises(ZeroEventsError, match="--transport memory: it links the threads of one"):
        demo.run(events=30, transport="memory", out=io.StringIO())


def test_a_closing_receiver_does_not_wait_for_its_confirmations_to_be_read(
    link: Link, name: str
) -> None:
    receiver = link.open(bind=name, confirmed=True, flush_timeout_ms=200)
    sender = link.open(connect=name, confirmed=True, receive_timeout_ms=0)
    assert sender.push("late") == "push failed"  # gave up before the answer
    assert receiver.pull().event == "late"  # answered now: nobody will read it
    assert link.close(receiver) == 0


def test_one_service_receives_on_two_names(name: str) -> None:
    dispatcher = Dispatcher()
    got: list[tuple[Any, ...]] = []
    done = threading.Event()

    def record(*payload: Any) -> None:
        got.append(payload)
        if len(got) == 2:
            done.set()

    dispatcher.listen("orders.*", record)
    service = EventService(dispatcher).poll_timeout(50)
    for suffix in ("-a", "-b"):
        listener = EventListener({"transport": "memory", "bind": name + suffix}, dispatcher)
        listener.socket()
        service.listen(listener)
    serving = threading.Thread(target=service.run)
    serving.start()
    try:
        for suffix in ("-b", "-a"):
            with EventListener({"transport": "memory", "connect": name + suffix}) as sender:
                sender.socket().push("orders.created", [suffix])
        assert done.wait(60)
    finally:
        service.stop()
        serving.join(60)
    assert sorted(got) == [("-a",), ("-b",)]
