"""``tickwork web``: the command a plugin adds, serving a store on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.web_app import WEB_TOKEN, SeededJobs, free_port, seed_store

import tickwork
from tickwork.cli import main


def _tickwork(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tickwork.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


async def _seeded(url: str) -> SeededJobs:
    store = tickwork.create_store(url)
    await store.initialize()
    try:
        return await seed_store(store)
    finally:
        await store.close()


def _wait_until_served(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"tickwork web did not serve: {output}") from None
            time.sleep(0.1)


@pytest.mark.parametrize("token", [None, WEB_TOKEN], ids=["read-only", "token"])
def test_tickwork_web_serves_a_store(tmp_path: Path, token: str | None) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    seeded = asyncio.run(_seeded(url))
    port = free_port()
    env = {"TICKWORK_WEB_TOKEN": token or ""}
    process = _tickwork("web", "--store", url, "--port", str(port), env=env)
    try:
        page = _wait_until_served(f"http://127.0.0.1:{port}/jobs", process)
        assert page.status_code == 200
        assert seeded.cron in page.text
        assert ('id="readonly-notice"' in page.text) is (token is None)
        pause = httpx.post(
            f"http://127.0.0.1:{port}/api/jobs/{seeded.interval}/pause",
            headers={"Authorization": f"Bearer {WEB_TOKEN}"},
        )
        assert pause.status_code == (403 if token is None else 200)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    shown = "read-only" if token is None else "changes need the token"
    assert f"http://127.0.0.1:{port}/ ({shown})" in output


def test_tickwork_web_never_creates_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert main(["web", "--store", f"sqlite+aiosqlite:///{missing}", "--port", "1"]) == 1
    assert "tickwork web: error:" in capsys.readouterr().err
    assert not missing.exists()


def test_tickwork_web_is_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    text = capsys.readouterr().out
    assert "--host" in text
    assert "127.0.0.1" in text
    assert "--read-only" in text


def test_the_token_may_come_from_a_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    seeded = asyncio.run(_seeded(url))
    token_file = tmp_path / "token"
    token_file.write_text("from-a-file\n", encoding="utf-8")
    port = free_port()
    process = _tickwork("web", "--store", url, "--port", str(port), "--token-file", str(token_file))
    try:
        _wait_until_served(f"http://127.0.0.1:{port}/", process)
        pause = httpx.post(
            f"http://127.0.0.1:{port}/api/jobs/{seeded.interval}/pause",
            headers={"Authorization": "Bearer from-a-file"},
        )
        assert pause.status_code == 200
    finally:
        process.terminate()
        process.communicate(timeout=20)


def test_a_missing_token_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
    asyncio.run(_seeded(url))
    args = ["web", "--store", url, "--token-file", str(tmp_path / "nope")]
    assert main(args) == 1
    assert "--token-file" in capsys.readouterr().err
