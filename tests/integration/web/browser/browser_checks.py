"""What the browser tests ask of a rendered page, and the steps they repeat.

The checks run in the page (JavaScript over the live DOM), so they see what the
browser built from the HTML, not the HTML text: an escaping bug shows up as an element
or an attribute that should not exist.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from support.web_app import WEB_TOKEN

T = TypeVar("T")

#: Elements carrying an event handler attribute (``onerror``, ``onload``...), scripts
#: other than the app's own file, and the tags injected markup would add.
INJECTED = """
const found = [];
for (const el of document.querySelectorAll('*')) {
  for (const attr of el.attributes) {
    const name = attr.name.toLowerCase();
    if (name.startsWith('on')) { found.push(el.tagName + '[' + name + ']'); }
  }
}
for (const s of document.scripts) {
  if (!s.src || new URL(s.src).pathname !== '/static/app.js') {
    found.push('script:' + (s.src || s.text.slice(0, 40)));
  }
}
for (const el of document.querySelectorAll('img, iframe, object, embed')) {
  found.push(el.tagName.toLowerCase());
}
return found;
"""


def job_path(job_id: str) -> str:
    """The job page's path (the id quoted as the app quotes it)."""
    return "/jobs/" + quote(job_id, safe="")


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(0.1)


def page_ready(driver: Any) -> None:
    wait_for(
        lambda: driver.execute_script("return document.readyState") == "complete",
        what="the page to load",
    )


def open_page(driver: Any, url: str) -> None:
    driver.get(url)
    page_ready(driver)


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def has_id(driver: Any, element_id: str) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.ID, element_id))


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def attributes(driver: Any, selector: str, attribute: str) -> list[str | None]:
    """``attribute`` of every element matching ``selector``, read in one script: the
    live updates replace parts of a page, and an element found first and read after
    may be gone by then."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " element => element.getAttribute(arguments[1]));"
    )
    return list(driver.execute_script(script, selector, attribute))


def click(driver: Any, element_id: str) -> None:
    """Click the element and wait for the page it leads to."""
    old = driver.find_element("tag name", "html")
    by_id(driver, element_id).click()
    wait_for(lambda: _stale(old), what=f"a new page after clicking #{element_id}")
    page_ready(driver)


#: What chromedriver says, instead of a stale-element error, about an element of a
#: document it is tearing down while the next page loads.
_TORN_DOWN = "does not belong to the document"


def _stale(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.tag_name  # noqa: B018 - touching it tells whether the page changed
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if _TORN_DOWN in str(exc.msg):
            return True
        raise
    return False


def log_in(driver: Any, base: str, then: str = "/") -> None:
    """Log in through the login form with the tests' token, landing on ``then``."""
    open_page(driver, f"{base}/login?next={quote(then, safe='')}")
    by_id(driver, "token").send_keys(WEB_TOKEN)
    click(driver, "login-submit")
    assert has_id(driver, "logout-form"), driver.page_source[:2000]


def injected(driver: Any) -> list[str]:
    """Elements and attributes on the page that only injected markup would make."""
    return [str(item) for item in driver.execute_script(INJECTED)]


def horizontal_overflow(driver: Any, width: int) -> int:
    """How many CSS pixels the page is wider than a ``width`` px screen (0: none).

    On an emulated phone a page wider than the screen also widens the layout viewport
    (``innerWidth``), as a phone's browser zooms out to show it all; both count.
    """
    widest = driver.execute_script(
        "const root = document.documentElement;"
        "return Math.max(root.scrollWidth, document.body.scrollWidth, window.innerWidth);"
    )
    return max(0, int(widest) - width)


def overflowing(driver: Any, width: int) -> list[str]:
    """The outermost elements that reach past ``width`` (for the failure message)."""
    return [
        str(item)
        for item in driver.execute_script(
            "const out = [];"
            "for (const el of document.querySelectorAll('body *')) {"
            "  const r = el.getBoundingClientRect();"
            "  if (r.right > arguments[0] + 1 && !out.some(o => o.contains(el))) { out.push(el); }"
            "}"
            "return out.slice(0, 5)"
            "  .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''));",
            width,
        )
    ]


def stylesheet_rules(driver: Any) -> int:
    """Rules in the page's stylesheets (0 when the CSS failed to load)."""
    return int(
        driver.execute_script(
            "let n = 0; for (const s of document.styleSheets) { n += s.cssRules.length; }return n;"
        )
    )
