"""Helpers for testing event flows: a recorder of fired events, and a link in-process.

The pytest plugin ``zeroevents.testing`` gives them as the fixtures ``fired`` and
``event_link`` (see docs/testing.md); they work without pytest too::

    recorder = EventRecorder(dispatcher)
    dispatcher.fire("orders.created", {"id": 1})
    recorder.assert_fired("orders.created", {"id": 1})

    with event_link() as link:          # a listener and a service, connected
        link.local.fire("orders.created", {"id": 1})
        link.fired.wait_for("orders.created")

An :class:`EventRecorder` listens to every event of its dispatcher (``*`` with the
glob matcher, ``#`` with segments) at the highest priority, so it sees each fire
before any other listener can stop or break it. Being a listener it shows: the
dispatcher's ``fire()`` returns one more ``None``, first, and ``has_listeners`` is
true for every name, until the recorder stops.
"""

from __future__ import annotations

import difflib
import os
import reprlib
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pprint import pformat
from typing import Any

from .dispatcher import Dispatcher, default_dispatcher
from .errors import ConfigurationError, SchemaValidationError, ZeroEventsError
from .listener import EventListener, load_schemas
from .plugins import get_matcher
from .service import EventService
from .transports.codec import SCHEMA_ERROR

DEFAULT_MAX_EVENTS = 10_000
"""Events a recorder keeps (the oldest go first past it, counted in ``dropped``)."""
DEFAULT_TIMEOUT = 10.0
"""Seconds ``wait_for`` waits when not told."""
LINK_ENV = "ZEROEVENTS_TEST_LINK"
"""Environment variable choosing the link of every ``event_link``: ``memory`` or ``ipc``."""
LINKS = ("memory", "ipc")
STOP_TIMEOUT = 10.0
"""Seconds a link's service thread gets to stop at close."""

# The names of the library's own events (zeroevents.push.error, ...).
LIBRARY_PREFIX = "zeroevents."
# The pattern matching every name, per matcher; another matcher's is given by hand.
CATCH_ALL = {"glob": "*", "segments": "#"}
# Events named in a failure message, and the length of each one's rendering.
CLOSEST = 5
_RENDER = reprlib.Repr()
_RENDER.maxstring = _RENDER.maxother = 60
# Above any listener a user would register: the recorder runs first.
_FIRST = sys.maxsize


@dataclass(frozen=True)
class FiredEvent:
    """One event as a recorder saw it fired."""

    name: str
    payload: tuple[Any, ...]
    time: float
    """``time.time()`` when it was fired."""
    headers: Mapping[str, Any] | None = None
    """The v2 wire's headers; None on v1 and for events fired in-process."""
    id: str | None = None
    """The v2 wire's message id; None on v1 and for events fired in-process."""

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_RENDER.repr(value) for value in self.payload)})"


class _Waiter:
    """One ``wait_for`` in progress: the recording thread hands it the first match."""

    def __init__(self, matches: Callable[[str], bool], wake: Callable[[FiredEvent], Any]):
        self.matches = matches
        self.wake = wake


