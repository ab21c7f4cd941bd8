"""EventSocket: the twins of the original's EventSocket tests, on real sockets.

Two-process cases run the other end in a spawned child (``procs``); in-process
cases use real sockets over inproc://, ipc:// or tcp://127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import procs
import pytest
import zmq
from procs import take
from vectors import FRAMES, VALUES

from zeroevents_core import (
    ConfigurationError,
    DecodeError,
    Dispatcher,
    EventSocket,
    Message,
    UnknownPluginError,
)

CONFIRMED = "zeroevents.confirmed"
PUSH_ERROR = "zeroevents.push.error"
PULL_ERROR = "zeroevents.pull.error"

# Options of a socket in a child process: quick to fail, slow enough for a busy machine.
TIMEOUTS = {"LINGER": 3000, "SNDTIMEO": 10000, "RCVTIMEO": 10000}


@pytest.fixture
def context() -> Iterator[zmq.Context[Any]]:
    ctx: zmq.Context[Any] = zmq.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def make(context: zmq.Context[Any]) -> Iterator[Callable[..., EventSocket]]:
    """``make(socket_type, rcvtimeo=..., sndtimeo=..., **kwargs)``: an EventSocket
    with a private dispatcher and short timeouts, closed at teardown (sockets made
    by calling the class are not tracked by ``Context.destroy``)."""
    made: list[EventSocket] = []

    def socket(
        socket_type: int, *, rcvtimeo: int = 10000, sndtimeo: int = 10000, **kwargs: Any
    ) -> EventSocket:
        kwargs.setdefault("dispatcher", Dispatcher())
        sock = EventSocket(context, socket_type, **kwargs)
        made.append(sock)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, rcvtimeo)
        sock.setsockopt(zmq.SNDTIMEO, sndtimeo)
        return sock

    yield socket
    for sock in made:
        sock.close(linger=0)


def bind_tcp(socket: zmq.Socket[Any]) -> str:
    socket.bind("tcp://127.0.0.1:*")
    return str(socket.get(zmq.LAST_ENDPOINT).decode())


# --- encode / decode / flags (the original's vectors) ---------------------------------


def test_encode_writes_the_originals_bytes(make: Callable[..., EventSocket]) -> None:
    assert make(zmq.PUSH).encode("event", VALUES) == FRAMES


def test_encode_without_payload_is_the_name_frame_only(make: Callable[..., EventSocket]) -> None:
    assert make(zmq.PUSH).encode("orders.created") == [b"orders.created"]


def test_decode_reads_the_originals_bytes(make: Callable[..., EventSocket]) -> None:
    event, payload = make(zmq.PULL).decode(FRAMES[:-1])
    assert (event, payload) == ("event", VALUES[:-1])
    assert make(zmq.PULL).decode(FRAMES) == ("event", VALUES)


def test_decode_errors_name_the_frame(make: Callable[..., EventSocket]) -> None:
    pull = make(zmq.PULL)
    with pytest.raises(DecodeError) as name:
        pull.decode([b"\xff\xfe", b"1"])
    assert name.value.frame == 0
    with pytest.raises(DecodeError) as value:
        pull.decode([b"event", b"1", b"{not json"])
    assert value.value.frame == 2
    assert value.value.serializer == "json"
    with pytest.raises(DecodeError) as empty:
        pull.decode([b""])
    assert empty.value.frame == 0


def test_router_message_errors_count_the_address_frame(make: Callable[..., EventSocket]) -> None:
    router = make(zmq.ROUTER)
    assert router.message([b"peer", b"event", b"[1]"]) == Message("event", [[1]], b"peer")
    with pytest.raises(DecodeError) as address_only:
        router.message([b"peer"])
    assert address_only.value.frame == 1
    with pytest.raises(DecodeError) as bad_value:
        router.message([b"peer", b"event", b"1", b"nope"])
    assert bad_value.value.frame == 3


def test_confirmed_flag_get_and_set(make: Callable[..., EventSocket]) -> None:
    socket = make(zmq.DEALER)
    assert socket.confirmed is False
    socket.confirmed = True
    assert socket.confirmed is True
    assert make(zmq.DEALER, confirmed=True).confirmed is True
    # Still a real zmq socket: the attribute did not become a socket option.
    assert socket.get(zmq.TYPE) == zmq.DEALER


def test_serializer_by_name(make: Callable[..., EventSocket]) -> None:
    socket = make(zmq.PUSH, serializer="string", accept=["string", "json"])
    assert socket.serializer.name == "string"
    socket.serializer = "json"
    assert socket.serializer.name == "json"
    assert socket.encode("e", [[1]]) == [b"e", b"[1]"]


def test_a_socket_takes_only_the_serializers_it_accepts(
    make: Callable[..., EventSocket],
) -> None:
    # hexjson comes from the test plugin's entry point: a third party's serializer.
    socket = make(zmq.PULL)  # accepts only its own, json
    with pytest.raises(ConfigurationError, match="accept list"):
        socket.serializer = "hexjson"
    assert socket.serializer.name == "json"
    with pytest.raises(ConfigurationError, match="'hexjson' is not in"):
        make(zmq.PULL, serializer="hexjson", accept=["json"])
    assert make(zmq.PULL, serializer="hexjson").serializer.name == "hexjson"
    with pytest.raises(UnknownPluginError, match="'pickle'"):
        make(zmq.PULL, accept=["json", "pickle"])


# --- push / pull between two processes -------------------------------------------------


def test_push_pull_between_two_processes_over_ipc(
    make: Callable[..., EventSocket], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("pushpull")
    pull = make(zmq.PULL)
    pull.bind(endpoint)
    events = [("orders.created", [{"id": 7, "total": 9.5}]), ("ping", []), ("x", ["при/вет", None])]
    options = {"socket_type": "PUSH", "connect": endpoint, "socket_options": TIMEOUTS}
    child = spawn(procs.push, options, events, queue)
    received = [pull.pull() for _ in events]
    assert received == [Message(event, payload, None) for event, payload in events]
    for event, _ in events:
        assert take(queue, "pushed") == ("pushed", event, True)
    child.join(procs.WAIT)
    assert child.exitcode == 0


@pytest.mark.parametrize("socket_type", ["DEALER", "PAIR"])
def test_confirmed_push_returns_the_confirmation(
    socket_type: str,
    make: Callable[..., EventSocket],
    spawn: Any,
    queue: Any,
    ipc: Callable[[str], str],
) -> None:
    endpoint = ipc("confirmed")
    sender = make(getattr(zmq, socket_type), confirmed=True)
    sender.bind(endpoint)
    options = {
        "socket_type": socket_type,
        "connect": endpoint,
        "confirmed": True,
        "socket_options": TIMEOUTS,
    }
    child = spawn(procs.pull, options, 2, queue)
    take(queue, "ready")
    assert sender.push("first", [1, "a"]) == Message(CONFIRMED, ["first"], None)
    assert sender.push("second") == Message(CONFIRMED, ["second"], None)
    assert take(queue, "pulled") == ("pulled", ("Message", "first", [1, "a"], None))
    assert take(queue, "pulled") == ("pulled", ("Message", "second", [], None))
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_dealer_router_confirmed_with_router_addressing(
    make: Callable[..., EventSocket], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("router")
    options = {"socket_type": "ROUTER", "bind": endpoint, "confirmed": True}
    options["socket_options"] = TIMEOUTS
    child = spawn(procs.router_echo, options, queue)
    take(queue, "ready")
    dealer = make(zmq.DEALER, confirmed=True)
    dealer.setsockopt(zmq.ROUTING_ID, b"dealer-1")
    dealer.connect(endpoint)
    # The ROUTER reports the dealer's address and confirms to it.
    assert dealer.push("hello", ["x"]) == Message(CONFIRMED, ["hello"], None)
    assert take(queue, "pulled") == ("pulled", ("Message", "hello", ["x"], b"dealer-1"))
    # The ROUTER pushes to that address; the dealer's pull confirms back to the ROUTER.
    assert dealer.pull() == Message("reply", ["hello", "x"], None)
    reply = take(queue, "pushed")
    assert reply == ("pushed", "reply", ("Message", CONFIRMED, ["reply"], b"dealer-1"))
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_confirmed_push_without_a_confirmation_fires_push_error(
    context: zmq.Context[Any], make: Callable[..., EventSocket]
) -> None:
    silent = context.socket(zmq.DEALER)
    silent.setsockopt(zmq.LINGER, 0)
    endpoint = bind_tcp(silent)
    sender = make(zmq.DEALER, confirmed=True, rcvtimeo=200)
    errors: list[tuple[Any, ...]] = []
    sender.dispatcher.listen(PUSH_ERROR, lambda *args: errors.append(args) or "no reply")
    sender.connect(endpoint)
    assert sender.push("unanswered", [1]) == "no reply"
    assert errors == [(sender, "unanswered", [1], None)]
    assert silent.recv_multipart() == [b"unanswered", b"1"]


# --- pull_and_fire, push and pull errors ------------------------------------------------


def test_pull_and_fire_returns_the_first_response(make: Callable[..., EventSocket]) -> None:
    push, pull = make(zmq.PUSH), make(zmq.PULL)
    pull.bind("inproc://pull-and-fire")
    push.connect("inproc://pull-and-fire")
    calls: list[tuple[Any, ...]] = []
    pull.dispatcher.listen("sum", lambda *args: calls.append(args))  # returns None: skipped
    pull.dispatcher.listen("sum", lambda a, b: a + b)
    push.push("sum", [2, 3])
    assert pull.pull_and_fire() == 5
    assert calls == [(2, 3)]
    other = Dispatcher()
    other.listen("sum", lambda a, b: f"{a}-{b}")
    push.push("sum", [4, 5])
    assert pull.pull_and_fire(other) == "4-5"
    assert calls == [(2, 3)]


def test_push_error_without_a_peer(make: Callable[..., EventSocket]) -> None:
    push = make(zmq.PUSH, sndtimeo=100)
    push.setsockopt(zmq.IMMEDIATE, 1)  # queue nothing for peers not yet connected
    push.connect("tcp://127.0.0.1:1")  # nobody there: the send times out
    assert push.push("lost", [1]) is None  # no listener: until() answers None
    seen: list[tuple[Any, ...]] = []
    push.dispatcher.listen(PUSH_ERROR, lambda *args: seen.append(args))
    push.dispatcher.listen(PUSH_ERROR, lambda *args: "handled")
    push.dispatcher.listen(PUSH_ERROR, lambda *args: "not reached")
    assert push.push("lost", [1, "two"]) == "handled"
    assert seen == [(push, "lost", [1, "two"], None)]


def test_push_error_on_router_to_an_unknown_address(make: Callable[..., EventSocket]) -> None:
    router = make(zmq.ROUTER)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    bind_tcp(router)
    seen: list[tuple[Any, ...]] = []
    router.dispatcher.listen(PUSH_ERROR, lambda *args: seen.append(args) or "unroutable")
    assert router.push("hello", ["x"], b"nobody") == "unroutable"
    assert seen == [(router, "hello", ["x"], b"nobody")]


def test_pull_error_on_receive_timeout(make: Callable[..., EventSocket]) -> None:
    pull = make(zmq.PULL, rcvtimeo=100)
    bind_tcp(pull)
    assert pull.pull() is None
    seen: list[tuple[Any, ...]] = []
    pull.dispatcher.listen(PULL_ERROR, lambda *args: seen.append(args))
    pull.dispatcher.listen(PULL_ERROR, lambda socket: "timed out")
    assert pull.pull() == "timed out"
    assert pull.pull_and_fire() == "timed out"
    assert seen == [(pull,), (pull,)]


def test_recv_ready_never_blocks(make: Callable[..., EventSocket]) -> None:
    push, pull = make(zmq.PUSH), make(zmq.PULL)
    pull.bind("inproc://ready")
    push.connect("inproc://ready")
    assert pull.recv_ready() is None
    push.push("e", [1])
    assert pull.poll(10000) == zmq.POLLIN
    assert pull.recv_ready() == [b"e", b"1"]
    assert pull.recv_ready() is None


# --- every socket pair over every transport ---------------------------------------------


def endpoint_for(transport: str, socket: zmq.Socket[Any], ipc: Callable[[str], str]) -> str:
    if transport == "tcp":
        return bind_tcp(socket)
    endpoint = ipc("pair") if transport == "ipc" else f"inproc://pair-{id(socket)}"
    socket.bind(endpoint)
    return endpoint


@pytest.mark.parametrize("transport", ["tcp", "ipc", "inproc"])
@pytest.mark.parametrize(
    ("sender_type", "receiver_type"),
    [("PUSH", "PULL"), ("DEALER", "ROUTER"), ("PAIR", "PAIR"), ("PUB", "SUB")],
)
def test_socket_pairs_over_each_transport(
    transport: str,
    sender_type: str,
    receiver_type: str,
    make: Callable[..., EventSocket],
    ipc: Callable[[str], str],
) -> None:
    receiver = make(getattr(zmq, receiver_type))
    sender = make(getattr(zmq, sender_type))
    if receiver_type == "SUB":
        receiver.setsockopt(zmq.SUBSCRIBE, b"")
    endpoint = endpoint_for(transport, receiver, ipc)
    if sender_type == "DEALER":
        sender.setsockopt(zmq.ROUTING_ID, b"sender")
    sender.connect(endpoint)
    if sender_type == "PUB":
        # Slow joiner: publish until the subscription has reached the publisher.
        for _ in range(200):
            assert sender.push("warmup") is True
            if receiver.poll(50):
                break
    assert sender.push("event", [{"n": 1}, "two"]) is True
    expected_address = b"sender" if receiver_type == "ROUTER" else None
    warmups = 0
    while (message := receiver.pull()) == Message("warmup", [], None) and warmups < 200:
        warmups += 1
    assert message == Message("event", [{"n": 1}, "two"], expected_address)
    assert warmups == 0 or sender_type == "PUB"
