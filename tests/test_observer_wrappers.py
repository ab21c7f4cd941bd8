"""The observers' per-event seam: ``sending`` and ``processing`` wrappers.

Real observers registered as plugins through the real hook, real sockets of the
memory transport (both flavours); the wrappers are asked once per socket or
service, nest in registration order, and one whose factory raises is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from zeroevents_core import (
    AsyncEventListener,
    AsyncEventService,
    Dispatcher,
    EventListener,
    EventService,
    Message,
)
from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.observers import Headers, Observed
from zeroevents_core.plugins import register_plugin, unregister_plugin


class Tagging:
    """Adds the header ``tag`` -> its tags so far, and notes each fire it wraps."""

    def __init__(self, tag: str, fail: bool = False) -> None:
        self.tag, self.fail = tag, fail
        self.asked: list[str] = []
        self.fired: list[tuple[str, str | None, str | None]] = []

    def sending(self, observed: Observed) -> Callable[[str, Headers], Any]:
        self.asked.append(observed.role)
        if self.fail:
            raise RuntimeError("observer bug")

        @contextmanager
        def send(event: str, headers: Headers) -> Iterator[Headers]:
            tags = (headers or {}).get("tags", "")
            yield {**(headers or {}), "tags": tags + self.tag}

        return send

    def processing(self, observed: Observed) -> Callable[[Message], Any]:
        self.asked.append(observed.role)

        @contextmanager
        def process(message: Message) -> Iterator[None]:
            try:
                yield
            except Exception as error:
                self.fired.append((message.event, (message.headers or {}).get("tags"), repr(error)))
                raise
            self.fired.append((message.event, (message.headers or {}).get("tags"), None))

        return process

    @hookimpl
    def register_observers(self, register: Callable[[Any], Any]) -> None:
        register(self)


@pytest.fixture
def observers() -> Iterator[list[Tagging]]:
    plugins = [Tagging("a"), Tagging("b"), Tagging("x", fail=True)]
    for plugin in plugins:
        register_plugin(plugin)
    try:
        yield plugins
    finally:
        for plugin in plugins:
            unregister_plugin(plugin)


def test_wrappers_nest_and_see_each_send_and_fire(
    observers: list[Tagging], caplog: pytest.LogCaptureFixture
) -> None:
    a, b, failing = observers
    endpoint = "memory://wrapped-sync"
    remote, local = Dispatcher(), Dispatcher()
    bound = EventListener({"transport": "memory", "bind": endpoint, "wire": "v2"})
    bound.socket()
    service = EventService(remote).listen(bound).poll_timeout(1000)
    remote.listen("zeroevents.service.idle", service.stop)
    seen: list[Any] = []

    def take(number: int) -> None:
        seen.append((remote.firing_message() or Message("", [])).headers)
        if number == 2:
            service.stop()
        if number == 1:
            raise ValueError("listener bug")  # counted; the wrapper sees it, the service goes on

    remote.listen("job.*", take)
    sending = {"transport": "memory", "connect": endpoint, "wire": "v2"}
    with caplog.at_level(logging.ERROR), EventListener(sending) as out:
        local.listen("job.*", out)
        local.fire("job.run", 1, headers={"tenant": "acme"})
        local.fire("job.run", 2)
        service.run()
    assert [dict(h or {}) for h in seen] == [{"tenant": "acme", "tags": "ab"}, {"tags": "ab"}]
    assert a.fired == [("job.run", "ab", "ValueError('listener bug')"), ("job.run", "ab", None)]
    # Once per socket (the bound one, the sender) and service, not per event.
    assert a.asked == b.asked == failing.asked == ["listener", "listener", "service"]
    assert "observer bug" in caplog.text
    assert service.stats.listener_errors == 1 and service.stats.fired == 1


def test_wrappers_on_the_asyncio_flavour(observers: list[Tagging]) -> None:
    a, _, _ = observers
    endpoint = "memory://wrapped-async"

    async def main() -> list[Any]:
        remote, local = Dispatcher(), Dispatcher()
        bound = AsyncEventListener({"transport": "memory", "bind": endpoint, "wire": "v2"})
        bound.socket()
        service = AsyncEventService(remote).listen(bound).poll_timeout(1000)
        remote.listen("zeroevents.service.idle", service.stop)
        seen: list[Any] = []

        def take(number: int) -> None:
            seen.append(dict((remote.firing_message() or Message("", [])).headers or {}))
            if number == 2:
                service.stop()

        remote.listen("job.*", take)
        out = AsyncEventListener({"transport": "memory", "connect": endpoint, "wire": "v2"})
        local.listen("job.*", out)
        await local.fire_async("job.run", 1)  # awaited
        local.fire("job.run", 2)  # scheduled as a task
        await out.drain()
        await service.run()
        await out.aclose()
        return seen

    assert asyncio.run(main()) == [{"tags": "ab"}, {"tags": "ab"}]
    assert a.fired == [("job.run", "ab", None), ("job.run", "ab", None)]


class Idle:
    """Has nothing to do with any event: its factories give None (an idle tracer)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def sending(self, observed: Observed) -> Callable[[str, Headers], Any]:
        def send(event: str, headers: Headers) -> None:
            self.calls.append(f"send {event}")

        return send

    def processing(self, observed: Observed) -> Callable[[Message], Any]:
        def process(message: Message) -> None:
            self.calls.append(f"process {message.event}")

        return process

    @hookimpl
    def register_observers(self, register: Callable[[Any], Any]) -> None:
        register(self)


