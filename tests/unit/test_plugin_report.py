"""``plugin_report()``: what the installed plugins registered and which did not load,
as the frozen values that ``tickwork plugins`` and the web dashboard both print."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator

import attrs
import pytest

import tickwork
from tickwork import (
    MemoryStore,
    PluginFailure,
    PluginRegistration,
    PluginReport,
    available_plugins,
    hookimpl,
    plugin_report,
)

# The loader's seams, patched as the plugin-loading tests patch them.
from tickwork._plugin_loader import metadata as loader_metadata
from tickwork._plugins import reset_plugins
from tickwork.cli import main


class _EntryPoint:
    """Just what discovery reads of an installed entry point."""

    def __init__(self, name: str, target: object | Exception, dist: object = None) -> None:
        self.name, self.value, self.dist = name, f"fake_{name}:plugin", dist
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


class _Dist:
    name = "acme-tickwork"
    version = "2.1.0"


class _Acme:
    @hookimpl
    def register_stores(self, register: Callable[..., None]) -> None:
        register("acme", MemoryStore, url_schemes=["acme"])


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Discovery sees one good plugin, one that fails to import, and a selection
    (``TICKWORK_PLUGINS``) naming one that is not installed; real plugins load again
    after the test."""
    fakes = [
        _EntryPoint("acme", _Acme(), _Dist()),
        _EntryPoint("broken", ImportError("no module named acme_extras")),
    ]
    monkeypatch.setattr(loader_metadata, "entry_points", lambda group: fakes)
    monkeypatch.setenv("TICKWORK_PLUGINS", "acme,broken,acne")
    reset_plugins()
    try:
        yield monkeypatch
    finally:
        monkeypatch.undo()
        reset_plugins()


def test_registrations_failures_and_unknown_names(fake_entry_points: pytest.MonkeyPatch) -> None:
    report = plugin_report()
    acme = _one(report, "store", "acme")
    assert acme == PluginRegistration(
        kind="store",
        name="acme",
        plugin="acme",
        built_in=False,
        distribution="acme-tickwork",
        version="2.1.0",
        details="acme",
    )
    memory = _one(report, "store", "memory")
    assert memory.built_in
    assert memory.distribution == "tickwork"
    assert memory.version == importlib.metadata.version("tickwork")
    [failure] = report.failed
    assert failure.plugin == "broken"
    assert "acme_extras" in failure.error
    assert report.unknown == ("acne",)


def test_every_registration_is_reported_once() -> None:
    report = plugin_report()
    seen = [(r.kind, r.name) for r in report.registrations]
    assert len(seen) == len(set(seen))
    names = available_plugins()
    for kind, plural in [
        ("store", "stores"),
        ("trigger", "triggers"),
        ("codec", "codecs"),
        ("executor", "executors"),
        ("instrument", "instruments"),
    ]:
        assert sorted(name for k, name in seen if k == kind) == names[plural]
    assert ("codec", "cron") in seen
    assert _one(report, "codec", "cron").details == "CronSchedule"


def test_a_plugin_registered_in_process_has_no_distribution() -> None:
    class Local:
        @hookimpl
        def register_triggers(self, register: Callable[..., None]) -> None:
            register("local-test-trigger", tickwork.LocalTrigger)

    name = tickwork.register_plugin(Local(), "local-test-plugin")
    try:
        entry = _one(plugin_report(), "trigger", "local-test-trigger")
        assert (entry.plugin, entry.built_in) == ("local-test-plugin", False)
        assert (entry.distribution, entry.version) == (None, None)
    finally:
        tickwork.unregister_plugin(name)
    assert all(r.name != "local-test-trigger" for r in plugin_report().registrations)


def test_the_report_is_frozen() -> None:
    report = plugin_report()
    assert isinstance(report.registrations, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.unknown = ("x",)  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        report.registrations[0].name = "x"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        PluginFailure(plugin="p", error="e").error = "f"  # type: ignore[misc]


def test_tickwork_plugins_prints_the_report(
    fake_entry_points: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    report = plugin_report()
    rows = [line.split() for line in out.splitlines()]
    for r in report.registrations:
        shown = "(built-in)" if r.built_in else r.plugin
        assert [r.kind, r.name, shown, r.distribution or "?", r.version or "?"] in [
            row[:5] for row in rows
        ], r
    assert "plugin 'broken' failed to load: " in out
    assert "TICKWORK_PLUGINS names 'acne', which no installed plugin has" in out


def _one(report: PluginReport, kind: str, name: str) -> PluginRegistration:
    [found] = [r for r in report.registrations if (r.kind, r.name) == (kind, name)]
    return found
