"""What a new user meets when installing: the demo without the SQL store, the driver
extras, and package pages that stand on their own on a package index."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import tickwork
from tickwork.cli import main
from tickwork_sqlalchemy_store import MissingDriverError
from tickwork_sqlalchemy_store._drivers import require_driver

ROOT = Path(__file__).resolve().parents[2]
# Every distribution of the workspace, by folder. tickwork-holidays is left out while
# its README is still being written by the engineer who owns that plugin.
DISTRIBUTIONS = {
    "tickwork": ROOT / "core",
    "tickwork-sqlalchemy-store": ROOT / "plugins" / "sqlalchemy_store",
    "tickwork-nats-store": ROOT / "plugins" / "nats_store",
    "tickwork-nats-trigger": ROOT / "plugins" / "nats_trigger",
    "tickwork-otel": ROOT / "plugins" / "otel",
    "tickwork-rrule": ROOT / "examples" / "rrule_codec",
}


@pytest.fixture
def in_empty_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty directory with no store chosen; plugins load again after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TICKWORK_STORE", raising=False)
    tickwork._plugins.reset_plugins()
    try:
        yield tmp_path
    finally:
        monkeypatch.undo()
        tickwork._plugins.reset_plugins()


def test_the_demo_with_only_the_core_runs_in_memory(
    in_empty_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TICKWORK_PLUGINS", "")  # what an install of the core alone loads
    assert main(["demo", "--seconds", "1.2"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("tickwork demo: no SQL store is installed")
    assert "pip install tickwork-sqlalchemy-store" in out
    assert re.search(r"heartbeat\s+completed", out)
    assert "Jobs in memory:" in out
    assert list(in_empty_dir.iterdir()) == []  # no file was created


def test_the_demo_with_the_sql_store_keeps_its_file(
    in_empty_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--seconds", "1.2"]) == 0
    out = capsys.readouterr().out
    assert "in memory" not in out
    assert "store sqlite:///tickwork-demo.db" in out
    assert (in_empty_dir / "tickwork-demo.db").is_file()


def test_a_named_store_that_is_not_installed_is_an_error(
    in_empty_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the demo's own default falls back: a store the user asked for is used or
    refused, never swapped silently."""
    monkeypatch.setenv("TICKWORK_PLUGINS", "")
    assert main(["demo", "--store", "sqlite:///mine.db", "--seconds", "1"]) == 1
    assert "pip install tickwork-sqlalchemy-store" in capsys.readouterr().err
    assert list(in_empty_dir.iterdir()) == []


def test_a_missing_driver_names_its_extra() -> None:
    with pytest.raises(MissingDriverError) as caught:
        require_driver("no_such_driver_for_tickwork", "PostgreSQL at db:5432")
    assert str(caught.value) == (
        "PostgreSQL at db:5432 needs the no_such_driver_for_tickwork driver, which is not "
        "installed: pip install no_such_driver_for_tickwork"
    )
    assert isinstance(caught.value, tickwork.TickworkError)
    assert isinstance(caught.value, ImportError)
    assert "pip install 'tickwork-sqlalchemy-store[postgresql]'" in str(
        MissingDriverError("asyncpg", "PostgreSQL at db:5432")
    )
    assert "[mysql]" in str(MissingDriverError("aiomysql", "MySQL at db:3306"))
    require_driver("aiosqlite", "SQLite")  # installed with the store itself


def test_a_server_url_without_its_store_names_the_extra(
    in_empty_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKWORK_PLUGINS", "")
    with pytest.raises(tickwork.PluginNotFoundError, match=r"store\[postgresql\]"):
        tickwork.create_store("postgres://app@db/app")
    with pytest.raises(tickwork.PluginNotFoundError, match=r"store\[mysql\]"):
        tickwork.create_store("mariadb://app@db/app")
    with pytest.raises(tickwork.PluginNotFoundError, match=r"sqlalchemy-store$"):
        tickwork.create_store("sqlite:///jobs.db")


def test_sql_drivers_are_extras() -> None:
    project = tomllib.loads(
        (DISTRIBUTIONS["tickwork-sqlalchemy-store"] / "pyproject.toml").read_text()
    )
    base = " ".join(project["project"]["dependencies"])
    assert "asyncpg" not in base
    assert "aiomysql" not in base
    extras = project["project"]["optional-dependencies"]
    assert [d.split(">")[0] for d in extras["postgresql"]] == ["asyncpg"]
    assert [d.split(">")[0] for d in extras["mysql"]] == ["aiomysql"]


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_each_readme_is_a_package_page(name: str) -> None:
    """The README is the page a package index shows: it names the distribution, says
    how to install it, and links nothing that exists only in the source tree."""
    folder = DISTRIBUTIONS[name]
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    assert project["name"] == name
    readme = (folder / project["readme"]).read_text()
    assert readme.startswith(f"# {name}\n")
    assert f"pip install {name}" in readme or f"pip install '{name}" in readme
    assert "```python" in readme  # shows how to use it
    assert len(readme.split()) > 120, f"{name}'s README is a stub"
    relative = [t for t in re.findall(r"\]\(([^)]+)\)", readme) if "://" not in t]
    assert relative == [], f"{name}'s README links files a pip user does not have"