def _round_trip_sync(endpoint: str) -> tuple[list[Any], EventService]:
    remote, local = Dispatcher(), Dispatcher()
    bound = EventListener({"transport": "memory", "bind": endpoint, "wire": "v2"})
    bound.socket()
    service = EventService(remote).listen(bound).poll_timeout(1000)
    remote.listen("zeroevents.service.idle", service.stop)
    seen: list[Any] = []

    def take(number: int) -> None:
        seen.append(dict((remote.firing_message() or Message("", [])).headers or {}))
        if number == 2:
            service.stop()

    remote.listen("job.*", take)
    with EventListener({"transport": "memory", "connect": endpoint, "wire": "v2"}) as out:
        local.listen("job.*", out)
        local.fire("job.run", 1, headers={"tenant": "acme"})
        local.fire("job.run", 2)
        service.run()
    return seen, service


@pytest.mark.parametrize("beside", [False, True], ids=["alone", "nested"])
def test_a_wrapper_giving_none_leaves_the_event_unwrapped(beside: bool) -> None:
    idle = Idle()
    plugins: list[Any] = [idle, *([Tagging("a")] if beside else [])]
    for plugin in plugins:
        register_plugin(plugin)
    try:
        seen, service = _round_trip_sync(f"memory://idle-sync-{beside}")
    finally:
        for plugin in plugins:
            unregister_plugin(plugin)
    tags = {"tags": "a"} if beside else {}
    assert seen == [{"tenant": "acme", **tags}, tags]  # the fire's own headers, as they were
    assert service.stats.fired == 2 and service.stats.listener_errors == 0
    assert idle.calls == ["send job.run", "send job.run", "process job.run", "process job.run"]


def test_a_wrapper_giving_none_on_the_asyncio_flavour() -> None:
    idle = Idle()
    register_plugin(idle)
    endpoint = "memory://idle-async"

    async def main() -> tuple[list[Any], AsyncEventService]:
        remote, local = Dispatcher(), Dispatcher()
        bound = AsyncEventListener({"transport": "memory", "bind": endpoint, "wire": "v2"})
        bound.socket()
        service = AsyncEventService(remote).listen(bound).poll_timeout(1000)
        remote.listen("zeroevents.service.idle", service.stop)
        seen: list[Any] = []

        def take(number: int) -> None:
            seen.append(dict((remote.firing_message() or Message("", [])).headers or {}))
            if number == 2:
                service.stop()

        remote.listen("job.*", take)
        out = AsyncEventListener({"transport": "memory", "connect": endpoint, "wire": "v2"})
        local.listen("job.*", out)
        await local.fire_async("job.run", 1, headers={"tenant": "acme"})
        local.fire("job.run", 2)  # scheduled as a task
        await out.drain()
        await service.run()
        await out.aclose()
        return seen, service

    try:
        seen, service = asyncio.run(main())
    finally:
        unregister_plugin(idle)
    assert seen == [{"tenant": "acme"}, {}]
    assert service.stats.fired == 2 and service.stats.listener_errors == 0
    assert idle.calls == ["send job.run", "send job.run", "process job.run", "process job.run"]
