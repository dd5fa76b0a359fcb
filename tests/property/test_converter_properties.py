"""The cattrs converter: every job and record survives a trip through JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickwork import ExecutionRecord, ExecutionStatus, JobData, JobStatus
from tickwork._converter import make_converter, structure, unstructure

times = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
)
text = st.text(min_size=1, max_size=30)
meta = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=4)

jobs = st.builds(
    JobData,
    id=text,
    schedule_type=text,
    schedule_config=st.text(max_size=40),
    status=st.sampled_from(list(JobStatus)),
    next_run=st.none() | times,
    last_run=st.none() | times,
    created_at=times,
    updated_at=times,
    metadata=meta,
)
records = st.builds(
    ExecutionRecord,
    job_id=text,
    execution_id=text,
    start_time=times,
    end_time=times,
    duration=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3000)),
    status=st.sampled_from([*JobStatus, *ExecutionStatus]),
    error=st.none() | st.text(max_size=40),
    metadata=meta,
)


@given(jobs)
def test_job_round_trips_through_json(job: JobData) -> None:
    data = json.loads(json.dumps(unstructure(job)))
    assert structure(data, JobData) == job


@given(records)
def test_record_round_trips_through_json(record: ExecutionRecord) -> None:
    data = json.loads(json.dumps(unstructure(record)))
    back = structure(data, ExecutionRecord)
    assert back == record
    assert type(back.status) is type(record.status) or back.status == record.status


def test_json_form_matches_the_reference_units() -> None:
    record = ExecutionRecord(
        job_id="j",
        execution_id="e",
        start_time=datetime(2025, 10, 2, 15, 4, 5, 123456, tzinfo=UTC),
        end_time=datetime(2025, 10, 2, 15, 4, 6, tzinfo=UTC),
        duration=timedelta(milliseconds=876, microseconds=544),
        status=ExecutionStatus.MISSED,
    )
    data = unstructure(record)
    assert data["start_time"] == "2025-10-02T15:04:05.123456Z"
    assert data["end_time"] == "2025-10-02T15:04:06Z"
    assert data["duration"] == 876_544_000
    assert data["status"] == "missed"


def test_bad_documents_are_refused() -> None:
    good = unstructure(JobData(id="j", schedule_type="once", schedule_config="x"))
    with pytest.raises(cattrs.BaseValidationError):
        structure({**good, "next_run": 12}, JobData)
    with pytest.raises(cattrs.BaseValidationError):
        structure({**good, "colour": "blue"}, JobData)
    assert isinstance(make_converter(), cattrs.Converter)
