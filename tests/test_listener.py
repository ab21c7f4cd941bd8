"""EventListener: lazy sockets, contexts, options (checked when given), forwarding, config."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import procs
import pytest
import zmq
from procs import take

from zeroevents_core import (
    ConfigurationError,
    Dispatcher,
    EventListener,
    EventService,
    EventSocket,
    Message,
    ZeroEventsError,
)

FAST = {"LINGER": 0, "SNDTIMEO": 10000, "RCVTIMEO": 10000}
# A sender that closes right after sending must linger, or what is queued is dropped.
SENDER = {**FAST, "LINGER": 5000}


@pytest.fixture
def listeners() -> Iterator[Callable[..., EventListener]]:
    """``listeners(options)``: an EventListener with a private dispatcher, closed at teardown."""
    made: list[EventListener] = []

    def make(options: dict[str, Any] | str, dispatcher: Dispatcher | None = None) -> EventListener:
        if isinstance(options, dict) and not {"bind", "connect"} & set(options):
            # An endpoint is required; these tests are about something else.
            options = {"connect": f"inproc://nowhere-{len(made)}", **options}
        listener = EventListener(options, dispatcher or Dispatcher())
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.close()


@pytest.fixture
def raw() -> Iterator[Callable[[int], zmq.Socket[Any]]]:
    """``raw(socket_type)``: a plain pyzmq socket (LINGER 0, RCVTIMEO 10 s)."""
    context: zmq.Context[Any] = zmq.Context()

    def make(socket_type: int) -> zmq.Socket[Any]:
        socket = context.socket(socket_type)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, 10000)
        return socket

    yield make
    context.destroy(linger=0)


# --- lazy socket, contexts -----------------------------------------------------------


def test_socket_is_opened_lazily_and_once(
    listeners: Callable[..., EventListener], ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("lazy")
    path = Path(endpoint.removeprefix("ipc://"))
    listener = listeners({"socket_type": "PULL", "bind": endpoint, "socket_options": FAST})
    assert not path.exists()  # nothing bound until the socket is asked for
    socket = listener.socket()
    assert isinstance(socket, EventSocket)
    assert path.exists()
    assert listener.socket() is socket
    assert socket.get(zmq.TYPE) == zmq.PULL
    listener.close()
    assert socket.closed
    assert socket.context.closed  # a private context ends with its socket


def test_persistent_listeners_share_one_context(listeners: Callable[..., EventListener]) -> None:
    first = listeners({"is_persistent": True, "socket_options": FAST})
    second = listeners({"is_persistent": True, "socket_options": FAST})
    shared = first.socket().context
    assert second.socket().context is shared
    first.close()
    assert not shared.closed  # the process-wide context outlives its sockets
    assert not second.socket().closed


def test_non_persistent_listeners_have_their_own_context(
    listeners: Callable[..., EventListener],
) -> None:
    first = listeners({"socket_options": FAST})
    second = listeners({"socket_options": FAST})
    assert first.socket().context is not second.socket().context
    persistent = listeners({"is_persistent": True, "socket_options": FAST})
    assert persistent.socket().context is not first.socket().context


def test_threads_option_sizes_the_context(listeners: Callable[..., EventListener]) -> None:
    listener = listeners({"threads": 2, "socket_options": FAST})
    assert listener.socket().context.get(zmq.IO_THREADS) == 2


# --- options reach the socket -------------------------------------------------------------


def test_connect_with_socket_options_and_several_endpoints(
    listeners: Callable[..., EventListener],
    raw: Callable[[int], zmq.Socket[Any]],
    ipc: Callable[[str], str],
) -> None:
    first, second = raw(zmq.PULL), raw(zmq.PULL)
    first.bind(ipc("first"))
    second.bind("tcp://127.0.0.1:*")
    endpoints = [first.get(zmq.LAST_ENDPOINT).decode(), second.get(zmq.LAST_ENDPOINT).decode()]
    listener = listeners(
        {
            "socket_type": "PUSH",
            "connect": endpoints,
            "socket_options": {"LINGER": 123, "SNDHWM": 77, zmq.RCVTIMEO: 456},
        }
    )
    socket = listener.socket()
    assert socket.getsockopt(zmq.LINGER) == 123
    assert socket.getsockopt(zmq.SNDHWM) == 77
    assert socket.getsockopt(zmq.RCVTIMEO) == 456
    assert socket.getsockopt(zmq.SNDTIMEO) == 2000  # a default kept: merged key by key
    # PUSH deals round-robin over both connections: each endpoint gets its share.
    for n in range(10):
        assert socket.push("n", [n]) is True
    got_first = [first.recv_multipart() for _ in range(5)]
    got_second = [second.recv_multipart() for _ in range(5)]
    numbers = sorted(int(frames[1]) for frames in got_first + got_second)
    assert numbers == list(range(10))


def test_string_socket_option_values_are_encoded(listeners: Callable[..., EventListener]) -> None:
    listener = listeners({"socket_options": {"ROUTING_ID": "me", "LINGER": 0}})
    assert listener.socket().getsockopt(zmq.ROUTING_ID) == b"me"


def test_defaults_are_the_originals(listeners: Callable[..., EventListener]) -> None:
    listener = listeners({})
    assert listener.options["socket_type"] == zmq.DEALER
    assert listener.options["threads"] == 1
    assert listener.options["is_persistent"] is False
    assert listener.options["confirmed"] is False
    assert listener.options["serializer"] == "json"
    socket = listener.socket()
    assert [socket.get(o) for o in (zmq.LINGER, zmq.SNDTIMEO, zmq.RCVTIMEO)] == [2000] * 3


@pytest.mark.parametrize(("mode", "expected"), [(None, 0o600), (0o777, 0o777), (0o660, 0o660)])
def test_ipc_file_mode(
    mode: int | None,
    expected: int,
    listeners: Callable[..., EventListener],
    ipc: Callable[[str], str],
) -> None:
    endpoint = ipc("mode")
    options: dict[str, Any] = {"socket_type": "PULL", "bind": endpoint, "socket_options": FAST}
    if mode is not None:
        options["ipc_mode"] = mode
    listeners(options).socket()
    assert stat.S_IMODE(os.stat(endpoint.removeprefix("ipc://")).st_mode) == expected


def test_wildcard_and_abstract_ipc_endpoints_bind(
    listeners: Callable[..., EventListener], raw: Callable[[int], zmq.Socket[Any]]
) -> None:
    # Neither names a file the listener can chmod: ipc://* makes one, @name is abstract.
    wildcard = listeners({"socket_type": "PULL", "bind": "ipc://*", "socket_options": FAST})
    endpoint = wildcard.socket().get(zmq.LAST_ENDPOINT).decode()
    assert stat.S_IMODE(os.stat(endpoint.removeprefix("ipc://")).st_mode) == 0o600
    name = f"ipc://@zeroevents-test-{os.getpid()}-{id(wildcard)}"
    abstract = listeners({"socket_type": "PULL", "bind": name, "socket_options": FAST})
    pull = abstract.socket()
    push = raw(zmq.PUSH)
    push.connect(name)
    push.send_multipart([b"over", b"1"])
    assert pull.pull() == Message("over", [1], None)


# --- bad options: rejected when given, naming the key or value ----------------------------

BAD_OPTIONS = [
    ({}, "options 'bind' and 'connect' are both empty"),
    ({"bind": [], "connect": []}, "give an endpoint to bind"),
    ({"sockettype": "PUSH"}, "'sockettype'"),
    ({"socket_type": "PUSHH"}, "'PUSHH'"),
    ({"socket_type": 12345}, "12345"),
    ({"serializer": "yaml"}, "'yaml'"),
    ({"serializer": 3}, "'serializer'"),
    ({"transport": "carrier-pigeon"}, "'carrier-pigeon'"),
    ({"connect": "tcp://nohost"}, "'tcp://nohost'"),
    ({"connect": "tcp://127.0.0.1"}, "'tcp://127.0.0.1'"),
    ({"bind": "foo://x"}, "'foo://x'"),
    ({"bind": "127.0.0.1:5555"}, "'127.0.0.1:5555'"),
    ({"connect": 5555}, "'connect'"),
    ({"connect": {"tcp://127.0.0.1:5555": 1}}, "'connect'"),
    ({"connect": ["tcp://127.0.0.1:5555", None]}, "None"),
    ({"socket_options": {"LINGERR": 1}}, "'LINGERR'"),
    ({"socket_options": [("LINGER", 1)]}, "'socket_options'"),
    ({"socket_options": {"LINGER": "soon"}}, "LINGER"),
    ({"socket_options": {"ROUTING_ID": 5}}, "ROUTING_ID"),
    ({"threads": 0}, "'threads'"),
    ({"threads": "2"}, "'threads'"),
    ({"ipc_mode": 0o1777}, "'ipc_mode'"),
    ({"ipc_mode": "0600"}, "'ipc_mode'"),
    ({"confirmed": "yes"}, "'confirmed'"),
    ({"confirmed": 1}, "'confirmed'"),
    ({"socket_type": "SUB", "subscribe": 5}, "'subscribe'"),
    ({"socket_type": "SUB", "subscribe": ["orders.", 3]}, "'subscribe'"),
    ({"socket_type": "PUSH", "subscribe": "orders."}, "'subscribe'"),
]


@pytest.mark.parametrize(("options", "named"), BAD_OPTIONS)
def test_bad_options_are_rejected_at_construction(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        EventListener(options, Dispatcher())
    assert isinstance(error.value, ZeroEventsError)
    assert named in str(error.value)


def test_options_must_be_a_dict_or_a_name() -> None:
    with pytest.raises(ZeroEventsError, match="dict or a connection name"):
        EventListener(["connect"], Dispatcher())  # type: ignore[arg-type]


def test_unusable_endpoint_is_a_configuration_error(
    listeners: Callable[..., EventListener], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such" / "dir.ipc"
    listener = listeners({"socket_type": "PULL", "bind": f"ipc://{missing}"})
    with pytest.raises(ConfigurationError) as raised:
        listener.socket()
    # The endpoint and the reason, not the whole options dict.
    assert str(raised.value).startswith(f"cannot bind ipc://{missing}: ")
    assert "socket_options" not in str(raised.value)


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_tcp_port_outside_the_range_is_refused(port: str) -> None:
    # libzmq would take 99999 modulo 65536 and listen on 34463.
    with pytest.raises(ConfigurationError, match=f"port {port} of 'tcp://127.0.0.1:{port}'"):
        EventListener({"bind": f"tcp://127.0.0.1:{port}"}, Dispatcher())


def test_a_misspelt_option_gets_the_closest_known_one() -> None:
    with pytest.raises(ConfigurationError, match=r"did you mean 'connect' for 'conect'\?"):
        EventListener({"conect": "ipc:///tmp/x.ipc"}, Dispatcher())


# --- forwarding (the original's __invoke) ----------------------------------------------


def test_listener_forwards_the_fired_name_to_another_process(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("forward")
    pull = raw(zmq.PULL)
    pull.bind(endpoint)
    events = [
        ("my.events.one", [1]),
        ("other.event", [2]),
        ("my.events.two", [{"a": "b"}, None]),
        ("my.events.three", []),
    ]
    options = {"socket_type": "PUSH", "connect": endpoint, "socket_options": SENDER}
    child = spawn(procs.forward, options, events, queue)
    assert pull.recv_multipart() == [b"my.events.one", b"1"]
    assert pull.recv_multipart() == [b"my.events.two", b'{"a":"b"}', b"null"]
    assert pull.recv_multipart() == [b"my.events.three"]
    assert take(queue, "fired") == ("fired", "my.events.one", [True])
    assert take(queue, "fired") == ("fired", "other.event", [])
    assert take(queue, "fired") == ("fired", "my.events.two", [True])
    assert take(queue, "fired") == ("fired", "my.events.three", [True])
    child.join(procs.WAIT)
    assert child.exitcode == 0
    assert pull.poll(0) == 0  # other.event was never forwarded


def test_listener_called_outside_a_fire_is_an_error(
    listeners: Callable[..., EventListener],
) -> None:
    with pytest.raises(ZeroEventsError, match="outside of a fire"):
        listeners({"socket_options": FAST})("payload")


def test_inproc_between_threads_with_a_persistent_context(
    listeners: Callable[..., EventListener],
) -> None:
    name = f"inproc://threads-{id(listeners)}"
    received = Dispatcher()
    got: list[tuple[str | None, tuple[Any, ...]]] = []
    received.listen("t.*", lambda *payload: got.append((received.firing(), payload)))
    receiver = listeners(
        {"socket_type": "PULL", "bind": name, "is_persistent": True, "socket_options": FAST},
        received,
    )
    receiver.socket()  # bound before the other thread connects
    service = EventService(received).listen(receiver).poll_timeout(100)
    received.listen("t.last", lambda *_: service.stop())
    sent: list[Any] = []

    def produce() -> None:
        dispatcher = Dispatcher()
        options = {"socket_type": "PUSH", "connect": name, "is_persistent": True}
        with EventListener({**options, "socket_options": SENDER}, dispatcher) as listener:
            dispatcher.listen("t.*", listener)
            for n in range(3):
                sent.extend(dispatcher.fire(f"t.{n}", n))
            sent.extend(dispatcher.fire("t.last"))

    producer = threading.Thread(target=produce)
    producer.start()
    idles: list[int] = []
    received.listen(
        "zeroevents.service.idle", lambda s: idles.append(1) or (len(idles) > 300 and s.stop())
    )
    service.run()
    producer.join(60)
    assert not producer.is_alive()
    assert sent == [True] * 4
    assert got == [("t.0", (0,)), ("t.1", (1,)), ("t.2", (2,)), ("t.last", ())]


# --- connections from the configuration file ---------------------------------------------

CONFIG = """
[connections.orders-in]
socket_type = "PULL"
bind = "{endpoint}"
socket_options = {{ LINGER = 0, RCVTIMEO = 10000 }}

