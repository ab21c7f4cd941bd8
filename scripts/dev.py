"""The README's two commands, on a machine with only python3 and pip.

``python3 scripts/demo`` and ``python3 scripts/test`` call :func:`main`: each makes
``.venv`` (with the stdlib ``venv``, or ``virtualenv`` installed by pip where the
interpreter has no ``ensurepip``), installs the core, the first-party plugins,
the examples and the dev tools in editable mode when their pyproject files
changed, then runs the demo or every check: ruff lint and format, mypy --strict
on the core, the nats plugin, the Prometheus exporter and the tracing plugin, and
pytest (which also builds the docs with mkdocs --strict). ``test`` first installs the test plugin
distribution (tests/plugins; the demo's ``.venv`` does not get it) and php-cli and
php-zmq from apt where missing, for the tests against PHP itself, when it can (root
or sudo); otherwise those tests skip, saying why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
EDITABLE = [
    ".[dev,contracts,fast]",
    "plugins/zeroevents-msgpack",
    "plugins/zeroevents-cbor",
    "plugins/zeroevents-php",
    "plugins/zeroevents-nats",
    "contrib/zeroevents-orjson",
    "contrib/zeroevents-prometheus",
    "contrib/zeroevents-otel[dev]",
]
# Only the test command installs it: a user's demo .venv should not list a fake plugin.
TEST_ONLY = ["tests/plugins/zeroevents-testplugin"]


def run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], cwd=ROOT, check=True)


def make_venv() -> None:
    if (BIN / "python").exists():
        return
    try:
        run(sys.executable, "-m", "venv", VENV)
    except subprocess.CalledProcessError:
        # Debian's python3 without python3-venv: no ensurepip. pip brings virtualenv
        # (into ~/.local; PEP 668 systems need the variable, older pips ignore it).
        os.environ.setdefault("PIP_BREAK_SYSTEM_PACKAGES", "1")
        run(sys.executable, "-m", "pip", "install", "--user", "--quiet", "virtualenv")
        run(sys.executable, "-m", "virtualenv", "--clear", VENV)


def fingerprint(projects: list[str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("**/pyproject.toml")):
        if ".venv" not in path.parts:
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    digest.update(" ".join(projects).encode())
    return digest.hexdigest()


def install_editable(projects: list[str], stamp: Path) -> None:
    """pip install -e each project, unless their pyproject files are unchanged."""
    wanted = fingerprint(projects)
    if stamp.exists() and stamp.read_text() == wanted:
        return
    editable = [arg for path in projects for arg in ("-e", path)]
    run(BIN / "python", "-m", "pip", "install", "--quiet", *editable)
    stamp.write_text(wanted)


def install() -> None:
    make_venv()
    if not (VENV / ".installed").exists():
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    install_editable(EDITABLE, VENV / ".installed")


def php_ready() -> bool:
    php = shutil.which("php")
    if php is None:
        return False
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, check=False)
    return "zmq" in modules.stdout.split()


def install_php() -> None:
    """php-cli and php-zmq from Debian's apt, quietly, where missing and allowed."""
    if php_ready() or shutil.which("apt-get") is None:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"] if shutil.which("sudo") else None
    if sudo is None:
        print("php-cli/php-zmq missing and not root: the PHP tests will skip", flush=True)
        return
    apt = [*sudo, "apt-get", "-qq", "-y"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*apt, "install", "php-cli", "php-zmq"]
    # Stale package lists make the first install fail: update, then try once more.
    for commands in ([install], [[*apt, "update"], install]):
        for command in commands:
            print("+", " ".join(command), flush=True)
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
        if php_ready():
            return
    print("php-cli/php-zmq could not be installed: the PHP tests will skip", flush=True)


def test(args: list[str]) -> None:
    install_editable(TEST_ONLY, VENV / ".installed-test")
    install_php()
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(
        BIN / "mypy",
        "zeroevents_core",
        "plugins/zeroevents-nats/zeroevents_nats",
        "contrib/zeroevents-prometheus/zeroevents_prometheus",
        "contrib/zeroevents-otel/zeroevents_otel",
    )
    run(BIN / "python", "-m", "pytest", "-q", *args)


def demo(args: list[str]) -> None:
    run(BIN / "zeroevents", "demo", *args)


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    try:
        install()
        if command != "install":
            {"test": test, "demo": demo}[command](args)
    except subprocess.CalledProcessError as failed:
        return failed.returncode or 1
    return 0
