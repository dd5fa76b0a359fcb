"""Plugins use the core's public API only: the project rule, checked on the source.

"The core never imports a backend; backends (and every plugin) depend only on the
core's public API and hooks." A plugin that reaches into ``tickwork._x`` breaks when
the core rearranges its private modules, which it does freely. This walks the syntax
tree of every module under ``plugins/*/src`` and lists each private name it takes
from tickwork: a module whose dotted name has a ``_``-prefixed part after
``tickwork`` (``tickwork._policy``, ``tickwork.cli._stores``), a private name
imported from a tickwork module (``from tickwork import _plugins``), or a private
attribute read off the ``tickwork`` package (``tickwork._plugins.get_registry``).
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

import tickwork

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = sorted(ROOT.glob("plugins/*/src/**/*.py"))

#: Known breaches, each to be removed with its fix: (file relative to the root,
#: private name). None today; an entry that is no longer needed fails
#: :func:`test_no_stale_exceptions`.
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _private(dotted: str) -> bool:
    """Whether a dotted tickwork name has a private part (``tickwork._x``, ``a._b``)."""
    parts = dotted.split(".")
    return parts[0] == "tickwork" and any(p.startswith("_") for p in parts[1:])


def private_uses(tree: ast.AST) -> Iterator[str]:
    """Each private tickwork name ``tree`` imports or reads off the package."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if _private(a.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _private(node.module):
                yield node.module
            elif node.module.split(".")[0] == "tickwork":
                yield from (f"{node.module}.{a.name}" for a in node.names if a.name[0] == "_")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            base = _dotted(node.value)
            if base is not None and base.split(".")[0] == "tickwork":
                yield f"{base}.{node.attr}"


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _breaches() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in PLUGIN_SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = path.relative_to(ROOT).as_posix()
        found |= {(rel, name) for name in private_uses(tree)}
    return found


def test_the_plugin_sources_are_found() -> None:
    # The glob must see every plugin, or the rule below checks nothing.
    plugins = {p.relative_to(ROOT).parts[1] for p in PLUGIN_SOURCES}
    assert {"web", "sqlalchemy_store", "nats_store", "nats_trigger", "otel"} <= plugins


def test_plugins_import_only_public_tickwork_names() -> None:
    new = sorted(_breaches() - KNOWN)
    assert not new, "plugins use private tickwork names (make them public first):\n" + "\n".join(
        f"  {path}: {name}" for path, name in new
    )


def test_no_stale_exceptions() -> None:
    stale = sorted(KNOWN - _breaches())
    assert not stale, f"fixed, remove from KNOWN: {stale}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import tickwork._policy", ["tickwork._policy"]),
        ("from tickwork._policy import user_metadata", ["tickwork._policy"]),
        ("from tickwork.cli._stores import open_store", ["tickwork.cli._stores"]),
        ("from tickwork import _plugins", ["tickwork._plugins"]),
        ("import tickwork\ntickwork._plugins.reset_plugins()", ["tickwork._plugins"]),
        ("import tickwork.testing._service_rule as rule", ["tickwork.testing._service_rule"]),
        ("from tickwork import StoredJobActions, job_from_data", []),
        ("from tickwork.cli import open_store, store_arg", []),
        ("from tickwork.abc import Store", []),
        ("from . import _views\nfrom ._app import create_app", []),
        ("from tickwork_web._views import job_view", []),
        ("scheduler._call(coro)", []),  # not a tickwork module: out of this check's reach
    ],
)
def test_private_uses_are_recognised(source: str, expected: list[str]) -> None:
    assert sorted(set(private_uses(ast.parse(source)))) == expected


async def test_the_public_batcher_the_known_breaches_should_use() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> Sequence[int]:
        batches.append(items)
        await asyncio.sleep(0)
        return [item * 10 for item in items]

    batcher = tickwork.Batcher(flush)
    first = batcher.submit(1)
    await asyncio.sleep(0)  # the first goes out at once, alone
    rest = [batcher.submit(n) for n in (2, 3)]  # asked for while it is out
    assert await asyncio.gather(first, *rest) == [10, 20, 30]
    assert batches == [[1], [2, 3]]
    assert "Batcher" in tickwork.__all__
