"""Plugin discovery, registration checks and the factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import attrs
import pytest

import tickwork
from tickwork import (
    MemoryStore,
    PluginNotFoundError,
    PluginRegistrationError,
    available_plugins,
    create_store,
    create_trigger,
    default_codec,
    hookimpl,
    register_plugin,
    unregister_plugin,
)
from tickwork._local_trigger import LocalTrigger


@pytest.fixture
def plugin() -> Iterator[Callable[[object, str], None]]:
    """Register throwaway plugins and always unregister them."""
    names: list[str] = []

    def add(obj: object, name: str) -> None:
        names.append(register_plugin(obj, name))

    try:
        yield add
    finally:
        for name in names:
            unregister_plugin(name)


def test_builtins_are_registered() -> None:
    names = available_plugins()
    assert set(names) == {"stores", "triggers", "codecs", "executors", "instruments"}
    assert "memory" in names["stores"]
    assert "local" in names["triggers"]
    assert {"interval", "start_at_interval", "once", "cron"} <= set(names["codecs"])
    for values in names.values():
        assert values == sorted(values)


def test_installed_backends_are_discovered_through_entry_points() -> None:
    names = available_plugins()
    assert {"memory", "sqlalchemy", "nats"} <= set(names["stores"])
    assert {"local", "nats"} <= set(names["triggers"])


def test_create_store_and_trigger_by_name() -> None:
    assert isinstance(create_store("memory"), MemoryStore)
    assert isinstance(create_trigger("local"), LocalTrigger)
    trigger = create_trigger("local", max_sleep=5.0)
    assert isinstance(trigger, LocalTrigger)


def test_unknown_names_say_what_to_install() -> None:
    with pytest.raises(PluginNotFoundError) as info:
        create_store("redis")
    assert isinstance(info.value, LookupError)
    assert "memory" in str(info.value)
    with pytest.raises(PluginNotFoundError, match="local"):
        create_trigger("kafka")
    with pytest.raises(PluginNotFoundError, match="scheme"):
        create_store("redis://localhost:6379")


def test_missing_first_party_backend_names_its_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKWORK_PLUGINS", "")
    tickwork._plugins.reset_plugins()
    try:
        assert available_plugins()["stores"] == ["memory"]
        with pytest.raises(PluginNotFoundError, match="pip install tickwork-sqlalchemy-store"):
            create_store("sqlalchemy")
        with pytest.raises(PluginNotFoundError, match="tickwork-sqlalchemy-store"):
            create_store("postgresql://localhost/db")
        with pytest.raises(PluginNotFoundError, match="tickwork-nats-trigger"):
            create_trigger("nats")
        with pytest.raises(PluginNotFoundError, match="tickwork-nats-store"):
            create_store("nats://127.0.0.1:4222")
    finally:
        monkeypatch.delenv("TICKWORK_PLUGINS")
        tickwork._plugins.reset_plugins()


def test_env_var_limits_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWORK_PLUGINS", "nats_store")
    tickwork._plugins.reset_plugins()
    try:
        assert available_plugins()["stores"] == ["memory", "nats"]
    finally:
        monkeypatch.delenv("TICKWORK_PLUGINS")
        tickwork._plugins.reset_plugins()


@attrs.frozen
class EveryDay:
    hour: int

    def next(self, after: datetime) -> datetime | None:
        return None


class EveryDayCodec:
    def encode(self, schedule: Any) -> tuple[str, str]:
        return "every_day", str(schedule.hour)

    def decode(self, schedule_type: str, config: str) -> Any:
        return EveryDay(int(config))


def test_registered_codec_joins_the_default_codec(plugin: Callable[[object, str], None]) -> None:
    class Plugin:
        @hookimpl
        def register_codecs(self, register: Callable[..., None]) -> None:
            register("every_day", EveryDay, EveryDayCodec())

    plugin(Plugin(), "every-day")
    codec = default_codec()
    assert codec.encode(EveryDay(3)) == ("every_day", "3")
    assert codec.decode("every_day", "3") == EveryDay(3)
    assert "every_day" in available_plugins()["codecs"]


def test_registered_codec_is_gone_after_unregister() -> None:
    assert "every_day" not in available_plugins()["codecs"]


def test_duplicate_names_are_rejected_naming_the_plugin() -> None:
    class Dup:
        @hookimpl
        def register_stores(self, register: Callable[..., None]) -> None:
            register("memory", MemoryStore)

    with pytest.raises(PluginRegistrationError, match=r"dup-plugin.*memory"):
        register_plugin(Dup(), "dup-plugin")
    assert "memory" in available_plugins()["stores"]


def test_bad_codec_registration_is_rejected() -> None:
    class Bad:
        @hookimpl
        def register_codecs(self, register: Callable[..., None]) -> None:
            register("bad", object, EveryDayCodec())

    with pytest.raises(PluginRegistrationError, match="not a Schedule"):
        register_plugin(Bad(), "bad-plugin")


def test_store_url_goes_to_the_url_option(plugin: Callable[[object, str], None]) -> None:
    made: list[dict[str, Any]] = []

    def factory(**options: Any) -> MemoryStore:
        made.append(options)
        return MemoryStore()

    class UrlPlugin:
        @hookimpl
        def register_stores(self, register: Callable[..., None]) -> None:
            register("fake", factory, url_schemes=("fake",), url_option="dsn")

    plugin(UrlPlugin(), "url-plugin")
    create_store("fake+driver://host/db", timeout=3)
    assert made == [{"dsn": "fake+driver://host/db", "timeout": 3}]


def test_misspelled_hook_is_rejected_with_the_known_hooks() -> None:
    class Typo:
        @hookimpl
        def register_store(self, register: Callable[..., None]) -> None:  # no "s"
            register("typo", MemoryStore)

    with pytest.raises(PluginRegistrationError, match="register_stores"):
        register_plugin(Typo(), "typo-plugin")
    assert "typo" not in available_plugins()["stores"]


class _FakeEntryPoint:
    """Stands in for an installed distribution's entry point."""

    def __init__(self, name: str, target: object | Exception) -> None:
        self.name = name
        self.value = f"fake_{name}:plugin"
        self.dist = None
        self._target = target

    def load(self) -> object:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_broken_entry_point_plugins_are_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    class Good:
        @hookimpl
        def register_stores(self, register: Callable[..., None]) -> None:
            register("good", MemoryStore)

    class Raises:
        @hookimpl
        def register_triggers(self, register: Callable[..., None]) -> None:
            raise RuntimeError("hook exploded")

    class Duplicate:
        @hookimpl
        def register_stores(self, register: Callable[..., None]) -> None:
            register("memory", MemoryStore)

    class Misspelled:
        @hookimpl
        def register_codec(self, register: Callable[..., None]) -> None:
            pass

    fakes = [
        _FakeEntryPoint("good", Good()),
        _FakeEntryPoint("import-fails", ImportError("no module named fake")),
        _FakeEntryPoint("raises", Raises()),
        _FakeEntryPoint("duplicate", Duplicate()),
        _FakeEntryPoint("misspelled", Misspelled()),
    ]
    monkeypatch.setattr(tickwork._plugin_loader.metadata, "entry_points", lambda group: fakes)
    tickwork._plugins.reset_plugins()
    try:
        names = available_plugins()
        assert names["stores"] == ["good", "memory"]
        assert names["triggers"] == ["local"]
        errors = tickwork._plugins.plugin_errors()
        assert set(errors) == {"import-fails", "raises", "duplicate", "misspelled"}
        assert "hook exploded" in errors["raises"]
        assert "memory" in errors["duplicate"]
    finally:
        monkeypatch.undo()
        tickwork._plugins.reset_plugins()
