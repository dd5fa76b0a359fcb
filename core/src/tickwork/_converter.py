"""JSON-ready (de)serialisation of the data model, the cattrs way.

``make_converter()`` returns a :class:`cattrs.Converter` that turns ``JobData``,
``ExecutionRecord`` and the other attrs classes into plain dicts of JSON types and
back: datetimes as RFC 3339 UTC strings (Go's ``RFC3339Nano`` style, as the reference
writes them), durations as whole nanoseconds (the reference's unit), statuses as their
text. ``configure_converter`` adds those hooks to a converter of your own. Stores that
keep documents, exports (``tickwork jobs list --json``) and tests use it, so every JSON
form of a job or a record is the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

import cattrs

from ._codecs import format_rfc3339, parse_rfc3339
from ._models import ExecutionRecord, ExecutionStatus, JobData, JobStatus, to_execution_status
from ._timeutil import from_nanoseconds, to_nanoseconds

__all__ = ["configure_converter", "make_converter", "structure", "unstructure"]

T = TypeVar("T")


def _structure_datetime(value: Any, _type: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 string, got {value!r}")
    return parse_rfc3339(value)


def _structure_timedelta(value: Any, _type: Any) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a duration in whole nanoseconds, got {value!r}")
    return from_nanoseconds(value)


def _structure_run_status(value: Any, _type: Any) -> JobStatus | ExecutionStatus:
    return to_execution_status(str(value))


def configure_converter(converter: cattrs.Converter) -> None:
    """Teach ``converter`` the JSON forms of tickwork's times, durations and statuses."""
    converter.register_unstructure_hook(datetime, format_rfc3339)
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(timedelta, to_nanoseconds)
    converter.register_structure_hook(timedelta, _structure_timedelta)
    converter.register_unstructure_hook(JobStatus, lambda s: s.value)
    converter.register_unstructure_hook(ExecutionStatus, lambda s: s.value)
    converter.register_structure_hook(JobStatus, lambda v, _t: JobStatus(str(v)))
    converter.register_structure_hook(
        JobStatus | ExecutionStatus,
        _structure_run_status,
    )


def make_converter() -> cattrs.Converter:
    """A converter for tickwork's data model (see the module docs)."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    configure_converter(converter)
    return converter


_CONVERTER = make_converter()


def unstructure(value: JobData | ExecutionRecord | Any) -> Any:
    """``value`` as plain JSON types."""
    return _CONVERTER.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    """Rebuild a ``cls`` from :func:`unstructure`'s output.

    :raises cattrs.BaseValidationError: ``data`` does not fit ``cls``.
    """
    return _CONVERTER.structure(data, cls)
