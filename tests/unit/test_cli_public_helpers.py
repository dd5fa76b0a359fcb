"""The store helpers ``tickwork.cli`` makes public for a plugin's command
(``register_commands``): so that ``tickwork web`` and any third-party command name,
configure and open a store exactly as the built-in commands do."""

from __future__ import annotations

from pathlib import Path

import pytest

import tickwork.cli
from tickwork import StoreNotFoundError, TickworkError
from tickwork.cli import open_store, store_arg, store_options


def test_the_helpers_are_public_names_of_the_package() -> None:
    assert {"main", "open_store", "store_arg", "store_options"} <= set(tickwork.cli.__all__)
    for name in tickwork.cli.__all__:
        assert getattr(tickwork.cli, name).__doc__, name


def test_store_arg_takes_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKWORK_STORE", "memory://")
    assert store_arg("sqlite:///jobs.db") == "sqlite:///jobs.db"
    assert store_arg(None) == "memory://"
    monkeypatch.delenv("TICKWORK_STORE")
    assert store_arg(None).startswith("sqlite:///")  # the demo's file


def test_store_options_are_typed_and_create_is_the_commands_to_decide() -> None:
    assert store_options(["schema=jobs", "echo=true", "pool_size=5"]) == {
        "schema": "jobs",
        "echo": True,
        "pool_size": 5,
    }
    with pytest.raises(TickworkError, match="--store-option create"):
        store_options(["create=true"], reserved=True)


async def test_open_store_for_reading_never_creates(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with pytest.raises(StoreNotFoundError):
        await open_store(f"sqlite:///{path}", create=False)
    assert not path.exists()
    store = await open_store(f"sqlite:///{path}", create=True)
    try:
        assert path.exists()
    finally:
        await store.close()
    again = await open_store(f"sqlite:///{path}", create=False)
    await again.close()
