"""The documentation stays true: its examples run, and every hook is documented.

A ```python block in ``docs/*.md`` or ``docs/plugins/*.md`` runs when the line before
its opening fence is an HTML comment (invisible once rendered)::

    <!-- doctest: run -->
    <!-- doctest: run plugins=none timeout=20 -->

Each such block runs as a script of its own, in a fresh interpreter whose working
directory is an empty temporary directory, and passes when it exits with status 0
within its timeout (10 s by default). ``plugins=`` sets ``TICKWORK_PLUGINS`` for it
(``none`` loads no entry point: only the core's built-ins, which starts faster);
without it every installed plugin loads, as for a user. All blocks are started at
once, a few at a time, when the first of them is tested.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import attrs
import pytest

import tickwork
from tickwork import hookspecs
from tickwork.abc import Store
from tickwork.testing import StoreContract

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
MARKER = re.compile(r"<!--\s*doctest:\s*run(?P<options>(?:\s+[a-z]+=\S+)*)\s*-->")
DEFAULT_TIMEOUT = 10.0


@attrs.frozen
class Example:
    """One runnable block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    plugins: str | None
    timeout: float

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(DOCS)}:{self.line}"


def _examples(page: Path) -> Iterator[Example]:
    lines = page.read_text(encoding="utf-8").splitlines()
    in_fence = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        marker = None if in_fence else MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        fence = index + 1
        if fence >= len(lines) or lines[fence].strip() != "```python":
            raise AssertionError(f"{page}:{index + 1}: a doctest marker must precede ```python")
        end = lines.index("```", fence + 1)
        options = dict(o.split("=", 1) for o in marker["options"].split())
        unknown = set(options) - {"plugins", "timeout"}
        assert not unknown, f"{page}:{index + 1}: unknown doctest option(s) {unknown}"
        plugins = options.get("plugins")
        yield Example(
            page=page,
            line=fence + 1,
            code="\n".join(lines[fence + 1 : end]) + "\n",
            plugins="" if plugins == "none" else plugins,
            timeout=float(options.get("timeout", DEFAULT_TIMEOUT)),
        )


EXAMPLES = [example for page in PAGES for example in _examples(page)]


def _run(example: Example) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TICKWORK_PLUGINS"}
    if example.plugins is not None:
        env["TICKWORK_PLUGINS"] = example.plugins
    with tempfile.TemporaryDirectory(prefix="tickwork-doc-") as workdir:
        try:
            return subprocess.run(
                [sys.executable, "-c", example.code],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=example.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(
                exc.cmd, -1, str(exc.stdout or ""), f"timed out after {example.timeout} s"
            )


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    """Every example, started at once (a few in parallel); each test waits for its own."""
    with ThreadPoolExecutor(max_workers=max(4, os.cpu_count() or 1)) as pool:
        yield {example.id: pool.submit(_run, example) for example in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_example_runs(
    example: Example, results: dict[str, Future[subprocess.CompletedProcess[str]]]
) -> None:
    done = results[example.id].result()
    assert done.returncode == 0, (
        f"{example.id} failed (exit {done.returncode})\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )


def test_there_are_examples_to_run() -> None:
    assert len(EXAMPLES) >= 10, [e.id for e in EXAMPLES]


HOOKS = {
    name: fn
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, f"{hookspecs.PROJECT_NAME}_spec")
}


def test_hookspecs_are_found() -> None:
    assert set(HOOKS) >= {"register_stores", "register_triggers", "register_codecs"}


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_plugin_hooks_have_docs(name: str) -> None:
    """docs/plugins/index.md has a heading with the hook's exact signature."""
    parameters = ", ".join(inspect.signature(HOOKS[name]).parameters)
    signature = f"{name}({parameters})"
    text = (DOCS / "plugins" / "index.md").read_text(encoding="utf-8")
    headings = {
        line.lstrip("#").strip().strip("`")
        for line in text.splitlines()
        if re.match(r"#{2,4} ", line)
    }
    assert signature in headings, f"docs/plugins/index.md needs a heading '### {signature}'"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_plugin_hooks_have_runnable_examples(name: str) -> None:
    """Some runnable example under docs/plugins/ implements the hook."""
    pattern = re.compile(rf"^\s*def {name}\(", re.MULTILINE)
    assert any(pattern.search(e.code) for e in EXAMPLES if e.page.parent.name == "plugins"), (
        f"no runnable example in docs/plugins/ implements {name}"
    )


def test_api_page_mentions_every_public_name() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    missing = [name for name in tickwork.__all__ if f"`{name}" not in text]
    assert not missing, f"docs/api.md does not mention: {', '.join(missing)}"


# Pages that other parts of the project add; links to them may point ahead of time.
UPCOMING = {"triggers/nats.md", "performance.md"}


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub makes of a page's headings (outside code blocks)."""
    anchors, in_fence = set(), False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_links_between_pages_resolve() -> None:
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*?\.md)?(?:#([^)\s]+))?\)", text):
            if target.startswith(("http://", "https://")):
                continue  # another site's page: not checked here
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                if path.relative_to(DOCS).as_posix() not in UPCOMING:
                    broken.append(f"{page.relative_to(DOCS)} -> {target}")
            elif anchor and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(DOCS)} -> {target}#{anchor}")
    assert not broken, broken


@functools.cache
def _documented_store() -> dict[str, object]:
    """The names defined by the store example of docs/plugins/store.md."""
    (example,) = [e for e in EXAMPLES if "class KVStore" in e.code]
    namespace: dict[str, object] = {"__name__": "documented_kv_store"}
    exec(compile(example.code, example.id, "exec"), namespace)
    return namespace


class TestDocumentedStore(StoreContract):
    """The store shown in docs/plugins/store.md keeps the whole store contract, with
    one backend call in five failing (its retries must hide them)."""

    persistent = True

    @pytest.fixture
    def make_store(self) -> Callable[[], Store]:
        names = _documented_store()
        backend = names["KVBackend"](failure_rate=0.2, seed=7)  # type: ignore[operator]
        return lambda: names["KVStore"](backend, attempts=10, backoff=0.0005)  # type: ignore[operator,no-any-return]
