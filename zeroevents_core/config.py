"""The configuration file: ``zeroevents.toml`` in the working directory, or the
file named by ``ZEROEVENTS_CONFIG``.

    [connections.orders]
    connect = "tcp://127.0.0.1:5555"
    socket_type = "PUSH"

    [schemas]
    "orders.*" = "contracts/orders.json"

Relative paths inside the file are relative to the file's folder.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

CONFIG_ENV = "ZEROEVENTS_CONFIG"
CONFIG_FILE = "zeroevents.toml"


def config_path() -> Path:
    """The configuration file in force (it may not exist)."""
    return Path(os.environ.get(CONFIG_ENV) or CONFIG_FILE).absolute()


def load_config(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The parsed configuration file; ``{}`` when the default file does not exist."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    file = Path(path).absolute() if path is not None else config_path()
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        if explicit:
            raise ConfigurationError(f"configuration file {file} does not exist") from None
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"configuration file {file} is not valid TOML: {exc}") from exc


def connection_options(name: str, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The options of ``[connections.NAME]``; a clear error when there is no such table."""
    file = Path(path).absolute() if path is not None else config_path()
    connections = load_config(path).get("connections", {})
    options = connections.get(name) if isinstance(connections, dict) else None
    if not isinstance(options, dict):
        known = ", ".join(sorted(connections)) if isinstance(connections, dict) else ""
        raise ConfigurationError(
            f"no connection {name!r} in {file} (table [connections.{name}]); "
            f"connections there: {known or 'none'}"
        )
    return dict(options)
