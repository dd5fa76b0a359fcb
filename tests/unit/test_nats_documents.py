"""The JSON documents the NATS store keeps in its KV buckets (pure: no server needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import ExecutionRecord, InvalidJobDataError, JobData, JobStatus
from tickwork_nats_store._documents import (
    decode_execution,
    decode_index,
    decode_job,
    encode_execution,
    encode_index,
    encode_job,
    format_time,
    parse_time,
)

texts = st.text(alphabet=st.characters(exclude_categories=()))
times = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
statuses = st.sampled_from(list(JobStatus))
metadata = st.dictionaries(texts, texts, max_size=4)


@st.composite
def jobs(draw: st.DrawFn) -> JobData:
    return JobData(
        id=draw(texts.filter(bool)),
        schedule_type=draw(texts.filter(bool)),
        schedule_config=draw(texts),
        status=draw(statuses),
        next_run=draw(st.none() | times),
        last_run=draw(st.none() | times),
        created_at=draw(times),
        updated_at=draw(times),
        metadata=draw(metadata),
    )


@st.composite
def records(draw: st.DrawFn) -> ExecutionRecord:
    return ExecutionRecord(
        job_id=draw(texts.filter(bool)),
        execution_id=draw(texts.filter(bool)),
        start_time=draw(times),
        end_time=draw(times),
        duration=draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650))),
        status=draw(statuses),
        error=draw(st.none() | texts),
        metadata=draw(metadata),
    )


@given(jobs())
def test_job_round_trip(job: JobData) -> None:
    raw = encode_job(job)
    raw.decode("utf-8")  # always valid UTF-8, even with lone surrogates in the data
    assert decode_job(raw) == job


@given(records())
def test_execution_round_trip(record: ExecutionRecord) -> None:
    raw = encode_execution(record)
    raw.decode("utf-8")
    assert decode_execution(raw) == record


@given(texts.filter(bool))
def test_index_round_trip(job_id: str) -> None:
    assert decode_index(encode_index(job_id)) == job_id


@given(times)
def test_times_are_rfc3339_utc_with_microseconds(value: datetime) -> None:
    text = format_time(value)
    assert text.endswith("Z")
    assert len(text.split(".")[1]) == 7  # six digits and the Z
    assert parse_time(text) == value
    assert parse_time(text).tzinfo is UTC


@given(times)
def test_the_written_form_and_any_other_form_read_alike(value: datetime) -> None:
    """What format_time writes is read by a fast path; the same moment written with an
    offset, or with a lower-case ``t``/``z``, goes through the general parser."""
    text = format_time(value)
    other_forms = [text[:-1] + "+00:00", text.replace("T", "t"), text[:-1] + "z"]
    for other in other_forms:
        assert parse_time(other) == parse_time(text) == value
        assert parse_time(other).tzinfo is parse_time(text).tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T12:00:60.000000Z",
        "2026-13-07T12:00:00.000000Z",
        "2026-12-07T12:00",
        "\uff12026-12-07T12:00:00.000000Z",  # a full-width digit: RFC 3339 digits are 0-9
        "2026-12-07T12:00:00.00000\uff10Z",
    ],
)
def test_an_impossible_or_non_ascii_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_documented_format() -> None:
    record = ExecutionRecord(
        job_id="report",
        execution_id="e1",
        start_time=datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        end_time=datetime(2025, 1, 2, 3, 4, 6, 123463, tzinfo=UTC),
        duration=timedelta(seconds=1, microseconds=7),
        status=JobStatus.COMPLETED,
    )
    assert json.loads(encode_execution(record)) == {
        "v": 1,
        "job_id": "report",
        "execution_id": "e1",
        "start_time": "2025-01-02T03:04:05.123456Z",
        "end_time": "2025-01-02T03:04:06.123463Z",
        "duration": 1_000_007_000,
        "status": "completed",
        "error": None,
        "metadata": {},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-10-02T15:04:05Z", datetime(2025, 10, 2, 15, 4, 5, tzinfo=UTC)),
        ("2025-10-02T15:04:05.123456789Z", datetime(2025, 10, 2, 15, 4, 5, 123456, tzinfo=UTC)),
        ("2025-10-02T17:04:05.5+02:00", datetime(2025, 10, 2, 15, 4, 5, 500000, tzinfo=UTC)),
        ("2025-10-02t15:04:05z", datetime(2025, 10, 2, 15, 4, 5, tzinfo=UTC)),
    ],
)
def test_parse_time_accepts_rfc3339_variants(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"v": 2, "id": "x"}',
        b'{"v": 1, "id": ""}',
        b'{"v": 1, "id": "x", "schedule_type": "interval", "schedule_config": "5m0s",'
        b' "status": "weird", "created_at": "2025-01-01T00:00:00Z",'
        b' "updated_at": "2025-01-01T00:00:00Z"}',
        b'{"v": 1, "id": "x", "schedule_type": "interval", "schedule_config": "5m0s",'
        b' "status": "pending", "created_at": "yesterday", "updated_at": "2025-01-01T00:00:00Z"}',
        b'{"v": 1, "id": "x", "schedule_type": "interval", "schedule_config": "5m0s",'
        b' "status": "pending", "created_at": "2025-01-01T00:00:00Z",'
        b' "updated_at": "2025-01-01T00:00:00Z", "metadata": {"a": 1}}',
        None,
    ],
)
def test_corrupt_job_documents_raise_invalid_job_data(raw: bytes | None) -> None:
    with pytest.raises(InvalidJobDataError):
        decode_job(raw, "job at key 'x'")


def test_corrupt_execution_duration_raises() -> None:
    raw = encode_execution(
        ExecutionRecord(
            job_id="j",
            execution_id="e",
            start_time=datetime(2025, 1, 1, tzinfo=UTC),
            end_time=datetime(2025, 1, 1, tzinfo=UTC),
        )
    ).replace(b'"duration":0', b'"duration":"1s"')
    with pytest.raises(InvalidJobDataError, match="duration"):
        decode_execution(raw)
