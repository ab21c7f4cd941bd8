"""The ``nats`` transport: zeroevents over NATS JetStream, a durable, clustered broker.

Install ``zeroevents-nats`` and give ``transport="nats"``: the core finds this
module through the ``zeroevents`` entry-point group. The same ``EventListener``
and ``EventService`` code runs on it with its options changed::

    # producer: each event forwarded is published to the subject of its name
    EventListener({"transport": "nats", "stream": "ORDERS"})
    # consumer: a durable pull consumer; acked once every listener returned
    EventService().listen(EventListener({
        "transport": "nats", "stream": "ORDERS", "durable": "billing",
        "subjects": "orders.>", "dead_letter": "orders.dead",
    })).run()

One event is one NATS message (see :mod:`._wire`): headers ``Zeroevents-Event``
(the name), ``Content-Type`` (the serializer's), ``Nats-Msg-Id`` (the event id,
which JetStream deduplicates) and ``traceparent`` (from :data:`traceparent`);
the body is the serializer's frames, one per argument, each behind its length
as 4 bytes big-endian.

Guarantees: a publish is acknowledged by the stream (PubAck), awaited in a
window of ``max_pending`` so that ``fire()`` does not wait for each one;
``flush()`` and ``close()`` wait for all and fire ``zeroevents.push.error`` for
those that failed. A received event is acked after every listener returned,
nak'ed with ``backoff_ms`` when one raised, and after ``max_deliver`` failed
deliveries published to the ``dead_letter`` subject with the failure in its
headers, then terminated; without a ``dead_letter`` subject it stays in the
stream. At most ``max_in_flight`` events are unacknowledged (the consumer's
``max_ack_pending`` on the server too). docs/nats.md has every option.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any

from zeroevents_core import ConfigurationError, Dispatcher, Transport, hookimpl
from zeroevents_core.transports import CliOption

from ._options import DEFAULTS, validate
from ._sockets import NatsAsyncPoller, NatsAsyncSocket, NatsPoller, NatsSocket
from ._wire import traceparent

__all__ = ["NatsAsyncSocket", "NatsSocket", "NatsTransport", "traceparent"]


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _yes_no(text: str) -> bool:
    answers = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
    if text.lower() not in answers:
        raise ConfigurationError(f"expected yes or no, got {text!r}")
    return answers[text.lower()]


# ``zeroevents listen/emit --transport nats ...``: the options most runs need.
_CLI_OPTIONS = (
    CliOption("--servers", "servers", "a server URL; repeatable", multiple=True, metavar="URL"),
    CliOption("--stream", "stream", "the JetStream stream", metavar="NAME"),
    CliOption(
        "--subjects", "subjects", "the stream's subjects (--create-stream), a consumer's filter; "
        "repeatable", multiple=True, metavar="SUBJECT",
    ),
    CliOption(
        "--create-stream", "create_stream", "create the stream when it is missing (yes/no)",
        _yes_no, metavar="YES",
    ),
    CliOption("--subject-prefix", "subject_prefix", "put before each event name", metavar="P"),
    CliOption(
        "--durable", "durable", "the durable pull consumer to receive from", commands=("listen",),
        metavar="NAME",
    ),
    CliOption(
        "--dead-letter", "dead_letter", "the subject events given up go to", commands=("listen",),
        metavar="SUBJECT",
    ),
    CliOption(
        "--max-in-flight", "max_in_flight", "unacknowledged events at most", _count,
        ("listen",), metavar="N",
    ),
)  # fmt: skip


class NatsTransport(Transport):
    """NATS JetStream, through nats-py: blocking (a loop thread per socket) and asyncio."""

    name = "nats"
    supports_sync = True
    supports_async = True
    defaults = DEFAULTS

    @classmethod
    def describe(cls) -> str:
        return f"nats-py {version('nats-py')}, JetStream (PubAcks, durable pull consumers)"

    @classmethod
    def cli_options(cls) -> Sequence[CliOption]:
        return _CLI_OPTIONS

    def validate_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = validate(options)
        # The socket dead-letters on its own connection (with the failure in the
        # headers), so the listener makes no dead-letter listener of its own: what
        # dead_letter_options(value) could make would not know these servers.
        checked["dead_letter_subject"] = checked["dead_letter"]
        checked["dead_letter"] = None
        return checked

    def where(self, options: Mapping[str, Any]) -> str:
        servers = ",".join(options["servers"])
        stream = options["stream"]
        if stream is None:
            return servers
        durable = options["durable"]
        return f"{servers} {stream}" + ("" if durable is None else f"/{durable}")

    def dead_letter_options(self, value: Any) -> Mapping[str, Any] | str:
        """A service's ``dead_letter`` on NATS: producer options (forwarded events are
        published to their names behind its ``subject_prefix``). A listener's own
        ``dead_letter`` is a subject its socket publishes to (see validate_options)."""
        if isinstance(value, Mapping):
            return {**value, "transport": "nats"}
        raise ConfigurationError(
            "option 'dead_letter': a service's nats dead letter is a dict of nats options "
            f"such as {{'transport': 'nats', 'subject_prefix': 'dead'}}, got {value!r}"
        )

    def open_socket(self, options: Mapping[str, Any], dispatcher: Dispatcher) -> NatsSocket:
        return NatsSocket(options, dispatcher)

    def poller(self, sockets: Sequence[Any]) -> NatsPoller:
        return NatsPoller(sockets)

    def close_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        closed: int = socket.close()
        return closed

    def open_async_socket(
        self, options: Mapping[str, Any], dispatcher: Dispatcher
    ) -> NatsAsyncSocket:
        return NatsAsyncSocket(options, dispatcher)

    def async_poller(self, sockets: Sequence[Any]) -> NatsAsyncPoller:
        return NatsAsyncPoller(sockets)

    async def close_async_socket(self, socket: Any, options: Mapping[str, Any]) -> int:
        closed: int = await socket.aclose()
        return closed


@hookimpl
def register_transports(register: Any) -> None:
    register(NatsTransport)
