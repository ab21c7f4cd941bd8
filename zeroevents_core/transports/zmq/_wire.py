"""The ZeroMQ side of the wire: the routing frame a ROUTER puts before each event,
the wire frame indexes that follow from it, and the confirmation the PHP original
sends for a message it cannot decode. Shared by the blocking and asyncio sockets.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import zmq

from ...serializers import Serializer
from ..codec import CONFIRMED, EventCodec
from ._barrier import Barrier
from ._monitor import Handshakes

if TYPE_CHECKING:
    from ...dispatcher import Dispatcher
    from ...schemas import SchemaRegistry

SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)
RCVMORE = int(zmq.RCVMORE)
ROUTER = int(zmq.ROUTER)
# Socket types that can answer what they receive (confirmations, the flush barrier).
_ANSWERING = frozenset({int(zmq.DEALER), int(zmq.PAIR), ROUTER})
# The hot path calls the compiled methods directly: pyzmq's Python-level send
# wrapper (routing ids, groups) costs as much as the send itself for small frames.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv
_get = zmq.backend.Socket.get


def _default_dispatcher() -> Dispatcher:
    from ...dispatcher import default_dispatcher

    return default_dispatcher()


class ZmqEventCodec(EventCodec):
    """What the blocking and the asyncio ZeroMQ event sockets share beyond the wire
    rules: their set-up and their dispatcher."""

    # Declared at class level: pyzmq maps unknown attribute names to socket options.
    _serializer: Serializer
    _accept: frozenset[str]
    _dispatcher: Dispatcher | None
    schemas: SchemaRegistry | None
    confirmed: bool
    routes_replies: bool
    can_reply: bool
    has_sent: bool = False
    barrier: Barrier
    handshakes: Handshakes | None = None  # set by the transport, which watches what it opens
    # CURVE server sockets read each message's sender (libzmq's User-Id).
    identified: bool = False
    zap: bytes | None = None

    def _init_event_socket(
        self,
        context: zmq.Context[Any],
        socket_type: int,
        serializer: str | Serializer,
        confirmed: bool,
        dispatcher: Dispatcher | None,
        accept: Collection[str] | None,
        schemas: SchemaRegistry | None,
    ) -> None:
        # Made directly, not by context.socket(): register it so that
        # context.destroy() closes it as it closes the others.
        context._add_socket(self)
        try:
            self._init_codec(serializer, confirmed, accept, schemas)
            # libzmq refuses a larger frame from its length header, before receiving
            # it: no frame the serializer would refuse is ever received whole.
            self.set(zmq.MAXMSGSIZE, self._serializer.max_frame_size)  # type: ignore[attr-defined]
        except BaseException:
            self.close(linger=0)  # type: ignore[attr-defined]
            raise
        self._dispatcher = dispatcher
        self.routes_replies = socket_type == ROUTER
        self.can_reply = socket_type in _ANSWERING
        self.barrier = Barrier()

    def confirm_undecodable(self, frames: Sequence[bytes]) -> list[bytes]:
        """The confirmation of a message that cannot be decoded, as the original sends
        it (it confirms every message it takes from the wire, with the name as received)."""
        address = bytes(frames[0]) if self.routes_replies else None
        names = frames[1:2] if self.routes_replies else frames[:1]
        name = bytes(names[0]).decode("utf-8", "replace") if names else ""
        reply = self.encode(CONFIRMED, [name])
        if address is not None:
            reply.insert(0, address)
        return reply

    @property
    def dispatcher(self) -> Dispatcher:
        return self._dispatcher if self._dispatcher is not None else _default_dispatcher()

    def _identified(self, parts: list[zmq.Frame]) -> list[bytes]:
        """The frames of a message received whole as ``zmq.Frame``s on a CURVE server:
        its sender noted (libzmq's User-Id, the key's name), a new peer greeted."""
        sender = parts[-1].get("User-Id")
        self.sender = sender if isinstance(sender, str) else None
        frames = [part.bytes for part in parts]
        barrier = self.barrier
        if barrier.due or (self.routes_replies and barrier.new_peer(frames[0])):
            barrier.greet(self, frames, parts[-1])
        return frames