class EventRecorder:
    """Records every event fired on ``dispatcher`` until :meth:`stop`; thread-safe.

    ``max_events``: how many it keeps (the oldest are dropped past it, counted in
    :attr:`dropped`). ``timeout``: the default of :meth:`wait_for`, in seconds.
    ``catch_all``: the pattern matching every name, for a matcher other than
    ``glob`` and ``segments``.
    """

    def __init__(
        self,
        dispatcher: Dispatcher | None = None,
        *,
        max_events: int = DEFAULT_MAX_EVENTS,
        timeout: float = DEFAULT_TIMEOUT,
        catch_all: str | None = None,
    ) -> None:
        if not isinstance(max_events, int) or isinstance(max_events, bool) or max_events < 1:
            raise ConfigurationError(
                f"option 'max_events': expected an int >= 1, got {max_events!r}"
            )
        _check_timeout(timeout)
        self.dispatcher = dispatcher if dispatcher is not None else default_dispatcher()
        self.max_events = max_events
        self.timeout = float(timeout)
        self.dropped = 0
        """Events recorded and then dropped because more than ``max_events`` came."""
        self.pattern = catch_all if catch_all is not None else catch_all_of(self.dispatcher)
        self._events: deque[FiredEvent] = deque(maxlen=max_events)
        self._waiters: list[_Waiter] = []
        self._lock = threading.Lock()
        self._others: list[EventRecorder] = []
        self.recording = True
        self.dispatcher.listen(self.pattern, self._record, priority=_FIRST)

    def __repr__(self) -> str:
        state = "recording" if self.recording else "stopped"
        return f"<EventRecorder {state} {len(self._events)} events of {self.dispatcher!r}>"

    def on(self, dispatcher: Dispatcher, *, catch_all: str | None = None) -> EventRecorder:
        """A recorder of ``dispatcher`` with the same settings, stopped with this one."""
        other = EventRecorder(
            dispatcher, max_events=self.max_events, timeout=self.timeout, catch_all=catch_all
        )
        self._others.append(other)
        return other

    def stop(self) -> None:
        """Stop recording (here and in the recorders made by :meth:`on`); what was
        recorded stays readable."""
        if self.recording:
            self.recording = False
            self.dispatcher.forget(self.pattern, self._record)
        for other in self._others:
            other.stop()

    def clear(self) -> None:
        """Forget what was recorded (and the count of dropped events)."""
        with self._lock:
            self._events.clear()
            self.dropped = 0

    @property
    def events(self) -> list[FiredEvent]:
        """What was recorded, in firing order (a copy)."""
        with self._lock:
            return list(self._events)

    def _record(self, *payload: Any) -> None:
        # Must return None: False would stop the propagation.
        dispatcher = self.dispatcher
        received = dispatcher.firing_message()  # None unless a service fires it
        record = FiredEvent(
            dispatcher.firing() or "",
            payload,
            time.time(),
            None if received is None else received.headers,
            None if received is None else received.event_id,
        )
        with self._lock:
            if len(self._events) == self.max_events:
                self.dropped += 1
            self._events.append(record)
            woken = [waiter for waiter in self._waiters if waiter.matches(record.name)]
            for waiter in woken:
                self._waiters.remove(waiter)
        for waiter in woken:
            waiter.wake(record)

    # --- assertions ---------------------------------------------------------------------

    def assert_fired(
        self, name: str, *args: Any, payload: Sequence[Any] | None = None
    ) -> FiredEvent:
        """The first recorded ``name`` event, fired with exactly ``args`` when given (or
        ``payload=[...]``, a whole payload: ``payload=[]`` for none); AssertionError
        showing the closest events otherwise."""
        __tracebackhide__ = True
        wanted = _wanted_payload(args, payload)
        events = self.events
        for record in events:
            if record.name == name and (wanted is None or record.payload == wanted):
                return record
        shown = name if wanted is None else str(FiredEvent(name, wanted, 0.0))
        raise AssertionError(
            f"{shown} was not fired\n" + self._explain(shown, events, name=name, payload=wanted)
        )

    def assert_fired_matching(self, pattern: str, count: int | None = None) -> list[FiredEvent]:
        """The recorded events whose names match ``pattern`` (through the dispatcher's
        matcher): at least one, or exactly ``count``."""
        __tracebackhide__ = True
        events, matches = self.events, self.matcher(pattern)
        matched = [record for record in events if matches(record.name)]
        if (count is None and matched) or len(matched) == count:
            return matched
        expected = "at least 1" if count is None else str(count)
        if not matched:
            raise AssertionError(
                f"{pattern!r} matched no fired event (expected {expected})\n"
                + self._explain(pattern, events)
            )
        raise AssertionError(
            f"{pattern!r} matched {len(matched)} fired events, expected {expected}:\n"
            + _listing(matched)
            + self._summary()
        )

    def assert_not_fired(self, name_or_pattern: str) -> None:
        """No recorded event's name is or matches ``name_or_pattern``."""
        __tracebackhide__ = True
        matches = self.matcher(name_or_pattern)
        matched = [record for record in self.events if matches(record.name)]
        if matched:
            raise AssertionError(
                f"{name_or_pattern!r} was fired {len(matched)} time{'s' * (len(matched) > 1)}:\n"
                + _listing(matched)
                + self._summary()
            )

    def wait_for(self, name_or_pattern: str, timeout: float | None = None) -> FiredEvent:
        """The first event named ``name_or_pattern`` (or matching it) recorded so far,
        or the next one, fired from any thread; AssertionError after ``timeout``
        seconds (default :attr:`timeout`) listing what was fired instead.

        In a coroutine, ``await`` :meth:`wait_for_async` instead: this call blocks the
        event loop, whose tasks could not fire."""
        __tracebackhide__ = True
        if _in_event_loop():
            raise ZeroEventsError(
                f"fired.wait_for({name_or_pattern!r}) would block the running event loop: "
                f"use 'await fired.wait_for_async({name_or_pattern!r})' in a coroutine"
            )
        timeout = self.timeout if timeout is None else _check_timeout(timeout)
        arrived = threading.Event()
        found: list[FiredEvent] = []

        def wake(record: FiredEvent) -> None:
            found.append(record)
            arrived.set()

        waiter = self._wait(name_or_pattern, wake)
        if not arrived.wait(timeout):
            self._give_up(waiter)
            if not found:  # else it came between the timeout and giving up
                raise AssertionError(self._timed_out(name_or_pattern, timeout))
        return found[0]

    async def wait_for_async(
        self, name_or_pattern: str, timeout: float | None = None
    ) -> FiredEvent:
        """:meth:`wait_for` for coroutines: the event loop keeps running while it waits."""
        __tracebackhide__ = True
        import asyncio  # here: the module stays free of asyncio for blocking tests

        timeout = self.timeout if timeout is None else _check_timeout(timeout)
        loop = asyncio.get_running_loop()
        arrived: asyncio.Future[FiredEvent] = loop.create_future()

        def settle(record: FiredEvent) -> None:
            if not arrived.done():
                arrived.set_result(record)

        waiter = self._wait(
            name_or_pattern, lambda record: loop.call_soon_threadsafe(settle, record)
        )
        try:
            return await asyncio.wait_for(arrived, timeout)
        except TimeoutError:
            self._give_up(waiter)
            raise AssertionError(self._timed_out(name_or_pattern, timeout)) from None

    def matcher(self, name_or_pattern: str) -> Callable[[str], bool]:
        """A test of event names against ``name_or_pattern``, through a matcher of the
        dispatcher's kind (an exact name matches itself)."""
        matcher = get_matcher(self.dispatcher.matcher.name)
        matcher.add(name_or_pattern)
        return lambda name: bool(matcher.match(name))

    def _wait(self, name_or_pattern: str, wake: Callable[[FiredEvent], Any]) -> _Waiter:
        """A waiter woken with the first match recorded, at once if there is one already,
        else by the recording thread."""
        waiter = _Waiter(self.matcher(name_or_pattern), wake)
        with self._lock:
            found = next((record for record in self._events if waiter.matches(record.name)), None)
            if found is None:
                self._waiters.append(waiter)
        if found is not None:
            wake(found)
        return waiter

    def _give_up(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # --- failure messages ---------------------------------------------------------------

    def _timed_out(self, name_or_pattern: str, timeout: float) -> str:
        return f"{name_or_pattern!r} was not fired within {timeout:g} s\n" + self._explain(
            name_or_pattern, self.events
        )

    def _explain(
        self,
        wanted: str,
        events: Sequence[FiredEvent],
        *,
        name: str | None = None,
        payload: tuple[Any, ...] | None = None,
    ) -> str:
        """The closest recorded events to ``wanted`` (difflib), and for the closest of
        the same ``name`` how its ``payload`` differs."""
        if not events:
            return "nothing was fired" + self._summary()
        renderings = {str(record): record for record in events}
        closest = sorted(
            renderings,
            key=lambda shown: -difflib.SequenceMatcher(None, wanted, shown).ratio(),
        )[:CLOSEST]
        text = "closest fired events:\n" + "".join(f"  {shown}\n" for shown in closest)
        same_name = [renderings[shown] for shown in closest if renderings[shown].name == name]
        if payload is not None and same_name:
            diff = difflib.ndiff(
                pformat(payload, width=70).splitlines(),
                pformat(same_name[0].payload, width=70).splitlines(),
            )
            text += f"payload of the closest {name!r}, expected (-) and fired (+):\n"
            text += "".join(f"  {line}\n" for line in diff if not line.startswith("?"))
        return text + self._summary()

    def _summary(self) -> str:
        with self._lock:
            kept, dropped = len(self._events), self.dropped
        text = f"({kept} events recorded"
        if dropped:
            text += f"; {dropped} older ones dropped past max_events={self.max_events}"
        return text + ")"


def catch_all_of(dispatcher: Dispatcher) -> str:
    """The pattern matching every event name with ``dispatcher``'s matcher."""
    name = dispatcher.matcher.name
    if name not in CATCH_ALL:
        raise ConfigurationError(
            f"option 'catch_all': no pattern matching every name is known for the "
            f"{name!r} matcher; give it (catch_all='...')"
        )
    return CATCH_ALL[name]


def _wanted_payload(args: tuple[Any, ...], payload: Sequence[Any] | None) -> tuple[Any, ...] | None:
    """The payload an assertion asks for; None: any."""
    if payload is None:
        return args or None
    if args:
        raise TypeError("assert_fired() takes a payload as arguments or as payload=, not both")
    if not isinstance(payload, list | tuple):
        raise TypeError(f"assert_fired(payload=...) takes a list or a tuple, got {payload!r}")
    return tuple(payload)


def _listing(events: Iterable[FiredEvent]) -> str:
    events = list(events)
    text = "".join(f"  {record}\n" for record in events[:CLOSEST])
    if len(events) > CLOSEST:
        text += f"  ... and {len(events) - CLOSEST} more\n"
    return text


def _check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigurationError(f"option 'timeout': expected seconds > 0, got {timeout!r}")
    return float(timeout)


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")  # not imported: no loop can be running
    if asyncio is None:
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# --- the link -------------------------------------------------------------------------


class EventLink:
    """A listener and a service in this process, connected (made by :func:`event_link`).

    ``local``: the dispatcher whose events ``listener`` forwards; ``service`` fires
    them on ``remote``, whose events ``fired`` records. ``kind``: ``"memory"`` or
    ``"ipc"``. ``events``: the names or patterns forwarded; by default every name
    but the library's own (``zeroevents.*``). ``schema_errors``: the
    ``zeroevents.schema.error`` events fired on ``remote``, as SchemaValidationErrors;
    the first one left when the link closes is raised (a test provoking them on
    purpose takes them out).
    """

    def __init__(
        self,
        kind: str,
        receiving: Mapping[str, Any],
        sending: Mapping[str, Any],
        *,
        events: str | Sequence[str] | None,
        dispatcher: Dispatcher | None,
        max_events: int,
        timeout: float,
    ) -> None:
        self.kind = kind
        self.remote = Dispatcher()
        self.fired = EventRecorder(self.remote, max_events=max_events, timeout=timeout)
        self.schema_errors: list[SchemaValidationError] = []
        self.remote.listen(SCHEMA_ERROR, self._schema_error)
        self.endpoint: str = receiving["bind"]
        """Where the service receives (``ipc://...``, ``memory://...``): a listener of
        another process may connect to an ipc link's."""
        receiver = EventListener(receiving, self.remote)
        self.service = EventService(self.remote).listen(receiver)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=f"event_link {kind}", daemon=True)
        self.local = dispatcher if dispatcher is not None else Dispatcher()
        self.events = events if events is not None else catch_all_of(self.local)
        self.listener = EventListener(sending, self.local)
        self._forward = self.listener if events is not None else self._forward_but_library
        try:
            receiver.socket()  # bound before the first send
            self._thread.start()
            self.local.listen(self.events, self._forward)
        except BaseException:
            receiver.close()
            self.listener.close()
            raise

    def _forward_but_library(self, *payload: Any) -> Any:
        # Forwarding every name would forward the library's own events too: a failed
        # push's zeroevents.push.error would be pushed, fail, and fire another.
        if not (self.local.firing() or "").startswith(LIBRARY_PREFIX):
            return self.listener(*payload)
        return None

    def _serve(self) -> None:
        try:
            self.service.run()
        except BaseException as error:  # re-raised by close(), in the test's thread
            self._error = error

    def _schema_error(self, event: str, payload: Any, failures: Any, *_: Any) -> None:
        self.schema_errors.append(SchemaValidationError(event, [tuple(f) for f in failures]))

    def close(self) -> None:
        """Stop forwarding, close the listener, stop the service (its thread ends) and
        the recorder; raise what the service raised, or the first schema error left."""
        __tracebackhide__ = True
        patterns = [self.events] if isinstance(self.events, str) else self.events
        for pattern in patterns:
            self.local.forget(pattern, self._forward)
        self.listener.close()
        # A stop that comes before run() has started is not kept: ask until it ends.
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._thread.is_alive() and time.monotonic() < deadline:
            self.service.stop()
            self._thread.join(0.05)
        self.fired.stop()
        if self._thread.is_alive():
            raise ZeroEventsError(f"the service of {self!r} did not stop within {STOP_TIMEOUT} s")
        if self._error is not None:
            raise self._error
        if self.schema_errors:
            raise self.schema_errors[0]

    def __repr__(self) -> str:
        return f"<EventLink {self.kind} {self.listener!r} -> {self.service.listeners[0]!r}>"


