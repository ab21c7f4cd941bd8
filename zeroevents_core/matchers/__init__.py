"""Matchers decide which registered patterns an event name matches.

Built-in: ``glob`` (the default, the original's semantics) and ``segments``
(AMQP/MQTT style). A matcher indexes its patterns so that ``match`` costs about
the same with ten thousand patterns as with ten.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar


class Matcher(ABC):
    """Base class of matcher plugins: a set of patterns, indexed for lookup by name."""

    name: ClassVar[str]

    @abstractmethod
    def add(self, pattern: str) -> None:
        """Index a pattern (adding one twice is harmless)."""

    @abstractmethod
    def remove(self, pattern: str) -> None:
        """Drop a pattern (dropping an unknown one is harmless)."""

    @abstractmethod
    def match(self, name: str) -> list[str]:
        """Every indexed pattern, exact names included, that matches ``name``."""

    @staticmethod
    @abstractmethod
    def is_wildcard(pattern: str) -> bool:
        """Whether ``pattern`` matches more than the one name it spells."""
