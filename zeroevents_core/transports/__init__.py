"""Transports move encoded events between processes; ``zmq`` is built in."""

from __future__ import annotations

from abc import ABC
from typing import ClassVar


class Transport(ABC):
    """Base class of transport plugins (the full contract is in ``hookspecs``)."""

    name: ClassVar[str]
    supports_sync: ClassVar[bool] = True
    supports_async: ClassVar[bool] = False
