"""The plugin system: built-ins through hooks, real entry points, clashes, broken plugins.

Cases that need other distributions installed (a clash, a broken plugin) build
real ``*.dist-info`` folders in a temporary directory and run a fresh interpreter
with that directory on ``PYTHONPATH``: the entry points are found by
``importlib.metadata`` exactly as for an installed package, and the venv stays clean.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import zeroevents_core
from zeroevents_core import (
    ConfigurationError,
    Dispatcher,
    PluginConflictError,
    PluginLoadError,
    Serializer,
    UnknownPluginError,
    ZeroEventsError,
    get_matcher,
    get_serializer,
    get_transport,
    hookimpl,
    list_plugins,
    plugin_errors,
)
from zeroevents_core.plugins import DEFAULT_PLUGINS

CORE = "zeroevents-core"
CORE_VERSION = importlib.metadata.version(CORE)
TESTPLUGIN = "zeroevents-testplugin"


def registered(kind: str) -> dict[str, zeroevents_core.PluginInfo]:
    return {info.name: info for info in list_plugins() if info.kind == kind}


# --- built-ins and the installed test plugin (in this process) -----------------------


@pytest.mark.parametrize(
    ("kind", "name", "module"),
    [
        ("serializer", "json", "zeroevents_core.serializers.json"),
        ("serializer", "string", "zeroevents_core.serializers.string"),
        ("matcher", "glob", "zeroevents_core.matchers.glob"),
        ("matcher", "segments", "zeroevents_core.matchers.segments"),
    ],
)
def test_builtins_are_registered_through_hooks_by_the_core(
    kind: str, name: str, module: str
) -> None:
    info = registered(kind)[name]
    # Registered by the default plugin module itself, through the same hook as third parties.
    assert module in DEFAULT_PLUGINS
    assert info.plugin == module
    assert info.obj.__module__ == module
    assert info.name == name == info.obj.name
    assert (info.distribution, info.version) == (CORE, CORE_VERSION)
    assert info.provider == f"{CORE} {CORE_VERSION}"


def test_lookups_build_the_registered_classes() -> None:
    json_serializer = get_serializer("json", max_frame_size=10)
    assert type(json_serializer) is registered("serializer")["json"].obj
    assert json_serializer.max_frame_size == 10
    assert json_serializer.content_type == "application/json"
    # get_matcher makes a new, empty matcher each time: dispatchers must not share one.
    first, second = get_matcher("glob"), get_matcher("glob")
    assert first is not second
    first.add("a.*")
    assert first.match("a.b") == ["a.*"]
    assert second.match("a.b") == []


def test_test_plugin_is_found_through_its_installed_entry_point() -> None:
    entry_points = importlib.metadata.entry_points(group="zeroevents")
    ours = [ep for ep in entry_points if ep.dist is not None and ep.dist.name == TESTPLUGIN]
    assert [(ep.name, ep.value) for ep in ours] == [("testplugin", "zeroevents_testplugin")]

    serializers, matchers = registered("serializer"), registered("matcher")
    for info in (serializers["hexjson"], matchers["exact"]):
        assert info.distribution == TESTPLUGIN
        assert info.version == importlib.metadata.version(TESTPLUGIN)
        assert info.plugin == f"{TESTPLUGIN}:testplugin"
        assert info.obj.__module__ == "zeroevents_testplugin"


def test_test_plugin_serializer_and_matcher_work_once_looked_up() -> None:
    hexjson = get_serializer("hexjson")
    frames = hexjson.serialize([{"a": [1, None]}, "é"])
    assert frames == [b'{"a":[1,null]}'.hex().encode(), '"é"'.encode().hex().encode()]
    assert hexjson.unserialize(frames) == [{"a": [1, None]}, "é"]

    calls: list[str] = []
    dispatcher = Dispatcher("exact")
    dispatcher.listen("orders.*", lambda: calls.append("pattern taken literally"))
    dispatcher.fire("orders.created")
    assert calls == []
    dispatcher.fire("orders.*")
    assert calls == ["pattern taken literally"]


def test_installed_plugins_load_without_errors() -> None:
    assert plugin_errors() == []


@pytest.mark.parametrize(
    ("lookup", "kind"),
    [(get_serializer, "serializer"), (get_matcher, "matcher"), (get_transport, "transport")],
)
def test_unknown_name_lists_the_registered_names(lookup: Any, kind: str) -> None:
    names = sorted(registered(kind))
    with pytest.raises(UnknownPluginError) as caught:
        lookup("no-such-plugin")
    error = caught.value
    assert isinstance(error, ZeroEventsError)
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, LookupError)
    assert (error.kind, error.name, error.registered) == (kind, "no-such-plugin", names)
    message = str(error)
    assert f"unknown {kind} 'no-such-plugin'" in message
    for name in names:
        assert repr(name) in message


def test_unknown_matcher_of_a_dispatcher() -> None:
    with pytest.raises(UnknownPluginError, match=r"'glob'.*'segments'|'segments'.*'glob'"):
        Dispatcher(matcher="nope")


# --- run-time registration -------------------------------------------------------------


class Rot13Serializer(Serializer):
    name = "rot13"
    content_type = "text/plain"

    def dumps(self, value: Any) -> bytes:
        return value.translate(ROT13).encode()  # type: ignore[no-any-return]

    def loads(self, frame: bytes) -> Any:
        return frame.decode().translate(ROT13)


ROT13 = str.maketrans(
    "abcdefghijklmnopqrstuvwxyz", "nopqrstuvwxyzabcdefghijklm"
)  # enough for lower case


class RuntimePlugin:
    @hookimpl
    def register_serializers(self, register: Any) -> None:
        register(Rot13Serializer)


def test_register_and_unregister_at_run_time() -> None:
    plugin = RuntimePlugin()
    with pytest.raises(UnknownPluginError):
        get_serializer("rot13")
    zeroevents_core.register_plugin(plugin, name="rot13-plugin")
    try:
        serializer = get_serializer("rot13")
        assert serializer.serialize(["abc"]) == [b"nop"]
        assert serializer.unserialize([b"nop"]) == ["abc"]
        info = registered("serializer")["rot13"]
        assert info.plugin == "rot13-plugin"
        assert "run time" in info.distribution
        # The others are still there.
        assert {"json", "string", "hexjson"} <= set(registered("serializer"))
    finally:
        zeroevents_core.unregister_plugin(plugin)
    with pytest.raises(UnknownPluginError) as caught:
        get_serializer("rot13")
    assert "rot13" not in caught.value.registered


class ClashingSerializer(Rot13Serializer):
    name = "json"


class ClashingPlugin:
    @hookimpl
    def register_serializers(self, register: Any) -> None:
        register(ClashingSerializer)


def test_run_time_plugin_claiming_a_taken_name_is_a_conflict_naming_both() -> None:
    plugin = ClashingPlugin()
    zeroevents_core.register_plugin(plugin, name="json-thief")
    try:
        with pytest.raises(PluginConflictError) as caught:
            get_serializer("json")
        error = caught.value
        assert isinstance(error, ZeroEventsError)
        assert (error.kind, error.name) == ("serializer", "json")
        assert error.providers[0] == f"{CORE} {CORE_VERSION}"
        assert "json-thief" in error.providers[1]
        assert f"{CORE} {CORE_VERSION}" in str(error)
        assert "json-thief" in str(error)
        assert error in plugin_errors()
        # Only the clashing name is refused.
        assert get_serializer("string").name == "string"
    finally:
        zeroevents_core.unregister_plugin(plugin)
    assert type(get_serializer("json")).__name__ == "JsonSerializer"
    assert plugin_errors() == []


class NotASerializerPlugin:
    @hookimpl
    def register_serializers(self, register: Any) -> None:
        register(dict)
        register(Rot13Serializer)


def test_invalid_registration_is_reported_and_the_rest_registers() -> None:
    plugin = NotASerializerPlugin()
    zeroevents_core.register_plugin(plugin, name="half-broken")
    try:
        errors = plugin_errors()
        assert len(errors) == 1
        assert isinstance(errors[0], ConfigurationError)
        assert "half-broken" in str(errors[0])
        assert "Serializer" in str(errors[0])
        assert get_serializer("rot13").name == "rot13"
    finally:
        zeroevents_core.unregister_plugin(plugin)


class RaisingPlugin:
    @hookimpl
    def register_serializers(self, register: Any) -> None:
        raise RuntimeError("bug in the plugin")


def test_plugin_whose_hook_raises_is_reported_and_the_rest_registers() -> None:
    plugin = RaisingPlugin()
    zeroevents_core.register_plugin(plugin, name="raising-plugin")
    try:
        assert get_serializer("json").name == "json"
        errors = plugin_errors()
        assert len(errors) == 1
        assert isinstance(errors[0], ZeroEventsError)
        assert "raising-plugin" in str(errors[0])
        assert "bug in the plugin" in str(errors[0])
    finally:
        zeroevents_core.unregister_plugin(plugin)
    assert plugin_errors() == []


def test_registering_twice_and_unregistering_an_unknown_plugin_are_library_errors() -> None:
    plugin = RuntimePlugin()
    zeroevents_core.register_plugin(plugin, name="twice")
    try:
        with pytest.raises(ConfigurationError, match="twice"):
            zeroevents_core.register_plugin(plugin, name="twice")
        with pytest.raises(ConfigurationError, match="twice"):
            zeroevents_core.register_plugin(RuntimePlugin(), name="twice")
    finally:
        zeroevents_core.unregister_plugin(plugin)
    with pytest.raises(ConfigurationError, match="not registered"):
        zeroevents_core.unregister_plugin(plugin)


class MisspelledPlugin:
    @hookimpl
    def register_serializers(self, register: Any, extra: Any) -> None:
        raise AssertionError("never called")


def test_hook_with_unknown_arguments_is_refused_with_a_library_error() -> None:
    with pytest.raises(ConfigurationError, match="extra"):
        zeroevents_core.register_plugin(MisspelledPlugin(), name="misspelled")
    assert "misspelled" not in {info.plugin for info in list_plugins()}


# --- real entry points of temporary distributions, in a fresh interpreter -------------


def make_distribution(
    root: Path, name: str, version: str, entry_points: dict[str, str], modules: dict[str, str]
) -> None:
    """A distribution as pip would leave it: a dist-info folder and top-level modules."""
    dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
    (dist_info / "entry_points.txt").write_text(f"[zeroevents]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


REPORT = """
import json, sys
import zeroevents_core as z

