"""The shared suite: the typed contract itself, event contracts on send and on
receive, dead letters, capabilities; on every transport (``transport_link``)."""

from __future__ import annotations

import pytest
from transport_suite import CONTRACTS, SCHEMA_ERROR, Link, Running

from zeroevents_core import (
    ConfigurationError,
    EventListener,
    Message,
    SchemaValidationError,
)
from zeroevents_core.transports import EventSocket, Poller

GOOD = {"id": 7, "reason": "out of stock"}
BAD = {"id": "seven"}


def test_sockets_and_pollers_implement_the_protocols(transport_link: Link) -> None:
    receiver = EventListener(transport_link.receiver())
    try:
        socket = receiver.socket()
        assert isinstance(socket, EventSocket)
        poller = receiver.transport.poller([socket])
        try:
            assert isinstance(poller, Poller)
            assert poller.poll(0) == []
        finally:
            poller.close()
        assert transport_link.endpoint in receiver.transport.where(receiver.options)
        assert transport_link.endpoint in repr(receiver)
    finally:
        receiver.close()


def test_a_contract_on_send_refuses_a_bad_event(transport_link: Link) -> None:
    listener = EventListener(transport_link.sender(schemas=str(CONTRACTS)))
    with listener, pytest.raises(SchemaValidationError, match=r"orders\.cancelled"):
        listener.socket().push("orders.cancelled", [BAD])


def test_a_contract_on_receive_fires_schema_error_and_sends_the_dead_letter(
    transport_link: Link,
) -> None:
    sink_options, dead_letter, _ = transport_link.sink()
    with EventListener(sink_options) as sink:
        sink.socket()  # bound before the service sends to it
        receiver = transport_link.receiver(schemas=str(CONTRACTS), dead_letter=dead_letter)
        with Running(receiver) as running:
            with EventListener(transport_link.sender()) as sender:
                sender.socket().push("orders.cancelled", [BAD])
                sender.socket().push("orders.cancelled", [GOOD])
                assert running.take() == [("orders.cancelled", [GOOD])]
            kind, (event, payload, failures) = running.error()
            dead = sink.socket().pull()
    assert (kind, event, payload) == (SCHEMA_ERROR, "orders.cancelled", [BAD])
    assert failures >= 1
    assert isinstance(dead, Message)
    assert (dead.event, dead.payload) == ("orders.cancelled", [BAD])  # intact
    assert running.service.stats.schema_errors == 1
    assert running.service.stats.fired == 1


def test_a_service_wide_dead_letter_gets_what_breaks_the_services_contracts(
    transport_link: Link,
) -> None:
    sink_options, _, dead_letter = transport_link.sink()
    with EventListener(sink_options) as sink:
        sink.socket()
        running = Running(
            transport_link.receiver(), schemas=str(CONTRACTS), dead_letter=dead_letter
        )
        with running, EventListener(transport_link.sender()) as sender:
            sender.socket().push("orders.cancelled", [BAD])
            dead = sink.socket().pull()
    assert isinstance(dead, Message)
    assert (dead.event, dead.payload) == ("orders.cancelled", [BAD])


def test_the_accept_list_and_serializer_hold_on_every_transport(transport_link: Link) -> None:
    running = Running(transport_link.receiver(serializer="string"))
    with running, EventListener(transport_link.sender(serializer="string")) as listener:
        listener.socket().push("text", ["plain"])
        assert running.take() == [("text", ["plain"])]
    refused = EventListener(transport_link.sender(serializer="json", accept=["string"]))
    with pytest.raises(ConfigurationError, match="accept list"):
        refused.socket()


def test_an_asyncio_listener_refuses_a_transport_without_an_asyncio_side() -> None:
    """``synconly`` comes from the test plugin distribution (tests/plugins), through
    its real entry point: a transport declaring ``supports_async = False``."""
    from zeroevents_core import AsyncEventListener

    options = {"transport": "synconly", "connect": "memory://nowhere"}
    EventListener(options)  # its blocking side is there
    with pytest.raises(ConfigurationError, match="'synconly'"):
        AsyncEventListener(options)
