"""Event contracts: JSON Schemas per event name or pattern, checked on send and on receive.

A :class:`SchemaRegistry` maps event names or patterns (matched by the same matcher
plugins as the dispatcher, ``glob`` by default) to JSON Schemas, and answers two
questions for the enforcement points:

- ``check(event, payload)`` raises :class:`SchemaValidationError` listing every
  failure (used on send: nothing is sent);
- ``errors(event, payload)`` returns the failures, empty when the event is valid
  (used on receive: the event is not fired).

``payload`` is always the list (or tuple) of positional arguments of the event.

Payload mapping
    A schema describes argument 0, and the event must have exactly one argument:
    the common case, an object, is written as a plain object schema. A schema
    holding ``"x-zeroevents-payload": "arguments"`` describes the whole argument
    list as a JSON array instead (``prefixItems`` per argument; ``{"maxItems": 0}``
    for an event without arguments). JSON paths of failures always address the
    argument list: ``$[0].items[1].sku`` is the ``sku`` of the second item of
    argument 0, in both modes.

Several schemas for one name
    Every schema whose pattern matches the name applies, and all must pass; the
    failures of each are listed with its own file. A broad ``orders.*`` contract (a
    common envelope) therefore cannot be switched off by adding a narrower one.

Strict mode
    With ``strict=True`` an event that no schema matches is itself a failure.

Engines
    ``jsonschema`` is the reference: it checks every schema file against its
    meta-schema at load, resolves ``$ref`` through ``referencing`` and produces the
    failure list. ``jsonschema-rs`` gives the verdict on the hot path (about a
    hundred times faster); the reference runs only to explain an invalid event.
    A schema ``jsonschema-rs`` cannot compile uses the reference for its verdict
    too, with a warning in the log; :meth:`SchemaRegistry.engines` says which
    engine each schema uses. ``format`` is asserted by both engines, each
    with its own checks (jsonschema's FormatChecker with the ``format-nongpl``
    extras; jsonschema-rs's built-in ones); they differ on edge cases listed in
    docs/contracts.md, where the fast engine's verdict stands and its own errors
    are listed.

References
    Every file a schema may reference is read at load time: the files of the
    contract folder (and its subfolders) by relative file name or by ``$id``. Remote
    references (``http:``, ``https:``, anything not loaded) are never fetched: they
    are a :class:`SchemaError` naming the file and the reference, at load time.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

from ..config import config_path, load_config
from ..dispatcher import CACHE_NAME_LENGTH
from ..errors import (
    ConfigurationError,
    MissingDependencyError,
    SchemaError,
    SchemaValidationError,
)
from ..plugins import get_matcher

try:  # the "contracts" extra: most users of the core never load it
    import jsonschema  # type: ignore[import-untyped]
    import jsonschema.validators  # type: ignore[import-untyped]
    import referencing
    import referencing.exceptions
    import referencing.jsonschema
    from jsonschema.protocols import (  # type: ignore[import-untyped]
        Validator as ReferenceValidator,
    )
except ImportError as missing:
    raise MissingDependencyError("event contracts", "contracts", missing) from None

from .reference import safe_validator_class  # needs jsonschema: after the check above

try:  # in the extra too; without a wheel for the platform, the reference does it all
    import jsonschema_rs
except ImportError:  # pragma: no cover - depends on the platform
    jsonschema_rs = None  # type: ignore[assignment]

__all__ = [
    "CONFIG_PREFIX",
    "ENGINE_FAST",
    "ENGINE_REFERENCE",
    "PAYLOAD_ARGUMENT",
    "PAYLOAD_ARGUMENTS",
    "PAYLOAD_KEYWORD",
    "Contract",
    "SchemaFailure",
    "SchemaRegistry",
    "resolve_schemas",
]

log = logging.getLogger(__name__)

PAYLOAD_KEYWORD = "x-zeroevents-payload"
PAYLOAD_ARGUMENT: Final = "argument"
PAYLOAD_ARGUMENTS: Final = "arguments"
PayloadMode = Literal["argument", "arguments"]

ENGINE_FAST: Final = "jsonschema-rs"
ENGINE_REFERENCE: Final = "jsonschema"
Engine = Literal["jsonschema-rs", "jsonschema"]

CONFIG_PREFIX = "config:"
DEFAULT_CONFIG_TABLE = "schemas"

# Distinct event names whose applicable schemas are cached (as in the dispatcher).
CACHE_SIZE = 4096

_DRAFTS: tuple[type[ReferenceValidator], ...] = (
    jsonschema.Draft4Validator,
    jsonschema.Draft6Validator,
    jsonschema.Draft7Validator,
    jsonschema.Draft201909Validator,
    jsonschema.Draft202012Validator,
)
DEFAULT_DRAFT: type[ReferenceValidator] = jsonschema.Draft202012Validator


def _dialect_id(cls: type[ReferenceValidator]) -> str:
    meta = cls.META_SCHEMA
    return str(meta.get("$id", meta.get("id"))).rstrip("#")


_DIALECTS = {_dialect_id(cls): cls for cls in _DRAFTS}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class SchemaFailure(NamedTuple):
    """One reason an event breaks its contract."""

    json_path: str
    """Where, in the argument list: ``$`` is the list, ``$[0]`` argument 0."""
    message: str
    schema_file: str | None
    """The file of the schema that failed (None for a schema added from code)."""


def json_path(parts: Iterable[Any]) -> str:
    """``["items", 0, "sku"]`` -> ``$.items[0].sku`` (RFC 9535 normalized-ish).

    Parts come from remote payloads, so any key a serializer makes (bytes, tuple,
    bool) is written as its ``repr`` in brackets rather than raising."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str):
            if _IDENTIFIER.match(part):
                out.append(f".{part}")
            else:
                out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
        else:
            out.append(f"[{part!r}]")
    return "".join(out)


