"""OpenTelemetry traces for zeroevents, with ``opentelemetry-api``.

Installed, this plugin registers an observer (the ``register_observers`` hook)
that wraps every send of a listener's socket in a PRODUCER span ``send <event>``
and injects the W3C ``traceparent`` and ``tracestate`` of that span into the
event's headers (the global propagator), and every fire of a received event in a
CONSUMER span ``process <event>`` whose parent is the context extracted from the
message's headers, with a link to it too.

Why both: the messaging semantic conventions require a link from a process span
to the creation context (batches cannot have many parents) and allow the parent
when one span processes one message, as a service does; the parent keeps the
whole flow in one trace, the link is what batch-aware backends follow.

Headers travel on wire v2 and on NATS. Wire v1 (the PHP original's) carries
none: the producer span is still made, the consumer span has no parent.

Span names follow ``{messaging.operation.name} {destination}``, the destination
being the event name (low cardinality: a name, not an id). Attributes:
``messaging.system`` (``zeromq`` for the built-in transport, the transport's name
otherwise: ``nats``, ``memory``), ``messaging.destination.name``,
``messaging.operation.type`` and ``messaging.operation.name`` (``send`` /
``process``), and on the consumer ``messaging.message.id`` (the event id, v2 and
NATS). The application sets up its ``TracerProvider`` and sampler as usual.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)

from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.observers import Headers, Observed, Processing, Sending
from zeroevents_core.transports import Message

__version__ = "0.1.0"

# messaging.system per transport name: the built-in one is ZeroMQ, which the
# conventions do not list; the others are named as registered (nats is listed).
SYSTEMS: Mapping[str, str] = {"zmq": "zeromq"}

SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
OPERATION_TYPE = "messaging.operation.type"
OPERATION_NAME = "messaging.operation.name"
MESSAGE_ID = "messaging.message.id"
TRACEPARENT = "traceparent"
ROOTS_VARIABLE = "ZEROEVENTS_OTEL_ROOTS"
FALSE = frozenset({"", "0", "false", "no"})


class _Send:
    """One send: the producer span, and the headers with its trace context."""

    __slots__ = ("_event", "_headers", "_span", "_system", "_tracer")

    def __init__(self, tracer: Tracer, system: str, event: str, headers: Headers) -> None:
        self._tracer, self._system, self._event, self._headers = tracer, system, event, headers
        self._span: Span | None = None

    def __enter__(self) -> Headers:
        event = self._event
        span = self._span = self._tracer.start_span(
            f"send {event}",
            kind=SpanKind.PRODUCER,
            attributes={
                SYSTEM: self._system,
                DESTINATION: event,
                OPERATION_TYPE: "send",
                OPERATION_NAME: "send",
            },
        )
        carrier = dict(self._headers) if self._headers else {}
        # The span's own context, not made current: nothing runs inside but the push.
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier or self._headers

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        if span is None:
            return
        if exc is not None and span.is_recording():
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        span.end()


def _sampled(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` carry a W3C ``traceparent`` with its sampled flag set
    (read without parsing the rest: the propagator does, when it is)."""
    parent = headers.get(TRACEPARENT)
    if parent is None:
        return False
    try:
        return bool(int(parent[-2:], 16) & 1)
    except ValueError:  # malformed: the propagator will say it carries no parent
        return False


def _links(parent: Context) -> Iterable[Link]:
    sent = trace.get_current_span(parent).get_span_context()
    return (Link(sent),) if sent.is_valid else ()


class Tracing:
    """The observer: a send wrapper per listener socket, a fire wrapper per service.

    The plugin registers one on the global tracer provider (a proxy until the
    application sets its own, so asking once per socket is enough); make another
    with ``tracer_provider`` and register it as a plugin to trace on that one, as
    the OpenTelemetry instrumentations take ``tracer_provider=``.
    """

    def __init__(
        self, tracer_provider: TracerProvider | None = None, *, roots: bool | None = None
    ) -> None:
        self.tracer_provider = tracer_provider
        self.roots = (
            os.environ.get(ROOTS_VARIABLE, "").lower() not in FALSE if roots is None else roots
        )
        """Whether a send outside any recording span, and a received event without a
        sampled ``traceparent``, get a span (a new trace, if the sampler keeps it).
        False (the default, or ``ZEROEVENTS_OTEL_ROOTS`` unset, ``0`` or empty): they
        get none, and cost a test each; traces start in the application."""

    def _tracer(self) -> Tracer:
        return trace.get_tracer(__name__, __version__, tracer_provider=self.tracer_provider)

    def sending(self, observed: Observed) -> Sending:
        tracer, system = self._tracer(), SYSTEMS.get(observed.transport, observed.transport)

        roots, current_span = self.roots, trace.get_current_span

        def send(event: str, headers: Headers) -> AbstractContextManager[Headers] | None:
            if not roots and not current_span().is_recording():
                return None  # no trace to continue: the send goes unwrapped
            return _Send(tracer, system, event, headers)

        return send

    def processing(self, observed: Observed) -> Processing:
        tracer, system = self._tracer(), SYSTEMS.get(observed.transport, observed.transport)
        start: Callable[..., AbstractContextManager[Any]] = tracer.start_as_current_span

        roots = self.roots

        def process(message: Message) -> AbstractContextManager[Any] | None:
            headers = message.headers
            if not roots and (headers is None or not _sampled(headers)):
                return None  # wire v1, or no sampled parent: the fire goes unwrapped
            # An empty context, not the current one: no headers means no parent.
            parent = Context() if headers is None else propagate.extract(headers, Context())
            attributes = {
                SYSTEM: system,
                DESTINATION: message.event,
                OPERATION_TYPE: "process",
                OPERATION_NAME: "process",
            }
            if message.event_id is not None:
                attributes[MESSAGE_ID] = message.event_id
            return start(
                f"process {message.event}",
                context=parent,
                kind=SpanKind.CONSUMER,
                links=_links(parent),
                attributes=attributes,
            )

        return process


TRACING = Tracing()


@hookimpl
def register_observers(register: Callable[[Any], Any]) -> None:
    register(TRACING)
