"""SLOW (about a minute): real wheels in a fresh venv find each other by entry point.

Builds wheels of zeroevents-core (the repository root) and zeroevents-msgpack into a
temporary folder, installs both into a new virtual environment (their dependencies
come from the package index as for any user), and shows there, with no configuration,
that ``get_serializer("msgpack")`` round-trips and that an ``EventSocket`` with
``serializer="msgpack"`` carries an event over an inproc PAIR; then that contracts
without the ``contracts`` extra fail with an error naming it, and work with it.

Marked ``slow`` (deselect with ``-m "not slow"``), but part of ``python3 scripts/test``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CHECK = textwrap.dedent(
    """
    import json, sys
    import zmq
    import zeroevents_core
    from zeroevents_core import EventSocket, get_serializer, list_plugins

    # Installed as wheels, not from the work tree.
    assert "site-packages" in zeroevents_core.__file__, zeroevents_core.__file__
    info = {p.name: p.provider for p in list_plugins() if p.kind == "serializer"}
    serializer = get_serializer("msgpack")
    payload = [{"id": 1, "items": [{"sku": "A-1", "qty": 2}]}, b"\\x00\\xff", "при/вет"]
    assert serializer.unserialize(serializer.serialize(payload)) == payload

    context = zmq.Context()
    receiver = EventSocket(context, zmq.PAIR, serializer="msgpack")
    sender = EventSocket(context, zmq.PAIR, serializer="msgpack")
    receiver.bind("inproc://wheel-test")
    sender.connect("inproc://wheel-test")
    receiver.setsockopt(zmq.RCVTIMEO, 5000)
    sender.push("orders.created", payload)
    message = receiver.pull()
    assert (message.event, message.payload) == ("orders.created", payload), message
    sender.close(linger=0)
    receiver.close(linger=0)
    context.term()
    print(json.dumps(info))

    # Contracts are an extra: without it, the error names it.
    import importlib.util
    from zeroevents_core import EventListener, MissingDependencyError
    assert importlib.util.find_spec("jsonschema") is None
    try:
        EventListener({"connect": "inproc://nowhere", "schemas": "contracts"})
    except MissingDependencyError as error:
        assert "pip install 'zeroevents-core[contracts]'" in str(error), error
    else:
        raise AssertionError("a schemas option without the contracts extra was accepted")
    """
)

CONTRACTS = textwrap.dedent(
    """
    import pathlib, sys
    from zeroevents_core import SchemaRegistry, SchemaValidationError
    folder = pathlib.Path(sys.argv[1])
    (folder / "orders.created.json").write_text('{"type": "object", "required": ["id"]}')
    registry = SchemaRegistry.from_folder(folder)
    try:
        registry.check("orders.created", [{}])
    except SchemaValidationError:
        print("contracts work")
    """
)


def run(*args: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_msgpack_wheel_is_found_in_a_fresh_venv(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    for project in (ROOT, ROOT / "plugins" / "zeroevents-msgpack"):
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, project)
    built = sorted(wheels.glob("*.whl"))
    names = [wheel.name.split("-")[0] for wheel in built]
    assert names == ["zeroevents_core", "zeroevents_msgpack"], built

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", *built)
    # Run from the temporary folder: the work tree must not be importable.
    output = run(python, "-c", CHECK, cwd=tmp_path)
    assert '"msgpack": "zeroevents-msgpack 0.1.0"' in output, output

    core = next(wheel for wheel in built if wheel.name.startswith("zeroevents_core"))
    with zipfile.ZipFile(core) as archive:
        metadata = archive.read("zeroevents_core-0.1.0.dist-info/METADATA").decode()
        # The pytest plugin: its module beside the package, found by its entry point.
        assert "_zeroevents_pytest.py" in archive.namelist()
        entry_points = archive.read("zeroevents_core-0.1.0.dist-info/entry_points.txt")
        assert "[pytest11]\nzeroevents.testing = _zeroevents_pytest" in entry_points.decode()
    description = metadata.split("\n\n", 1)[1]
    assert "pip install 'zeroevents-core[contracts]'" in description
    relative = re.findall(r"\]\((?!https?://)[^)]*\)", description)
    assert not relative, f"links that break once published: {relative}"
    run(python, "-m", "pip", "install", "-q", f"{core}[contracts]")
    (tmp_path / "contracts").mkdir()
    output = run(python, "-c", CONTRACTS, tmp_path / "contracts", cwd=tmp_path)
    assert output.strip() == "contracts work", output
