"""Tracing (contrib/zeroevents-otel): trace context across real processes.

The plugin is installed in the venv and loads through its real ``zeroevents``
entry point. Each process (tests/otel_procs.py) records its spans with the SDK's
in-memory exporter and writes them as JSON; the test joins them by ids.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_procs import span_dict
from zeroevents_otel import Tracing

from zeroevents_core import Dispatcher, EventListener, EventService, Message
from zeroevents_core.hookspecs import hookimpl
from zeroevents_core.observers import Observed
from zeroevents_core.plugins import list_observers, register_plugin, unregister_plugin
from zeroevents_core.stats import Stats

PROCS = Path(__file__).resolve().parent / "otel_procs.py"
WAIT = 90.0
Span = dict[str, Any]


def run_all(
    tmp_path: Path, wire: str, *roles: tuple[str, ...], roots: str = ""
) -> list[list[Span]]:
    """Start each role (the receivers first), wait for all, return their spans."""
    env = {**os.environ, "ZEROEVENTS_OTEL_ROOTS": roots}
    started: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for index, (role, *endpoints) in enumerate(roles):
            spans = tmp_path / f"{index}-{role}.json"
            command = [sys.executable, str(PROCS), role, str(spans), wire, *endpoints]
            process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
            started.append((process, spans))
        for process, _ in reversed(started):
            _, stderr = process.communicate(timeout=WAIT)
            assert process.returncode == 0, stderr
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [json.loads(spans.read_text()) for _, spans in started]


def only(spans: list[Span], name: str) -> Span:
    found = [span for span in spans if span["name"] == name]
    assert len(found) == 1, f"expected one span {name!r}, got {spans!r}"
    return found[0]


def child_of(span: Span, parent: Span) -> None:
    assert span["trace_id"] == parent["trace_id"], (span, parent)
    assert span["parent_id"] == parent["span_id"], (span, parent)


def test_one_trace_across_three_processes(tmp_path: Path) -> None:
    first, second = f"ipc://{tmp_path}/a.ipc", f"ipc://{tmp_path}/b.ipc"
    producer, relay, sink = run_all(
        tmp_path, "v2", ("sink", second), ("relay", first, second), ("producer", first)
    )[::-1]
    request, send_created = only(producer, "request"), only(producer, "send orders.created")
    process_created = only(relay, "process orders.created")
    send_billed = only(relay, "send orders.billed")
    process_billed = only(sink, "process orders.billed")

    child_of(send_created, request)
    child_of(process_created, send_created)
    child_of(send_billed, process_created)
    child_of(process_billed, send_billed)
    assert {s["trace_id"] for s in producer + relay + sink} == {request["trace_id"]}
    # The conventions' link to the creation context, beside the parent.
    for consumer, producer_span in ((process_created, send_created), (process_billed, send_billed)):
        assert consumer["links"] == [
            {"trace_id": producer_span["trace_id"], "span_id": producer_span["span_id"]}
        ]
    assert (send_created["kind"], process_created["kind"]) == ("PRODUCER", "CONSUMER")
    assert send_created["attributes"] == {
        "messaging.system": "zeromq",
        "messaging.destination.name": "orders.created",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    attributes = process_billed["attributes"]
    assert attributes.pop("messaging.message.id")  # the v2 event id
    assert attributes == {
        "messaging.system": "zeromq",
        "messaging.destination.name": "orders.billed",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
    }


def test_the_trace_context_travels_in_the_outbox_row(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/outbox.ipc"
    sink, producer = run_all(
        tmp_path, "v2", ("routed-sink", endpoint), ("outbox-producer", endpoint)
    )
    request, send = only(producer, "request"), only(producer, "send orders.created")
    child_of(send, request)
    child_of(only(sink, "process orders.created"), send)


def test_wire_v1_carries_no_trace_context(tmp_path: Path) -> None:
    endpoint = f"ipc://{tmp_path}/v1.ipc"
    roles = ("sink", endpoint), ("producer", endpoint)
    sink, producer = run_all(tmp_path, "v1", *roles, roots="1")
    send = only(producer, "send orders.created")
    process = only(sink, "process orders.created")
    assert process["parent_id"] is None and process["links"] == []
    assert process["trace_id"] != send["trace_id"]
    assert "messaging.message.id" not in process["attributes"]  # v1 has no event id
    # By default a service starts no trace of its own: no span without a sampled parent.
    endpoint = f"ipc://{tmp_path}/v1-default.ipc"
    roles = ("sink", endpoint), ("producer", endpoint)
    (tmp_path / "default").mkdir()
    sink, producer = run_all(tmp_path / "default", "v1", *roles)
    assert [span["name"] for span in sink] == []
    assert (
        only(producer, "send orders.created")["parent_id"] == only(producer, "request")["span_id"]
    )


class LocalTracing:
    """A plugin tracing on its own provider: the global one stays a no-op here, so
    the other tests of this process see no trace headers."""

    def __init__(self, provider: TracerProvider, roots: bool) -> None:
        self.tracing = Tracing(provider, roots=roots)

    @hookimpl
    def register_observers(self, register: Callable[[Any], Any]) -> None:
        register(self.tracing)


@pytest.fixture(params=[True, False], ids=["roots", "no-roots"])
def spans(request: pytest.FixtureRequest) -> Iterator[InMemorySpanExporter]:
    """The spans of this process's sockets and services while the test runs
    (``roots``: the parameter)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    plugin = LocalTracing(provider, request.param)
    register_plugin(plugin)
    try:
        yield exporter
    finally:
        unregister_plugin(plugin)
        provider.shutdown()


