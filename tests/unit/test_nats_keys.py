"""Properties of the NATS store's id-to-key encoding (pure: no server needed).

An id of any shape must become a valid KV key token that round-trips, and a key filter
built from one id must never match the keys of another (no wildcard, no collision).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from nats.js.kv import _is_key_valid

from tickwork.testing import TRICKY_JOB_IDS
from tickwork_nats_store import _keys as keys
from tickwork_nats_store import decode_id, encode_id

# Any Python text, lone surrogates included (a str may hold them); 100 characters of
# up to 4 UTF-8 bytes each stay below the length limit.
ids = st.text(alphabet=st.characters(exclude_categories=()), min_size=1, max_size=100)
KV_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(p) == len(s)


@given(ids)
@example("\ud800")
@example("=")
@example("..")
def test_round_trip(value: str) -> None:
    assert decode_id(encode_id(value)) == value


@given(ids)
def test_a_token_uses_the_safe_alphabet_only(value: str) -> None:
    token = encode_id(value)
    assert token
    assert set(token) <= keys.SAFE_CHARS | {keys.ESCAPE}
    for wildcard_or_separator in "*>./ ":
        assert wildcard_or_separator not in token


@given(ids, ids)
def test_keys_are_valid_kv_keys(job_id: str, execution_id: str) -> None:
    for key in (
        keys.job_key(job_id),
        keys.record_key(job_id, execution_id),
        keys.index_key(execution_id),
    ):
        assert KV_KEY.fullmatch(key)
        assert _is_key_valid(key)  # nats-py's own check
        assert not key.startswith(".")
        assert not key.endswith(".")
        assert ".." not in key


@given(ids, ids)
def test_encoding_is_injective(a: str, b: str) -> None:
    if a != b:
        assert encode_id(a) != encode_id(b)


@given(ids, ids, ids)
@example("a", "a.b", "e")
@example("a", "a.*", "e")
@example("a.b", "a", "e")
@example("*", "x", "e")
@example(">", "x", "e")
def test_one_jobs_filter_never_matches_another_jobs_records(a: str, b: str, e: str) -> None:
    assert subject_matches(keys.job_records_filter(a), keys.record_key(a, e))
    if a != b:
        assert not subject_matches(keys.job_records_filter(a), keys.record_key(b, e))
        assert keys.job_key(a) != keys.job_key(b)
    # The record filters never reach the index, and the job filter only single tokens.
    assert not subject_matches(keys.all_records_filter(), keys.index_key(e))
    assert subject_matches(keys.all_records_filter(), keys.record_key(a, e))
    assert subject_matches(keys.all_jobs_filter(), keys.job_key(a))


@given(ids, ids)
def test_record_keys_split_back(job_id: str, execution_id: str) -> None:
    assert keys.split_record_key(keys.record_key(job_id, execution_id)) == (job_id, execution_id)


@given(st.text(alphabet="AZaz09-_=0123456789ABCDEFabcdef", min_size=1))
def test_decode_accepts_only_canonical_tokens(token: str) -> None:
    try:
        value = decode_id(token)
    except ValueError:
        return
    assert encode_id(value) == token


def test_plain_ids_stay_readable() -> None:
    assert encode_id("report-daily_2") == "report-daily_2"
    assert encode_id("a.b c") == "a=2Eb=20c"
    assert encode_id("é") == "=C3=A9"
    assert encode_id("=") == "=3D"


@pytest.mark.parametrize("job_id", TRICKY_JOB_IDS)
def test_tricky_ids(job_id: str) -> None:
    assert decode_id(encode_id(job_id)) == job_id
    assert _is_key_valid(keys.record_key(job_id, job_id))


@pytest.mark.parametrize(
    "token",
    ["", "=41", "=c3=a9", "=4", "=", "=ZZ", "a.b", "a*", "=FF", "=C3", "a b", "é"],
)
def test_malformed_tokens_are_rejected(token: str) -> None:
    with pytest.raises(ValueError):
        decode_id(token)


@pytest.mark.parametrize("bad", ["", None, 3])
def test_only_non_empty_strings_encode(bad: object) -> None:
    with pytest.raises(ValueError):
        encode_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["idx.abc", "rec.a", "rec.a.b.c", "job", "rec.a.=ZZ"])
def test_split_rejects_other_keys(key: str) -> None:
    with pytest.raises(ValueError):
        keys.split_record_key(key)


def test_length_limit() -> None:
    assert encode_id("x" * keys.MAX_TOKEN_LENGTH) == "x" * keys.MAX_TOKEN_LENGTH
    with pytest.raises(keys.IdTooLongError, match="too long"):
        encode_id("x" * (keys.MAX_TOKEN_LENGTH + 1))
    with pytest.raises(ValueError):
        encode_id("日" * 200)  # 200 characters, 600 bytes, 1800 token characters
    with pytest.raises(ValueError):
        decode_id("x" * (keys.MAX_TOKEN_LENGTH + 1))