lookups = {}
for kind, name in json.loads(sys.argv[1]):
    try:
        found = getattr(z, "get_" + kind)(name)
        if kind == "serializer":
            lookups[name] = ["ok", found.unserialize(found.serialize([{"k": [1]}]))]
        else:
            lookups[name] = ["ok", type(found).__name__]
    except z.ZeroEventsError as exc:
        lookups[name] = [type(exc).__name__, str(exc)]
errors = [
    {
        "type": type(e).__name__,
        "base": isinstance(e, z.ZeroEventsError),
        "message": str(e),
        "entry_point": getattr(e, "entry_point", None),
        "distribution": getattr(e, "distribution", None),
        "providers": list(getattr(e, "providers", ())),
    }
    for e in z.plugin_errors()
]
plugins = [[i.kind, i.name, i.distribution, i.version] for i in z.list_plugins()]
print(json.dumps({"lookups": lookups, "errors": errors, "plugins": plugins}))
"""


def run_python(root: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def report(root: Path, lookups: list[tuple[str, str]]) -> tuple[dict[str, Any], str]:
    done = run_python(root, REPORT, json.dumps(lookups))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


SERIALIZER_MODULE = """
from typing import Any
import json
from zeroevents_core import Serializer, hookimpl

class Named(Serializer):
    name = {name!r}
    content_type = "application/json"
    def dumps(self, value: Any) -> bytes:
        return json.dumps(value).encode()
    def loads(self, frame: bytes) -> Any:
        return json.loads(frame)

