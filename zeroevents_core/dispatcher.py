"""The in-process event dispatcher, a port of Illuminate's ``Dispatcher``.

Listeners are called as ``listener(*payload)``. Higher ``priority`` runs first;
equal priorities run in registration order, across exact names and patterns
alike. A listener that returns ``False`` stops the propagation. An exception
raised by a listener propagates to the caller of ``fire`` and stops the
propagation too (as in the original); ``EventService`` is where incoming events
are fired with a guard that logs it and goes on.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from inspect import isawaitable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol

from .errors import CoroutineListenerError, ListenerError
from .plugins import get_matcher

if TYPE_CHECKING:
    from .transports import Message

Listener = Callable[..., Any]

# Distinct names whose listener lists are cached; past this the cache starts over,
# so a stream of ever-new names cannot grow memory without bound.
CACHE_SIZE = 4096
# Longer names are looked up each time, never cached: the cache holds at most
# CACHE_SIZE x CACHE_NAME_LENGTH characters of names (about 1 MB), whatever arrives.
CACHE_NAME_LENGTH = 255


class _AsyncFiring(str):
    # The event name as ``firing()`` holds it during ``fire_async``: listeners with a
    # blocking and an awaitable form (``AsyncEventListener``) pick theirs by its type,
    # and a blocking ``fire`` nested inside sets a plain str again.
    __slots__ = ()


class Subscriber(Protocol):
    def subscribe(self, dispatcher: Dispatcher) -> Any: ...


class Dispatcher:
    """Register listeners for event names or patterns and fire events at them."""

    def __init__(self, matcher: str = "glob") -> None:
        self.matcher = get_matcher(matcher)
        # pattern -> [(-priority, sequence, listener)], kept sorted: calling order
        self._listeners: dict[str, list[tuple[int, int, Listener]]] = {}
        # pattern -> its listeners alone, in calling order: a name that matches one
        # pattern (the usual case) is answered by this tuple, built at listen time.
        self._ordered: dict[str, tuple[Listener, ...]] = {}
        self._sequence = itertools.count()
        self._cache: dict[str, tuple[Listener, ...]] = {}
        self._firing: ContextVar[str | None] = ContextVar(f"firing-{id(self)}", default=None)
        # The outgoing headers of a fire, and the received message a service fires.
        self._headers: ContextVar[Mapping[str, str] | None] = ContextVar(
            f"headers-{id(self)}", default=None
        )
        self._message: ContextVar[Message | None] = ContextVar(f"message-{id(self)}", default=None)
        self._queued: dict[str, list[tuple[Any, ...]]] = {}

    def listen(self, events: str | Iterable[str], listener: Listener, priority: int = 0) -> None:
        """Call ``listener`` for each event matching ``events`` (a name, a pattern, or a list)."""
        if not callable(listener):
            raise ListenerError(f"listener must be callable, got {listener!r}")
        # A forwarding listener asks its dispatcher which event is firing: one made
        # without a dispatcher adopts the one it is registered on.
        attach = getattr(listener, "attach_dispatcher", None)
        if attach is not None:
            attach(self)
        patterns = [events] if isinstance(events, str) else events
        if not isinstance(patterns, Iterable):
            raise ListenerError(f"events must be a name, a pattern or a list, got {events!r}")
        for pattern in patterns:
            if not isinstance(pattern, str):
                raise ListenerError(f"event names and patterns are str, got {pattern!r}")
            entries = self._listeners.get(pattern)
            if entries is None:
                entries = self._listeners[pattern] = []
                self.matcher.add(pattern)
            bisect.insort(entries, (-priority, next(self._sequence), listener))
            self._ordered[pattern] = tuple(entry[2] for entry in entries)
        self._cache.clear()

    def forget(self, event: str, listener: Listener | None = None) -> None:
        """Remove the listeners registered under exactly this name or pattern (only
        ``listener``, when given), and the queued pushes of ``event``."""
        entries = self._listeners.get(event)
        if entries is not None:
            if listener is not None:
                # == and not `is`: a bound method is a new object at each attribute access.
                entries[:] = [entry for entry in entries if entry[2] != listener]
            if listener is None or not entries:
                del self._listeners[event]
                del self._ordered[event]
                self.matcher.remove(event)
            else:
                self._ordered[event] = tuple(entry[2] for entry in entries)
            self._cache.clear()
        if listener is None:
            self._queued.pop(event, None)

    def listeners(self, event: str) -> list[Listener]:
        """The listeners that firing ``event`` would call, in calling order."""
        return list(self._listeners_of(event))

    def _listeners_of(self, event: str) -> tuple[Listener, ...]:
        cached = self._cache.get(event)
        if cached is not None:
            return cached
        patterns = self.matcher.match(event)
        if len(patterns) == 1:
            found = self._ordered[patterns[0]]
        elif patterns:
            entries = sorted(e for p in patterns for e in self._listeners[p])
            found = tuple(entry[2] for entry in entries)
        else:
            found = ()
        if len(event) <= CACHE_NAME_LENGTH:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[event] = found
        return found

    def has_listeners(self, event: str) -> bool:
        """Whether firing ``event`` would call at least one listener."""
        return bool(self._listeners_of(event))

    def fire(
        self,
        event: str,
        *payload: Any,
        halt: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Call the listeners of ``event`` with ``payload``; return their responses.

        With ``halt=True``, return the first response that is not None instead
        (None if there is none). A listener returning ``False`` stops the propagation.
        ``headers`` are what forwarding listeners send with it (:meth:`firing_headers`).
        """
        if headers is not None:
            header_token = self._headers.set(headers)
            try:
                return self.fire(event, *payload, halt=halt)
            finally:
                self._headers.reset(header_token)
        token = self._firing.set(event)
        try:
            responses = []
            for listener in self._listeners_of(event):
                response = listener(*payload)
                if response is not None:
                    if type(response) is CoroutineType:
                        _refuse_coroutine(event, listener, response)
                    if halt:
                        return response
                    if response is False:
                        break
                responses.append(response)
            return None if halt else responses
        finally:
            self._firing.reset(token)

    def until(self, event: str, *payload: Any) -> Any:
        """Fire ``event`` and return the first response that is not None."""
        return self.fire(event, *payload, halt=True)

    async def fire_async(
        self,
        event: str,
        *payload: Any,
        halt: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Like :meth:`fire`, awaiting each response that is awaitable (coroutine
        listeners) before calling the next listener: same order, same ``False`` and
        ``halt`` rules, and :meth:`firing` names ``event`` across the awaits."""
        if headers is not None:
            header_token = self._headers.set(headers)
            try:
                return await self.fire_async(event, *payload, halt=halt)
            finally:
                self._headers.reset(header_token)
        token = self._firing.set(_AsyncFiring(event))
        try:
            responses = []
            for listener in self._listeners_of(event):
                response = listener(*payload)
                if response is not None and isawaitable(response):
                    response = await response
                if halt and response is not None:
                    return response
                if response is False:
                    break
                responses.append(response)
            return None if halt else responses
        finally:
            self._firing.reset(token)

    async def until_async(self, event: str, *payload: Any) -> Any:
        """Fire ``event`` with :meth:`fire_async`; return the first response that is not None."""
        return await self.fire_async(event, *payload, halt=True)

    def firing_async(self) -> bool:
        """Whether the innermost fire in progress is a :meth:`fire_async` (whose
        listeners may return awaitables) rather than a blocking :meth:`fire`."""
        return type(self._firing.get()) is _AsyncFiring

    def firing(self) -> str | None:
        """The name of the event being fired right now (the innermost, when fires nest)."""
        return self._firing.get()

    def firing_headers(self) -> Mapping[str, str] | None:
        """The ``headers`` given to the fire in progress (None: none given)."""
        return self._headers.get()

    def firing_message(self) -> Message | None:
        """While a service fires a received event: its Message (``event_id``,
        ``headers``, ...); None otherwise."""
        return self._message.get()

    def fire_message(self, message: Message, halt: bool = False) -> Any:
        """Fire a received ``message`` (what a service does), :meth:`firing_message`
        giving it to the listeners."""
        token = self._message.set(message)
        try:
            return self.fire(message.event, *message.payload, halt=halt)
        finally:
            self._message.reset(token)

    async def fire_message_async(self, message: Message, halt: bool = False) -> Any:
        """:meth:`fire_message` with :meth:`fire_async`."""
        token = self._message.set(message)
        try:
            return await self.fire_async(message.event, *message.payload, halt=halt)
        finally:
            self._message.reset(token)

    def subscribe(self, subscriber: Subscriber | type[Subscriber]) -> None:
        """Let ``subscriber`` (an object, or a class made with no arguments) register listeners."""
        if isinstance(subscriber, type):
            subscriber = subscriber()
        subscriber.subscribe(self)

    def push(self, event: str, *payload: Any) -> None:
        """Queue ``event`` with ``payload``, to be fired by :meth:`flush`."""
        self._queued.setdefault(event, []).append(payload)

    def flush(self, event: str) -> None:
        """Fire every queued ``event`` in the order it was pushed, and empty its queue."""
        for payload in self._queued.pop(event, ()):
            self.fire(event, *payload)


_default: Dispatcher | None = None
_default_lock = threading.Lock()


def default_dispatcher() -> Dispatcher:
    """The process-wide dispatcher (``zeroevents_core.events``, the original's ``Event``
    facade), made on first use so that importing the package loads no plugin."""
    global _default
    if _default is None:
        # Threads racing for the first use must all get the same one.
        with _default_lock:
            if _default is None:
                _default = Dispatcher()
    return _default


def _refuse_coroutine(
    event: str, listener: Listener, coroutine: CoroutineType[Any, Any, Any]
) -> None:
    coroutine.close()  # no "never awaited" warning: the error says it instead
    raise CoroutineListenerError(
        f"listener {listener!r} of {event!r} is a coroutine function, which the blocking "
        "fire() cannot run; use 'await dispatcher.fire_async(...)' (or until_async)"
    )
