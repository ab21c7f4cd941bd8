"""A wrong socket pairing is reported, not silent; the README's halves pair as written.

libzmq never pairs DEALER with PULL or PUSH with DEALER: the handshake fails and
sends queue for ever. The socket monitor sees it: the library logs it naming both
socket types and the endpoint, ``push`` fires ``zeroevents.push.error``, and
``EventListener.close()`` returns the events that were not delivered;
``zeroevents emit`` and ``listen`` exit 1 with the message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from procs import WAIT, serve, take
from test_cli import Running, zeroevents

from zeroevents_core import Dispatcher, EventListener

README = Path(__file__).parent.parent / "README.md"
WRITTEN = "ipc:///tmp/my.ipc"  # the README's endpoint; each test uses a private one instead


@pytest.mark.parametrize(("sender", "receiver"), [("DEALER", "PULL"), ("PUSH", "DEALER")])
def test_a_wrong_pairing_is_reported_by_push_and_close(
    spawn: Callable[..., Any],
    queue: Any,
    ipc: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
    sender: str,
    receiver: str,
) -> None:
    endpoint = ipc("wrong")
    child = spawn(serve, {"bind": endpoint, "socket_type": receiver}, queue)
    take(queue, "ready")
    dispatcher = Dispatcher()
    errors: list[tuple[str, list[Any]]] = []
    dispatcher.listen(
        "zeroevents.push.error",
        lambda socket, event, payload, address: errors.append((event, list(payload))) or "no",
    )
    listener = EventListener({"connect": endpoint, "socket_type": sender}, dispatcher)
    caplog.set_level(logging.WARNING, logger="zeroevents_core.transports")
    first = listener.socket().push("orders.created", [1])  # before the handshake, or after
    socket = listener.socket()
    socket.handshakes.wait([endpoint], time.monotonic() + WAIT)
    assert socket.push("orders.created", [2]) == "no"
    assert errors[-1] == ("orders.created", [2])
    [failure] = socket.handshakes.failures.values()
    assert f"{receiver} does not pair with this {sender} socket" in failure
    assert endpoint in failure
    assert failure in caplog.text  # logged as it happened
    undelivered = listener.close()
    assert undelivered == (1 if first is True else 0)
    if undelivered:
        assert f"closing the {sender} socket on {endpoint}: 1 event sent may not" in caplog.text
    os.kill(child.pid, signal.SIGTERM)
    assert take(queue, "stopped")[1]["received"] == 0


def test_close_reports_events_no_peer_took(
    ipc: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="zeroevents_core.transports")
    listener = EventListener(
        {"connect": ipc("nobody"), "socket_options": {"LINGER": 0}, "hello_timeout_ms": 0}
    )
    for number in range(3):
        assert listener.socket().push("orders.created", [number]) is True
    assert listener.close() == 3
    assert "3 events sent may not have been delivered: no peer was reached" in caplog.text


@pytest.mark.parametrize(
    ("emit_type", "listen_type", "emit_says", "listen_says"),
    [
        ("dealer", "pull", "PULL does not pair with this DEALER", "this PULL socket"),
        ("push", "dealer", "DEALER does not pair with this PUSH", "this DEALER socket"),
    ],
)
def test_emit_and_listen_exit_1_on_a_wrong_pairing(
    ipc: Callable[[str], str], emit_type: str, listen_type: str, emit_says: str, listen_says: str
) -> None:
    listen = Running(["listen", "--bind", ipc("wrong"), "--socket-type", listen_type])
    try:
        endpoint = listen.ready()
        done = zeroevents("emit", "--connect", endpoint, "--socket-type", emit_type, "e", "1")
        assert done.returncode == 1
        assert emit_says in done.stderr and endpoint in done.stderr, done.stderr
        assert listen.finish() == 1
        assert any(listen_says in line and endpoint in line for line in listen.err), listen.err
        assert listen.out == []
    finally:
        if listen.process.poll() is None:
            listen.process.kill()
        listen.finish()


def readme_block(marker: str) -> str:
    """The README code block whose first line contains ``marker``."""
    for block in re.findall(r"```(?:python|sh)\n(.*?)```", README.read_text(), re.S):
        if marker in block.splitlines()[0]:
            return str(block)
    raise AssertionError(f"no README block starting with {marker!r}")


def readme_command(word: str, endpoint: str) -> list[str]:
    """The README's ``zeroevents WORD ...`` shell line, split as a shell does, on
    ``endpoint`` instead of the README's."""
    for line in readme_block("zeroevents listen").splitlines():
        parts = shlex.split(line.replace(WRITTEN, endpoint), comments=True)
        if parts[:2] == ["zeroevents", word]:
            return parts[1:]
    raise AssertionError(f"no 'zeroevents {word}' line in the README")


