"""The plugin manager: built-in plugins, entry-point discovery and the registries.

Plugins are loaded once, lazily, on the first lookup: the modules of
``DEFAULT_PLUGINS`` first, then every entry point of the ``zeroevents`` group.
Each registration hook is then called with a ``register`` callback that records
which plugin, and so which distribution, provided each name.

``ZEROEVENTS_LOAD_PLUGINS`` (as llm's ``LLM_LOAD_PLUGINS``) limits which entry-point
plugins load: a comma-separated list of distribution names (``zeroevents-msgpack``;
case, ``-`` and ``_`` do not matter), or an empty string for none. The built-ins
always load. A listed name that no installed distribution provides is reported by
:func:`plugin_errors`.

Besides the named things, plugins may give observers (:func:`get_observers`, told
when sockets open and services start) and flags of the command line
(:func:`add_cli_arguments`, :func:`configure_cli`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.metadata
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from . import hookspecs
from .errors import (
    ConfigurationError,
    PluginConflictError,
    PluginLoadError,
    UnknownPluginError,
    ZeroEventsError,
)

if TYPE_CHECKING:
    from .matchers import Matcher
    from .observers import Observer
    from .serializers import Serializer
    from .transports import Transport

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "zeroevents"
CORE_DISTRIBUTION = "zeroevents-core"
LOAD_PLUGINS_VARIABLE = "ZEROEVENTS_LOAD_PLUGINS"

# The built-in transport: the default of the ``transport`` option, and the module
# that also holds the socket classes the package root and ``aio`` exported in 0.x.
DEFAULT_TRANSPORT = "zmq"
BUILTIN_TRANSPORT_MODULE = "zeroevents_core.transports.zmq"

# The optional methods of observers.Observer: an observer has at least one.
OBSERVER_METHODS = ("opened", "closed", "sending", "processing")

DEFAULT_PLUGINS = (
    "zeroevents_core.serializers.json",
    "zeroevents_core.serializers.string",
    "zeroevents_core.matchers.glob",
    "zeroevents_core.matchers.segments",
    BUILTIN_TRANSPORT_MODULE,
    "zeroevents_core.transports.memory",
)

Kind = Literal["serializer", "matcher", "transport"]
KINDS: tuple[Kind, ...] = ("serializer", "matcher", "transport")


@dataclass(frozen=True)
class PluginInfo:
    """One registered name: what it is, and which plugin and distribution gave it."""

    kind: Kind | Literal["observer"]
    name: str
    obj: Any
    plugin: str
    distribution: str
    version: str | None

    @property
    def provider(self) -> str:
        """The distribution and version, as error messages and listings show it."""
        return f"{self.distribution} {self.version}" if self.version else self.distribution


class _State:
    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.origins: dict[str, tuple[str, str | None]] = {}  # plugin name -> (dist, version)
        self.load_errors: list[ZeroEventsError] = []
        self.registries: dict[Kind, dict[str, PluginInfo]] | None = None
        self.problems: list[ZeroEventsError] = []
        self.conflicts: dict[tuple[Kind, str], PluginConflictError] = {}
        self.observers: list[PluginInfo] | None = None


_state: _State | None = None
_lock = threading.RLock()


def _core_version() -> str | None:
    try:
        return importlib.metadata.version(CORE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def _normalized(distribution: str) -> str:
    # PEP 503: zeroevents_MsgPack and zeroevents-msgpack are the same distribution.
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _allowed_distributions() -> set[str] | None:
    """The distributions ``ZEROEVENTS_LOAD_PLUGINS`` lets load; None: every one."""
    value = os.environ.get(LOAD_PLUGINS_VARIABLE)
    if value is None:
        return None
    return {_normalized(name.strip()) for name in value.split(",") if name.strip()}


def _load() -> _State:
    state = _State()
    version = _core_version()
    for module_name in DEFAULT_PLUGINS:
        state.manager.register(importlib.import_module(module_name), name=module_name)
        state.origins[module_name] = (CORE_DISTRIBUTION, version)
    allowed = _allowed_distributions()
    seen: set[str] = set()
    # pluggy's load_setuptools_entrypoints stops at the first entry point that fails
    # to import and skips a second distribution using a taken entry-point name; this
    # loop does the same work but skips only the broken plugin and keeps both names.
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.name if dist is not None else "unknown distribution"
        seen.add(_normalized(dist_name))
        if allowed is not None and _normalized(dist_name) not in allowed:
            continue
        dist_version = dist.version if dist is not None else None
        plugin_name = f"{dist_name}:{entry_point.name}"
        try:
            plugin = entry_point.load()
            state.manager.register(plugin, name=plugin_name)
        except Exception as exc:
            error = PluginLoadError(entry_point.name, dist_name, exc)
            log.warning("%s", error)
            state.load_errors.append(error)
            continue
        state.origins[plugin_name] = (dist_name, dist_version)
    for missing in sorted((allowed or set()) - seen):
        state.load_errors.append(
            ConfigurationError(
                f"{LOAD_PLUGINS_VARIABLE} names {missing!r}, but no installed distribution "
                f"provides a {ENTRY_POINT_GROUP!r} entry point under that name"
            )
        )
    return state


def _manager_state() -> _State:
    global _state
    with _lock:
        if _state is None:
            _state = _load()
        return _state


def _base_classes() -> dict[Kind, type]:
    from .matchers import Matcher
    from .serializers import Serializer
    from .transports import Transport

    return {"serializer": Serializer, "matcher": Matcher, "transport": Transport}


def _collect(state: _State) -> dict[Kind, dict[str, PluginInfo]]:
    bases = _base_classes()
    registries: dict[Kind, dict[str, PluginInfo]] = {kind: {} for kind in KINDS}
    state.problems = []
    state.conflicts = {}

    def accept(kind: Kind, plugin: str, dist: str, version: str | None, obj: Any) -> None:
        info = PluginInfo(kind, getattr(obj, "name", None), obj, plugin, dist, version)  # type: ignore[arg-type]
        name_ok = isinstance(info.name, str)
        if not (name_ok and isinstance(obj, type) and issubclass(obj, bases[kind])):
            problem = ConfigurationError(
                f"plugin {info.plugin} ({info.provider}) registered {info.obj!r} as a "
                f"{info.kind}: expected a subclass of {bases[kind].__qualname__} "
                "with a str 'name'"
            )
            log.warning("%s", problem)
            state.problems.append(problem)
            return
        taken = registries[kind].get(info.name)
        if taken is not None and taken.obj is not info.obj:
            conflict = PluginConflictError(info.kind, info.name, taken.provider, info.provider)
            state.conflicts[(kind, info.name)] = conflict
            state.problems.append(conflict)
            return
        registries[kind][info.name] = info

    for kind in KINDS:
        # Each implementation is called on its own so that every name it registers
        # is attributed to its plugin, and so to a distribution.
        for impl in getattr(state.manager.hook, f"register_{kind}s").get_hookimpls():
            plugin = state.manager.get_name(impl.plugin) or repr(impl.plugin)
            dist, version = state.origins.get(plugin, (f"{plugin} (run time)", None))

            kwargs = {"register": functools.partial(accept, kind, plugin, dist, version)}
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception as exc:
                # A bug in one plugin's hook must not take every lookup down with it.
                provider = f"{dist} {version}" if version else dist
                problem = ConfigurationError(
                    f"plugin {plugin} ({provider}) failed in register_{kind}s: "
                    f"{type(exc).__name__}: {exc}"
                )
                log.warning("%s", problem)
                state.problems.append(problem)
    return registries


def _registries() -> tuple[_State, dict[Kind, dict[str, PluginInfo]]]:
    state = _manager_state()
    with _lock:
        if state.registries is None:
            state.registries = _collect(state)
        return state, state.registries


def _collect_observers(state: _State) -> list[PluginInfo]:
    observers: list[PluginInfo] = []

    def accept(plugin: str, dist: str, version: str | None, observer: Any) -> None:
        if not any(callable(getattr(observer, m, None)) for m in OBSERVER_METHODS):
            problem = ConfigurationError(
                f"plugin {plugin} registered {observer!r} as an observer: expected an "
                "object with an opened, closed, sending or processing(observed) method"
            )
            log.warning("%s", problem)
            state.problems.append(problem)
            return
        name = type(observer).__qualname__
        observers.append(PluginInfo("observer", name, observer, plugin, dist, version))

    for impl in state.manager.hook.register_observers.get_hookimpls():
        plugin = state.manager.get_name(impl.plugin) or repr(impl.plugin)
        dist, version = state.origins.get(plugin, (f"{plugin} (run time)", None))
        try:
            impl.function(functools.partial(accept, plugin, dist, version))
        except Exception as exc:
            problem = ConfigurationError(
                f"plugin {plugin} failed in register_observers: {type(exc).__name__}: {exc}"
            )
            log.warning("%s", problem)
            state.problems.append(problem)
    return observers


def list_observers() -> list[PluginInfo]:
    """Every observer the plugins registered (kind ``"observer"``, named after its
    class), with its distribution; collected once, after the registries."""
    state, _ = _registries()
    with _lock:
        if state.observers is None:
            state.observers = _collect_observers(state)
        return state.observers


def get_observers() -> list[Observer]:
    """The observers themselves, as the sockets and services tell them."""
    return [info.obj for info in list_observers()]


def add_cli_arguments(command: str, parser: argparse.ArgumentParser) -> None:
    """Let every plugin add its flags to ``command``'s parser (``add_cli_arguments``)."""
    _manager_state().manager.hook.add_cli_arguments(command=command, parser=parser)


