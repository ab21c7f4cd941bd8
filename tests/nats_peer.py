"""What the NATS tests run in child processes (spawned, so that a kill -9 is real).

Every event carries its id as its only argument; a consumer appends each id it
fires to a file with one unbuffered write (kept by the kernel when the process
is killed), before its listener returns and so before the ack.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from zeroevents_core import Dispatcher, EventListener, EventService


def consume(options: dict[str, Any], event: str, record: str) -> None:
    """Fire every event of the durable consumer, recording its id, until SIGTERM.

    Once the service runs (its signal handlers installed: a SIGTERM stops it
    gracefully), it creates ``record.running.PID``."""
    dispatcher = Dispatcher()
    fd = os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    running = Path(f"{record}.running.{os.getpid()}")
    dispatcher.listen(event, lambda number: os.write(fd, b"%d\n" % number))
    # The first poll's idle, or the first event: either comes from inside run().
    dispatcher.listen("zeroevents.service.idle", lambda service: running.touch())
    dispatcher.listen(event, lambda number: running.exists() or running.touch())
    service = EventService(dispatcher).poll_timeout(100)
    service.listen(EventListener(options, dispatcher)).run()


def produce(options: dict[str, Any], event: str, count: int, batch: int, acked: str) -> None:
    """Publish ids 0..count-1; after each batch whose PubAcks all came back, record
    its last id (every id of the batch was then acknowledged)."""
    dispatcher = Dispatcher()
    listener = EventListener(options, dispatcher)
    dispatcher.listen(event, listener)
    socket = listener.socket()
    fd = os.open(acked, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for start in range(0, count, batch):
        for number in range(start, min(start + batch, count)):
            dispatcher.fire(event, number)
        if socket.flush(30000):
            os.write(fd, b"%d %d\n" % (start, min(start + batch, count)))
    listener.close()


def read_ids(path: Path) -> list[int]:
    """The ids recorded so far (a line cut by a kill is ignored)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [int(line) for line in data.split(b"\n")[:-1] if line]


def acked_ids(path: Path) -> set[int]:
    ids: set[int] = set()
    if path.exists():
        for line in path.read_bytes().split(b"\n")[:-1]:
            start, end = map(int, line.split())
            ids.update(range(start, end))
    return ids


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``condition()`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class PrivateServer:
    """A ``nats-server -js`` of the test's own, on a free port with its own store:
    the tests that kill or restart a server never touch the shared one."""

    def __init__(self, binary: str, store: Path) -> None:
        self.binary = binary
        self.store = store
        self.port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = tempfile.TemporaryFile()  # noqa: SIM115 - the process's own stderr, closed with it
        self.process = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=log,
            stderr=log,
        )
        wait_for(self._listening, 20, f"nats-server on port {self.port}")

    def _listening(self) -> bool:
        import socket

        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nats-server exited with {self.process.returncode}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(20)
        self.process = None


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
