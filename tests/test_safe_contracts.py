"""Contract failures are safe to explain (issue 10, item 3), on a real service in another process.

A pattern such as ``^(a+)+$`` backtracks for ever in Python ``re`` on 40 ``a`` and
a ``!``: before, the service gave its verdict in jsonschema-rs and then hung in the
reference engine's explanation. Here the payload must yield
``zeroevents.schema.error`` and a dead letter, and the next event must be fired,
whichever engine weighs it and whatever key types the serializer makes.
"""

from __future__ import annotations

import decimal
import json
import multiprocessing
from pathlib import Path
from typing import Any

import cbor2
import msgpack
import pytest
import zmq
from procs import take

from zeroevents_core import Dispatcher, EventListener, EventService, SchemaRegistry

SPAWN = multiprocessing.get_context("spawn")

CATASTROPHIC = "^(a+)+$"
HOSTILE = "a" * 40 + "!"

CONTRACT = {
    # Declared: the reference engine then reaches it through a $ref to its file, which
    # looks the validator class up by $schema (it must stay the safe one).
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"word": {"type": "string", "pattern": CATASTROPHIC}},
    "patternProperties": {"^(x+)+$": {"type": "integer"}},
    "propertyNames": {"pattern": "^(word|blob|x+)+$"},
    "additionalProperties": False,
}


def consume(endpoint: str, serializer: str, folder: str, engine: str, dead: str, out: Any) -> None:
    dispatcher = Dispatcher()
    schemas = SchemaRegistry.from_folder(folder, engine=engine)  # type: ignore[arg-type]
    options = {
        "bind": endpoint,
        "socket_type": "PULL",
        "serializer": serializer,
        "schemas": schemas,
        "dead_letter": dead,
    }
    listener = EventListener(options, dispatcher)
    service = EventService(dispatcher).listen(listener).poll_timeout(100)
    dispatcher.listen("good", lambda *payload: out.put(("fired", payload)))
    dispatcher.listen(
        "zeroevents.schema.error",
        lambda event, payload, failures, address: out.put(
            ("schema.error", event, [tuple(failure[:2]) for failure in failures])
        ),
    )
    dispatcher.listen("done", service.stop)
    listener.socket()
    out.put(("ready",))
    service.run()
    out.put(("stats", service.stats.internal_errors, service.stats.schema_errors))


@pytest.fixture
def service(tmp_path: Path, consumers: Any) -> Any:
    folder = tmp_path / "contracts"
    folder.mkdir()
    (folder / "word.json").write_text(json.dumps(CONTRACT))

    def start(serializer: str, engine: str) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes], Any]:
        dead_endpoint = f"ipc://{tmp_path}/dead-{len(consumers.processes)}.ipc"
        dead = consumers.context.socket(zmq.PULL)
        dead.setsockopt(zmq.RCVTIMEO, 60_000)
        dead.bind(dead_endpoint)
        consumers.sockets.append(dead)
        push, out, _ = consumers.start(consume, serializer, str(folder), engine, dead_endpoint)
        return push, dead, out

    return start


def hostile_then_good(
    push: zmq.Socket[bytes], dead: zmq.Socket[bytes], out: Any, frame: bytes, good: bytes
) -> list[tuple[str, str]]:
    push.send_multipart([b"word", frame])
    _, event, failures = take(out, "schema.error")
    assert event == "word"
    assert dead.recv_multipart() == [b"word", frame]
    push.send_multipart([b"good", good])
    take(out, "fired")
    push.send_multipart([b"done"])
    assert take(out, "stats") == ("stats", 0, 1)
    return failures  # type: ignore[no-any-return]


@pytest.mark.parametrize("engine", ["auto", "jsonschema"])
def test_a_catastrophic_pattern_is_explained_and_the_service_goes_on(
    service: Any, engine: str
) -> None:
    push, dead, out = service("json", engine)
    frame = json.dumps({"word": HOSTILE}).encode()
    failures = hostile_then_good(push, dead, out, frame, b"1")
    assert failures == [("$[0].word", f"{HOSTILE!r} does not match {CATASTROPHIC!r}")]


@pytest.mark.parametrize("engine", ["auto", "jsonschema"])
def test_hostile_keys_meet_pattern_properties_and_property_names(service: Any, engine: str) -> None:
    push, dead, out = service("json", engine)
    frame = json.dumps({"x" * 40 + "!": 1}).encode()
    failures = hostile_then_good(push, dead, out, frame, b"1")
    assert {path for path, _ in failures} == {"$[0]"}
    assert any("does not match any of the regexes" in message for _, message in failures)


def test_a_bytes_value_beside_a_catastrophic_string_is_weighed_safely(service: Any) -> None:
    # jsonschema-rs cannot take bytes values: the reference gives the verdict, on
    # the hot path, and its patterns must not run on Python re either.
    push, dead, out = service("msgpack", "auto")
    frame = msgpack.packb({"word": HOSTILE, "blob": b"\x00"})
    failures = hostile_then_good(push, dead, out, frame, msgpack.packb(1))
    assert ("$[0].word", f"{HOSTILE!r} does not match {CATASTROPHIC!r}") in failures


@pytest.mark.parametrize("serializer", ["msgpack", "cbor"])
def test_bytes_keys_are_a_failure_not_a_crash(service: Any, serializer: str) -> None:
    # Both decoders refuse int and tuple keys outright; bytes keys reach the contract.
    push, dead, out = service(serializer, "auto")
    dumps = msgpack.packb if serializer == "msgpack" else cbor2.dumps
    frame = dumps({b"x-1": HOSTILE})
    failures = hostile_then_good(push, dead, out, frame, dumps(1))
    assert failures == [("$[0]", "map key b'x-1' is not a string (contracts describe JSON)")]


@pytest.mark.parametrize("engine", ["auto", "jsonschema"])
@pytest.mark.parametrize(
    "value",
    [{1: "a"}, {(1, 2): "a"}, {b"word": "a"}, {"word": HOSTILE, "n": decimal.Decimal("sNaN")}],
    ids=["int key", "tuple key", "bytes key", "signalling NaN"],
)
def test_the_failure_path_never_raises(engine: str, value: Any) -> None:
    # What msgpack and cbor can make (int and tuple keys through a custom serializer):
    # each is a failure with a path, never an exception out of the registry.
    registry = SchemaRegistry(engine=engine)  # type: ignore[arg-type]
    registry.add(
        "word", {**CONTRACT, "properties": {**CONTRACT["properties"], "n": {"minimum": 0}}}
    )
    failures = registry.errors("word", [value])
    assert failures and all(failure.json_path.startswith("$") for failure in failures)


@pytest.mark.parametrize("draft", ["2019-09", "2020-12"])
def test_unevaluated_properties_weighs_pattern_properties_safely(draft: str) -> None:
    # The reference engine finds the keys patternProperties evaluates deep in its own
    # code: a hostile key against a catastrophic pattern must not hang it either.
    registry = SchemaRegistry(engine="jsonschema")
    registry.add(
        "word",
        {
            "$schema": f"https://json-schema.org/draft/{draft}/schema",
            "patternProperties": {"^(x+)+$": {"type": "integer"}},
            "unevaluatedProperties": False,
        },
    )
    hostile = "x" * 40 + "!"
    assert registry.is_valid("word", [{"xx": 1}])
    (failure,) = registry.errors("word", [{hostile: 1, "xx": 1}])
    assert failure.message == f"Unevaluated properties are not allowed ({hostile!r} was unexpected)"
