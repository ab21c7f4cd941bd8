"""``EventListener``: a dispatcher listener that forwards the events it hears to a socket.

    events.listen("my.events.*", EventListener({"connect": "ipc:///tmp/my.ipc"}))

Options are a dict merged over the defaults, or the name of a connection in the
configuration file (``[connections.NAME]`` in ``zeroevents.toml``). They are
checked when given; the socket is opened on first use, once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from difflib import get_close_matches
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from .config import connection_options
from .dispatcher import Dispatcher, default_dispatcher
from .errors import ConfigurationError, ZeroEventsError
from .observers import Observed, Sending, closed, listener_opened, sending
from .outbox.options import OUTBOX_DEFAULTS, check_outbox_options
from .plugins import DEFAULT_TRANSPORT, get_transport, list_plugins
from .serializers import Serializer
from .stats import Stats
from .transports import Transport
from .transports.codec import resolve_accept, resolve_serializer
from .transports.reliable import FlushReport

if TYPE_CHECKING:
    from .outbox.link import OutboxLink
    from .schemas import SchemaRegistry

COMMON_DEFAULTS: Mapping[str, Any] = {
    "transport": DEFAULT_TRANSPORT,
    "serializer": "json",
    "accept": None,
    "confirmed": False,
    "schemas": None,
    "strict": False,
    "dead_letter": None,
    **OUTBOX_DEFAULTS,
}


def load_schemas(spec: Any, *, strict: bool) -> SchemaRegistry | None:
    """The contracts named by a ``schemas`` option (see ``schemas.resolve_schemas``)."""
    if spec is None:
        return None
    # jsonschema takes about a second to import: only processes that use contracts pay.
    from .schemas import resolve_schemas

    return resolve_schemas(spec, strict=strict)


def dead_letter_options(value: Any) -> Mapping[str, Any] | str:
    """Listener options for a service's ``dead_letter`` option: a dict names its
    transport (the default one otherwise); an endpoint whose scheme is a registered
    transport's name (``memory://orders``) goes to that transport; the transport
    says what the value means (``Transport.dead_letter_options``)."""
    name = COMMON_DEFAULTS["transport"]
    if isinstance(value, Mapping):
        name = value.get("transport", name)
    elif isinstance(value, str) and "://" in value:
        scheme = value.partition("://")[0]
        if any(info.name == scheme for info in list_plugins() if info.kind == "transport"):
            name = scheme
    if not isinstance(name, str):
        raise ConfigurationError(f"option 'transport': expected a name, got {name!r}")
    return get_transport(name).dead_letter_options(value)


def resolve_options(options: Mapping[str, Any] | str) -> tuple[Transport, dict[str, Any]]:
    """The transport and the checked options, merged over both sets of defaults."""
    if isinstance(options, str):
        options = connection_options(options)
    elif not isinstance(options, Mapping):
        raise ConfigurationError(
            f"listener options must be a dict or a connection name, got {options!r}"
        )
    transport_name = options.get("transport", COMMON_DEFAULTS["transport"])
    if not isinstance(transport_name, str):
        raise ConfigurationError(f"option 'transport': expected a name, got {transport_name!r}")
    transport = get_transport(transport_name)
    defaults = {**COMMON_DEFAULTS, **transport.defaults}
    unknown = sorted(set(options) - set(defaults), key=str)
    if unknown:
        raise ConfigurationError(
            f"unknown option{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))} "
            f"for transport {transport_name!r}{_did_you_mean(unknown, defaults)}; "
            f"known options: {', '.join(sorted(defaults))}"
        )
    merged = {**defaults, **options}
    # Socket options merge key by key, so giving one keeps the default timeouts.
    for key, value in options.items():
        if isinstance(value, Mapping) and isinstance(defaults[key], Mapping):
            merged[key] = {**defaults[key], **value}
    serializer = merged["serializer"]
    if not isinstance(serializer, str | Serializer):
        raise ConfigurationError(f"option 'serializer': expected a name, got {serializer!r}")
    resolve_accept(merged["accept"], resolve_serializer(serializer))
    for flag in ("confirmed", "strict"):
        if not isinstance(merged[flag], bool):
            raise ConfigurationError(
                f"option {flag!r}: expected true or false, got {merged[flag]!r}"
            )
    merged["schemas"] = load_schemas(merged["schemas"], strict=merged["strict"])
    merged.update(check_outbox_options(merged))
    if merged["outbox"] is not None:  # an outbox is delivered at least once
        if options.get("delivery", "at-least-once") != "at-least-once":
            raise ConfigurationError(
                f"option 'outbox' delivers at least once: option 'delivery' "
                f"{options['delivery']!r} contradicts it"
            )
        merged["delivery"] = "at-least-once"
    return transport, transport.validate_options(merged)


def _did_you_mean(unknown: list[Any], known: Mapping[str, Any]) -> str:
    """`` (did you mean 'connect'?)`` for a typo such as ``conect``, else nothing."""
    guesses = [
        f"{close[0]!r} for {key!r}"
        for key in unknown
        if isinstance(key, str) and (close := get_close_matches(key, list(known), n=1))
    ]
    return f" (did you mean {', '.join(guesses)}?)" if guesses else ""


class BaseListener:
    """What the blocking and the asyncio listeners share: checked options, the
    dispatcher whose ``firing()`` names the forwarded event, the dead letter."""

    # The side of the transport this flavour uses (Transport.supports_sync/_async).
    side: ClassVar[str] = "sync"

    def __init__(
        self, options: Mapping[str, Any] | str, dispatcher: Dispatcher | None = None
    ) -> None:
        self.transport, self.options = resolve_options(options)
        if not getattr(self.transport, f"supports_{self.side}"):
            other = "AsyncEventListener" if self.side == "sync" else "EventListener"
            raise ConfigurationError(
                f"transport {self.transport.name!r} has no "
                f"{'blocking' if self.side == 'sync' else 'asyncio'} sockets "
                f"(supports_{self.side} is false): use {other} with it"
            )
        if self.options["outbox"] is not None and not self.transport.supports_outbox:
            raise ConfigurationError(
                f"option 'outbox': transport {self.transport.name!r} cannot resume a "
                "producer's sequence numbers after a restart (supports_outbox is false): "
                "an outbox needs one that can"
            )
        if self.options.get("batch_max", 1) > 1 and self.side != "sync":
            raise ConfigurationError(
                "option 'batch_max': only the blocking EventListener sends batches so far "
                "(an asyncio service receives them)"
            )
        self._own_dispatcher = dispatcher is not None
        self.dispatcher = dispatcher if dispatcher is not None else default_dispatcher()
        self._socket: Any = None
        self._observed: Observed | None = None
        self._sending: Sending | None = None  # an observer's wrapper of each send
        # Taken to open or close the socket, never on the send path: two threads
        # firing the first event open one socket between them.
        self._opening = threading.Lock()
        dead_letter = self.options["dead_letter"]
        self.dead_letter: Any = (
            None
            if dead_letter is None
            else self.sibling(self.transport.dead_letter_options(dead_letter), self.dispatcher)
        )
        """Where a service sends the events this listener's socket receives that
        break their contracts, as received (``forward``); None: they are dropped."""

    @classmethod
    def sibling(
        cls, options: Mapping[str, Any] | str, dispatcher: Dispatcher | None = None
    ) -> BaseListener:
        """A listener of the same flavour (blocking or asyncio), for a dead letter."""
        return EventListener(options, dispatcher)

    def attach_dispatcher(self, dispatcher: Dispatcher) -> None:
        """Called by ``Dispatcher.listen``: a listener made without a dispatcher
        forwards the events of the one it is registered on."""
        if not self._own_dispatcher and self._socket is None:
            self.dispatcher = dispatcher

    @property
    def stats(self) -> Stats:
        """The socket's counters (sent, acknowledged, retried, failed, in flight, ...);
        zeros before the socket is open."""
        socket = self._socket
        stats = getattr(socket, "stats", None) if socket is not None else None
        return stats if isinstance(stats, Stats) else Stats()

    def __repr__(self) -> str:
        where = self.transport.where(self.options)
        return f"<{type(self).__name__} {self.options['transport']} {where}>"


class EventListener(BaseListener):
    """Forwards each event it is called for to a socket, lazily opened from ``options``."""

    _outbox: OutboxLink | None = None

    def socket(self) -> Any:
        """The listener's socket, opened, bound and connected on first call."""
        socket = self._socket
        if socket is None:
            with self._opening:
                socket = self._socket
                if socket is None:
                    if self.options["outbox"] is not None:
                        from .outbox.link import OutboxLink

                        self._outbox = OutboxLink(self.transport, self.options, self.dispatcher)
                        socket = self._outbox.socket
                    else:
                        socket = self.transport.open_socket(self.options, self.dispatcher)
                    # Observed first: a thread that sees the socket sees its wrapper.
                    self._observed = listener_opened(self, socket)
                    self._sending = sending(self._observed)
                    self._socket = socket
        return socket

    def __call__(self, *payload: Any) -> Any:
        event = self.dispatcher.firing()
        if event is None:
            raise ZeroEventsError(
                "EventListener was called outside of a fire: there is no event name to "
                "forward; register it with dispatcher.listen(...)"
            )
        socket = self._socket
        if socket is None:
            socket = self.socket()
        headers = self.dispatcher.firing_headers()
        wrapper = self._sending
        scope = None if wrapper is None else wrapper(event, headers)
        if self._outbox is not None:  # stored with its headers, sent by the outbox's thread
            if scope is not None:
                with scope as headers:
                    return self._outbox.fire(event, payload, headers)
            return self._outbox.fire(event, payload, headers)
        if scope is not None:
            with scope as headers:
                if headers is None:
                    return socket.push(event, payload)
                return socket.push(event, payload, headers=headers)
        if headers is None:
            return socket.push(event, payload)
        return socket.push(event, payload, headers=headers)

    def flush(self, timeout: float) -> FlushReport:
        """Wait up to ``timeout`` seconds until every event sent is acknowledged
        (``delivery = "at-least-once"``: acknowledgements read, retries sent); what
        is still pending. On a link that acknowledges nothing the report is empty
        and ``tracked`` is False."""
        if self._outbox is not None:
            return self._outbox.flush(timeout)
        socket = self._socket
        settle = getattr(socket, "settle", None)
        if settle is None:
            return FlushReport()
        report: FlushReport = settle(int(timeout * 1000))
        return report

    def close(self) -> int:
        """Close the socket as its transport does (ZeroMQ: behind the flush barrier
        where the peers speak it, queued sends get up to LINGER).

        Returns how many of the events sent may not have been delivered (also logged
        as a warning): 0 when every one was, or when nothing says otherwise; the
        number sent when no peer was reached, a peer refused the socket type, or the
        barrier went unconfirmed.
        """
        undelivered = 0
        with self._opening:
            socket, self._socket = self._socket, None
            observed, self._observed = self._observed, None
            self._sending = None
            outbox, self._outbox = self._outbox, None
        closed(observed)
        if outbox is not None:
            undelivered = outbox.close()
        elif socket is not None:
            undelivered = self.transport.close_socket(socket, self.options) or 0
        if self.dead_letter is not None:
            self.dead_letter.close()
        return undelivered

    def __enter__(self) -> EventListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
