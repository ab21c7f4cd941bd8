"""The transport a ``listen`` or ``emit`` runs over, and what it adds to them.

A transport class contributes its flags with ``cli_options()`` (a list of
:class:`~zeroevents_core.transports.CliOption`) and, optionally, its part of each
command with ``cli_command_line()``: an object of the :class:`CommandLine` shape
(the ZeroMQ one waits for handshakes and sends the closing flush barrier). A
transport without it gets :class:`NeutralCommandLine`: no check, no wait, the
contract's ``flush`` after the last event.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigurationError, ZeroEventsError
from ._values import option_value

if TYPE_CHECKING:
    from ..transports import CliOption

# Where each transport flag's value is kept in the argparse namespace: apart from
# the command's own flags, whatever the transport calls its keys.
_DEST = "transport option "
TRANSPORT_COMMANDS = ("listen", "emit")


class CommandLine(Protocol):
    """A transport's part of ``zeroevents listen`` and ``emit`` (all duck-typed)."""

    def prepare(self, command: str, options: dict[str, Any], timeout: float | None) -> None:
        """Check the options (UsageError) and tune them for ``command``, in place."""
        ...

    def kind(self, options: Mapping[str, Any]) -> str:
        """What kind of socket the options make, for messages ("dealer")."""
        ...

    def where(self, options: Mapping[str, Any]) -> str:
        """Where the socket goes, for messages."""
        ...

    def open_failed(self, error: ZeroEventsError, options: Mapping[str, Any]) -> ZeroEventsError:
        """The error to show when the socket cannot be opened."""
        ...

    def listening_on(self, socket: Any, options: Mapping[str, Any]) -> str:
        """Where an open socket listens (a picked port included)."""
        ...

    def drain_ms(self, options: Mapping[str, Any]) -> int:
        """After ``listen --count``: how long to answer the sender's closing traffic."""
        ...

    def watch_failures(self, socket: Any, on_failure: Callable[[str], None]) -> list[str]:
        """Call ``on_failure`` (from any thread) when a peer cannot pair with the
        socket; return the failures seen so far."""
        ...

    def settle(self, options: Mapping[str, Any]) -> float:
        """The default of ``emit --settle``, in seconds."""
        ...

    def await_receiver(self, socket: Any, options: Mapping[str, Any], timeout: float) -> None:
        """Before the first event: wait for a receiver (CommandError if none)."""
        ...

    def failure(self, socket: Any) -> str | None:
        """Why a push failed, when the transport knows."""
        ...

    def deliver(self, socket: Any, options: Mapping[str, Any], timeout_ms: int) -> bool | None:
        """After the last event: whether every event was taken (None: unknown)."""
        ...

    def lossy_close(self, options: Mapping[str, Any]) -> bool:
        """Whether a slow close() means events may be lost."""
        ...

    def add_commands(self, commands: Any, common: argparse.ArgumentParser) -> None:
        """Commands of the transport's own (``zeroevents keys`` for ZeroMQ)."""
        ...

    def help_notes(self, command: str) -> str:
        """What ``command --help`` says of this transport, after the command's own
        notes: sections such as its socket rules and examples ("" for none)."""
        ...


