"""Task executors as a plugin kind: register_executors, create_executor, the listing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tickwork import (
    LoopExecutor,
    PluginNotFoundError,
    PluginRegistrationError,
    ProcessExecutor,
    TaskCall,
    ThreadExecutor,
    available_plugins,
    create_executor,
    hookimpl,
    register_plugin,
    unregister_plugin,
)
from tickwork.cli import main
from tickwork.testing._executor_contract import sample_call


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


class InlineExecutor:
    """Calls the function right where it is awaited (a plugin's own executor)."""

    def __init__(self, **options: Any) -> None:
        self.options = options

    async def call(self, call: TaskCall, timeout: float | None) -> object:
        return call.function(*call.args, **call.kwargs)

    async def aclose(self, *, wait: bool) -> None:
        pass


def test_the_builtins_are_registered() -> None:
    assert {"loop", "process", "thread"} <= set(available_plugins()["executors"])
    assert isinstance(create_executor("loop"), LoopExecutor)
    assert isinstance(create_executor("thread", max_workers=2), ThreadExecutor)
    assert isinstance(create_executor("process", max_processes=1), ProcessExecutor)


async def test_a_plugin_executor_is_found_by_name(
    plugin: Callable[[object, str], None],
) -> None:
    class Plugin:
        @hookimpl
        def register_executors(self, register: Callable[..., None]) -> None:
            register("inline", InlineExecutor)

    plugin(Plugin(), "inline-plugin")
    assert "inline" in available_plugins()["executors"]
    executor = create_executor("inline", flavour="plain")
    assert isinstance(executor, InlineExecutor)
    assert executor.options == {"flavour": "plain"}
    assert await executor.call(sample_call("add", 1, 2), None) == 3


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(PluginNotFoundError, match="no executor named 'gpu'") as caught:
        create_executor("gpu")
    assert {"loop", "process", "thread"} <= set(caught.value.available)
    assert "loop, process, thread" in str(caught.value)
    with pytest.raises(PluginNotFoundError):
        create_executor("")


def test_a_factory_that_makes_no_executor_is_refused(
    plugin: Callable[[object, str], None],
) -> None:
    class Plugin:
        @hookimpl
        def register_executors(self, register: Callable[..., None]) -> None:
            register("broken", lambda **options: object())

    plugin(Plugin(), "broken-plugin")
    with pytest.raises(PluginRegistrationError, match=r"'broken-plugin'.*not a TaskExecutor"):
        create_executor("broken")


@pytest.mark.parametrize(
    ("name", "factory", "message"),
    [
        ("thread", InlineExecutor, "already registered by 'tickwork._builtins'"),
        ("inline", "not callable", "not callable"),
        ("", InlineExecutor, "registers a executor with name ''"),
    ],
)
def test_bad_registrations_are_refused(name: str, factory: object, message: str) -> None:
    class Plugin:
        @hookimpl
        def register_executors(self, register: Callable[..., None]) -> None:
            register(name, factory)

    with pytest.raises(PluginRegistrationError, match=message):
        register_plugin(Plugin(), "bad-executors")
    assert available_plugins()["executors"].count("thread") == 1
    assert "inline" not in available_plugins()["executors"]


def test_tickwork_plugins_lists_the_executors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert {"loop", "thread", "process"} <= {r[1] for r in rows if r and r[0] == "executor"}
    assert "executors" in out.splitlines()[-1]
