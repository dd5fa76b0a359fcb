"""Plain-text tables for the terminal (no dependency beyond the standard library)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

from ._duration_text import duration_cell


def cell(value: Any) -> str:
    """Render one value the way a person wants to read it in a table."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, timedelta):
        return duration_cell(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    text = str(value)
    return text.replace("\n", "⏎")


def render(headers: Sequence[str], rows: Sequence[Sequence[Any]], max_width: int = 48) -> str:
    """Align ``rows`` under ``headers``; long cells are cut with an ellipsis."""
    cells = [[_clip(cell(v), max_width) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return "\n".join(lines)


def print_table(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write a table, or a short note when there is nothing to show."""
    if not rows:
        out.write("(none)\n")
        return
    out.write(render(headers, rows) + "\n")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
