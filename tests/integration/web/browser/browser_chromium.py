"""Headless Chromium from the system's packages, driven through Selenium.

The browser tests use the Chromium and chromedriver that ``python3 dev.py setup``
installs from Debian's packages (``chromium``, ``chromium-driver``). Selenium is told
where chromedriver is, so Selenium Manager never runs and nothing is downloaded at test
time. Each session gets a fresh profile in a temporary directory and the flags that
keep a headless browser quiet and self-contained: no sandbox (tests run as root), no
GPU, no /dev/shm (small in containers), no first-run, sync, component updates or
background traffic, so the only network it touches is the app on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HOW_TO = "python3 dev.py setup"

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: Records every ``alert``/``confirm``/``prompt`` call before any page script runs, so a
#: test can tell whether injected markup ever executed (a real dialog could be missed
#: if it opened and closed between two checks).
DIALOG_SPY = """
window.__dialogs = [];
for (const name of ['alert', 'confirm', 'prompt']) {
  const original = window[name].bind(window);
  window[name] = (...args) => { window.__dialogs.push(name + ':' + String(args[0])); };
  window['__original_' + name] = original;
}
"""


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        return f"{' and '.join(missing)} not found (Debian packages chromium, chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (root dev dependency group)"
    return None


def _options(profile: Path, width: int, height: int) -> Any:
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A dialog the spy did not catch stays open, so a test's next command reports it.
    options.set_capability("unhandledPromptBehavior", "ignore")
    return options


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium session with a fresh profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="tickwork-chromium-"))
    service = Service(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(service=service, options=_options(profile, width, height))
    try:
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DIALOG_SPY})
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any, *, favicon: bool = True) -> list[str]:
    """The browser console's errors since the last call (the log is drained by reading).

    ``favicon=False`` leaves out the browser's own request for ``/favicon.ico``, which
    no page makes (``test_pages_name_their_icon`` checks that one by itself).
    """
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and (favicon or "/favicon.ico " not in entry["message"])
    ]


def dialogs(driver: Any) -> list[str]:
    """Every dialog the current page's scripts opened (``alert:1`` ...)."""
    found = driver.execute_script("return window.__dialogs || [];")
    return [str(item) for item in found]


def set_viewport(driver: Any, width: int, height: int, *, mobile: bool = False) -> None:
    """Emulate a viewport of ``width`` x ``height`` CSS pixels (a phone when ``mobile``)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def clear_viewport(driver: Any) -> None:
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