def test_the_plugin_is_an_observer_through_its_entry_point() -> None:
    found = [info for info in list_observers() if info.distribution == "zeroevents-otel"]
    assert found, list_observers()


def test_headers_of_the_fire_travel_beside_the_trace_context(
    spans: InMemorySpanExporter, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Over the memory transport, in this process: the fire's own headers are kept.
    endpoint = f"memory://otel-{tmp_path.name}"
    received: list[Any] = []
    remote = Dispatcher()
    bound = EventListener({"transport": "memory", "bind": endpoint, "wire": "v2"})
    bound.socket()  # bound before the other end connects
    service = EventService(remote).listen(bound)
    remote.listen("zeroevents.service.idle", service.stop)  # bounded: it came or never will
    local = Dispatcher()
    with EventListener({"transport": "memory", "connect": endpoint, "wire": "v2"}) as listener:
        local.listen("user.*", listener)
        remote.listen("user.*", lambda *_: received.append(remote.firing_message()))
        remote.listen("user.*", lambda *_: service.stop(), priority=-1)
        local.fire("user.seen", 1, headers={"tenant": "acme"})
        service.poll_timeout(1000).run()
    (message,) = received
    assert message.headers["tenant"] == "acme"
    finished = [span_dict(span) for span in spans.get_finished_spans()]
    if not request.node.callspec.params["spans"]:  # no trace started outside a span
        assert finished == [] and "traceparent" not in message.headers
        return
    send, process = only(finished, "send user.seen"), only(finished, "process user.seen")
    version, trace_id, span_id, _flags = message.headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", send["trace_id"], send["span_id"])
    child_of(process, send)
    assert process["attributes"]["messaging.system"] == "memory"


def test_idle_tracing_gives_no_wrapper_so_the_event_goes_unwrapped() -> None:
    # No recording span around the send, no sampled traceparent on the message: the
    # factories give None (no context manager made, no with entered); in a span, one.
    provider = TracerProvider()
    tracing = Tracing(provider, roots=False)
    observed = Observed(Stats(), "listener", "memory", "memory://idle", "EventListener")
    send, process = tracing.sending(observed), tracing.processing(observed)
    unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    sampled = unsampled[:-2] + "01"
    try:
        assert send("user.seen", None) is None
        assert send("user.seen", {"tenant": "acme"}) is None
        assert process(Message("user.seen", [])) is None  # wire v1: no headers
        assert process(Message("user.seen", [], headers={"traceparent": unsampled})) is None
        assert process(Message("user.seen", [], headers={"traceparent": sampled})) is not None
        with provider.get_tracer("test").start_as_current_span("request"):
            assert send("user.seen", None) is not None
    finally:
        provider.shutdown()
