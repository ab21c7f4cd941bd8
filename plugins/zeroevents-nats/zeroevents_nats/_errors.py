"""The transport's errors, under the core's :class:`~zeroevents_core.errors.TransportError`."""

from __future__ import annotations

from zeroevents_core.errors import TransportError


class ConnectError(TransportError, ConnectionError):
    """The NATS server could not be reached within ``connect_timeout_ms``."""


class SendError(TransportError):
    """An event cannot be published (over the server's ``max_payload``, a bad subject)."""


class TransportClosed(TransportError):
    """A socket was used after it was closed."""
