"""One call of a task, as an executor receives it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._run_context import RunContext

__all__ = ["TaskCall"]


@attrs.frozen(kw_only=True)
class TaskCall:
    """Everything an executor needs to run one attempt of a task.

    ``function`` is the registered callable, for executors that call it in this
    process; ``import_path`` (``"module:qualname"``) names it for executors that run it
    elsewhere (a child process imports it by that name). ``args`` and ``kwargs`` are
    the decoded arguments; ``arguments`` is their stored JSON text (``None`` when there
    are none), which an executor sends elsewhere as it is, so nothing is ever pickled.
    """

    task: str
    function: Callable[..., Any]
    import_path: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)
    arguments: str | None = None
    context: RunContext
