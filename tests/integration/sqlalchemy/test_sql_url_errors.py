"""A database URL the SQL store cannot use is a ``StoreURLError`` (a ``TickworkError``
and a ``ValueError``) at construction, naming the forms that work and never showing the
password; nothing connects (issue 16)."""

from __future__ import annotations

import pytest

import tickwork
from tickwork import StoreURLError
from tickwork_sqlalchemy_store import SQLAlchemyStore


def _refused(url: str) -> str:
    with pytest.raises(StoreURLError) as info:
        tickwork.create_store(url)
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_a_blocking_driver_names_the_forms_that_work() -> None:
    text = _refused("postgresql+psycopg2://app:s3cret@127.0.0.1/test")
    assert "'postgresql+psycopg2' is a blocking driver" in text
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in text
    assert "sqlite:///relative/path.db" in text
    assert "s3cret" not in text


def test_an_at_sign_in_a_password_hints_at_url_encoding() -> None:
    text = _refused("postgresql://app:p@ss@127.0.0.1:5432/test")
    assert "%40" in text
    assert "'127.0.0.1'" in text
    assert "ss@" not in text  # the password's tail stays out of the message


def test_an_encoded_at_sign_is_taken() -> None:
    store = SQLAlchemyStore("postgresql://app:p%40ss@127.0.0.1:5432/test")
    assert store.url.password == "p@ss"
    assert store.url.host == "127.0.0.1"


def test_a_sqlite_url_with_two_slashes_is_not_an_empty_memory_database() -> None:
    """``sqlite://jobs.db`` parses, with ``jobs.db`` as a host SQLite ignores: the store
    would silently be an in-memory database that loses every job."""
    text = _refused("sqlite://jobs.db")
    assert "sqlite:///jobs.db" in text


def test_an_unknown_backend_names_the_forms() -> None:
    text = _refused("sqlite+nosuchdriver:///jobs.db")
    assert "sqlite:///relative/path.db" in text


def test_a_sqlite_store_declares_its_id_limit() -> None:
    store = SQLAlchemyStore("sqlite://")
    assert isinstance(store, tickwork.abc.IdLimitedStore)
    assert store.max_id_length == 255
    assert store.id_too_long("x" * 255) is None
    assert store.id_too_long("x" * 256) == (
        "the SQL store holds ids of at most 255 characters, it has 256"
    )