@contextmanager
def event_link(
    *,
    with_real: str | None = None,
    events: str | Sequence[str] | None = None,
    dispatcher: Dispatcher | None = None,
    contracts: str | os.PathLike[str] | None = None,
    serializer: str = "json",
    wire: str = "v1",
    max_events: int = DEFAULT_MAX_EVENTS,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[EventLink]:
    """A connected :class:`EventLink`, closed on exit.

    ``with_real="ipc"`` (or ``ZEROEVENTS_TEST_LINK=ipc``) links over real ZeroMQ
    sockets under a temporary folder; otherwise over the ``memory`` transport. The
    listener forwards ``events`` (default: all but the library's ``zeroevents.*``)
    of ``dispatcher`` (default: a new one, ``link.local``). ``contracts``: a
    contract folder both ends enforce. ``serializer``: both ends'. ``wire``: the
    listener's (``"v2"``: headers and event ids reach ``fired.events``).
    """
    kind = _link_kind(with_real)
    common = {"serializer": serializer, "schemas": load_schemas(contracts, strict=False)}
    sending_only = {"wire": wire}
    folder = tempfile.mkdtemp(prefix="zeroevents-link-") if kind == "ipc" else None
    try:
        receiving, sending = _endpoints(kind, folder)
        link = EventLink(
            kind,
            {**receiving, **common},
            {**sending, **common, **sending_only},
            events=events,
            dispatcher=dispatcher,
            max_events=max_events,
            timeout=timeout,
        )
        try:
            yield link
        finally:
            link.close()
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _link_kind(with_real: str | None) -> str:
    if with_real is None:
        kind = os.environ.get(LINK_ENV) or "memory"
        if kind not in LINKS:
            raise ConfigurationError(
                f"environment variable {LINK_ENV}={kind!r}: expected one of {', '.join(LINKS)}"
            )
        return kind
    if with_real not in LINKS:
        raise ConfigurationError(
            f"option 'with_real': expected one of {', '.join(LINKS)} or None, got {with_real!r}"
        )
    return with_real


def _endpoints(kind: str, folder: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The receiving and the sending end's options of a link."""
    if kind == "ipc":
        endpoint = f"ipc://{folder}/link.ipc"
        return (
            {"bind": endpoint, "socket_type": "PULL"},
            {"connect": endpoint, "socket_type": "PUSH"},
        )
    endpoint = f"memory://event-link-{uuid.uuid4().hex}"
    return (
        {"transport": "memory", "bind": endpoint},
        {"transport": "memory", "connect": endpoint},
    )
