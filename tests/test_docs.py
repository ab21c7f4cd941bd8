"""The documentation site: it builds with ``mkdocs build --strict`` (broken links,
anchors and pages missing from the nav fail), its generated references are there,
and the Python snippets of the pages written for it run as shown.

Snippets: in each page, a fenced block whose first line is ``# file: NAME`` is
written to NAME in a scratch folder; then every other ``python`` block is run there,
in page order, and must exit 0. The quickstart's two processes run together.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
FILE = re.compile(r"^# file: (\S+)\n")
# The pages whose snippets run on their own (the quickstart's are run below).
RUNNABLE_PAGES = [
    "asyncio.md",
    "concepts.md",
    "configuration.md",
    "contracts.md",
    "metrics.md",
    "wire-format.md",
    "outbox.md",
    "plugins.md",
    "migration.md",
    "security.md",
    "tracing.md",
    "writing-a-serializer-plugin.md",
]
# Pages whose shell blocks run too, before their Python ones (the commands they
# show make what the Python needs: key files, say).
SHELL_PAGES = ["security.md"]
ENDPOINT = "ipc:///tmp/my.ipc"


def blocks(page: str) -> list[tuple[str, str]]:
    """The fenced blocks of a page: (language, text)."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer((DOCS / page).read_text())]


def hookspec_names() -> list[str]:
    module = ast.parse((ROOT / "zeroevents_core" / "hookspecs.py").read_text())
    return [
        node.name
        for node in module.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d) == "hookspec" for d in node.decorator_list)
    ]


def test_site_builds_strict_with_generated_references(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    plugins = (site / "plugins" / "index.html").read_text()
    names = hookspec_names()
    assert names, "hookspecs.py declares no hook"
    for name in names:
        assert f'id="{name}"' in plugins, f"hook {name} missing from the generated reference"
    for cls in ("Serializer", "Matcher", "Transport"):
        assert f"zeroevents_core.{cls}" in plugins
    for protocol in ("EventSocket", "AsyncEventSocket", "Poller", "AsyncPoller"):
        assert f"zeroevents_core.transports.{protocol}" in plugins
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert "<!-- generated:" not in html, f"marker left in {page}"
        # A fence that python-markdown did not recognise (inside a list item, say)
        # renders as inline code that starts with the language's name.
        broken = re.search(r"<code>(toml|json|python|sh|console|text)\s", html)
        assert broken is None, f"a fenced block renders as inline code in {page}: {broken}"
        # An escaped pipe in a code span (a table cell's) shows its backslash.
        assert "\\|" not in html, f"a code span shows a backslash before '|' in {page}"
    assert not (site / "gen_hooks.py").exists()


def test_every_nav_page_exists() -> None:
    nav = re.findall(r":\s*([\w-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.MULTILINE)
    assert sorted(nav) == sorted(path.name for path in DOCS.glob("*.md"))


def run_snippets(page: str, folder: Path) -> None:
    """Write the page's files, run its shell blocks (``SHELL_PAGES``), then its other
    Python blocks in order."""
    for language, text in blocks(page):
        target = FILE.match(text)
        if target is not None:
            (folder / target.group(1)).parent.mkdir(parents=True, exist_ok=True)
            (folder / target.group(1)).write_text(text[target.end() :])
        elif language == "sh" and page in SHELL_PAGES:
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", text],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PATH": path},
            )
            assert done.returncode == 0, f"{page}:\n{text}\n{done.stdout}{done.stderr}"
    for number, (language, text) in enumerate(blocks(page)):
        if language != "python" or FILE.match(text):
            continue
        done = subprocess.run(
            [sys.executable, "-c", text],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(folder)},
        )
        assert done.returncode == 0, f"{page}, block {number}:\n{text}\n{done.stderr}"


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_snippets_run(page: str, tmp_path: Path) -> None:
    run_snippets(page, tmp_path)


def test_testing_page_examples_pass(pytester: pytest.Pytester) -> None:
    """The testing page's files are a test suite: pytest (a fresh process, the plugin
    found by its entry point) passes all of it, and the failure message the page shows
    is the one pytest prints."""
    tests = 0
    for _, text in blocks("testing.md"):
        target = FILE.match(text)
        if target is not None:
            (pytester.path / target.group(1)).parent.mkdir(parents=True, exist_ok=True)
            (pytester.path / target.group(1)).write_text(text[target.end() :])
            tests += len(re.findall(r"^def test_", text, re.MULTILINE))
    passed = pytester.runpytest_subprocess("-p", "no:cacheprovider").parseoutcomes()
    assert set(passed) == {"passed"} and passed["passed"] >= tests > 0, passed

    (pytester.path / "failure_shown.py").write_text(
        "from test_orders import place_order\n\n"
        "def test_it(fired):\n"
        "    place_order(1)\n"
        "    fired.assert_fired('orders.created', {'id': 2})\n"
    )
    failed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "failure_shown.py")
    failed.assert_outcomes(failed=1)
    [shown] = [text for language, text in blocks("testing.md") if language == "text"]
    printed = [line[1:].strip() for line in failed.outlines if line.startswith("E ")]
    expected = [line[1:].strip() for line in shown.splitlines()]
    assert any(printed[i : i + len(expected)] == expected for i in range(len(printed))), "\n".join(
        printed
    )


def test_quickstart_two_processes(tmp_path: Path) -> None:
    """Process B (service.py) receives what process A (producer.py, and the index
    page's example) fires, as the quickstart shows, then stops on SIGINT."""
    endpoint = f"ipc://{tmp_path}/my.ipc"
    for _, text in blocks("quickstart.md"):
        target = FILE.match(text)
        if target is not None:
            code = text[target.end() :].replace(ENDPOINT, endpoint)
            (tmp_path / target.group(1)).write_text(code)
    index = [text for language, text in blocks("index.md") if language == "python"]
    (tmp_path / "index_example.py").write_text(index[0].replace(ENDPOINT, endpoint))

    service = subprocess.Popen(
        [sys.executable, "service.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "my.ipc").exists():
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, "service.py never bound its socket"
            time.sleep(0.05)
        for producer in ("producer.py", "index_example.py"):
            subprocess.run([sys.executable, producer], cwd=tmp_path, check=True, timeout=60)
    finally:
        service.send_signal(2)  # SIGINT: a graceful stop
        out, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert out.splitlines() == [
        "caught event: my.events.created ({'id': 1},)",
        "caught event: my.events.shipped ({'id': 1}, 'by post')",
        "caught event: my.events.created ({'id': 1},)",
    ]