@hookimpl
def register_serializers(register: Any) -> None:
    register(Named)
"""


def test_two_distributions_claiming_one_name_is_an_error_naming_both(tmp_path: Path) -> None:
    make_distribution(
        tmp_path,
        "zeroevents-clash",
        "1.0",
        {"clash": "zeroevents_clash"},
        {"zeroevents_clash": SERIALIZER_MODULE.format(name="hexjson")},
    )
    out, _ = report(tmp_path, [("serializer", "hexjson"), ("serializer", "json")])

    error, text = out["lookups"]["hexjson"]
    assert error == "PluginConflictError"
    assert "zeroevents-clash 1.0" in text
    assert f"{TESTPLUGIN} 0.0.1" in text
    [conflict] = out["errors"]
    assert conflict["type"] == "PluginConflictError"
    assert conflict["base"] is True
    assert sorted(conflict["providers"]) == ["zeroevents-clash 1.0", f"{TESTPLUGIN} 0.0.1"]
    # Names nobody else claims are untouched.
    assert out["lookups"]["json"] == ["ok", [{"k": [1]}]]


def test_a_distribution_claiming_a_built_in_name_is_refused(tmp_path: Path) -> None:
    make_distribution(
        tmp_path,
        "zeroevents-fakejson",
        "2.5",
        {"fakejson": "zeroevents_fakejson"},
        {"zeroevents_fakejson": SERIALIZER_MODULE.format(name="json")},
    )
    out, _ = report(tmp_path, [("serializer", "json"), ("serializer", "hexjson")])
    error, text = out["lookups"]["json"]
    assert error == "PluginConflictError"
    assert f"{CORE} {CORE_VERSION}" in text
    assert "zeroevents-fakejson 2.5" in text
    assert out["lookups"]["hexjson"] == ["ok", [{"k": [1]}]]


def test_broken_plugins_are_reported_and_the_others_still_load(tmp_path: Path) -> None:
    # On PYTHONPATH, these come before the venv's plugins: pluggy's own loader would
    # stop at the first failure and never reach them.
    make_distribution(
        tmp_path,
        "zeroevents-broken",
        "0.3",
        {
            "raises": "zeroevents_broken",
            "missing": "zeroevents_not_there",
            "noattr": "zeroevents_good:no_such_attribute",
            "good": "zeroevents_good",
        },
        {
            "zeroevents_broken": "raise RuntimeError('boom at import')\n",
            "zeroevents_good": SERIALIZER_MODULE.format(name="goodjson"),
        },
    )
    out, stderr = report(
        tmp_path,
        [("serializer", "goodjson"), ("serializer", "hexjson"), ("serializer", "json")],
    )
    errors = {error["entry_point"]: error for error in out["errors"]}
    assert set(errors) == {"raises", "missing", "noattr"}
    for entry_point, error in errors.items():
        assert error["type"] == "PluginLoadError"
        assert error["base"] is True
        assert error["distribution"] == "zeroevents-broken"
        assert repr(entry_point) in error["message"]
        assert "zeroevents-broken" in error["message"]
        # A log line is written as well, for processes that never call plugin_errors().
        assert error["message"] in stderr
    assert "RuntimeError: boom at import" in errors["raises"]["message"]
    assert "zeroevents_not_there" in errors["missing"]["message"]
    assert "no_such_attribute" in errors["noattr"]["message"]
    for name in ("goodjson", "hexjson", "json"):
        assert out["lookups"][name] == ["ok", [{"k": [1]}]]
    assert ["serializer", "goodjson", "zeroevents-broken", "0.3"] in out["plugins"]


def test_plugin_load_error_is_an_import_error_of_the_library() -> None:
    error = PluginLoadError("ep", "some-dist", ValueError("x"))
    assert isinstance(error, ZeroEventsError)
    assert isinstance(error, ImportError)
    assert str(error) == (
        "plugin entry point 'ep' of distribution some-dist failed to load: ValueError: x"
    )


def test_entry_points_are_loaded_lazily_and_once(tmp_path: Path) -> None:
    make_distribution(
        tmp_path,
        "zeroevents-counted",
        "1.0",
        {"counted": "zeroevents_counted"},
        {
            "zeroevents_counted": """
            import sys
            from typing import Any
            from zeroevents_core import hookimpl
            print("imported", file=sys.stderr)

            @hookimpl
            def register_matchers(register: Any) -> None:
                print("hook called", file=sys.stderr)
            """
        },
    )
    code = """
