"""The AsyncAPI export of examples/contracts validates against the official 3.0.0 schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from zeroevents_core import SchemaError
from zeroevents_core.schemas.asyncapi import export_asyncapi

REPO = Path(__file__).resolve().parent.parent
OFFICIAL = json.loads((Path(__file__).parent / "data" / "asyncapi-3.0.0.json").read_text())
ZEROEVENTS = Path(sys.executable).with_name("zeroevents")


def problems(document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(OFFICIAL)
    return [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_export_of_the_example_contracts_is_valid_asyncapi() -> None:
    document = export_asyncapi(
        REPO / "examples" / "contracts", title="Orders", version="2.1.0",
        servers=["local=tcp://127.0.0.1:5556", "ipc=ipc:///tmp/orders.sock"],
    )  # fmt: skip
    assert problems(document) == []
    assert document["asyncapi"] == "3.0.0" and document["info"]["title"] == "Orders"
    addresses = sorted(c["address"] for c in document["channels"].values())
    assert addresses == ["orders.*", "orders.cancelled", "orders.created", "orders.created.v2"]
    message = document["components"]["messages"]["orders.created"]
    assert message["payload"]["schemaFormat"].startswith("application/schema+json;version=")
    assert "$ref" not in json.dumps(message["payload"]["schema"])  # definitions inlined
    actions = sorted(op["action"] for op in document["operations"].values())
    assert actions == ["receive"] * 4 + ["send"] * 4
    assert document["servers"]["local"]["host"] == "127.0.0.1:5556"


def test_the_validation_can_fail() -> None:
    document = export_asyncapi(REPO / "examples" / "contracts")
    document["operations"]["send.orders.created"]["action"] = "publish"  # AsyncAPI 2 word
    assert problems(document)


def test_bad_server_is_a_clear_error() -> None:
    with pytest.raises(SchemaError, match="name=url"):
        export_asyncapi(REPO / "examples" / "contracts", servers=["tcp://127.0.0.1:1"])


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_cli_export(tmp_path: Path, fmt: str) -> None:
    if fmt == "yaml":
        yaml = pytest.importorskip("yaml", reason="--format yaml needs the optional PyYAML")
    out = tmp_path / f"api.{fmt}"
    done = subprocess.run(
        [str(ZEROEVENTS), "schema", "export", "asyncapi", str(REPO / "examples" / "contracts"),
         "--title", "Orders", "--server", "local=tcp://127.0.0.1:5556", "--format", fmt,
         "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done
    text = out.read_text()
    document = yaml.safe_load(text) if fmt == "yaml" else json.loads(text)
    assert problems(document) == []
