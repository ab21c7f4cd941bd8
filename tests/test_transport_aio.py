"""The shared suite, asyncio flavour: an AsyncEventService fires what an
AsyncEventListener forwards, on every transport with an asyncio side
(``transport_link``), confirms, survives garbage, sends dead letters, and stops from
another thread and on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import pytest
from transport_suite import CONTRACTS, PULL_ERROR, WAIT, Link

from zeroevents_core import DecodeError, Dispatcher, EventListener, Message
from zeroevents_core.aio import AsyncEventListener, AsyncEventService


@pytest.fixture
def async_link(transport_link: Link) -> Link:
    """The links of the transports that have an asyncio side (not the docs' udp)."""
    if not transport_link.supports_async:
        pytest.skip(f"transport {transport_link.transport!r} has no asyncio side")
    return transport_link


class AsyncRunning:
    """An AsyncEventService receiving on a link, run as a task of the test's loop."""

    def __init__(self, listener_options: dict[str, Any]) -> None:
        self.dispatcher = Dispatcher()
        self.events: asyncio.Queue[tuple[str, list[Any]]] = asyncio.Queue()
        self.errors: list[Any] = []
        self.service = AsyncEventService(self.dispatcher).poll_timeout(50)
        self.listener = AsyncEventListener(listener_options, self.dispatcher)
        self.service.listen(self.listener)
        self.dispatcher.listen("*", self._fired)
        self.dispatcher.listen(PULL_ERROR, self._pull_error)
        self.task: asyncio.Task[None] | None = None

    def _fired(self, *payload: Any) -> None:
        event = self.dispatcher.firing()
        assert event is not None
        if not event.startswith("zeroevents."):
            self.events.put_nowait((event, list(payload)))

    def _pull_error(self, socket: Any, error: Any = None, received: Any = None) -> None:
        self.errors.append(error)

    async def __aenter__(self) -> AsyncRunning:
        self.listener.socket()  # bound before anyone sends: run() takes this socket
        self.task = asyncio.ensure_future(self.service.run())
        return self

    async def take(self, count: int = 1) -> list[tuple[str, list[Any]]]:
        return [await asyncio.wait_for(self.events.get(), WAIT) for _ in range(count)]

    async def __aexit__(self, *_: Any) -> None:
        assert self.task is not None
        self.service.stop()
        await asyncio.wait_for(self.task, WAIT)


def test_the_asyncio_service_fires_what_the_listener_forwards_in_order(async_link: Link) -> None:
    async def main() -> list[tuple[str, list[Any]]]:
        async with AsyncRunning(async_link.receiver()) as running:
            dispatcher = Dispatcher()
            async with AsyncEventListener(async_link.sender(), dispatcher) as listener:
                dispatcher.listen("orders.*", listener)
                for number in range(100):
                    await dispatcher.fire_async(f"orders.n{number}", number, {"n": [number]})
                return await running.take(100)

    got = asyncio.run(main())
    assert got == [(f"orders.n{n}", [n, {"n": [n]}]) for n in range(100)]


def test_an_asyncio_confirmed_push_returns_the_confirmation(async_link: Link) -> None:
    async def main() -> Any:
        async with AsyncRunning(async_link.receiver(confirmed=True)) as running:
            async with AsyncEventListener(async_link.sender(confirmed=True)) as listener:
                reply = await listener.push("orders.created", [{"id": 1}])
            assert await running.take() == [("orders.created", [{"id": 1}])]
            return reply

    reply = asyncio.run(main())
    assert isinstance(reply, Message)
    assert (reply.event, reply.payload) == ("zeroevents.confirmed", ["orders.created"])


def test_the_asyncio_service_survives_an_undecodable_message(async_link: Link) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        async with AsyncRunning(async_link.receiver()) as running:
            async_link.raw_sender()([b"orders.bad", b"{not json"])
            async with AsyncEventListener(async_link.sender()) as listener:
                await listener.push("orders.good", [1])
                got = await running.take()
            return got, running.errors

    got, errors = asyncio.run(main())
    assert got == [("orders.good", [1])]
    assert len(errors) == 1 and isinstance(errors[0], DecodeError) and errors[0].frame == 1


def stop_once_running(service: AsyncEventService) -> None:
    deadline = time.monotonic() + WAIT
    while not service.running and time.monotonic() < deadline:
        time.sleep(0.01)
    service.stop()


def test_the_asyncio_service_stops_from_another_thread(async_link: Link) -> None:
    async def main() -> None:
        dispatcher = Dispatcher()
        service = AsyncEventService(dispatcher).poll_timeout(-1)  # only the stop ends it
        service.listen(AsyncEventListener(async_link.receiver(), dispatcher))
        stopper = threading.Thread(target=stop_once_running, args=(service,))
        stopper.start()
        try:
            await asyncio.wait_for(service.run(), WAIT)
        finally:
            stopper.join(WAIT)

    asyncio.run(main())


def test_the_asyncio_service_sends_what_breaks_a_contract_to_the_dead_letter(
    async_link: Link,
) -> None:
    sink_options, dead_letter, _ = async_link.sink()
    with EventListener(sink_options) as sink:
        sink.socket()  # bound before the service sends to it
        dead: list[Any] = []
        pulling = threading.Thread(target=lambda: dead.append(sink.socket().pull()))
        pulling.start()
        receiver = async_link.receiver(schemas=str(CONTRACTS), dead_letter=dead_letter)

        async def main() -> list[tuple[str, list[Any]]]:
            sender = AsyncEventListener(async_link.sender())
            async with AsyncRunning(receiver) as running, sender:
                await sender.push("orders.cancelled", [{"id": "seven"}])
                await sender.push("orders.cancelled", [{"id": 7, "reason": "late"}])
                return await running.take()

        got = asyncio.run(main())
        pulling.join(WAIT)
    assert got == [("orders.cancelled", [{"id": 7, "reason": "late"}])]
    assert isinstance(dead[0], Message)
    assert (dead[0].event, dead[0].payload) == ("orders.cancelled", [{"id": "seven"}])


def test_sigterm_stops_an_asyncio_service_in_the_main_thread(async_link: Link) -> None:
    async def main() -> list[Any]:
        dispatcher = Dispatcher()
        fired: list[Any] = []
        received = threading.Event()
        dispatcher.listen("orders.*", lambda *payload: (fired.append(payload), received.set()))
        service = AsyncEventService(dispatcher).poll_timeout(-1)
        receiver = AsyncEventListener(async_link.receiver(), dispatcher)
        receiver.socket()  # bound before the sender starts
        service.listen(receiver)

        def send_then_signal() -> None:
            with EventListener(async_link.sender()) as listener:
                listener.socket().push("orders.created", [1])
                if received.wait(WAIT):
                    os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Thread(target=send_then_signal)
        sender.start()
        try:
            await asyncio.wait_for(service.run(), WAIT)  # SIGTERM: the default handler stops it
        finally:
            sender.join(WAIT)
        return fired

    assert asyncio.run(main()) == [(1,)]
