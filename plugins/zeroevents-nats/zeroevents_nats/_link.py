"""The asyncio core of a ``nats`` socket: the connection, the producer's PubAck window,
the consumer's fetch loop and the settling of received events.

Both socket flavours drive one :class:`Link`; every coroutine here runs in one
event loop (the service's, or the blocking socket's own thread). The blocking
socket posts the hot operations (a publish, a settlement) with :meth:`Link.post`,
from any thread, without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DEFAULT_PREFIX, AckPolicy, ConsumerConfig

from zeroevents_core import ConfigurationError, Stats
from zeroevents_core.errors import ConnectError, SendError

from ._wire import DELIVERIES, FAILURE, MSG_ID, ORIGIN

log = logging.getLogger("zeroevents_nats")

# Connection and JetStream API errors that a retry after a reconnect may cure.
_TRANSIENT = (nats.errors.Error, asyncio.TimeoutError, OSError)


class Delivery:
    """A received JetStream message until it is settled (the ``reply_to`` of its
    :class:`~zeroevents_core.Message`): acked, nak'ed or dead-lettered once."""

    __slots__ = ("msg", "settled")

    def __init__(self, msg: Msg) -> None:
        self.msg = msg
        self.settled = False


class Link:
    """One NATS connection with its JetStream context, for one socket."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.max_payload = 0
        self._sub: Any = None
        self.stats = Stats()
        # Producer: what each awaited PubAck reports if it fails (event, payload,
        # deadline, sent at), by the reply subject it comes back to.
        self.unacked: dict[str, tuple[str, Any, float, float]] = {}
        self._order: deque[str] = deque()  # unacked, oldest first
        self._acks = asyncio.Event()  # a PubAck came: room in the window
        self._ack_prefix = ""
        self._published = itertools.count(1)
        self.failures: deque[tuple[str, Any, str]] = deque()
        self.released: Callable[[], None] | None = None  # one publish resolved
        # Consumer: fetched messages not handed out yet; fetched and not settled.
        self.ready: deque[Msg] = deque()
        self.held = 0
        self.notify: Callable[[], None] | None = None  # ready went non-empty
        self.arrived = asyncio.Event()
        self._room = asyncio.Event()  # room under max_in_flight, or a request ended
        self._inbox = ""
        self._asking = ""  # the reply subject of the open pull request
        self._asked = 0  # events it may still bring
        self._asked_until = 0.0
        self._fetcher: asyncio.Task[None] | None = None
        self._closing = False
        # What other threads posted, run in order by the loop.
        self._posted: deque[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]] = deque()
        self._posting = False
        self._drainer: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- opening -------------------------------------------------------------

    async def open(self) -> None:
        options = self.options
        self.loop = asyncio.get_running_loop()
        servers = options["servers"]
        try:
            self.nc = await nats.connect(
                servers,
                name="zeroevents",
                connect_timeout=options["connect_timeout_ms"] / 1000,
                allow_reconnect=True,
                max_reconnect_attempts=options["max_reconnect_attempts"],
                reconnect_time_wait=options["reconnect_wait_ms"] / 1000,
                error_cb=self._on_error,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
            )
        except (TimeoutError, nats.errors.Error, OSError) as error:
            raise ConnectError(
                f"cannot reach the NATS server at {', '.join(servers)} within option "
                f"'connect_timeout_ms' ({options['connect_timeout_ms']} ms): "
                f"{type(error).__name__}: {error}"
            ) from None
        self.max_payload = self.nc.max_payload
        # PubAcks come back to <inbox>.<n>, n counting publishes.
        self._ack_prefix = self.nc.new_inbox() + "."
        await self.nc.subscribe(self._ack_prefix + "*", cb=self._on_puback)
        self.js = self.nc.jetstream(timeout=options["ack_timeout_ms"] / 1000)
        try:
            if options["stream"] is not None:
                await self._ensure_stream()
            if options["durable"] is not None:
                await self._ensure_consumer()
        except BaseException:
            await self.nc.close()
            raise

    async def _ensure_stream(self) -> None:
        assert self.js is not None
        stream = self.options["stream"]
        try:
            await self.js.stream_info(stream)
            return
        except nats.js.errors.NotFoundError:
            if not self.options["create_stream"]:
                raise ConfigurationError(
                    f"option 'stream': there is no stream {stream!r} on "
                    f"{', '.join(self.options['servers'])}; create it (nats stream add) "
                    "or set option 'create_stream' with its 'subjects'"
                ) from None
        except nats.js.errors.ServiceUnavailableError:
            raise ConfigurationError(
                f"option 'stream': JetStream is not enabled on "
                f"{', '.join(self.options['servers'])} (start nats-server with -js)"
            ) from None
        try:
            await self.js.add_stream(name=stream, subjects=self.options["subjects"])
        except nats.js.errors.APIError as error:
            # Another process may have created it since stream_info: the server
            # refuses the second create (as an overlap of subjects) under that race.
            try:
                await self.js.stream_info(stream)
                return
            except nats.js.errors.NotFoundError:
                pass
            raise ConfigurationError(
                f"option 'subjects': cannot create stream {stream!r} with subjects "
                f"{self.options['subjects']} on {', '.join(self.options['servers'])}: "
                f"{error.description or error}"
            ) from None

    async def _ensure_consumer(self) -> None:
        assert self.js is not None
        options = self.options
        subjects = options["subjects"] or []
        config = ConsumerConfig(
            name=options["durable"],
            durable_name=options["durable"],
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=options["ack_wait_ms"] / 1000,
            # The server's own bound: it never has more out than we may hold.
            max_ack_pending=options["max_in_flight"],
            # Unlimited on the server: the socket dead-letters after max_deliver
            # failures, the server would drop the event silently.
            max_deliver=-1,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
            filter_subjects=subjects if len(subjects) > 1 else None,
        )
        try:
            # Create or update: a changed max_in_flight reaches the server (FastStream #1598).
            await self.js.add_consumer(options["stream"], config)
        except nats.js.errors.APIError as error:
            raise ConfigurationError(
                f"option 'durable': cannot create or update consumer {options['durable']!r} "
                f"on stream {options['stream']!r}: {error.description or error}"
            ) from None
        # Pull requests answered to <inbox>.<n> (n counting requests), read by a
        # callback: nats-py's fetch() makes a task, a uuid and a timer per message.
        assert self.nc is not None
        self._inbox = self.nc.new_inbox()
        self._sub = await self.nc.subscribe(self._inbox + ".*", cb=self._on_delivery)
        self._fetcher = asyncio.get_running_loop().create_task(self._fetching())

    async def _on_error(self, error: Exception) -> None:
        log.warning("nats %s: %s: %s", self.where, type(error).__name__, error)

    async def _on_disconnected(self) -> None:
        if self._closing:  # our own drain
            return
        log.warning("nats %s: disconnected, reconnecting", self.where)

    async def _on_reconnected(self) -> None:
        log.warning("nats %s: reconnected", self.where)

    @property
    def where(self) -> str:
        return ", ".join(self.options["servers"])

    # -- posting from other threads -------------------------------------------

    def post(self, work: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``await work(*args)`` in the loop, after what was posted before (any thread)."""
        self._posted.append((work, args))
        if not self._posting:
            self._posting = True
            assert self.loop is not None
            self.loop.call_soon_threadsafe(self._start_posted)

    def _start_posted(self) -> None:
        # One drainer at a time: two would interleave the posts of one thread.
        if self._drainer is None:
            assert self.loop is not None
            self._drainer = self.loop.create_task(self._run_posted())

    async def _run_posted(self) -> None:
        posted = self._posted
        try:
            while True:
                # Reset before looking: a post after this schedules again, one before
                # it is taken here.
                self._posting = False
                if not posted:
                    return
                while posted:
                    work, args = posted.popleft()
                    try:
                        await work(*args)
                    except Exception:
                        log.exception("nats %s: posted work failed", self.where)
        finally:
            self._drainer = None

    async def posted_done(self) -> None:
        """Wait until what other threads posted so far has run."""
        while self._posted or self._drainer is not None:
            if self._drainer is not None:
                await asyncio.shield(self._drainer)
            else:
                await asyncio.sleep(0)  # a drainer is about to start

    # -- producer ------------------------------------------------------------

    # nats-py's publish_async makes a future, a random token and two callbacks per
    # publish and parses each PubAck into a dataclass: here a PubAck comes back to a
    # reply subject numbered in publish order, and only a failed one is parsed.

    async def publish(
        self, subject: str, body: bytes, headers: dict[str, str], event: str, payload: Any
    ) -> str | None:
        """Publish without waiting for its PubAck (at most ``max_pending`` outstanding);
        why it could not be sent, or None."""
        assert self.nc is not None
        if len(self.unacked) >= self.options["max_pending"] and not await self._window_room():
            return self._unsent(event, f"{self.options['max_pending']} PubAcks still awaited")
        reply = f"{self._ack_prefix}{next(self._published)}"
        now = time.monotonic()
        self.unacked[reply] = (event, payload, now + self.options["ack_timeout_ms"] / 1000, now)
        try:
            await self.nc.publish(subject, body, reply=reply, headers=headers)
        except _TRANSIENT as error:
            if self.unacked.pop(reply, None) is None:
                return None  # a flush meanwhile reported it failed
            return self._unsent(event, f"{type(error).__name__}: {error}")
        self._order.append(reply)
        self.stats.in_flight = len(self.unacked)
        self._expire(now)
        return None

    async def publish_posted(
        self, subject: str, body: bytes, headers: dict[str, str], event: str, payload: Any
    ) -> None:
        """:meth:`publish` for a push that has returned: a failure is reported later."""
        failure = await self.publish(subject, body, headers, event, payload)
        if failure is not None:
            self.failures.append((event, payload, failure))

    def _unsent(self, event: str, reason: str) -> str:
        log.warning("nats %s: publishing %r failed: %s", self.where, event, reason)
        if self.released is not None:
            self.released()
        return reason

    async def _window_room(self) -> bool:
        """Wait, ``ack_timeout_ms`` at most, until the window has room; whether it has."""
        deadline = time.monotonic() + self.options["ack_timeout_ms"] / 1000
        while len(self.unacked) >= self.options["max_pending"]:
            self._expire(time.monotonic())
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._acks.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acks.wait(), left)
        return True

    async def _on_puback(self, msg: Msg) -> None:
        entry = self.unacked.pop(msg.subject, None)
        if entry is None:  # came after its deadline: already reported
            return
        self._resolved()
        data = msg.data
        if not data and msg.headers and msg.headers.get("Status") == "503":
            self._failed(entry[0], entry[1], "no stream takes this subject")
        elif b'"error"' in data:
            try:
                error = json.loads(data)["error"]
                reason = f"{error.get('description', error)} (code {error.get('code')})"
            except (ValueError, KeyError, TypeError, AttributeError):
                reason = f"unreadable PubAck {data[:200]!r}"
            self._failed(entry[0], entry[1], reason)
        else:
            self.stats.acknowledged += 1
            self.stats.ack_latency.observe(time.monotonic() - entry[3])

    def _resolved(self) -> None:
        """One publish left the window (PubAck, failure or expiry)."""
        self._acks.set()
        self.stats.in_flight = len(self.unacked)
        if self.released is not None:
            self.released()

    def _expire(self, now: float) -> None:
        # Deadlines grow with publish order: only the oldest ones can be due.
        order, unacked = self._order, self.unacked
        while order:
            reply = order[0]
            entry = unacked.get(reply)
            if entry is not None and entry[2] > now:
                return
            order.popleft()
            if entry is not None:
                del unacked[reply]
                self._resolved()
                self._failed(
                    entry[0], entry[1], f"no PubAck within {self.options['ack_timeout_ms']} ms"
                )

    def _failed(self, event: str, payload: Any, reason: str) -> None:
        log.warning("nats %s: publishing %r failed: %s", self.where, event, reason)
        self.failures.append((event, payload, reason))

    async def flush(self, timeout: float) -> bool:
        """Wait for every PubAck (``timeout`` s at most); the late ones count as failed."""
        deadline = time.monotonic() + timeout
        await self.posted_done()
        if self.unacked:
            # No longer than the last one's ack_timeout_ms either.
            deadline = min(deadline, max(entry[2] for entry in self.unacked.values()))
        while self.unacked:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._acks.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acks.wait(), left)
        late, self.unacked = self.unacked, {}
        self._order.clear()
        for event, payload, _, _ in late.values():
            self._resolved()
            self._failed(event, payload, "no PubAck before the flush ended")
        return not self.failures

    def check_size(self, subject: str, body: bytes, headers: Mapping[str, str]) -> None:
        # NATS counts the header block in the payload limit: refuse before sending.
        # "NATS/1.0\r\n", "key: value\r\n" each, "\r\n"; values in UTF-8, keys ASCII.
        values = "".join(headers.values()).encode("utf-8", "surrogatepass")
        size = len(body) + 12 + 4 * len(headers) + len("".join(headers)) + len(values)
        if size > self.max_payload:
            raise SendError(
                f"event {headers.get('Zeroevents-Event')!r} is {size} bytes with its headers, "
                f"over the server's max_payload of {self.max_payload} bytes (subject {subject!r})"
            )

    # -- consumer ------------------------------------------------------------

    async def _fetching(self) -> None:
        """Keep up to ``max_in_flight`` events asked for, fetched and unsettled, never
        more: one pull request open at a time, for at most the room left."""
        options = self.options
        wait_ms = options["fetch_wait_ms"]
        batch = min(options["fetch_batch"], options["max_in_flight"])
        # Refill once half a batch is free, or at once when nothing is left to hand
        # out: a request per settled event would be a round trip each.
        low_water = max(1, batch // 2)
        subject = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{options['stream']}.{options['durable']}"
        requests = itertools.count(1)
        assert self.nc is not None
        while not self._closing:
            room = options["max_in_flight"] - self.held
            if self._asked or room <= 0 or (room < low_water and self.ready):
                left = None
                if self._asked:
                    left = self._asked_until - time.monotonic()
                    if left <= 0:  # its expiry never came (a reconnection lost it)
                        self._asked = 0
                        continue
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), left)
                continue
            asked = min(room, batch)
            self._asking = f"{self._inbox}.{next(requests)}"
            self._asked = asked
            # The server ends the request after ``expires`` (a 408): a margin for it.
            self._asked_until = time.monotonic() + wait_ms / 1000 + 0.5
            request = b'{"batch":%d,"expires":%d}' % (asked, wait_ms * 1_000_000)
            try:
                await self.nc.publish(subject, request, reply=self._asking)
            except _TRANSIENT as error:
                self._asked = 0
                log.warning("nats %s: pull request failed, retrying: %s", self.where, error)
                await asyncio.sleep(options["reconnect_wait_ms"] / 1000)

    async def _on_delivery(self, msg: Msg) -> None:
        if not msg.reply:  # a status: the request ended (404, 408, 409) or a heartbeat
            status = (msg.headers or {}).get("Status")
            if status == "100" or msg.subject != self._asking:
                return
            if status == "409":  # consumer deleted, leadership change ...
                log.warning(
                    "nats %s: pull request refused: %s",
                    self.where,
                    (msg.headers or {}).get("Description"),
                )
                # The next request after reconnect_wait_ms: at once, the same
                # refusal could come back in a tight loop.
                self._asked_until = time.monotonic() + self.options["reconnect_wait_ms"] / 1000
                return
            self._asked = 0
            self._room.set()
            return
        if self._asked:
            self._asked -= 1
            if not self._asked:
                self._room.set()
        self.held += 1
        was_empty = not self.ready
        self.ready.append(msg)
        self.arrived.set()
        if was_empty and self.notify is not None:
            self.notify()

    async def settle(self, delivery: Delivery, failure: str | None, final: bool) -> None:
        """Ack (``failure`` None), nak with backoff, or dead-letter then term (``final``,
        or a failure on the ``max_deliver``-th delivery). Once per delivery."""
        if delivery.settled:
            return
        delivery.settled = True
        msg = delivery.msg
        try:
            if failure is None:
                await msg.ack()
                return
            deliveries = msg.metadata.num_delivered or 1
            if final or deliveries >= self.options["max_deliver"]:
                stored = await self._dead_letter(msg, failure, deliveries)
                # Without a dead-letter subject, a rejected event (undecodable, against
                # its contract) is terminated: no retry can cure it. A failing listener's
                # stays in the stream.
                if stored or (final and stored is None):
                    await msg.term()
                    return
            backoff = self.options["backoff_ms"]
            await msg.nak(delay=backoff[min(deliveries, len(backoff)) - 1] / 1000)
        except _TRANSIENT as error:
            # Unsettled on the server: redelivered after ack_wait, not lost.
            log.warning("nats %s: could not settle a message: %s", self.where, error)
        finally:
            self.held -= 1
            self._room.set()

    async def _dead_letter(self, msg: Msg, failure: str, deliveries: int) -> bool | None:
        """Publish ``msg`` to the dead-letter subject with its failure; whether it is
        stored (None: there is no ``dead_letter`` subject)."""
        subject = self.options["dead_letter_subject"]
        if subject is None:
            log.error(
                "nats %s: given up %r on %s after %d deliveries, no 'dead_letter' subject: %s",
                self.where,
                (msg.headers or {}).get("Zeroevents-Event"),
                msg.subject,
                deliveries,
                failure,
            )
            return None
        assert self.js is not None
        headers = {k: v for k, v in (msg.headers or {}).items() if k != MSG_ID}
        # One line: NATS headers cannot hold a line break.
        headers[FAILURE] = " ".join(failure.split())[:4000]
        headers[ORIGIN] = msg.subject
        headers[DELIVERIES] = str(deliveries)
        try:
            await self.js.publish(subject, msg.data, headers=headers)
            return True
        except (TimeoutError, nats.errors.Error) as error:
            log.error(
                "nats %s: could not dead-letter to %r (%s): the event stays in the stream",
                self.where,
                subject,
                error,
            )
            return False

    async def next_ready(self) -> Msg | None:
        """The next fetched message, ``receive_timeout_ms`` at most (for ``pull``)."""
        deadline = time.monotonic() + self.options["receive_timeout_ms"] / 1000
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return self.ready.popleft()

    async def consumer_info(self) -> Any:
        assert self.js is not None
        return await self.js.consumer_info(self.options["stream"], self.options["durable"])

    # -- closing -------------------------------------------------------------

    async def close(self, timeout: float) -> bool:
        """Stop fetching, settle what is posted, give back what was not handed out,
        wait for the PubAcks, then drain the connection. Whether every PubAck came."""
        self._closing = True  # also our own drain's disconnection: not logged
        if self._fetcher is not None:
            # Let the open pull request end (fetch_wait_ms at most): what it still
            # brings is given back below, not left unacked on the server until ack_wait.
            self._fetcher.cancel()
            await asyncio.gather(self._fetcher, return_exceptions=True)
            while self._asked and time.monotonic() < self._asked_until:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), self._asked_until - time.monotonic())
            if self._sub is not None:
                with contextlib.suppress(*_TRANSIENT):
                    await self._sub.drain()  # what the server sent is in ready
        flushed = await self.flush(timeout)
        while self.ready:  # fetched, never handed out: to the next consumer at once
            delivery = Delivery(self.ready.popleft())
            delivery.settled = True
            self.held -= 1
            with contextlib.suppress(*_TRANSIENT):
                await delivery.msg.nak()
        if self.nc is not None and not self.nc.is_closed:
            try:
                await self.nc.drain()  # the acks and publishes still buffered go out
            except _TRANSIENT as error:
                log.warning("nats %s: drain failed: %s", self.where, error)
                await self.nc.close()
        return flushed


class LoopThread:
    """A background event loop owned by one blocking socket."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