def _plain(value: Any) -> Any:
    """``value`` with every tuple turned into a list: jsonschema takes only lists for
    arrays (jsonschema-rs takes both), and payloads are tuples until serialized."""
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _foreign_key(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first map key that is not a string (msgpack and cbor make
    bytes, int and tuple keys), None when there is none: contracts describe JSON
    objects, and the reference engine raises on such keys instead of judging them."""
    stack = [(value, path)]
    while stack:  # no recursion: the depth comes from the peer
        item, where = stack.pop()
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return (*where, key)
                stack.append((inner, (*where, key)))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, (*where, index)) for index, inner in enumerate(item))
    return None


@dataclass(eq=False)
class Contract:
    """One schema bound to one name or pattern, compiled for both engines."""

    pattern: str
    schema: Mapping[str, Any] | bool
    source: str | None
    """The schema's file, as the failures and the log name it."""
    uri: str
    """Its base URI, against which its relative ``$ref`` resolve."""
    mode: PayloadMode
    draft: str
    """The dialect's meta-schema URI (``$schema``, or draft 2020-12 when absent)."""
    reference: ReferenceValidator = field(repr=False)
    fast: Any = field(repr=False, default=None)
    fallback_reason: str | None = None
    """Why the reference gives the verdict (None when the fast engine does)."""

    def __post_init__(self) -> None:
        fast_valid = self.fast.is_valid if self.fast is not None else None
        is_valid = self.reference.is_valid

        def reference_valid(instance: Any) -> bool:
            if _foreign_key(instance) is not None:
                return False
            try:
                return bool(is_valid(_plain(instance)))
            except Exception:  # a value no JSON Schema describes (a signalling NaN...)
                return False

        if fast_valid is None:
            verdict = reference_valid
        else:

            def verdict(instance: Any) -> bool:
                try:
                    return bool(fast_valid(instance))
                except Exception:  # a value jsonschema-rs cannot take (bytes, int keys...)
                    return bool(reference_valid(instance))

        self._verdict: Callable[[Any], bool] = verdict
        self._disagreement_logged = False

    @property
    def engine(self) -> Engine:
        """The engine giving the verdict: ``"jsonschema-rs"`` or ``"jsonschema"``."""
        return ENGINE_FAST if self.fast is not None else ENGINE_REFERENCE

    def is_valid(self, payload: Sequence[Any]) -> bool:
        """The verdict on a positional payload (the hot path)."""
        if self.mode == PAYLOAD_ARGUMENT:
            return len(payload) == 1 and self._verdict(payload[0])
        return self._verdict(payload)

    def verdict(self, instance: Any, engine: Engine) -> bool:
        """One engine's verdict on ``instance`` (what the schema itself describes),
        for the differential tests and the CLI."""
        if engine == ENGINE_REFERENCE:
            return bool(self.reference.is_valid(_plain(instance)))
        if self.fast is None:
            raise ConfigurationError(
                f"schema {self.pattern!r} ({self.source}) has no {ENGINE_FAST} validator: "
                f"{self.fallback_reason}"
            )
        return bool(self.fast.is_valid(instance))

    def failures(self, payload: Sequence[Any]) -> list[SchemaFailure]:
        """Every failure of the payload against this schema (empty when valid).

        Never raises: the payload comes from a peer, and whatever the reference
        engine cannot weigh in it is itself reported as the failure."""
        try:
            return self._failures(payload)
        except Exception as exc:
            message = f"the payload cannot be checked: {type(exc).__name__}: {exc}"
            return [SchemaFailure("$", _short(message), self.source)]

    def _failures(self, payload: Sequence[Any]) -> list[SchemaFailure]:
        if self.mode == PAYLOAD_ARGUMENT:
            if len(payload) != 1:
                return [
                    SchemaFailure(
                        "$",
                        f"expected exactly 1 argument, got {len(payload)} (the schema "
                        f"describes argument 0; declare {PAYLOAD_KEYWORD!r}: "
                        f"{PAYLOAD_ARGUMENTS!r} to describe the argument list)",
                        self.source,
                    )
                ]
            instance, prefix = payload[0], [0]
        else:
            instance, prefix = list(payload), []
        foreign = _foreign_key(instance)
        if foreign is not None:
            where = json_path([*prefix, *foreign[:-1]])
            message = f"map key {foreign[-1]!r} is not a string (contracts describe JSON)"
            return [SchemaFailure(where, _short(message), self.source)]
        errors = sorted(
            self.reference.iter_errors(_plain(instance)),
            key=lambda e: ([repr(p) for p in e.absolute_path], str(e.message)),
        )
        failures = [
            SchemaFailure(
                json_path([*prefix, *error.absolute_path]), _short(error.message), self.source
            )
            for error in errors
        ]
        if not failures and self.fast is not None and not self.is_valid(payload):
            # jsonschema-rs rejects what the reference accepts (the known cases are in
            # docs/contracts.md: mostly formats, which jsonschema-rs reads closer to
            # their RFCs). Its verdict stands; its own errors say where.
            if not self._disagreement_logged:
                self._disagreement_logged = True
                log.warning(
                    "engines disagree on schema %r (%s): %s rejects a value %s accepts",
                    self.pattern,
                    self.source,
                    ENGINE_FAST,
                    ENGINE_REFERENCE,
                )
            failures = [
                SchemaFailure(
                    json_path([*prefix, *error.instance_path]),
                    _short(error.message) + f" ({ENGINE_FAST}; {ENGINE_REFERENCE} accepts it)",
                    self.source,
                )
                for error in self.fast.iter_errors(instance)
            ]
        return failures


def _short(message: str, limit: int = 300) -> str:
    """A message cut to ``limit`` characters (some quote the whole value)."""
    return message if len(message) <= limit else message[: limit - 1] + "…"


@dataclass
class _Document:
    uri: str
    contents: Any
    source: str
    draft: type[ReferenceValidator]


def _refuse(uri: str) -> referencing.Resource[Any]:
    raise LookupError(f"{uri} is not loaded and is never fetched")


def _file_uri(path: Path) -> str:
    return path.absolute().as_uri()


def _uri_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(url2pathname(unquote(parts.path)))


def _iter_refs(resource: referencing.Resource[Any], base: str) -> Iterator[tuple[str, str, str]]:
    """``(base URI, keyword, reference)`` for each reference in a schema document."""
    identifier = resource.id()
    if identifier is not None:
        base = urljoin(base, identifier)
    contents = resource.contents
    if isinstance(contents, dict):
        for keyword in ("$ref", "$dynamicRef", "$recursiveRef"):
            value = contents.get(keyword)
            if isinstance(value, str):
                yield base, keyword, value
    for sub in resource.subresources():
        yield from _iter_refs(sub, base)


def _read_json(path: Path, source: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"schema file {source} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"schema file {source} cannot be read: {exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(
            f"schema file {source} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc


def _dialect_of(contents: Any, source: str) -> type[ReferenceValidator]:
    if isinstance(contents, bool):
        return DEFAULT_DRAFT
    if not isinstance(contents, dict):
        raise SchemaError(
            f"schema {source} must be a JSON object or a boolean, not {type(contents).__name__}"
        )
    declared = contents.get("$schema")
    if declared is None:
        return DEFAULT_DRAFT
    draft = _DIALECTS.get(declared.rstrip("#")) if isinstance(declared, str) else None
    if draft is None:
        known = ", ".join(sorted(_DIALECTS))
        raise SchemaError(
            f"schema {source} declares an unknown $schema {declared!r}; known: {known}"
        )
    return draft


_FAST_META: dict[type[ReferenceValidator], Any] = {}


def _fast_meta_valid(draft: type[ReferenceValidator], contents: Any) -> bool:
    """jsonschema-rs's verdict against the draft's meta-schema, formats checked.

    It is a hundred times faster than the pure-Python check, and checks at least as
    much (every format, where jsonschema checks only those whose optional packages
    are installed), so a schema it accepts skips the Python check; one it refuses
    is checked again in Python, whose messages and verdict stand.
    """
    if jsonschema_rs is None:  # pragma: no cover - depends on the platform
        return False
    meta = _FAST_META.get(draft)
    if meta is None:
        meta = _FAST_META[draft] = jsonschema_rs.validator_for(
            draft.META_SCHEMA, validate_formats=True
        )
    return bool(meta.is_valid(contents))


def _check_meta(contents: Any, source: str) -> type[ReferenceValidator]:
    """The schema's draft, once the schema is known to be valid against its meta-schema."""
    draft = _dialect_of(contents, source)
    if _fast_meta_valid(draft, contents):
        return _check_payload_keyword(contents, source, draft)
    meta = draft(draft.META_SCHEMA, format_checker=draft.FORMAT_CHECKER)
    problems = sorted(meta.iter_errors(contents), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        detail = "; ".join(f"at {json_path(e.absolute_path)}: {e.message}" for e in problems[:10])
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise SchemaError(
            f"schema {source} is not a valid {_dialect_id(draft)} schema: {detail}{more}"
        )
    return _check_payload_keyword(contents, source, draft)


def _check_payload_keyword(
    contents: Any, source: str, draft: type[ReferenceValidator]
) -> type[ReferenceValidator]:
    if isinstance(contents, dict) and PAYLOAD_KEYWORD in contents:
        mode = contents[PAYLOAD_KEYWORD]
        if mode not in (PAYLOAD_ARGUMENT, PAYLOAD_ARGUMENTS):
            raise SchemaError(
                f"schema {source}: {PAYLOAD_KEYWORD!r} must be {PAYLOAD_ARGUMENT!r} (the "
                f"default: the schema describes argument 0) or {PAYLOAD_ARGUMENTS!r} (it "
                f"describes the argument list), not {mode!r}"
            )
    return draft


class SchemaRegistry:
    """Event names or patterns mapped to JSON Schemas; see the module's documentation.

    ``strict``: an event no schema matches is a failure. ``matcher``: the matcher
    plugin reading the patterns (``glob``: ``orders.*`` matches ``orders.created``
    and ``orders.created.v2``). ``engine``: ``"auto"`` (jsonschema-rs where it can,
    the reference elsewhere) or ``"jsonschema"`` (the reference everywhere).
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        matcher: str = "glob",
        engine: Literal["auto", "jsonschema"] = "auto",
    ) -> None:
        if engine not in ("auto", ENGINE_REFERENCE):
            raise ConfigurationError(
                f"unknown schema engine {engine!r}; expected 'auto' or {ENGINE_REFERENCE!r}"
            )
        self.strict = strict
        self.matcher_name = matcher
        self.engine_choice = engine
        self._matcher = get_matcher(matcher)
        self._contracts: dict[str, Contract] = {}
        self._cache: dict[str, tuple[Contract, ...]] = {}
        self._documents: dict[str, _Document] = {}
        self._registry: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)  # type: ignore[call-arg]
        self._fast_registry: Any = None
        self._lock = threading.RLock()
        self._anonymous = 0

    # -- loading -------------------------------------------------------------------

    @classmethod
    def from_folder(
        cls,
        path: str | os.PathLike[str],
        *,
        strict: bool = False,
        matcher: str = "glob",
        engine: Literal["auto", "jsonschema"] = "auto",
    ) -> SchemaRegistry:
        """A registry of the contract folder ``path``.

        Each ``NAME.json`` at the top of the folder is the contract of the event name
        or pattern ``NAME``; files in subfolders are shared definitions, reachable by
        ``$ref`` (relative file name or ``$id``) but bound to no event. Hidden files
        and files other than ``.json`` are ignored, except ``.yaml``/``.yml``, which
        are an error (not supported: see docs/contracts.md).
        """
        registry = cls(strict=strict, matcher=matcher, engine=engine)
        folder = Path(path)
        if not folder.is_dir():
            raise SchemaError(f"contract folder {folder} does not exist or is not a folder")
        files: list[Path] = []
        for file in sorted(folder.rglob("*")):
            relative = file.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts) or not file.is_file():
                continue
            suffix = file.suffix.lower()
            if suffix in (".yaml", ".yml"):
                raise SchemaError(
                    f"schema file {file}: YAML contracts are not supported; write it as JSON "
                    f"({file.with_suffix('.json').name})"
                )
            if suffix == ".json":
                files.append(file)
        events: dict[str, Path] = {}
        for file in files:
            if file.parent == folder:
                name = file.name[: -len(".json")]
                if not name:
                    raise SchemaError(f"schema file {file}: the file name gives no event name")
                events[name] = file
        registry._load(files, roots=[folder], events=events)
        return registry

    @classmethod
    def from_files(
        cls,
        files: Mapping[str, str | os.PathLike[str]],
        *,
        base_dir: str | os.PathLike[str] | None = None,
        strict: bool = False,
        matcher: str = "glob",
        engine: Literal["auto", "jsonschema"] = "auto",
    ) -> SchemaRegistry:
        """A registry from ``{pattern: schema file}``, paths relative to ``base_dir``
        (the working directory by default). A ``$ref`` may name any ``.json`` file
        under ``base_dir``; it is read at load time."""
        registry = cls(strict=strict, matcher=matcher, engine=engine)
        base = Path(base_dir) if base_dir is not None else Path()
        events: dict[str, Path] = {}
        for pattern, file in files.items():
            if not isinstance(file, (str, os.PathLike)):
                raise SchemaError(
                    f"schema of {pattern!r} must be a file path, not {type(file).__name__}"
                )
            events[pattern] = base / file
        registry._load(list(events.values()), roots=[base], events=events)
        return registry

    @classmethod
    def from_config(
        cls,
        table: str = DEFAULT_CONFIG_TABLE,
        *,
        path: str | os.PathLike[str] | None = None,
        strict: bool = False,
        matcher: str = "glob",
        engine: Literal["auto", "jsonschema"] = "auto",
    ) -> SchemaRegistry:
        """A registry from a table of the configuration file (``zeroevents.toml``, or
        ``path``, or ``$ZEROEVENTS_CONFIG``): ``"orders.*" = "contracts/orders.json"``,
        paths relative to the file's folder. ``table`` is a dotted key: ``schemas``
        (the default) or e.g. ``schemas.billing`` for ``[schemas.billing]``. String
        entries are contracts; sub-tables (other named sets) are skipped."""
        file = Path(path).absolute() if path is not None else config_path()
        node: Any = load_config(path)
        for key in table.split("."):
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            exists = "" if file.exists() else " (the file does not exist)"
            raise SchemaError(f"no table [{table}] in configuration file {file}{exists}")
        files: dict[str, str] = {}
        for pattern, value in node.items():
            if isinstance(value, dict):
                continue
            if not isinstance(value, str):
                raise SchemaError(
                    f"[{table}] {pattern!r} in {file} must be a schema file path, "
                    f"not {type(value).__name__}"
                )
            files[pattern] = value
        return cls.from_files(
            files, base_dir=file.parent, strict=strict, matcher=matcher, engine=engine
        )

    def _read_document(self, path: Path) -> _Document:
        uri = _file_uri(path)
        contents = _read_json(path, str(path))
        draft = _check_meta(contents, str(path))
        return _Document(uri, contents, str(path), draft)

    def _load(self, files: list[Path], roots: list[Path], events: Mapping[str, Path]) -> None:
        with self._lock:
            pending = [self._read_document(file) for file in files]
            loaded: list[_Document] = []
            allowed = [root.resolve() for root in roots]
            while pending:
                for document in pending:
                    self._documents[document.uri] = document
                loaded.extend(pending)
                self._rebuild_registry()
                pending = []
                seen: set[str] = set()
                for document in loaded:
                    for target in self._local_targets(document, allowed):
                        if target not in seen:
                            seen.add(target)
                            path = _uri_path(target)
                            assert path is not None
                            pending.append(self._read_document(path))
            for document in loaded:
                self._check_refs(document)
            for pattern, file in events.items():
                document = self._documents[_file_uri(file)]
                self._bind(pattern, document, document.source)

    def _local_targets(self, document: _Document, roots: list[Path]) -> Iterator[str]:
        """Files not yet loaded that ``document`` references and may be read."""
        for base, _, ref in self._refs(document):
            target = urldefrag(urljoin(base, ref)).url
            if target in self._registry:
                continue
            path = _uri_path(target)
            if path is None or path.suffix.lower() != ".json" or not path.is_file():
                continue
            real = path.resolve()
            if any(real.is_relative_to(root) for root in roots):
                yield _file_uri(path)

    def _refs(self, document: _Document) -> Iterator[tuple[str, str, str]]:
        resource = self._resource(document)
        return _iter_refs(resource, document.uri)

    @staticmethod
    def _resource(document: _Document) -> referencing.Resource[Any]:
        return referencing.Resource.from_contents(
            document.contents, default_specification=referencing.jsonschema.DRAFT202012
        )

    def _rebuild_registry(self) -> None:
        resources = [(d.uri, self._resource(d)) for d in self._documents.values()]
        empty: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)  # type: ignore[call-arg]
        self._registry = empty.with_resources(resources).crawl()
        self._fast_registry = None

    def _check_refs(self, document: _Document) -> None:
        for base, keyword, ref in self._refs(document):
            target = urljoin(base, ref)
            try:
                self._registry.resolver(base).lookup(ref)
            except referencing.exceptions.Unresolvable as exc:
                raise SchemaError(self._unresolvable(document, keyword, ref, target, exc)) from None

    def _unresolvable(
        self, document: _Document, keyword: str, ref: str, target: str, exc: Exception
    ) -> str:
        where = f"schema {document.source}: {keyword} {ref!r}"
        scheme = urlsplit(target).scheme
        doc = urldefrag(target).url
        if doc in self._registry:
            return f"{where} does not resolve: {exc}"
        path = _uri_path(doc)
        if path is not None:
            if not path.exists():
                return f"{where} names {path}, which does not exist"
            return (
                f"{where} names {path}, which is outside the contract folder "
                "(or not a .json file); only files of the contract folder are read"
            )
        if scheme in ("http", "https", "ftp", "ftps"):
            return (
                f"{where} is a remote reference ({doc}): remote references are never "
                "fetched; copy that schema into the contract folder, with that $id"
            )
        return (
            f"{where}: {doc} is not the $id of any loaded schema, and references are never fetched"
        )

    # -- binding ---------------------------------------------------------------------

    def add(
        self,
        pattern: str,
        schema: Mapping[str, Any] | bool,
        *,
        source: str | os.PathLike[str] | None = None,
    ) -> Contract:
        """Bind ``schema`` (a dict or a boolean) to the name or pattern ``pattern``,
        replacing its schema if it had one. ``source`` names it in failures, and its
        relative ``$ref`` resolve next to that path among the schemas already loaded."""
        if isinstance(schema, Mapping):
            schema = dict(schema)
        with self._lock:
            if source is not None:
                uri = _file_uri(Path(source))
                label: str | None = str(source)
            else:
                self._anonymous += 1
                uri = f"urn:zeroevents:schema:{self._anonymous}"
                label = None
            name = label or f"added for {pattern!r}"
            draft = _check_meta(schema, name)
            document = _Document(uri, schema, name, draft)
            previous = self._documents.get(uri)
            self._documents[uri] = document
            try:
                self._rebuild_registry()
                self._check_refs(document)
            except SchemaError:
                if previous is None:
                    del self._documents[uri]
                else:
                    self._documents[uri] = previous
                self._rebuild_registry()
                raise
            contract = self._bind(pattern, document, label)
        return contract

    def remove(self, pattern: str) -> None:
        """Unbind the schema of exactly ``pattern`` (harmless when there is none)."""
        with self._lock:
            if self._contracts.pop(pattern, None) is not None:
                self._matcher.remove(pattern)
                self._cache = {}

    def _bind(self, pattern: str, document: _Document, source: str | None) -> Contract:
        contents = document.contents
        mode: PayloadMode = PAYLOAD_ARGUMENT
        if isinstance(contents, dict) and contents.get(PAYLOAD_KEYWORD) == PAYLOAD_ARGUMENTS:
            mode = PAYLOAD_ARGUMENTS
        safe_draft = safe_validator_class(document.draft)
        reference = safe_draft(
            {"$ref": document.uri},
            registry=self._registry,
            format_checker=safe_draft.FORMAT_CHECKER,
        )
        fast, reason = self._compile_fast(document)
        if fast is None:
            chosen = self.engine_choice == ENGINE_REFERENCE
            log.log(
                logging.INFO if chosen else logging.WARNING,
                "schema %r (%s) uses the reference engine %s: %s",
                pattern,
                source or "added from code",
                ENGINE_REFERENCE,
                reason,
            )
        contract = Contract(
            pattern=pattern,
            schema=contents,
            source=source,
            uri=document.uri,
            mode=mode,
            draft=_dialect_id(document.draft),
            reference=reference,
            fast=fast,
            fallback_reason=reason,
        )
        if pattern not in self._contracts:
            self._matcher.add(pattern)
        self._contracts[pattern] = contract
        self._cache = {}
        return contract

    def _compile_fast(self, document: _Document) -> tuple[Any, str | None]:
        if self.engine_choice == ENGINE_REFERENCE:
            return None, f"engine {ENGINE_REFERENCE!r} was chosen"
        if jsonschema_rs is None:  # pragma: no cover - depends on the platform
            return None, f"{ENGINE_FAST} is not installed"
        try:
            if self._fast_registry is None:
                self._fast_registry = jsonschema_rs.Registry(
                    [(d.uri, d.contents) for d in self._documents.values()]
                )
            validator = jsonschema_rs.validator_for(
                document.contents,
                registry=self._fast_registry,
                base_uri=document.uri,
                validate_formats=True,
                offline=True,
            )
        except Exception as exc:  # anything it cannot take: the reference takes over
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return None, f"{ENGINE_FAST} cannot compile it: {type(exc).__name__}: {first_line}"
        return validator, None

    # -- lookup ------------------------------------------------------------------------

    def contracts(self, event: str) -> tuple[Contract, ...]:
        """The schemas that apply to ``event``: exact name first, then patterns from
        the longest (most specific) to the shortest, ties by name."""
        found = self._cache.get(event)
        if found is None:
            with self._lock:
                is_wildcard = self._matcher.is_wildcard
                found = tuple(
                    self._contracts[p]
                    for p in sorted(
                        self._matcher.match(event),
                        key=lambda p: (is_wildcard(p), -len(p), p),
                    )
                )
                if len(event) <= CACHE_NAME_LENGTH:  # a bound in bytes too
                    if len(self._cache) >= CACHE_SIZE:
                        self._cache = {}
                    self._cache[event] = found
        return found

    def patterns(self) -> list[str]:
        """Every bound name or pattern, sorted."""
        return sorted(self._contracts)

    def contract(self, pattern: str) -> Contract:
        """The schema bound to exactly ``pattern``."""
        try:
            return self._contracts[pattern]
        except KeyError:
            raise ConfigurationError(
                f"no schema is bound to {pattern!r}; bound: {', '.join(self.patterns()) or 'none'}"
            ) from None

    def engines(self) -> dict[str, Engine]:
        """The engine giving the verdict for each bound pattern (for ``schema check``)."""
        return {p: self._contracts[p].engine for p in self.patterns()}

    def __len__(self) -> int:
        return len(self._contracts)

    def __contains__(self, pattern: object) -> bool:
        return pattern in self._contracts

    def __repr__(self) -> str:
        return (
            f"<SchemaRegistry {len(self)} schemas, matcher={self.matcher_name!r}, "
            f"strict={self.strict}>"
        )

    # -- enforcement -------------------------------------------------------------------

    def is_valid(self, event: str, payload: Sequence[Any]) -> bool:
        """Whether ``event`` with ``payload`` (its positional arguments) keeps its contract."""
        contracts = self._cache.get(event) or self.contracts(event)
        if not contracts:
            return not self.strict
        return all(contract.is_valid(payload) for contract in contracts)

    def check(self, event: str, payload: Sequence[Any]) -> None:
        """Raise :class:`SchemaValidationError` with every failure unless the event keeps
        its contract (the enforcement point on send)."""
        if not isinstance(payload, (list, tuple)):
            raise ConfigurationError(_payload_type_message(payload))
        if self.is_valid(event, payload):
            return
        failures: list[tuple[str, str, str | None]] = [*self.errors(event, payload)]
        raise SchemaValidationError(event, failures)

    def errors(self, event: str, payload: Sequence[Any]) -> list[SchemaFailure]:
        """Every failure of ``event`` with ``payload``; empty when it keeps its contract
        (the enforcement point on receive)."""
        if not isinstance(payload, (list, tuple)):
            raise ConfigurationError(_payload_type_message(payload))
        contracts = self._cache.get(event) or self.contracts(event)
        if not contracts:
            if self.strict:
                return [
                    SchemaFailure(
                        "$", f"no schema for event {event!r} and the contracts are strict", None
                    )
                ]
            return []
        failures: list[SchemaFailure] = []
        for contract in contracts:
            if not contract.is_valid(payload):
                failures.extend(contract.failures(payload))
        return failures


def _payload_type_message(payload: object) -> str:
    return (
        "payload must be the list (or tuple) of the event's positional arguments, "
        f"not {type(payload).__name__}"
    )


def resolve_schemas(
    spec: SchemaRegistry | str | os.PathLike[str] | None,
    *,
    strict: bool = False,
    matcher: str = "glob",
    config: str | os.PathLike[str] | None = None,
) -> SchemaRegistry | None:
    """The registry named by the ``schemas`` option of a listener or a service.

    - ``None``: no contracts (None);
    - a :class:`SchemaRegistry`: itself (its own ``strict`` and matcher stand);
    - ``"config:"`` followed by a dotted key: that table of the configuration file
      (``config`` or the file in force), e.g. ``"config:schemas"`` for ``[schemas]``
      or ``"config:schemas.billing"``; ``"config:"`` alone means ``[schemas]``;
    - any other string or path: a contract folder.
    """
    if spec is None or isinstance(spec, SchemaRegistry):
        return spec
    if isinstance(spec, str) and spec.startswith(CONFIG_PREFIX):
        table = spec[len(CONFIG_PREFIX) :] or DEFAULT_CONFIG_TABLE
        return SchemaRegistry.from_config(table, path=config, strict=strict, matcher=matcher)
    if isinstance(spec, (str, os.PathLike)):
        return SchemaRegistry.from_folder(spec, strict=strict, matcher=matcher)
    raise ConfigurationError(
        "option 'schemas' must be a contract folder, a SchemaRegistry, "
        f"'{CONFIG_PREFIX}<table>' or None, not {type(spec).__name__}"
    )


# Compatibility checks and the AsyncAPI export; last, since their modules read
# SchemaRegistry from this module.
from .asyncapi import export_asyncapi as export_asyncapi  # noqa: E402
from .compat import CompatibilityReport as CompatibilityReport  # noqa: E402
from .compat import Difference as Difference  # noqa: E402
from .compat import check_compatibility as check_compatibility  # noqa: E402
from .folders import FolderReport as FolderReport  # noqa: E402
from .folders import compare_folders as compare_folders  # noqa: E402