def configure_cli(command: str, args: argparse.Namespace) -> list[Callable[[], Any]]:
    """Let every plugin act on its flags; what to call when the command ends."""
    undo = _manager_state().manager.hook.configure_cli(command=command, args=args)
    return [each for each in undo if each is not None]


def lookup(kind: Kind, name: str) -> PluginInfo:
    """The registration of ``name`` among the plugins of ``kind``."""
    state, registries = _registries()
    conflict = state.conflicts.get((kind, name))
    if conflict is not None:
        raise conflict
    try:
        return registries[kind][name]
    except KeyError:
        raise UnknownPluginError(kind, name, registries[kind]) from None


def get_serializer(name: str, **options: Any) -> Serializer:
    """A serializer registered as ``name``, built with ``options`` (e.g. ``max_frame_size``)."""
    cls: type[Serializer] = lookup("serializer", name).obj
    return cls(**options)


def get_matcher(name: str) -> Matcher:
    """A new, empty matcher of the kind registered as ``name``."""
    cls: type[Matcher] = lookup("matcher", name).obj
    return cls()


def get_transport(name: str) -> Transport:
    """The transport registered as ``name``."""
    cls: type[Transport] = lookup("transport", name).obj
    return cls()


def list_plugins() -> list[PluginInfo]:
    """Every registered serializer, matcher and transport, with its distribution."""
    _, registries = _registries()
    return [info for kind in KINDS for _, info in sorted(registries[kind].items())]


