"""The screenshots in docs/web.md: made by the same code from the current pages, and
every one the page names is in the repository.

``screenshots.take`` (also ``python -m tests.integration.web.browser.screenshots``,
which writes docs/images/web/) runs here into a temporary folder: each page must load
without an error page or a console error and give a full-width PNG of some height.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

from browser_chromium import HOW_TO, missing_browser
from screenshots import DOCS_IMAGES, ROOT, SHOTS, take

from tickwork.testing import server_unavailable

DOC = ROOT / "docs" / "web.md"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path} has no PNG header chunk"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _named_in_doc() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    return set(re.findall(r"\]\(images/web/([^)\s]+\.png)\)", text))


def test_each_page_is_captured(tmp_path: Path) -> None:
    why = missing_browser()
    if why is not None:
        server_unavailable("Chromium", why, how_to=HOW_TO)
    written = take(tmp_path)
    assert sorted(p.name for p in written) == sorted(SHOTS)
    for path in written:
        width, height = _png_size(path)
        assert width == SHOTS[path.name][1], (path.name, width)
        assert height >= 400, (path.name, height)


def test_the_doc_shows_every_screenshot_and_each_file_exists() -> None:
    named = _named_in_doc()
    assert named == set(SHOTS), f"docs/web.md names {sorted(named)}, the pages are {sorted(SHOTS)}"
    for name in named:
        path = DOCS_IMAGES / name
        assert path.is_file(), (
            f"{path} is missing: python -m tests.integration.web.browser.screenshots"
        )
        assert _png_size(path)[0] == SHOTS[name][1], name
