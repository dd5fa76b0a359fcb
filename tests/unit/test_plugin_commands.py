"""Plugins add ``tickwork`` subcommands with ``register_commands``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import pytest

from tickwork import PluginRegistrationError, hookimpl, register_plugin, unregister_plugin
from tickwork.abc import Command
from tickwork.cli import main


class Greet:
    name = "greet"
    help = "greet someone"

    def __init__(self) -> None:
        self.calls: list[argparse.Namespace] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--who", default="world")
        parser.add_argument("--fail", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        self.calls.append(args)
        if args.fail:
            raise ValueError("greet: --who must be someone")
        return 7


@pytest.fixture
def greet() -> Iterator[Greet]:
    command = Greet()

    class Plugin:
        @hookimpl
        def register_commands(self, register: Callable[..., None]) -> None:
            register(command)

    name = register_plugin(Plugin(), "test-commands")
    try:
        yield command
    finally:
        unregister_plugin(name)


def test_register_commands(greet: Greet, capsys: pytest.CaptureFixture[str]) -> None:
    """The command is a subcommand: parsed, run outside a loop, its status returned."""
    assert isinstance(greet, Command)
    assert main(["greet", "--who", "you"]) == 7
    assert greet.calls[0].who == "you"
    assert main(["greet", "--fail"]) == 1
    assert "tickwork greet: error: greet: --who must be someone" in capsys.readouterr().err


def test_command_is_listed_in_help(greet: Greet, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "greet someone" in capsys.readouterr().out


def test_unregistered_command_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["greet"])
    assert "invalid choice: 'greet'" in capsys.readouterr().err


def _plugin_of(*commands: object) -> object:
    class Plugin:
        @hookimpl
        def register_commands(self, register: Callable[..., None]) -> None:
            for command in commands:
                register(command)

    return Plugin()


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        ((Greet(), Greet()), "registers command 'greet', already registered by 'bad'"),
        ((type("Jobs", (Greet,), {"name": "jobs"})(),), "a built-in tickwork command"),
        ((object(),), "is not a Command"),
        ((type("Empty", (Greet,), {"name": ""})(),), "registers a command with name ''"),
    ],
    ids=["duplicate", "built-in", "not-a-command", "empty-name"],
)
def test_bad_commands_are_refused_naming_the_plugin(
    commands: tuple[object, ...], message: str
) -> None:
    with pytest.raises(PluginRegistrationError, match=message):
        register_plugin(_plugin_of(*commands), "bad")
    with pytest.raises(SystemExit):
        main(["greet"])  # nothing of the refused plugin stays registered
