"""EventService: across processes, idle and stop, signals, many sockets, bad input."""

from __future__ import annotations

import logging
import os
import queue as queues
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import procs
import pytest
import zmq
from procs import take

from zeroevents_core import Dispatcher, EventListener, EventService, Message

IDLE = "zeroevents.service.idle"
STOP = "zeroevents.service.stop"
PULL_ERROR = "zeroevents.pull.error"
FAST = {"LINGER": 1000, "SNDTIMEO": 10000, "RCVTIMEO": 10000}


@pytest.fixture
def raw() -> Iterator[Callable[[int], zmq.Socket[Any]]]:
    """``raw(socket_type)``: a plain pyzmq socket (LINGER 1 s, timeouts 10 s)."""
    context: zmq.Context[Any] = zmq.Context()

    def make(socket_type: int) -> zmq.Socket[Any]:
        socket = context.socket(socket_type)
        socket.setsockopt(zmq.LINGER, 1000)
        socket.setsockopt(zmq.RCVTIMEO, 10000)
        socket.setsockopt(zmq.SNDTIMEO, 10000)
        return socket

    yield make
    context.destroy(linger=0)


def pull_service(endpoint: str, **options: Any) -> dict[str, Any]:
    return {"socket_type": "PULL", "bind": endpoint, "socket_options": FAST, **options}


def bounded(service: EventService, dispatcher: Dispatcher, idles: int = 200) -> None:
    """Stop ``service`` after ``idles`` idle polls, so that a broken test cannot hang."""
    seen = [0]

    def count(_: EventService) -> None:
        seen[0] += 1
        if seen[0] >= idles:
            service.stop()

    dispatcher.listen(IDLE, count)


# --- across processes ---------------------------------------------------------------