import sys
import zeroevents_core as z
print("after import:", "zeroevents_counted" in sys.modules, "zeroevents_testplugin" in sys.modules)
z.get_serializer("json"); z.get_matcher("glob"); z.Dispatcher(); z.list_plugins()
print("after lookups:", "zeroevents_counted" in sys.modules, "zeroevents_testplugin" in sys.modules)
"""
    done = run_python(tmp_path, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["after import: False False", "after lookups: True True"]
    assert done.stderr.count("imported") == 1
    assert done.stderr.count("hook called") == 1


@pytest.mark.parametrize(
    ("value", "loaded"),
    [
        (None, {"zeroevents-msgpack", "zeroevents-cbor", TESTPLUGIN}),
        ("zeroevents-msgpack", {"zeroevents-msgpack"}),
        ("Zeroevents_MsgPack, zeroevents-testplugin", {"zeroevents-msgpack", TESTPLUGIN}),
        ("", set()),
    ],
)
def test_load_plugins_variable_limits_the_installed_plugins(
    tmp_path: Path, value: str | None, loaded: set[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ZEROEVENTS_LOAD_PLUGINS"}
    if value is not None:
        env["ZEROEVENTS_LOAD_PLUGINS"] = value
    code = (
        "import json, zeroevents_core as z\n"
        "print(json.dumps(sorted({i.distribution for i in z.list_plugins()})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    distributions = set(json.loads(done.stdout)) - {"zeroevents-core"}
    # Only the ones installed here are asserted on; the built-ins always load.
    assert distributions & {"zeroevents-msgpack", "zeroevents-cbor", TESTPLUGIN} == loaded
    assert "zeroevents-core" in json.loads(done.stdout)


def test_load_plugins_variable_reports_a_name_nothing_provides(tmp_path: Path) -> None:
    env = {**os.environ, "ZEROEVENTS_LOAD_PLUGINS": "zeroevents-msgpak"}
    code = "import zeroevents_core as z\nprint([str(e) for e in z.plugin_errors()])\n"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "ZEROEVENTS_LOAD_PLUGINS names 'zeroevents-msgpak'" in done.stdout


def test_register_and_unregister_are_deprecated_aliases() -> None:
    plugin = RuntimePlugin()
    with pytest.warns(DeprecationWarning, match="use register_plugin"):
        zeroevents_core.register(plugin, name="old-name")
    try:
        assert get_serializer("rot13").serialize(["a"])
    finally:
        with pytest.warns(DeprecationWarning, match="use unregister_plugin"):
            zeroevents_core.unregister(plugin)
