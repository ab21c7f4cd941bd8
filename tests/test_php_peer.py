"""A real PHP peer, as the original behaves at its defaults (tests/php/peer.php), both ways.

PHP receives (DEALER or ROUTER, confirmed or not) from a Python ``EventListener`` at
our defaults: it fires exactly the events sent (no ``zeroevents.flush``, no
``zeroevents.hello``), with the bytes the json serializer wrote, which are PHP's own
for the float table. PHP sends (DEALER, confirmed or not) to a Python
``EventService``: Python reads PHP's bytes back to the same values, and confirms
every message it took from the wire, an undecodable one included, as the original
does (a PHP sender waits for ever otherwise).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import WAIT, serve, take
from test_php_json import FLOAT_TABLE

from zeroevents_core import Dispatcher, EventListener, get_serializer

PEER = Path(__file__).parent / "php" / "peer.php"
PHP = shutil.which("php")


def _php_has_zmq() -> bool:
    if PHP is None:
        return False
    done = subprocess.run([PHP, "-m"], capture_output=True, text=True, timeout=60)
    return "zmq" in done.stdout.split()


# Every test twice: the json serializer on orjson, and on the stdlib alone.
pytestmark = [
    pytest.mark.skipif(
        not _php_has_zmq(),
        reason="php-cli with php-zmq is not installed (scripts/dev.py installs php-cli php-zmq)",
    ),
    pytest.mark.usefixtures("json_mode"),
]

# Floats (PHP's own bytes for each), then what else crosses: unicode, slashes, the
# two separators PHP escapes, nesting, empty object, null and bools.
EVENTS: list[tuple[str, list[Any]]] = [
    *((f"float.{index}", [value]) for index, (value, _) in enumerate(FLOAT_TABLE)),
    ("my.events.created", [{"id": 1, "price": 9.5}, "при/вет", "a\u2028b\u2029c"]),
    ("my.events.none", []),
    ("my.events.mixed", [None, True, [1, 2.0, {"k": 1e-7}], {}]),
]


def encode(event: str, payload: list[Any]) -> list[str]:
    return [frame.hex() for frame in [event.encode(), *get_serializer("json").serialize(payload)]]


class Php:
    """tests/php/peer.php in its own process, killed at teardown whatever happens."""

    def __init__(self, *args: str, stdin: str | None = None) -> None:
        assert PHP is not None
        self.process = subprocess.Popen(
            [PHP, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        assert json.loads(ready) == {"ready": True}, self.process.stderr
        self.stdin = stdin

    def lines(self) -> list[dict[str, Any]]:
        """What it printed after "ready", once it has ended."""
        out, err = self.process.communicate(self.stdin, timeout=WAIT)
        assert self.process.returncode == 0, err
        return [json.loads(line) for line in out.splitlines()]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=WAIT)


@pytest.fixture
def php() -> Iterator[Callable[..., Php]]:
    started: list[Php] = []

    def start(*args: str, stdin: str | None = None) -> Php:
        started.append(Php(*args, stdin=stdin))
        return started[-1]

    yield start
    for peer in started:
        peer.kill()


MINUS_ZERO = b"-0".hex()
CASES = [("DEALER", "0"), ("DEALER", "1"), ("ROUTER", "0"), ("ROUTER", "1")]


@pytest.mark.parametrize(("php_type", "confirmed"), CASES)
def test_php_receiver_fires_exactly_the_events_a_python_listener_sent(
    php: Callable[..., Php], ipc: Callable[[str], str], php_type: str, confirmed: str
) -> None:
    endpoint = ipc("php")
    receiver = php("receive", php_type, "bind", endpoint, confirmed, "1000")
    dispatcher = Dispatcher()
    listener = EventListener({"connect": endpoint, "confirmed": confirmed == "1"}, dispatcher)
    dispatcher.listen("*", listener)
    results = [dispatcher.fire(event, *payload)[0] for event, payload in EVENTS]
    assert listener.close() == 0  # nothing reported undelivered
    received = receiver.lines()
    # Exactly the events sent, byte for byte: no barrier, no hello.
    assert [line["event"] for line in received] == [event for event, _ in EVENTS]
    assert [[line["event"].encode().hex(), *line["frames"]] for line in received] == [
        encode(event, payload) for event, payload in EVENTS
    ]
    if confirmed == "1":
        assert [result.payload for result in results] == [[event] for event, _ in EVENTS]
    else:
        assert results == [True] * len(EVENTS)


def test_the_float_table_arrives_as_php_writes_it(
    php: Callable[..., Php], ipc: Callable[[str], str]
) -> None:
    endpoint = ipc("php")
    receiver = php("receive", "ROUTER", "bind", endpoint, "0", "1000")
    with EventListener({"connect": endpoint}) as listener:
        for value, _ in FLOAT_TABLE:
            listener.socket().push("float", [value, [value]])
    received = receiver.lines()
    assert [bytes.fromhex(line["frames"][0]).decode() for line in received] == [
        text for _, text in FLOAT_TABLE
    ]
    # PHP writes back what it read with the same bytes (but "-0", which it reads as int 0).
    kept = [line for line in received if line["frames"][0] != MINUS_ZERO]
    assert [line["reencoded"] for line in kept] == [line["frames"] for line in kept]


@pytest.mark.parametrize(
    ("php_type", "confirmed"), [("ROUTER", "0"), ("ROUTER", "1"), ("DEALER", "0")]
)
def test_emit_to_php_exits_0_and_php_fires_only_the_event(
    php: Callable[..., Php], ipc: Callable[[str], str], php_type: str, confirmed: str
) -> None:
    endpoint = ipc("php")
    receiver = php("receive", php_type, "bind", endpoint, confirmed, "1000")
    command = [sys.executable, "-m", "zeroevents_core.cli", "emit", "--connect", endpoint]
    if confirmed == "1":
        command.append("--confirmed")
    done = subprocess.run(
        [*command, "orders.created", '{"id": 1}'], capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 0, done.stderr
    received = receiver.lines()
    assert [(line["event"], line["frames"]) for line in received] == [
        ("orders.created", [b'{"id":1}'.hex()])
    ]


UNDECODABLE = ("bad.frame", {"event": "bad.frame", "raw": [b'{"id":'.hex()]})


@pytest.mark.parametrize(("python_type", "confirmed"), CASES)
def test_python_service_reads_and_confirms_what_a_php_sender_sent(
    php: Callable[..., Php],
    spawn: Callable[..., Any],
    queue: Any,
    ipc: Callable[[str], str],
    python_type: str,
    confirmed: str,
) -> None:
    endpoint = ipc("py")
    options = {"bind": endpoint, "socket_type": python_type, "confirmed": confirmed == "1"}
    spawn(serve, options, queue)
    take(queue, "ready")
    lines = [json.dumps({"event": event, "payload": payload}) for event, payload in EVENTS]
    lines.append(json.dumps(UNDECODABLE[1]))
    lines.append(json.dumps({"event": "after.bad", "payload": [1]}))
    sender = php("send", "DEALER", "connect", endpoint, confirmed, stdin="\n".join(lines) + "\n")
    printed = sender.lines()
    names = [*(event for event, _ in EVENTS), UNDECODABLE[0], "after.bad"]
    # Each reply is the confirmation of its own event: no hello, nothing else first.
    replies = [line["reply"] for line in printed]
    if confirmed == "1":
        serializer = get_serializer("json")
        assert replies == [
            [b"zeroevents.confirmed".hex(), *(f.hex() for f in serializer.serialize([name]))]
            for name in names
        ]
    else:
        assert replies == [None] * len(names)
    reports = [queue.get(timeout=WAIT) for _ in names]
    assert [report[0] for report in reports] == [
        *(["event"] * len(EVENTS)),
        "pull.error",
        "event",
    ]
    events = [report for report in reports if report[0] == "event"]
    assert [name for _, name, _ in events] == [*(event for event, _ in EVENTS), "after.bad"]
    # What Python read, written again by Python, is what PHP sent (PHP's bytes: floats
    # included), but for "-0", read as int 0 on both sides.
    for (_, name, payload), line in zip(events, printed[: len(EVENTS)], strict=False):
        ours = encode(name, payload)
        theirs = line["sent"]
        assert len(ours) == len(theirs)
        for mine, php_frame in zip(ours, theirs, strict=True):
            if php_frame != MINUS_ZERO:
                assert mine == php_frame, (name, bytes.fromhex(php_frame))
    sent_floats = [bytes.fromhex(line["sent"][1]).decode() for line in printed[: len(FLOAT_TABLE)]]
    assert sent_floats == [text for _, text in FLOAT_TABLE]