def test_the_readme_producer_and_listen_line_talk_as_written(ipc: Callable[[str], str]) -> None:
    endpoint = ipc("my")
    producer = readme_block("# producer.py")
    assert WRITTEN in producer
    listen = Running(readme_command("listen", endpoint))
    try:
        listen.ready()
        done = subprocess.run(
            [sys.executable, "-c", producer.replace(WRITTEN, endpoint)],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        assert done.returncode == 0, done.stderr
        emitted = zeroevents(*readme_command("emit", endpoint))
        assert emitted.returncode == 0, emitted.stderr
        deadline = time.monotonic() + WAIT
        while len(listen.out) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [json.loads(line) for line in listen.out] == [
            {"event": "my.events.created", "payload": [{"id": 1}]}
        ] * 2
    finally:
        listen.process.send_signal(signal.SIGTERM)
        listen.finish()


def test_the_readme_service_and_producer_talk_as_written(ipc: Callable[[str], str]) -> None:
    endpoint = ipc("my")
    service_code = readme_block("# service.py").replace(WRITTEN, endpoint)
    producer_code = readme_block("# producer.py").replace(WRITTEN, endpoint)
    service = subprocess.Popen(
        [sys.executable, "-c", service_code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + WAIT
        while not os.path.exists(endpoint[len("ipc://") :]):
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, "service.py never bound its socket"
            time.sleep(0.05)
        done = subprocess.run(
            [sys.executable, "-c", producer_code], capture_output=True, text=True, timeout=WAIT
        )
        assert done.returncode == 0, done.stderr
        assert service.stdout is not None
        # Printed at once (flush=True), while the service still runs.
        assert service.stdout.readline() == "caught my.events.created ({'id': 1},)\n"
    finally:
        service.send_signal(signal.SIGINT)
        service.communicate(timeout=WAIT)
    assert service.returncode == 0


# A peer that dies during the handshake, as a kill -9 of a consumer does: a plain
# socket that takes the connection, reads the start of the greeting, then stops
# listening and drops it, and exits.
GONE_MID_HANDSHAKE = """
import socket, sys
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(1)
print("listening", flush=True)
connection, _ = server.accept()
connection.recv(10)
server.close()
connection.close()
"""


def test_a_peer_that_goes_away_during_the_handshake_is_not_a_wrong_pairing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "peer.ipc"
    endpoint = f"ipc://{path}"
    child = subprocess.Popen(
        [sys.executable, "-c", GONE_MID_HANDSHAKE, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline() == "listening\n"
        caplog.set_level(logging.INFO, logger="zeroevents_core.transports")
        with EventListener({"connect": endpoint, "socket_type": "PUSH"}) as listener:
            socket = listener.socket()
            assert child.wait(WAIT) == 0
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline and not any(  # bounded: WAIT
                "handshake" in record.getMessage() for record in caplog.records
            ):
                time.sleep(0.01)
            said = [(r.levelname, r.getMessage()) for r in caplog.records]
            assert socket.handshakes.failures == {}, said
            assert not socket.handshakes.blocked()
        assert [s for s in said if "handshake" in s[1]] == [
            (
                "INFO",
                f"the peer at {endpoint} closed the connection during the ZeroMQ handshake "
                "(it went away or restarted): reconnecting",
            )
        ]
    finally:
        child.kill()
        child.wait(WAIT)
        child.stdout.close()
