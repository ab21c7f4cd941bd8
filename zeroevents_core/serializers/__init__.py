"""Serializers turn each positional payload argument into one frame and back.

Built-in: ``json`` (the default, byte-compatible with the PHP original) and
``string`` (bytes and str only). More come from plugins (``msgpack``, ``cbor``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from ..errors import ConfigurationError, DecodeError, EncodeError

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
DEFAULT_MAX_DEPTH = 128
# The decode budget of one frame. An empty array or map costs one byte on the wire
# and 56-232 bytes decoded: containers are what amplifies, so they have a budget of
# their own; items (every value and map key, containers included) bound the rest.
DEFAULT_MAX_ITEMS = 1_000_000
DEFAULT_MAX_CONTAINERS = 100_000


class Serializer(ABC):
    """Base class of serializer plugins.

    Subclasses set ``name`` and ``content_type`` and implement ``dumps`` and
    ``loads`` for one value; frames, size limits and error wrapping live here once.
    ``loads`` may raise anything on bad input: it is turned into a
    :class:`DecodeError` naming the frame.

    The decode budget: ``loads`` must refuse a frame holding more than ``max_items``
    items (values and map keys, containers included) or more than ``max_containers``
    arrays, maps, sets and tags, before building them (:meth:`check_budget` raises
    the error), so that no frame costs more than a small multiple of its size.
    """

    name: ClassVar[str]
    content_type: ClassVar[str]

    def __init__(
        self,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_containers: int = DEFAULT_MAX_CONTAINERS,
    ) -> None:
        for key, value in (
            ("max_frame_size", max_frame_size),
            ("max_depth", max_depth),
            ("max_items", max_items),
            ("max_containers", max_containers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(
                    f"serializer option {key!r} must be a positive integer, not {value!r}"
                )
        self.max_frame_size = max_frame_size
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_containers = max_containers

    def check_budget(self, items: int, containers: int, *, at_least: bool = False) -> None:
        """Raise :class:`DecodeError` if a frame's counts are over the decode budget.

        ``at_least``: the counts are those found before decoding stopped."""
        some = "at least " if at_least else ""
        if containers > self.max_containers:
            raise DecodeError(
                f"{some}{containers} arrays/maps/tags, over the limit max_containers="
                f"{self.max_containers}"
            )
        if items > self.max_items:
            raise DecodeError(
                f"{some}{items} items (values and map keys), over the limit max_items="
                f"{self.max_items}"
            )

    @abstractmethod
    def dumps(self, value: Any) -> bytes:
        """Encode one payload argument as one frame."""

    @abstractmethod
    def loads(self, frame: bytes) -> Any:
        """Decode one frame into one payload argument."""

    def serialize(self, payload: Sequence[Any]) -> list[bytes]:
        """Encode each argument into its own frame; :class:`EncodeError` names the argument."""
        dumps = self.dumps
        frames = []
        try:
            for value in payload:
                frames.append(dumps(value))
        except Exception:
            return self._serialize_naming_failure(payload)
        return frames

    def _serialize_naming_failure(self, payload: Sequence[Any]) -> list[bytes]:
        # Off the hot path: encode again, one argument at a time, to say which one fails.
        frames = []
        for index, value in enumerate(payload):
            try:
                frames.append(self.dumps(value))
            except EncodeError:
                raise
            except Exception as exc:
                raise EncodeError(self.name, index, f"{type(exc).__name__}: {exc}") from exc
        return frames

    def unserialize(self, frames: Sequence[bytes]) -> list[Any]:
        """Decode each frame into one argument; :class:`DecodeError` names the frame."""
        loads = self.loads
        limit = self.max_frame_size
        values = []
        try:
            for frame in frames:
                if len(frame) > limit:
                    break
                values.append(loads(frame))
            else:
                return values
        except Exception:
            pass
        return self._unserialize_naming_failure(frames)

    def unserialize_many(self, payloads: Sequence[Sequence[bytes]]) -> list[list[Any]]:
        """Decode the payload frames of several events at once (the events of a batch);
        :class:`DecodeError` if any is refused, and the caller then decodes each alone
        to refuse only that one. A serializer with a cheaper bulk form overrides it;
        the default decodes each payload in turn."""
        unserialize = self.unserialize
        return [unserialize(frames) for frames in payloads]

    def _unserialize_naming_failure(self, frames: Sequence[bytes]) -> list[Any]:
        # Off the hot path: check and decode again, one frame at a time, to say which fails.
        limit = self.max_frame_size
        values = []
        for index, frame in enumerate(frames):
            if len(frame) > limit:
                raise DecodeError(
                    f"{len(frame)} bytes is over the frame size limit of {limit}",
                    frame=index,
                    serializer=self.name,
                )
            try:
                values.append(self.loads(frame))
            except DecodeError as exc:
                raise DecodeError(exc.reason, frame=index, serializer=self.name) from exc
            except Exception as exc:
                raise DecodeError(
                    f"{type(exc).__name__}: {exc}", frame=index, serializer=self.name
                ) from exc
        return values

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
