"""Screenshots of every page of tickwork-web, for docs/web.md.

    .venv/bin/python -m tests.integration.web.browser.screenshots            # docs/images/web/
    .venv/bin/python -m tests.integration.web.browser.screenshots --out /tmp/shots

The app is served over a memory store holding the showcase jobs
(``browser_seed.seed_showcase``), logged in with a token so the job page shows its
actions, and each page is captured whole (the viewport stretched to the page's
height) by the same headless Chromium the browser tests use. A page that logs a
console error or shows an error page is not captured: the run fails instead.
``test_browser_screenshots.py`` runs the same code into a temporary folder, so the
pictures in the docs can always be made again from the current pages.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
DOCS_IMAGES = ROOT / "docs" / "images" / "web"
for _folder in (HERE, ROOT / "tests"):  # for ``python -m``: the tests' own imports
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from browser_checks import by_id, has_id, job_path, log_in, open_page  # noqa: E402
from browser_chromium import chromium, console_errors, set_viewport  # noqa: E402
from browser_seed import SHOWCASE_JOB, seed_showcase  # noqa: E402
from browser_served import LiveApp, serve_live  # noqa: E402
from support.web_app import WEB_TOKEN  # noqa: E402

DESKTOP = 1280
PHONE = 390
MAX_HEIGHT = 3200

#: file name -> (path, viewport width): what docs/web.md shows.
SHOTS: dict[str, tuple[str, int]] = {
    "overview.png": ("/", DESKTOP),
    "jobs.png": ("/jobs", DESKTOP),
    "job.png": (job_path(SHOWCASE_JOB) + "?limit=25", DESKTOP),
    "runs.png": ("/runs?limit=25", DESKTOP),
    "plugins.png": ("/plugins", DESKTOP),
    "phone-jobs.png": ("/jobs", PHONE),
}


@contextlib.contextmanager
def showcase_app() -> Iterator[LiveApp]:
    """The app over a memory store with the showcase jobs, with the tests' token."""
    import tickwork
    from tickwork_web import create_app

    async def build(stack: contextlib.AsyncExitStack) -> Any:
        store = tickwork.MemoryStore()
        await store.initialize()
        stack.push_async_callback(store.close)
        await seed_showcase(store)
        return create_app(store, token=WEB_TOKEN, title="tickwork · acme back office")

    with serve_live(build) as live:
        yield live


def _capture(driver: Any, url: str, width: int, target: Path) -> None:
    set_viewport(driver, width, 800, mobile=width < 600)
    open_page(driver, url)
    if has_id(driver, "error"):
        raise RuntimeError(f"{url} shows an error page: {by_id(driver, 'error').text}")
    errors = console_errors(driver, favicon=False)
    if errors:
        raise RuntimeError(f"{url} logged console errors: {errors}")
    height = driver.execute_script(
        "return Math.ceil(Math.max(document.documentElement.scrollHeight,"
        " document.body.scrollHeight));"
    )
    set_viewport(driver, width, min(int(height), MAX_HEIGHT), mobile=width < 600)
    target.write_bytes(driver.get_screenshot_as_png())


def take(out: Path) -> list[Path]:
    """Capture every page of :data:`SHOTS` into ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with showcase_app() as live, chromium(DESKTOP, 900) as driver:
        log_in(driver, live.url)
        for name, (path, width) in SHOTS.items():
            _capture(driver, live.url + path, width, out / name)
            written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES, help="folder for the PNGs")
    args = parser.parse_args(argv)
    for path in take(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