def test_service_fires_events_from_another_process(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("service")
    child = spawn(procs.serve, pull_service(endpoint), queue, ("orders.*", "ping"))
    assert take(queue, "ready") == ("ready", [endpoint])
    dispatcher = Dispatcher()
    with EventListener({"socket_type": "PUSH", "connect": endpoint}, dispatcher) as listener:
        dispatcher.listen(["orders.*", "ping", "unheard", STOP], listener)
        assert dispatcher.fire("orders.created", {"id": 1, "items": ["a"]}, 9.5) == [True]
        assert dispatcher.fire("ping") == [True]
        assert dispatcher.fire("unheard", 1) == [True]  # sent, no listener over there
        assert dispatcher.fire("orders.paid", "при/вет") == [True]
        assert dispatcher.fire(STOP) == [True]
    assert take(queue, "event") == ("event", "orders.created", [{"id": 1, "items": ["a"]}, 9.5])
    assert take(queue, "event") == ("event", "ping", [])
    assert take(queue, "event") == ("event", "orders.paid", ["при/вет"])
    _, stats, closed = take(queue, "stopped")
    assert stats["received"] == 5
    assert stats["fired"] == 5
    assert stats["decode_errors"] == stats["listener_errors"] == 0
    assert closed == [True]
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_confirmed_service_answers_each_event(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("confirmed")
    options = {"socket_type": "ROUTER", "bind": endpoint, "confirmed": True}
    child = spawn(procs.serve, {**options, "socket_options": FAST}, queue, ("job",))
    take(queue, "ready")
    dispatcher = Dispatcher()
    sender = {"socket_type": "DEALER", "connect": endpoint, "confirmed": True}
    with EventListener({**sender, "socket_options": FAST}, dispatcher) as listener:
        dispatcher.listen(["job", STOP], listener)
        assert dispatcher.fire("job", 1) == [Message("zeroevents.confirmed", ["job"], None)]
        assert take(queue, "event") == ("event", "job", [1])
        dispatcher.fire(STOP)
    assert take(queue, "stopped")[2] == [True]
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_req_to_rep_in_lockstep_with_confirmations(
    spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("lockstep")
    options = {"socket_type": "REP", "bind": endpoint, "confirmed": True}
    spawn(procs.serve, {**options, "socket_options": FAST}, queue, ("job",))
    take(queue, "ready")
    dispatcher = Dispatcher()
    sender = {"socket_type": "REQ", "connect": endpoint, "confirmed": True}
    with EventListener({**sender, "socket_options": FAST}, dispatcher) as listener:
        dispatcher.listen(["job", STOP], listener)
        for n in range(3):  # a REQ sends again only once its reply came: lockstep held
            assert dispatcher.fire("job", n) == [Message("zeroevents.confirmed", ["job"], None)]
            assert take(queue, "event") == ("event", "job", [n])
        dispatcher.fire(STOP)
    assert take(queue, "stopped")[2] == [True]


@pytest.mark.parametrize("socket_type", ["REQ", "REP"])
def test_req_and_rep_need_confirmed_mode(socket_type: str) -> None:
    from zeroevents_core import ConfigurationError

    with pytest.raises(ConfigurationError, match="REQ and REP answer each message"):
        EventListener({"socket_type": socket_type, "connect": "tcp://127.0.0.1:5"})


def test_service_polls_two_sockets_at_once(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("first")
    options = [pull_service(endpoint), pull_service("tcp://127.0.0.1:*")]
    child = spawn(procs.serve, options, queue, ("from.*",))
    _, endpoints = take(queue, "ready")
    assert endpoints[0] == endpoint
    assert endpoints[1].startswith("tcp://127.0.0.1:")
    first, second = raw(zmq.PUSH), raw(zmq.PUSH)
    first.connect(endpoints[0])
    second.connect(endpoints[1])
    # Strictly alternating, each waiting for the last: each socket is polled, not only one.
    for n in range(3):
        second.send_multipart([b"from.tcp", str(n).encode()])
        assert take(queue, "event") == ("event", "from.tcp", [n])
        first.send_multipart([b"from.ipc", str(n).encode()])
        assert take(queue, "event") == ("event", "from.ipc", [n])
    os.kill(child.pid, signal.SIGTERM)
    assert take(queue, "stopped")[2] == [True, True]
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_pub_sub_with_subscribe_prefixes(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any
) -> None:
    publisher = raw(zmq.PUB)
    publisher.bind("tcp://127.0.0.1:*")
    endpoint = publisher.get(zmq.LAST_ENDPOINT).decode()
    options = {
        "socket_type": "SUB",
        "connect": endpoint,
        "subscribe": ["orders.", "zeroevents.service.stop"],
        "socket_options": FAST,
    }
    child = spawn(procs.serve, options, queue)
    take(queue, "ready")
    # Slow joiner: publish until the subscription has reached the publisher (bounded).
    for _ in range(300):
        publisher.send_multipart([b"orders.warmup"])
        try:
            report = queue.get(timeout=0.1)
        except queues.Empty:
            continue
        assert report == ("event", "orders.warmup", [])
        break
    else:
        raise AssertionError("the subscriber never received a warmup event")
    publisher.send_multipart([b"other.created", b"1"])  # filtered out by the subscriber
    publisher.send_multipart([b"orders", b"2"])  # shorter than the prefix: filtered out
    publisher.send_multipart([b"orders.created", b"3"])
    publisher.send_multipart([b"zeroevents.service.stop"])
    while (report := take(queue, "event"))[1] == "orders.warmup":
        pass
    assert report == ("event", "orders.created", [3])
    assert take(queue, "event") == ("event", STOP, [])
    _, stats, closed = take(queue, "stopped")
    assert closed == [True]
    assert stats["fired"] >= 3  # a warmup, orders.created and the stop event
    child.join(procs.WAIT)
    assert child.exitcode == 0


# --- idle, stop, listeners that raise (in this process) --------------------------------


def test_three_idle_events_then_stop_from_an_idle_listener(ipc: Callable[[str], str]) -> None:
    dispatcher = Dispatcher()
    listener = EventListener(pull_service(ipc("idle")), dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(10)
    idles: list[EventService] = []

    def idle(service: EventService) -> None:
        idles.append(service)
        if len(idles) == 3:
            dispatcher.fire(STOP)

    dispatcher.listen(IDLE, idle)
    bounded(service, dispatcher)
    socket = listener.socket()
    before = signal.getsignal(signal.SIGTERM)
    service.run()
    assert idles == [service] * 3
    assert socket.closed
    assert signal.getsignal(signal.SIGTERM) == before  # handlers restored after run
    # The service's stop listener is gone: a later stop event does not reach it.
    assert dispatcher.listeners(STOP) == []


def test_a_listener_that_raises_is_logged_and_the_service_goes_on(
    raw: Callable[[int], zmq.Socket[Any]],
    ipc: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = ipc("raises")
    dispatcher = Dispatcher()
    listener = EventListener(pull_service(endpoint), dispatcher)
    listener.socket()  # bound now, so that the events below queue up for run()
    service = EventService(dispatcher).listen(listener).poll_timeout(50)
    bounded(service, dispatcher)
    fired: list[tuple[str | None, tuple[Any, ...]]] = []

    def boom(*payload: Any) -> None:
        raise RuntimeError("bad handler")

    dispatcher.listen("boom", boom)
    dispatcher.listen("*", lambda *payload: fired.append((dispatcher.firing(), payload)))
    push = raw(zmq.PUSH)
    push.connect(endpoint)
    for frames in ([b"boom", b"1"], [b"after", b"2"], [STOP.encode()]):
        push.send_multipart(frames)
    with caplog.at_level(logging.WARNING, logger="zeroevents_core.service"):
        service.run()
    assert ("after", (2,)) in fired
    assert fired[-1] == (STOP, ())
    assert service.stats.listener_errors == 1
    assert service.stats.received == 3
    assert service.stats.fired == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "'boom'" in errors[0].getMessage()
    assert errors[0].exc_info is not None and "bad handler" in str(errors[0].exc_info[1])


def test_a_signal_during_an_endless_poll_is_handled(ipc: Callable[[str], str]) -> None:
    dispatcher = Dispatcher()
    listener = EventListener(pull_service(ipc("eintr")), dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(20)
    caught: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        caught.append(signum)
        service.stop()

    service.listen_to_signals([signal.SIGUSR1], handler)
    sender: list[threading.Thread] = []

    def first_idle(service: EventService) -> None:
        if not sender:
            service.poll_timeout(-1)  # from now on only the signal can end the poll
            main = threading.main_thread().ident
            assert main is not None
            thread = threading.Thread(target=signal.pthread_kill, args=(main, signal.SIGUSR1))
            sender.append(thread)
            thread.start()

    dispatcher.listen(IDLE, first_idle)
    previous = signal.getsignal(signal.SIGUSR1)
    service.run()
    sender[0].join(10)
    assert caught == [signal.SIGUSR1]
    assert signal.getsignal(signal.SIGUSR1) == previous


# --- signals sent to a service in another process -------------------------------------


def test_sighup_is_ignored_and_the_service_keeps_receiving(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("hup")
    child = spawn(procs.serve, pull_service(endpoint), queue, ("after.*",))
    take(queue, "ready")
    os.kill(child.pid, signal.SIGHUP)
    push = raw(zmq.PUSH)
    push.connect(endpoint)
    push.send_multipart([b"after.hup", b'"still here"'])
    assert take(queue, "event") == ("event", "after.hup", ["still here"])
    assert child.is_alive()
    os.kill(child.pid, signal.SIGHUP)
    push.send_multipart([b"after.second", b"2"])
    assert take(queue, "event") == ("event", "after.second", [2])
    os.kill(child.pid, signal.SIGTERM)
    assert take(queue, "stopped")[2] == [True]
    child.join(procs.WAIT)
    assert child.exitcode == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_the_service_cleanly(
    signum: int, spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("term")
    child = spawn(procs.serve, pull_service(endpoint), queue)
    take(queue, "ready")
    os.kill(child.pid, signum)
    _, stats, closed = take(queue, "stopped")
    assert closed == [True]
    assert stats["received"] == 0
    child.join(procs.WAIT)
    assert child.exitcode == 0


# --- bad input ----------------------------------------------------------------------------


def test_garbage_does_not_stop_the_service(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("garbage")
    child = spawn(procs.serve, pull_service(endpoint), queue, ("good",))
    take(queue, "ready")
    push = raw(zmq.PUSH)
    push.connect(endpoint)
    garbage = [
        ([b"\xff\xfename", b"1"], 0),  # event name is not UTF-8
        ([b"event", b"1", b"{not json"], 2),  # second argument is not JSON
        ([b""], 0),  # no event name
        ([b"event", b"\xff"], 1),  # argument is not UTF-8
    ]
    for frames, _ in garbage:
        push.send_multipart(frames)
    push.send_multipart([b"good", b'{"after":"garbage"}'])
    push.send_multipart([STOP.encode()])
    for frames, index in garbage:
        assert take(queue, "pull.error") == ("pull.error", "DecodeError", index, frames)
    assert take(queue, "event") == ("event", "good", [{"after": "garbage"}])
    _, stats, closed = take(queue, "stopped")
    assert closed == [True]
    assert stats["decode_errors"] == 4
    assert stats["received"] == 6
    assert stats["fired"] == 2
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_garbage_to_a_router_service_counts_the_address_frame(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("router-garbage")
    options = {"socket_type": "ROUTER", "bind": endpoint, "socket_options": FAST}
    child = spawn(procs.serve, options, queue, ("good",))
    take(queue, "ready")
    dealer = raw(zmq.DEALER)
    dealer.setsockopt(zmq.ROUTING_ID, b"peer")
    dealer.connect(endpoint)
    dealer.send_multipart([b""])  # the router sees [address, b""]: no event name
    dealer.send_multipart([b"\xc3\x28"])  # invalid UTF-8 name
    dealer.send_multipart([b"good", b"nul"])  # truncated JSON in frame 2 on the wire
    dealer.send_multipart([b"good", b"null"])
    dealer.send_multipart([STOP.encode()])
    assert take(queue, "pull.error") == ("pull.error", "DecodeError", 1, [b"peer", b""])
    assert take(queue, "pull.error") == ("pull.error", "DecodeError", 1, [b"peer", b"\xc3\x28"])
    report = take(queue, "pull.error")
    assert report == ("pull.error", "DecodeError", 2, [b"peer", b"good", b"nul"])
    assert take(queue, "event") == ("event", "good", [None])
    _, stats, _ = take(queue, "stopped")
    assert stats["decode_errors"] == 3
    child.join(procs.WAIT)
    assert child.exitcode == 0


def test_a_listener_that_raises_in_another_process(
    raw: Callable[[int], zmq.Socket[Any]], spawn: Any, queue: Any, ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("raises-child")
    child = spawn(procs.serve, pull_service(endpoint), queue, ("*.x",), 50, "bad.x")
    take(queue, "ready")
    push = raw(zmq.PUSH)
    push.connect(endpoint)
    for name in (b"bad.x", b"good.x", STOP.encode()):
        push.send_multipart([name])
    assert take(queue, "event") == ("event", "good.x", [])
    _, stats, _ = take(queue, "stopped")
    assert stats["listener_errors"] == 1
    assert stats["fired"] == 2
    child.join(procs.WAIT)
    assert child.exitcode == 0
