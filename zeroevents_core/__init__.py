"""zeroevents: events between processes.

A listener in one process forwards the events it hears to a socket; a service in
another process receives them and fires them on its own dispatcher.
"""

from __future__ import annotations

import os as _os
import sys as _sys

# The `zeroevents` console script imports this package before its main() runs: a
# Ctrl-C during those imports ends the process quietly, as for any shell command,
# instead of printing an import traceback; main() puts Python's handler back. The C
# module, not `signal`: there must be nothing to import before the handler is set.
if _os.path.basename(getattr(_sys, "argv", [""])[0]) == "zeroevents":
    import _signal  # type: ignore[import-not-found]  # the C module has no stub

    try:  # noqa: SIM105 - contextlib would be an import before the handler is set
        _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    except ValueError:  # imported from a thread other than the main one
        pass

import importlib
from typing import TYPE_CHECKING, Any

from .dispatcher import Dispatcher, default_dispatcher
from .errors import (
    ConfigurationError,
    ConnectError,
    CoroutineListenerError,
    DecodeError,
    EncodeError,
    ListenerError,
    MissingDependencyError,
    PluginConflictError,
    PluginLoadError,
    ReceiveError,
    SchemaError,
    SchemaValidationError,
    SendError,
    SerializationError,
    TransportClosed,
    TransportError,
    UnknownPluginError,
    WindowFullError,
    ZeroEventsError,
)
from .hookspecs import hookimpl
from .listener import EventListener
from .matchers import Matcher
from .plugins import (
    BUILTIN_TRANSPORT_MODULE,
    PluginInfo,
    get_matcher,
    get_serializer,
    get_transport,
    list_plugins,
    plugin_errors,
    register,
    register_plugin,
    unregister,
    unregister_plugin,
)
from .security import AUTH_ERROR, REJECTED
from .serializers import Serializer
from .service import IDLE, STOP, EventService, ServiceStats
from .stats import Stats
from .transports import AsyncPoller, CliOption, Control, Message, Poller, Received, Transport
from .transports.codec import CONFIRMED, FLUSH, PULL_ERROR, PUSH_ERROR, SCHEMA_ERROR

# The built-in transport's blocking socket, exported here since 0.x (the contract's
# Protocol of the same name is zeroevents_core.transports.EventSocket). Imported
# now, not lazily: the console script's quiet Ctrl-C window above covers the import
# of pyzmq, which a KeyboardInterrupt must not cut in half.
from .transports.zmq import EventSocket

if TYPE_CHECKING:
    from .aio import AsyncEventListener, AsyncEventService
    from .schemas import (
        CompatibilityReport,
        SchemaFailure,
        SchemaRegistry,
        check_compatibility,
        compare_folders,
    )
    from .transports.zmq import AsyncEventSocket

# Loaded on first use, so that importing the package imports neither asyncio nor
# jsonschema (about a second, which every process and CLI call would pay).
_LAZY = {
    "AsyncEventListener": f"{__name__}.aio",
    "AsyncEventService": f"{__name__}.aio",
    "AsyncEventSocket": BUILTIN_TRANSPORT_MODULE,
    "SchemaFailure": f"{__name__}.schemas",
    "SchemaRegistry": f"{__name__}.schemas",
    "CompatibilityReport": f"{__name__}.schemas",
    "check_compatibility": f"{__name__}.schemas",
    "compare_folders": f"{__name__}.schemas",
}

__all__ = [
    "AUTH_ERROR",
    "CONFIRMED",
    "FLUSH",
    "IDLE",
    "PULL_ERROR",
    "PUSH_ERROR",
    "REJECTED",
    "SCHEMA_ERROR",
    "STOP",
    "AsyncEventListener",
    "AsyncEventService",
    "AsyncEventSocket",
    "AsyncPoller",
    "CliOption",
    "CompatibilityReport",
    "ConfigurationError",
    "ConnectError",
    "Control",
    "CoroutineListenerError",
    "DecodeError",
    "Dispatcher",
    "EncodeError",
    "EventListener",
    "EventService",
    "EventSocket",
    "ListenerError",
    "Matcher",
    "Message",
    "MissingDependencyError",
    "PluginConflictError",
    "PluginInfo",
    "PluginLoadError",
    "Poller",
    "ReceiveError",
    "Received",
    "SchemaError",
    "SchemaFailure",
    "SchemaRegistry",
    "SchemaValidationError",
    "SendError",
    "SerializationError",
    "Serializer",
    "ServiceStats",
    "Stats",
    "Transport",
    "TransportClosed",
    "TransportError",
    "UnknownPluginError",
    "WindowFullError",
    "ZeroEventsError",
    "check_compatibility",
    "compare_folders",
    "events",
    "get_matcher",
    "get_serializer",
    "get_transport",
    "hookimpl",
    "list_plugins",
    "plugin_errors",
    "register",
    "register_plugin",
    "unregister",
    "unregister_plugin",
]


def __getattr__(name: str) -> Any:
    # ``events`` is made on first use so that importing the package loads no plugin.
    if name == "events":
        return default_dispatcher()
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
