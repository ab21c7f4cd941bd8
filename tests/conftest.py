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
