"""One process of the tracing tests: ``python otel_procs.py ROLE SPANS WIRE [ENDPOINT ...]``.

Each role sets up an SDK TracerProvider with an in-memory exporter, does its part
over real ZeroMQ sockets, then writes its finished spans to SPANS as JSON (name,
kind, ids as hex, parent, links, attributes). Roles:

- ``producer OUT``: fires ``orders.created`` to OUT inside a span ``request``;
- ``relay IN OUT``: a service on IN whose listener re-fires ``orders.billed`` to OUT;
- ``sink IN``: a service on IN that takes one event.

Every wait is bounded (``WAIT``); a service gives up after it in idle polls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from zeroevents_core import Dispatcher, EventListener, EventService

WAIT = 60.0
POLL_MS = 100


def span_dict(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": None if span.parent is None else f"{span.parent.span_id:016x}",
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
        "attributes": dict(span.attributes or {}),
    }


def serve(endpoint: str, wire: str, dispatcher: Dispatcher, socket_type: str = "PULL") -> None:
    """Receive on ``endpoint`` until one event was fired (or WAIT passed idle)."""
    service = EventService(dispatcher).listen(
        EventListener({"bind": endpoint, "socket_type": socket_type, "wire": wire})
    )
    idle = [0]

    def stop_if_waited(_service: Any) -> None:
        idle[0] += 1
        if idle[0] * POLL_MS / 1000 > WAIT:
            service.stop()

    dispatcher.listen("zeroevents.service.idle", stop_if_waited)
    dispatcher.listen("orders.*", lambda *_: service.stop(), priority=-1)
    service.poll_timeout(POLL_MS).run()


def sender(endpoint: str, wire: str, dispatcher: Dispatcher) -> EventListener:
    listener = EventListener({"connect": endpoint, "socket_type": "PUSH", "wire": wire})
    dispatcher.listen("orders.*", listener)
    return listener


def main(role: str, spans: str, wire: str, *endpoints: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    dispatcher = Dispatcher()
    if role == "producer":
        with sender(endpoints[0], wire, dispatcher) as listener:
            with trace.get_tracer("test").start_as_current_span("request"):
                dispatcher.fire("orders.created", {"id": 1})
            listener.flush(WAIT)
    elif role == "outbox-producer":  # stored in an outbox, sent by its thread
        options = {"connect": endpoints[0], "socket_type": "DEALER", "outbox": f"{spans}.db"}
        with EventListener(options) as listener:
            dispatcher.listen("orders.*", listener)
            with trace.get_tracer("test").start_as_current_span("request"):
                dispatcher.fire("orders.created", {"id": 1})
            listener.flush(WAIT)
    elif role == "routed-sink":  # acknowledges: at-least-once
        serve(endpoints[0], wire, dispatcher, "ROUTER")
    elif role == "relay":
        onward = Dispatcher()
        with sender(endpoints[1], wire, onward):
            dispatcher.listen("orders.created", lambda order: onward.fire("orders.billed", order))
            serve(endpoints[0], wire, dispatcher)
    else:
        serve(endpoints[0], wire, dispatcher)
    provider.shutdown()
    finished = [span_dict(span) for span in exporter.get_finished_spans()]
    Path(spans).write_text(json.dumps(finished, indent=1))


if __name__ == "__main__":
    main(*sys.argv[1:])
