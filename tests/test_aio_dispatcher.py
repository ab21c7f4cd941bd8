"""``Dispatcher.fire_async``: the rules of ``fire`` with coroutine listeners awaited."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from zeroevents_core import ZeroEventsError
from zeroevents_core.dispatcher import CoroutineListenerError, Dispatcher

pytestmark = pytest.mark.asyncio


async def test_priority_order_mixes_plain_and_coroutine_listeners() -> None:
    dispatcher = Dispatcher()
    calls: list[str] = []

    async def slow(name: str) -> str:
        await asyncio.sleep(0.01)
        calls.append(f"slow {name}")
        return "slow"

    def plain(name: str) -> str:
        calls.append(f"plain {name}")
        return "plain"

    dispatcher.listen("order.*", plain, priority=1)
    dispatcher.listen("order.created", slow, priority=5)
    dispatcher.listen("order.created", plain)
    responses = await dispatcher.fire_async("order.created", "a")
    assert calls == ["slow a", "plain a", "plain a"]
    assert responses == ["slow", "plain", "plain"]


async def test_false_stops_propagation_after_an_await() -> None:
    dispatcher = Dispatcher()
    calls: list[int] = []

    async def first() -> bool:
        await asyncio.sleep(0)
        calls.append(1)
        return False

    dispatcher.listen("e", first, priority=2)
    dispatcher.listen("e", lambda: calls.append(2))
    assert await dispatcher.fire_async("e") == []
    assert calls == [1]


async def test_halt_returns_first_awaited_response_that_is_not_none() -> None:
    dispatcher = Dispatcher()
    calls: list[str] = []

    async def nothing() -> None:
        calls.append("nothing")

    async def answer() -> int:
        calls.append("answer")
        return 42

    dispatcher.listen("q", nothing, priority=3)
    dispatcher.listen("q", answer, priority=2)
    dispatcher.listen("q", lambda: calls.append("never"))
    assert await dispatcher.until_async("q") == 42
    assert await dispatcher.fire_async("q", halt=True) == 42
    assert calls == ["nothing", "answer"] * 2
    assert await dispatcher.until_async("nobody") is None


async def test_firing_names_the_innermost_event_across_awaits() -> None:
    dispatcher = Dispatcher()
    seen: list[tuple[str, str | None, bool]] = []

    async def outer() -> None:
        seen.append(("outer before", dispatcher.firing(), dispatcher.firing_async()))
        await asyncio.sleep(0.01)
        await dispatcher.fire_async("inner")
        dispatcher.fire("blocking")
        await asyncio.sleep(0)
        seen.append(("outer after", dispatcher.firing(), dispatcher.firing_async()))

    async def inner() -> None:
        await asyncio.sleep(0)
        seen.append(("inner", dispatcher.firing(), dispatcher.firing_async()))

    def blocking() -> None:
        seen.append(("blocking", dispatcher.firing(), dispatcher.firing_async()))

    dispatcher.listen("outer", outer)
    dispatcher.listen("inner", inner)
    dispatcher.listen("blocking", blocking)
    # Two fires interleaved on one loop: each task sees its own event.
    await asyncio.gather(dispatcher.fire_async("outer"), dispatcher.fire_async("inner"))
    assert dispatcher.firing() is None
    assert ("blocking", "blocking", False) in seen
    outer_entries = [entry for entry in seen if entry[0].startswith("outer")]
    assert outer_entries == [("outer before", "outer", True), ("outer after", "outer", True)]
    assert seen.count(("inner", "inner", True)) == 2


async def test_an_exception_propagates_and_resets_firing() -> None:
    dispatcher = Dispatcher()

    async def broken() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    dispatcher.listen("e", broken)
    with pytest.raises(RuntimeError, match="boom"):
        await dispatcher.fire_async("e")
    assert dispatcher.firing() is None


async def test_blocking_fire_refuses_a_coroutine_listener_clearly() -> None:
    dispatcher = Dispatcher()

    async def handler(x: int) -> None:
        raise AssertionError("must never run")

    dispatcher.listen("e", handler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "never awaited" RuntimeWarning would fail here
        with pytest.raises(CoroutineListenerError, match=r"fire_async") as caught:
            dispatcher.fire("e", 1)
        with pytest.raises(CoroutineListenerError):
            dispatcher.until("e", 1)
        gc.collect()
    assert isinstance(caught.value, ZeroEventsError)
    assert isinstance(caught.value, TypeError)
    assert "'e'" in str(caught.value)
    assert dispatcher.firing() is None


async def test_plain_listener_returning_an_awaitable_is_awaited() -> None:
    dispatcher = Dispatcher()
    loop = asyncio.get_running_loop()

    def scheduled() -> Any:
        future = loop.create_future()
        loop.call_soon(future.set_result, "done")
        return future

    dispatcher.listen("e", scheduled)
    assert await dispatcher.fire_async("e") == ["done"]
