"""Plugin names as a plugin author and a user meet them: in `tickwork plugins`, in
``TICKWORK_PLUGINS``, and when two plugins want the same registered name."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

import tickwork
from tickwork import MemoryStore, hookimpl
from tickwork._plugins import available_plugins, plugin_errors, unknown_selected_plugins
from tickwork.cli import main


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Plugins load again for the test, and once more after it with the real settings."""
    tickwork._plugins.reset_plugins()
    try:
        yield monkeypatch
    finally:
        monkeypatch.undo()
        tickwork._plugins.reset_plugins()


def _row(out: str, kind: str, name: str) -> list[str]:
    for line in out.splitlines():
        cells = line.split()
        if cells[:2] == [kind, name]:
            return cells
    raise AssertionError(f"no {kind} {name!r} row in:\n{out}")


def test_tickwork_plugins_shows_entry_point_names(
    fresh_plugins: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["KIND", "NAME", "PLUGIN", "DISTRIBUTION"]
    assert _row(out, "store", "sqlalchemy")[2:4] == [
        "sqlalchemy_store",
        "tickwork-sqlalchemy-store",
    ]
    assert _row(out, "store", "memory")[2:4] == ["(built-in)", "tickwork"]
    assert _row(out, "codec", "rrule")[2] == "rrule"


def test_the_shown_name_is_the_one_tickwork_plugins_takes(
    fresh_plugins: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh_plugins.setenv("TICKWORK_PLUGINS", "sqlalchemy_store")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert _row(out, "store", "sqlalchemy")[2] == "sqlalchemy_store"
    assert "nats_store" not in out
    assert unknown_selected_plugins() == ()


def test_an_unknown_name_in_tickwork_plugins_is_warned_about(
    fresh_plugins: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh_plugins.setenv("TICKWORK_PLUGINS", "rrule, sqlalchemy")
    with caplog.at_level(logging.WARNING, logger="tickwork.plugins"):
        names = available_plugins()
    assert "rrule" in names["codecs"]
    assert unknown_selected_plugins() == ("sqlalchemy",)
    warnings = [r.getMessage() for r in caplog.records if r.name == "tickwork.plugins"]
    assert len(warnings) == 1
    assert "'sqlalchemy'" in warnings[0]
    assert "sqlalchemy_store" in warnings[0]  # the installed names, to spot the typo
    assert main(["plugins"]) == 0
    assert "TICKWORK_PLUGINS names 'sqlalchemy'" in capsys.readouterr().out


def test_known_names_are_not_warned_about(
    fresh_plugins: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fresh_plugins.setenv("TICKWORK_PLUGINS", "")
    with caplog.at_level(logging.WARNING, logger="tickwork.plugins"):
        assert available_plugins()["stores"] == ["memory"]
    assert unknown_selected_plugins() == ()
    assert [r for r in caplog.records if r.name == "tickwork.plugins"] == []


class _EntryPoint:
    """Just what discovery reads of an entry point."""

    def __init__(self, name: str, target: object) -> None:
        self.name, self.value, self.dist = name, f"fake:{name}", None
        self._target = target

    def load(self) -> object:
        return self._target


class _Taker:
    @hookimpl
    def register_stores(self, register: Callable[..., None]) -> None:
        register("memory", MemoryStore)


class _Other:
    @hookimpl
    def register_stores(self, register: Callable[..., None]) -> None:
        register("other", MemoryStore)


def test_an_entry_point_taking_a_name_is_skipped_with_a_warning(
    fresh_plugins: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What docs/plugins/index.md says: the plugin is left out, the others load, and
    every program goes on working."""
    fakes = [_EntryPoint("taker", _Taker()), _EntryPoint("other", _Other())]
    fresh_plugins.setattr(tickwork._plugin_loader.metadata, "entry_points", lambda group: fakes)
    with caplog.at_level(logging.WARNING, logger="tickwork.plugins"):
        assert available_plugins()["stores"] == ["memory", "other"]
    assert "already registered by 'tickwork._builtins'" in plugin_errors()["taker"]
    assert any("'taker'" in r.getMessage() for r in caplog.records)
    assert isinstance(tickwork.create_store("memory"), MemoryStore)
