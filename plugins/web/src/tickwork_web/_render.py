"""The pages' templates and the small helpers they use.

Autoescaping is on for every template (not only ``.html`` ones), and no helper here
returns markup: charts are computed as numbers and drawn by the templates, so a job id
or an error text can only ever reach a page escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

__all__ = ["chart_bars", "make_environment"]

STATUS_CLASSES = {
    "completed": "ok",
    "running": "run",
    "pending": "idle",
    "failed": "bad",
    "timed_out": "bad",
    "rescheduling_failed": "bad",
    "missed": "warn",
    "coalesced": "muted",
    "skipped_overlap": "muted",
    "paused": "muted",
    "disabled": "muted",
    "dst_skipped": "muted",
    "task_missing": "warn",
    "schedule_ended": "muted",
}


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tickwork_web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        ago=ago,
        seconds=seconds,
        job_url=job_url,
        tone=lambda status: STATUS_CLASSES.get(str(status), "muted"),
    )
    env.globals.update(chart_bars=chart_bars, with_params=with_params)
    return env


def when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return when(parsed) if parsed.tzinfo is not None else value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "in 5m" or "3h ago"."""
    if value is None:
        return ""
    delta = (value - (now or datetime.now(UTC))).total_seconds()
    text = _short(abs(delta))
    return f"in {text}" if delta >= 0 else f"{text} ago"


def _short(secs: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs / size:.0f}{unit}"
    return f"{secs:.0f}s"


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    if abs(value) < 120:
        return f"{value:.1f} s"
    return _short(abs(value)) if value >= 0 else "-" + _short(abs(value))


def job_url(job_id: str, suffix: str = "") -> str:
    """The job's page (every character of the id percent-encoded, ``/`` too)."""
    return "/jobs/" + quote(job_id, safe="") + suffix


def with_params(params: dict[str, Any], **changes: Any) -> str:
    """The query string ``params`` would have with ``changes`` (None drops a key)."""
    merged = {**params, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def chart_bars(values: list[float | None], width: int = 120, height: int = 28) -> dict[str, Any]:
    """Bars for a lateness chart: one per run, height relative to the largest lateness
    (a run with no tick recorded gets no bar)."""
    known = [v for v in values if v is not None]
    top = max([*known, 0.001])
    count = max(len(values), 1)
    step = width / count
    bars = []
    for i, value in enumerate(values):
        if value is None:
            continue
        h = max(1.0, height * max(value, 0.0) / top)
        bars.append(
            {
                "x": round(i * step + 0.5, 2),
                "y": round(height - h, 2),
                "w": round(max(step - 1, 1), 2),
                "h": round(h, 2),
                "late": value >= 1.0,
                "label": seconds(value),
            }
        )
    return {"width": width, "height": height, "bars": bars, "max": seconds(max(known or [0.0]))}
