"""``--store-option KEY=VALUE`` and the configuration's ``store_options``: keyword
options for the store's constructor, typed like JSON literals, every mistake one line
naming the option (and the store) at fault (issue 16)."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tickwork
from tickwork import MemoryStore, StoreOptionError
from tickwork.cli import main, open_store, store_options
from tickwork.cli._config import ConfigError, load_config
from tickwork.cli._run import load_worker_config

#: What the recording store's constructor received, by store.
RECEIVED: list[dict[str, Any]] = []


def _recording_store(
    *, path: str = "", create: bool = True, schema: str = "", flag: bool = False, n: float = 0
) -> tickwork.Store:
    RECEIVED.append({"path": path, "create": create, "schema": schema, "flag": flag, "n": n})
    return MemoryStore()


@pytest.fixture
def recording() -> Iterator[list[dict[str, Any]]]:
    """A store named ``recording`` that keeps the options it was built with."""

    def register_stores(register: Callable[..., None]) -> None:
        register("recording", _recording_store)

    plugin = types.SimpleNamespace(register_stores=tickwork.hookimpl(register_stores))
    name = tickwork.register_plugin(plugin, "test-recording-store")
    RECEIVED.clear()
    try:
        yield RECEIVED
    finally:
        tickwork.unregister_plugin(name)


def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


# -- parsing ----------------------------------------------------------------------------


def test_values_are_typed_like_json_literals() -> None:
    options = store_options(
        ["a=true", "b=false", "c=42", "d=-1.5", "e=jobs", "f=", "g=null", "h=NaN", "i=1e3"]
    )
    assert options == {
        "a": True,
        "b": False,
        "c": 42,
        "d": -1.5,
        "e": "jobs",
        "f": "",
        "g": "null",
        "h": "NaN",
        "i": 1000.0,
    }
    assert type(options["c"]) is int


def test_a_value_may_hold_equals_signs() -> None:
    assert store_options(["dsn=a=b"]) == {"dsn": "a=b"}


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("schema", "takes KEY=VALUE"),
        ("=x", "must be an option name"),
        ("my-key=1", "'my-key'"),
        ("1st=1", "'1st'"),
    ],
)
def test_a_malformed_option_is_refused_naming_the_flag(item: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        store_options([item])
    message = str(info.value)
    assert "--store-option" in message
    assert fragment in message
    assert "\n" not in message


def test_an_option_given_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="schema is given twice"):
        store_options(["schema=a", "schema=b"])


def test_create_is_the_commands_to_set_when_reading() -> None:
    with pytest.raises(ConfigError, match="create"):
        store_options(["create=true"], reserved=True)
    assert store_options(["create=false"]) == {"create": False}


# -- reaching the store -------------------------------------------------------------------


def test_jobs_pass_options_to_the_store_before_and_after_the_action(
    recording: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["jobs", "--store", "recording", "--store-option", "schema=jobs", "add", "x"]
    argv += ["--interval", "1m", "--store-option", "flag=true", "--store-option", "n=2.5"]
    assert main(argv) == 0, capsys.readouterr().err
    assert recording == [{"path": "", "create": True, "schema": "jobs", "flag": True, "n": 2.5}]


def test_history_passes_options_and_opens_read_only(
    recording: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["history", "x", "--store", "recording", "--store-option", "n=3"]
    assert main(argv) == 1  # an empty memory store: no such job
    assert "no job 'x'" in capsys.readouterr().out
    assert recording[0]["n"] == 3
    assert recording[0]["create"] is False


def test_an_option_the_store_does_not_take_is_one_line_naming_it_and_the_store(
    recording: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    err = _error(capsys, ["jobs", "--store", "recording", "--store-option", "shema=x", "list"])
    assert "store 'recording' has no option 'shema'" in err
    assert "its options: create, flag, n, path, schema" in err
    assert "TypeError" not in err
    assert recording == []


def test_create_store_refuses_an_unknown_option_with_a_typed_error() -> None:
    with pytest.raises(StoreOptionError) as info:
        tickwork.create_store("memory", bogus=1)
    assert info.value.option == "bogus"
    assert info.value.store == "memory"
    assert isinstance(info.value, TypeError)  # what callers caught before


async def test_a_sqlite_store_receives_its_connect_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = await open_store(url, create=True, options=store_options(["connect_timeout=2.5"]))
    try:
        assert store._connect_timeout == 2.5  # type: ignore[attr-defined]
    finally:
        await store.close()


def test_the_sql_store_names_an_option_it_does_not_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    err = _error(
        capsys,
        [
            "jobs",
            "add",
            "x",
            "--interval",
            "1m",
            "--store",
            url,
            "--store-option",
            "conect_timeout=5",
        ],
    )
    assert "store 'sqlalchemy' has no option 'conect_timeout'" in err
    assert not (tmp_path / "jobs.db").exists()


def test_a_sqlite_url_with_an_unknown_query_key_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}?tiemout=5"
    err = _error(capsys, ["jobs", "add", "x", "--interval", "1m", "--store", url])
    assert "query key 'tiemout'" in err
    assert not (tmp_path / "jobs.db").exists()


def test_a_sqlite_url_with_schema_points_to_files(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, ["jobs", "--store", "sqlite:///x.db?schema=a", "list"])
    assert "?schema=" in err
    assert "database file" in err


def test_the_url_option_cannot_also_be_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["jobs", "--store", "sqlite:///x.db", "--store-option", "url=sqlite://", "list"]
    err = _error(capsys, argv)
    assert "option 'url' is given by the URL already" in err


def test_migrate_takes_options_for_each_end(
    recording: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["migrate", "recording", "memory", "--source-option", "schema=a"]
    assert main(argv) == 0, capsys.readouterr().err
    assert recording[0]["schema"] == "a"
    assert recording[0]["create"] is False
    err = _error(capsys, ["migrate", "recording", "memory", "--dest-option", "schema=b"])
    assert "store 'memory' has no option 'schema'" in err
    err = _error(capsys, ["migrate", "recording", "memory", "--source-option", "create=true"])
    assert "--source-option create" in err


# -- tickwork run and the configuration file ----------------------------------------------


def _config(tmp_path: Path, options: str) -> Path:
    path = tmp_path / "worker.toml"
    text = '[scheduler]\nhandler = "os:getcwd"\nstore = "recording"\n' + options
    path.write_text(text, encoding="utf-8")
    return path


def test_run_adds_flags_to_the_files_store_options(tmp_path: Path) -> None:
    path = _config(tmp_path, '[scheduler.store_options]\nschema = "a"\nn = 1\n')
    assert load_config(path).store_options == {"schema": "a", "n": 1}
    config = load_worker_config(path, None, None, "memory", store_options={"n": 2})
    assert config.store_options == {"schema": "a", "n": 2}
    alone = load_worker_config(None, "os:getcwd", "recording", "memory", {"flag": True})
    assert alone.store_options == {"flag": True}


def test_a_config_option_name_must_be_an_identifier(tmp_path: Path) -> None:
    path = _config(tmp_path, '[scheduler.store_options]\n"my-schema" = "a"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "scheduler.store_options: 'my-schema' is not an option name" in str(info.value)


def test_a_config_option_the_store_does_not_take_stops_run_before_it_starts(
    tmp_path: Path, recording: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, "[scheduler.store_options]\nshema = 'a'\n")
    err = _error(capsys, ["run", "--config", str(path)])
    assert "store 'recording' has no option 'shema'" in err
    assert recording == []
