"""The ``json`` serializer: the default, byte-identical with the PHP original.

PHP writes ``json_encode($v, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)``:
no spaces, slashes and non-ASCII as they are. ``json.dumps`` with these
settings writes the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from ..hookspecs import hookimpl
from . import Serializer


class JsonSerializer(Serializer):
    name = "json"
    content_type = "application/json"

    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def dumps(self, value: Any) -> bytes:
        return self._encoder.encode(value).encode()

    def loads(self, frame: bytes) -> Any:
        return json.loads(frame)


@hookimpl
def register_serializers(register: Any) -> None:
    register(JsonSerializer)
