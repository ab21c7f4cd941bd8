"""The shared transport suite's links: one receiver and one sender per transport.

Every test of tests/test_transport_*.py takes the ``transport_link`` fixture
(tests/conftest.py), parametrized over :data:`VARIANTS`: ``zmq`` over ipc (a path
under the test's tmp_path), ``zmq`` over tcp on 127.0.0.1 (a free port),
``memory`` (a name unique to the test), and ``udp``, the transport that
docs/plugins.md writes from the contract alone (taken from the page, registered
for the test). A test written against a :class:`Link`
knows nothing of the transport under it; what differs between transports (how to
shorten the timeouts, a dead-letter sink, a peer that sends raw garbage) is here.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import queue
import re
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from zeroevents_core import (
    Dispatcher,
    EventListener,
    EventService,
    get_transport,
    register_plugin,
    unregister_plugin,
)

VARIANTS = ("zmq-ipc", "zmq-tcp", "memory", "udp-docs", "nats")
NATS = "nats://127.0.0.1:4222"
IDLE = "zeroevents.service.idle"
PULL_ERROR = "zeroevents.pull.error"
PUSH_ERROR = "zeroevents.push.error"
SCHEMA_ERROR = "zeroevents.schema.error"
ROOT = Path(__file__).parent.parent
CONTRACTS = ROOT / "examples" / "contracts"
DOCS_TRANSPORT = re.compile(r"^```python\n# file: (zeroevents_udp\.py)\n(.*?)^```$", re.M | re.S)
# Generous: 2 cores shared by many test processes.
WAIT = 60.0
_names = itertools.count()


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with closing(socket.socket(socket.AF_INET, kind)) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def docs_transport(folder: Path) -> ModuleType:
    """The ``udp`` transport module, as docs/plugins.md shows it, imported from a copy."""
    found = DOCS_TRANSPORT.search((ROOT / "docs" / "plugins.md").read_text())
    assert found is not None, "docs/plugins.md has no '# file: zeroevents_udp.py' block"
    path = folder / found.group(1)
    path.write_text(found.group(2))
    spec = importlib.util.spec_from_file_location("zeroevents_udp", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Link:
    """Options for the two ends of one link of ``kind``, and what else tests need."""

    kind: str
    folder: Path
    endpoint: str = ""
    _opened: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind == "nats":
            self._nats_streams()
        if self.kind == "udp-docs":
            plugin = docs_transport(self.folder)
            register_plugin(plugin)
            self._opened.append(lambda: unregister_plugin(plugin))
        self.endpoint = self._endpoint("link")

    def _nats_streams(self) -> None:
        """The shared JetStream server (skipped where it is not), with a stream and
        subjects of this test's own for the link and one for its dead letters,
        deleted at teardown."""
        import pytest

        pytest.importorskip("zeroevents_nats", reason="zeroevents-nats is not installed")
        with closing(socket.socket()) as probe:
            if probe.connect_ex(("127.0.0.1", 4222)) != 0:
                pytest.skip("no NATS server with JetStream on 127.0.0.1:4222")
        tag = f"{os.getpid()}x{next(_names)}"
        self.nats_root = f"suite{tag}"
        self._opened.append(lambda: _delete_streams(f"SUITE{tag}", f"SUITEDEAD{tag}"))

    def _nats(self, root: str, **options: Any) -> dict[str, Any]:
        stream = root.replace("suitedead", "SUITEDEAD").replace("suite", "SUITE")
        return {"transport": "nats", "servers": NATS, "stream": stream, **options}

    def _endpoint(self, what: str) -> str:
        if self.kind == "nats":  # what where() shows: the stream
            return f"SUITE{self.nats_root.removeprefix('suite')}"
        if self.kind == "zmq-ipc":
            return f"ipc://{self.folder}/{what}.ipc"
        if self.kind == "zmq-tcp":
            return f"tcp://127.0.0.1:{free_port()}"
        if self.kind == "udp-docs":
            return f"udp://127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
        return f"memory://{what}-{os.getpid()}-{next(_names)}"

    @property
    def transport(self) -> str:
        return self.kind.split("-")[0]

    @property
    def lossless(self) -> bool:
        """Whether a flood arrives whole: UDP has no flow control, a full receive
        buffer drops datagrams."""
        return self.transport != "udp"

    @property
    def speaks_v2(self) -> bool:
        """Whether the link carries wire v2 and at-least-once (zmq, memory)."""
        return self.transport in ("zmq", "memory")

    @property
    def supports_async(self) -> bool:
        return get_transport(self.transport).supports_async

    def receiver(self, **options: Any) -> dict[str, Any]:
        """Options of the listener a service binds."""
        if self.transport == "nats":
            self._no_confirmed_mode(options)
            # A failing listener's event comes back after the test (backoff), not in it.
            return self._nats(
                self.nats_root, subjects=f"{self.nats_root}.>", create_stream=True,
                durable="suite", backoff_ms=[600_000], **options,
            )  # fmt: skip
        return {"transport": self.transport, "bind": self.endpoint, **options}

    def sender(self, **options: Any) -> dict[str, Any]:
        """Options of a listener that connects to the receiver."""
        if self.transport == "nats":
            self._no_confirmed_mode(options)
            return self._nats(
                self.nats_root, subjects=f"{self.nats_root}.>", create_stream=True,
                subject_prefix=self.nats_root, **options,
            )  # fmt: skip
        return {"transport": self.transport, "connect": self.endpoint, **options}

    @staticmethod
    def _no_confirmed_mode(options: dict[str, Any]) -> None:
        if options.get("confirmed"):
            import pytest

            pytest.skip("nats has no confirmed mode: PubAcks and acks after the fire")

    def timeouts(self, ms: int) -> dict[str, Any]:
        """Options that make a send, a receive, a confirmation and a close give up
        after ``ms``."""
        if self.transport == "zmq":
            return {"socket_options": {"SNDTIMEO": ms, "RCVTIMEO": ms, "LINGER": ms}}
        if self.transport == "memory":
            return {"send_timeout_ms": ms, "receive_timeout_ms": ms, "flush_timeout_ms": ms}
        if self.transport == "nats":
            return {"ack_timeout_ms": ms, "receive_timeout_ms": ms, "flush_timeout_ms": ms}
        return {"timeout_ms": ms}

    def sink(self) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """A dead-letter sink: the options it binds with, a listener's ``dead_letter``
        value that sends to it, and the full options of a sender to it (what a
        service-wide ``dead_letter``, which knows no transport, is given)."""
        if self.transport == "nats":  # a stream of its own, that the link's filter misses
            root = self.nats_root.replace("suite", "suitedead")
            sink = self._nats(
                root, subjects=f"{root}.>", create_stream=True, durable="sink",
                receive_timeout_ms=int(WAIT * 1000),
            )  # fmt: skip
            return sink, f"{root}.letters", self._nats(root, subject_prefix=root)
        endpoint = self._endpoint("dead")
        if self.transport == "zmq":  # a zmq dead letter is a PUSH socket
            return (
                {"bind": endpoint, "socket_type": "PULL"},
                endpoint,
                {"connect": endpoint, "socket_type": "PUSH"},
            )
        sender = {"transport": self.transport, "connect": endpoint}
        return {"transport": self.transport, "bind": endpoint}, endpoint, sender

    def raw_sender(self) -> Callable[[Sequence[bytes]], None]:
        """``send(frames)``: frames put on the link as they are, unchecked (a peer
        that sends garbage); closed at teardown."""
        if self.transport == "zmq":
            import zmq

            context = zmq.Context()
            raw = context.socket(zmq.DEALER)
            raw.setsockopt(zmq.LINGER, 2000)
            raw.connect(self.endpoint)
            self._opened.append(lambda: (raw.close(), context.term()))
            return lambda frames: raw.send_multipart(list(frames))
        if self.transport == "udp":  # the docs' layout: each frame after its length
            host, port = self.endpoint.removeprefix("udp://").rsplit(":", 1)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._opened.append(udp.close)

            def send(frames: Sequence[bytes]) -> None:
                packed = b"".join(struct.pack("!I", len(frame)) + frame for frame in frames)
                udp.sendto(packed, (host, int(port)))

            return send
        if self.transport == "nats":  # the frames as they are: a name header, the body
            return lambda frames: _nats_publish_raw(self.nats_root, frames)
        listener = EventListener(self.sender())
        self._opened.append(listener.close)
        return lambda frames: listener.socket().send_frames(frames)

    def close(self) -> None:
        while self._opened:
            self._opened.pop()()


def _nats_publish_raw(root: str, frames: Sequence[bytes]) -> None:
    import asyncio

    import nats

    async def publish() -> None:
        nc = await nats.connect(NATS)
        headers = {"Zeroevents-Event": frames[0].decode(), "Content-Type": "application/json"}
        body = b"".join(struct.pack("!I", len(frame)) + frame for frame in frames[1:])
        js = nc.jetstream()
        # As the link's own listeners would (an asyncio one connects on first use).
        await js.add_stream(name=root.replace("suite", "SUITE"), subjects=[f"{root}.>"])
        await js.publish(f"{root}.raw", body, headers=headers)
        await nc.close()

    # In a thread of its own: the asyncio tests call it from inside their loop.
    thread = threading.Thread(target=asyncio.run, args=(publish(),))
    thread.start()
    thread.join(WAIT)


def _delete_streams(*streams: str) -> None:
    import asyncio

    import nats
    import nats.js.errors

    async def delete() -> None:
        nc = await nats.connect(NATS)
        for stream in streams:
            with suppress(nats.js.errors.NotFoundError):
                await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(delete())


class Running:
    """An :class:`EventService` receiving on a link, run on a thread: what it fires
    (not the library's own events), its pull and schema errors, in queues."""

    def __init__(self, listener_options: dict[str, Any], **service_options: Any) -> None:
        self.dispatcher = Dispatcher()
        self.events: queue.Queue[tuple[str, list[Any]]] = queue.Queue()
        self.errors: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.listener = EventListener(listener_options, self.dispatcher)
        self.service = EventService(self.dispatcher, **service_options).poll_timeout(50)
        self.service.listen(self.listener)
        self.dispatcher.listen("*", self._fired)
        self.dispatcher.listen(PULL_ERROR, self._pull_error)
        self.dispatcher.listen(SCHEMA_ERROR, self._schema_error)
        self._thread: threading.Thread | None = None

    def _fired(self, *payload: Any) -> None:
        event = self.dispatcher.firing()
        assert event is not None
        if not event.startswith("zeroevents."):
            self.events.put((event, list(payload)))

    def _pull_error(self, socket: Any, error: Any = None, received: Any = None) -> None:
        self.errors.put((PULL_ERROR, error))

    def _schema_error(self, event: str, payload: Any, failures: Any, reply_to: Any) -> None:
        self.errors.put((SCHEMA_ERROR, (event, list(payload), len(failures))))

    def start(self) -> Running:
        self.listener.socket()  # bound before anyone sends: run() takes this socket
        self._thread = threading.Thread(target=self.service.run, daemon=True)
        self._thread.start()
        return self

    def take(self, count: int = 1) -> list[tuple[str, list[Any]]]:
        return [self.events.get(timeout=WAIT) for _ in range(count)]

    def error(self) -> tuple[str, Any]:
        return self.errors.get(timeout=WAIT)

    def stop(self) -> None:
        """Stop the service from this thread; it must end."""
        if self._thread is not None:
            self.service.stop()
            self._thread.join(WAIT)
            assert not self._thread.is_alive(), "the service did not stop"
            self._thread = None

    def __enter__(self) -> Running:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()
