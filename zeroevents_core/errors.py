"""The error tree: everything the library raises derives from :class:`ZeroEventsError`.

Each message names the thing that was wrong (option key, plugin name with the
registered alternatives, frame index, event name, schema file) so that a log line
alone is enough to find it::

    ZeroEventsError
    ├── ConfigurationError (ValueError)        a wrong option, file or plugin name
    │   ├── UnknownPluginError (LookupError)
    │   ├── PluginConflictError
    │   ├── MissingDependencyError (ImportError)
    │   └── SchemaError                        a schema file or contract folder
    ├── PluginLoadError (ImportError)          an entry point that failed to load
    ├── ListenerError (TypeError)
    │   └── CoroutineListenerError
    ├── WindowFullError                        at-least-once: the send window is full
    ├── OutboxError                            the outbox cannot store or read (disk full, I/O)
    │   └── OutboxFullError                    it holds its limit of events or bytes
    ├── SerializationError
    │   ├── EncodeError (ValueError)
    │   └── DecodeError (ValueError)           with the frame index on the wire
    ├── SchemaValidationError (ValueError)     a payload breaking its contract
    └── TransportError                         raised by a transport, never the backend's own
        ├── ConnectError (ConnectionError)     cannot bind, connect or reach the server
        ├── SendError                          a send that failed
        ├── ReceiveError                       a receive that failed
        └── TransportClosed                    a socket used after it was closed
"""

from __future__ import annotations

from collections.abc import Iterable


class ZeroEventsError(Exception):
    """Base class of every error raised by zeroevents."""


class ConfigurationError(ZeroEventsError, ValueError):
    """An option, a configuration file or a plugin name is wrong."""


class UnknownPluginError(ConfigurationError, LookupError):
    """No plugin of that kind is registered under that name."""

    def __init__(self, kind: str, name: str, registered: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.registered = sorted(registered)
        choices = ", ".join(repr(n) for n in self.registered) or "none"
        super().__init__(f"unknown {kind} {name!r}; registered {kind}s: {choices}")


class PluginConflictError(ConfigurationError):
    """Two plugins registered the same name for the same kind of thing."""

    def __init__(self, kind: str, name: str, first: str, second: str) -> None:
        self.kind = kind
        self.name = name
        self.providers = (first, second)
        super().__init__(
            f"{kind} {name!r} is registered twice: by {first} and by {second}; "
            "uninstall one of them or give one another name"
        )


class MissingDependencyError(ConfigurationError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, extra: str, cause: ImportError) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(
            f"{feature} need the {extra!r} extra of zeroevents-core, which is not installed "
            f"({cause}): pip install 'zeroevents-core[{extra}]'"
        )


class PluginLoadError(ZeroEventsError, ImportError):
    """A plugin's entry point could not be loaded (it is skipped, the others load)."""

    def __init__(self, entry_point: str, distribution: str, cause: BaseException) -> None:
        self.entry_point = entry_point
        self.distribution = distribution
        self.cause = cause
        super().__init__(
            f"plugin entry point {entry_point!r} of distribution {distribution} "
            f"failed to load: {type(cause).__name__}: {cause}"
        )


class ListenerError(ZeroEventsError, TypeError):
    """What was given as a listener cannot be called."""


class CoroutineListenerError(ListenerError):
    """A coroutine function listened to an event fired with the blocking ``fire``:
    its coroutine would never run. Fire with ``await fire_async(...)`` instead."""


class WindowFullError(ZeroEventsError):
    """At-least-once delivery: as many events as the ``window`` option allows are
    in flight unacknowledged, so no other can be sent until some are."""

    def __init__(self, window: int) -> None:
        self.window = window
        super().__init__(
            f"{window} events are in flight unacknowledged, the most the option 'window' "
            "allows: wait for acknowledgements (flush) or raise 'window'"
        )


class OutboxError(ZeroEventsError):
    """The outbox (or the dedup store) file could not be written or read for another
    reason than its content: the disk is full, an I/O error, the file is closed. A
    file that is not one, or is corrupted, is a :class:`ConfigurationError` instead."""


class OutboxFullError(OutboxError):
    """The outbox file holds ``outbox_max_events`` events or ``outbox_max_bytes`` bytes
    and no acknowledgement made room in time: the event was not stored (a listener
    fires ``zeroevents.push.error`` for it)."""

    def __init__(self, path: object, event: str, reason: str) -> None:
        self.path = path
        self.event = event
        super().__init__(f"outbox {path} cannot take event {event!r}: {reason}")


class SerializationError(ZeroEventsError):
    """A payload could not be turned into frames, or frames into a payload."""


class EncodeError(SerializationError, ValueError):
    """A payload argument cannot be carried by the serializer."""

    def __init__(self, serializer: str, index: int, reason: str) -> None:
        self.serializer = serializer
        self.index = index
        self.reason = reason
        super().__init__(f"{serializer} serializer cannot encode argument {index}: {reason}")


class DecodeError(SerializationError, ValueError):
    """A received frame is not what the serializer (or the wire format) expects.

    ``frame`` is the index of the frame in the message as it came off the wire
    (0 is the event name) when a transport raises it. ``Serializer.unserialize``,
    which sees only the payload frames, gives the index among those (0 is the
    first argument); the transport's codec re-raises with the wire index.
    """

    def __init__(self, reason: str, *, frame: int | None = None, serializer: str | None = None):
        self.reason = reason
        self.frame = frame
        self.serializer = serializer
        where = f"frame {frame}" if frame is not None else "message"
        by = f" ({serializer} serializer)" if serializer else ""
        super().__init__(f"cannot decode {where}{by}: {reason}")


class TransportError(ZeroEventsError):
    """A transport could not open, send or receive; transports map their backend's
    exceptions to the subclasses below, so that none of those crosses the contract."""


class ConnectError(TransportError, ConnectionError):
    """A socket could not bind, connect, or reach its server (the endpoint named)."""


class SendError(TransportError):
    """A send failed where no error event can report it (a dead letter, a forward)."""


class ReceiveError(TransportError):
    """A receive failed for another reason than a timeout (a timeout fires
    ``zeroevents.pull.error``)."""


class TransportClosed(TransportError):
    """A socket was used after it was closed."""


class SchemaError(ConfigurationError):
    """A schema file or contract folder is wrong (named in the message)."""


class SchemaValidationError(ZeroEventsError, ValueError):
    """A payload breaks the contract of its event.

    ``failures`` holds every failure, not only the first: each a
    ``(json_path, message, schema_file)`` triple.
    """

    def __init__(self, event: str, failures: list[tuple[str, str, str | None]]) -> None:
        self.event = event
        self.failures = failures
        lines = [
            f"  at {path}: {message}" + (f" (schema {source})" if source else "")
            for path, message, source in failures
        ]
        count = len(failures)
        super().__init__(
            f"event {event!r} breaks its contract ({count} failure{'s' * (count != 1)}):\n"
            + "\n".join(lines)
        )


# The command line ---------------------------------------------------------------------


class CommandError(ZeroEventsError):
    """A ``zeroevents`` command could not do its job (exit status 1)."""


class UsageError(ZeroEventsError):
    """The command line is wrong in a way argparse cannot see (exit status 2)."""