def plugin_errors() -> list[ZeroEventsError]:
    """Plugins that failed to load, clashing names and invalid registrations."""
    state, _ = _registries()
    list_observers()
    return [*state.load_errors, *state.problems]


def register_plugin(plugin: object, name: str | None = None) -> None:
    """Register a plugin (a module or object with hook implementations) at run time."""
    state = _manager_state()
    if name is None and not hasattr(plugin, "__name__"):
        # pluggy would name an instance by its id(); error messages deserve better.
        name = f"{type(plugin).__module__}.{type(plugin).__qualname__}@{id(plugin):#x}"
    with _lock:
        try:
            state.manager.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            # pluggy's errors for a taken name or a hook with unknown arguments.
            raise ConfigurationError(f"cannot register plugin {name or plugin!r}: {exc}") from exc
        state.registries = state.observers = None


def unregister_plugin(plugin: object) -> None:
    """Remove a plugin registered with :func:`register_plugin`."""
    state = _manager_state()
    with _lock:
        if not state.manager.is_registered(plugin):
            # pluggy only asserts, which vanishes under python -O.
            raise ConfigurationError(f"plugin {plugin!r} is not registered")
        state.manager.unregister(plugin)
        state.registries = state.observers = None


def register(plugin: object, name: str | None = None) -> None:
    """Deprecated name of :func:`register_plugin`."""
    warnings.warn(
        "zeroevents_core.register is deprecated: use register_plugin",
        DeprecationWarning,
        stacklevel=2,
    )
    register_plugin(plugin, name)


def unregister(plugin: object) -> None:
    """Deprecated name of :func:`unregister_plugin`."""
    warnings.warn(
        "zeroevents_core.unregister is deprecated: use unregister_plugin",
        DeprecationWarning,
        stacklevel=2,
    )
    unregister_plugin(plugin)
