"""The built-in task executors keep the TaskExecutor contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tickwork import LoopExecutor, ProcessExecutor, ThreadExecutor
from tickwork.abc import TaskExecutor
from tickwork.testing import TaskExecutorContract


class TestLoopExecutor(TaskExecutorContract):
    coroutines = True
    slack = 0.5

    @pytest.fixture
    def make_executor(self) -> Callable[[], TaskExecutor]:
        return LoopExecutor


class TestThreadExecutor(TaskExecutorContract):
    slack = 0.5

    @pytest.fixture
    def make_executor(self) -> Callable[[], TaskExecutor]:
        return lambda: ThreadExecutor(max_workers=4)


class TestProcessExecutor(TaskExecutorContract):
    in_process = False

    @pytest.fixture
    def make_executor(self) -> Callable[[], TaskExecutor]:
        return lambda: ProcessExecutor(max_processes=4)
