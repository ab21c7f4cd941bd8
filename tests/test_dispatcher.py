"""The in-process dispatcher: the Illuminate semantics, ported."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import zeroevents_core
from zeroevents_core import Dispatcher
from zeroevents_core.dispatcher import CACHE_SIZE, default_dispatcher
from zeroevents_core.testing import EventRecorder


def recorder(calls: list[Any], tag: str, result: Any = None) -> Callable[..., Any]:
    """A listener that records ``(tag, *payload)`` and returns ``result``."""

    def listener(*payload: Any) -> Any:
        calls.append((tag, *payload))
        return result

    return listener


def fires(recorded: EventRecorder) -> list[tuple[Any, ...]]:
    """What was fired, as ``(name, *payload)``."""
    return [(event.name, *event.payload) for event in recorded.events]


@pytest.fixture(params=["glob", "segments"])
def dispatcher(request: pytest.FixtureRequest) -> Dispatcher:
    """Behaviour that does not depend on the matcher holds for both."""
    return Dispatcher(request.param)


# --- listen ---------------------------------------------------------------------------


def test_listen_to_one_name(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("orders.created", recorder(calls, "l"))
    dispatcher.fire("orders.created", {"id": 1}, "eu")
    dispatcher.fire("orders.shipped", {"id": 1})
    dispatcher.fire("orders")
    assert calls == [("l", {"id": 1}, "eu")]


def test_listen_to_a_list_of_names_and_patterns(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen(["a", "b.*", "c.d"], recorder(calls, "l"))
    for name in ["a", "b.x", "c.d", "c", "b", "d"]:
        dispatcher.fire(name, name)
    assert calls == [("l", "a"), ("l", "b.x"), ("l", "c.d")]


def test_listen_to_a_pattern_with_the_default_glob_matcher() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.listen("my.events.*", recorder(calls, "l"))
    for name in ["my.events.a", "my.events.a.b", "my.events", "other.my.events.a"]:
        dispatcher.fire(name, name)
    # The original's glob: '*' crosses dots.
    assert calls == [("l", "my.events.a"), ("l", "my.events.a.b")]


def test_segments_matcher_through_the_dispatcher() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher("segments")
    dispatcher.listen("orders.*", recorder(calls, "one"))
    dispatcher.listen("orders.#", recorder(calls, "any"))
    for name in ["orders", "orders.created", "orders.created.eu", "refunds.created"]:
        dispatcher.fire(name, name)
    assert calls == [
        ("any", "orders"),
        ("one", "orders.created"),
        ("any", "orders.created"),
        ("any", "orders.created.eu"),
    ]


def test_listener_must_be_callable() -> None:
    with pytest.raises(zeroevents_core.ListenerError, match="callable"):
        Dispatcher().listen("a", "not a function")  # type: ignore[arg-type]
    # Also a TypeError, as Python code expects of a wrong argument type.
    with pytest.raises(TypeError):
        Dispatcher().listen("a", None)  # type: ignore[arg-type]


def test_the_same_listener_twice_is_called_twice(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    listener = recorder(calls, "l")
    dispatcher.listen("a.b", listener)
    dispatcher.listen("a.*", listener)
    dispatcher.listen("a.b", listener)
    dispatcher.fire("a.b")
    assert calls == [("l",), ("l",), ("l",)]


# --- priorities -----------------------------------------------------------------------


def test_higher_priority_first_then_registration_order_across_names_and_patterns() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.listen("a.b", recorder(calls, "exact-0"))
    dispatcher.listen("a.*", recorder(calls, "wild-5"), priority=5)
    dispatcher.listen("*", recorder(calls, "all-0"))
    dispatcher.listen("a.b", recorder(calls, "exact-10"), priority=10)
    dispatcher.listen("a.*", recorder(calls, "wild-0"))
    dispatcher.listen("*.b", recorder(calls, "suffix-minus-1"), priority=-1)
    dispatcher.listen("a.b", recorder(calls, "exact-5"), priority=5)
    dispatcher.fire("a.b")
    assert [tag for tag, *_ in calls] == [
        "exact-10",
        "wild-5",
        "exact-5",
        "exact-0",
        "all-0",
        "wild-0",
        "suffix-minus-1",
    ]


def test_priority_ordering_with_the_segments_matcher() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher("segments")
    dispatcher.listen("a.#", recorder(calls, "hash-0"))
    dispatcher.listen("a.b", recorder(calls, "exact-1"), priority=1)
    dispatcher.listen("*.b", recorder(calls, "star-0"))
    dispatcher.listen("#", recorder(calls, "all-2"), priority=2)
    dispatcher.fire("a.b")
    assert [tag for tag, *_ in calls] == ["all-2", "exact-1", "hash-0", "star-0"]


def test_a_listener_added_later_with_higher_priority_moves_ahead_of_cached_ones() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.listen("a.*", recorder(calls, "first"))
    dispatcher.fire("a.b")  # caches the listeners of a.b
    dispatcher.listen("a.b", recorder(calls, "urgent"), priority=100)
    calls.clear()
    dispatcher.fire("a.b")
    assert [tag for tag, *_ in calls] == ["urgent", "first"]


# --- fire, halt, until ------------------------------------------------------------------


def test_fire_returns_every_response_in_calling_order(dispatcher: Dispatcher) -> None:
    dispatcher.listen("e", lambda x: x * 2)
    dispatcher.listen("e", lambda x: None)
    dispatcher.listen("e", lambda x: x + 1, priority=1)
    assert dispatcher.fire("e", 10) == [11, 20, None]
    assert dispatcher.fire("nobody.listens") == []


def test_a_listener_returning_false_stops_propagation(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("e", recorder(calls, "first", "one"))
    dispatcher.listen("e", recorder(calls, "stopper", False))
    dispatcher.listen("e", recorder(calls, "never", "three"))
    assert dispatcher.fire("e") == ["one"]
    assert [tag for tag, *_ in calls] == ["first", "stopper"]


def test_only_false_stops_propagation_not_other_falsy_values(dispatcher: Dispatcher) -> None:
    for falsy in [0, "", None, [], {}]:
        dispatcher.listen("e", lambda value=falsy: value)
    dispatcher.listen("e", lambda: "last")
    assert dispatcher.fire("e") == [0, "", None, [], {}, "last"]


def test_halt_returns_the_first_response_that_is_not_none(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("e", recorder(calls, "none"))
    dispatcher.listen("e", recorder(calls, "answer", 42))
    dispatcher.listen("e", recorder(calls, "never", 43))
    assert dispatcher.fire("e", halt=True) == 42
    assert [tag for tag, *_ in calls] == ["none", "answer"]
    assert dispatcher.fire("nobody", halt=True) is None


def test_until_returns_the_first_response_that_is_not_none(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("e", recorder(calls, "none"))
    dispatcher.listen("e", recorder(calls, "zero", 0))
    dispatcher.listen("e", recorder(calls, "never", 1))
    assert dispatcher.until("e", "x") == 0
    assert calls == [("none", "x"), ("zero", "x")]
    assert dispatcher.until("nobody") is None

    only_none = Dispatcher()
    only_none.listen("e", lambda: None)
    assert only_none.until("e") is None


def test_until_returns_false_as_a_response_like_the_original() -> None:
    dispatcher = Dispatcher()
    dispatcher.listen("e", lambda: False)
    dispatcher.listen("e", lambda: "never")
    assert dispatcher.until("e") is False


# --- firing() ---------------------------------------------------------------------------


def test_firing_names_the_event_and_not_the_pattern(dispatcher: Dispatcher) -> None:
    seen: list[str | None] = []
    assert dispatcher.firing() is None
    dispatcher.listen("orders.*", lambda: seen.append(dispatcher.firing()))
    dispatcher.fire("orders.created")
    assert seen == ["orders.created"]
    assert dispatcher.firing() is None


def test_firing_is_right_for_nested_fires_and_none_afterwards() -> None:
    dispatcher = Dispatcher()
    seen: list[tuple[str, str | None]] = []

    def outer() -> None:
        seen.append(("outer before", dispatcher.firing()))
        dispatcher.fire("inner.event")
        seen.append(("outer after", dispatcher.firing()))

    def inner() -> None:
        seen.append(("inner before", dispatcher.firing()))
        dispatcher.fire("innermost")
        seen.append(("inner after", dispatcher.firing()))

    dispatcher.listen("outer.event", outer)
    dispatcher.listen("inner.*", inner)
    dispatcher.listen("innermost", lambda: seen.append(("innermost", dispatcher.firing())))
    dispatcher.fire("outer.event")
    assert seen == [
        ("outer before", "outer.event"),
        ("inner before", "inner.event"),
        ("innermost", "innermost"),
        ("inner after", "inner.event"),
        ("outer after", "outer.event"),
    ]
    assert dispatcher.firing() is None


def test_firing_is_per_dispatcher() -> None:
    first, second = Dispatcher(), Dispatcher()
    seen: list[tuple[str | None, str | None]] = []
    first.listen("a", lambda: second.fire("b"))
    second.listen("b", lambda: seen.append((first.firing(), second.firing())))
    first.fire("a")
    assert seen == [("a", "b")]


def test_firing_is_per_thread() -> None:
    dispatcher = Dispatcher()
    seen: list[str | None] = []

    def listener() -> None:
        thread = threading.Thread(target=lambda: seen.append(dispatcher.firing()))
        thread.start()
        thread.join()
        seen.append(dispatcher.firing())

    dispatcher.listen("main.event", listener)
    dispatcher.fire("main.event")
    assert seen == [None, "main.event"]


# --- exceptions -------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_an_exception_in_a_listener_propagates_and_stops_the_rest() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.listen("e", recorder(calls, "first"))

    def explode(*payload: Any) -> None:
        raise Boom(payload)

    dispatcher.listen("e", explode)
    dispatcher.listen("e", recorder(calls, "never"))
    with pytest.raises(Boom) as caught:
        dispatcher.fire("e", 1, 2)
    assert caught.value.args == ((1, 2),)
    assert calls == [("first", 1, 2)]
    # firing() is reset even though the fire did not return.
    assert dispatcher.firing() is None
    with pytest.raises(Boom):
        dispatcher.until("e")
    assert dispatcher.firing() is None


def test_an_exception_in_a_nested_fire_restores_the_outer_name() -> None:
    dispatcher = Dispatcher()
    seen: list[str | None] = []

    def outer() -> None:
        try:
            dispatcher.fire("inner")
        except Boom:
            seen.append(dispatcher.firing())

    def inner() -> None:
        raise Boom

    dispatcher.listen("outer", outer)
    dispatcher.listen("inner", inner)
    dispatcher.fire("outer")
    assert seen == ["outer"]
    assert dispatcher.firing() is None


# --- forget, has_listeners, the cache ----------------------------------------------------


def test_has_listeners(dispatcher: Dispatcher) -> None:
    assert not dispatcher.has_listeners("a.b")
    dispatcher.listen("a.*", lambda: None)
    assert dispatcher.has_listeners("a.b")
    assert not dispatcher.has_listeners("b.a")
    dispatcher.listen("b.a", lambda: None)
    assert dispatcher.has_listeners("b.a")
    dispatcher.forget("a.*")
    assert not dispatcher.has_listeners("a.b")
    assert dispatcher.has_listeners("b.a")


def test_forget_and_listen_invalidate_cached_answers(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("a.*", recorder(calls, "wild"))
    dispatcher.fire("a.b")
    dispatcher.fire("a.c")
    dispatcher.listen("a.b", recorder(calls, "exact"))  # after a.b was cached
    dispatcher.fire("a.b")
    dispatcher.fire("a.c")
    dispatcher.forget("a.*")  # after both were cached with the pattern
    dispatcher.fire("a.b")
    dispatcher.fire("a.c")
    dispatcher.forget("a.b")
    dispatcher.fire("a.b")
    assert [tag for tag, *_ in calls] == ["wild", "wild", "wild", "exact", "wild", "exact"]
    assert dispatcher.listeners("a.b") == []


def test_forget_is_exact_and_harmless_for_unknown_names(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("a.*", recorder(calls, "wild"))
    dispatcher.listen("a.b", recorder(calls, "exact"))
    dispatcher.forget("a.c")  # matches a.*, but is not how it was registered
    dispatcher.forget("never.registered")
    dispatcher.fire("a.b")
    assert [tag for tag, *_ in calls] == ["wild", "exact"]


def test_forget_one_listener_even_a_bound_method(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []

    class Handler:
        def handle(self) -> None:
            calls.append("method")

    handler = Handler()
    other = recorder(calls, "other")
    dispatcher.listen("a.*", handler.handle)
    dispatcher.listen("a.*", other)
    # A fresh bound method object each time: forget must compare, not test identity.
    dispatcher.forget("a.*", handler.handle)
    dispatcher.fire("a.b")
    assert calls == [("other",)]
    dispatcher.forget("a.*", other)
    assert not dispatcher.has_listeners("a.b")


def test_re_listening_after_forget(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("a.*", recorder(calls, "old"))
    dispatcher.forget("a.*")
    dispatcher.listen("a.*", recorder(calls, "new"))
    dispatcher.fire("a.b")
    assert calls == [("new",)]


def test_the_cache_of_many_names_stays_correct_past_its_size() -> None:
    dispatcher = Dispatcher()
    counts: dict[str, int] = {}
    dispatcher.listen("n.*", lambda name: counts.__setitem__(name, counts.get(name, 0) + 1))
    names = [f"n.{i}" for i in range(CACHE_SIZE + 10)]
    for name in names:
        dispatcher.fire(name, name)
    dispatcher.listen("n.0", lambda name: counts.__setitem__("exact", 1))
    for name in names[:3]:
        dispatcher.fire(name, name)
    assert counts["n.0"] == counts["n.1"] == 2
    assert counts[names[-1]] == 1
    assert counts["exact"] == 1
    assert len(counts) == len(names) + 1


def test_listeners_returns_a_copy_the_caller_may_change() -> None:
    calls: list[Any] = []
    dispatcher = Dispatcher()
    dispatcher.listen("e", recorder(calls, "l"))
    dispatcher.listeners("e").clear()
    dispatcher.fire("e")
    assert calls == [("l",)]


# --- changes during a fire ---------------------------------------------------------------


def test_a_listener_added_during_a_fire_runs_from_the_next_fire(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    late = recorder(calls, "late")

    def adder() -> None:
        calls.append(("adder",))
        dispatcher.listen("e.x", late)

    dispatcher.listen("e.x", adder)
    dispatcher.listen("e.x", recorder(calls, "second"))
    dispatcher.fire("e.x")
    assert calls == [("adder",), ("second",)]
    calls.clear()
    dispatcher.forget("e.x", adder)
    dispatcher.fire("e.x")
    assert calls == [("second",), ("late",)]


def test_forgetting_during_a_fire_finishes_that_fire(dispatcher: Dispatcher) -> None:
    calls: list[Any] = []
    dispatcher.listen("e", lambda: dispatcher.forget("e"))
    dispatcher.listen("e", recorder(calls, "still called"))
    dispatcher.fire("e")
    dispatcher.fire("e")
    assert calls == [("still called",)]


# --- subscribe ---------------------------------------------------------------------------


class OrderSubscriber:
    instances: ClassVar[list[OrderSubscriber]] = []

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        OrderSubscriber.instances.append(self)

    def on_created(self, order: Any) -> None:
        self.seen.append(("created", order))

    def on_any(self, order: Any) -> str:
        self.seen.append(("any", order))
        return "ok"

    def subscribe(self, dispatcher: Dispatcher) -> None:
        dispatcher.listen("orders.created", self.on_created)
        dispatcher.listen("orders.*", self.on_any, priority=1)


def test_subscribe_an_object() -> None:
    dispatcher = Dispatcher()
    subscriber = OrderSubscriber()
    dispatcher.subscribe(subscriber)
    assert dispatcher.fire("orders.created", 7) == ["ok", None]
    assert subscriber.seen == [("any", 7), ("created", 7)]


def test_subscribe_a_class_makes_one_instance() -> None:
    dispatcher = Dispatcher()
    OrderSubscriber.instances.clear()
    dispatcher.subscribe(OrderSubscriber)
    dispatcher.fire("orders.shipped", 8)
    [made] = OrderSubscriber.instances
    assert made.seen == [("any", 8)]


# --- push and flush ----------------------------------------------------------------------


def test_push_queues_and_flush_fires_in_order_then_empties_the_queue(
    dispatcher: Dispatcher, fired: EventRecorder
) -> None:
    recorded = fired.on(dispatcher)
    dispatcher.push("a", 1)
    dispatcher.push("b", "x")
    dispatcher.push("a", 2, "two")
    dispatcher.push("a")
    assert recorded.events == []  # nothing fired on push
    dispatcher.flush("a")
    assert fires(recorded) == [("a", 1), ("a", 2, "two"), ("a",)]
    dispatcher.flush("a")  # the queue was emptied
    assert fires(recorded) == [("a", 1), ("a", 2, "two"), ("a",)]
    dispatcher.flush("b")
    dispatcher.flush("never.pushed")
    assert fires(recorded)[3:] == [("b", "x")]


def test_flush_fires_through_patterns_and_pushes_during_flush_wait(
    dispatcher: Dispatcher,
) -> None:
    calls: list[Any] = []

    def requeue(n: int) -> None:
        calls.append(n)
        if n < 3:
            dispatcher.push("job.run", n + 10)

    dispatcher.listen("job.*", requeue)
    dispatcher.push("job.run", 1)
    dispatcher.push("job.run", 2)
    dispatcher.flush("job.run")
    assert calls == [1, 2]
    dispatcher.flush("job.run")
    assert calls == [1, 2, 11, 12]


def test_forget_drops_queued_pushes_of_the_event(fired: EventRecorder) -> None:
    dispatcher = Dispatcher()
    recorded = fired.on(dispatcher)
    dispatcher.push("a", 1)
    dispatcher.push("b", 2)
    dispatcher.forget("a")
    dispatcher.flush("a")
    dispatcher.flush("b")
    assert fires(recorded) == [("b", 2)]


# --- the process-wide default ------------------------------------------------------------


def test_events_is_one_dispatcher_per_process(fired: EventRecorder) -> None:
    assert isinstance(zeroevents_core.events, Dispatcher)
    assert zeroevents_core.events is zeroevents_core.events
    assert zeroevents_core.events is default_dispatcher()
    # `fired` records default_dispatcher(): it sees what is fired through `events`.
    zeroevents_core.events.fire("test.default.x", 1)
    fired.assert_fired("test.default.x", 1)


def test_events_is_one_dispatcher_even_when_threads_race_for_it() -> None:
    # A fresh interpreter, so that the first use (and plugin loading) happens in the race.
    code = """
import json, threading
import zeroevents_core
barrier = threading.Barrier(8)
seen = []
def grab():
    barrier.wait()
    seen.append(id(zeroevents_core.events))
threads = [threading.Thread(target=grab) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps([len(seen), len(set(seen)), id(zeroevents_core.events) in seen]))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [8, 1, True]


@pytest.mark.parametrize("events", [5, None, ["orders.*", 3]])
def test_listen_refuses_what_is_not_a_name_or_pattern(events: Any) -> None:
    with pytest.raises(zeroevents_core.ListenerError) as refused:
        Dispatcher().listen(events, lambda: None)
    assert isinstance(refused.value, zeroevents_core.ZeroEventsError)