class NeutralCommandLine:
    """The part of a transport that says nothing of its own (the contract only)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def prepare(self, command: str, options: dict[str, Any], timeout: float | None) -> None:
        return None

    def kind(self, options: Mapping[str, Any]) -> str:
        return self._name

    def where(self, options: Mapping[str, Any]) -> str:
        # The contract's where() reads checked options, defaults merged in: the
        # command line has only the ones given.
        from ..listener import resolve_options

        transport, checked = resolve_options(dict(options))
        return str(transport.where(checked)) or self._name

    def open_failed(self, error: ZeroEventsError, options: Mapping[str, Any]) -> ZeroEventsError:
        return error

    def listening_on(self, socket: Any, options: Mapping[str, Any]) -> str:
        return self.where(options)

    def drain_ms(self, options: Mapping[str, Any]) -> int:
        return 0

    def watch_failures(self, socket: Any, on_failure: Callable[[str], None]) -> list[str]:
        return []

    def settle(self, options: Mapping[str, Any]) -> float:
        return 0.0

    def await_receiver(self, socket: Any, options: Mapping[str, Any], timeout: float) -> None:
        return None

    def failure(self, socket: Any) -> str | None:
        return None

    def deliver(self, socket: Any, options: Mapping[str, Any], timeout_ms: int) -> bool | None:
        return bool(socket.flush(timeout_ms))

    def lossy_close(self, options: Mapping[str, Any]) -> bool:
        return False

    def add_commands(self, commands: Any, common: argparse.ArgumentParser) -> None:
        return None

    def help_notes(self, command: str) -> str:
        return ""


@dataclass
class Selected:
    """A transport as the command line sees it: its name, flags and part."""

    name: str
    options: Sequence[CliOption]
    command_line: CommandLine


def default_transport() -> str:
    """The transport of listeners that name none."""
    from ..listener import COMMON_DEFAULTS

    return str(COMMON_DEFAULTS["transport"])


def select(name: str) -> Selected:
    """The registered transport ``name`` (UnknownPluginError if none)."""
    from ..plugins import lookup

    transport_class = lookup("transport", name).obj
    cli_options = getattr(transport_class, "cli_options", None)
    made = getattr(transport_class, "cli_command_line", None)
    command_line: CommandLine = made() if made is not None else NeutralCommandLine(name)
    return Selected(name, tuple(cli_options()) if cli_options else (), command_line)


def every_transport() -> list[Selected]:
    """Each registered transport, for the commands they add."""
    from ..plugins import list_plugins

    return [select(info.name) for info in list_plugins() if info.kind == "transport"]


def command_of(argv: Sequence[str]) -> str | None:
    """The command a command line runs (its first word that is not a flag)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def chosen_name(argv: Sequence[str]) -> str | None:
    """The ``--transport`` of a ``listen`` or ``emit`` command line, read before the
    parser is built (the flags these commands take depend on it)."""
    command = command_of(argv)
    if command not in TRANSPORT_COMMANDS:
        return None
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--transport", default=None)
    known, _ = early.parse_known_args(list(argv[list(argv).index(command) + 1 :]))
    return str(known.transport) if known.transport else None


def add_arguments(parser: argparse.ArgumentParser, command: str, selected: Selected) -> None:
    """``--transport``, ``--option`` and the selected transport's own flags."""
    parser.add_argument(
        "--transport", metavar="NAME", default=selected.name,
        help=f"transport plugin (default: {default_transport()}; see 'zeroevents plugins'); "
        "its flags are listed below",
    )  # fmt: skip
    parser.add_argument(
        "--option", action="append", default=[], type=_key_value, metavar="KEY=VALUE",
        help="set a listener option of the transport (repeatable): VALUE as JSON when it "
        "parses, else as text; e.g. --option 'socket_options={\"SNDHWM\": 10}'",
    )  # fmt: skip
    group = parser.add_argument_group(f"{selected.name} transport options")
    for option in selected.options:
        if command not in option.commands:
            continue
        group.add_argument(
            option.flag,
            dest=_DEST + option.key,
            action="append" if option.multiple else "store",
            type=_parse_with(option),
            metavar=option.metavar,
            help=option.help,
            default=argparse.SUPPRESS,
        )


def _parse_with(option: CliOption) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return option.parse(text)
        except ConfigurationError as error:
            # argparse names the flag already.
            message = str(error).removeprefix(f"{option.flag}: ")
            raise argparse.ArgumentTypeError(message) from None

    return parse


def _key_value(text: str) -> tuple[str, Any]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, option_value(value)


def listener_options(args: argparse.Namespace) -> dict[str, Any]:
    """The listener options of a ``listen`` or ``emit`` command line: its common
    flags, the transport's flags, then each ``--option`` (merged into a mapping
    option key by key)."""
    options: dict[str, Any] = {
        "transport": args.transport,
        "serializer": args.serializer,
        "schemas": args.schemas,
        "confirmed": args.confirmed,
    }
    for dest, value in vars(args).items():
        if dest.startswith(_DEST):
            options[dest[len(_DEST) :]] = value
    for key, value in args.option:
        earlier = options.get(key)
        both = isinstance(earlier, Mapping) and isinstance(value, Mapping)
        options[key] = {**earlier, **value} if both else value  # type: ignore[dict-item]
    return options
