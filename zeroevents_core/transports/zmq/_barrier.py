"""Which links speak the ``zeroevents.flush`` barrier: negotiated, never assumed.

The PHP original fires every event it receives, ``zeroevents.flush`` included, and
answers it only in confirmed mode, so the barrier must never reach it. The
negotiation puts nothing on the wire toward the original:

1. Every socket the transport opens announces itself in its ZeroMQ handshake with
   the ZMTP metadata property ``X-Zeroevents: flush <token>`` (libzmq's
   ``ZMQ_METADATA``; the original never reads handshake metadata).
2. A receiver that takes from the wire a message whose metadata carries that
   property (looked at on the first message after each wait, so the common path
   pays nothing) answers that sender, once per token, with ``zeroevents.hello``
   (the sender's token, its own token). A message of the original has no such
   property and gets no hello.
3. A closing sender sends the barrier only when every peer that is up (the socket
   monitor counts them) said hello, waiting ``hello_timeout_ms`` at most for that;
   else it closes as the original does.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from typing import Any

import zmq

from ...errors import DecodeError
from .. import Message
from ..codec import HELLO

PROPERTY = "X-Zeroevents"
CAPABILITY = "flush"
# Tokens a receiver remembers having greeted before it starts over (then a sender
# may be greeted twice, which it ignores).
GREETED_LIMIT = 4096
# Messages a closing sender reads looking for hellos before it stops looking.
DRAIN_LIMIT = 4096
# How often (ms) a closing sender looks again for hellos and for peers coming up.
LOOK_AGAIN_MS = 5

NOBLOCK = int(zmq.NOBLOCK)
# The hot path calls the compiled methods directly: pyzmq's Python-level send
# wrapper (routing ids, groups) costs as much as the send itself for small frames.
_send = zmq.backend.Socket.send
_recv = zmq.backend.Socket.recv


def recv_message(socket: Any, flags: int = 0) -> list[bytes]:
    """One whole multipart message, as bytes. Each frame's ``more`` flag comes with it
    (read at its receive): asking the socket for RCVMORE costs a call and an enum."""
    frame = _recv(socket, flags, False)
    frames = [frame.bytes]
    while frame.more:
        frame = _recv(socket, 0, False)
        frames.append(frame.bytes)
    return frames


class Barrier:
    """One socket's side of the negotiation: what it sent, whom it greeted, who greeted it."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(8)
        self.sent = 0
        self.due = True  # look at the metadata of the next message received
        self.greeted: set[str] = set()
        self.heard: set[str] = set()  # tokens of the receivers that greeted this socket
        self.peers: set[bytes] = set()  # ROUTER addresses whose first message was looked at

    def metadata(self) -> bytes:
        """The ``ZMQ_METADATA`` value announcing this socket."""
        return f"{PROPERTY}:{CAPABILITY} {self.token}".encode()

    def note_sent(self) -> None:
        self.sent += 1

    def recv_greeting(self, socket: Any, flags: int = 0) -> list[bytes]:
        """Receive one message (``zmq.Again`` as ``recv``), greeting its sender when it
        is a zeroevents peer not greeted yet."""
        frame = _recv(socket, flags, False)
        frames = [frame.bytes]
        while frame.more:
            frame = _recv(socket, 0, False)
            frames.append(frame.bytes)
        self.greet(socket, frames, frame)
        return frames

    def new_peer(self, address: bytes) -> bool:
        """Whether ``address`` (a ROUTER's) is seen for the first time; it is noted."""
        if address in self.peers:
            return False
        if len(self.peers) >= GREETED_LIMIT:
            self.peers.clear()
        self.peers.add(address)
        return True

    def recv_routed(self, socket: Any, flags: int = 0) -> list[bytes]:
        """Receive one ROUTER message, greeting its sender at its first message: a
        peer's first message may come in the middle of a batch, where ``due`` is off."""
        frame = _recv(socket, flags, False)
        frames = [frame.bytes]
        new = self.new_peer(frames[0])
        while frame.more:  # from the frame: RCVMORE costs a call and an enum
            frame = _recv(socket, 0, False)
            frames.append(frame.bytes)
        if new and len(frames) > 1:
            self.greet(socket, frames, frame)
        return frames

    def greet(self, socket: Any, frames: Sequence[bytes], frame: zmq.Frame) -> None:
        """Say hello to the sender of ``frames`` if its handshake announced the barrier
        and it was not greeted yet; ``frame`` is the last one, as received."""
        self.due = False
        if not socket.can_reply:
            return  # a REP's one answer is its confirmation; a PULL has none
        try:
            value = str(frame.get(PROPERTY))  # the last frame came from the peer's engine
        except zmq.ZMQError:
            return  # the original, or inproc (no handshake)
        capability, _, token = value.partition(" ")
        if capability == CAPABILITY and token and token not in self.greeted:
            if len(self.greeted) >= GREETED_LIMIT:
                self.greeted.clear()
            self.greeted.add(token)
            reply = socket.encode(HELLO, [token, self.token])
            if socket.routes_replies:
                reply.insert(0, frames[0])
            with contextlib.suppress(zmq.ZMQError):  # it closes as toward the original
                _send_now(socket, reply)

    def hear(self, message: Message) -> bool:
        """Note ``message`` if it is a hello to this socket; whether it was a hello."""
        if message.event != HELLO:
            return False
        if message.payload[:1] == [self.token] and len(message.payload) > 1:
            self.heard.add(str(message.payload[1]))
        return True

    def drain_hellos(self, socket: Any) -> None:
        """Read what waits on a closing sender, noting the hellos (bounded; the rest
        would be dropped with the socket anyway)."""
        for _ in range(DRAIN_LIMIT):
            try:
                frames = recv_message(socket, NOBLOCK)
            except zmq.Again:
                return
            try:
                self.hear(socket.message(frames))
            except DecodeError:
                continue

    def speaking(self, socket: Any, live: int) -> int:
        """How many barriers a closing sender sends now: ``live`` (the peers up) once
        each of them said hello, else 0."""
        self.drain_hellos(socket)
        return live if live and len(self.heard) >= live else 0


def _send_now(socket: Any, frames: Sequence[bytes]) -> None:
    # Never blocks a receiver: a hello that cannot go now is dropped.
    last = len(frames) - 1
    for index, frame in enumerate(frames):
        _send(socket, frame, NOBLOCK | (int(zmq.SNDMORE) if index < last else 0))
