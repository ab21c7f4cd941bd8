"""Event contracts enforced across two real processes (issue 5).

A producer with the contract refuses a bad event and sends the good one; a
consumer with the contract never fires a bad event from a producer without it,
fires ``zeroevents.schema.error`` instead, goes on, and can send the bad event,
frames intact, to a dead-letter endpoint. The consumer reports what it fires to the
test through an ipc ``event_link`` (the zeroevents.testing plugin).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import zmq

from zeroevents_core import (
    Dispatcher,
    EventListener,
    EventService,
    SchemaRegistry,
    SchemaValidationError,
    ZeroEventsError,
)
from zeroevents_core.testing import EventLink, EventRecorder

CONTRACTS = Path(__file__).parent.parent / "examples" / "contracts"
SPAWN = multiprocessing.get_context("spawn")
WAIT = 60.0

GOOD = {
    "id": 7,
    "customer": {"id": "6f1c1f5e-8d2b-4c8e-9a51-6c1f1d1e2a3b", "email": "ada@example.com"},
    "items": [{"sku": "BOO-1234", "quantity": 1, "price": 12.5}],
    "total": 12.5,
    "currency": "EUR",
    "created_at": "2026-11-26T12:00:00Z",
}
BAD = {**GOOD, "id": "seven", "items": []}


def consume(endpoint: str, report: str, contracts: str | None, dead_letter: str | None) -> None:
    """A service that forwards to ``report`` (the test's event link) what it fires,
    each schema error, and at the end its stats."""
    dispatcher = Dispatcher()
    options: dict[str, Any] = {"bind": endpoint, "socket_type": "PULL", "schemas": contracts}
    if dead_letter is not None:
        options["dead_letter"] = dead_letter
    listener = EventListener(options, dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(100)
    reporter = EventListener({"connect": report, "socket_type": "PUSH"}, dispatcher)
    dispatcher.listen(["orders.*", "consumer.*"], reporter)
    dispatcher.listen(
        "zeroevents.schema.error",
        lambda event, payload, failures, address: dispatcher.fire(
            "consumer.schema_error", event, payload, [list(f) for f in failures], address
        ),
    )
    dispatcher.listen("done", lambda: service.stop())
    listener.socket()
    dispatcher.fire("consumer.ready")
    service.run()
    dispatcher.fire("consumer.stats", service.stats.schema_errors, service.stats.fired)
    reporter.close()


@pytest.fixture
def consumer(tmp_path: Path, event_link: Any) -> Any:
    """``consumer(contracts, dead_letter)``: a consumer in a fresh interpreter, its
    endpoint, and the recorder of what it reports over an ipc event link."""
    started: list[Any] = []

    def start(contracts: str | None, dead_letter: str | None = None) -> tuple[str, EventRecorder]:
        report: EventLink = event_link(with_real="ipc", timeout=WAIT)
        endpoint = f"ipc://{tmp_path}/orders-{len(started)}.ipc"
        process = SPAWN.Process(
            target=consume, args=(endpoint, report.endpoint, contracts, dead_letter)
        )
        process.start()
        started.append(process)
        report.fired.wait_for("consumer.ready")
        return endpoint, report.fired

    yield start
    for process in started:
        process.join(20)
        if process.is_alive():
            process.kill()
            process.join(10)


def producer(endpoint: str, contracts: SchemaRegistry | None) -> EventListener:
    return EventListener(
        {"connect": endpoint, "socket_type": "PUSH", "schemas": contracts}, Dispatcher()
    )


def test_producer_with_the_contract_refuses_the_bad_event_and_sends_the_good(
    consumer: Any,
) -> None:
    endpoint, reports = consumer(None)
    with producer(endpoint, SchemaRegistry.from_folder(CONTRACTS)) as listener:
        socket = listener.socket()
        with pytest.raises(SchemaValidationError) as refused:
            socket.push("orders.created", [BAD])
        error = refused.value
        assert isinstance(error, ZeroEventsError)
        assert error.event == "orders.created"
        paths = {path for path, _, _ in error.failures}
        assert {"$[0].id", "$[0].items"} <= paths  # every failure, not only the first
        assert any(
            source and source.endswith("orders.created.json") for *_, source in error.failures
        )
        assert socket.push("orders.created", [GOOD]) is True
        socket.push("done")
    reports.wait_for("consumer.stats")
    # Only the good one crossed: the refused event was never sent.
    [crossed] = reports.assert_fired_matching("orders.*", count=1)
    assert (crossed.name, crossed.payload) == ("orders.created", (GOOD,))
    reports.assert_fired("consumer.stats", 0, 2)  # the good order and "done"
    reports.assert_not_fired("consumer.schema_error")


def test_consumer_with_the_contract_never_fires_a_bad_event(consumer: Any) -> None:
    endpoint, reports = consumer(str(CONTRACTS))
    with producer(endpoint, None) as listener:
        socket = listener.socket()
        assert socket.push("orders.created", [BAD]) is True
        assert socket.push("orders.created", [GOOD]) is True
        socket.push("done")
    reports.wait_for("consumer.stats")
    [schema_error] = reports.assert_fired_matching("consumer.schema_error", count=1)
    event, payload, failures, address = schema_error.payload
    assert (event, payload, address) == ("orders.created", [BAD], None)
    assert {"$[0].id", "$[0].items"} <= {path for path, _, _ in failures}
    [fired] = reports.assert_fired_matching("orders.*", count=1)
    assert (fired.name, fired.payload) == ("orders.created", (GOOD,))
    reports.assert_fired("consumer.stats", 1, 2)  # one rejected; the good order and "done"


def test_dead_letter_endpoint_receives_the_bad_event_intact(consumer: Any, tmp_path: Path) -> None:
    dead_endpoint = f"ipc://{tmp_path}/dead.ipc"
    context: zmq.Context[Any] = zmq.Context()
    dead = context.socket(zmq.PULL)
    dead.setsockopt(zmq.RCVTIMEO, int(WAIT * 1000))
    dead.setsockopt(zmq.LINGER, 0)
    dead.bind(dead_endpoint)
    try:
        endpoint, reports = consumer(str(CONTRACTS), dead_endpoint)
        with producer(endpoint, None) as listener:
            sent = listener.socket().encode("orders.created", [BAD])
            listener.socket().send_frames(sent)
            listener.socket().push("orders.created", [GOOD])
            listener.socket().push("done")
        assert dead.recv_multipart() == sent
        reports.wait_for("consumer.stats")
        reports.assert_fired_matching("consumer.schema_error", count=1)
        [fired] = reports.assert_fired_matching("orders.*", count=1)
        assert (fired.name, fired.payload) == ("orders.created", (GOOD,))
        reports.assert_fired("consumer.stats", 1, 2)  # one rejected; the good order and "done"
    finally:
        dead.close()
        context.term()


def test_strict_contracts_refuse_events_without_a_schema(tmp_path: Path) -> None:
    listener = EventListener(
        {"connect": f"ipc://{tmp_path}/x.ipc", "schemas": str(CONTRACTS), "strict": True},
        Dispatcher(),
    )
    with listener, pytest.raises(SchemaValidationError) as refused:
        listener.socket().push("payments.settled", [{}])
    assert "no schema" in str(refused.value)


def test_bad_schemas_option_is_refused_when_given(tmp_path: Path) -> None:
    with pytest.raises(ZeroEventsError, match="schemas"):
        EventListener({"connect": f"ipc://{tmp_path}/x.ipc", "schemas": 42})
    with pytest.raises(ZeroEventsError, match="strict"):
        EventListener({"connect": f"ipc://{tmp_path}/x.ipc", "strict": "yes"})
    with pytest.raises(ZeroEventsError, match="dead_letter"):
        EventListener({"connect": f"ipc://{tmp_path}/x.ipc", "dead_letter": 5})
    missing = tmp_path / "no-such-folder"
    with pytest.raises(ZeroEventsError, match=str(missing)):
        EventListener({"connect": f"ipc://{tmp_path}/x.ipc", "schemas": str(missing)})
