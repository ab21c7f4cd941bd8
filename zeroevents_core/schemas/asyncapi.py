"""An AsyncAPI 3.0.0 document from a contract folder: one channel per event name or pattern."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from ..errors import SchemaError
from . import SchemaRegistry
from .folders import bundled

ASYNCAPI_VERSION = "3.0.0"
_DRAFT_NAMES = {
    "http://json-schema.org/draft-04/schema#": "draft-04",
    "http://json-schema.org/draft-06/schema#": "draft-06",
    "http://json-schema.org/draft-07/schema#": "draft-07",
    "https://json-schema.org/draft/2019-09/schema": "draft-2019-09",
    "https://json-schema.org/draft/2020-12/schema": "draft-2020-12",
}


def _key(name: str) -> str:
    """AsyncAPI component keys allow letters, digits, ``.``, ``-`` and ``_`` only."""
    return re.sub(r"[^\w.\-]", "_", name)


def _server(spec: str) -> tuple[str, dict[str, Any]]:
    name, sep, url = spec.partition("=")
    parts = urlsplit(url)
    if not sep or not name or not parts.scheme:
        raise SchemaError(f"server {spec!r}: write it as name=url, e.g. local=tcp://127.0.0.1:5556")
    server: dict[str, Any] = {"host": parts.netloc or parts.path, "protocol": parts.scheme}
    if parts.netloc and parts.path:
        server["pathname"] = parts.path
    server["x-zeroevents-endpoint"] = url
    return _key(name), server


def export_asyncapi(
    folder: str | os.PathLike[str] | SchemaRegistry,
    *,
    title: str = "zeroevents contracts",
    version: str = "1.0.0",
    servers: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of ``folder``: for each contract a channel whose
    address is the event name (or pattern), its message with the contract (``$ref``s
    inlined) as payload, and a send and a receive operation."""
    registry = (
        folder
        if isinstance(folder, SchemaRegistry)
        else SchemaRegistry.from_folder(folder, engine="jsonschema")
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for pattern in registry.patterns():
        contract = registry.contract(pattern)
        key = _key(pattern)
        draft = _DRAFT_NAMES.get(contract.draft, "draft-2020-12")
        messages[key] = {
            "name": pattern,
            "payload": {
                "schemaFormat": f"application/schema+json;version={draft}",
                "schema": bundled(registry, pattern),
            },
            "x-zeroevents-payload": contract.mode,
        }
        channels[key] = {
            "address": pattern,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        for action in ("send", "receive"):
            operations[f"{action}.{key}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{key}"},
                "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            }
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version},
    }
    if servers:
        document["servers"] = dict(_server(spec) for spec in servers)
    document.update(channels=channels, operations=operations, components={"messages": messages})
    return document