[connections.orders-out]
socket_type = "PUSH"
connect = ["{endpoint}"]
socket_options = {{ SNDHWM = 99 }}
"""


def test_connection_named_in_the_config_file(
    listeners: Callable[..., EventListener],
    tmp_path: Path,
    ipc: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = ipc("config")
    config = tmp_path / "custom.toml"
    config.write_text(CONFIG.format(endpoint=endpoint))
    monkeypatch.setenv("ZEROEVENTS_CONFIG", str(config))
    incoming = listeners("orders-in")
    outgoing = listeners("orders-out")
    assert incoming.options["bind"] == [endpoint]
    assert outgoing.socket().getsockopt(zmq.SNDHWM) == 99
    assert outgoing.socket().getsockopt(zmq.SNDTIMEO) == 2000
    incoming.socket()
    assert outgoing.socket().push("orders.created", [{"id": 1}]) is True
    assert incoming.socket().pull() == Message("orders.created", [{"id": 1}], None)


def test_config_file_in_the_working_directory(
    listeners: Callable[..., EventListener],
    tmp_path: Path,
    ipc: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "zeroevents.toml").write_text(CONFIG.format(endpoint=ipc("cwd")))
    monkeypatch.delenv("ZEROEVENTS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert listeners("orders-out").options["socket_type"] == zmq.PUSH
    with pytest.raises(ConfigurationError) as error:
        listeners("orders-nowhere")
    assert "'orders-nowhere'" in str(error.value)
    assert "orders-in" in str(error.value)  # the known connections are listed


def test_bad_option_in_the_config_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[connections.bad]\nsocket_type = "PUSHY"\n')
    monkeypatch.setenv("ZEROEVENTS_CONFIG", str(config))
    with pytest.raises(ConfigurationError, match="'PUSHY'"):
        EventListener("bad", Dispatcher())
    monkeypatch.setenv("ZEROEVENTS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match=r"missing\.toml"):
        EventListener("bad", Dispatcher())


def test_service_in_another_process_from_config_names(
    raw: Callable[[int], zmq.Socket[Any]],
    spawn: Any,
    queue: Any,
    tmp_path: Path,
    ipc: Callable[[str], str],
) -> None:
    endpoint = ipc("config-service")
    config = tmp_path / "service.toml"
    config.write_text(CONFIG.format(endpoint=endpoint))
    child = spawn(procs.serve, "orders-in", queue, ("orders.*",), 50, None, str(config))
    assert take(queue, "ready") == ("ready", [endpoint])
    push = raw(zmq.PUSH)
    push.connect(endpoint)
    push.send_multipart([b"orders.created", b'{"id":5}'])
    push.send_multipart([b"zeroevents.service.stop"])
    assert take(queue, "event") == ("event", "orders.created", [{"id": 5}])
    stopped = take(queue, "stopped")
    assert stopped[1]["fired"] == 2
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_listener_made_without_a_dispatcher_forwards_for_the_one_it_listens_on(
    tmp_path: Path,
) -> None:
    context: zmq.Context[Any] = zmq.Context()
    pull = context.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVTIMEO, 10000)
    pull.bind(f"ipc://{tmp_path}/adopt.ipc")
    dispatcher = Dispatcher()
    listener = EventListener({"connect": f"ipc://{tmp_path}/adopt.ipc", "socket_type": "PUSH"})
    dispatcher.listen("orders.*", listener)
    try:
        dispatcher.fire("orders.created", {"id": 1})
        assert pull.recv_multipart() == [b"orders.created", b'{"id":1}']
    finally:
        listener.close()
        pull.close(linger=0)
        context.term()
