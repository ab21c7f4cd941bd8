"""Shared fixtures: real processes that are always reaped, queues, short ipc endpoints.

``tests/`` is put on ``sys.path`` so that ``procs`` (the functions run by child
processes) is importable by children started with the "spawn" method, which
inherit the parent's ``sys.path``.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

SPAWN = multiprocessing.get_context("spawn")

# pytest's own fixture for running pytest on a test module, for the tests of the
# zeroevents.testing plugin (which itself loads through its entry point).
pytest_plugins = ["pytester"]


@pytest.fixture
def spawn() -> Iterator[Callable[..., multiprocessing.process.BaseProcess]]:
    """Start ``target(*args)`` in a fresh interpreter; every process is killed and
    joined at teardown, whatever the test's outcome."""
    started: list[multiprocessing.process.BaseProcess] = []

    def start(target: Callable[..., Any], *args: Any) -> multiprocessing.process.BaseProcess:
        process = SPAWN.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.is_alive():
            process.terminate()
            process.join(10)
        if process.is_alive():
            process.kill()
        process.join(10)


@pytest.fixture
def queue() -> Iterator[multiprocessing.queues.Queue[Any]]:
    """A queue children report to; never blocks teardown."""
    channel: multiprocessing.queues.Queue[Any] = SPAWN.Queue()
    yield channel
    channel.cancel_join_thread()
    channel.close()


@pytest.fixture
def ipc(tmp_path: Path) -> Callable[[str], str]:
    """``ipc(name)``: a unique ipc:// endpoint under this test's tmp_path."""

    def endpoint(name: str) -> str:
        path = tmp_path / f"{name}.ipc"
        assert len(str(path)) < 100, f"ipc path too long for a unix socket: {path}"
        return f"ipc://{path}"

    return endpoint


class Consumers:
    """Services in fresh interpreters, each fed by a raw PUSH socket of this process."""

    def __init__(self, folder: Path) -> None:
        import zmq

        self.context = zmq.Context()
        self.folder = folder
        self.sockets: list[Any] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []

    def start(self, target: Callable[..., Any], *args: Any) -> tuple[Any, Any, tuple[Any, ...]]:
        """Run ``target(endpoint, *args, out)``, which binds ``endpoint`` and reports
        ``("ready", ...)`` on ``out``; a PUSH connected to it, ``out`` and that report."""
        import zmq
        from procs import take

        endpoint = f"ipc://{self.folder}/consumer-{len(self.processes)}.ipc"
        out: Any = SPAWN.Queue()
        process = SPAWN.Process(target=target, args=(endpoint, *args, out), daemon=True)
        process.start()
        self.processes.append(process)
        ready = take(out, "ready")
        push = self.context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 5000)
        push.connect(endpoint)
        self.sockets.append(push)
        return push, out, ready

    def close(self) -> None:
        for socket in self.sockets:
            socket.close()
        self.context.term()
        for process in self.processes:
            process.join(20)
            if process.is_alive():
                process.kill()
                process.join(10)


@pytest.fixture
def consumers(tmp_path: Path) -> Iterator[Consumers]:
    """Start services fed by raw PUSH sockets; all closed and reaped at teardown."""
    made = Consumers(tmp_path)
    yield made
    made.close()


@pytest.fixture
def outbox_consumers() -> Iterator[list[Any]]:
    """The consumer processes an outbox test starts (each with ``kill()``): all killed
    at teardown, whatever the test did."""
    started: list[Any] = []
    yield started
    for consumer in started:
        consumer.kill()


# The shared transport suite (tests/transport_suite.py, tests/test_transport_*.py) ----


@pytest.fixture(params=["zmq-ipc", "zmq-tcp", "memory", "udp-docs", "nats"])
def transport_link(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A receiver's and a sender's options on one transport (each test runs on each)."""
    from transport_suite import VARIANTS, Link

    assert request.param in VARIANTS
    made = Link(request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture(params=["accelerated", "stdlib"])
def json_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the json serializer on orjson, then on the stdlib alone, in this
    process and the ones it starts (the documented ``ZEROEVENTS_PURE_JSON``)."""
    from zeroevents_core.serializers.json import PURE_JSON_VARIABLE, JsonSerializer

    if request.param == "stdlib":
        monkeypatch.setenv(PURE_JSON_VARIABLE, "1")
    else:
        monkeypatch.delenv(PURE_JSON_VARIABLE, raising=False)
    accelerated = JsonSerializer().accelerated
    if request.param == "accelerated" and not accelerated:
        pytest.skip("orjson is not installed (pip install 'zeroevents-core[fast]')")
    assert accelerated == (request.param == "accelerated")
    return str(request.param)
