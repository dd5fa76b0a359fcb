"""The API's OpenAPI 3 description, written as data (a test checks that every API
route is in it, with its methods)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_STATUSES = [
    "pending",
    "running",
    "completed",
    "failed",
    "rescheduling_failed",
    "disabled",
]
_TIME = {"type": ["string", "null"], "format": "date-time"}
_SECONDS = {"type": ["number", "null"], "description": "seconds"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_PAGING = [
    _query("limit", "page size (0 to 1000, default 50)", {"type": "integer"}),
    _query("offset", "rows to skip", {"type": "integer"}),
]
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "the job id, percent-encoded ('/' as %2F or as is)",
    "schema": {"type": "string"},
}
_ERRORS = {
    code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for code, text in (
        ("400", "bad input: the message names the parameter"),
        ("404", "no such job"),
        ("503", "store unavailable"),
    )
}
_WRITE_ERRORS = {
    **_ERRORS,
    "401": {"description": "no or wrong bearer token", "content": {}},
    "403": {"description": "the app is read-only (no token set)", "content": {}},
    "409": {"description": "the scheduler is not running", "content": {}},
}


def _ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _read(summary: str, schema: dict[str, Any], params: list[Any] | None = None) -> Any:
    return {
        "summary": summary,
        "parameters": params or [],
        "responses": {"200": _ok(schema), **_ERRORS},
    }


def _write(summary: str, body: dict[str, Any] | None = None) -> Any:
    operation: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}],
        "parameters": [_JOB_ID],
        "responses": {"200": _ok(_ref("ActionOutcome")), **_WRITE_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": _STATUSES},
            "task": {"type": ["string", "null"]},
            "schedule_type": {"type": "string"},
            "schedule_config": {"type": "string"},
            "next_run": _TIME,
            "last_run": _TIME,
            "quarantined": {"type": ["string", "null"], "description": "why it cannot run"},
            "last_outcome": {"type": ["string", "null"]},
            "lateness": {"type": "array", "items": _SECONDS},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Record": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "execution_id": {"type": "string"},
            "status": {"type": "string"},
            "start_time": _TIME,
            "end_time": _TIME,
            "duration": _SECONDS,
            "error": {"type": ["string", "null"]},
            "scheduled_at": {"type": ["string", "null"]},
            "lateness": _SECONDS,
            "manual": {"type": "boolean"},
        },
    },
    "Options": {
        "type": "object",
        "properties": {
            "misfire_grace_time": _SECONDS,
            "catch_up": {"type": "string", "enum": ["latest", "earliest", "all"]},
            "max_catch_up": {"type": "integer"},
            "overlap": {
                "type": "string",
                "enum": ["skip", "queue_one", "allow", "cancel_running"],
            },
            "max_instances": {"type": "integer"},
            "timeout": _SECONDS,
            "retry": {"type": ["integer", "null"], "description": "attempts in all"},
            "jitter": _SECONDS,
        },
    },
    "ActionOutcome": {
        "type": "object",
        "properties": {
            "job_id": {"type": "string"},
            "status": {"type": "string"},
            "changed": {"type": "boolean"},
            "execution_id": {"type": ["string", "null"]},
            "started": {"type": "boolean"},
            "removed": {"type": "boolean"},
        },
    },
}


def _job_page() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "jobs": {"type": "array", "items": _ref("Job")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


def _record_page() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "records": {"type": "array", "items": _ref("Record")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    }


def _paths() -> dict[str, Any]:
    job = "/api/jobs/{job_id}"
    jobs_params = [
        _query("search", "a part of the job id (case-insensitive)"),
        _query("status", "a job status", {"type": "string", "enum": _STATUSES}),
        _query("task", "the task's name"),
        _query("sort", "id, status, next_run, last_run, created_at or updated_at"),
        _query("desc", "true: descending", {"type": "boolean"}),
        *_PAGING,
    ]
    record_params = [
        _query("job_id", "one job's records (default: every job's)"),
        _query("status", "an outcome: completed, failed, missed, ..."),
        _query("since", "start_time at or after (ISO 8601 with a zone)"),
        _query("until", "start_time before (ISO 8601 with a zone)"),
        _query("sort", "start_time, end_time or duration"),
        _query("desc", "false: oldest first (default true)", {"type": "boolean"}),
        *_PAGING,
    ]
    detail = {"allOf": [_ref("Job")], "description": "with schedule, next_runs, options"}
    return {
        "/api/openapi.json": {"get": _read("this description", {"type": "object"})},
        "/api/overview": {"get": _read("jobs by status, last hour's runs", {"type": "object"})},
        "/api/jobs": {"get": _read("one page of jobs", _job_page(), jobs_params)},
        "/api/executions": {"get": _read("one page of records", _record_page(), record_params)},
        "/api/plugins": {"get": _read("registered plugins and failures", {"type": "object"})},
        "/api/events": {
            "get": {
                "summary": "the scheduler's events as Server-Sent Events (204 without one)",
                "responses": {"200": {"description": "text/event-stream"}, "204": {}},
            }
        },
        job: {
            "get": {**_read("one job", detail), "parameters": [_JOB_ID]},
            "delete": _write("remove the job (its history stays)"),
        },
        job + "/pause": {"post": _write("pause the job")},
        job + "/resume": {"post": _write("resume the job")},
        job + "/run": {"post": _write("run now (a scheduler), or make due now (a store)")},
        job + "/schedule": {
            "put": _write(
                "change the schedule",
                {
                    "type": "object",
                    "required": ["schedule"],
                    "properties": {
                        "schedule": {"type": "string", "description": "cron or TYPE:CONFIG"},
                        "timezone": {"type": "string", "description": "for a cron expression"},
                    },
                },
            )
        },
        job + "/options": {"patch": _write("change run policies", _ref("Options"))},
    }


def openapi_document(title: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} API",
            "version": "1",
            "description": "Reads need nothing; changes need the bearer token.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
